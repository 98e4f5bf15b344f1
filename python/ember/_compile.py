"""``ember.compile``: capture a function's kernel calls once, replay them in C++ afterwards.

The first call with a new input signature runs eagerly (optimizers create their state then), the
second is traced: it runs eagerly too while the C++ tracer records every kernel call - forward,
the autograd engine's backward, the optimizer's update - into a graph (csrc/compile/). Later calls
with the same signature replay that graph with no Python per op. Guards: the signature (tensor
shapes, dtypes, devices, requires_grad; Python scalars; list lengths and dict keys; grad mode;
module train/eval flags) is checked here, tensor layouts, aliasing and the leaves' ``.grad``
state in C++. A failed guard retraces (a bounded cache per signature) or, with
``fullgraph=True``, raises naming the argument and the change.
"""

from __future__ import annotations

import functools
import gc
import inspect
import os
import sys
import warnings
from typing import Any, Callable

from . import _C
from ._C import Tensor
from ._grad_mode import is_grad_enabled
from .nn import Module

__all__ = ["compile", "CompiledFunction", "CompiledModule", "CompiledGraph"]

_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
_BACKENDS = ("inductor", "ember", "eager", "aot_eager")
# options ember understands (torch's inductor names where one exists), with their types
_OPTIONS: dict[str, type] = {
    "epilogue_fusion": bool,  # bias + activation folded into the GEMM
    "fusion": bool,  # elementwise chains as one loop
    "cache_size_limit": int,  # graphs kept per function (torch._dynamo.config's name)
    "warmup": int,  # eager calls per signature before the trace (optimizer state is made then)
}
_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


class GraphBreakWarning(UserWarning):
    """A compiled function did something a graph cannot replay; it runs eagerly."""


# ---------------------------------------------------------------------------------------------
# Signatures: every leaf of the arguments, with a readable path for error messages


def _flatten(obj: Any, path: str, tensors: list, desc: list) -> None:
    if isinstance(obj, Tensor):
        tensors.append(obj)
        desc.append(
            (
                path,
                ("tensor", tuple(obj.shape), str(obj.dtype), str(obj.device), obj.requires_grad),
            )
        )
    elif isinstance(obj, (list, tuple)):
        desc.append((path, (type(obj).__name__, len(obj))))
        for i, v in enumerate(obj):
            _flatten(v, f"{path}[{i}]", tensors, desc)
    elif isinstance(obj, dict):
        desc.append((path, ("dict", tuple(obj.keys()))))
        for k, v in obj.items():
            _flatten(v, f"{path}[{k!r}]", tensors, desc)
    elif obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
        desc.append((path, (type(obj).__name__, obj)))
    else:  # modules, optimizers, dtypes, ...: the same object
        desc.append((path, ("object", id(obj))))


def _describe_change(old: tuple, new: tuple, ignore_shapes: bool = False) -> str:
    """The first difference of two signatures, as `x: shape (32, 784) -> (16, 784)`
    (``ignore_shapes``: the first one other than a tensor's shape)."""
    old_d, new_d = dict(old), dict(new)
    for path, item in new:
        before = old_d.get(path)
        if before == item:
            continue
        if before is None:
            return f"{path}: new argument"
        if before[0] == "tensor" and item[0] == "tensor":
            for i, what in ((1, "shape"), (2, "dtype"), (3, "device"), (4, "requires_grad")):
                if before[i] != item[i] and not (ignore_shapes and i == 1):
                    return f"{path}: {what} {_fmt(before[i])} -> {_fmt(item[i])}"
        if before[0] in ("list", "tuple") and item[0] == before[0]:
            return f"{path}: length {before[1]} -> {item[1]}"
        if before[0] == "dict" and item[0] == "dict":
            return f"{path}: keys {list(before[1])} -> {list(item[1])}"
        if before[0] == "object" and item[0] == "object":
            return f"{path}: a different object"
        return f"{path}: {_fmt(before[1])} -> {_fmt(item[1])}"
    for path, _ in old:
        if path not in new_d:
            return f"{path}: argument removed"
    return "signature changed"


def _only_shapes_differ(old: tuple, new: tuple) -> bool:
    """Two signatures that differ in tensor shapes only (what dynamic=True accepts)."""
    if [p for p, _ in old] != [p for p, _ in new]:
        return False
    for (_, a), (_, b) in zip(old, new):
        if a != b and not (a[0] == b[0] == "tensor" and a[2:] == b[2:]):
            return False
    return True


