"""Robustness fuzzing with hypothesis: random shapes (including 0-size and mismatched ones), dtypes,
strides and arguments (dims out of range, negative sizes, weird scalars, nan/inf) are thrown at a
broad list of ops. Every call must either return an ember Tensor (or a tuple of them) whose data can
be read back, or raise one of TypeError / ValueError / IndexError / RuntimeError: never crash or
raise anything else."""

import operator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import ember
import ember.nn.functional as F

ALLOWED = (TypeError, ValueError, IndexError, RuntimeError)
# Warnings (deprecations, degrees of freedom <= 0, ...) are fine; only exceptions matter here.
pytestmark = pytest.mark.filterwarnings("ignore")
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)

DTYPES = ["float32", "float64", "float16", "bfloat16", "int32", "int64", "uint8", "bool"]
FLOATS = ["float32", "float64", "float16", "bfloat16"]
SPECIALS = ["normal", "normal", "nan", "inf", "big", "zeros"]
# fmt: off
WEIRD_SCALARS = [
    0, 1, -1, 2, -3, 7, 2**31, -(2**31), 10**12, 0.0, -0.0, 0.5, -2.5, 1e-30, 1e30, 1e300,
    float("nan"), float("inf"), float("-inf"), True, False, None, "x",
]
# fmt: on
DIMS = st.integers(-6, 6)


# ----------------------------------------------------------------------------- helpers
def make_tensor(shape, dtype, seed, special="normal", noncontig=False, requires_grad=False):
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    if dtype in FLOATS:
        arr = np.asarray(rng.standard_normal(shape) * 3)
        if arr.size and special == "nan":
            arr[rng.random(shape) < 0.3] = np.nan
        elif arr.size and special == "inf":
            arr[rng.random(shape) < 0.3] = np.inf
            arr[rng.random(shape) < 0.2] = -np.inf
        elif special == "big":
            arr = arr * 1e30
        elif special == "zeros":
            arr = np.zeros(shape)
    elif dtype == "bool":
        arr = np.asarray(rng.random(shape) < 0.5)
    elif dtype == "uint8":
        arr = np.asarray(rng.integers(0, 10, size=shape))
    else:
        arr = np.asarray(rng.integers(-5, 6, size=shape))
    flip = noncontig and len(shape) >= 2
    if flip:
        arr = np.ascontiguousarray(np.swapaxes(arr, 0, -1))
    src = (
        arr.astype(np.float32)
        if dtype in FLOATS
        else arr.astype(np.int64 if dtype != "bool" else bool)
    )
    t = ember.tensor(src).to(getattr(ember, dtype))
    if requires_grad and dtype in FLOATS:
        t.requires_grad_()
    if flip:
        t = t.transpose(0, -1)
    return t


@st.composite
def tensors(draw, shape=None, dtypes=DTYPES, max_dims=4, max_side=4, grad=True):
    if shape is None:
        shape = draw(st.lists(st.integers(0, max_side), max_size=max_dims))
    return make_tensor(
        shape,
        draw(st.sampled_from(dtypes)),
        draw(st.integers(0, 2**32 - 1)),
        draw(st.sampled_from(SPECIALS)),
        draw(st.booleans()),
        grad and draw(st.booleans()),
    )


def shapes(max_dims=4, max_side=4):
    return st.lists(st.integers(0, max_side), max_size=max_dims).map(tuple)


def operands():
    """A tensor or a (possibly weird) python scalar."""
    return st.one_of(tensors(), st.sampled_from(WEIRD_SCALARS))


def materialize(out):
    """The result must be a Tensor (or tuple/list of them) whose data can actually be read."""
    outs = out if isinstance(out, (tuple, list)) else (out,)
    assert isinstance(out, (tuple, list)) or isinstance(out, ember.Tensor), (
        f"unexpected result type {type(out)}"
    )
    for o in outs:
        assert isinstance(o, ember.Tensor), f"unexpected result element type {type(o)}"
        arr = o.detach().to(ember.float64).numpy()
        assert arr.shape == tuple(o.shape)
        assert o.numel() == arr.size


