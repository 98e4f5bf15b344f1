"""Wrong answers found by fuzzing ember against PyTorch, each pinned by a regression test:
NaN propagation (relu family, clamp, maximum/minimum), fmod/remainder exactness and integer
division by zero, result dtypes of bool/uint8 inputs, scalar operand orders, where's condition
dtype, bmm dtypes, SDPA with head dim 0, clear TypeErrors for non-tensor arguments, and hooks or
custom backwards that return the wrong thing."""

import math
import warnings

import numpy as np
import pytest

import ember
import ember.nn as enn
import ember.nn.functional as F
from conftest import requires_torch, torch
from ember.testing import gradcheck

pytestmark = requires_torch

NAN, INF = float("nan"), float("inf")
SPECIAL = [NAN, -1.5, -0.0, 0.0, 2.5, INF, -INF, 7.0]


def same(e, t):
    """ember tensor e equals torch tensor t: dtype, shape and values (NaN == NaN, signed zeros)."""
    assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1], (e.dtype, t.dtype)
    if t.dtype == torch.bfloat16:  # NumPy has no bfloat16: compare exactly through float32
        e, t = e.float(), t.float()
    a, b = e.numpy(), t.numpy()
    assert a.shape == b.shape
    np.testing.assert_array_equal(a, b)
    if a.dtype.kind == "f":
        ok = ~np.isnan(b)  # a NaN's sign is not specified
        np.testing.assert_array_equal(np.signbit(a[ok]), np.signbit(b[ok]))


def pair(values, dtype="float32"):
    return ember.tensor(values, dtype=getattr(ember, dtype)), torch.tensor(
        values, dtype=getattr(torch, dtype)
    )


# ------------------------------------------------------------------------------------ NaN


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_relu_family_propagates_nan(dtype):
    # long enough for the vectorized loop body, with the specials in the tail too
    vals = SPECIAL * 9 + [NAN, -3.0, 3.0]
    e, t = pair(vals, dtype)
    same(ember.relu(e), torch.relu(t))
    same(F.relu(e), torch.nn.functional.relu(t))
    same(enn.ReLU()(e), torch.nn.ReLU()(t))
    same(e.clone().relu_(), t.clone().relu_())
    same(F.relu6(e), torch.nn.functional.relu6(t))
    same(F.hardtanh(e), torch.nn.functional.hardtanh(t))
    same(F.leaky_relu(e, 0.25), torch.nn.functional.leaky_relu(t, 0.25))


def test_relu_strided_and_bool():
    e, t = pair(np.array(SPECIAL * 4, dtype=np.float32).reshape(4, 8).tolist())
    same(ember.relu(e.t()), torch.relu(t.t()))
    with pytest.raises(TypeError, match="relu"):
        ember.relu(ember.tensor([True, False]))


@pytest.mark.parametrize(
    "lo, hi", [(NAN, None), (None, NAN), (NAN, 1.0), (0.0, NAN), (0.0, 1.0), (2.0, 1.0)]
)
def test_clamp_nan_bounds_and_nan_input(lo, hi):
    e, t = pair(SPECIAL * 5)
    same(ember.clamp(e, lo, hi), torch.clamp(t, lo, hi))
    same(e.clamp(min=lo, max=hi), t.clamp(min=lo, max=hi))


def test_clamp_tensor_bounds_nan():
    e, t = pair(SPECIAL)
    elo, tlo = pair([NAN, 0.0, NAN, 0.0, 0.0, 0.0, 0.0, NAN])
    same(ember.clamp(e, elo, None), torch.clamp(t, tlo, None))
    same(ember.clamp(e, None, elo), torch.clamp(t, None, tlo))