def _fmt(v: Any) -> str:
    return str(v) if not isinstance(v, str) else v


def _unflatten(spec: Any, tensors: list) -> Any:
    kind, payload = spec
    if kind == "tensor":
        return tensors[payload]
    if kind == "const":
        return payload
    if kind == "dict":
        return {k: _unflatten(s, tensors) for k, s in payload}
    items = [_unflatten(s, tensors) for s in payload]
    return tuple(items) if kind == "tuple" else items


def _output_spec(obj: Any, tensors: list) -> Any:
    if isinstance(obj, Tensor):
        tensors.append(obj)
        return ("tensor", len(tensors) - 1)
    if isinstance(obj, (list, tuple)) and type(obj) in (list, tuple):
        return (type(obj).__name__, [_output_spec(v, tensors) for v in obj])
    if isinstance(obj, dict) and type(obj) is dict:
        return ("dict", [(k, _output_spec(v, tensors)) for k, v in obj.items()])
    return ("const", obj)


def _user_site() -> str:
    """file:line of the innermost frame outside the ember package (where the user's code is)."""
    f = sys._getframe(1)
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(_PKG_DIR):
        f = f.f_back
    return f"{f.f_code.co_filename}:{f.f_lineno}" if f is not None else "<unknown>"


# ---------------------------------------------------------------------------------------------


class CompiledGraph:
    """The graph captured for one input signature.

    ``nodes`` lists the recorded kernel calls (forward, backward, optimizer update) in program
    order, ``inputs`` / ``outputs`` the function's tensors; ``graph_view()`` gives one row per
    node for printing or drawing (``ember.utils.draw_graph``), ``stats()`` the fusion and memory
    plan (``peak_bytes``: the planned arena for temporaries).
    """

    def __init__(
        self, graph: Any, arg_names: list[str], param_names: dict[int, str], leaf_meta: dict
    ):
        self._graph = graph
        self._leaf_meta = leaf_meta  # name -> (shape, dtype) of arguments and parameters
        self._arg_names = arg_names
        self._param_names = param_names
        self._desc = graph.describe()

    def stats(self) -> dict[str, int]:
        return self._graph.stats()

    @property
    def nodes(self) -> list[dict]:
        return [r for r in self.graph_view() if r["kind"] == "op"]

    @property
    def inputs(self) -> list[dict]:
        return [r for r in self.graph_view() if r["kind"] in ("input", "param")]

    @property
    def outputs(self) -> list[dict]:
        return [r for r in self.graph_view() if r["kind"] == "output"]

    def graph_view(self) -> list[dict]:
        """One dict per node: id, op, shape, dtype, device, inputs (ids), group (fusion group id
        or None), kind ('input' | 'param' | 'op' | 'output') and name (argument name or
        parameter path, else None)."""
        d = self._desc
        rows: list[dict] = []
        producer: dict[int, int] = {}  # buffer -> id of the row that last wrote it

        def source(buf: int) -> int | None:
            if buf in producer:
                return producer[buf]
            b = d["buffers"][buf]
            if b["kind"] == "input":
                name = self._arg_names[b["index"]] if b["index"] < len(self._arg_names) else None
                kind = "input"
            elif b["kind"] in ("persistent", "grad"):
                name = self._param_names.get(b["data_ptr"])
                kind = "param" if name is not None else "input"
                if name is not None and b["kind"] == "grad":
                    name += ".grad"
            else:
                return None  # constants and never-written temporaries are not drawn
            rows.append(
                dict(
                    id=len(rows),
                    op=kind,
                    shape=(),
                    dtype="",
                    device="cpu",
                    inputs=[],
                    group=None,
                    kind=kind,
                    name=name,
                )
            )
            producer[buf] = rows[-1]["id"]
            return producer[buf]

        for n in d["nodes"]:
            ins = [s for s in (source(b) for b in n["ins"]) if s is not None]
            # in-place updates (optimizer steps) read what they write
            ins += [s for s in (producer.get(b) for b in n["outs"]) if s is not None]
            rid = len(rows)
            rows.append(
                dict(
                    id=rid,
                    op=n["op"],
                    shape=tuple(n["shape"]),
                    dtype=n["dtype"],
                    device="cpu",
                    inputs=sorted(set(ins)),
                    group=n["group"] if n["group"] >= 0 else None,
                    kind="op",
                    name=None,
                )
            )
            for b in n["outs"]:
                producer[b] = rid
        for i, (shape, dtype) in enumerate(d["outputs"]):
            buf = d["output_buffers"][i] if i < len(d["output_buffers"]) else None
            src = producer.get(buf) if buf is not None else None
            rows.append(
                dict(
                    id=len(rows),
                    op="output",
                    shape=tuple(shape),
                    dtype=dtype,
                    device="cpu",
                    inputs=[src] if src is not None else [],
                    group=None,
                    kind="output",
                    name=f"output[{i}]",
                )
            )
        for r in rows:
            if r["kind"] in ("input", "param") and not r["shape"]:
                r["shape"], r["dtype"] = self._leaf_meta.get(r["name"], ((), ""))
        return rows

    def __repr__(self) -> str:
        lines = [f"CompiledGraph({len(self._desc['nodes'])} nodes)"]
        for r in self.graph_view():
            grp = f" group={r['group']}" if r["group"] is not None else ""
            name = f" {r['name']}" if r["name"] else ""
            lines.append(
                f"  %{r['id']} = {r['op']}{name} {list(r['shape'])} {r['dtype']}"
                f"{grp} <- {r['inputs']}"
            )
        return "\n".join(lines)


