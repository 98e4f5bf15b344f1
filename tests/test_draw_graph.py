"""ember.utils.draw_graph: the DOT it writes, parsed back (nodes, labels, edges, clusters)."""

import re
import shutil
import sys
import types

import numpy as np
import pytest

import ember
from ember import nn
from ember.utils import draw_graph

_NODE = re.compile(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)", (.*)\];$')
_EDGE = re.compile(r"^\s*(\w+) -> (\w+);$")


def parse(dot):
    """{id: (label lines, attrs)}, [(src, dst)], {cluster: [ids]}"""
    nodes, edges, clusters, current = {}, [], {}, None
    assert dot.startswith("digraph ember {") and dot.rstrip().endswith("}")
    for line in dot.splitlines():
        if m := re.match(r"^\s*subgraph cluster_(\d+) \{$", line):
            current = int(m.group(1))
            clusters[current] = []
        elif line.strip() == "}" and current is not None:
            current = None
        elif m := _NODE.match(line):
            nodes[m.group(1)] = (m.group(2).replace('\\"', '"').split("\\n"), m.group(3))
            if current is not None:
                clusters[current].append(m.group(1))
        elif m := _EDGE.match(line):
            edges.append((m.group(1), m.group(2)))
    return nodes, edges, clusters


def by_first_line(nodes):
    out = {}
    for nid, (lines, _) in nodes.items():
        out.setdefault(lines[0], []).append(nid)
    return out


def mlp_and_loss():
    ember.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x = ember.randn(5, 4)
    loss = nn.functional.cross_entropy(model(x), ember.tensor([0, 1, 2, 1, 0]))
    return model, loss


def test_mlp_nodes_labels_and_edges(tmp_path):
    model, loss = mlp_and_loss()
    path = tmp_path / "g.dot"
    dot = draw_graph(loss, path, model=model)
    assert path.read_text() == dot
    nodes, edges, clusters = parse(dot)
    names = by_first_line(nodes)
    assert not clusters
    # every parameter appears once, labelled with its module path, shape, dtype and device
    for pname, p in model.named_parameters():
        (nid,) = names[pname]
        lines, attrs = nodes[nid]
        assert lines[1] == f"{tuple(p.shape)} float32 cpu"
        assert "lightblue" in attrs
        assert len(lines) == 2  # no gradient yet
    # the ops: two linears, a relu, the loss; each with its output shape
    assert len(names["AddmmBackward0"]) == 2
    (relu,) = names["ReluBackward0"]
    assert nodes[relu][0][1] == "(5, 8) float32 cpu"
    out = names["output"]
    assert len(out) == 1 and nodes[out[0]][0][1] == "() float32 cpu"
    # edges follow the data: weight -> its linear -> relu -> ... -> output
    (w0,) = names["0.weight"]
    (lin0,) = [b for a, b in edges if a == w0]
    assert (lin0, relu) in edges
    assert any(b == out[0] for _, b in edges)
    # all edge ends are drawn nodes, and no node is drawn twice
    assert {a for a, _ in edges} | {b for _, b in edges} <= set(nodes)
    assert len(re.findall(r"^\s*n\d+ \[", dot, re.M)) == len(nodes) - 1  # + out0


def test_grad_norm_after_backward():
    model, loss = mlp_and_loss()
    loss.backward()
    nodes, _, _ = parse(draw_graph(loss, params=dict(model.named_parameters())))
    names = by_first_line(nodes)
    for pname, p in model.named_parameters():
        lines = nodes[names[pname][0]][0]
        want = np.linalg.norm(p.grad.numpy().astype(np.float64))
        got = float(lines[2].removeprefix("grad norm "))
        assert got == pytest.approx(want, rel=1e-3)


def test_shared_leaf_and_diamond_drawn_once():
    x = ember.tensor([1.0, 2.0], dtype=ember.float64, requires_grad=True)
    a = x.exp()
    y = (a * a.sin() * x).sum()
    nodes, edges, _ = parse(draw_graph({"y": y, "a": a}, params={"x": x}))
    names = by_first_line(nodes)
    assert len(names["x"]) == 1 and nodes[names["x"][0]][0][1] == "(2,) float64 cpu"
    assert len(names["ExpBackward0"]) == 1
    (exp,) = names["ExpBackward0"]
    assert sum(1 for a_, _ in edges if a_ == exp) == 3  # to the mul, the sin and the output 'a'
    assert names["y"] and names["a"]  # both outputs, by their given names


