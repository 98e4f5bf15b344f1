"""Element-wise ops: arithmetic, in-place, comparisons, logical/bitwise, where/clamp,
unary math, activations. Forward vs numpy (and torch when installed), backward via
ember.testing.gradcheck in float64, broadcasting and error contracts."""

import itertools
import math
import operator

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from refcheck import *  # noqa: F403  (make, check, ref, to_np, dname, ...)
from refcheck import ALL, FLOATS, INTS, check, dname, make, ref, to_np  # noqa: F401


def np_erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


# ------------------------------------------------------------------- binary arithmetic
BINOPS = {
    "add": (operator.add, np.add),
    "sub": (operator.sub, np.subtract),
    "mul": (operator.mul, np.multiply),
    "div": (operator.truediv, np.true_divide),
    "floordiv": (operator.floordiv, np.floor_divide),
    "mod": (operator.mod, np.mod),
    "pow": (operator.pow, np.power),
}
SHAPE_PAIRS = [
    ((3, 13), (3, 13)),
    ((3, 1), (1, 4)),
    ((2, 3, 5), (5,)),
    ((), (3, 2)),
    ((4, 1, 3), (7, 1)),
    ((0, 3), (3,)),
    ((1,), (0,)),
]


def operands(op, dtype, sa, sb, layout="contig"):
    ka, kb = {}, {}
    if op in ("div", "floordiv", "mod"):
        kb["nonzero"] = True
    if op in ("floordiv", "mod") and dtype in FLOATS:
        ka["step"] = kb["step"] = 0.25  # exact quotients: no floor() boundary ambiguity
    if op == "pow":
        if dtype in FLOATS:
            ka.update(low=0.5, high=2.0)
            kb.update(low=-2.0, high=2.0)
        else:
            ka.update(low=0 if dtype == "uint8" else -4, high=4)
            kb.update(low=0, high=3)
    return (
        make(sa, dtype, seed=1, layout=layout, **ka),
        make(sb, dtype, seed=2, layout=layout, **kb),
    )


def binop_dtype(op, dtype):
    return "float32" if op == "div" and dtype in INTS else dtype


@pytest.mark.parametrize("sa,sb", SHAPE_PAIRS)
@pytest.mark.parametrize("dtype", FLOATS + INTS)
@pytest.mark.parametrize("op", list(BINOPS))
def test_binary(op, dtype, sa, sb):
    fn, npfn = BINOPS[op]
    a, b = operands(op, dtype, sa, sb)
    out = fn(a, b)
    check(out, npfn(ref(a), ref(b)), dtype=binop_dtype(op, dtype))
    check_torch(out, fn, a, b)


@pytest.mark.parametrize("layout", ["step", "T"])
@pytest.mark.parametrize("dtype", ["float32", "int64"])
@pytest.mark.parametrize("op", list(BINOPS))
def test_binary_noncontiguous(op, dtype, layout):
    fn, npfn = BINOPS[op]
    a, b = operands(op, dtype, (5, 7), (5, 7), layout)
    assert not a.is_contiguous() and not b.is_contiguous()
    check(fn(a, b), npfn(ref(a), ref(b)))
    # non-contiguous with contiguous, and with a broadcast row of a non-contiguous view
    bc = b.contiguous()
    check(fn(a, bc), npfn(ref(a), ref(bc)))
    check(fn(a[1:2], bc), npfn(ref(a)[1:2], ref(bc)))


FUNC_FORMS = [
    ("add", np.add),
    ("sub", np.subtract),
    ("mul", np.multiply),
    ("div", np.true_divide),
    ("pow", np.power),
    ("remainder", np.mod),
    ("floor_divide", np.floor_divide),
]


@pytest.mark.parametrize("name,npfn", FUNC_FORMS)
def test_binary_function_and_method_forms(name, npfn):
    a = make((3, 4), "float32", low=0.5, high=3.0, step=0.25, seed=1)
    b = make((4,), "float32", seed=2, nonzero=True, step=0.25)
    expected = npfn(ref(a), ref(b))
    check(getattr(ember, name)(a, b), expected, dtype="float32")
    check(getattr(a, name)(b), expected, dtype="float32")
    check(getattr(ember, name)(a, 2), npfn(ref(a), 2), dtype="float32")


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_add_sub_alpha(dtype):
    a, b = make((3, 4), dtype, seed=1), make((4,), dtype, seed=2)
    check(ember.add(a, b, alpha=2), ref(a) + 2 * ref(b), dtype=dtype)
    check(a.add(b, alpha=3), ref(a) + 3 * ref(b), dtype=dtype)
    check(ember.sub(a, b, alpha=2), ref(a) - 2 * ref(b), dtype=dtype)