class _Entry:
    __slots__ = ("graph", "out_spec", "desc", "calls", "optimizers")

    def __init__(self):
        self.graph = None  # the C++ graph, "eager" (runs eagerly), or None (still warming up)
        self.out_spec = None
        self.desc = None
        self.calls = 0
        self.optimizers: list = []  # (optimizer, hyperparameters when traced)


def _hyper(opt: Any) -> tuple:
    """An optimizer's hyperparameters (lr, betas, ...): the graph holds them as constants."""
    return tuple(
        (len(g["params"]),) + tuple((k, v) for k, v in g.items() if k != "params")
        for g in opt.param_groups
    )


def _hyper_change(opt: Any, old: tuple) -> str | None:
    new = _hyper(opt)
    if new == old:
        return None
    for i, (a, b) in enumerate(zip(old, new)):
        for (k, v), (_, v2) in zip(a[1:], b[1:]):
            if v != v2:
                return f"{type(opt).__name__}.param_groups[{i}][{k!r}]: {v} -> {v2}"
    return f"{type(opt).__name__}.param_groups changed"


class CompiledFunction:
    """What ``ember.compile(fn)`` returns for a function: call it like ``fn``."""

    def __init__(
        self,
        fn: Callable,
        *,
        fullgraph: bool,
        backend: str,
        dynamic: bool = False,
        options: dict,
        module: Any = None,
    ):
        self._fn = fn
        self._fullgraph = fullgraph
        self._dynamic = dynamic  # a shape-only change retraces even under fullgraph
        self._eager = backend in ("eager", "aot_eager")
        self._fuse = options.get("fusion", True)
        self._epilogue = options.get("epilogue_fusion", True)
        self._limit = options.get("cache_size_limit", 8)
        self._warmup = options.get("warmup", 1)
        self._module = module
        # modules the function closes over: their train()/eval() flags are part of the signature
        self._closure_modules = [
            c.cell_contents
            for c in (getattr(fn, "__closure__", None) or ())
            if _cell_ok(c) and isinstance(c.cell_contents, Module)
        ]
        self._cache: dict[tuple, _Entry] = {}
        self._last_desc: tuple | None = None
        self._warned: set[str] = set()
        self.traces = 0  # how many times a graph was traced (retraces included)
        self.last_guard_failure: str | None = None
        try:
            self._sig = inspect.signature(fn)
        except (TypeError, ValueError):
            self._sig = None
        functools.update_wrapper(self, fn, updated=())

    # -- signature
    def _signature(self, args: tuple, kwargs: dict) -> tuple[tuple, list, tuple]:
        tensors: list = []
        desc: list = []
        named = None
        if self._sig is not None:
            try:
                bound = self._sig.bind(*args, **kwargs)
                named = list(bound.arguments.items())
            except TypeError:
                named = None
        if named is None:
            named = [(f"args[{i}]", a) for i, a in enumerate(args)] + list(kwargs.items())
        for name, value in named:
            _flatten(value, name, tensors, desc)
        desc.append(("grad mode", ("bool", is_grad_enabled())))
        for i, mod in enumerate(
            [self._module] if self._module is not None else self._closure_modules
        ):
            flags = tuple(m.training for m in mod.modules())
            desc.append((f"module[{i}].training", ("flags", flags)))
        desc_t = tuple(desc)
        return desc_t, tensors, tuple(item for _, item in desc_t)

    def _tensor_names(self, desc: tuple) -> list[str]:
        return [p for p, item in desc if item[0] == "tensor"]

    def _warn_once(self, msg: str, site: str | None = None) -> None:
        key = msg + (site or "")
        if key in self._warned:
            return
        self._warned.add(key)
        if site and ":" in site:
            filename, _, line = site.rpartition(":")
            warnings.warn_explicit(
                msg, GraphBreakWarning, filename, int(line) if line.isdigit() else 0
            )
        else:
            warnings.warn(msg, GraphBreakWarning, stacklevel=3)

    # -- calls
    def __call__(self, *args, **kwargs):
        if self._eager or _C._compile_tracing():
            return self._fn(*args, **kwargs)  # inside another trace: part of that one
        desc, tensors, key = self._signature(args, kwargs)
        entry = self._cache.get(key)
        if entry is None:
            if (
                self._fullgraph
                and self._last_desc is not None
                and not (self._dynamic and _only_shapes_differ(self._last_desc, desc))
            ):
                change = _describe_change(self._last_desc, desc, ignore_shapes=self._dynamic)
                raise RuntimeError(f"ember.compile(fullgraph=True): guard failed, {change}")
            if len(self._cache) >= self._limit:
                if self._fullgraph:
                    raise RuntimeError(
                        f"ember.compile(fullgraph=True): {self._limit} graphs traced for "
                        f"{self.__name__} (cache_size_limit), {_describe_change(self._last_desc, desc)}"
                    )
                self._warn_once(
                    f"ember.compile: {self._limit} graphs traced for {self.__name__} "
                    f"(cache_size_limit); new signatures run eagerly"
                )
                return self._fn(*args, **kwargs)
            entry = self._cache[key] = _Entry()
            entry.desc = desc
            self._last_desc = desc
        g = entry.graph
        if g is None:
            entry.calls += 1
            if entry.calls <= self._warmup:
                return self._fn(*args, **kwargs)
            return self._trace(entry, args, kwargs, tensors)
        if g == "eager":
            return self._fn(*args, **kwargs)
        for opt, hyper in entry.optimizers:
            change = _hyper_change(opt, hyper)
            if change is not None:
                if self._fullgraph:
                    raise RuntimeError(f"ember.compile(fullgraph=True): guard failed, {change}")
                self.last_guard_failure = change
                entry.graph = None
                entry.calls = self._warmup
                return self._trace(entry, args, kwargs, tensors)
        outs = g.replay(tensors)
        if isinstance(outs, str):  # a guard the C++ graph owns failed
            self.last_guard_failure = outs
            if self._fullgraph:
                raise RuntimeError(f"ember.compile(fullgraph=True): guard failed, {outs}")
            entry.graph = None
            entry.calls = self._warmup  # retrace on this call
            return self._trace(entry, args, kwargs, tensors)
        return _unflatten(entry.out_spec, outs)

    def _trace(self, entry: _Entry, args: tuple, kwargs: dict, tensors: list):
        self.traces += 1
        from .optim.optimizer import register_optimizer_step_pre_hook

        stepped: list = []  # optimizers stepped while tracing, with their hyperparameters

        def note(opt, *_):
            if all(o is not opt for o, _ in stepped):
                stepped.append((opt, _hyper(opt)))

        hook = register_optimizer_step_pre_hook(note)
        tracer = _C._Tracer()
        tracer.start(tensors, self._fullgraph, _user_site)
        try:
            result = self._fn(*args, **kwargs)
        finally:
            tracer.stop()
            hook.remove()
        entry.optimizers = stepped
        if tracer.broken:
            entry.graph = "eager"
            site = tracer.break_site
            self._warn_once(
                f"ember.compile: graph break in {self.__name__} at {site}: the function "
                f"{tracer.broken}; it runs eagerly",
                site,
            )
            return result
        out_tensors: list = []
        spec = _output_spec(result, out_tensors)
        gc.collect()  # temporaries in reference cycles would look kept
        graph = tracer.finish(out_tensors, self._fuse)
        if any(t.requires_grad for t in out_tensors) and graph.stats()["grad_effects"] == 0:
            entry.graph = "eager"
            self._warn_once(
                f"ember.compile: {self.__name__} returns tensors that require grad and runs no "
                "backward inside; a replay could not give them a backward graph, so it runs "
                "eagerly (compile the whole training step, or call it under no_grad)"
            )
            return result
        if graph.escapes:
            entry.graph = "eager"
            self._warn_once(
                f"ember.compile: {self.__name__} keeps tensors it makes outside its outputs "
                f"({graph.escapes[0]}); it runs eagerly"
            )
            return result
        entry.graph = graph
        entry.out_spec = spec
        return result

    # -- inspection
    def graph(self, *args, **kwargs) -> CompiledGraph:
        """Traces the function on these example inputs (running it once) and returns the graph."""
        desc, tensors, _ = self._signature(args, kwargs)
        tracer = _C._Tracer()
        tracer.start(tensors, self._fullgraph, _user_site)
        try:
            result = self._fn(*args, **kwargs)
        finally:
            tracer.stop()
        if tracer.broken:
            raise RuntimeError(
                f"ember.compile: graph break at {tracer.break_site}: the function {tracer.broken}"
            )
        out_tensors: list = []
        _output_spec(result, out_tensors)
        g = tracer.finish(out_tensors, self._fuse)
        return self._wrap(g, desc, args, kwargs)

    def _wrap(self, g: Any, desc: tuple, args: tuple, kwargs: dict) -> CompiledGraph:
        names: dict[int, str] = {}
        meta: dict[str, tuple] = {}
        modules = []
        if self._module is not None:
            modules.append(("", self._module))
        for _, v in list(zip(range(len(args)), args)) + list(kwargs.items()):
            if hasattr(v, "named_parameters"):
                modules.append(("", v))
        fn_globals = getattr(self._fn, "__globals__", {})
        closure = getattr(self._fn, "__closure__", None) or ()
        for v in list(fn_globals.values()) + [c.cell_contents for c in closure if _cell_ok(c)]:
            if hasattr(v, "named_parameters") and callable(v.named_parameters):
                modules.append(("", v))
        for _, m in modules:
            try:
                for n, p in m.named_parameters():
                    names.setdefault(p.data_ptr(), n)
                    meta[n] = (tuple(p.shape), str(p.dtype).replace("ember.", ""))
                    if p.grad is not None:
                        meta[n + ".grad"] = meta[n]
            except Exception:  # noqa: BLE001  (objects that only look like modules)
                continue
        arg_names = self._tensor_names(desc)
        for path, item in desc:
            if item[0] == "tensor":
                meta[path] = (item[1], item[2].replace("ember.", ""))
        return CompiledGraph(g, arg_names, names, meta)

    def stats(self) -> dict[str, int]:
        """Sizes of the most recent graph: nodes, kernels, fused groups, peak (planned) bytes."""
        for entry in reversed(list(self._cache.values())):
            if entry.graph not in (None, "eager"):
                return entry.graph.stats()
        return {}

    def reset(self) -> None:
        """Drops every traced graph (the next calls warm up and trace again)."""
        self._cache.clear()
        self._last_desc = None


