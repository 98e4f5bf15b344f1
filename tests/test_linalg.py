"""ember.linalg vs torch.linalg: forward values (float32/float64, batched, odd sizes), gradients
vs PyTorch's and float64 finite differences (gradcheck), double backward, and bad input."""

import math

import numpy as np
import pytest

import ember
from ember.testing import gradcheck

torch = pytest.importorskip("torch")

SQUARE = [(1, 1), (3, 3), (5, 5), (2, 4, 4), (2, 1, 3, 3)]
RECT = [(4, 3), (3, 5), (2, 5, 2), (2, 3, 4), (1, 1)]
DTYPES = ["float32", "float64"]
TOL = {"float32": dict(rtol=2e-4, atol=2e-4), "float64": dict(rtol=1e-9, atol=1e-9)}


def arr(shape, seed=0, kind="general"):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    n = shape[-1]
    if kind == "general":  # well conditioned
        a = a + 2 * n**0.5 * np.eye(n)
    elif kind == "spd":
        a = a @ np.swapaxes(a, -1, -2) + n * np.eye(n)
    elif kind == "sym":
        a = a + np.swapaxes(a, -1, -2)
    return a


def pair(a, dtype="float64", grad=False):
    e = ember.tensor(a, dtype=getattr(ember, dtype), requires_grad=grad)
    t = torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=grad)
    return e, t


def close(e, t, dtype="float64", **kw):
    tol = dict(TOL[dtype])
    tol.update(kw)
    t = t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)
    assert tuple(e.shape) == tuple(t.shape), (tuple(e.shape), tuple(t.shape))
    np.testing.assert_allclose(e.detach().numpy().astype(np.float64), t.astype(np.float64), **tol)


def grads_match(fn, a, n_out=None, seed=1, **kw):
    """fn(lib, A) -> tensor; gradient of (fn * W).sum() in ember vs torch, float64."""
    e, t = pair(a, grad=True)
    oe, ot = fn(ember, e), fn(torch, t)
    w = np.random.default_rng(seed).standard_normal(tuple(ot.shape))
    (oe * ember.tensor(w)).sum().backward()
    (ot * torch.tensor(w)).sum().backward()
    close(e.grad, t.grad, **kw)


# ---- forward ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SQUARE)
@pytest.mark.parametrize("dtype", DTYPES)
def test_inv_det_slogdet(shape, dtype):
    e, t = pair(arr(shape), dtype)
    close(ember.linalg.inv(e), torch.linalg.inv(t), dtype, rtol=1e-3, atol=1e-4)
    close(ember.linalg.det(e), torch.linalg.det(t), dtype, rtol=1e-3)
    s, la = ember.linalg.slogdet(e)
    ts, tla = torch.linalg.slogdet(t)
    close(s, ts, dtype)
    close(la, tla, dtype, rtol=1e-4, atol=1e-4)
    assert ember.linalg.inv(e).dtype == e.dtype and ember.linalg.det(e).dtype == e.dtype


@pytest.mark.parametrize("shape", SQUARE)
@pytest.mark.parametrize("dtype", DTYPES)
def test_cholesky(shape, dtype):
    e, t = pair(arr(shape, kind="spd"), dtype)
    close(ember.linalg.cholesky(e), torch.linalg.cholesky(t), dtype, rtol=1e-4, atol=1e-4)
    close(
        ember.linalg.cholesky(e, upper=True),
        torch.linalg.cholesky(t, upper=True),
        dtype,
        rtol=1e-4,
        atol=1e-4,
    )


@pytest.mark.parametrize("shape", RECT + SQUARE[:3])
@pytest.mark.parametrize("mode", ["reduced", "complete", "r"])
def test_qr(shape, mode):
    a = arr(shape, kind="rect")
    e, t = pair(a)
    Q, R = ember.linalg.qr(e, mode=mode)
    tQ, tR = torch.linalg.qr(t, mode=mode)
    assert tuple(R.shape) == tuple(tR.shape) and tuple(Q.shape) == tuple(tQ.shape)
    # LAPACK's Householder QR in both: same signs
    close(R, tR, rtol=1e-7, atol=1e-9)
    if mode != "r":
        close(Q, tQ, rtol=1e-7, atol=1e-9)
        close(Q @ R, torch.tensor(a))