SCALAR_OPS = {
    "add": lambda x, s: x + s,
    "radd": lambda x, s: s + x,
    "sub": lambda x, s: x - s,
    "rsub": lambda x, s: s - x,
    "mul": lambda x, s: x * s,
    "rmul": lambda x, s: s * x,
    "div": lambda x, s: x / s,
    "rdiv": lambda x, s: s / x,
    "floordiv": lambda x, s: x // s,
    "rfloordiv": lambda x, s: s // x,
    "mod": lambda x, s: x % s,
    "rmod": lambda x, s: s % x,
    "pow": lambda x, s: x**s,
    "rpow": lambda x, s: s**x,
}


@pytest.mark.parametrize("scalar", [2, 2.5])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int32", "int64"])
@pytest.mark.parametrize("op", list(SCALAR_OPS))
def test_tensor_scalar(op, dtype, scalar):
    fn = SCALAR_OPS[op]
    # positive, "nice" values: no division by zero, no negative base ** float
    x = (
        make((3, 5), dtype, low=0.5, high=3.0, step=0.25)
        if dtype in FLOATS
        else make((3, 5), dtype, low=1, high=9)
    )
    out = fn(x, scalar)
    # python scalars never upcast a tensor of the same category; int tensor & float -> default
    if dtype in FLOATS:
        expected = dtype
    elif isinstance(scalar, float) or op in ("div", "rdiv"):
        expected = "float32"
    else:
        expected = dtype
    check(out, fn(ref(x), scalar), dtype=expected)
    check_torch(out, fn, x, scalar)


PROMOTION = [  # (dtype a (1-D), dtype b, b is 0-dim, expected result dtype)
    ("int32", "int64", False, "int64"),
    ("int32", "float32", False, "float32"),
    ("float32", "float64", False, "float64"),
    ("float16", "float32", False, "float32"),
    ("bfloat16", "float16", False, "float32"),
    ("uint8", "int32", False, "int32"),
    ("bool", "int32", False, "int32"),
    ("bool", "float16", False, "float16"),
    ("float32", "float64", True, "float32"),
    ("int32", "int64", True, "int32"),
    ("uint8", "int64", True, "uint8"),
    ("float16", "float64", True, "float16"),
    ("int32", "float64", True, "float64"),
    ("bool", "int64", True, "int64"),
]


@pytest.mark.parametrize("da,db,zero_dim,expected", PROMOTION)
@pytest.mark.parametrize("op", ["add", "mul"])
def test_type_promotion(op, da, db, zero_dim, expected):
    fn, npfn = BINOPS[op]
    a = make((4,), da, 0, 3) if da in INTS else make((4,), da)
    sb = () if zero_dim else (4,)
    b = make(sb, db, 0, 3, seed=5) if db in INTS else make(sb, db, seed=5)
    out = fn(a, b)
    check(out, npfn(ref(a).astype(np.float64), ref(b).astype(np.float64)), dtype=expected)


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("da,db", itertools.product(ALL, ALL))
def test_type_promotion_matrix_vs_torch(da, db):
    a = make((3,), da, low=0, high=3) if da in INTS else make((3,), da)
    b = make((3,), db, low=0, high=3, seed=2) if db in INTS else make((3,), db, seed=2)
    for fn in (operator.add, operator.mul):
        check_torch(fn(a, b), fn, a, b)
    # 0-dim tensors have lower priority than dimensioned ones
    b0 = b[0]
    check_torch(a * b0, operator.mul, a, b0)


# ------------------------------------------------------------------------ in-place ops
INPLACE = {"add_": np.add, "sub_": np.subtract, "mul_": np.multiply, "div_": np.true_divide}


@pytest.mark.parametrize(
    "name,dtype,other",
    [
        (n, d, o)
        for n, d, o in itertools.product(
            INPLACE, ["float32", "float64", "int64"], ["same", "broadcast", "scalar"]
        )
        if not (n == "div_" and d == "int64")
    ],
)
def test_inplace_methods(name, dtype, other):
    a = make((3, 4), dtype, seed=1)
    b = {
        "same": make((3, 4), dtype, seed=2, nonzero=True),
        "broadcast": make((4,), dtype, seed=2, nonzero=True),
        "scalar": 3,
    }[other]
    expected = INPLACE[name](ref(a), b if other == "scalar" else ref(b))
    view, ptr = a[1], a.data_ptr()
    r = getattr(a, name)(b)
    assert a.data_ptr() == ptr and r.data_ptr() == ptr
    check(a, expected, dtype=dtype)
    check(r, expected, dtype=dtype)
    check(view, expected[1])  # views of the tensor see the update


AUG = {
    "+=": (operator.iadd, np.add),
    "-=": (operator.isub, np.subtract),
    "*=": (operator.imul, np.multiply),
    "/=": (operator.itruediv, np.true_divide),
}


@pytest.mark.parametrize("broadcast", [False, True])
@pytest.mark.parametrize("op", list(AUG))
def test_augmented_assignment_is_inplace(op, broadcast):
    iop, npfn = AUG[op]
    a = make((3, 4), "float32", seed=1)
    b = make((4,) if broadcast else (3, 4), "float32", seed=2, nonzero=True)
    expected = npfn(ref(a), ref(b))
    alias, view = a, a[:, 1]
    a = iop(a, b)  # a op= b
    check(alias, expected, dtype="float32")
    check(view, expected[:, 1])
    assert a.data_ptr() == alias.data_ptr()


