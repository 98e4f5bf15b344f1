"""Reductions: sum mean prod var std max/min amax/amin argmax/argmin logsumexp norm all/any
cumsum/cumprod, softmax/log_softmax. Forward vs numpy (and torch when installed) for every
dim form (None/int/negative/tuple) and keepdim, result dtypes like torch, float64
gradients via ember.testing.gradcheck, and dim-out-of-range errors."""

import math

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from refcheck import *  # noqa: F403
from refcheck import check as _check

# reductions accumulate rounding error: looser absolute tolerance than element-wise ops
TOL = {
    "float32": (1e-5, 1e-4),
    "float64": (1e-9, 1e-9),
    "float16": (2e-2, 5e-2),
    "bfloat16": (3e-2, 1e-1),
}


def check(out, expected, dtype=None, rtol=None, atol=None):
    return _check(out, expected, dtype, rtol, atol, tol=TOL)


def tensor(a, dtype="float64"):
    return ember.tensor(np.asarray(a), dtype=getattr(ember, dtype))


def choice(shape, values, p=None, seed=0):
    return np.random.default_rng(seed).choice(values, size=shape, p=p)


X_SHAPE = (3, 7, 13)
DIMS = [None, 0, 1, 2, -1, -3, (0, 2), (-1, 1)]
INT_DIMS = [0, 1, 2, -1, -3]
INT_RESULT = {"int32": "int64", "int64": "int64", "uint8": "int64", "bool": "int64"}


# ---------------------------------------------------------------------------- sum / mean
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "uint8", "bool"])
def test_sum(dtype, dim, keepdim):
    x = make(X_SHAPE, dtype)
    acc = np.float64 if dtype in FLOATS else np.int64
    expected = ref(x).astype(acc).sum(axis=dim, keepdims=keepdim)
    out = ember.sum(x, dim=dim, keepdim=keepdim)
    check(out, expected, dtype=INT_RESULT.get(dtype, dtype))
    check(x.sum(dim=dim, keepdim=keepdim), expected, dtype=INT_RESULT.get(dtype, dtype))
    check_torch(out, lambda t: torch.sum(t, dim=dim, keepdim=keepdim), x)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mean(dtype, dim, keepdim):
    x = make(X_SHAPE, dtype)
    expected = ref(x).mean(axis=dim, keepdims=keepdim)
    out = ember.mean(x, dim=dim, keepdim=keepdim)
    check(out, expected, dtype=dtype)
    check(x.mean(dim=dim, keepdim=keepdim), expected, dtype=dtype)
    check_torch(out, lambda t: torch.mean(t, dim=dim, keepdim=keepdim), x)


def test_sum_mean_default_and_positional_forms():
    x = make((4, 5), "float32")
    check(ember.sum(x), ref(x).sum(), dtype="float32")
    check(x.sum(), ref(x).sum())
    check(x.sum(1), ref(x).sum(1))
    check(ember.sum(x, 0, True), ref(x).sum(0, keepdims=True))
    check(ember.mean(x), ref(x).mean(), dtype="float32")
    check(x.mean(-1), ref(x).mean(-1))
    assert ember.sum(x).ndim == 0 and isinstance(ember.sum(x).item(), float)
    assert isinstance(ember.sum(make((3,), "int32")).item(), int)


@pytest.mark.parametrize("layout", ["step", "T"])
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_reductions_noncontiguous(dtype, layout):
    x = make((4, 6, 5), dtype, layout=layout)
    assert not x.is_contiguous()
    a = ref(x)
    check(ember.sum(x, dim=(0, 2)), a.sum(axis=(0, 2)))
    check(ember.sum(x, dim=-1, keepdim=True), a.sum(-1, keepdims=True))
    check(ember.prod(x, dim=1), np.prod(a, 1))
    check(ember.amax(x, dim=(1, 2)), a.max(axis=(1, 2)))
    check(ember.max(x, 2).values, a.max(2))
    check(ember.argmin(x, dim=1), a.argmin(1))
    check(ember.cumsum(x, dim=2), np.cumsum(a, 2))
    if dtype == "float32":
        check(ember.mean(x, dim=1), a.mean(1))
        check(ember.var(x, dim=2), a.var(2, ddof=1))
        check(ember.softmax(x, dim=-1), np_softmax(a, -1))
        check(ember.logsumexp(x, dim=0), np_logsumexp(a, 0))


