"""Parity ops vs PyTorch: tensordot, kron, outer/ger, cross, cartesian_prod, meshgrid, diag,
diag_embed, triu/tril_indices, bucketize, searchsorted, histc, cdist (and the existing
cosine_similarity / normalize / logsumexp / nan_to_num), with float64 gradients and bad input."""

import math

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.testing import gradcheck

torch = pytest.importorskip("torch")


def make(*shapes, dtype="float64", seed=0, grad=False):
    rng = np.random.default_rng(seed)
    arrs = [rng.standard_normal(s) for s in shapes]
    e = [ember.tensor(a, dtype=getattr(ember, dtype), requires_grad=grad) for a in arrs]
    t = [torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=grad) for a in arrs]
    return e, t


def close(a, b, rtol=1e-10, atol=1e-12):
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    assert tuple(a.shape) == tuple(b.shape), (tuple(a.shape), tuple(b.shape))
    np.testing.assert_allclose(a.detach().numpy(), b, rtol=rtol, atol=atol)


def same_grads(fn_e, fn_t, shapes, seed=0):
    """Forward and the gradient of a weighted sum, ember vs torch, float64."""
    e, t = make(*shapes, seed=seed, grad=True)
    oe, ot = fn_e(*e), fn_t(*t)
    close(oe, ot)
    w = np.random.default_rng(seed + 1).standard_normal(tuple(ot.shape))
    (oe * ember.tensor(w)).sum().backward()
    (ot * torch.tensor(w)).sum().backward()
    for a, b in zip(e, t):
        close(a.grad, b.grad)


@pytest.mark.parametrize(
    "sa,sb,dims",
    [
        ((3, 4, 5), (4, 5, 2), 2),
        ((3, 4), (4, 5), 1),
        ((3,), (4,), 0),
        ((2, 3, 4), (4, 3, 2), ([1, 2], [1, 0])),
        ((2, 3), (3, 2), ([0], [1])),
        ((5, 1, 3), (3, 1, 5), ([0, 2], [2, 0])),
        ((3, 4), (3, 4), 2),
    ],
)
def test_tensordot(sa, sb, dims):
    same_grads(
        lambda a, b: ember.tensordot(a, b, dims), lambda a, b: torch.tensordot(a, b, dims), [sa, sb]
    )


@pytest.mark.parametrize(
    "sa,sb", [((2, 3), (4, 5)), ((3,), (2,)), ((2, 1, 3), (3, 2)), ((1,), (1, 1)), ((2, 2), (0, 3))]
)
def test_kron(sa, sb):
    same_grads(ember.kron, torch.kron, [sa, sb])
    e, t = make(sa, sb)
    close(e[0].kron(e[1]), t[0].kron(t[1]))


@pytest.mark.parametrize("n,m", [(3, 4), (1, 5), (0, 2)])
def test_outer_ger(n, m):
    same_grads(ember.outer, torch.outer, [(n,), (m,)])
    e, t = make((n,), (m,))
    close(e[0].outer(e[1]), t[0].ger(t[1]))
    close(ember.ger(*e), torch.outer(*t))


@pytest.mark.parametrize(
    "sa,sb,dim",
    [
        ((3,), (3,), None),
        ((4, 3), (4, 3), -1),
        ((3, 5), (3, 5), 0),
        ((2, 4, 3), (1, 4, 3), 2),
        ((3, 3), (3, 3), None),
    ],
)
@pytest.mark.filterwarnings("ignore:Using torch.cross without specifying the dim")
def test_cross(sa, sb, dim):
    kw = {} if dim is None else {"dim": dim}
    same_grads(lambda a, b: ember.cross(a, b, **kw), lambda a, b: torch.cross(a, b, **kw), [sa, sb])
    same_grads(
        lambda a, b: ember.linalg.cross(a, b),
        lambda a, b: torch.linalg.cross(a, b),
        [(5, 3), (5, 3)],
    )


def test_cross_errors():
    with pytest.raises(RuntimeError, match="must have length 3"):
        ember.cross(ember.ones(4, 2), ember.ones(4, 2), dim=1)
    with pytest.raises(RuntimeError, match="no dimension of size 3"):
        ember.cross(ember.ones(4, 2), ember.ones(4, 2))
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        ember.cross(ember.ones(2, 3), ember.ones(3))