def test_augmented_assignment_scalars_keep_dtype():
    a = make((5,), "int32", seed=1)
    expected = ref(a) * 2 + 3 - 1
    a *= 2
    a += 3
    a -= 1
    check(a, expected, dtype="int32")
    h = make((5,), "float16", seed=1)
    eh = ref(h) * 2.5
    h *= 2.5
    check(h, eh, dtype="float16")


def test_inplace_through_noncontiguous_views():
    a = make((4, 6), "float64")
    expected = ref(a)
    a[:, ::2].mul_(2)
    expected[:, ::2] *= 2
    a.T.add_(1.5)
    expected += 1.5
    a[1:3, 1].sub_(make((2,), "float64", seed=3))
    expected[1:3, 1] -= ref(make((2,), "float64", seed=3))
    check(a, expected)


def test_inplace_alpha_zero_fill_clamp():
    a, b = make((3, 4), "float32", seed=1), make((4,), "float32", seed=2)
    e = ref(a) + 2 * ref(b)
    a.add_(b, alpha=2)
    check(a, e)
    a.sub_(b, alpha=0.5)
    check(a, e - 0.5 * ref(b))
    a.clamp_(min=-1.0, max=1.0)
    check(a, np.clip(e - 0.5 * ref(b), -1, 1))
    a[:, 1].fill_(7.0)
    assert np.all(to_np(a)[:, 1] == 7) and dname(a.dtype) == "float32"
    a.zero_()
    check(a, np.zeros((3, 4)), dtype="float32")
    i = make((2, 3), "int64")
    i.fill_(4)
    check(i, np.full((2, 3), 4), dtype="int64")


# -------------------------------------------------------------- neg / abs / sign / recip
UNARY_BASIC = {
    "neg": (np.negative, FLOATS + ["int32", "int64"]),
    "abs": (np.abs, FLOATS + INTS),
    "sign": (lambda x: x if x.dtype == bool else np.sign(x), FLOATS + INTS + ["bool"]),
    "reciprocal": (lambda x: 1.0 / x, FLOATS),
}
SHAPES_1 = [(7,), (3, 13), (), (0, 4)]


@pytest.mark.parametrize("shape", SHAPES_1 + ["step", "T"])
@pytest.mark.parametrize("name,dtype", [(n, d) for n, (_, ds) in UNARY_BASIC.items() for d in ds])
def test_unary_basic(name, dtype, shape):
    layout = shape if isinstance(shape, str) else "contig"
    x = make(
        (5, 7) if layout != "contig" else shape, dtype, layout=layout, nonzero=name == "reciprocal"
    )
    expected = UNARY_BASIC[name][0](ref(x))
    out = getattr(ember, name)(x)
    check(out, expected, dtype=dtype)
    check(getattr(x, name)(), expected, dtype=dtype)
    check_torch(out, getattr(torch, name) if torch else None, x)
    if name == "neg":
        check(-x, expected, dtype=dtype)
    if name == "abs":
        check(abs(x), expected, dtype=dtype)


def test_reciprocal_of_int_is_float():
    x = make((6,), "int32", nonzero=True)
    check(ember.reciprocal(x), 1.0 / ref(x), dtype="float32")


@pytest.mark.parametrize("name", list(UNARY_BASIC))
def test_unary_basic_grad(name):
    gcheck(getattr(ember, name), leaf((3, 4), away=(0.0,)))
    gcheck(lambda x: getattr(ember, name)(x.T[::2]), leaf((3, 4), seed=2, away=(0.0,)))


def test_neg_operator_grad():
    gcheck(lambda x: -x, leaf((2, 3)))


# ------------------------------------------------------------------ unary math functions
HALF_STEPS = dict(step=0.25)  # exact .5 ties exercise round-half-to-even
MATH = {  # name: (numpy reference, (low, high), extra make kwargs)
    "exp": (np.exp, (-3, 3), {}),
    "exp2": (np.exp2, (-3, 3), {}),
    "log": (np.log, (0.1, 5), {}),
    "log2": (np.log2, (0.1, 5), {}),
    "log1p": (np.log1p, (-0.9, 3), {}),
    "expm1": (np.expm1, (-3, 3), {}),
    "sqrt": (np.sqrt, (0.1, 5), {}),
    "rsqrt": (lambda x: 1 / np.sqrt(x), (0.1, 5), {}),
    "square": (np.square, (-3, 3), {}),
    "sin": (np.sin, (-3, 3), {}),
    "cos": (np.cos, (-3, 3), {}),
    "tan": (np.tan, (-1.3, 1.3), {}),
    "tanh": (np.tanh, (-3, 3), {}),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), (-3, 3), {}),
    "erf": (np_erf, (-3, 3), {}),
    "floor": (np.floor, (-3, 3), HALF_STEPS),
    "ceil": (np.ceil, (-3, 3), HALF_STEPS),
    "round": (np.round, (-3, 3), HALF_STEPS),
    "trunc": (np.trunc, (-3, 3), HALF_STEPS),
}
ROUNDING = ("floor", "ceil", "round", "trunc")