def call(fn, *args, backward=False, **kwargs):
    """Runs fn; allowed exceptions are swallowed, anything else propagates and fails the test."""
    try:
        out = fn(*args, **kwargs)
    except ALLOWED:
        return None
    materialize(out)
    if backward:
        first = out[0] if isinstance(out, (tuple, list)) and out else out
        if isinstance(first, ember.Tensor) and first.requires_grad:
            try:
                first.float().sum().backward()
            except ALLOWED:
                pass
    return out


# ----------------------------------------------------------------------------- binary ops
BINARY = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "truediv": operator.truediv,
    "floordiv": operator.floordiv,
    "mod": operator.mod,
    "pow": operator.pow,
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "ge": operator.ge,
    "and": operator.and_,
    "or": operator.or_,
    "xor": operator.xor,
    "matmul": operator.matmul,
    "maximum": lambda a, b: ember.maximum(a, b),
    "minimum": lambda a, b: ember.minimum(a, b),
    "add_alpha": lambda a, b: ember.add(a, b, alpha=2),
    "logical_and": lambda a, b: ember.logical_and(a, b),
    "logical_xor": lambda a, b: ember.logical_xor(a, b),
    "where": lambda a, b: ember.where(a > 0, a, b),
    "iadd": lambda a, b: operator.iadd(a.detach().clone(), b),
    "imul": lambda a, b: operator.imul(a.detach().clone(), b),
    "itruediv": lambda a, b: operator.itruediv(a.detach().clone(), b),
}


@st.composite
def binary_operands(draw):
    if draw(st.integers(0, 9)) < 7:
        sa, sb = draw(
            mutually_broadcastable_shapes(num_shapes=2, max_dims=4, min_side=0, max_side=4)
        ).input_shapes
    else:
        sa, sb = draw(shapes()), draw(shapes())
    a, b = draw(tensors(shape=sa)), draw(tensors(shape=sb))
    kind = draw(st.sampled_from(["tt", "tt", "ts", "st"]))
    if kind == "ts":
        b = draw(st.sampled_from(WEIRD_SCALARS))
    elif (
        kind == "st"
    ):  # python scalar on the left: reflected operators (no str: 'x' % t is formatting)
        a = draw(st.sampled_from([v for v in WEIRD_SCALARS if not isinstance(v, str)]))
    return a, b


@FUZZ
@given(op=st.sampled_from(sorted(BINARY)), ab=binary_operands())
def test_fuzz_binary(op, ab):
    a, b = ab
    if not isinstance(a, ember.Tensor) and op in ("iadd", "imul", "itruediv", "where"):
        a, b = b, a  # these need a tensor on the left; the others also test reflected operators
    if op in ("eq", "ne") and any(v is None or isinstance(v, str) for v in (a, b)):
        try:  # python may fall back to identity comparison and return a plain bool
            assert isinstance(BINARY[op](a, b), (bool, ember.Tensor))
        except ALLOWED:
            pass
        return
    if op == "mul" and any(isinstance(v, str) for v in (a, b)):
        try:  # a 1-element integer tensor is an index: python repeats the string (as with torch)
            assert isinstance(BINARY[op](a, b), (str, ember.Tensor))
        except ALLOWED:
            pass
        return
    call(BINARY[op], a, b, backward=True)


# ----------------------------------------------------------------------------- unary ops
def _scalar():
    return st.sampled_from(WEIRD_SCALARS)