@pytest.mark.parametrize("sizes", [(3,), (2, 3), (2, 1, 4), (0, 2)])
def test_cartesian_prod_meshgrid(sizes):
    e = [ember.arange(n) * (i + 1) for i, n in enumerate(sizes)]
    t = [torch.arange(n) * (i + 1) for i, n in enumerate(sizes)]
    assert ember.cartesian_prod(*e).tolist() == torch.cartesian_prod(*t).tolist()
    for indexing in ("ij", "xy"):
        for a, b in zip(
            ember.meshgrid(*e, indexing=indexing), torch.meshgrid(*t, indexing=indexing)
        ):
            assert a.tolist() == b.tolist()
    same_grads(
        lambda a, b: ember.cartesian_prod(a, b),
        lambda a, b: torch.cartesian_prod(a, b),
        [(3,), (2,)],
    )


@pytest.mark.parametrize("shape", [(4,), (1,), (0,), (3, 3), (3, 5), (5, 2)])
@pytest.mark.parametrize("k", [0, 1, -2, 3])
def test_diag(shape, k):
    same_grads(lambda x: ember.diag(x, k), lambda x: torch.diag(x, k), [shape])
    e, t = make(shape)
    close(e[0].diag(k), t[0].diag(k))


@pytest.mark.parametrize("shape", [(4,), (2, 3), (2, 3, 2), (1,)])
@pytest.mark.parametrize(
    "offset,d1,d2", [(0, -2, -1), (1, 0, 1), (-1, -1, 0), (2, 0, -1), (0, 1, 0)]
)
def test_diag_embed(shape, offset, d1, d2):
    same_grads(
        lambda x: ember.diag_embed(x, offset, d1, d2),
        lambda x: torch.diag_embed(x, offset, d1, d2),
        [shape],
    )
    e, _ = make(shape)
    assert (
        e[0].diag_embed(offset, d1, d2).shape
        == torch.diag_embed(torch.ones(shape), offset, d1, d2).shape
    )


def test_diag_errors():
    with pytest.raises(RuntimeError, match="1D or 2D"):
        ember.diag(ember.ones(2, 2, 2))
    with pytest.raises(RuntimeError, match="cannot be identical"):
        ember.diag_embed(ember.ones(3), 0, 1, 1)
    with pytest.raises(IndexError):
        ember.diag_embed(ember.ones(3), 0, 0, 5)


@pytest.mark.parametrize(
    "row,col,offset",
    [(4, 4, 0), (3, 5, 1), (5, 3, -1), (4, 4, 10), (4, 4, -10), (0, 3, 0), (1, 1, 0)],
)
def test_tri_indices(row, col, offset):
    for name in ("triu_indices", "tril_indices"):
        out = getattr(ember, name)(row, col, offset)
        ref = getattr(torch, name)(row, col, offset)
        assert out.dtype == ember.int64 and out.tolist() == ref.tolist()
    assert ember.triu_indices(3, 3, dtype=ember.int32).dtype == ember.int32
    with pytest.raises(RuntimeError, match="non-negative"):
        ember.triu_indices(-1, 3)


@pytest.mark.parametrize("right", [False, True])
@pytest.mark.parametrize("out_int32", [False, True])
def test_bucketize(right, out_int32):
    b = [1.0, 3.0, 5.0, 7.0, 9.0]
    v = [[3.0, 6.0, 9.0], [3.0, 6.0, 9.5], [0.0, 1.0, 10.0]]
    out = ember.bucketize(ember.tensor(v), ember.tensor(b), right=right, out_int32=out_int32)
    ref = torch.bucketize(torch.tensor(v), torch.tensor(b), right=right, out_int32=out_int32)
    assert out.tolist() == ref.tolist()
    assert out.dtype == (ember.int32 if out_int32 else ember.int64)
    assert ember.bucketize(4, ember.tensor(b)).item() == torch.bucketize(4, torch.tensor(b)).item()
    with pytest.raises(RuntimeError, match="1 dimension"):
        ember.bucketize(ember.ones(2), ember.ones(2, 2))