@pytest.mark.parametrize("shape", [(13,), (), (0, 5), "step", "T"])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(MATH))
def test_unary_math(name, dtype, shape):
    npfn, (lo, hi), kw = MATH[name]
    layout = shape if isinstance(shape, str) else "contig"
    x = make((4, 7) if layout != "contig" else shape, dtype, lo, hi, layout=layout, **kw)
    expected = npfn(ref(x))
    out = getattr(ember, name)(x)
    check(out, expected, dtype=dtype)
    check(getattr(x, name)(), expected, dtype=dtype)
    check_torch(out, getattr(torch, name) if torch else None, x)


def test_round_half_to_even():
    x = ember.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5])
    check(ember.round(x), [-2.0, -2.0, -0.0, 0.0, 2.0, 2.0, 4.0], dtype="float32")


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "sin", "tanh", "sigmoid", "erf"])
def test_unary_math_int_promotes_to_float(name):
    x = make((2, 5), "int32", low=1, high=9)
    out = getattr(ember, name)(x)
    check(out, MATH[name][0](ref(x).astype(np.float64)), dtype="float32")
    check_torch(out, getattr(torch, name) if torch else None, x)


@pytest.mark.parametrize("name", ROUNDING)
def test_rounding_of_int_is_identity(name):
    x = make((2, 5), "int64")
    check(getattr(ember, name)(x), ref(x), dtype="int64")


@pytest.mark.parametrize("name", list(MATH))
def test_unary_math_special_values(name):
    x = ember.tensor([0.0, -1.0, 100.0, -100.0, math.inf, -math.inf, math.nan])
    with np.errstate(all="ignore"):
        expected = MATH[name][0](to_np(x))  # float32 reference: exp(100) overflows
    out = getattr(ember, name)(x)
    check(out, expected, dtype="float32")
    check_torch(out, getattr(torch, name) if torch else None, x)


@pytest.mark.parametrize("name", list(MATH))
def test_unary_math_grad(name):
    _, (lo, hi), _ = MATH[name]
    x = leaf((3, 4), lo, hi)
    if name in ROUNDING:  # piecewise constant: stay away from integers and .5
        x = ember.tensor(np.floor(ref(x)) + 0.3, dtype=ember.float64, requires_grad=True)
    gcheck(getattr(ember, name), x)


def test_unary_math_grad_noncontiguous():
    gcheck(lambda x: ember.exp(x.T) * ember.sin(x[:, ::2].T[0]), leaf((3, 4)))


# -------------------------------------------------------------------------- comparisons
CMPS = {
    "eq": (operator.eq, np.equal),
    "ne": (operator.ne, np.not_equal),
    "lt": (operator.lt, np.less),
    "le": (operator.le, np.less_equal),
    "gt": (operator.gt, np.greater),
    "ge": (operator.ge, np.greater_equal),
}


def cmp_data(shape, dtype, seed, layout="contig"):
    if dtype in FLOATS:  # coarse grid -> plenty of equal pairs
        return make(shape, dtype, -2.0, 2.0, seed=seed, step=0.5, layout=layout)
    if dtype in INTS:
        return make(shape, dtype, 0, 3, seed=seed, layout=layout)
    return make(shape, dtype, seed=seed, layout=layout)


@pytest.mark.parametrize(
    "sa,sb", [((3, 13), (3, 13)), ((3, 1), (1, 4)), ((), (5,)), ((0, 2), (2,))]
)
@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("name", list(CMPS))
def test_comparison(name, dtype, sa, sb):
    op, npfn = CMPS[name]
    a, b = cmp_data(sa, dtype, 1), cmp_data(sb, dtype, 2)
    expected = npfn(ref(a), ref(b))
    out = op(a, b)
    check(out, expected, dtype="bool")
    check(getattr(ember, name)(a, b), expected, dtype="bool")
    check(getattr(a, name)(b), expected, dtype="bool")
    check_torch(out, op, a, b)


@pytest.mark.parametrize("name", list(CMPS))
def test_comparison_scalars_mixed_dtypes_noncontiguous(name):
    op, npfn = CMPS[name]
    i = make((3, 5), "int32", 0, 3, seed=1)
    f = cmp_data((3, 5), "float32", 2, layout="T")
    check(op(i, f), npfn(ref(i), ref(f)), dtype="bool")
    check(op(i, 0.5), npfn(ref(i), 0.5), dtype="bool")  # scalar is not truncated to int
    check(op(1, f), npfn(1, ref(f)), dtype="bool")  # reflected operator
    check(op(f, 1.0), npfn(ref(f), 1.0), dtype="bool")


def test_comparison_nan():
    x = ember.tensor([math.nan, 1.0, math.inf])
    y = ember.tensor([math.nan, math.nan, math.inf])
    check(x == x, [False, True, True])
    check(x != y, [True, True, False])
    check(x < y, [False, False, False])
    check(x >= y, [False, False, True])