def test_maximum_minimum_propagate_nan_fmax_fmin_ignore_it():
    e, t = pair(SPECIAL * 5)
    e2, t2 = pair((SPECIAL[::-1] + [NAN, 1.0]) * 4)
    e2, t2 = e2[: e.shape[0]], t2[: t.shape[0]]
    for name in ("maximum", "minimum"):
        same(getattr(ember, name)(e, e2), getattr(torch, name)(t, t2))
    for name in ("fmax", "fmin"):
        if hasattr(ember, name):
            same(getattr(ember, name)(e, e2), getattr(torch, name)(t, t2))


# ------------------------------------------------------------------------------- fmod


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fmod_remainder_exact_and_infinite_divisor(dtype):
    xs = [1e30, -1e30, 5.5, -5.5, 0.0, -0.0, 3.0, 1e-30, NAN, INF]
    ys = [1.5954, 1.5954, INF, -INF, INF, 2.0, -0.7, 3.0, 1.0, 2.0]
    ex, tx = pair(xs, dtype)
    ey, ty = pair(ys, dtype)
    for name in ("fmod", "remainder"):
        same(getattr(ember, name)(ex, ey), getattr(torch, name)(tx, ty))
        same(getattr(ex, name)(ey), getattr(tx, name)(ty))
        for s in (INF, -INF, 1.5954, -2.0):
            same(getattr(ember, name)(ex, s), getattr(torch, name)(tx, s))
    assert ember.fmod(ember.tensor(1e30), 1.5954).item() == pytest.approx(
        math.fmod(np.float32(1e30), np.float32(1.5954))
    )


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8"])
def test_integer_fmod_remainder_floor_divide(dtype):
    rng = np.random.default_rng(0)
    lo = 0 if dtype == "uint8" else -50
    a = rng.integers(lo, 50, 40).tolist()
    b = [v if v != 0 else 3 for v in rng.integers(lo, 50, 40).tolist()]
    ea, ta = pair(a, dtype)
    eb, tb = pair(b, dtype)
    for name in ("fmod", "remainder", "floor_divide"):
        same(getattr(ember, name)(ea, eb), getattr(torch, name)(ta, tb))
        same(getattr(ember, name)(ea, 7), getattr(torch, name)(ta, 7))
        same(getattr(ember, name)(ea, 2.5), getattr(torch, name)(ta, 2.5))
        # integer division by zero raises, as in PyTorch
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            getattr(ember, name)(ea, 0)
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            getattr(ember, name)(ea, eb * 0)
    same(ea.clone().fmod_(7), ta.clone().fmod_(7))


def test_scalar_operand_orders():
    e, t = pair([2.0, -3.0, 5.5])
    ei, ti = pair([2, -3, 5], "int64")
    for name in ("remainder", "floor_divide"):
        for s in (3, 3.0, -2.5):
            same(getattr(ember, name)(s, e), getattr(torch, name)(s, t))
            same(getattr(ember, name)(s, ei), getattr(torch, name)(s, ti))
    same(ember.fmod(e, 3.0), torch.fmod(t, 3.0))
    same(ember.fmod(ei, 3), torch.fmod(ti, 3))
    same(ember.fmod(ei, 3.0), torch.fmod(ti, 3.0))
    same(7 % ei, 7 % ti)
    same(7 // ei, 7 // ti)


def test_fmod_backward():
    x = ember.tensor([5.5, -7.25, 3.0], dtype=ember.float64, requires_grad=True)
    y = ember.tensor([2.0, 1.5, -0.7], dtype=ember.float64, requires_grad=True)
    assert gradcheck(ember.fmod, (x, y))
    tx = torch.tensor([5.5, -7.25, 3.0], dtype=torch.float64, requires_grad=True)
    ty = torch.tensor([2.0, 1.5, -0.7], dtype=torch.float64, requires_grad=True)
    ember.fmod(x, y).sum().backward()
    torch.fmod(tx, ty).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy())