UNARY = {
    "neg": lambda x, s: -x,
    "abs": lambda x, s: ember.abs(x),
    "sign": lambda x, s: ember.sign(x),
    "invert": lambda x, s: ~x,
    "reciprocal": lambda x, s: ember.reciprocal(x),
    "exp": lambda x, s: ember.exp(x),
    "exp2": lambda x, s: ember.exp2(x),
    "log": lambda x, s: ember.log(x),
    "log1p": lambda x, s: ember.log1p(x),
    "sqrt": lambda x, s: ember.sqrt(x),
    "rsqrt": lambda x, s: ember.rsqrt(x),
    "sin": lambda x, s: ember.sin(x),
    "tan": lambda x, s: ember.tan(x),
    "tanh": lambda x, s: ember.tanh(x),
    "sigmoid": lambda x, s: ember.sigmoid(x),
    "erf": lambda x, s: ember.erf(x),
    "floor": lambda x, s: ember.floor(x),
    "round": lambda x, s: ember.round(x),
    "trunc": lambda x, s: ember.trunc(x),
    "isnan": lambda x, s: ember.isnan(x),
    "isfinite": lambda x, s: ember.isfinite(x),
    "nan_to_num": lambda x, s: ember.nan_to_num(
        x, nan=s if isinstance(s, float) else 0.0, posinf=s, neginf=None
    ),
    "clamp_min": lambda x, s: ember.clamp(x, min=s),
    "clamp_both": lambda x, s: ember.clamp(x, min=s, max=-1),
    "clip_tensor": lambda x, s: ember.clip(x, max=x * 0),
    "relu": lambda x, s: F.relu(x),
    "leaky_relu": lambda x, s: F.leaky_relu(x, s),
    "elu": lambda x, s: F.elu(x, s),
    "gelu": lambda x, s: F.gelu(
        x, approximate="tanh" if s is True else ("none" if s is False else str(s))
    ),
    "silu": lambda x, s: F.silu(x),
    "softplus": lambda x, s: F.softplus(x, beta=s, threshold=20),
    "mish": lambda x, s: F.mish(x),
    "hardtanh": lambda x, s: F.hardtanh(x, s, 1.0),
    "ember_relu": lambda x, s: ember.relu(x),
    "square": lambda x, s: ember.square(x),
    "pow_scalar": lambda x, s: x**s,
    "rpow": lambda x, s: s**x,
    "item_like": lambda x, s: x.clone().fill_(s),
}


@FUZZ
@given(op=st.sampled_from(sorted(UNARY)), x=tensors(), s=_scalar())
def test_fuzz_unary(op, x, s):
    call(UNARY[op], x, s, backward=True)


# ----------------------------------------------------------------------------- reductions
DIM_ARG = st.one_of(st.none(), DIMS, st.lists(DIMS, max_size=3).map(tuple))

REDUCTIONS = {
    "sum": lambda x, d, k, e: ember.sum(x, dim=d, keepdim=k) if d is not None else ember.sum(x),
    "mean": lambda x, d, k, e: x.mean(dim=d, keepdim=k) if d is not None else x.mean(),
    "prod": lambda x, d, k, e: ember.prod(x, dim=d, keepdim=k) if d is not None else ember.prod(x),
    "amax": lambda x, d, k, e: ember.amax(x, dim=d if d is not None else (), keepdim=k),
    "amin": lambda x, d, k, e: ember.amin(x, dim=d if d is not None else (), keepdim=k),
    "max": lambda x, d, k, e: ember.max(x, dim=d, keepdim=k) if d is not None else ember.max(x),
    "min": lambda x, d, k, e: x.min(dim=d, keepdim=k) if d is not None else x.min(),
    "argmax": lambda x, d, k, e: ember.argmax(x, dim=d, keepdim=k),
    "argmin": lambda x, d, k, e: ember.argmin(x, dim=d, keepdim=k),
    "var": lambda x, d, k, e: ember.var(x, dim=d, correction=e, keepdim=k),
    "std": lambda x, d, k, e: ember.std(x, dim=d, unbiased=bool(e), keepdim=k),
    "logsumexp": lambda x, d, k, e: ember.logsumexp(x, dim=d, keepdim=k),
    "norm": lambda x, d, k, e: ember.norm(
        x, p=[2, 1, float("inf"), "fro", 0.5, -1][e % 6], dim=d, keepdim=k
    ),
    "all": lambda x, d, k, e: ember.all(x, dim=d, keepdim=k) if d is not None else ember.all(x),
    "any": lambda x, d, k, e: x.any(dim=d, keepdim=k) if d is not None else x.any(),
    "cumsum": lambda x, d, k, e: ember.cumsum(x, dim=d),
    "cumprod": lambda x, d, k, e: ember.cumprod(x, dim=d),
    "softmax": lambda x, d, k, e: ember.softmax(x, dim=d),
    "log_softmax": lambda x, d, k, e: F.log_softmax(x, dim=d),
    "F_softmax": lambda x, d, k, e: F.softmax(x, d),
}


@FUZZ
@given(
    op=st.sampled_from(sorted(REDUCTIONS)),
    x=tensors(),
    d=DIM_ARG,
    k=st.booleans(),
    e=st.integers(-1, 5),
)
def test_fuzz_reductions(op, x, d, k, e):
    call(REDUCTIONS[op], x, d, k, e, backward=True)