@pytest.mark.parametrize("shape", RECT + SQUARE)
@pytest.mark.parametrize("full", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_svd(shape, full, dtype):
    a = arr(shape, kind="rect")
    e, t = pair(a, dtype)
    U, S, Vh = ember.linalg.svd(e, full_matrices=full)
    tU, tS, tVh = torch.linalg.svd(t, full_matrices=full)
    assert tuple(U.shape) == tuple(tU.shape) and tuple(Vh.shape) == tuple(tVh.shape)
    close(S, tS, dtype, rtol=1e-4, atol=1e-5)
    close(ember.linalg.svdvals(e), torch.linalg.svdvals(t), dtype, rtol=1e-4, atol=1e-5)
    k = S.shape[-1]
    rebuilt = (U[..., :, :k] * S.unsqueeze(-2)) @ Vh[..., :k, :]
    close(rebuilt, torch.tensor(a), dtype, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", SQUARE)
@pytest.mark.parametrize("uplo", ["L", "U"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_eigh(shape, uplo, dtype):
    a = arr(shape, kind="general")  # not symmetric: only the UPLO triangle may be read
    e, t = pair(a, dtype)
    L, V = ember.linalg.eigh(e, UPLO=uplo)
    tL, tV = torch.linalg.eigh(t, UPLO=uplo)
    close(L, tL, dtype, rtol=1e-4, atol=1e-4)
    close(ember.linalg.eigvalsh(e, UPLO=uplo), tL, dtype, rtol=1e-4, atol=1e-4)
    # eigenvectors up to sign: compare the projectors v v^T
    V, tV = V.mT, tV.mT  # rows: eigenvectors
    close(
        V.unsqueeze(-1) * V.unsqueeze(-2),
        tV.unsqueeze(-1) * tV.unsqueeze(-2),
        dtype,
        rtol=1e-3,
        atol=1e-4,
    )


@pytest.mark.parametrize(
    "ashape,bshape,left",
    [
        ((3, 3), (3, 2), True),
        ((3, 3), (3,), True),
        ((2, 4, 4), (2, 4), True),
        ((2, 4, 4), (4, 1), True),
        ((4, 4), (2, 4, 3), True),
        ((3, 3), (2, 3), False),
        ((2, 1, 3, 3), (5, 3, 1), True),
        ((1, 1), (1, 1), True),
    ],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_solve(ashape, bshape, left, dtype):
    a = arr(ashape)
    b = np.random.default_rng(3).standard_normal(bshape)
    (ea, ta), (eb, tb) = pair(a, dtype), pair(b, dtype)
    close(
        ember.linalg.solve(ea, eb, left=left),
        torch.linalg.solve(ta, tb, left=left),
        dtype,
        rtol=1e-3,
        atol=1e-4,
    )


# ---- gradients vs PyTorch (float64) ----------------------------------------------------------


@pytest.mark.parametrize("shape", SQUARE)
def test_grads_inv_det_slogdet(shape):
    a = arr(shape)
    grads_match(lambda lib, A: lib.linalg.inv(A), a)
    grads_match(lambda lib, A: lib.linalg.det(A), a)
    grads_match(lambda lib, A: lib.linalg.slogdet(A)[1], a)
    grads_match(lambda lib, A: lib.logdet(A @ A.mT), a)


def test_det_grad_singular_matrix():
    a = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.5, 1.0, -1.0]])  # rank 2
    # d det / dA = adj(A)^T, non-zero for a rank n-1 matrix (det is a polynomial: finite
    # differences are exact up to rounding)
    assert gradcheck(ember.linalg.det, (ember.tensor(a, requires_grad=True),))


@pytest.mark.parametrize("shape", SQUARE)
@pytest.mark.parametrize("upper", [False, True])
def test_grads_cholesky(shape, upper):
    a = arr(shape)
    grads_match(
        lambda lib, A: lib.linalg.cholesky(
            A @ A.mT + A.shape[-1] * lib.eye(A.shape[-1], dtype=A.dtype), upper=upper
        ),
        a,
        rtol=1e-7,
        atol=1e-8,
    )


@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (2, 5, 2), (3, 5), (2, 2, 4), (1, 1)])
def test_grads_qr(shape):
    a = arr(shape, kind="rect")
    grads_match(lambda lib, A: lib.linalg.qr(A)[0], a, rtol=1e-7, atol=1e-8)
    grads_match(lambda lib, A: lib.linalg.qr(A)[1], a, rtol=1e-7, atol=1e-8)


def _svd_invariant(lib, A):
    U, S, Vh = lib.linalg.svd(A, full_matrices=False)
    c = lib.arange(1, S.shape[-1] + 1, dtype=A.dtype)
    pu = (U * c) @ U.mT
    pv = (Vh.mT * c) @ Vh
    return lib.cat([pu.flatten(-2), pv.flatten(-2), S], -1)


@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (3, 5), (2, 4, 2), (2, 3, 3)])
def test_grads_svd(shape):
    a = arr(shape, kind="rect")
    grads_match(_svd_invariant, a, rtol=1e-6, atol=1e-8)
    grads_match(lambda lib, A: lib.linalg.svdvals(A), a, rtol=1e-7, atol=1e-9)