def _cell_ok(c: Any) -> bool:
    try:
        c.cell_contents  # noqa: B018
        return True
    except ValueError:
        return False


def compile(
    model: Callable | None = None,
    *,
    fullgraph: bool = False,
    dynamic: bool | None = None,
    backend: str | Callable = "inductor",
    mode: str | None = None,
    options: dict[str, Any] | None = None,
    disable: bool = False,
):
    """Compiles a function or module into a graph replayed in C++ (like ``torch.compile``).

    The first call per input signature runs eagerly, the second traces the kernel calls
    (forward, backward, optimizer update) into a graph, later calls replay it without Python per
    op, with elementwise chains fused and temporaries in a planned arena. Results equal eager.

    Args:
        model: the function or ``nn.Module``; omitted, returns a decorator.
        fullgraph: raise instead of falling back to eager on a graph break (``.item()``,
            ``.tolist()``, ``bool(tensor)``, printing, random draws) and on a changed signature.
        dynamic: ``None``/``False``: shapes are specialized (a new shape retraces; with
            ``fullgraph=True`` it raises). ``True``: shapes may change between calls: each new
            shape is traced once and its graph cached (up to ``cache_size_limit`` graphs, then
            new shapes run eagerly), also under ``fullgraph=True``. Graphs stay specialized to a
            shape (no symbolic sizes), so every distinct shape pays one trace.
        backend: ``"inductor"`` (default) or ``"ember"``: capture and replay; ``"eager"`` /
            ``"aot_eager"``: run eagerly.
        mode: ``None``, ``"default"``, ``"reduce-overhead"``, ``"max-autotune"`` or
            ``"max-autotune-no-cudagraphs"`` (all capture and replay the same way).
        options: ``epilogue_fusion`` (bool), ``fusion`` (bool), ``cache_size_limit`` (int,
            default 8), ``warmup`` (int, eager calls before the trace, default 1).
        disable: return ``model`` unchanged.

    Returns:
        A callable (``CompiledFunction``) or, for a module, a ``CompiledModule`` sharing its
        parameters, buffers and ``state_dict``.
    """
    if mode not in _MODES:
        raise ValueError(f"ember.compile: unknown mode {mode!r} (expected one of {list(_MODES)})")
    if isinstance(backend, str) and backend not in _BACKENDS:
        raise ValueError(
            f"ember.compile: unknown backend {backend!r} (expected one of {list(_BACKENDS)})"
        )
    if not isinstance(backend, str):
        raise ValueError("ember.compile: custom backend callables are not supported")
    options = dict(options or {})
    unknown = sorted(k for k in options if k not in _OPTIONS)
    if unknown:
        raise ValueError(f"ember.compile: unknown options {unknown} (known: {sorted(_OPTIONS)})")
    for k, v in options.items():
        if not isinstance(v, _OPTIONS[k]) or (_OPTIONS[k] is int and isinstance(v, bool)):
            raise ValueError(
                f"ember.compile: option {k!r} must be {_OPTIONS[k].__name__}, got {v!r}"
            )
    if options.get("cache_size_limit", 1) < 1 or options.get("warmup", 0) < 0:
        raise ValueError("ember.compile: cache_size_limit must be >= 1 and warmup >= 0")
    if dynamic not in (None, True, False):
        raise ValueError(f"ember.compile: dynamic must be None, True or False, got {dynamic!r}")
    if model is None:
        return functools.partial(
            compile,
            fullgraph=fullgraph,
            dynamic=dynamic,
            backend=backend,
            mode=mode,
            options=options,
            disable=disable,
        )
    if disable:
        return model
    if isinstance(model, Module):
        return CompiledModule(
            model, fullgraph=fullgraph, dynamic=bool(dynamic), backend=backend, options=options
        )
    if not callable(model):
        raise TypeError(
            f"ember.compile: expected a function or nn.Module, got {type(model).__name__}"
        )
    return CompiledFunction(
        model, fullgraph=fullgraph, dynamic=bool(dynamic), backend=backend, options=options
    )


