"""``ember.linalg``: norms, inverse, solve, determinants and the factorizations (Cholesky, QR,
SVD, symmetric eigendecomposition), batched over leading dims, as ``torch.linalg``.

Factorizations run in NumPy/LAPACK on the CPU buffers; each is an ``autograd.Function`` whose
backward is written with ember ops (the standard formulas), and which recomputes its forward with
the differentiable op when the graph is being built (``create_graph=True``), so double backward
works too. float32 and float64 inputs; the result has the input's dtype.
"""

from __future__ import annotations

import builtins
import math
from collections import namedtuple

import numpy as np

from . import _C
from ._C import Tensor
from .autograd.function import Function

__all__ = [
    "LinAlgError",
    "cholesky",
    "cross",
    "det",
    "diagonal",
    "eigh",
    "eigvalsh",
    "inv",
    "matmul",
    "matrix_norm",
    "norm",
    "qr",
    "slogdet",
    "solve",
    "svd",
    "svdvals",
    "vecdot",
    "vector_norm",
]


class LinAlgError(RuntimeError):
    """A matrix that the op cannot handle (singular, not positive-definite, no convergence)."""


_slogdet = namedtuple("slogdet", ["sign", "logabsdet"])
_qr = namedtuple("qr", ["Q", "R"])
_svd = namedtuple("svd", ["U", "S", "Vh"])
_eigh = namedtuple("eigh", ["eigenvalues", "eigenvectors"])


_TORCH_NAMES = {
    "int64": "Long",
    "int32": "Int",
    "uint8": "Byte",
    "bool": "Bool",
    "float16": "Half",
    "bfloat16": "BFloat16",
    "float32": "Float",
    "float64": "Double",
}


def _dtype_name(dt) -> str:
    """PyTorch's scalar type name (Long, Float, ...), as its messages say."""
    name = str(dt).split(".")[-1]
    return _TORCH_NAMES.get(name, name)


def _check(op: str, A, square: bool = True, min_dim: int = 2):
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}(): argument 'A' must be Tensor, not {type(A).__name__}")
    if A.dtype not in (_C.float32, _C.float64):
        if A.dtype in (_C.float16, _C.bfloat16):
            raise RuntimeError(
                f"{op}: Low precision dtypes not supported. Got {_dtype_name(A.dtype)}"
            )
        raise RuntimeError(
            f"{op}: Expected a floating point or complex tensor as input. Got {_dtype_name(A.dtype)}"
        )
    if A.ndim < min_dim:
        raise RuntimeError(f"{op}: The input tensor A must have at least {min_dim} dimensions.")
    if square and A.shape[-1] != A.shape[-2]:
        raise RuntimeError(
            f"{op}: A must be batches of square matrices, but they are {A.shape[-2]} by {A.shape[-1]} matrices"
        )


def _np(x: Tensor) -> np.ndarray:
    return np.asarray(x.detach().numpy())


def _t(arr: np.ndarray, like: Tensor) -> Tensor:
    np_dtype = np.float64 if like.dtype == _C.float64 else np.float32
    return _C._from_numpy(np.array(arr, dtype=np_dtype, order="C"))


def _building_graph() -> bool:
    return _C.is_grad_enabled()


def _lapack(op: str, fn, *args):
    try:
        with np.errstate(all="ignore"):
            return fn(*args)
    except np.linalg.LinAlgError as e:
        msg = str(e)
        if "Singular" in msg or "singular" in msg:
            raise LinAlgError(
                f"{op}: The input matrix is singular, so the operation could not be completed."
            ) from None
        if "positive definite" in msg:
            raise LinAlgError(
                f"{op}: The factorization could not be completed because the input is not positive-definite."
            ) from None
        raise LinAlgError(f"{op}: {msg}") from None


def _sum_to(g: Tensor, shape) -> Tensor:
    """g summed over the dims it was broadcast along to reach ``shape``."""
    shape = list(shape)
    if list(g.shape) == shape:
        return g
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(list(range(lead)))
    dims = [d for d, n in enumerate(shape) if n == 1 and g.shape[d] != 1]
    if dims:
        g = g.sum(dims, keepdim=True)
    return g


def _eye_like(n: int, like: Tensor) -> Tensor:
    return _C._eye(n, None, like.dtype)