def _eigh_invariant(lib, A):
    L, V = lib.linalg.eigh(A + A.mT)
    c = lib.arange(1, L.shape[-1] + 1, dtype=A.dtype)
    return ((V * c) @ V.mT).sum(-1) + L


@pytest.mark.parametrize("shape", [(3, 3), (4, 4), (2, 3, 3), (1, 1)])
def test_grads_eigh(shape):
    a = arr(shape, kind="rect")
    grads_match(_eigh_invariant, a, rtol=1e-6, atol=1e-8)
    grads_match(lambda lib, A: lib.linalg.eigvalsh(A + A.mT), a, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(
    "bshape,left", [((3, 2), True), ((3,), True), ((2, 3), False), ((2, 3, 1), True)]
)
def test_grads_solve(bshape, left):
    a, b = arr((3, 3)), np.random.default_rng(5).standard_normal(bshape)
    (ea, ta), (eb, tb) = pair(a, grad=True), pair(b, grad=True)
    oe, ot = ember.linalg.solve(ea, eb, left=left), torch.linalg.solve(ta, tb, left=left)
    w = np.random.default_rng(6).standard_normal(tuple(ot.shape))
    (oe * ember.tensor(w)).sum().backward()
    (ot * torch.tensor(w)).sum().backward()
    close(ea.grad, ta.grad)
    close(eb.grad, tb.grad)


# ---- finite differences and double backward --------------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        lambda A: ember.linalg.inv(A),
        lambda A: ember.linalg.det(A),
        lambda A: ember.linalg.slogdet(A)[1],
        lambda A: ember.linalg.cholesky(A @ A.mT + 3 * ember.eye(3, dtype=A.dtype)),
        lambda A: ember.linalg.qr(A)[0].sum(-1) + ember.linalg.qr(A)[1].sum(-2),
        lambda A: ember.linalg.svdvals(A),
        lambda A: ember.linalg.eigvalsh(A + A.mT),
        lambda A: ember.linalg.solve(A, A[..., :1] * 2 + 1),
    ],
    ids=["inv", "det", "slogdet", "cholesky", "qr", "svdvals", "eigvalsh", "solve"],
)
def test_gradcheck(fn):
    a = ember.tensor(arr((2, 3, 3), seed=7), dtype=ember.float64, requires_grad=True)
    assert gradcheck(fn, (a,))


@pytest.mark.parametrize(
    "name,fn",
    [
        ("inv", lambda lib, A: lib.linalg.inv(A)),
        ("det", lambda lib, A: lib.linalg.det(A)),
        ("solve", lambda lib, A: lib.linalg.solve(A, A.sum(-1))),
        ("cholesky", lambda lib, A: lib.linalg.cholesky(A @ A.mT)),
        ("svdvals", lambda lib, A: lib.linalg.svdvals(A)),
        ("eigvalsh", lambda lib, A: lib.linalg.eigvalsh(A + A.mT)),
    ],
)
def test_double_backward(name, fn):
    a = arr((3, 3), seed=11)
    res = []
    for lib in (ember, torch):
        A = lib.tensor(a, dtype=lib.float64, requires_grad=True)
        out = fn(lib, A)
        w = lib.tensor(
            np.linspace(0.5, 1.5, out.numel()).reshape(tuple(out.shape)), dtype=lib.float64
        )
        (g,) = lib.autograd.grad((out * w).sum(), [A], create_graph=True)
        (gg,) = lib.autograd.grad((g * g).sum(), [A])
        res.append(gg)
    close(res[0], res[1], rtol=1e-6, atol=1e-8)


# ---- norms --------------------------------------------------------------------------------