# -------------------------------------------------------------------------------- prod
def prod_data(dtype, shape=(3, 7, 5), seed=0):
    if dtype in FLOATS:  # |x| in [0.7, 1.4] with random sign: no over/underflow
        return tensor(
            choice(shape, [-1, 1], seed=seed) * make(shape, "float64", 0.7, 1.4, seed=seed).numpy(),
            dtype,
        )
    values, p = {"bool": ([False, True], [0.1, 0.9]), "uint8": ([1, 2], [0.9, 0.1])}.get(
        dtype, ([-2, -1, 1, 2], [0.05, 0.45, 0.45, 0.05])
    )
    return tensor(choice(shape, values, p, seed=seed), dtype)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [None] + INT_DIMS)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "uint8", "bool"])
def test_prod(dtype, dim, keepdim):
    x = prod_data(dtype)
    acc = np.float64 if dtype in FLOATS else np.int64
    if dim is None:
        out, expected = ember.prod(x), np.prod(ref(x).astype(acc))
        check(x.prod(), expected)
    else:
        out = ember.prod(x, dim=dim, keepdim=keepdim)
        expected = np.prod(ref(x).astype(acc), axis=dim, keepdims=keepdim)
        check(x.prod(dim, keepdim=keepdim), expected)
    check(out, expected, dtype=INT_RESULT.get(dtype, dtype))


# -------------------------------------------------------------------------- var / std
VAR_KW = [
    {"correction": 0},
    {"correction": 1},
    {"correction": 2},
    {"unbiased": True},
    {"unbiased": False},
]