def _diag_embed(v: Tensor) -> Tensor:
    return v.unsqueeze(-1) * _eye_like(v.shape[-1], v)


# ---- inverse, solve, determinants ------------------------------------------------------------


class _Inv(Function):
    @staticmethod
    def forward(ctx, A):
        X = _t(_lapack("linalg.inv", np.linalg.inv, _np(A)), A)
        ctx.save_for_backward(A, X)
        return X

    @staticmethod
    def backward(ctx, g):
        A, X = ctx.saved_tensors
        if _building_graph():
            X = inv(A)
        Xt = X.mT
        return -(Xt @ g @ Xt)


def inv(A: Tensor) -> Tensor:
    """The inverse of the square matrix (or batch) ``A``; raises ``LinAlgError`` if singular."""
    _check("linalg.inv", A)
    if A.numel() == 0:
        return A.clone()
    return _Inv.apply(A)


def inverse(input: Tensor) -> Tensor:
    """Alias of ``linalg.inv`` (``torch.inverse``)."""
    return inv(input)


class _Solve(Function):
    @staticmethod
    def forward(ctx, A, B):
        a, b = _np(A), _np(B)
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a = np.broadcast_to(a, batch + a.shape[-2:])
        b = np.broadcast_to(b, batch + b.shape[-2:])
        X = _t(_lapack("linalg.solve", np.linalg.solve, a, b), A)
        ctx.save_for_backward(A, B, X)
        return X

    @staticmethod
    def backward(ctx, g):
        A, B, X = ctx.saved_tensors
        if _building_graph():
            X = _Solve.apply(A, B)
        gB = _Solve.apply(A.mT, g)  # A^{-T} g
        gA = -(gB @ X.mT)
        return _sum_to(gA, A.shape), _sum_to(gB, B.shape)


def solve(A: Tensor, B: Tensor, *, left: bool = True, out=None) -> Tensor:
    """The solution X of ``A X = B`` (``left=False``: ``X A = B``); B is a batch of matrices, or
    of vectors when ``B.shape == A.shape[:-1]``. Batch dims broadcast."""
    _check("linalg.solve", A)
    if out is not None:
        raise TypeError("linalg.solve(): out= is not supported")
    if not isinstance(B, Tensor):
        raise TypeError(f"linalg.solve(): argument 'B' must be Tensor, not {type(B).__name__}")
    if B.dtype != A.dtype:
        raise RuntimeError(
            f"linalg.solve: Expected A and B to have the same dtype, but found A of type "
            f"{_dtype_name(A.dtype)} and B of type {_dtype_name(B.dtype)} instead"
        )
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and list(B.shape) == list(A.shape[:-1]))
    if vector:
        if not left:
            raise RuntimeError(
                "linalg.solve: Vector broadcasting of the left hand side is not supported for left=False."
            )
        Bm = B.unsqueeze(-1)
    else:
        Bm = B
    n = A.shape[-1]
    if Bm.ndim < 2 or (Bm.shape[-2] if left else Bm.shape[-1]) != n:
        raise RuntimeError(
            f"linalg.solve: Incompatible shapes of A and B for the equation "
            f"{'AX = B' if left else 'XA = B'} ({A.shape[-2]}x{A.shape[-1]} and "
            f"{Bm.shape[-2] if Bm.ndim >= 2 else 1}x{Bm.shape[-1]})"
        )
    try:
        _C.broadcast_shapes(list(A.shape[:-2]), list(Bm.shape[:-2]))
    except Exception:
        raise RuntimeError(
            f"linalg.solve: batch dims of A {list(A.shape)} and B {list(B.shape)} cannot be broadcast"
        ) from None
    if left:
        X = _Solve.apply(A, Bm)
    else:
        X = _Solve.apply(A.mT, Bm.mT).mT
    return X.squeeze(-1) if vector else X


class _Det(Function):
    @staticmethod
    def forward(ctx, A):
        d = _t(np.linalg.det(_np(A)), A)
        ctx.save_for_backward(A, d)
        return d

    @staticmethod
    def backward(ctx, g):
        A, d = ctx.saved_tensors
        if _building_graph():
            return (g * det(A)).unsqueeze(-1).unsqueeze(-1) * inv(A).mT
        # d det / dA = adj(A)^T; through the SVD so singular matrices get it too
        u, s, vh = np.linalg.svd(_np(A))
        n = s.shape[-1]
        prods = (
            np.stack([np.prod(np.delete(s, i, axis=-1), axis=-1) for i in range(n)], -1) if n else s
        )
        sign = np.linalg.det(u) * np.linalg.det(vh)
        adj_t = sign[..., None, None] * (u * prods[..., None, :]) @ vh  # (V adj(S) U^T)^T
        return g.unsqueeze(-1).unsqueeze(-1) * _t(adj_t, A)