# --------------------------------------------------------------------- logical / bitwise
LOGICAL = {
    "logical_and": np.logical_and,
    "logical_or": np.logical_or,
    "logical_xor": np.logical_xor,
}


@pytest.mark.parametrize("layout", ["contig", "T"])
@pytest.mark.parametrize(
    "da,db",
    [
        ("bool", "bool"),
        ("float32", "float32"),
        ("int32", "int32"),
        ("float32", "int64"),
        ("bool", "float64"),
    ],
)
@pytest.mark.parametrize("name", list(LOGICAL))
def test_logical_binary(name, da, db, layout):
    a = make((4, 3), da, 0, 2, layout=layout) if da != "bool" else make((4, 3), da, layout=layout)
    b = make((3,), db, 0, 2, seed=3) if db != "bool" else make((3,), db, seed=3)
    if da in FLOATS:
        a = ember.floor(a)  # {0., 1.}, both falsy and truthy values
    if db in FLOATS:
        b = ember.floor(b)
    expected = LOGICAL[name](ref(a), ref(b))
    check(getattr(ember, name)(a, b), expected, dtype="bool")
    check(getattr(a, name)(b), expected, dtype="bool")


@pytest.mark.parametrize("dtype", ["bool", "float32", "int64", "uint8"])
def test_logical_not(dtype):
    x = make((3, 5), dtype, 0, 2) if dtype != "bool" else make((3, 5), dtype)
    x = ember.floor(x) if dtype in FLOATS else x
    check(ember.logical_not(x), np.logical_not(ref(x)), dtype="bool")
    check(x.logical_not(), np.logical_not(ref(x)), dtype="bool")


BITWISE = {
    "&": (operator.and_, np.bitwise_and),
    "|": (operator.or_, np.bitwise_or),
    "^": (operator.xor, np.bitwise_xor),
}
BIT_LIMS = {"bool": (0, 1), "int32": (-100, 100), "int64": (-(2**40), 2**40), "uint8": (0, 255)}


@pytest.mark.parametrize("sa,sb", [((13,), (13,)), ((3, 1), (1, 4)), ((2, 3), ()), ((0,), (1,))])
@pytest.mark.parametrize("dtype", ["bool", "int32", "int64", "uint8"])
@pytest.mark.parametrize("op", list(BITWISE))
def test_bitwise(op, dtype, sa, sb):
    fn, npfn = BITWISE[op]
    a = make(sa, dtype, *BIT_LIMS[dtype], seed=1)
    b = make(sb, dtype, *BIT_LIMS[dtype], seed=2)
    out = fn(a, b)
    check(out, npfn(ref(a), ref(b)), dtype=dtype)
    check_torch(out, fn, a, b)


@pytest.mark.parametrize("dtype", ["bool", "int32", "int64", "uint8"])
def test_bitwise_not_scalar_and_noncontiguous(dtype):
    x = make((4, 6), dtype, *BIT_LIMS[dtype], layout="T")
    check(~x, np.invert(ref(x)), dtype=dtype)
    if dtype != "bool":
        check(x & 6, ref(x) & 6, dtype=dtype)
        check(x | 1, ref(x) | 1, dtype=dtype)
        check(x ^ 5, ref(x) ^ 5, dtype=dtype)


# ------------------------------------------------------------------------------- where
WHERE_SHAPES = [
    ((3, 4), (3, 4), (3, 4)),
    ((3, 1), (1, 4), (4,)),
    ((), (2, 3), ()),
    ((2, 1, 5), (3, 1), (5,)),
    ((0, 3), (3,), (1,)),
]


@pytest.mark.parametrize("sc,sx,sy", WHERE_SHAPES)
@pytest.mark.parametrize("dtype", ALL)
def test_where(dtype, sc, sx, sy):
    c, x, y = make(sc, "bool"), make(sx, dtype, seed=2), make(sy, dtype, seed=3)
    out = ember.where(c, x, y)
    check(out, np.where(ref(c), ref(x), ref(y)), dtype=dtype)
    check_torch(out, torch.where if torch else None, c, x, y)


def test_where_scalars_mixed_dtypes_noncontiguous():
    c = make((3, 4), "bool", layout="T")
    x = make((3, 4), "float16", seed=2)
    check(ember.where(c, x, 0.0), np.where(ref(c), ref(x), 0.0), dtype="float16")
    check(ember.where(c, 1.5, x), np.where(ref(c), 1.5, ref(x)), dtype="float16")
    i = make((3, 4), "int32", seed=3)
    check(ember.where(c, i, 2), np.where(ref(c), ref(i), 2), dtype="int32")
    f64 = make((4,), "float64", seed=4)
    check(
        ember.where(c, make((3, 4), "float32"), f64),
        np.where(ref(c), ref(make((3, 4), "float32")), ref(f64)),
        dtype="float64",
    )