def ddof(kw):
    return kw["correction"] if "correction" in kw else int(kw["unbiased"])


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("kw", VAR_KW, ids=lambda kw: f"{next(iter(kw))}={next(iter(kw.values()))}")
@pytest.mark.parametrize("dim", [None, 0, -1, (0, 2)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std(name, dtype, dim, kw, keepdim):
    x = make(X_SHAPE, dtype)
    expected = getattr(np, name)(ref(x), axis=dim, ddof=ddof(kw), keepdims=keepdim)
    out = getattr(ember, name)(x, dim=dim, keepdim=keepdim, **kw)
    check(out, expected, dtype=dtype)
    check(getattr(x, name)(dim=dim, keepdim=keepdim, **kw), expected, dtype=dtype)
    check_torch(out, lambda t: getattr(torch, name)(t, dim=dim, keepdim=keepdim, **kw), x)


@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std_defaults(name):
    x = make((4, 5), "float64")
    check(getattr(ember, name)(x), getattr(np, name)(ref(x), ddof=1))  # unbiased by default
    check(getattr(ember, name)(x, 1), getattr(np, name)(ref(x), axis=1, ddof=1))
    check(getattr(x, name)(), getattr(np, name)(ref(x), ddof=1))


# ------------------------------------------------------------------------------ max / min
def tie_data(shape, dtype, layout="contig", seed=0):
    """Coarse values: many ties (first index must win)."""
    if dtype in FLOATS:
        return make(shape, dtype, -2.0, 2.0, step=0.5, layout=layout, seed=seed)
    return make(shape, dtype, 0, 4, layout=layout, seed=seed)


MAXMIN_DTYPES = ["float32", "float64", "int32", "int64", "uint8"]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", INT_DIMS)
@pytest.mark.parametrize("dtype", MAXMIN_DTYPES)
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_dim(name, dtype, dim, keepdim):
    x = tie_data(X_SHAPE, dtype)
    a = ref(x)
    values = getattr(a, name)(axis=dim, keepdims=keepdim)
    indices = getattr(a, "arg" + name)(axis=dim, keepdims=keepdim)
    r = getattr(ember, name)(x, dim, keepdim=keepdim)
    check(r.values, values, dtype=dtype)
    check(r.indices, indices, dtype="int64")
    v, i = r  # namedtuple unpacks and indexes like a tuple
    check(v, values)
    check(r[1], indices)
    m = getattr(x, name)(dim=dim, keepdim=keepdim)
    check(m.values, values)
    check(m.indices, indices)


@pytest.mark.parametrize("dtype", MAXMIN_DTYPES + ["bool"])
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_no_dim(name, dtype):
    x = tie_data(X_SHAPE, dtype) if dtype != "bool" else make(X_SHAPE, "bool")
    expected = getattr(ref(x), name)()
    out = getattr(ember, name)(x)
    check(out, expected, dtype=dtype)
    check(getattr(x, name)(), expected, dtype=dtype)


def test_max_min_nan_propagates():
    x = tensor([[1.0, math.nan, 3.0], [2.0, 0.5, -1.0]], "float32")
    assert math.isnan(ember.max(x).item()) and math.isnan(ember.min(x).item())
    r = ember.max(x, dim=1)
    check(r.values, [math.nan, 2.0])
    check(r.indices, [1, 0])
    check(ember.amin(x, dim=1), [math.nan, -1.0])
    check(ember.argmax(x, dim=1), [1, 0])


AMAX_DIMS = [0, 2, -1, (0, 2), (-1, 1), (0, 1, 2)]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", AMAX_DIMS)
@pytest.mark.parametrize("dtype", MAXMIN_DTYPES)
@pytest.mark.parametrize("name", ["amax", "amin"])
def test_amax_amin(name, dtype, dim, keepdim):
    x = make(X_SHAPE, dtype)
    expected = getattr(ref(x), name[1:])(axis=dim, keepdims=keepdim)
    out = getattr(ember, name)(x, dim=dim, keepdim=keepdim)
    check(out, expected, dtype=dtype)
    check(getattr(x, name)(dim, keepdim=keepdim), expected, dtype=dtype)
    check_torch(out, lambda t: getattr(torch, name)(t, dim=dim, keepdim=keepdim), x)


@pytest.mark.parametrize("name", ["amax", "amin"])
def test_amax_amin_no_dim(name):
    x = make((4, 5), "float32")
    check(getattr(ember, name)(x), getattr(ref(x), name[1:])(), dtype="float32")


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [None, 0, 1, 2, -1])
@pytest.mark.parametrize("dtype", MAXMIN_DTYPES)
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin(name, dtype, dim, keepdim):
    x = tie_data(X_SHAPE, dtype, layout="T" if dim == 1 else "contig")
    a = ref(x)
    if dim is None:  # index into the flattened tensor
        expected = getattr(a.reshape(-1), name)()
        expected = expected.reshape((1,) * a.ndim) if keepdim else np.asarray(expected)
    else:
        expected = getattr(a, name)(axis=dim, keepdims=keepdim)
    out = getattr(ember, name)(x, dim=dim, keepdim=keepdim)
    check(out, expected, dtype="int64")
    check(getattr(x, name)(dim=dim, keepdim=keepdim), expected, dtype="int64")
    check_torch(out, lambda t: getattr(torch, name)(t, dim=dim, keepdim=keepdim), x)


def test_argmax_no_args():
    x = tie_data((5, 7), "float32")
    check(ember.argmax(x), np.argmax(ref(x)), dtype="int64")
    check(x.argmin(), np.argmin(ref(x)), dtype="int64")


# ------------------------------------------------------------------------------ logsumexp
def np_logsumexp(a, axis, keepdims=False):
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


RANGES = {"small": (-3.0, 3.0), "offset": (997.0, 1003.0), "spread": (-3000.0, 3000.0)}


@pytest.mark.parametrize("values", list(RANGES))
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 2, -1, (0, 2), (-1, 1)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logsumexp(dtype, dim, keepdim, values):
    x = make(X_SHAPE, dtype, *RANGES[values])
    expected = np_logsumexp(ref(x), dim, keepdim)
    out = ember.logsumexp(x, dim, keepdim=keepdim)
    assert np.isfinite(to_np(out)).all()
    check(out, expected, dtype=dtype)
    check(x.logsumexp(dim=dim, keepdim=keepdim), expected, dtype=dtype)
    check_torch(out, lambda t: torch.logsumexp(t, dim, keepdim=keepdim), x)


def test_logsumexp_infinities():
    x = tensor([[-math.inf, -math.inf], [-math.inf, 0.0], [math.inf, 1.0]], "float32")
    check(ember.logsumexp(x, 1), [-math.inf, 0.0, math.inf])


# ---------------------------------------------------------------------------------- norm
INF = math.inf
NORM_CASES = [
    (2, None),
    (2, 1),
    (2, (0, 2)),
    (1, None),
    (1, -1),
    (1, (0, 1)),
    (INF, None),
    (INF, 0),
    (INF, (1, 2)),
    ("fro", None),
    ("fro", (0, 1)),
    ("fro", (-1, -2)),
    ("fro", 1),
]


def np_norm(a, p, dim, keepdim=False):
    if p == 1:
        return np.abs(a).sum(axis=dim, keepdims=keepdim)
    if p == INF:
        return np.abs(a).max(axis=dim, keepdims=keepdim)
    return np.sqrt((a * a).sum(axis=dim, keepdims=keepdim))


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("p,dim", NORM_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_norm(dtype, p, dim, keepdim):
    x = make(X_SHAPE, dtype, layout="T" if dim == 1 else "contig")
    expected = np_norm(ref(x), p, dim, keepdim)
    out = ember.norm(x, p=p, dim=dim, keepdim=keepdim)
    check(out, expected, dtype=dtype)
    check(x.norm(p=p, dim=dim, keepdim=keepdim), expected, dtype=dtype)
    check_torch(out, lambda t: torch.norm(t, p=p, dim=dim, keepdim=keepdim), x)


def test_norm_defaults():
    x = make((3, 4), "float64")
    check(ember.norm(x), np.sqrt((ref(x) ** 2).sum()))
    check(x.norm(), np.sqrt((ref(x) ** 2).sum()))
    check(ember.norm(x, 1), np.abs(ref(x)).sum())
    check(ember.norm(x, float("inf")), np.abs(ref(x)).max())


# ------------------------------------------------------------------------------ all / any
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("dtype", ["bool", "float32", "int32"])
@pytest.mark.parametrize("name", ["all", "any"])
def test_all_any(name, dtype, dim, keepdim):
    p = [0.15, 0.85] if name == "all" else [0.85, 0.15]  # keep the answer non-trivial
    a = choice(X_SHAPE, [0, 1], p) * choice(X_SHAPE, [1, 2, -3], seed=1)
    x = tensor(a.astype(bool) if dtype == "bool" else a, dtype)
    expected = getattr(np, name)(a, axis=dim, keepdims=keepdim)
    out = getattr(ember, name)(x, dim=dim, keepdim=keepdim)
    check(out, expected, dtype="bool")
    check(getattr(x, name)(dim=dim, keepdim=keepdim), expected, dtype="bool")


@pytest.mark.parametrize("dtype", ["bool", "float32"])
def test_all_any_no_dim(dtype):
    t = tensor([[1, 1], [1, 0]], dtype)
    assert ember.all(t).item() is False and ember.any(t).item() is True
    assert t.all().dtype == ember.bool and tuple(t.any().shape) == ()
    assert ember.all(ember.ones(2, 3, dtype=getattr(ember, dtype))).item() is True
    assert ember.any(ember.zeros(2, 3, dtype=getattr(ember, dtype))).item() is False


# -------------------------------------------------------------------- cumsum / cumprod
@pytest.mark.parametrize("dim", INT_DIMS)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "uint8", "bool"])
@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_cumsum_cumprod(name, dtype, dim):
    x = make(X_SHAPE, dtype) if name == "cumsum" else prod_data(dtype, (3, 7, 5))
    acc = np.float64 if dtype in FLOATS else np.int64
    expected = getattr(np, name)(ref(x).astype(acc), axis=dim)
    out = getattr(ember, name)(x, dim)
    check(out, expected, dtype=INT_RESULT.get(dtype, dtype))
    check(getattr(x, name)(dim=dim), expected, dtype=INT_RESULT.get(dtype, dtype))
    check_torch(out, lambda t: getattr(torch, name)(t, dim), x)


