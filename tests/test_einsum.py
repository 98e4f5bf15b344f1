"""ember.einsum vs torch.einsum: explicit/implicit output, ellipsis, diagonals, broadcasting,
sublist form, empty and size-1 dims, dtypes, non-contiguous operands, float64 gradients
(gradcheck and vs PyTorch), and bad equations."""

import numpy as np
import pytest

import ember
from ember.testing import gradcheck

torch = pytest.importorskip("torch")

CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),
    ("ij,kj->ik", [(2, 7), (3, 7)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 5, 4), (2, 3, 6, 4)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),
    ("...ij,...jk", [(2, 1, 3, 4), (5, 4, 2)]),
    ("i,i->", [(7,), (7,)]),
    ("i,i", [(7,), (7,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,j", [(3,), (4,)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("iij->j", [(3, 3, 2)]),
    ("ijj->ij", [(2, 3, 3)]),
    ("bii->b", [(5, 3, 3)]),
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("ijk->kij", [(2, 3, 4)]),
    ("...->...", [(2, 3)]),
    ("i...->...", [(2, 3, 4)]),
    ("...ij->ij", [(2, 3, 4)]),
    ("ijk,jil->kl", [(2, 3, 4), (3, 2, 5)]),
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
    ("ab,bc,cd,de->ae", [(2, 3), (3, 4), (4, 5), (5, 2)]),
    ("i,i->i", [(1,), (4,)]),
    ("ij,ij->ij", [(3, 1), (1, 4)]),
    ("ij,j->i", [(3, 1), (4,)]),
    ("ab,ab->", [(0, 3), (0, 3)]),
    ("ij,jk->ik", [(0, 3), (3, 2)]),
    ("ij,jk->ik", [(2, 0), (0, 3)]),
    ("i,->i", [(3,), ()]),
    ("->", [()]),
    ("Ab,bC->AC", [(2, 3), (3, 4)]),
    (" i j , j k -> i k ", [(2, 3), (3, 4)]),
    ("bhid,bhjd->bhij", [(1, 1, 13, 7), (1, 1, 11, 7)]),
]


def make(shapes, dtype="float64", seed=0):
    rng = np.random.default_rng(seed)
    arrs = [rng.standard_normal(s) for s in shapes]
    e = [ember.tensor(a, dtype=getattr(ember, dtype)) for a in arrs]
    t = [torch.tensor(a, dtype=getattr(torch, dtype)) for a in arrs]
    return e, t


@pytest.mark.parametrize(
    "eq,shapes", CASES, ids=[c[0].replace(" ", "_") or "scalar" for c in CASES]
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward(eq, shapes, dtype):
    e, t = make(shapes, dtype)
    out, ref = ember.einsum(eq, *e), torch.einsum(eq, *t)
    assert tuple(out.shape) == tuple(ref.shape)
    assert out.dtype == e[0].dtype
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("eq,shapes", [c for c in CASES if all(0 not in s for s in c[1])][:30])
def test_grad_vs_torch(eq, shapes):
    e, t = make(shapes)
    for x in e + t:
        x.requires_grad_(True)
    out, ref = ember.einsum(eq, *e), torch.einsum(eq, *t)
    w = np.random.default_rng(9).standard_normal(tuple(ref.shape))
    (out * ember.tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    for a, b in zip(e, t):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "eq,shapes",
    [
        ("ij,jk->ik", [(2, 3), (3, 2)]),
        ("bii,bi->b", [(2, 3, 3), (2, 3)]),
        ("...i,...i", [(2, 3), (3,)]),
    ],
)
def test_gradcheck(eq, shapes):
    e, _ = make(shapes)
    for x in e:
        x.requires_grad_(True)
    assert gradcheck(lambda *xs: ember.einsum(eq, *xs), tuple(e))


def test_double_backward():
    e, t = make([(3, 4), (4, 2)])
    res = []
    for lib, xs in ((ember, e), (torch, t)):
        a, b = (x.clone().requires_grad_(True) for x in xs)
        out = lib.einsum("ij,jk->ik", a, b)
        (ga,) = lib.autograd.grad((out * out).sum(), [a], create_graph=True)
        (gb,) = lib.autograd.grad(ga.sum(), [b])
        res.append(gb.detach().numpy())
    np.testing.assert_allclose(res[0], res[1], rtol=1e-10)


def test_sublist_and_list_operands():
    e, t = make([(2, 3), (3, 4)])
    out = ember.einsum(e[0], [0, 1], e[1], [1, 2], [0, 2])
    np.testing.assert_allclose(
        out.numpy(), torch.einsum(t[0], [0, 1], t[1], [1, 2], [0, 2]).numpy()
    )
    out = ember.einsum(e[0], [Ellipsis, 1], e[1], [1, 2])
    np.testing.assert_allclose(out.numpy(), torch.einsum(t[0], [Ellipsis, 1], t[1], [1, 2]).numpy())
    np.testing.assert_allclose(
        ember.einsum("ij,jk", [e[0], e[1]]).numpy(), torch.einsum("ij,jk", [t[0], t[1]]).numpy()
    )


def test_non_contiguous_and_int():
    e, t = make([(4, 3), (5, 4)])
    out = ember.einsum("ji,kj->ik", e[0], e[1].t().t())
    np.testing.assert_allclose(out.numpy(), torch.einsum("ji,kj->ik", *t).numpy(), rtol=1e-12)
    ei = ember.arange(6).reshape(2, 3)
    ti = torch.arange(6).reshape(2, 3)
    assert ember.einsum("ij,ij->i", ei, ei).tolist() == torch.einsum("ij,ij->i", ti, ti).tolist()


def test_uses_gemm_engine_under_autocast():
    a, b = ember.randn(8, 16), ember.randn(16, 4)
    with ember.autocast("cpu", dtype=ember.bfloat16):
        assert ember.einsum("ij,jk->ik", a, b).dtype == ember.bfloat16


@pytest.mark.parametrize(
    "eq,shapes,match",
    [
        ("ij,jk", [(2, 3), (4, 5)], "subscript j has size"),
        ("ij", [(2, 3, 4)], "does not match the number of dimensions"),
        ("ii", [(2, 3)], "repeated for operand 0 but the sizes don't match"),
        ("ij->k", [(2, 3)], "output subscript k does not appear"),
        ("ij->ii", [(2, 2)], "appears more than once in the output"),
        ("i", [(2,), (2,)], "operands were specified"),
        ("i,j", [(2,)], "operands were specified"),
        ("i1", [(2, 2)], "invalid subscript"),
        ("i..j", [(2, 2)], "ellipsis"),
        ("...i...", [(2, 2)], "ellipsis"),
    ],
)
def test_bad_equations(eq, shapes, match):
    e, _ = make(shapes)
    with pytest.raises(RuntimeError, match=match):
        ember.einsum(eq, *e)


def test_bad_operands():
    with pytest.raises(RuntimeError, match="same dtype"):
        ember.einsum("i,i", ember.ones(2), ember.ones(2, dtype=ember.float64))
    with pytest.raises(TypeError, match="operand 1 must be a Tensor"):
        ember.einsum("i,i", ember.ones(2), [1.0, 2.0])
    with pytest.raises(TypeError):
        ember.einsum()
    with pytest.raises(RuntimeError, match="between 0 and 51"):
        ember.einsum(ember.ones(2), [52])