@pytest.mark.parametrize("ord", [2, 1, 3, 0.5, math.inf, -math.inf, 0, -1, -2.5])
@pytest.mark.parametrize("dim", [None, 0, -1, (0, 2), (1,)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_vector_norm(ord, dim, keepdim):
    a = np.random.default_rng(2).standard_normal((3, 4, 5))
    a[0, 0, 0] = 0.0
    e, t = pair(a)
    close(
        ember.linalg.vector_norm(e, ord, dim, keepdim),
        torch.linalg.vector_norm(t, ord, dim, keepdim),
        rtol=1e-10,
    )
    if ord not in (0,):
        grads_match(
            lambda lib, A: lib.linalg.vector_norm(A, ord, dim, keepdim), a, rtol=1e-8, atol=1e-10
        )


@pytest.mark.parametrize("ord", ["fro", "nuc", math.inf, -math.inf, 1, -1, 2, -2])
@pytest.mark.parametrize(
    "shape,dim",
    [((3, 4), (-2, -1)), ((2, 3, 5), (-2, -1)), ((3, 2, 4), (0, 2)), ((3, 2, 4), (2, 0))],
)
@pytest.mark.parametrize("keepdim", [False, True])
def test_matrix_norm(ord, shape, dim, keepdim):
    a = np.random.default_rng(4).standard_normal(shape)
    e, t = pair(a)
    close(
        ember.linalg.matrix_norm(e, ord, dim, keepdim),
        torch.linalg.matrix_norm(t, ord, dim, keepdim),
        rtol=1e-9,
    )
    grads_match(
        lambda lib, A: lib.linalg.matrix_norm(A, ord, dim, keepdim), a, rtol=1e-7, atol=1e-9
    )


@pytest.mark.parametrize(
    "shape,ord,dim",
    [
        ((5,), None, None),
        ((3, 4), None, None),
        ((2, 3, 4), None, None),
        ((3, 4), "fro", None),
        ((3, 4), "nuc", None),
        ((3, 4), 2, None),
        ((5,), 3, None),
        ((3, 4), 1, 1),
        ((2, 3, 4), None, (1, 2)),
        ((2, 3, 4), math.inf, (0, 1)),
    ],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_norm_dispatch(shape, ord, dim, dtype):
    a = np.random.default_rng(8).standard_normal(shape)
    e, t = pair(a, dtype)
    close(ember.linalg.norm(e, ord, dim), torch.linalg.norm(t, ord, dim), dtype, rtol=1e-5)


# ---- bad input ----------------------------------------------------------------------------


def test_singular_raises_linalg_error():
    s = ember.tensor([[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(ember.linalg.LinAlgError, match="linalg.inv"):
        ember.linalg.inv(s)
    with pytest.raises(RuntimeError, match="linalg.solve"):
        ember.linalg.solve(s, ember.ones(2))
    with pytest.raises(RuntimeError, match="linalg.cholesky.*positive-definite"):
        ember.linalg.cholesky(ember.tensor([[1.0, 2.0], [2.0, 1.0]]))
    sign, la = ember.linalg.slogdet(s)
    assert sign.item() == 0 and la.item() == -math.inf
    assert ember.linalg.det(s).item() == 0


@pytest.mark.parametrize(
    "fn",
    [
        ember.linalg.inv,
        ember.linalg.det,
        ember.linalg.slogdet,
        ember.linalg.cholesky,
        ember.linalg.eigh,
        ember.linalg.eigvalsh,
    ],
)
def test_square_and_dtype_checks(fn):
    with pytest.raises(RuntimeError, match="square"):
        fn(ember.ones(2, 3))
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        fn(ember.ones(3))
    with pytest.raises(RuntimeError, match="Long"):
        fn(ember.ones(2, 2, dtype=ember.int64))
    with pytest.raises(RuntimeError, match="Low precision"):
        fn(ember.ones(2, 2, dtype=ember.bfloat16))
    with pytest.raises(TypeError):
        fn([[1.0]])


def test_argument_errors():
    a = ember.eye(3)
    with pytest.raises(RuntimeError, match="Incompatible shapes"):
        ember.linalg.solve(a, ember.ones(4, 2))
    with pytest.raises(RuntimeError, match="same dtype"):
        ember.linalg.solve(a, ember.ones(3, dtype=ember.float64))
    with pytest.raises(RuntimeError, match="unrecognized mode"):
        ember.linalg.qr(a, mode="full")
    with pytest.raises(RuntimeError, match="UPLO"):
        ember.linalg.eigh(a, UPLO="X")
    with pytest.raises(RuntimeError, match="not supported"):
        ember.linalg.matrix_norm(a, ord=3)
    with pytest.raises(RuntimeError, match="1D or 2D"):
        ember.linalg.norm(ember.ones(2, 2, 2), ord=2)
    x = ember.randn(4, 3, requires_grad=True)
    U, S, Vh = ember.linalg.svd(x)  # full_matrices=True, non-square: no derivative
    with pytest.raises(RuntimeError, match="full_matrices"):
        (U.sum() + Vh.sum()).backward()


def test_tensor_methods_and_aliases():
    a = ember.tensor(arr((3, 3)), dtype=ember.float64)
    t = torch.tensor(a.numpy())
    close(a.det(), t.det())
    close(a.inverse(), t.inverse())
    close(a.slogdet()[1], t.slogdet()[1])
    close(ember.inverse(a), torch.inverse(t))
    close(ember.linalg.vecdot(a, a), torch.linalg.vecdot(t, t))
    close(ember.linalg.cross(a, a.flip(0)), torch.linalg.cross(t, t.flip(0)))
    close(ember.linalg.diagonal(a, offset=1), torch.linalg.diagonal(t, offset=1))