# ----------------------------------------------------------------------------- views / reshapes
SIZES = st.lists(st.integers(-3, 5), max_size=5).map(tuple)

VIEWS = {
    "reshape": lambda x, s, a, b: x.reshape(s),
    "reshape_fn": lambda x, s, a, b: ember.reshape(x, s),
    "view": lambda x, s, a, b: x.view(*s),
    "view_tuple": lambda x, s, a, b: x.view(s),
    "permute": lambda x, s, a, b: x.permute(*s),
    "permute_fn": lambda x, s, a, b: ember.permute(x, s),
    "expand": lambda x, s, a, b: x.expand(*s),
    "expand_tuple": lambda x, s, a, b: x.expand(s),
    "broadcast_to": lambda x, s, a, b: ember.broadcast_to(x, s),
    "transpose": lambda x, s, a, b: x.transpose(a, b),
    "squeeze": lambda x, s, a, b: x.squeeze(a),
    "squeeze_tuple": lambda x, s, a, b: x.squeeze(s),
    "squeeze_all": lambda x, s, a, b: x.squeeze(),
    "unsqueeze": lambda x, s, a, b: x.unsqueeze(a),
    "flatten": lambda x, s, a, b: x.flatten(a, b),
    "unflatten": lambda x, s, a, b: x.unflatten(a, s),
    "movedim": lambda x, s, a, b: ember.movedim(x, a, b),
    "narrow": lambda x, s, a, b: x.narrow(a, b, 2),
    "select": lambda x, s, a, b: x.select(a, b),
    "T": lambda x, s, a, b: x.T,
    "mT": lambda x, s, a, b: x.mT,
    "contiguous": lambda x, s, a, b: x.transpose(0, a).contiguous(),
    "view_after_transpose": lambda x, s, a, b: x.transpose(0, -1).view(-1),
}


@FUZZ
@given(op=st.sampled_from(sorted(VIEWS)), x=tensors(), s=SIZES, a=DIMS, b=DIMS)
def test_fuzz_views(op, x, s, a, b):
    out = call(VIEWS[op], x, s, a, b, backward=True)
    if out is not None and op in ("reshape", "view", "expand", "permute"):
        assert isinstance(out, ember.Tensor)


# ----------------------------------------------------------------------------- cat / stack
@st.composite
def tensor_lists(draw):
    base = draw(st.lists(st.integers(0, 3), min_size=0, max_size=3))
    n = draw(st.integers(0, 4))
    out = []
    for _ in range(n):
        shape = list(base)
        mode = draw(st.integers(0, 9))
        if shape and mode >= 5:  # differ in one dim (valid for cat along that dim)
            shape[draw(st.integers(0, len(shape) - 1))] = draw(st.integers(0, 3))
        if mode == 9:
            shape = draw(shapes(max_dims=4, max_side=3))
        out.append(draw(tensors(shape=tuple(shape))))
    return out


@FUZZ
@given(
    op=st.sampled_from(["cat", "stack", "concat_tuple", "cat_kw"]),
    ts=tensor_lists(),
    dim=DIMS,
)
def test_fuzz_cat_stack(op, ts, dim):
    fns = {
        "cat": lambda: ember.cat(ts, dim),
        "stack": lambda: ember.stack(ts, dim),
        "concat_tuple": lambda: ember.cat(tuple(ts), dim=dim),
        "cat_kw": lambda: ember.stack(tuple(ts), dim=dim),
    }
    call(fns[op], backward=True)


# ----------------------------------------------------------------------------- getitem / setitem
@st.composite
def index_parts(draw):
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(
            st.sampled_from(
                [
                    "int",
                    "slice",
                    "none",
                    "ellipsis",
                    "itensor",
                    "btensor",
                    "list",
                    "float",
                    "ftensor",
                ]
            )
        )
        if kind == "int":
            parts.append(draw(st.integers(-6, 6)))
        elif kind == "slice":
            opt = st.one_of(st.none(), st.integers(-7, 7))
            parts.append(slice(draw(opt), draw(opt), draw(st.sampled_from([None, 1, 2, 3, -1, 0]))))
        elif kind == "none":
            parts.append(None)
        elif kind == "ellipsis":
            parts.append(Ellipsis)
        elif kind == "itensor":
            shp = draw(shapes(max_dims=2, max_side=3))
            vals = np.random.default_rng(draw(st.integers(0, 99))).integers(-6, 7, size=shp)
            parts.append(
                ember.tensor(vals, dtype=draw(st.sampled_from([ember.int64, ember.int32])))
            )
        elif kind == "btensor":
            parts.append(draw(tensors(dtypes=["bool"], max_dims=3, grad=False)))
        elif kind == "list":
            parts.append(draw(st.lists(st.integers(-5, 5), max_size=3)))
        elif kind == "float":
            parts.append(draw(st.sampled_from([0.0, 1.5, float("nan")])))
        else:
            parts.append(draw(tensors(dtypes=["float32"], max_dims=1, grad=False)))
    if len(parts) == 1 and draw(st.booleans()):
        return parts[0]
    return tuple(parts)