def test_where_grad_broadcast():
    c = make((3, 4), "bool")
    x, y = leaf((3, 1), seed=1), leaf((4,), seed=2)
    gcheck(lambda x, y: ember.where(c, x, y), x, y)
    ember.where(c, x, y).sum().backward()
    assert tuple(x.grad.shape) == (3, 1) and tuple(y.grad.shape) == (4,)
    check(x.grad, ref(c).sum(1, keepdims=True).astype(np.float64))
    check(y.grad, (~ref(c)).sum(0).astype(np.float64))


# ------------------------------------------------------------------------- clamp / clip
CLAMP_BOUNDS = [(-1, 2), (None, 0), (0, None), (-0.5, 1.5), (1, -1)]  # min > max -> max


def np_clamp(x, lo, hi):
    x = np.maximum(x, lo) if lo is not None else x
    return np.minimum(x, hi) if hi is not None else x


@pytest.mark.parametrize("form", ["clamp", "clip", "method_clamp", "method_clip"])
@pytest.mark.parametrize("lo,hi", CLAMP_BOUNDS)
@pytest.mark.parametrize("dtype", FLOATS + ["int32", "int64"])
def test_clamp(dtype, lo, hi, form):
    if dtype in INTS and (isinstance(lo, float) or isinstance(hi, float)):
        lo, hi = int(lo), int(hi)  # float bounds would promote an int tensor
    x = (
        make((3, 7), dtype, layout="T")
        if dtype in FLOATS
        else make((3, 7), dtype, -3, 3, layout="T")
    )
    kw = {k: v for k, v in (("min", lo), ("max", hi)) if v is not None}
    name = form.split("_")[-1]
    out = getattr(x, name)(**kw) if form.startswith("method") else getattr(ember, name)(x, **kw)
    check(out, np_clamp(ref(x), lo, hi), dtype=dtype)


def test_clamp_tensor_bounds_and_nan():
    x = make((3, 4), "float32")
    lo, hi = make((4,), "float32", -2, 0, seed=2), make((3, 1), "float32", 0, 2, seed=3)
    check(ember.clamp(x, min=lo, max=hi), np_clamp(ref(x), ref(lo), ref(hi)), dtype="float32")
    n = ember.tensor([math.nan, -5.0, 5.0])
    check(ember.clamp(n, min=-1.0, max=1.0), [math.nan, -1.0, 1.0])


def test_clamp_grad():
    gcheck(lambda x: ember.clamp(x, min=-1.0, max=1.5), leaf((3, 4), away=(-1.0, 1.5)))
    gcheck(lambda x: ember.clip(x, max=0.5), leaf((5,), away=(0.5,)))
    x = ember.tensor([-2.0, 0.5, 2.0], dtype=ember.float64, requires_grad=True)
    ember.clamp(x, -1.0, 1.0).sum().backward()
    check(x.grad, [0.0, 1.0, 0.0])


# --------------------------------------------------------------------- maximum / minimum
@pytest.mark.parametrize("sa,sb", [((7,), (7,)), ((3, 1), (1, 4)), ((2, 3), ()), ((0, 3), (3,))])
@pytest.mark.parametrize("dtype", FLOATS + INTS)
@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum(name, dtype, sa, sb):
    a, b = make(sa, dtype, seed=1), make(sb, dtype, seed=2)
    out = getattr(ember, name)(a, b)
    check(out, getattr(np, name)(ref(a), ref(b)), dtype=dtype)
    check(getattr(a, name)(b), getattr(np, name)(ref(a), ref(b)), dtype=dtype)
    check_torch(out, getattr(torch, name) if torch else None, a, b)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_nan_promotion_noncontiguous(name):
    a = ember.tensor([math.nan, 1.0, 2.0])
    b = ember.tensor([0.0, math.nan, 3.0])
    check(getattr(ember, name)(a, b), getattr(np, name)(ref(a), ref(b)))
    i, f = make((3, 4), "int32", layout="T"), make((3, 4), "float32", seed=2, layout="step")
    check(getattr(ember, name)(i, f), getattr(np, name)(ref(i), ref(f)), dtype="float32")


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_grad(name):
    gcheck(getattr(ember, name), leaf((3, 1), seed=1), leaf((4,), seed=2))


# --------------------------------------------------------- isnan / isinf / isfinite / nan_to_num
SPECIAL = [0.0, -1.5, math.nan, math.inf, -math.inf, 3.0, -0.0, math.nan]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite"])
def test_isnan_isinf_isfinite(name, dtype):
    x = ember.tensor([SPECIAL, SPECIAL[::-1]], dtype=getattr(ember, dtype))
    expected = getattr(np, name)(np.array([SPECIAL, SPECIAL[::-1]]))
    check(getattr(ember, name)(x), expected, dtype="bool")
    check(getattr(x, name)(), expected, dtype="bool")
    check(getattr(ember, name)(x.T), expected.T, dtype="bool")


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool"])
def test_isnan_isinf_isfinite_int(dtype):
    x = make((2, 3), dtype)
    check(ember.isnan(x), np.zeros((2, 3), bool), dtype="bool")
    check(ember.isinf(x), np.zeros((2, 3), bool), dtype="bool")
    check(ember.isfinite(x), np.ones((2, 3), bool), dtype="bool")