def det(A: Tensor) -> Tensor:
    """The determinant of the square matrix (or batch) ``A``."""
    _check("linalg.det", A)
    return _Det.apply(A)


class _Slogdet(Function):
    @staticmethod
    def forward(ctx, A):
        sign, logabs = np.linalg.slogdet(_np(A))
        s, la = _t(sign, A), _t(logabs, A)
        ctx.save_for_backward(A)
        ctx.mark_non_differentiable(s)
        return s, la

    @staticmethod
    def backward(ctx, gs, gla):
        (A,) = ctx.saved_tensors
        return gla.unsqueeze(-1).unsqueeze(-1) * inv(A).mT


def slogdet(A: Tensor):
    """(sign, log|det A|) of the square matrix (or batch) ``A``; sign is 0 and logabsdet -inf
    for a singular matrix."""
    _check("linalg.slogdet", A)
    return _slogdet(*_Slogdet.apply(A))


def logdet(input: Tensor) -> Tensor:
    """log(det A): NaN for a negative determinant, -inf for a singular matrix (``torch.logdet``)."""
    _check("logdet", input)
    sign, la = slogdet(input)
    nan = _C._full([], math.nan, la.dtype)
    return _C.where(sign < 0, nan, la)


# ---- factorizations ---------------------------------------------------------------------------


def _phi(X: Tensor) -> Tensor:
    """Lower triangle of X with its diagonal halved."""
    return X.tril() - 0.5 * _diag_embed(_C.diagonal(X, 0, -2, -1))


class _Cholesky(Function):
    @staticmethod
    def forward(ctx, A):
        L = _t(_lapack("linalg.cholesky", np.linalg.cholesky, _np(A)), A)
        ctx.save_for_backward(A, L)
        return L

    @staticmethod
    def backward(ctx, gL):
        A, L = ctx.saved_tensors
        if _building_graph():
            L = _Cholesky.apply(A)
        Linv = inv(L)
        S = Linv.mT @ _phi(L.mT @ gL) @ Linv
        return 0.5 * (S + S.mT)


def cholesky(A: Tensor, *, upper: bool = False, out=None) -> Tensor:
    """The Cholesky factor L (lower; ``upper=True``: U = L^T) of the symmetric positive-definite
    matrix (or batch) ``A`` (only its lower triangle is read); ``LinAlgError`` if not PD."""
    _check("linalg.cholesky", A)
    if out is not None:
        raise TypeError("linalg.cholesky(): out= is not supported")
    L = _Cholesky.apply(A)
    return L.mT if upper else L


def _copyltu(M: Tensor) -> Tensor:
    low = M.tril(-1)
    return low + low.mT + _diag_embed(_C.diagonal(M, 0, -2, -1))


def _qr_square_backward(Q, R, gQ, gR):
    # A = QR with m >= n, reduced: gA = (gQ + Q copyltu(M)) R^{-T}, M = R gR^T - gQ^T Q
    M = R @ gR.mT - gQ.mT @ Q
    return (gQ + Q @ _copyltu(M)) @ inv(R).mT


class _QR(Function):
    @staticmethod
    def forward(ctx, A, mode):
        q, r = np.linalg.qr(_np(A), mode=mode)
        Q, R = _t(q, A), _t(r, A)
        ctx.mode = mode
        ctx.save_for_backward(A, Q, R)
        return Q, R

    @staticmethod
    def backward(ctx, gQ, gR):
        A, Q, R = ctx.saved_tensors
        m, n = A.shape[-2], A.shape[-1]
        if ctx.mode == "complete" and m > n:
            raise RuntimeError(
                "The QR decomposition is not differentiable when mode='complete' and nrows > ncols."
            )
        if _building_graph():
            Q, R = _QR.apply(A, ctx.mode)
        if m >= n:
            return _qr_square_backward(Q, R, gQ, gR), None
        # wide: A = [X | Y], X = Q U (square), R = [U | V] with V = Q^T Y
        U = R[..., :, :m]
        gU, gV = gR[..., :, :m], gR[..., :, m:]
        Y = A[..., :, m:]
        gX = _qr_square_backward(Q, U, gQ + Y @ gV.mT, gU)
        gY = Q @ gV
        return _C.cat([gX, gY], -1), None