@pytest.mark.parametrize(
    "seq_shape,val_shape",
    [((6,), (4,)), ((6,), (2, 3)), ((2, 6), (2, 3)), ((2, 3, 5), (2, 3, 4)), ((6,), ())],
)
@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_searchsorted(seq_shape, val_shape, side, dtype):
    rng = np.random.default_rng(3)
    seq = np.sort(rng.integers(0, 10, seq_shape), -1)
    val = rng.integers(-1, 11, val_shape)
    e = ember.searchsorted(
        ember.tensor(seq, dtype=getattr(ember, dtype)),
        ember.tensor(val, dtype=getattr(ember, dtype)),
        side=side,
    )
    t = torch.searchsorted(
        torch.tensor(seq, dtype=getattr(torch, dtype)),
        torch.tensor(val, dtype=getattr(torch, dtype)),
        side=side,
    )
    assert e.tolist() == t.tolist()
    e2 = ember.searchsorted(ember.tensor(seq), ember.tensor(val), right=side == "right")
    assert e2.tolist() == t.tolist()


def test_searchsorted_sorter_scalar_errors():
    seq = np.array([5.0, 1.0, 3.0, 9.0, 7.0])
    sorter = np.argsort(seq)
    v = np.array([0.0, 3.0, 8.0, 10.0])
    e = ember.searchsorted(ember.tensor(seq), ember.tensor(v), sorter=ember.tensor(sorter))
    t = torch.searchsorted(torch.tensor(seq), torch.tensor(v), sorter=torch.tensor(sorter))
    assert e.tolist() == t.tolist()
    assert ember.searchsorted(ember.tensor([1.0, 2.0, 3.0]), 2.5).item() == 2
    assert (
        ember.searchsorted(ember.tensor([1.0, 2.0, 3.0]), 2.0, right=True, out_int32=True).dtype
        == ember.int32
    )
    with pytest.raises(RuntimeError, match="opposites"):
        ember.searchsorted(ember.tensor([1.0]), ember.tensor([1.0]), right=True, side="left")
    with pytest.raises(RuntimeError, match="side can only be"):
        ember.searchsorted(ember.tensor([1.0]), ember.tensor([1.0]), side="middle")
    with pytest.raises(RuntimeError, match="first N-1 dimensions"):
        ember.searchsorted(ember.ones(2, 3), ember.ones(3, 3))
    with pytest.raises(RuntimeError, match="same size"):
        ember.searchsorted(ember.ones(3), ember.ones(2), sorter=ember.tensor([0, 1]))