# ---------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int32"])
def test_result_dtypes_for_bool_and_uint8(dtype):
    e, t = pair([1, 0, 1, 1], dtype)
    same(ember.square(e), torch.square(t))
    same(ember.clamp(e, 0, 1), torch.clamp(t, 0, 1))
    same(ember.clamp(e, min=0.5), torch.clamp(t, min=0.5))
    for name in ("all", "any"):
        same(getattr(ember, name)(e), getattr(torch, name)(t))
        same(getattr(ember, name)(e, 0), getattr(torch, name)(t, 0))
        same(getattr(e, name)(), getattr(t, name)())
    same(ember.fmod(e, 2), torch.fmod(t, 2))
    same(ember.remainder(e, 2), torch.remainder(t, 2))
    for p, training in ((0.5, False), (0.0, True), (1.0, True)):
        same(F.dropout(e, p, training), torch.nn.functional.dropout(t, p, training))
    with pytest.raises(RuntimeError, match="dropout"):
        F.dropout(e, 0.5, True)


def test_fmod_of_two_bool_tensors_is_rejected():
    b = ember.tensor([True, False])
    with pytest.raises(TypeError, match="fmod"):
        ember.fmod(b, b)


def test_where_condition_dtypes():
    e, t = pair([1.0, 2.0, 3.0])
    e2, t2 = pair([-1.0, -2.0, -3.0])
    ec, tc = pair([1, 0, 7], "uint8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates uint8 conditions but still takes them
        same(ember.where(ec, e, e2), torch.where(tc, t, t2))
    for dtype in ("int64", "float32", "int32"):
        with pytest.raises(RuntimeError, match="where.*condition"):
            ember.where(ember.tensor([1, 0, 1], dtype=getattr(ember, dtype)), e, e2)


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "float16", "bfloat16", "float64"])
def test_bmm_dtypes(dtype):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 4, (2, 3, 5)).tolist()
    b = rng.integers(0, 4, (2, 5, 4)).tolist()
    ea, ta = pair(a, dtype)
    eb, tb = pair(b, dtype)
    out = ember.bmm(ea, eb)
    ref = torch.bmm(ta, tb)
    assert str(out.dtype).split(".")[-1] == str(ref.dtype).split(".")[-1]
    np.testing.assert_allclose(out.float().numpy(), ref.float().numpy())


def test_bmm_mixed_dtypes_and_bool_are_rejected():
    with pytest.raises((TypeError, RuntimeError), match="bmm"):
        ember.bmm(ember.ones(2, 2, 2), ember.ones(2, 2, 2, dtype=ember.float64))
    with pytest.raises((TypeError, RuntimeError), match="bmm"):
        ember.bmm(ember.ones(2, 2, 2, dtype=ember.bool), ember.ones(2, 2, 2, dtype=ember.bool))


# -------------------------------------------------------------------- F.* and SDPA


def test_sdpa_head_dim_zero():
    rng = np.random.default_rng(2)
    q, k = np.zeros((2, 3, 0), np.float32), np.zeros((2, 4, 0), np.float32)
    v = rng.standard_normal((2, 4, 5)).astype(np.float32)
    out = F.scaled_dot_product_attention(ember.tensor(q), ember.tensor(k), ember.tensor(v))
    ref = torch.nn.functional.scaled_dot_product_attention(
        torch.tensor(q), torch.tensor(k), torch.tensor(v)
    )
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-6, atol=1e-6)
    out0 = F.scaled_dot_product_attention(ember.tensor(q), ember.tensor(k), ember.zeros(2, 4, 0))
    assert tuple(out0.shape) == (2, 3, 0)


@pytest.mark.parametrize(
    "name, args",
    [
        ("layer_norm", (3, [3])),
        ("softmax", (3, 0)),
        ("cross_entropy", (3, None)),
        ("mse_loss", (None, 2)),
        ("gelu", (3,)),
        ("conv2d", (3, None)),
        ("max_pool2d", (3, 2)),
        ("embedding", (None, 5)),
        ("normalize", (3,)),
        ("pad", (3, [1, 1])),
        ("batch_norm", (3, None, None)),
    ],
)
def test_functional_non_tensor_argument_is_a_type_error(name, args):
    x = ember.ones(2, 3, 4, 4)
    args = tuple(x if a is None else a for a in args)
    with pytest.raises(TypeError, match=name) as info:
        getattr(F, name)(*args)
    assert "attribute" not in str(info.value)