def qr(A: Tensor, mode: str = "reduced"):
    """QR decomposition A = QR of the matrix (or batch) ``A``: ``mode`` "reduced" (Q [m, k],
    R [k, n], k = min(m, n)), "complete" (Q [m, m]) or "r" (R only; Q is empty)."""
    _check("linalg.qr", A, square=False)
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(
            f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), 'r', or 'complete'"
        )
    if mode == "r":
        r = np.linalg.qr(_np(A), mode="r")
        return _qr(_C._empty([0], A.dtype), _t(r, A))
    return _qr(*_QR.apply(A, mode))


class _SVD(Function):
    @staticmethod
    def forward(ctx, A, full_matrices):
        u, s, vh = _lapack("linalg.svd", np.linalg.svd, _np(A), full_matrices)
        U, S, Vh = _t(u, A), _t(s, A), _t(vh, A)
        ctx.full = full_matrices
        ctx.save_for_backward(A, U, S, Vh)
        return U, S, Vh

    @staticmethod
    def backward(ctx, gU, gS, gVh):
        A, U, S, Vh = ctx.saved_tensors
        m, n = A.shape[-2], A.shape[-1]
        if ctx.full and m != n:
            raise RuntimeError(
                "linalg.svd: the derivative of the full_matrices=True decomposition of a non-square matrix "
                "is not defined; use full_matrices=False"
            )
        if _building_graph():
            U, S, Vh = _SVD.apply(A, False)
        return _svd_backward(U, S, Vh, gU, gS, gVh), None


def _svd_backward(U, S, Vh, gU, gS, gVh):
    # Townsend (2016), real case; k = min(m, n) singular values
    V = Vh.mT
    s2 = S * S
    E = s2.unsqueeze(-2) - s2.unsqueeze(-1)  # E[i, j] = s_j^2 - s_i^2
    k = S.shape[-1]
    eye = _eye_like(k, S)
    F = (1 - eye) / (E + eye)  # 1 / E off the diagonal, 0 on it
    inner = _diag_embed(gS)
    gA_core = None
    if gU is not None:
        J = F * (U.mT @ gU - gU.mT @ U)
        inner = inner + J * S.unsqueeze(-2)
    if gVh is not None:
        gV = gVh.mT
        K = F * (V.mT @ gV - gV.mT @ V)
        inner = inner + S.unsqueeze(-1) * K
    gA_core = U @ inner @ Vh
    Sinv = 1 / S
    if gU is not None and U.shape[-2] > k:  # (I - U U^T) gU S^{-1} V^T
        gA_core = gA_core + (gU - U @ (U.mT @ gU)) * Sinv.unsqueeze(-2) @ Vh
    if gVh is not None and V.shape[-2] > k:  # U S^{-1} gV^T (I - V V^T)
        gVt = gVh
        gA_core = gA_core + U @ (Sinv.unsqueeze(-1) * (gVt - (gVt @ V) @ Vh))
    return gA_core


def svd(A: Tensor, full_matrices: bool = True, *, driver=None):
    """Singular value decomposition A = U diag(S) Vh of the matrix (or batch) ``A``, singular
    values in descending order. Differentiable with ``full_matrices=False`` (or square A)."""
    _check("linalg.svd", A, square=False)
    return _svd(*_SVD.apply(A, builtins.bool(full_matrices)))


class _SVDvals(Function):
    @staticmethod
    def forward(ctx, A):
        u, s, vh = _lapack("linalg.svdvals", np.linalg.svd, _np(A), False)
        ctx.save_for_backward(A, _t(u, A), _t(vh, A))
        return _t(s, A)

    @staticmethod
    def backward(ctx, gS):
        A, U, Vh = ctx.saved_tensors
        if _building_graph():
            U, _, Vh = _SVD.apply(A, False)
        return U @ (gS.unsqueeze(-1) * Vh)


def svdvals(A: Tensor, *, driver=None) -> Tensor:
    """The singular values of ``A`` in descending order."""
    _check("linalg.svdvals", A, square=False)
    return _SVDvals.apply(A)