@pytest.mark.parametrize(
    "bins,lo,hi", [(10, 0, 0), (7, -1.0, 1.0), (1, 0, 0), (100, -0.5, 3.0), (4, 2.0, 2.0)]
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_histc(bins, lo, hi, dtype):
    x = np.random.default_rng(5).standard_normal(200)
    e = ember.histc(ember.tensor(x, dtype=getattr(ember, dtype)), bins, lo, hi)
    t = torch.histc(torch.tensor(x, dtype=getattr(torch, dtype)), bins, lo, hi)
    assert e.dtype == getattr(ember, dtype)
    np.testing.assert_array_equal(e.numpy(), t.numpy())
    assert ember.tensor(x).histc(5).tolist() == torch.tensor(x).histc(5).tolist()


def test_histc_edges_and_errors():
    x = [0.0, 1.0, 2.0, 3.0, 4.0, 4.0, 5.0, -1.0]
    assert (
        ember.histc(ember.tensor(x), 4, 0, 4).tolist()
        == torch.histc(torch.tensor(x), 4, 0, 4).tolist()
    )
    assert (
        ember.histc(ember.tensor([2.0, 2.0]), 3).tolist()
        == torch.histc(torch.tensor([2.0, 2.0]), 3).tolist()
    )
    assert ember.histc(ember.ones(0), 3).tolist() == torch.histc(torch.ones(0), 3).tolist()
    with pytest.raises(RuntimeError, match="not implemented for 'int64'|Long|int64"):
        ember.histc(ember.ones(3, dtype=ember.int64))
    with pytest.raises(RuntimeError, match="bins must be > 0"):
        ember.histc(ember.ones(3), 0)
    with pytest.raises(RuntimeError, match="max must be larger than min"):
        ember.histc(ember.ones(3), 3, 2, 1)


@pytest.mark.parametrize("p", [2.0, 1.0, 0.0, 3.0, 0.5, math.inf])
@pytest.mark.parametrize(
    "s1,s2", [((5, 3), (4, 3)), ((2, 5, 3), (2, 4, 3)), ((2, 5, 3), (4, 3)), ((1, 1), (1, 1))]
)
def test_cdist(p, s1, s2):
    e, t = make(s1, s2, grad=True)
    close(ember.cdist(*e, p=p), torch.cdist(*t, p=p), rtol=1e-9)
    if p not in (0.0,):
        same_grads(
            lambda a, b: ember.cdist(a, b, p=p), lambda a, b: torch.cdist(a, b, p=p), [s1, s2]
        )


@pytest.mark.parametrize(
    "mode",
    [
        "use_mm_for_euclid_dist_if_necessary",
        "use_mm_for_euclid_dist",
        "donot_use_mm_for_euclid_dist",
    ],
)
def test_cdist_compute_mode(mode):
    e, t = make((30, 4), (27, 4))
    close(
        ember.cdist(*e, compute_mode=mode), torch.cdist(*t, compute_mode=mode), rtol=1e-7, atol=1e-9
    )
    e32, t32 = make((30, 4), (27, 4), dtype="float32")
    np.testing.assert_allclose(
        ember.cdist(*e32, compute_mode=mode).numpy(),
        torch.cdist(*t32, compute_mode=mode).numpy(),
        rtol=1e-4,
        atol=1e-4,
    )


def test_cdist_errors_and_gradcheck():
    with pytest.raises(RuntimeError, match="same number of columns"):
        ember.cdist(ember.ones(2, 3), ember.ones(2, 4))
    with pytest.raises(RuntimeError, match="at least 2D"):
        ember.cdist(ember.ones(3), ember.ones(2, 3))
    with pytest.raises(RuntimeError, match="non-negative p"):
        ember.cdist(ember.ones(2, 3), ember.ones(2, 3), p=-1)
    with pytest.raises(RuntimeError, match="floating-point"):
        ember.cdist(ember.ones(2, 3, dtype=ember.int64), ember.ones(2, 3, dtype=ember.int64))
    with pytest.raises(RuntimeError, match="not a valid value"):
        ember.cdist(ember.ones(2, 3), ember.ones(2, 3), compute_mode="fast")
    e, _ = make((3, 2), (4, 2), grad=True)
    assert gradcheck(lambda a, b: ember.cdist(a, b, p=1.5), tuple(e))


@pytest.mark.parametrize("shape,dim", [((4, 5), 1), ((3, 4, 5), -1), ((2, 3), 0)])
def test_existing_similarity_normalize_logsumexp(shape, dim):
    same_grads(
        lambda a, b: F.cosine_similarity(a, b, dim),
        lambda a, b: torch.nn.functional.cosine_similarity(a, b, dim),
        [shape, shape],
    )
    same_grads(
        lambda a: F.normalize(a, 2.0, dim),
        lambda a: torch.nn.functional.normalize(a, 2.0, dim),
        [shape],
    )
    same_grads(lambda a: ember.logsumexp(a, dim), lambda a: torch.logsumexp(a, dim), [shape])
    x = [1.0, math.nan, math.inf, -math.inf]
    assert (
        ember.nan_to_num(ember.tensor(x), posinf=9.0).tolist()
        == torch.nan_to_num(torch.tensor(x), posinf=9.0).tolist()
    )


def test_tensordot_kron_errors():
    with pytest.raises(RuntimeError, match="contracted dimensions need to match"):
        ember.tensordot(ember.ones(2, 3), ember.ones(4, 2), 1)
    with pytest.raises(RuntimeError, match="dims >= 0"):
        ember.tensordot(ember.ones(2), ember.ones(2), -1)
    with pytest.raises(RuntimeError, match="same length"):
        ember.tensordot(ember.ones(2, 3), ember.ones(3, 2), ([0, 1], [1]))
    with pytest.raises(RuntimeError, match="1-D"):
        ember.outer(ember.ones(2, 2), ember.ones(2))
    with pytest.raises(TypeError, match="must be Tensor"):
        ember.kron([1.0], ember.ones(2))