# -------------------------------------------------------------------- softmax / log_softmax
def np_softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(a, axis):
    s = a - a.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


SOFTMAX = {"softmax": np_softmax, "log_softmax": np_log_softmax}


@pytest.mark.parametrize("values", list(RANGES))
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(SOFTMAX))
def test_softmax(name, dtype, dim, values):
    x = make((3, 5, 7), dtype, *RANGES[values])
    expected = SOFTMAX[name](ref(x), dim)
    for out in (getattr(ember, name)(x, dim), getattr(F, name)(x, dim=dim), getattr(x, name)(dim)):
        assert np.isfinite(to_np(out)).all()
        check(out, expected, dtype=dtype)
    if name == "softmax":
        check(ember.sum(out, dim=dim), np.ones(np.delete(np.array((3, 5, 7)), dim)))
    check_torch(out, lambda t: getattr(torch, name)(t, dim), x)


@pytest.mark.parametrize("name", list(SOFTMAX))
def test_softmax_extremes_and_masking(name):
    x = tensor(
        [[1000.0, 0.0, -1000.0], [-math.inf, 1.0, 1.0], [5.0, -math.inf, -math.inf]], "float32"
    )
    expected = {
        "softmax": [[1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [1.0, 0.0, 0.0]],
        "log_softmax": [
            [0.0, -1000.0, -2000.0],
            [-math.inf, -math.log(2), -math.log(2)],
            [0.0, -math.inf, -math.inf],
        ],
    }[name]
    check(getattr(ember, name)(x, -1), expected)
    check(getattr(F, name)(x.T, dim=0), np.array(expected).T)


# ------------------------------------------------------------------ half precision smoke
HALF_OPS = {  # name: (call with module m in {ember, torch}, numpy reference)
    "sum": (lambda m, x: m.sum(x, dim=1), lambda a: a.sum(1)),
    "sum_all": (lambda m, x: m.sum(x), lambda a: a.sum()),
    "mean": (lambda m, x: m.mean(x, dim=(0, 1)), lambda a: a.mean()),
    "prod": (lambda m, x: m.prod(x, 1), lambda a: a.prod(1)),
    "var": (lambda m, x: m.var(x, dim=1), lambda a: a.var(1, ddof=1)),
    "std": (lambda m, x: m.std(x, dim=0, correction=0), lambda a: a.std(0)),
    "amax": (lambda m, x: m.amax(x, dim=1), lambda a: a.max(1)),
    "amin": (lambda m, x: m.amin(x, dim=0), lambda a: a.min(0)),
    "max": (lambda m, x: m.max(x, 1).values, lambda a: a.max(1)),
    "argmax": (lambda m, x: m.argmax(x, dim=1), lambda a: a.argmax(1)),
    "argmin": (lambda m, x: m.argmin(x), lambda a: a.argmin()),
    "logsumexp": (lambda m, x: m.logsumexp(x, 1), lambda a: np_logsumexp(a, 1)),
    "norm": (lambda m, x: m.norm(x, dim=1), lambda a: np.sqrt((a * a).sum(1))),
    "cumsum": (lambda m, x: m.cumsum(x, 1), lambda a: a.cumsum(1)),
    "cumprod": (lambda m, x: m.cumprod(x, 0), lambda a: a.cumprod(0)),
    "softmax": (lambda m, x: m.softmax(x, 1), lambda a: np_softmax(a, 1)),
    "log_softmax": (lambda m, x: m.log_softmax(x, 0), lambda a: np_log_softmax(a, 0)),
}


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("op", list(HALF_OPS))
def test_half_precision_reductions(op, dtype):
    fn, npfn = HALF_OPS[op]
    x = make((5, 7), dtype, -1.0, 1.0)
    out = fn(ember, x)
    check(out, npfn(ref(x)), dtype="int64" if op.startswith("arg") else dtype)
    check_torch(out, lambda t: fn(torch, t), x)


# -------------------------------------------------------------------------- empty inputs
def test_empty_reductions():
    x = ember.zeros(0, 4)
    check(ember.sum(x), 0.0, dtype="float32")
    check(ember.sum(x, dim=0), np.zeros(4))
    check(ember.sum(x, dim=1), np.zeros(0))
    check(ember.prod(x), 1.0)
    check(ember.mean(x, dim=0), np.full(4, math.nan))
    check(ember.logsumexp(x, 0), np.full(4, -math.inf))
    check(ember.norm(x), 0.0)
    check(ember.amax(x, dim=1), np.zeros(0))
    check(ember.max(x, 1).indices, np.zeros(0, np.int64), dtype="int64")
    check(ember.argmax(x, dim=1), np.zeros(0, np.int64), dtype="int64")
    check(ember.cumsum(x, 0), np.zeros((0, 4)))
    check(ember.softmax(x, 0), np.zeros((0, 4)))
    check(ember.all(x), True, dtype="bool")
    check(ember.any(x), False, dtype="bool")
    check(ember.all(x, dim=0), np.ones(4, bool), dtype="bool")
    check(ember.sum(ember.zeros(0, dtype=ember.int32)), 0, dtype="int64")


# ----------------------------------------------------------------------------- gradients
GRAD_DIMS = [None, 1, -1, (0, 2)]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", GRAD_DIMS)
@pytest.mark.parametrize("name", ["sum", "mean", "var", "std", "amax", "amin", "norm"])
def test_reduction_grad(name, dim, keepdim):
    def fn(x):
        if dim is None and name in ("amax", "amin"):  # amax takes an int or tuple dim
            return getattr(ember, name)(x)
        return getattr(ember, name)(x, dim=dim, keepdim=keepdim)

    gcheck(fn, leaf((2, 3, 4)))


@pytest.mark.parametrize("kw", [{"correction": 0}, {"correction": 2}, {"unbiased": False}])
@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std_correction_grad(name, kw):
    gcheck(lambda x: getattr(ember, name)(x, dim=(0, 1), **kw), leaf((3, 4, 2)))


@pytest.mark.parametrize(
    "p,dim",
    [
        (2, None),
        (2, 1),
        (1, None),
        (1, (0, 2)),
        (INF, None),
        (INF, -1),
        ("fro", (0, 1)),
        ("fro", None),
    ],
)
def test_norm_grad(p, dim):
    gcheck(lambda x: ember.norm(x, p=p, dim=dim), leaf((2, 3, 4), away=(0.0,)))


@pytest.mark.parametrize("dim,keepdim", [(0, False), (1, True), (-1, False)])
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_grad(name, dim, keepdim):
    gcheck(lambda x: getattr(ember, name)(x, dim, keepdim=keepdim).values, leaf((2, 3, 4)))
    gcheck(lambda x: getattr(ember, name)(x), leaf((3, 4)))


@pytest.mark.parametrize("dim", [0, 1, (0, 2), -1])
def test_logsumexp_grad(dim):
    gcheck(lambda x: ember.logsumexp(x, dim), leaf((2, 3, 4)))
    gcheck(lambda x: ember.logsumexp(x, dim, keepdim=True), leaf((2, 3, 4), 995.0, 1005.0))


@pytest.mark.parametrize("zeros", [0, 1, 2])
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
def test_prod_grad(dim, zeros):
    x = np.random.default_rng(0).uniform(0.5, 1.5, (3, 4)) * choice((3, 4), [-1, 1])
    x[1, :zeros] = 0.0  # one / two exact zeros in a row (division-free gradient needed)
    x = tensor(x)
    x.requires_grad_(True)
    gcheck((lambda t: ember.prod(t)) if dim is None else (lambda t: ember.prod(t, dim)), x)


@pytest.mark.parametrize("zeros", [0, 1, 2])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_cumsum_cumprod_grad(name, dim, zeros):
    x = np.random.default_rng(0).uniform(0.5, 1.5, (3, 4)) * choice((3, 4), [-1, 1])
    x[1, 1 : 1 + zeros] = 0.0
    x = tensor(x)
    x.requires_grad_(True)
    gcheck(lambda t: getattr(ember, name)(t, dim), x)


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
@pytest.mark.parametrize("name", list(SOFTMAX))
def test_softmax_grad(name, dim):
    gcheck(lambda x: getattr(ember, name)(x, dim), leaf((2, 3, 4)))
    gcheck(lambda x: getattr(F, name)(x.permute(2, 0, 1), dim=dim), leaf((3, 4, 2), 990.0, 1010.0))


def test_reduction_grad_noncontiguous():
    gcheck(lambda x: ember.sum(x.T[::2], dim=0), leaf((3, 4)))
    gcheck(lambda x: ember.var(x[:, ::2], dim=1) + ember.amax(x.T, dim=0), leaf((3, 4)))


def test_grad_ties():
    """Ties: amax/amin and the full max()/min() split the gradient evenly (like torch);
    max(dim) routes it to the returned index only."""
    x = tensor([1.0, 3.0, 3.0])
    x.requires_grad_(True)
    ember.amax(x, dim=0).backward()
    check(x.grad, [0.0, 0.5, 0.5])
    x.grad = None
    ember.max(x).backward()
    check(x.grad, [0.0, 0.5, 0.5])
    x.grad = None
    ember.max(x, 0).values.backward()
    check(x.grad, [0.0, 1.0, 0.0])


def test_sum_grad_shape_keepdim():
    x = leaf((2, 3, 4))
    ember.sum(x, dim=(0, 2), keepdim=False).sum().backward()
    assert tuple(x.grad.shape) == (2, 3, 4)
    check(x.grad, np.ones((2, 3, 4)))
    y = leaf((2, 3))
    (ember.mean(y, dim=1, keepdim=True) * tensor([[1.0], [2.0]])).sum().backward()
    check(y.grad, np.repeat([[1 / 3], [2 / 3]], 3, axis=1))


# ------------------------------------------------------------------------------- errors
DIM_ERR = {
    "sum": lambda x, d: ember.sum(x, dim=d),
    "mean": lambda x, d: ember.mean(x, dim=d),
    "sum_tuple": lambda x, d: ember.sum(x, dim=(0, d)),
    "prod": lambda x, d: ember.prod(x, d),
    "var": lambda x, d: ember.var(x, dim=d),
    "std": lambda x, d: ember.std(x, dim=d),
    "max": lambda x, d: ember.max(x, d),
    "min": lambda x, d: ember.min(x, d),
    "amax": lambda x, d: ember.amax(x, dim=d),
    "amin": lambda x, d: ember.amin(x, dim=d),
    "argmax": lambda x, d: ember.argmax(x, dim=d),
    "argmin": lambda x, d: ember.argmin(x, dim=d),
    "logsumexp": lambda x, d: ember.logsumexp(x, d),
    "norm": lambda x, d: ember.norm(x, dim=d),
    "all": lambda x, d: ember.all(x, dim=d),
    "any": lambda x, d: ember.any(x, dim=d),
    "cumsum": lambda x, d: ember.cumsum(x, d),
    "cumprod": lambda x, d: ember.cumprod(x, d),
    "softmax": lambda x, d: ember.softmax(x, d),
    "log_softmax": lambda x, d: F.log_softmax(x, d),
    "method_sum": lambda x, d: x.sum(d),
    "method_softmax": lambda x, d: x.softmax(d),
}


@pytest.mark.parametrize("dim", [2, -3, 5])
@pytest.mark.parametrize("name", list(DIM_ERR))
def test_dim_out_of_range(name, dim):
    with pytest.raises(IndexError):
        DIM_ERR[name](ember.ones(2, 3), dim)