class _Eigh(Function):
    @staticmethod
    def forward(ctx, A, uplo):
        w, v = _lapack("linalg.eigh", np.linalg.eigh, _np(A), uplo)
        L, V = _t(w, A), _t(v, A)
        ctx.uplo = uplo
        ctx.save_for_backward(A, L, V)
        return L, V

    @staticmethod
    def backward(ctx, gL, gV):
        A, L, V = ctx.saved_tensors
        if _building_graph():
            L, V = _Eigh.apply(A, ctx.uplo)
        n = L.shape[-1]
        eye = _eye_like(n, L)
        inner = _diag_embed(gL) if gL is not None else 0
        if gV is not None:
            VtgV = V.mT @ gV
            skew = 0.5 * (VtgV - VtgV.mT)
            E = L.unsqueeze(-2) - L.unsqueeze(-1)  # E[i, j] = l_j - l_i
            inner = inner + skew * ((1 - eye) / (E + eye))
        return V @ inner @ V.mT, None


def eigh(A: Tensor, UPLO: str = "L"):
    """Eigenvalues (ascending) and orthonormal eigenvectors (columns) of the symmetric matrix
    (or batch) ``A``; only the ``UPLO`` ("L" or "U") triangle is read."""
    _check("linalg.eigh", A)
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    return _eigh(*_Eigh.apply(A, UPLO))


class _Eigvalsh(Function):
    @staticmethod
    def forward(ctx, A, uplo):
        w, v = _lapack("linalg.eigvalsh", np.linalg.eigh, _np(A), uplo)
        ctx.uplo = uplo
        ctx.save_for_backward(A, _t(v, A))
        return _t(w, A)

    @staticmethod
    def backward(ctx, gL):
        A, V = ctx.saved_tensors
        if _building_graph():
            _, V = _Eigh.apply(A, ctx.uplo)
        return V @ (gL.unsqueeze(-1) * V.mT), None


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:
    """The eigenvalues (ascending) of the symmetric matrix (or batch) ``A``."""
    _check("linalg.eigvalsh", A)
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    return _Eigvalsh.apply(A, UPLO)


# ---- norms ------------------------------------------------------------------------------------


def _dims(dim, ndim):
    if dim is None:
        return list(range(ndim))
    dims = [dim] if isinstance(dim, builtins.int) else list(dim)
    out = []
    for d in dims:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-max(ndim, 1)}, {max(ndim, 1) - 1}], but got {d})"
            )
        out.append(d % max(ndim, 1))
    if len(set(out)) != len(out):
        raise RuntimeError(f"dim {list(dims)} appears multiple times in the list of dims")
    return out