FMAX = {
    "float32": float(np.finfo(np.float32).max),
    "float64": float(np.finfo(np.float64).max),
    "float16": 65504.0,
    "bfloat16": 3.3895313892515355e38,
}


@pytest.mark.parametrize("kw", [{}, {"nan": 1.0, "posinf": 2.0, "neginf": -2.0}, {"nan": -7.0}])
@pytest.mark.parametrize("dtype", FLOATS)
def test_nan_to_num(dtype, kw):
    x = ember.tensor(SPECIAL, dtype=getattr(ember, dtype))
    a = np.array(SPECIAL)
    expected = np.where(np.isnan(a), kw.get("nan", 0.0), a)
    expected = np.where(a == math.inf, kw.get("posinf", FMAX[dtype]), expected)
    expected = np.where(a == -math.inf, kw.get("neginf", -FMAX[dtype]), expected)
    out = ember.nan_to_num(x, **kw)
    check(out, expected, dtype=dtype)
    check(x.nan_to_num(**kw), expected, dtype=dtype)
    check_torch(out, (lambda t: torch.nan_to_num(t, **kw)) if torch else None, x)


def test_nan_to_num_grad():
    gcheck(lambda x: ember.nan_to_num(x, nan=0.0), leaf((3, 4)))


# -------------------------------------------------------------------------- activations
SQ2 = math.sqrt(2.0)


def np_softplus(x, beta=1.0, threshold=20.0):
    with np.errstate(over="ignore"):
        return np.where(beta * x > threshold, x, np.log1p(np.exp(beta * x)) / beta)


ACTS = {  # id: (function name, kwargs, numpy reference, kinks to avoid in gradcheck)
    "relu": ("relu", {}, lambda x: np.maximum(x, 0.0), (0.0,)),
    "leaky_relu": (
        "leaky_relu",
        {"negative_slope": 0.2},
        lambda x: np.where(x > 0, x, 0.2 * x),
        (0.0,),
    ),
    "leaky_relu-default": ("leaky_relu", {}, lambda x: np.where(x > 0, x, 0.01 * x), (0.0,)),
    "elu": ("elu", {"alpha": 0.5}, lambda x: np.where(x > 0, x, 0.5 * np.expm1(x)), (0.0,)),
    "elu-default": ("elu", {}, lambda x: np.where(x > 0, x, np.expm1(x)), (0.0,)),
    "gelu": ("gelu", {}, lambda x: 0.5 * x * (1 + np_erf(x / SQ2)), ()),
    "gelu-none": ("gelu", {"approximate": "none"}, lambda x: 0.5 * x * (1 + np_erf(x / SQ2)), ()),
    "gelu-tanh": (
        "gelu",
        {"approximate": "tanh"},
        lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
        (),
    ),
    "silu": ("silu", {}, lambda x: x / (1 + np.exp(-x)), ()),
    "softplus": ("softplus", {}, np_softplus, ()),
    "softplus-beta": (
        "softplus",
        {"beta": 2.0, "threshold": 5.0},
        lambda x: np_softplus(x, 2.0, 5.0),
        (2.5,),
    ),
    "mish": ("mish", {}, lambda x: x * np.tanh(np_softplus(x)), ()),
    "hardtanh": ("hardtanh", {}, lambda x: np.clip(x, -1, 1), (-1.0, 1.0)),
    "hardtanh-range": (
        "hardtanh",
        {"min_val": -0.5, "max_val": 2.0},
        lambda x: np.clip(x, -0.5, 2.0),
        (-0.5, 2.0),
    ),
}


@pytest.mark.parametrize("shape", [(13,), (), (0, 4), "step", "T"])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("act", list(ACTS))
def test_activation(act, dtype, shape):
    name, kw, npfn, _ = ACTS[act]
    layout = shape if isinstance(shape, str) else "contig"
    x = make((4, 7) if layout != "contig" else shape, dtype, layout=layout)
    out = getattr(ember, name)(x, **kw)
    check(out, npfn(ref(x)), dtype=dtype)
    check(getattr(F, name)(x, **kw), npfn(ref(x)), dtype=dtype)
    if torch is not None:
        check(out, getattr(torch.nn.functional, name)(tt(x), **kw))


@pytest.mark.parametrize("act", list(ACTS))
def test_activation_large_inputs(act):
    name, kw, npfn, _ = ACTS[act]
    x = ember.tensor([-100.0, -20.0, 20.0, 100.0, 0.0])
    with np.errstate(all="ignore"):
        expected = npfn(ref(x))
    out = getattr(F, name)(x, **kw)
    assert np.isfinite(to_np(out)).all()
    check(out, expected, dtype="float32")


@pytest.mark.parametrize("act", list(ACTS))
def test_activation_grad(act):
    name, kw, _, kinks = ACTS[act]
    gcheck(lambda x: getattr(F, name)(x, **kw), leaf((3, 5), away=kinks))
    gcheck(lambda x: getattr(ember, name)(x.T, **kw), leaf((4, 3), seed=3, away=kinks))


