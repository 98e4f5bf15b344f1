"""PyTorch ops written with ember ops (so they are differentiable where PyTorch's are):
tensordot, kron, outer, cross, cartesian_prod, meshgrid, diag, diag_embed, cdist; and the
index/counting ops computed with NumPy on the CPU buffer (no gradient in PyTorch either):
triu_indices, tril_indices, bucketize, searchsorted, histc."""

from __future__ import annotations

import builtins
import math

import numpy as np

from . import _C
from ._C import Tensor

_FLOATS = (_C.float16, _C.bfloat16, _C.float32, _C.float64)


def _check_tensor(op, name, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(x).__name__}")


def _same_dtype(op, a, b):
    if a.dtype != b.dtype:
        raise RuntimeError(
            f"{op}(): expected both inputs to have the same dtype, got {a.dtype} and {b.dtype}"
        )


def _prod(xs):
    p = 1
    for x in xs:
        p *= x
    return p


def tensordot(a: Tensor, b: Tensor, dims=2, out=None) -> Tensor:
    """Contract ``a``'s last ``dims`` dims with ``b``'s first ``dims`` dims (an int), or the dims
    listed in ``dims = (dims_a, dims_b)``; one GEMM."""
    _check_tensor("tensordot", "a", a)
    _check_tensor("tensordot", "b", b)
    if out is not None:
        raise TypeError("tensordot(): out= is not supported")
    _same_dtype("tensordot", a, b)
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, builtins.int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        if dims > min(a.ndim, b.ndim):
            raise RuntimeError(f"tensordot expects dims < ndim_a or ndim_b, but got dims={dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        if len(dims) != 2:
            raise RuntimeError("tensordot expects dims to be an int or a pair of lists of dims")
        da, db = dims
        da = [da] if isinstance(da, builtins.int) else list(da)
        db = [db] if isinstance(db, builtins.int) else list(db)
        if len(da) != len(db):
            raise RuntimeError(
                f"both dimension lists should have same length, got {len(da)} and {len(db)}"
            )
    da = [d % a.ndim if a.ndim else d for d in da]
    db = [d % b.ndim if b.ndim else d for d in db]
    for x, y in zip(da, db):
        if a.shape[x] != b.shape[y]:
            raise RuntimeError(
                f"contracted dimensions need to match, but first has size {a.shape[x]} in dim {x} "
                f"and second has size {b.shape[y]} in dim {y}"
            )
    fa = [d for d in range(a.ndim) if d not in da]
    fb = [d for d in range(b.ndim) if d not in db]
    k = _prod(a.shape[d] for d in da)
    am = a.permute(fa + da).reshape([_prod(a.shape[d] for d in fa), k])
    bm = b.permute(db + fb).reshape([k, _prod(b.shape[d] for d in fb)])
    return _C.mm(am, bm).reshape([a.shape[d] for d in fa] + [b.shape[d] for d in fb])


def kron(input: Tensor, other: Tensor) -> Tensor:
    """Kronecker product: block (i, j) of the result is ``input[i, j] * other``."""
    _check_tensor("kron", "input", input)
    _check_tensor("kron", "other", other)
    nd = max(input.ndim, other.ndim)
    sa = [1] * (nd - input.ndim) + list(input.shape)
    sb = [1] * (nd - other.ndim) + list(other.shape)
    a = input.reshape([v for s in sa for v in (s, 1)])
    b = other.reshape([v for s in sb for v in (1, s)])
    return (a * b).reshape([x * y for x, y in zip(sa, sb)])


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """Outer product of two 1-D tensors: ``out[i, j] = input[i] * vec2[j]``."""
    _check_tensor("outer", "input", input)
    _check_tensor("outer", "vec2", vec2)
    if input.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(
            f"outer: expected 1-D tensors, got shapes {list(input.shape)} and {list(vec2.shape)}"
        )
    return input.unsqueeze(1) * vec2.unsqueeze(0)


ger = outer


def cross(input: Tensor, other: Tensor, dim=None) -> Tensor:
    """Cross product of 3-vectors along ``dim`` (default: the first dim of size 3, as
    ``torch.cross``; ``ember.linalg.cross`` defaults to -1). Inputs broadcast."""
    _check_tensor("cross", "input", input)
    _check_tensor("cross", "other", other)
    _same_dtype("linalg.cross", input, other)
    if input.ndim != other.ndim:
        raise RuntimeError(
            f"linalg.cross: inputs must have the same number of dimensions, got {input.ndim} and {other.ndim}"
        )
    shape = _C.broadcast_shapes(list(input.shape), list(other.shape))
    if dim is None:
        dim = next((d for d, s in enumerate(shape) if s == 3), None)
        if dim is None:
            raise RuntimeError(
                f"no dimension of size 3 in input (shapes {list(input.shape)} and {list(other.shape)})"
            )
    if not -len(shape) <= dim < len(shape):
        raise IndexError(f"cross: dim {dim} out of range for {len(shape)}-D inputs")
    if input.shape[dim] != 3 or other.shape[dim] != 3:
        raise RuntimeError(
            f"linalg.cross: inputs dimension {dim} must have length 3. Got {input.shape[dim]} and {other.shape[dim]}"
        )
    a = [input.select(dim, i) for i in range(3)]
    b = [other.select(dim, i) for i in range(3)]
    c = [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
    return _C.stack(c, dim % len(shape))


def meshgrid(*tensors, indexing: str = "ij"):
    """Coordinate grids of 1-D tensors; ``indexing`` "ij" (matrix) or "xy" (Cartesian)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise RuntimeError(
            f"torch.meshgrid: indexing must be one of 'xy' or 'ij', but received: {indexing}"
        )
    for t in tensors:
        if not isinstance(t, Tensor) or t.ndim > 1:
            raise RuntimeError("torch.meshgrid: Expected 0D or 1D tensor in the tensor list")
    ts = [t.reshape([-1]) for t in tensors]
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = [t.shape[0] for t in ts]
    out = []
    for i, t in enumerate(ts):
        view = [1] * len(ts)
        view[i] = shape[i]
        out.append(t.reshape(view).expand(shape))
    if swap:  # "xy": the grids of the swapped inputs, handed back in the input order
        out[0], out[1] = out[1], out[0]
    return tuple(out)


def cartesian_prod(*tensors: Tensor) -> Tensor:
    """All combinations of the elements of the 1-D ``tensors``: shape [N1 * ... * Nk, k]
    (k == 1: the tensor itself)."""
    for t in tensors:
        if not isinstance(t, Tensor) or t.ndim != 1:
            raise RuntimeError("cartesian_prod: expected 1D tensor")
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return _C.stack([g.reshape([-1]) for g in grids], 1)


def diag_embed(
    input: Tensor, offset: builtins.int = 0, dim1: builtins.int = -2, dim2: builtins.int = -1
) -> Tensor:
    """A tensor whose diagonals (``offset``, in the planes ``dim1``/``dim2``) are filled by the
    last dim of ``input``; zeros elsewhere."""
    _check_tensor("diag_embed", "input", input)
    nd = input.ndim + 1
    d1, d2 = dim1 % nd if -nd <= dim1 < nd else None, dim2 % nd if -nd <= dim2 < nd else None
    if d1 is None or d2 is None:
        raise IndexError(
            f"diag_embed: Dimension out of range (expected to be in range of [{-nd}, {nd - 1}])"
        )
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    n = input.shape[-1] if input.ndim else 1
    x = input.reshape(list(input.shape) + [1]) if input.ndim == 0 else input
    eye = _C._eye(n, None, x.dtype if x.dtype in _FLOATS else _C.float32)
    out = x.unsqueeze(-1) * eye.to(x.dtype)  # [..., n, n]
    k = abs(offset)
    if k:
        out = _C._pad(out, [k, 0, 0, k] if offset > 0 else [0, k, k, 0], "constant", 0.0)
    return _C.movedim(out, [nd - 2, nd - 1], [d1, d2])


def diag(input: Tensor, diagonal: builtins.int = 0) -> Tensor:
    """1-D input: the square matrix with ``input`` on diagonal ``diagonal``; 2-D input: that
    diagonal as a 1-D tensor."""
    _check_tensor("diag", "input", input)
    if input.ndim == 1:
        return diag_embed(input, diagonal, 0, 1)
    if input.ndim == 2:
        return _C.diagonal(input, diagonal, 0, 1)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")


def _tri_indices(op, row, col, offset, dtype, device, upper):
    for name, v in (("row", row), ("col", col), ("offset", offset)):
        if not isinstance(v, builtins.int) or isinstance(v, builtins.bool):
            raise TypeError(f"{op}(): argument '{name}' must be int, not {type(v).__name__}")
    if row < 0 or col < 0:
        raise RuntimeError(f"{op}: row and col must be non-negative, got row={row} col={col}")
    if dtype not in (_C.int64, _C.int32):
        raise RuntimeError(f"{op}: dtype must be int64 or int32, got {dtype}")
    fn = np.triu_indices if upper else np.tril_indices
    idx = (
        np.stack(fn(row, offset, col)).astype(np.int64)
        if row and col
        else np.zeros((2, 0), np.int64)
    )
    from ._creation import tensor

    return tensor(idx, dtype=dtype, device=device)


def triu_indices(
    row: builtins.int,
    col: builtins.int,
    offset: builtins.int = 0,
    *,
    dtype=None,
    device="cpu",
    layout=None,
):
    """The [2, N] (row, col) indices of the upper triangle of a row x col matrix, row-major."""
    return _tri_indices(
        "triu_indices", row, col, offset, _C.int64 if dtype is None else dtype, device, True
    )


def tril_indices(
    row: builtins.int,
    col: builtins.int,
    offset: builtins.int = 0,
    *,
    dtype=None,
    device="cpu",
    layout=None,
):
    """The [2, N] (row, col) indices of the lower triangle of a row x col matrix, row-major."""
    return _tri_indices(
        "tril_indices", row, col, offset, _C.int64 if dtype is None else dtype, device, False
    )


def _np(x):
    return x.detach().contiguous().numpy() if x.dtype != _C.bfloat16 else x.detach().float().numpy()


def _index_result(arr, out_int32, like):
    from ._creation import tensor

    return tensor(np.array(arr), dtype=_C.int32 if out_int32 else _C.int64, device=like.device)


def searchsorted(
    sorted_sequence: Tensor,
    input,
    *,
    out_int32: bool = False,
    right: bool = False,
    side=None,
    sorter=None,
):
    """Indices where ``input`` would be inserted into the innermost dim of ``sorted_sequence``
    to keep it sorted (``right``/``side="right"``: after equal values). ``sorter``: indices that
    sort an unsorted ``sorted_sequence``."""
    _check_tensor("searchsorted", "sorted_sequence", sorted_sequence)
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(
                f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}"
            )
        if right and side == "left":
            raise RuntimeError(
                "torch.searchsorted(): side and right can't be set to opposites, got side of left while right was True"
            )
        right = side == "right"
    scalar = not isinstance(input, Tensor)
    if scalar:
        if sorted_sequence.ndim != 1:
            raise RuntimeError("searchsorted(): a scalar input requires a 1-D sorted_sequence")
        vals = np.array([input])
    else:
        vals = _np(input)
    if sorted_sequence.ndim == 0:
        raise RuntimeError(
            "torch.searchsorted(): boundaries tensor should have positive dimension, but got 0 dimension"
        )
    seq = _np(sorted_sequence)
    if sorter is not None:
        if sorter.dtype != _C.int64:
            raise RuntimeError("torch.searchsorted(): sorter must be a tensor of long dtype")
        if list(sorter.shape) != list(sorted_sequence.shape):
            raise RuntimeError(
                f"torch.searchsorted(): boundary and sorter must have the same size, but got boundary tensor "
                f"{list(sorted_sequence.shape)}and got sorter tensor {list(sorter.shape)}"
            )
        srt = sorter.numpy()
        if srt.size and (srt.min() < 0 or srt.max() >= seq.shape[-1]):
            raise RuntimeError("torch.searchsorted(): sorter index out of range")
        seq = np.take_along_axis(seq, srt, -1)
    s = "right" if right else "left"
    if seq.ndim == 1:
        res = np.searchsorted(seq, vals, side=s)
    else:
        if scalar or vals.shape[:-1] != seq.shape[:-1]:
            raise RuntimeError(
                "torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 dimensions of "
                f"boundaries tensor and input value tensor must match, but we got boundaries tensor "
                f"{list(sorted_sequence.shape)} and input value tensor {list(input.shape)}"
            )
        s2, v2 = seq.reshape(-1, seq.shape[-1]), vals.reshape(-1, vals.shape[-1])
        res = np.stack([np.searchsorted(r, v, side=s) for r, v in zip(s2, v2)]).reshape(vals.shape)
    out = _index_result(res.reshape(()) if scalar else res, out_int32, sorted_sequence)
    return out


def bucketize(input, boundaries: Tensor, *, out_int32: bool = False, right: bool = False):
    """The bucket of each element of ``input`` for the sorted 1-D ``boundaries``:
    ``boundaries[i-1] < x <= boundaries[i]`` (``right=True``: ``boundaries[i-1] <= x < boundaries[i]``)."""
    _check_tensor("bucketize", "boundaries", boundaries)
    if boundaries.ndim != 1:
        raise RuntimeError(
            f"bucketize: boundaries tensor must be 1 dimension, but got dim({boundaries.ndim})"
        )
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def histc(input: Tensor, bins: builtins.int = 100, min=0, max=0) -> Tensor:  # noqa: A002
    """Histogram of ``input`` with ``bins`` equal bins between ``min`` and ``max`` (both 0: the
    data's min and max); elements outside are ignored. Same dtype as ``input``."""
    _check_tensor("histc", "input", input)
    if input.dtype not in _FLOATS:
        raise RuntimeError(
            f"\"histogram_cpu\" not implemented for '{str(input.dtype).split('.')[-1]}'"
        )
    if bins <= 0:
        raise RuntimeError(f"torch.histc(): bins must be > 0, but got {bins} for dimension 0")
    x = _np(input).reshape(-1)
    lo, hi = float(min), float(max)
    if lo > hi:
        raise RuntimeError(f"torch.histc(): max must be larger than min, but got min {lo} max {hi}")
    if lo == hi and x.size:
        lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise RuntimeError(f"torch.histc(): range of [{lo}, {hi}] is not finite")
    x = x.astype(np.float64)
    x = x[(x >= lo) & (x <= hi)]
    pos = np.floor((x - lo) * bins / (hi - lo)).astype(np.int64)
    pos = np.minimum(pos, bins - 1)
    counts = np.bincount(pos, minlength=bins).astype(np.float64)
    from ._creation import tensor

    return tensor(counts, dtype=input.dtype, device=input.device)


def cdist(
    x1: Tensor,
    x2: Tensor,
    p: builtins.float = 2.0,
    compute_mode: str = "use_mm_for_euclid_dist_if_necessary",
):
    """p-norm distances between the rows of ``x1`` [*, P, M] and ``x2`` [*, R, M]: [*, P, R].
    For p = 2 with more than 25 rows (or ``compute_mode="use_mm_for_euclid_dist"``) the distances
    come from one GEMM (|x|^2 + |y|^2 - 2 x.y), as PyTorch."""
    _check_tensor("cdist", "x1", x1)
    _check_tensor("cdist", "x2", x2)
    if x1.dtype not in _FLOATS or x2.dtype not in _FLOATS:
        raise RuntimeError(
            f"cdist only supports floating-point dtypes, X1 got: {x1.dtype}, X2 got: {x2.dtype}"
        )
    _same_dtype("cdist", x1, x2)
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(
            f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D, X2 got: {x2.ndim}D"
        )
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(
            f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}"
        )
    if not p >= 0:
        raise RuntimeError(f"cdist only supports non-negative p values, got {p}")
    modes = (
        "use_mm_for_euclid_dist_if_necessary",
        "use_mm_for_euclid_dist",
        "donot_use_mm_for_euclid_dist",
    )
    if compute_mode not in modes:
        raise RuntimeError(f"{compute_mode} is not a valid value for compute_mode")
    batch = list(_C.broadcast_shapes(list(x1.shape[:-2]), list(x2.shape[:-2])))
    a = x1.expand(batch + list(x1.shape[-2:]))
    b = x2.expand(batch + list(x2.shape[-2:]))
    P, R = a.shape[-2], b.shape[-2]
    use_mm = p == 2 and (
        compute_mode == "use_mm_for_euclid_dist"
        or (compute_mode == "use_mm_for_euclid_dist_if_necessary" and (P > 25 or R > 25))
    )
    if use_mm:
        aa = (a * a).sum(-1, keepdim=True)  # [*, P, 1]
        bb = (b * b).sum(-1, keepdim=True).transpose(-2, -1)  # [*, 1, R]
        d2 = aa + bb - 2 * _C.matmul(a, b.transpose(-2, -1))
        return _C.sqrt(_C.clamp(d2, min=0.0))
    diff = a.unsqueeze(-2) - b.unsqueeze(-3)  # [*, P, R, M]
    if p == 0:
        return (diff != 0).sum(-1).to(a.dtype)
    return _C.norm(diff, float(p), -1, False)


from .amp.autocast_mode import autocast_inputs as _autocast_inputs  # noqa: E402

cdist = _autocast_inputs("cdist", cdist)
