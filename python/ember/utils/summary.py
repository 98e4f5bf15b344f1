"""``ember.utils.summary``: a torchinfo-style table of a model's layers, with FLOPs and time.

One forward pass runs with hooks on every module; each module call becomes a row with its
output shape, its parameters (trainable / frozen), the FLOPs of its own math and its measured
forward time.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from .. import _C

__all__ = ["LayerInfo", "ModelSummary", "summary"]


@dataclass
class LayerInfo:
    """One module call in a :class:`ModelSummary`.

    ``flops`` is the layer's own math plus that of its calls hidden by ``depth`` (None when no
    formula applies); ``time`` is the measured forward time in seconds, children included.
    """

    name: str  # module path, "" for the model itself
    type: str
    depth: int  # call depth: the model is 0
    output_shapes: list[tuple[int, ...]]
    trainable_params: int = 0
    frozen_params: int = 0
    flops: int | None = None
    time: float = 0.0
    repeat: bool = False  # a second call of the same module: its parameters are on the first row

    @property
    def params(self) -> int:
        return self.trainable_params + self.frozen_params


@dataclass
class ModelSummary:
    """What :func:`summary` returns: the rows (``layers``), the totals as attributes, and the
    printed table as ``str(summary)``."""

    layers: list[LayerInfo]
    total_params: int
    trainable_params: int
    frozen_params: int
    total_flops: int
    total_time: float  # seconds, one forward pass of the whole model
    params_bytes: int
    input_shapes: list[tuple[int, ...]] = field(default_factory=list)

    @property
    def non_trainable_params(self) -> int:  # torchinfo's name
        return self.frozen_params

    def __str__(self) -> str:
        return _format(self)

    __repr__ = __str__


@dataclass
class _Call:
    module: Any
    name: str
    depth: int
    parent: _Call | None
    children: list = field(default_factory=list)
    start: float = 0.0
    time: float = 0.0
    shapes: list = field(default_factory=list)
    own_flops: int | None = None
    done: bool = False


def summary(
    model,
    input_size=None,
    dtypes=None,
    input_data=None,
    depth: int = 3,
    device=None,
    *,
    mode: str = "eval",
    verbose: bool = True,
) -> ModelSummary:
    """Run one forward pass of ``model`` and tabulate its layers (like torchinfo, plus time).

    Args:
        model: an ``nn.Module``.
        input_size: the shape of the input, batch included, e.g. ``(16, 1, 28, 28)``, or a list
            of shapes for a model taking several inputs. Inputs are ``randn`` (``zeros`` for
            integer dtypes, so they are valid indices for ``nn.Embedding``).
        dtypes: the dtype of each input, or one dtype for all (default: the default float
            dtype).
        input_data: the inputs themselves instead of ``input_size``: a tensor, a list/tuple of
            positional arguments, or a dict of keyword arguments.
        depth: calls nested deeper than this are not shown; their FLOPs and parameters count
            toward the shown layer that contains them.
        device: where the inputs are created (default: the device of the model's parameters).
        mode: ``"eval"`` (default; the model is put in eval mode for the pass and restored),
            ``"train"`` or ``"same"``.
        verbose: print the table.

    Returns:
        A :class:`ModelSummary`: ``str()`` is the table; ``total_params``, ``trainable_params``,
        ``frozen_params`` (shared parameters counted once), ``total_flops``, ``total_time``
        (seconds) and ``layers`` hold the numbers.

    FLOPs count a multiply and an add as two. Counted: ``Linear``/``Bilinear`` (2 per weight
    per row, plus the bias), ``Conv1d/2d`` and transposed convs (2 per kernel weight per
    output position, plus the bias), max/avg pools (one per window element per output; adaptive
    pools one per input element), norms (3 per element for statistics taken from the batch, 2 to
    normalize, 2 for the affine scale and shift; ``RMSNorm`` 2 + 1 + 1), attention
    (``MultiheadAttention``: input projections, ``QK^T`` and ``AV`` at 2 per multiply-add,
    softmax 3 per score; ``CausalSelfAttention``: the same core, the full square), ``RNN``/``LSTM``/
    ``GRU`` and their cells (both matmuls and biases per step, plus 2/13/12 gate ops per hidden
    unit), softmax-like activations (3 per element) and other activations (1 per element).
    Lookups, dropout, reshapes and tensor math written directly in a custom ``forward`` count 0.
    The time is measured with ``time.perf_counter`` around each call and includes its children;
    on ``metal`` the device is synchronized before and after each call, so a layer's time is its
    kernels' time rather than the time to queue them.
    """
    from .._grad_mode import no_grad

    if mode not in ("eval", "train", "same"):
        raise ValueError(f"summary: mode must be 'eval', 'train' or 'same', got {mode!r}")
    args, kwargs = _inputs(model, input_size, dtypes, input_data, device)
    names = {}
    for name, m in model.named_modules():
        names.setdefault(id(m), name)
    calls: list[_Call] = []
    stack: list[_Call] = []
    sync = _device_sync(model, args, kwargs)

    def pre_hook(mod, _args):
        parent = stack[-1] if stack else None
        c = _Call(mod, names.get(id(mod), type(mod).__name__), len(stack), parent)
        if parent is not None:
            parent.children.append(c)
        calls.append(c)
        stack.append(c)
        sync()  # queued GPU work of earlier layers is not this layer's time
        c.start = time.perf_counter()  # last: the bookkeeping above is not timed

    def hook(mod, hook_args, out):
        sync()  # a GPU layer has only queued its kernels: wait for them
        t = time.perf_counter()
        c = stack.pop()
        c.time = t - c.start
        c.shapes = _shapes(out)
        c.own_flops = _flops(mod, hook_args, out, {id(k.module) for k in c.children})
        c.done = True

    training = {id(m): m.training for m in model.modules()}
    handles = []
    try:
        for m in model.modules():
            handles.append(m.register_forward_pre_hook(pre_hook))
            handles.append(m.register_forward_hook(hook, prepend=True))
        if mode != "same":
            model.train(mode == "train")
        with no_grad():
            model(*args, **kwargs)
    finally:
        for h in handles:
            h.remove()
        for m in model.modules():
            m.training = training[id(m)]
    result = _tabulate(model, calls, depth, names)
    result.input_shapes = [tuple(a.shape) for a in args if isinstance(a, _C.Tensor)]
    if verbose:
        print(result)
    return result


def _device_sync(model, args, kwargs):
    """``ember.metal.synchronize`` when the model or an input lives on metal (kernels run
    asynchronously there), else a no-op."""
    tensors = [*model.parameters(), *model.buffers(), *args, *kwargs.values()]
    if any(isinstance(t, _C.Tensor) and t.device.type == "metal" for t in tensors):
        from .. import metal

        return metal.synchronize
    return lambda: None


def _inputs(model, input_size, dtypes, input_data, device):
    if input_data is not None:
        if isinstance(input_data, _C.Tensor):
            return (input_data,), {}
        if isinstance(input_data, dict):
            return (), dict(input_data)
        if isinstance(input_data, (list, tuple)):
            return tuple(input_data), {}
        raise TypeError(
            f"summary: input_data must be a Tensor, a list/tuple or a dict, got {type(input_data).__name__}"
        )
    if input_size is None:
        raise ValueError("summary: pass input_size=(batch, ...) or input_data=...")
    from .._creation import randn, zeros

    sizes = list(input_size) if isinstance(input_size, (list, tuple)) else [input_size]
    if all(isinstance(s, int) for s in sizes):
        sizes = [tuple(sizes)]
    for s in sizes:
        if not isinstance(s, (list, tuple)) or not all(isinstance(d, int) and d >= 0 for d in s):
            raise ValueError(
                f"summary: input_size must be a shape of non-negative ints or a list of shapes, got {input_size!r}"
            )
    if dtypes is None:
        dtypes = _C.get_default_dtype()
    dtypes = list(dtypes) if isinstance(dtypes, (list, tuple)) else [dtypes] * len(sizes)
    if len(dtypes) != len(sizes):
        raise ValueError(f"summary: got {len(dtypes)} dtypes for {len(sizes)} input sizes")
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else "cpu"
    args = []
    for s, dt in zip(sizes, dtypes):
        floating = dt in (_C.float16, _C.bfloat16, _C.float32, _C.float64)
        args.append((randn if floating else zeros)(*s, dtype=dt, device=device))
    return tuple(args), {}


def _shapes(out) -> list:
    if isinstance(out, _C.Tensor):
        return [tuple(out.shape)]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return [s for o in out for s in _shapes(o)]
    data = getattr(out, "data", None)  # a PackedSequence
    return [tuple(data.shape)] if isinstance(data, _C.Tensor) else []


def _tabulate(model, calls, max_depth, names) -> ModelSummary:
    # FLOPs of hidden calls roll up to the nearest shown ancestor
    shown = [c for c in calls if c.depth <= max_depth and c.done]
    rows: dict[int, LayerInfo] = {}
    first_row_of: dict[int, LayerInfo] = {}  # module id -> its first shown row
    for c in shown:
        info = LayerInfo(c.name, type(c.module).__name__, c.depth, c.shapes, time=c.time)
        info.flops = c.own_flops
        info.repeat = id(c.module) in first_row_of
        first_row_of.setdefault(id(c.module), info)
        rows[id(c)] = info
    total_flops = 0
    for c in calls:
        if c.own_flops is None:
            continue
        total_flops += c.own_flops
        a = c
        while id(a) not in rows:
            a = a.parent
        if a is not c:
            row = rows[id(a)]
            row.flops = (row.flops or 0) + c.own_flops
    # each parameter once, on the shown row of the nearest module (in the module tree) that holds it
    by_name = {n: first_row_of.get(mid) for mid, n in names.items()}
    root = rows[id(calls[0])] if calls else None
    total = trainable = nbytes = 0
    for pname, p in model.named_parameters():
        n = p.numel()
        total += n
        nbytes += n * p.element_size()
        trainable += n if p.requires_grad else 0
        owner = pname.rpartition(".")[0]
        row = by_name.get(owner)
        while row is None and owner:
            owner = owner.rpartition(".")[0] if "." in owner else ""
            row = by_name.get(owner)
        row = row or root
        if row is None:
            continue
        if p.requires_grad:
            row.trainable_params += n
        else:
            row.frozen_params += n
    return ModelSummary(
        layers=[rows[id(c)] for c in shown],
        total_params=total,
        trainable_params=trainable,
        frozen_params=total - trainable,
        total_flops=total_flops,
        total_time=calls[0].time if calls else 0.0,
        params_bytes=nbytes,
    )


def _si(n: float) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:g}"


def _format(s: ModelSummary) -> str:
    def shape_str(shapes):
        text = ", ".join(str(list(t)) for t in shapes) or "--"
        return text if len(text) <= 28 else text[:25] + "..."

    def count(n, repeat=False):
        return "(shared)" if repeat else (f"{n:,}" if n else "--")

    header = ("Layer (type)", "Output Shape", "Trainable", "Frozen", "FLOPs", "Time (ms)")
    body = []
    for r in s.layers:
        label = "  " * r.depth + (f"{r.type} ({r.name})" if r.name else r.type)
        body.append(
            (
                label,
                shape_str(r.output_shapes),
                count(r.trainable_params, r.repeat and not r.params),
                count(r.frozen_params),
                "--" if r.flops is None else _si(r.flops),
                f"{r.time * 1e3:.3f}",
            )
        )
    widths = [
        max(len(header[i]), *(len(b[i]) for b in body)) if body else len(header[i])
        for i in range(6)
    ]

    def line(cells):
        first = cells[0].ljust(widths[0])
        return "  ".join(
            [first, cells[1].ljust(widths[1])] + [c.rjust(w) for c, w in zip(cells[2:], widths[2:])]
        )

    rule = "=" * len(line(header))
    out = [rule, line(header), rule, *(line(b) for b in body), rule]
    out += [
        f"Total params: {s.total_params:,}",
        f"Trainable params: {s.trainable_params:,}",
        f"Frozen params: {s.frozen_params:,}",
        f"Total FLOPs: {s.total_flops:,} ({_si(s.total_flops)})",
        f"Forward time (ms): {s.total_time * 1e3:.3f}",
        f"Params size (MB): {s.params_bytes / 1e6:.2f}",
        rule,
    ]
    return "\n".join(out)


# ---- FLOP formulas: the module's own math (children with their own rows are not counted here)


def _numel(shape) -> int:
    return math.prod(shape)


def _first_tensor(args):
    for a in args:
        if isinstance(a, _C.Tensor):
            return a
    return None


def _flops(mod, args, out, fired_children) -> int | None:
    from .. import nn

    y = out if isinstance(out, _C.Tensor) else None
    x = _first_tensor(args)
    if isinstance(mod, nn.Linear):
        rows = y.numel() // max(mod.out_features, 1)
        return 2 * rows * mod.in_features * mod.out_features + (
            rows * mod.out_features if mod.bias is not None else 0
        )
    if isinstance(mod, nn.Bilinear):
        rows = y.numel() // max(mod.out_features, 1)
        i1, i2 = mod.weight.shape[1], mod.weight.shape[2]
        return 2 * rows * mod.out_features * i1 * i2 + (
            rows * mod.out_features if mod.bias is not None else 0
        )
    if isinstance(mod, (nn.ConvTranspose1d, nn.ConvTranspose2d)):
        # every input element scatters into C_out/groups * kernel outputs
        k = _numel(mod.weight.shape[2:])
        return 2 * x.numel() * mod.weight.shape[1] * k + (y.numel() if mod.bias is not None else 0)
    if isinstance(mod, (nn.Conv1d, nn.Conv2d)):
        per_out = 2 * mod.weight.shape[1] * _numel(mod.weight.shape[2:])  # C_in/groups * kernel
        return y.numel() * per_out + (y.numel() if mod.bias is not None else 0)
    if isinstance(mod, (nn.MaxPool1d, nn.AvgPool1d, nn.MaxPool2d, nn.AvgPool2d)):
        nd = 2 if type(mod).__name__.endswith("2d") else 1
        k = mod.kernel_size
        k = tuple(k) if isinstance(k, (tuple, list)) else (k,) * nd
        return _first(out).numel() * _numel(k)
    if isinstance(
        mod,
        (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d),
    ):
        return x.numel()
    if isinstance(mod, nn.modules.normalization._BatchNorm):
        batch_stats = mod.training or not mod.track_running_stats
        return x.numel() * ((3 if batch_stats else 0) + 2 + (2 if mod.affine else 0))
    if isinstance(mod, nn.GroupNorm):
        return x.numel() * (3 + 2 + (2 if mod.affine else 0))
    if isinstance(mod, nn.LayerNorm):
        return x.numel() * (3 + 2 + (2 if mod.elementwise_affine else 0))
    if isinstance(mod, nn.RMSNorm):
        return x.numel() * (2 + 1 + (1 if mod.weight is not None else 0))
    if isinstance(mod, nn.MultiheadAttention):
        return _mha_flops(mod, args, fired_children)
    if isinstance(mod, nn.CausalSelfAttention):
        B_T_C = x.shape
        T, C = B_T_C[-2], B_T_C[-1]
        B = x.numel() // max(T * C, 1)
        return 4 * B * T * T * C + 3 * B * mod.num_heads * T * T
    if isinstance(mod, nn.RNNBase):
        return _rnn_flops(mod, x if x is not None else args[0])
    if isinstance(mod, nn.RNNCellBase):
        gates, gate_ops = _rnn_kind(mod)
        rows = x.numel() // max(mod.input_size, 1)
        return rows * _step_flops(
            mod.input_size, mod.hidden_size, mod.hidden_size, gates, gate_ops, mod.bias, 0
        )
    if isinstance(mod, nn.GLU):
        return 2 * y.numel()
    if isinstance(mod, nn.modules.activation._DimActivation):
        return 3 * y.numel()
    if isinstance(mod, _ELEMENTWISE_ACTIVATIONS(nn)) and y is not None:
        return y.numel()
    return None


def _first(out):
    return out if isinstance(out, _C.Tensor) else _first_tensor(out)


def _ELEMENTWISE_ACTIVATIONS(nn):
    names = (
        "ReLU ReLU6 LeakyReLU GELU SiLU Mish Tanh Sigmoid LogSigmoid ELU SELU CELU Softplus "
        "Hardtanh Hardsigmoid Hardswish Softsign Tanhshrink PReLU"
    ).split()
    return tuple(getattr(nn, n) for n in names if hasattr(nn, n))


def _mha_flops(mod, args, fired_children) -> int:
    q = args[0]
    k = args[1] if len(args) > 1 and isinstance(args[1], _C.Tensor) else q
    E, H = mod.embed_dim, mod.num_heads
    if q.dim() == 2:  # unbatched (L, E)
        N, L, S = 1, q.shape[0], k.shape[0]
    elif mod.batch_first:
        N, L, S = q.shape[0], q.shape[1], k.shape[1]
    else:
        L, N, S = q.shape[0], q.shape[1], k.shape[0]
    proj = 2 * N * (L * E * E + S * mod.kdim * E + S * mod.vdim * E)
    if getattr(mod, "in_proj_bias", None) is not None:
        proj += N * (L + 2 * S) * E
    core = 2 * N * L * S * E + 3 * N * H * L * S + 2 * N * L * S * E
    if id(mod.out_proj) not in fired_children:  # counted on its own row when it runs as a module
        proj += 2 * N * L * E * E + (N * L * E if mod.out_proj.bias is not None else 0)
    return proj + core


def _rnn_kind(mod):
    # (gates, elementwise ops per hidden unit per step: gate sums, activations, state update)
    name = getattr(mod, "mode", type(mod).__name__)
    if "LSTM" in name:
        return 4, 13
    if "GRU" in name:
        return 3, 12
    return 1, 2


def _step_flops(in_size, hidden, h_in, gates, gate_ops, bias, proj) -> int:
    f = 2 * gates * hidden * (in_size + h_in) + gate_ops * hidden
    if bias:
        f += 2 * gates * hidden
    if proj:
        f += 2 * hidden * proj
    return f


def _rnn_flops(mod, x) -> int:
    gates, gate_ops = _rnn_kind(mod)
    data = getattr(x, "data", None)
    if not isinstance(x, _C.Tensor) and isinstance(data, _C.Tensor):  # PackedSequence
        rows = data.shape[0]
    else:
        rows = x.numel() // max(mod.input_size, 1)  # steps * batch
    dirs = 2 if mod.bidirectional else 1
    h_out = mod.proj_size or mod.hidden_size
    total = 0
    for layer in range(mod.num_layers):
        in_size = mod.input_size if layer == 0 else h_out * dirs
        total += (
            dirs
            * rows
            * _step_flops(in_size, mod.hidden_size, h_out, gates, gate_ops, mod.bias, mod.proj_size)
        )
    return total