class CompiledModule(Module):
    """A module compiled by ``ember.compile``: calls run the captured graph; parameters, buffers,
    ``state_dict`` and ``train()``/``eval()`` are the original module's (``_orig_mod``)."""

    def __init__(self, mod: Module, **kw: Any):
        super().__init__()
        self._orig_mod = mod
        object.__setattr__(self, "_compiled", CompiledFunction(mod, module=mod, **kw))

    def forward(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    def __call__(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["_orig_mod"], name)

    def graph(self, *args, **kwargs) -> CompiledGraph:
        """The graph captured on these example inputs (runs the module once)."""
        return self._compiled.graph(*args, **kwargs)

    def stats(self) -> dict[str, int]:
        return self._compiled.stats()

    def named_parameters(self, *args, **kwargs):
        return self._orig_mod.named_parameters(*args, **kwargs)

    def parameters(self, *args, **kwargs):
        return self._orig_mod.parameters(*args, **kwargs)

    def named_buffers(self, *args, **kwargs):
        return self._orig_mod.named_buffers(*args, **kwargs)

    def buffers(self, *args, **kwargs):
        return self._orig_mod.buffers(*args, **kwargs)

    def state_dict(self, *args, **kwargs):
        return self._orig_mod.state_dict(*args, **kwargs)

    def load_state_dict(self, *args, **kwargs):
        return self._orig_mod.load_state_dict(*args, **kwargs)

    def __repr__(self) -> str:
        return f"CompiledModule({self._orig_mod!r})"