@FUZZ
@given(data=st.data(), x=tensors())
def test_fuzz_getitem_setitem(data, x):
    idx = data.draw(index_parts())
    call(lambda: x[idx], backward=True)
    value = data.draw(st.one_of(st.sampled_from(WEIRD_SCALARS), tensors(max_dims=2, grad=False)))
    y = x.detach().clone()

    def setitem():
        y[idx] = value
        return y

    call(setitem)


# ----------------------------------------------------------------------------- matmul family
MATMUL = {
    "matmul": lambda a, b: ember.matmul(a, b),
    "at": lambda a, b: a @ b,
    "mm": lambda a, b: ember.mm(a, b),
    "bmm": lambda a, b: ember.bmm(a, b),
    "mv": lambda a, b: ember.mv(a, b),
    "dot": lambda a, b: ember.dot(a, b),
    "method": lambda a, b: a.matmul(b),
}


@st.composite
def matmul_operands(draw):
    m, k, n = draw(st.integers(0, 4)), draw(st.integers(0, 4)), draw(st.integers(0, 4))
    if draw(st.integers(0, 9)) < 7:  # mostly valid: broadcastable batch dims, agreeing contraction
        ba, bb = draw(
            mutually_broadcastable_shapes(num_shapes=2, max_dims=2, min_side=0, max_side=3)
        ).input_shapes
        ra, rb = draw(st.sampled_from([1, 2, 2])), draw(st.sampled_from([1, 2, 2]))
        sa = [k] if ra == 1 else list(ba) + [m, k]
        sb = [k] if rb == 1 else list(bb) + [k, n]
    else:
        sa = list(draw(shapes(max_dims=4)))
        sb = list(draw(shapes(max_dims=4)))
    dt = draw(st.sampled_from(DTYPES))
    same = draw(st.integers(0, 4)) > 0
    a = draw(tensors(shape=tuple(sa), dtypes=[dt]))
    b = draw(tensors(shape=tuple(sb), dtypes=[dt] if same else DTYPES))
    return a, b


@FUZZ
@given(op=st.sampled_from(sorted(MATMUL)), ab=matmul_operands())
def test_fuzz_matmul(op, ab):
    call(MATMUL[op], *ab, backward=True)


# ----------------------------------------------------------------------------- sort / topk / gather / index ops
def _index_tensor(draw, max_dims=4):
    shp = draw(shapes(max_dims=max_dims, max_side=4))
    vals = np.random.default_rng(draw(st.integers(0, 99))).integers(-5, 6, size=shp)
    if draw(st.integers(0, 5)) == 0:
        return ember.tensor(vals.astype(np.float32))
    if draw(st.integers(0, 3)) > 0:
        vals = np.abs(vals) % 4
    return ember.tensor(vals, dtype=draw(st.sampled_from([ember.int64, ember.int64, ember.int32])))


SORTLIKE = {
    "sort": lambda x, i, d, k, f: ember.sort(x, dim=d, descending=f, stable=not f),
    "argsort": lambda x, i, d, k, f: ember.argsort(x, dim=d, descending=f),
    "topk": lambda x, i, d, k, f: ember.topk(x, k, dim=d, largest=f, sorted=not f),
    "gather": lambda x, i, d, k, f: ember.gather(x, d, i),
    "take_along_dim": lambda x, i, d, k, f: ember.take_along_dim(x, i, d if f else None),
    "index_select": lambda x, i, d, k, f: ember.index_select(x, d, i),
    "scatter_add": lambda x, i, d, k, f: ember.scatter_add(x, d, i, x.detach()),
    "scatter_value": lambda x, i, d, k, f: ember.scatter(x, d, i, float(k)),
    "index_add": lambda x, i, d, k, f: ember.index_add(x, d, i, x),
    "nonzero": lambda x, i, d, k, f: ember.nonzero(x, as_tuple=f),
    "unique": lambda x, i, d, k, f: ember.unique(
        x, sorted=True, return_inverse=f, return_counts=not f
    ),
    "masked_fill": lambda x, i, d, k, f: x.masked_fill(i > 0 if f else i, k),
    "one_hot": lambda x, i, d, k, f: F.one_hot(i, num_classes=k),
}