def test_relu_int_keeps_dtype():
    x = make((3, 4), "int32")
    check(ember.relu(x), np.maximum(ref(x), 0), dtype="int32")
    check(F.relu(x), np.maximum(ref(x), 0), dtype="int32")


# ---------------------------------------------------------------- gradients of binary ops
GRAD_PAIRS = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((), (3,)), ((3, 4), ())]
GRAD_BINOPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "mod": lambda a, b: a % b,
    "add_alpha": lambda a, b: ember.add(a, b, alpha=-2.5),
}


@pytest.mark.parametrize("sa,sb", GRAD_PAIRS)
@pytest.mark.parametrize("op", list(GRAD_BINOPS))
def test_binary_grad(op, sa, sb):
    lo = 0.5 if op in ("pow", "mod", "div") else -3.0
    a, b = leaf(sa, lo, 3.0, seed=1), leaf(sb, 0.5, 1.5, seed=2)
    gcheck(GRAD_BINOPS[op], a, b)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: 2.0 - x,
        lambda x: 3.0 / x,
        lambda x: 2.0**x,
        lambda x: x**2.5,
        lambda x: x**3,
        lambda x: x * 4 + 1,
        lambda x: x / 2,
        lambda x: x % 0.7,
    ],
)
def test_scalar_op_grad(fn):
    gcheck(fn, leaf((2, 5), 0.5, 3.0))


def test_pow_integer_exponent_negative_base_grad():
    x = leaf((6,), -3.0, -0.5)
    gcheck(lambda x: x**2, x)
    gcheck(lambda x: x**3, x)


@pytest.mark.parametrize("sa,sb", [((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((2, 3), ()), ((1,), (5,))])
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_broadcast_grad_summed_back(op, sa, sb):
    a, b = leaf(sa, 0.5, 2.0, seed=1), leaf(sb, 0.5, 2.0, seed=2)
    GRAD_BINOPS[op](a, b).sum().backward()
    assert tuple(a.grad.shape) == sa and tuple(b.grad.shape) == sb
    A, B = np.broadcast_arrays(ref(a), ref(b))
    da, db = {
        "add": (np.ones_like(A), np.ones_like(B)),
        "sub": (np.ones_like(A), -np.ones_like(B)),
        "mul": (B, A),
        "div": (1 / B, -A / B**2),
    }[op]

    def unbroadcast(g, shape):
        g = g.sum(axis=tuple(range(g.ndim - len(shape))))
        return g.sum(axis=tuple(i for i, s in enumerate(shape) if s == 1), keepdims=True)

    check(a.grad, unbroadcast(da, sa))
    check(b.grad, unbroadcast(db, sb))


# ------------------------------------------------------------------------------- errors
BROADCAST_FNS = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "lt", "logical_and"]


@pytest.mark.parametrize("name", BROADCAST_FNS)
def test_broadcast_mismatch_function(name):
    a, b = ember.ones(2, 3), ember.ones(4)
    with pytest.raises(ValueError) as ei:
        getattr(ember, name)(a, b)
    msg = str(ei.value)
    assert name in msg and "[2, 3]" in msg and "[4]" in msg, msg


@pytest.mark.parametrize(
    "op",
    [
        operator.add,
        operator.sub,
        operator.mul,
        operator.truediv,
        operator.floordiv,
        operator.mod,
        operator.pow,
        operator.lt,
        operator.eq,
    ],
)
def test_broadcast_mismatch_operator(op):
    with pytest.raises(ValueError) as ei:
        op(ember.ones(2, 3), ember.ones(4))
    assert "[2, 3]" in str(ei.value) and "[4]" in str(ei.value), str(ei.value)


def test_broadcast_mismatch_bitwise_where_inplace():
    with pytest.raises(ValueError, match=r"\[2, 3\]"):
        ember.ones(2, 3, dtype=ember.int64) & ember.ones(4, dtype=ember.int64)
    with pytest.raises(ValueError) as ei:
        ember.where(ember.ones(2, 3, dtype=ember.bool), ember.ones(4), ember.ones(2, 3))
    assert "where" in str(ei.value) and "[4]" in str(ei.value)
    with pytest.raises(ValueError) as ei:
        ember.ones(2, 3).add_(ember.ones(4))
    assert "add" in str(ei.value) and "[2, 3]" in str(ei.value) and "[4]" in str(ei.value)


@pytest.mark.parametrize("op", [operator.and_, operator.or_, operator.xor])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bitwise_on_float_is_type_error(op, dtype):
    a = ember.ones(3, dtype=getattr(ember, dtype))
    with pytest.raises(TypeError):
        op(a, a)
    with pytest.raises(TypeError):
        op(a, ember.ones(3, dtype=ember.int32))


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_bitwise_not_on_float_is_type_error(dtype):
    with pytest.raises(TypeError):
        ~ember.ones(3, dtype=getattr(ember, dtype))