def vector_norm(x: Tensor, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The ``ord``-norm of ``x`` over ``dim`` (all dims by default) treated as one vector:
    ``sum(|x|^ord)^(1/ord)``; inf / -inf: max / min of |x|; 0: the count of non-zeros."""
    if not isinstance(x, Tensor):
        raise TypeError(
            f"linalg.vector_norm(): argument 'x' must be Tensor, not {type(x).__name__}"
        )
    if dtype is not None:
        x = x.to(dtype)
    if not x.is_floating_point():
        raise RuntimeError(
            f"linalg.vector_norm: Expected a floating point or complex tensor as input. Got {_dtype_name(x.dtype)}"
        )
    if isinstance(ord, str):
        raise RuntimeError(f"linalg.vector_norm: ord must be a number, got '{ord}'")
    ord = float(ord)
    dims = _dims(dim, x.ndim)
    if x.ndim == 0:
        x, dims = x.reshape([1]), [0]
    a = _C.abs(x)
    if ord == math.inf or ord == -math.inf:
        if any(x.shape[d] == 0 for d in dims):
            raise RuntimeError(
                f"linalg.vector_norm cannot compute the {ord} norm on an empty tensor because the operation does not have an identity"
            )
        r = _C.amax(a, dims, keepdim) if ord > 0 else _C.amin(a, dims, keepdim)
    elif ord == 0:
        r = (x != 0).sum(dims, keepdim=keepdim).to(x.dtype)
    elif ord >= 1:
        r = _C.norm(x, ord, dims, keepdim)
    else:
        # ord < 1 (and negative): zeros contribute 0 (inf for ord < 0) and get a zero gradient,
        # as PyTorch, instead of 0 * inf = NaN
        zero = a == 0
        safe = _C.where(zero, _C._full([], 1.0, a.dtype), a)
        fill = _C._full([], 0.0 if ord > 0 else math.inf, a.dtype)
        r = _C.where(zero, fill, safe**ord).sum(dims, keepdim=keepdim) ** (1.0 / ord)
    return r


def _move_last2(A, d0, d1):
    return _C.movedim(A, [d0, d1], [A.ndim - 2, A.ndim - 1])


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None) -> Tensor:
    """A matrix norm over the two dims ``dim``: "fro", "nuc", inf, -inf, 1, -1, 2, -2 (2/-2: the
    largest/smallest singular value; 1/inf: max column/row sum of |A|)."""
    if not isinstance(A, Tensor):
        raise TypeError(
            f"linalg.matrix_norm(): argument 'A' must be Tensor, not {type(A).__name__}"
        )
    if dtype is not None:
        A = A.to(dtype)
    if A.ndim < 2:
        raise RuntimeError(
            "linalg.matrix_norm: The input tensor A must have at least 2 dimensions."
        )
    if not A.is_floating_point():
        raise RuntimeError(
            f"linalg.matrix_norm: Expected a floating point or complex tensor as input. Got {_dtype_name(A.dtype)}"
        )
    d = _dims(dim, A.ndim)
    if len(d) != 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {dim}")
    d0, d1 = d
    if ord == "fro":
        return vector_norm(A, 2, d, keepdim)
    if ord == "nuc" or ord in (2, -2):
        B = _move_last2(A, d0, d1)
        if A.dtype not in (_C.float32, _C.float64):
            raise RuntimeError(
                f"linalg.matrix_norm: ord={ord} is not supported for {_dtype_name(A.dtype)}"
            )
        s = svdvals(B)
        r = s.sum(-1) if ord == "nuc" else (s.amax(-1) if ord == 2 else s.amin(-1))
    elif ord in (1, -1, math.inf, -math.inf):
        sum_dim, red_dim = (d0, d1) if ord in (1, -1) else (d1, d0)
        col = _C.abs(A).sum(sum_dim, keepdim=True)
        r = col.amax(red_dim, keepdim=True) if ord > 0 else col.amin(red_dim, keepdim=True)
        r = r.squeeze(sorted(d, reverse=True)[0]).squeeze(sorted(d)[0])
    else:
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    if keepdim:
        for dd in sorted(d):
            r = r.unsqueeze(dd)
    return r


def norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """A vector or matrix norm: a 2-tuple ``dim`` (or a 2-D ``A`` with ``ord`` given and no
    ``dim``) means ``matrix_norm``, otherwise ``vector_norm``; no ``ord`` and no ``dim``: the
    2-norm of ``A`` flattened."""
    if not isinstance(A, Tensor):
        raise TypeError(f"linalg.norm(): argument 'A' must be Tensor, not {type(A).__name__}")
    if dim is not None:
        dims = [dim] if isinstance(dim, builtins.int) else list(dim)
        if len(dims) == 2:
            return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)
        if len(dims) != 1:
            raise RuntimeError(
                f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {dim}"
            )
        if isinstance(ord, str):
            raise RuntimeError(
                f"linalg.norm: If dim is specified, it mut be of length 2 when ord is a string. Got {dim}"
            )
        return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)
    if ord is None:
        return vector_norm(A, 2, None, keepdim, dtype=dtype)
    if A.ndim == 2:
        return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    if A.ndim == 1 and not isinstance(ord, str):
        return vector_norm(A, ord, None, keepdim, dtype=dtype)
    raise RuntimeError(
        f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got {A.ndim}D."
    )


# ---- small conveniences torch.linalg also has --------------------------------------------------


def cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:
    """Cross product of 3-vectors along ``dim`` (default -1); inputs broadcast."""
    from ._misc_ops import cross as _cross

    return _cross(input, other, dim)


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """Dot product of vectors along ``dim``; inputs broadcast."""
    return (x * y).sum(dim)


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Alias of ``ember.matmul``."""
    return _C.matmul(input, other)


def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Alias of ``ember.diagonal`` with dims defaulting to the last two."""
    return _C.diagonal(A, offset, dim1, dim2)