@FUZZ
@given(
    op=st.sampled_from(sorted(SORTLIKE)),
    data=st.data(),
    x=tensors(),
    d=DIMS,
    k=st.integers(-2, 6),
    f=st.booleans(),
)
def test_fuzz_sort_topk_gather(op, data, x, d, k, f):
    idx = _index_tensor(data.draw, max_dims=4)
    call(SORTLIKE[op], x, idx, d, k, f, backward=True)


# ----------------------------------------------------------------------------- pad and other shape ops
SHAPE_OPS = {
    "pad": lambda x, ints, m, s, d: F.pad(
        x, ints, mode=m, value=s if isinstance(s, (int, float)) else 0.0
    ),
    "pad_default": lambda x, ints, m, s, d: F.pad(x, ints),
    "flip": lambda x, ints, m, s, d: ember.flip(x, tuple(ints)),
    "roll": lambda x, ints, m, s, d: ember.roll(x, ints[:1] * 2 if ints else 1, dims=(d, 0)),
    "roll_flat": lambda x, ints, m, s, d: ember.roll(x, sum(ints)),
    "repeat": lambda x, ints, m, s, d: (
        x.repeat(*[abs(i) % 3 for i in ints]) if ints else x.repeat()
    ),
    "tile": lambda x, ints, m, s, d: ember.tile(x, tuple(i % 3 for i in ints)),
    "tril": lambda x, ints, m, s, d: ember.tril(x, d),
    "triu": lambda x, ints, m, s, d: ember.triu(x, d),
    "split": lambda x, ints, m, s, d: ember.split(
        x, ints if len(ints) > 1 else (ints[0] if ints else 1), d
    ),
    "chunk": lambda x, ints, m, s, d: ember.chunk(x, ints[0] if ints else 0, d),
    "unbind": lambda x, ints, m, s, d: ember.unbind(x, d),
}


@FUZZ
@given(
    op=st.sampled_from(sorted(SHAPE_OPS)),
    x=tensors(),
    ints=st.lists(st.integers(-3, 4), max_size=7),
    m=st.sampled_from(["constant", "reflect", "replicate", "circular-ish"]),
    s=_scalar(),
    d=DIMS,
)
def test_fuzz_pad_and_shape_ops(op, x, ints, m, s, d):
    call(SHAPE_OPS[op], x, ints, m, s, d, backward=True)


# ----------------------------------------------------------------------------- creation
@FUZZ
@given(
    size=st.lists(st.integers(-2, 4), max_size=4),
    dt=st.sampled_from(DTYPES),
    fill=_scalar(),
    rg=st.booleans(),
)
def test_fuzz_creation(size, dt, fill, rg):
    dtype = getattr(ember, dt)
    call(lambda: ember.zeros(*size, dtype=dtype, requires_grad=rg))
    call(lambda: ember.ones(tuple(size), dtype=dtype))
    call(lambda: ember.full(tuple(size), fill, dtype=dtype))
    end = (
        fill if isinstance(fill, (int, float)) and not abs(fill) > 100 else 3
    )  # keeps nan, bounds size
    call(lambda: ember.arange(size[0] if size else 0, end, 1))
    call(lambda: ember.tensor([fill, fill] if size else fill))
    call(lambda: ember.tensor([[1, 2], [3]] if rg else [[fill], [1]]))


def test_fuzz_module_is_collected():
    # guards against every fuzz test being silently skipped (e.g. hypothesis misconfiguration)
    assert len(BINARY) > 15 and len(UNARY) > 25 and len(REDUCTIONS) > 15
    with pytest.raises(ALLOWED):
        ember.zeros(2, 3) + ember.zeros(4)
