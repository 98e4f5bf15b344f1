"""Metal elementwise kernels (metal/elementwise.metal) against the CPU backend: every unary,
binary, comparison, where, copy/cast and fill kernel, contiguous and strided (transposed,
broadcast, scalar) operands, odd shapes, NaN/inf; each run under several emulator schedules and
poisons (bit-identical). Skipped without the Metal backend (Linux: the emulator build)."""

import numpy as np
import pytest

import ember
from conftest import metal_variants, requires_metal, to_np

pytestmark = requires_metal

FLOATS = [ember.float32, ember.float16, ember.bfloat16]
NUMERIC = FLOATS + [ember.int32, ember.int64]
ALL = NUMERIC + [ember.bool]
TOL = {
    ember.float32: dict(rtol=2e-6, atol=1e-6),
    ember.float16: dict(rtol=2e-3, atol=1e-3),
    # both compute in float32 and round once: a 1-ulp float difference may flip a bf16 rounding
    ember.bfloat16: dict(rtol=8e-3, atol=1e-3),
}


def _values(shape, dtype, seed=0, special=True):
    """Deterministic test values: normals, with NaN / +-inf / 0 sprinkled in for floats."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=shape) * 3
    if dtype == ember.bool:
        return ember.tensor(v > 0)
    if dtype in (ember.int32, ember.int64):
        return ember.tensor(np.round(v).astype(np.int64)).to(dtype)
    if special and v.size >= 6:
        flat = v.reshape(-1)
        flat[[1, 3, 4, 5]] = [np.nan, np.inf, -np.inf, 0.0]
    return ember.tensor(v.astype(np.float32)).to(dtype)


def _check(metal_out, cpu_out, dtype=None):
    assert metal_out.device == "metal"
    m, c = to_np(metal_out.cpu()), to_np(cpu_out)
    assert m.dtype == c.dtype and m.shape == c.shape
    tol = TOL.get(dtype, dict(rtol=0, atol=0))
    if m.dtype == np.float16:
        m, c = m.astype(np.float32), c.astype(np.float32)
    np.testing.assert_allclose(m, c, equal_nan=True, **tol)


def _on_metal(fn, *cpu_args, allowed=()):
    """fn on metal copies of cpu_args, under every emulator variant, with no CPU fallback but
    the `allowed` ones."""
    args = [a.to("metal") for a in cpu_args]
    ember.metal.reset_fallback_counts()
    out = metal_variants(lambda: fn(*args))
    assert set(ember.metal.fallback_counts()) <= set(allowed), ember.metal.fallback_counts()
    return out


UNARY = [
    ("neg", lambda x: -x),
    ("abs", ember.abs),
    ("sign", ember.sign),
    ("reciprocal", ember.reciprocal),
    ("exp", ember.exp),
    ("exp2", ember.exp2),
    ("log", ember.log),
    ("log2", ember.log2),
    ("log1p", ember.log1p),
    ("expm1", ember.expm1),
    ("sqrt", ember.sqrt),
    ("rsqrt", ember.rsqrt),
    ("square", ember.square),
    ("sin", ember.sin),
    ("cos", ember.cos),
    ("tan", ember.tan),
    ("tanh", ember.tanh),
    ("sigmoid", ember.sigmoid),
    ("floor", ember.floor),
    ("ceil", ember.ceil),
    ("round", ember.round),
    ("trunc", ember.trunc),
    ("relu", ember.relu),
    ("silu", ember.nn.functional.silu),
    ("mish", ember.nn.functional.mish),
    ("gelu_tanh", lambda x: ember.nn.functional.gelu(x, approximate="tanh")),
    ("gelu", ember.nn.functional.gelu),
    ("erf", ember.erf),
    ("leaky_relu", lambda x: ember.nn.functional.leaky_relu(x, 0.1)),
    ("elu", ember.nn.functional.elu),
    ("softplus", lambda x: ember.nn.functional.softplus(x, 2.0, 5.0)),
    ("hardtanh", ember.nn.functional.hardtanh),
    ("clamp", lambda x: x.clamp(-1.0, 2.0)),
    ("clamp_min", lambda x: x.clamp(min=0.5)),
    ("clamp_max", lambda x: x.clamp(max=0.5)),
    ("nan_to_num", ember.nan_to_num),
    ("pow2", lambda x: x**2),
    ("pow3", lambda x: x**3),
    ("pow_half", lambda x: x**0.5),
    ("pow_neg1", lambda x: x**-1),
    ("pow_neg_half", lambda x: x**-0.5),
    ("pow_general", lambda x: x**1.7),
    ("rpow", lambda x: 2.0**x),
    ("isnan", ember.isnan),
    ("isinf", ember.isinf),
    ("isfinite", ember.isfinite),
    ("isposinf", ember.isposinf),
    ("isneginf", ember.isneginf),
    ("logical_not", ember.logical_not),
]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name,fn", UNARY, ids=[u[0] for u in UNARY])
def test_unary(name, fn, dtype):
    x = _values((5, 7), dtype)
    _check(_on_metal(fn, x), fn(x), dtype)
    xt = x.t()  # strided
    _check(_on_metal(fn, xt), fn(xt), dtype)


INT_UNARY = [
    ("neg", lambda x: -x),
    ("abs", ember.abs),
    ("sign", ember.sign),
    ("square", ember.square),
    ("relu", ember.relu),
    ("floor", ember.floor),
    ("round", ember.round),
    ("bitwise_not", ember.bitwise_not),
]
PREDICATES = [
    ember.isnan,
    ember.isinf,
    ember.isfinite,
    ember.isposinf,
    ember.isneginf,
    ember.logical_not,
]


@pytest.mark.parametrize("dtype", [ember.int32, ember.int64], ids=str)
def test_unary_int(dtype):
    x = _values((4, 5), dtype, 11)
    for _name, fn in INT_UNARY:
        _check(_on_metal(fn, x), fn(x))
        _check(_on_metal(fn, x.t()), fn(x.t()))


@pytest.mark.parametrize("dtype", [ember.int32, ember.int64, ember.bool], ids=str)
def test_predicates_of_any_dtype(dtype):
    x = _values((3, 4), dtype, 12)
    for fn in PREDICATES:
        _check(_on_metal(fn, x), fn(x))


@pytest.mark.parametrize("shape", [(0,), (1,), (13,), (3, 1, 5), (2, 3, 4, 5)], ids=str)
def test_unary_shapes(shape):
    x = _values(shape, ember.float32, special=False)
    _check(_on_metal(ember.tanh, x), ember.tanh(x), ember.float32)


ARITH = [
    ("add", lambda a, b: a + b),
    ("sub", lambda a, b: a - b),
    ("mul", lambda a, b: a * b),
    ("floor_divide", lambda a, b: a // b),
    ("remainder", lambda a, b: a % b),
    ("maximum", ember.maximum),
    ("minimum", ember.minimum),
    ("fmod", ember.fmod),
    ("fmax", ember.fmax),
    ("fmin", ember.fmin),
]
FLOAT_ONLY = [
    ("div", lambda a, b: a / b),
    ("pow", lambda a, b: a.abs() ** b),
    ("atan2", ember.atan2),
]
INT_ONLY = [
    ("pow", lambda a, b: a ** b.abs()),
    ("bitwise_and", lambda a, b: a & b),
    ("bitwise_or", lambda a, b: a | b),
    ("bitwise_xor", lambda a, b: a ^ b),
]
COMPARE = [
    ("eq", lambda a, b: a == b),
    ("ne", lambda a, b: a != b),
    ("lt", lambda a, b: a < b),
    ("le", lambda a, b: a <= b),
    ("gt", lambda a, b: a > b),
    ("ge", lambda a, b: a >= b),
    ("logical_and", ember.logical_and),
    ("logical_or", ember.logical_or),
    ("logical_xor", ember.logical_xor),
]


INT_CHECKED = {"floor_divide", "remainder", "fmod", "pow"}


def _nonzero(b):  # integer division ops reject a zero divisor
    return ember.where(b == 0, ember.ones_like(b), b) if b.dtype != ember.bool else b


@pytest.mark.parametrize("dtype", NUMERIC, ids=str)
def test_binary(dtype):
    ops = ARITH + (FLOAT_ONLY if dtype in FLOATS else INT_ONLY)
    a, b = _values((4, 6), dtype, 1), _nonzero(_values((4, 6), dtype, 2))
    for name, fn in ops:
        # integer // % fmod and ** first check the divisor / exponent with a reduction (CPU for now)
        # (and integer abs, used to make exponents non-negative, is not a Metal kernel yet)
        ok = ("reduce", "unary/abs") if dtype not in FLOATS and name in INT_CHECKED else ()
        _check(_on_metal(fn, a, b, allowed=ok), fn(a, b), dtype)
        # broadcast: a row and a column, and a transposed (strided) operand
        r, c = b[:1], a[:, 2:3]
        _check(_on_metal(fn, c, r, allowed=ok), fn(c, r), dtype)
        _check(_on_metal(fn, a.t(), b.t(), allowed=ok), fn(a.t(), b.t()), dtype)


@pytest.mark.parametrize("dtype", NUMERIC, ids=str)
def test_scalar_operands(dtype):
    a = _values((3, 5), dtype, 3)
    s = 2 if dtype in (ember.int32, ember.int64) else 1.5
    for fn in (
        lambda x: x + s,
        lambda x: s - x,
        lambda x: x * s,
        lambda x: x.maximum(ember.tensor(s)),
    ):
        _check(_on_metal(fn, a), fn(a), dtype)


@pytest.mark.parametrize("dtype", ALL, ids=str)
def test_comparisons(dtype):
    a, b = _values((3, 4), dtype, 4), _values((3, 4), dtype, 5)
    b = ember.where(ember.arange(12).reshape(3, 4) % 3 == 0, a, b)  # some equal pairs
    for _name, fn in COMPARE:
        _check(_on_metal(fn, a, b), fn(a, b))
        _check(_on_metal(fn, a.t(), b[:1].t()), fn(a.t(), b[:1].t()))


def test_bitwise_ops_of_bools():
    # & | ^ of bool tensors (masks combined in Python) run the logical comparison kernel
    a, b = _values((3, 4), ember.bool, 18), _values((3, 4), ember.bool, 19)
    for fn in (lambda x, y: x & y, lambda x, y: x | y, lambda x, y: x ^ y):
        _check(_on_metal(fn, a, b), fn(a, b))
        _check(_on_metal(fn, a.t(), b[:1].t()), fn(a.t(), b[:1].t()))


@pytest.mark.parametrize("dtype", ALL, ids=str)
def test_where(dtype):
    cond = _values((4, 5), ember.bool, 6)
    a, b = _values((4, 5), dtype, 7), _values((1, 5), dtype, 8)
    _check(_on_metal(ember.where, cond, a, b), ember.where(cond, a, b), dtype)
    ct, at, bt = cond.t(), a.t(), b.t()  # strided, b broadcast along its column
    _check(_on_metal(ember.where, ct, at, bt), ember.where(ct, at, bt), dtype)


@pytest.mark.parametrize("src", ALL, ids=str)
def test_copy_and_cast(src):
    x = _values((3, 4), src, 9, special=False)
    for dst in ALL:
        _check(_on_metal(lambda t, d=dst: t.to(d), x), x.to(dst))
        _check(_on_metal(lambda t, d=dst: t.t().to(d), x), x.t().to(dst))
    _check(_on_metal(lambda t: t.t().contiguous(), x), x.t().contiguous())


def test_cast_specials():
    x = ember.tensor(
        [np.nan, np.inf, -np.inf, 0.0, -0.0, 65519.0, 70000.0, 1e-8, 3.4e38, 1.00390625]
    )
    _check(_on_metal(lambda t: t.to(ember.float16), x), x.to(ember.float16), ember.float16)
    # bfloat16 rounds to nearest even exactly as the CPU does (1 + 2^-8 is a tie)
    _check(_on_metal(lambda t: t.to(ember.bfloat16), x), x.to(ember.bfloat16))
    _check(_on_metal(lambda t: t.to(ember.bool), x), x.to(ember.bool))


@pytest.mark.parametrize("dtype", ALL, ids=str)
def test_fill(dtype):
    v = True if dtype == ember.bool else 3
    for shape in [(0,), (7,), (3, 5)]:
        _check(
            _on_metal(lambda s=shape: ember.full(s, v, dtype=dtype, device="metal")),
            ember.full(shape, v, dtype=dtype),
        )
    z = ember.zeros(4, 6, dtype=dtype)
    _check(_on_metal(lambda t: t.t().fill_(v), z.to("metal")), z.clone().t().fill_(v))


def test_inplace_and_views():
    def run(a):
        a = a.clone()
        a[1:, ::2] += 1.0  # strided in-place write through a view
        a.mul_(2.0)
        return a

    x = _values((4, 6), ember.float32, 10, special=False)
    _check(_on_metal(run, x), run(x), ember.float32)


def test_declined_dtypes_fall_back_per_op():
    x = ember.tensor([1.0, 2.0], dtype=ember.float64, device="metal")
    ember.metal.reset_fallback_counts()
    y = (x + x).exp()  # no float64 on Metal GPUs
    np.testing.assert_allclose(to_np(y), np.exp([2.0, 4.0]))
    assert ember.metal.fallback_counts() == {"binary/add": 1, "unary/exp": 1}


@pytest.mark.parametrize("op", ["maximum", "where", "pow"])
def test_backward_zeros_stay_on_metal(op):
    # the backward formulas' zeros_like must be made on the gradient's device
    fns = {
        "maximum": lambda a, b: ember.maximum(a, b),
        "where": lambda a, b: ember.where(a > 0, a, b),
        "pow": lambda a, b: a.abs() ** b,
    }
    a0 = ember.tensor([[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]])
    b0 = ember.tensor([[1.0, 2.0, 0.0], [0.5, -3.0, 2.0]])
    grads = []
    for dev in ("cpu", "metal"):
        a, b = (t.detach().to(dev).requires_grad_(True) for t in (a0, b0))
        fns[op](a, b).sum().backward()
        grads.append([to_np(a.grad), to_np(b.grad)])
        assert a.grad.device == a.device and b.grad.device == b.device
    for cpu, metal in zip(*grads):
        np.testing.assert_allclose(metal, cpu, rtol=1e-6, atol=1e-6)


def test_erf_against_torch():
    # a dense sweep across the polynomial pieces (|x| < 1, 1 <= |x| < 4, beyond) and specials
    torch = pytest.importorskip("torch")
    v = np.concatenate(
        [np.linspace(-5, 5, 1001), [0.0, -0.0, 1e-30, 1e-6, 0.999999, 1.0, 3.999, 4.0]]
    )
    v = np.concatenate([v, [np.nan, np.inf, -np.inf]]).astype(np.float32)
    got = to_np(_on_metal(ember.erf, ember.tensor(v)).cpu())
    ref = torch.erf(torch.from_numpy(v)).numpy()
    np.testing.assert_allclose(got, ref, rtol=3e-7, atol=1e-7, equal_nan=True)
    assert np.signbit(got[np.where(v == 0)[0]]).tolist() == np.signbit(v[v == 0]).tolist()


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_backward(approximate, dtype):
    # forward and backward on Metal kernels only (the exact form's backward uses erf and exp)
    torch = pytest.importorskip("torch")
    x0 = _values((5, 7), ember.float32, 13, special=False)
    g0 = _values((5, 7), ember.float32, 14, special=False)
    ember.metal.reset_fallback_counts()
    x = x0.to(dtype).to("metal").requires_grad_(True)
    y = ember.nn.functional.gelu(x, approximate=approximate)
    y.backward(g0.to(dtype).to("metal"))
    assert ember.metal.fallback_counts() == {}, ember.metal.fallback_counts()
    assert x.grad.device == "metal"
    xt = torch.from_numpy(to_np(x0)).double().requires_grad_(True)
    yt = torch.nn.functional.gelu(xt, approximate=approximate)
    yt.backward(torch.from_numpy(to_np(g0)).double())
    tol = {ember.float32: 1e-5, ember.float16: 5e-3, ember.bfloat16: 3e-2}[dtype]
    np.testing.assert_allclose(to_np(y.detach().cpu()), yt.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(to_np(x.grad.cpu()), xt.grad.numpy(), rtol=tol, atol=tol)