def test_unnamed_leaf_and_multi_output_node():
    class TwoOut(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x.sum()

        @staticmethod
        def backward(ctx, g1, g2):
            return g1 * 2 + g2

    x = ember.ones(3, requires_grad=True)
    a, b = TwoOut.apply(x)
    nodes, _, _ = parse(draw_graph(a + b))
    names = by_first_line(nodes)
    assert names["leaf"]
    (two,) = [n for k, v in names.items() if k.startswith("TwoOut") for n in v]
    assert nodes[two][0][1:] == ["out0: (3,) float32 cpu", "out1: () float32 cpu"]


def test_a_leaf_alone():
    p = nn.Parameter(ember.zeros(2, 3))
    nodes, edges, _ = parse(draw_graph(p, params={"w": p}))
    assert [lines for lines, _ in nodes.values()] == [["w", "(2, 3) float32 cpu"]] and not edges


def test_bad_arguments(tmp_path):
    _, loss = mlp_and_loss()
    with pytest.raises(TypeError, match="draw_graph: expected a Tensor"):
        draw_graph(3.0)
    with pytest.raises(ValueError, match="unknown format 'jpg'"):
        draw_graph(loss, tmp_path / "g.jpg")
    with pytest.raises(TypeError, match=r"params\['w'\] is a list"):
        draw_graph(loss, params={"w": [1]})
    with pytest.raises(ValueError, match="rankdir"):
        draw_graph(loss, rankdir="XX")


def test_svg_without_graphviz_says_what_to_install(tmp_path, monkeypatch):
    _, loss = mlp_and_loss()
    monkeypatch.setitem(sys.modules, "graphviz", None)  # import fails
    with pytest.raises(ImportError, match=r"pip install 'ember\[plot\]'.*Graphviz"):
        draw_graph(loss, tmp_path / "g.svg")
    assert not (tmp_path / "g.svg").exists()
    draw_graph(loss, tmp_path / "g.dot")  # DOT still works


def _fake_graphviz(render):
    mod = types.ModuleType("graphviz")

    class ExecutableNotFound(RuntimeError):
        pass

    class Source:
        def __init__(self, src):
            self.src = src

        def pipe(self, format):
            return render(self.src, format, ExecutableNotFound)

    mod.Source, mod.ExecutableNotFound = Source, ExecutableNotFound
    return mod


def test_rendered_formats_go_through_graphviz(tmp_path, monkeypatch):
    _, loss = mlp_and_loss()
    seen = []

    def render(src, fmt, _):
        seen.append((src, fmt))
        return b"<svg/>" if fmt == "svg" else b"\x89PNG"

    monkeypatch.setitem(sys.modules, "graphviz", _fake_graphviz(render))
    dot = draw_graph(loss, tmp_path / "g.svg", rankdir="LR")
    assert (tmp_path / "g.svg").read_bytes() == b"<svg/>" and seen == [(dot, "svg")]
    draw_graph(loss, tmp_path / "g.out", format="png")
    assert (tmp_path / "g.out").read_bytes() == b"\x89PNG"

    def missing_dot(src, fmt, exc):
        raise exc("failed to execute 'dot'")

    monkeypatch.setitem(sys.modules, "graphviz", _fake_graphviz(missing_dot))
    with pytest.raises(RuntimeError, match="Graphviz 'dot' program"):
        draw_graph(loss, tmp_path / "h.png")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")
def test_real_svg(tmp_path):
    pytest.importorskip("graphviz")
    model, loss = mlp_and_loss()
    draw_graph(loss, tmp_path / "g.svg", model=model)
    assert b"0.weight" in (tmp_path / "g.svg").read_bytes()


class FakeCompiled:
    """The interface ember.compile's graphs implement: graph_view() -> list of node dicts."""

    def __init__(self, view):
        self.view = view

    def graph_view(self):
        return self.view


def _node(id, op, kind, inputs=(), group=None, name=None, shape=(4, 8)):
    return dict(
        id=id,
        op=op,
        shape=shape,
        dtype="float32",
        device="cpu",
        inputs=list(inputs),
        group=group,
        kind=kind,
        name=name,
    )


def compiled_mlp_view():
    return [
        _node(0, "input", "input", name="x", shape=(4, 3)),
        _node(1, "param", "param", name="0.weight", shape=(8, 3)),
        _node(2, "param", "param", name="0.bias", shape=(8,)),
        _node(3, "matmul", "op", [0, 1]),
        _node(4, "add", "op", [3, 2], group=0),
        _node(5, "relu", "op", [4], group=0),
        _node(6, "mul", "op", [5], group=1, name="scale"),
        _node(7, "sum", "op", [6], group=1, shape=()),
        _node(8, "output", "output", [7], name="loss", shape=()),
    ]


def test_compiled_graph_clusters(tmp_path):
    dot = draw_graph(FakeCompiled(compiled_mlp_view()), tmp_path / "c.gv")
    nodes, edges, clusters = parse(dot)
    assert clusters == {0: ["n4", "n5"], 1: ["n6", "n7"]}
    assert nodes["n3"][0] == ["matmul", "(4, 8) float32 cpu"]
    assert nodes["n6"][0][0] == "mul (scale)"
    assert nodes["n1"][0] == ["0.weight", "(8, 3) float32 cpu"] and "lightblue" in nodes["n1"][1]
    assert nodes["n0"][0][0] == "x" and nodes["n8"][0] == ["loss", "() float32 cpu"]
    assert sorted(edges) == sorted(
        [
            ("n0", "n3"),
            ("n1", "n3"),
            ("n3", "n4"),
            ("n2", "n4"),
            ("n4", "n5"),
            ("n5", "n6"),
            ("n6", "n7"),
            ("n7", "n8"),
        ]
    )
    assert 'label="fused group 0"' in dot


def test_compiled_graph_grad_norm_from_params():
    w = ember.ones(8, 3, requires_grad=True)
    (w * 2).sum().backward()
    nodes, _, _ = parse(draw_graph(FakeCompiled(compiled_mlp_view()), params={"0.weight": w}))
    assert nodes["n1"][0][2] == f"grad norm {np.sqrt(24 * 4.0):.4g}"


def test_compiled_graph_bad_views():
    view = compiled_mlp_view()
    del view[3]["dtype"]
    with pytest.raises(ValueError, match=r"entry 3 lacks keys \['dtype'\]"):
        draw_graph(FakeCompiled(view))
    view = compiled_mlp_view()
    view[4]["inputs"] = [99]
    with pytest.raises(ValueError, match="node 4 has input 99"):
        draw_graph(FakeCompiled(view))
    view = compiled_mlp_view()
    view[2]["kind"] = "weight"
    with pytest.raises(ValueError, match="kind 'weight'"):
        draw_graph(FakeCompiled(view))
    with pytest.raises(TypeError, match="list of dicts"):
        draw_graph(FakeCompiled(None))
