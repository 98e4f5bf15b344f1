"""``ember.utils.draw_graph``: the autograd tape or a compiled graph as DOT (and SVG/PNG).

A tensor's graph is walked from its ``grad_fn`` through ``next_functions``; a compiled graph is
anything with a ``graph_view()`` method returning one dict per node (see :func:`draw_graph`).
Edges point the way data flows in the forward pass: inputs and parameters -> ops -> outputs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

from .. import _C

__all__ = ["draw_graph", "graph_dot"]

_RENDERED = ("svg", "png", "pdf")
_STYLE = {
    "op": 'shape=box, style="rounded,filled", fillcolor=lightgrey',
    "param": "shape=box, style=filled, fillcolor=lightblue",
    "input": "shape=box, style=filled, fillcolor=lightyellow",
    "output": "shape=box, style=filled, fillcolor=darkolivegreen1",
}
_VIEW_KEYS = ("id", "op", "shape", "dtype", "device", "inputs", "group", "kind", "name")
_KINDS = ("input", "param", "op", "output")


def draw_graph(
    graph,
    path: str | os.PathLike | None = None,
    *,
    format: str | None = None,
    params: Mapping | None = None,
    model=None,
    rankdir: str = "TB",
    title: str | None = None,
) -> str:
    """Draw a computation graph: one node per op with its name, output shape, dtype and device.

    Args:
        graph: a tensor (its autograd tape is drawn), a list/tuple of tensors or a dict
            ``{name: tensor}`` (several outputs), or a compiled graph: any object with a
            ``graph_view()`` method returning a list of dicts with keys ``id`` (int), ``op``
            (str), ``shape`` (tuple), ``dtype`` (str), ``device`` (str), ``inputs`` (ids),
            ``group`` (fusion-group id or None), ``kind`` (``'input' | 'param' | 'op' |
            'output'``) and ``name`` (str or None). Fused groups are drawn as clusters.
        path: where to write; the suffix picks the format: ``.dot``/``.gv`` (DOT text, always
            available) or ``.svg``/``.png``/``.pdf`` (rendered by the ``graphviz`` package and
            the Graphviz ``dot`` program: ``pip install 'ember[plot]'`` and Graphviz itself).
            None: write nothing, just return the DOT text.
        format: overrides the suffix (``"dot"``, ``"svg"``, ``"png"``, ``"pdf"``).
        params: ``{name: parameter}`` (e.g. ``dict(model.named_parameters())``) to label
            parameters by their module path; after ``backward()`` each parameter also shows the
            norm of its ``.grad``.
        model: an ``nn.Module`` whose ``named_parameters()`` are used the same way.
        rankdir: Graphviz layout direction (``"TB"`` top to bottom, ``"LR"`` left to right).
        title: a label drawn above the graph.

    Returns:
        The DOT source.

    Example::

        loss = F.cross_entropy(model(x), y)
        loss.backward()
        ember.utils.draw_graph(loss, "graph.svg", model=model)
    """
    fmt = _pick_format(path, format)
    names = dict(params or {})
    if model is not None:
        for n, p in model.named_parameters():
            names.setdefault(n, p)
    dot = graph_dot(graph, params=names, rankdir=rankdir, title=title)
    if path is None:
        return dot
    path = Path(os.fspath(path))
    if fmt == "dot":
        path.write_text(dot)
    else:
        path.write_bytes(_render(dot, fmt))
    return dot


def graph_dot(
    graph, *, params: Mapping | None = None, rankdir: str = "TB", title: str | None = None
) -> str:
    """The DOT source :func:`draw_graph` writes (same arguments, nothing written)."""
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"draw_graph: rankdir must be 'TB', 'LR', 'BT' or 'RL', got {rankdir!r}")
    by_impl = {}
    for n, p in (params or {}).items():
        if not isinstance(p, _C.Tensor):
            raise TypeError(f"draw_graph: params[{n!r}] is a {type(p).__name__}, expected a Tensor")
        by_impl.setdefault(p._impl_id, n)
    if callable(getattr(graph, "graph_view", None)):
        nodes, edges, clusters = _from_view(graph.graph_view(), params or {})
    else:
        nodes, edges, clusters = _from_tape(graph, by_impl)
    lines = [
        "digraph ember {",
        f"  rankdir={rankdir};",
        '  node [fontname="Helvetica", fontsize=11];',
    ]
    if title:
        lines.append(f'  labelloc=t; label="{_esc(title)}";')
    in_cluster = {nid for members in clusters.values() for nid in members}
    for nid, (label, kind) in nodes.items():
        if nid not in in_cluster:
            lines.append(f'  {nid} [label="{_esc(label)}", {_STYLE[kind]}];')
    for group, members in clusters.items():
        lines.append(f"  subgraph cluster_{group} {{")
        lines.append(f'    label="fused group {group}"; style="dashed,rounded"; color=steelblue;')
        for nid in members:
            label, kind = nodes[nid]
            lines.append(f'    {nid} [label="{_esc(label)}", {_STYLE[kind]}];')
        lines.append("  }")
    for a, b in edges:
        lines.append(f"  {a} -> {b};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _pick_format(path, format) -> str:
    if format is None:
        suffix = Path(os.fspath(path)).suffix.lower().lstrip(".") if path is not None else "dot"
        format = "dot" if suffix in ("dot", "gv") else suffix
    format = format.lower()
    if format not in ("dot", *_RENDERED):
        raise ValueError(
            f"draw_graph: unknown format {format!r} (from {path!r}); use .dot/.gv, .svg, .png or .pdf"
        )
    return format


def _render(dot: str, fmt: str) -> bytes:
    hint = (
        f"draw_graph: writing .{fmt} needs the graphviz Python package and the Graphviz 'dot' program: "
        "pip install 'ember[plot]' (or pip install graphviz) and install Graphviz "
        "(apt install graphviz / brew install graphviz / https://graphviz.org/download); "
        "a .dot path needs neither"
    )
    try:
        import graphviz
    except ImportError:
        raise ImportError(hint) from None
    try:
        return graphviz.Source(dot).pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise RuntimeError(hint) from None


def _esc(s: str) -> str:
    # DOT string: escape quotes and backslashes; "\n" is a centered line break
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _dtype_str(dt) -> str:
    return str(dt).removeprefix("ember.").removeprefix("torch.")


def _meta(shape, dtype, device) -> str:
    return f"{tuple(shape)} {_dtype_str(dtype)} {device}"


def _grad_norm(t) -> str | None:
    g = t.grad
    if g is None:
        return None
    g64 = g.detach().double()
    return f"grad norm {math.sqrt(float((g64 * g64).sum().item())):.4g}"


def _tensor_label(t, name: str | None) -> str:
    lines = [name or ("leaf" if t.requires_grad else "tensor"), _meta(t.shape, t.dtype, t.device)]
    norm = _grad_norm(t) if t.is_leaf else None
    if norm:
        lines.append(norm)
    return "\n".join(lines)


def _roots(graph) -> list[tuple[str, object]]:
    if isinstance(graph, _C.Tensor):
        return [("output", graph)]
    if isinstance(graph, Mapping):
        items = list(graph.items())
    elif isinstance(graph, (list, tuple)):
        items = [(f"output {i}", t) for i, t in enumerate(graph)]
    else:
        raise TypeError(
            f"draw_graph: expected a Tensor, a list/dict of tensors or an object with graph_view(), "
            f"got {type(graph).__name__}"
        )
    for n, t in items:
        if not isinstance(t, _C.Tensor):
            raise TypeError(f"draw_graph: {n} is a {type(t).__name__}, expected a Tensor")
    if not items:
        raise ValueError("draw_graph: no tensors to draw")
    return [(str(n), t) for n, t in items]


def _from_tape(graph, by_impl):
    nodes: dict[str, tuple[str, str]] = {}
    edges: list[tuple[str, str]] = []
    seen: dict[int, str] = {}  # node id -> DOT id
    todo = []

    def visit(fn) -> str:
        key = fn._node_id
        if key in seen:
            return seen[key]
        did = f"n{len(seen)}"
        seen[key] = did
        if fn.name() == "AccumulateGrad":
            var = fn.variable
            if var is None:
                nodes[did] = ("freed leaf", "input")
            else:
                name = by_impl.get(var._impl_id)
                nodes[did] = (_tensor_label(var, name), "param" if name else "input")
        else:
            metas = fn._output_meta
            lines = [fn.name()]
            for i, (shape, dtype, device) in enumerate(metas):
                lines.append((f"out{i}: " if len(metas) > 1 else "") + _meta(shape, dtype, device))
            nodes[did] = ("\n".join(lines), "op")
            todo.append(fn)
        return did

    for i, (name, t) in enumerate(_roots(graph)):
        out = f"out{i}"
        label = _tensor_label(t, by_impl.get(t._impl_id, name))
        if t.grad_fn is None:  # a leaf (or a constant): it is its own whole graph
            nodes[out] = (label, "param" if t._impl_id in by_impl else "output")
            continue
        nodes[out] = (label, "output")
        edges.append((visit(t.grad_fn), out))
    while todo:
        fn = todo.pop()
        me = seen[fn._node_id]
        for nxt, _ in fn.next_functions:
            if nxt is not None:
                edges.append((visit(nxt), me))
    return nodes, edges, {}


def _from_view(view, params):
    if not isinstance(view, (list, tuple)):
        raise TypeError(
            f"draw_graph: graph_view() must return a list of dicts, got {type(view).__name__}"
        )
    nodes: dict[str, tuple[str, str]] = {}
    edges: list[tuple[str, str]] = []
    clusters: dict[int, list[str]] = {}
    ids = set()
    for i, d in enumerate(view):
        if not isinstance(d, Mapping):
            raise TypeError(
                f"draw_graph: graph_view() entry {i} is a {type(d).__name__}, expected a dict"
            )
        missing = [k for k in _VIEW_KEYS if k not in d]
        if missing:
            raise ValueError(
                f"draw_graph: graph_view() entry {i} lacks keys {missing} (it has {sorted(d)})"
            )
        if d["kind"] not in _KINDS:
            raise ValueError(
                f"draw_graph: graph_view() node {d['id']} has kind {d['kind']!r}; expected one of {_KINDS}"
            )
        if d["id"] in ids:
            raise ValueError(f"draw_graph: graph_view() has two nodes with id {d['id']}")
        ids.add(d["id"])
    for d in view:
        did = f"n{int(d['id'])}"
        kind, name = d["kind"], d["name"]
        head = d["op"] if kind == "op" else (name or kind)
        if kind == "op" and name:
            head = f"{d['op']} ({name})"
        lines = [head, _meta(d["shape"], d["dtype"], d["device"])]
        p = params.get(name) if name and kind == "param" else None
        norm = _grad_norm(p) if p is not None else None
        if norm:
            lines.append(norm)
        nodes[did] = ("\n".join(lines), kind)
        if d["group"] is not None:
            clusters.setdefault(int(d["group"]), []).append(did)
        for src in d["inputs"]:
            if src not in ids:
                raise ValueError(
                    f"draw_graph: graph_view() node {d['id']} has input {src}, which is not a node"
                )
            edges.append((f"n{int(src)}", did))
    return nodes, edges, clusters