def test_functional_check_names_the_argument():
    x = ember.ones(2, 3)
    with pytest.raises(TypeError, match="mse_loss.*'target'.*int"):
        F.mse_loss(x, 2)
    with pytest.raises(TypeError, match="layer_norm.*'input'"):
        F.layer_norm(3, [3])
    # a bad non-tensor argument that is not the problem keeps its own error
    with pytest.raises(ValueError):
        F.cross_entropy(x, ember.tensor([0, 1]), reduction="bogus")


# ------------------------------------------------------------------------------ hooks


def test_hook_returning_non_tensor_is_a_type_error():
    x = ember.ones(3, requires_grad=True)

    def my_hook(g):
        return 3

    x.register_hook(my_hook)
    with pytest.raises(TypeError, match="my_hook"):
        (x * 2).sum().backward()


def test_hook_changing_dtype_is_rejected():
    x = ember.ones(3, requires_grad=True)

    def widen(g):
        return g.double()

    x.register_hook(widen)
    with pytest.raises(RuntimeError, match="widen.*float32.*float64"):
        (x * 2).sum().backward()


def test_node_hook_returning_non_tensor():
    x = ember.ones(3, requires_grad=True)
    y = x * 2
    y.grad_fn.register_hook(lambda g: "nope")
    with pytest.raises(TypeError, match="hook"):
        y.sum().backward()


class _ReturnsInt(ember.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return 3


class _SecondNone(ember.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        return x * y

    @staticmethod
    def backward(ctx, g):
        return g, None


def test_custom_backward_returning_non_tensor_is_a_type_error():
    x = ember.ones(2, requires_grad=True)
    with pytest.raises(TypeError, match="_ReturnsInt"):
        _ReturnsInt.apply(x).sum().backward()


def test_custom_backward_none_leaves_grad_none():
    x = ember.ones(2, requires_grad=True)
    y = ember.ones(2, requires_grad=True)
    _SecondNone.apply(x, y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
    assert y.grad is None
    # through a chain: nothing reaches y's producer either
    x2 = ember.ones(2, requires_grad=True)
    y2 = ember.ones(2, requires_grad=True)
    _SecondNone.apply(x2, y2 * 3).sum().backward()
    assert y2.grad is None
    ga, gb = ember.autograd.grad(_SecondNone.apply(x, y).sum(), [x, y], allow_unused=True)
    assert gb is None and ga is not None
    with pytest.raises(RuntimeError, match="not have been used"):
        ember.autograd.grad(_SecondNone.apply(x, y).sum(), [x, y])


def test_fmax_fmin_backward():
    a = ember.tensor([1.0, NAN, 3.0, 2.0], dtype=ember.float64, requires_grad=True)
    b = ember.tensor([2.0, 1.0, NAN, 2.0], dtype=ember.float64, requires_grad=True)
    ta = torch.tensor([1.0, NAN, 3.0, 2.0], dtype=torch.float64, requires_grad=True)
    tb = torch.tensor([2.0, 1.0, NAN, 2.0], dtype=torch.float64, requires_grad=True)
    for name in ("fmax", "fmin"):
        a.grad = b.grad = ta.grad = tb.grad = None
        same(getattr(ember, name)(a, b).detach(), getattr(torch, name)(ta, tb).detach())
        getattr(ember, name)(a, b).sum().backward()
        getattr(torch, name)(ta, tb).sum().backward()
        np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())
        np.testing.assert_array_equal(b.grad.numpy(), tb.grad.numpy())
