"""Tensor +, -, *, / on two plain tensors take a fast path (the type's number slot, no
promotion/broadcast work, tiny float32 inline): every case must match the general path and
PyTorch, and everything else must still reach the bound methods."""

import numpy as np
import pytest
import torch

import ember

OPS = [
    ("add", lambda a, b: a + b),
    ("sub", lambda a, b: a - b),
    ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b),
]
DTYPES = [
    (ember.float32, torch.float32),
    (ember.float64, torch.float64),
    (ember.float16, torch.float16),
    (ember.bfloat16, torch.bfloat16),
]


@pytest.mark.parametrize("name, fn", OPS)
@pytest.mark.parametrize("dt, tdt", DTYPES)
@pytest.mark.parametrize("shape", [(), (1,), (4,), (16,), (17,), (3, 5), (2, 0, 3), (7, 13)])
def test_same_dtype_same_shape_matches_torch(name, fn, dt, tdt, shape):
    rng = np.random.default_rng(0)
    a = np.asarray(rng.standard_normal(shape), dtype=np.float32)
    b = np.asarray(rng.standard_normal(shape) + 3.0, dtype=np.float32)
    ta, tb = torch.from_numpy(a).to(tdt), torch.from_numpy(b).to(tdt)
    ea, eb = ember.from_numpy(a).to(dt), ember.from_numpy(b).to(dt)
    out = fn(ea, eb)
    ref = fn(ta, tb)
    assert out.dtype == dt and tuple(out.shape) == tuple(ref.shape)
    np.testing.assert_allclose(
        out.float().numpy(), ref.float().numpy(), rtol=1e-2 if dt != ember.float32 else 1e-6
    )
    # the method and the module function (the general path) agree with the operator
    np.testing.assert_array_equal(getattr(ember, name)(ea, eb).float().numpy(), out.float().numpy())


@pytest.mark.parametrize("name, fn", OPS)
def test_non_contiguous_and_nan_inf(name, fn):
    a = ember.tensor([[1.0, float("nan")], [float("inf"), -2.0]]).t()  # non-contiguous
    b = ember.tensor([[0.0, 2.0], [3.0, float("-inf")]])
    ta = torch.tensor([[1.0, float("nan")], [float("inf"), -2.0]]).t()
    tb = torch.tensor([[0.0, 2.0], [3.0, float("-inf")]])
    np.testing.assert_array_equal(fn(a, b).numpy(), fn(ta, tb).numpy())


@pytest.mark.parametrize("name, fn", OPS)
def test_grad_through_the_fast_path(name, fn):
    a = ember.tensor([1.5, -2.0, 3.0, 0.5], dtype=ember.float64, requires_grad=True)
    b = ember.tensor([0.5, 4.0, -1.0, 2.0], dtype=ember.float64, requires_grad=True)
    assert ember.testing.gradcheck(fn, (a, b))
    y = fn(a, b)
    assert y.grad_fn is not None and y.grad_fn.name().lower().startswith(name)


def test_everything_else_reaches_the_methods():
    a = ember.tensor([1.0, 2.0])
    assert (a + 1).tolist() == [2.0, 3.0] and (1 + a).tolist() == [2.0, 3.0]
    assert (2 - a).tolist() == [1.0, 0.0] and (2 / a).tolist() == [2.0, 1.0]
    assert (a * np.float32(2)).tolist() == [2.0, 4.0]
    i = ember.tensor([1, 2])
    assert (i / i).dtype == ember.float32 and (i + a).dtype == ember.float32  # promotion
    assert tuple((a + ember.ones(3, 1)).shape) == (3, 2)  # broadcasting
    p = ember.nn.Parameter(ember.ones(2))  # a subclass: the generic slot, same answer
    assert (p + a).tolist() == [2.0, 3.0] and (a - p).tolist() == [0.0, 1.0]
    assert (p * p).grad_fn is not None

    class Mine(ember.Tensor):
        def __radd__(self, other):
            return "mine"

    assert a + Mine(ember.ones(2)) == "mine"  # a subclass's reflected method still wins
    with pytest.raises(TypeError, match="unsupported operand"):
        a + "x"
    with pytest.raises(TypeError, match="unsupported operand"):
        None * a
    with pytest.raises(ValueError, match=r"add: shapes \[3\] and \[4\] are not broadcastable"):
        ember.ones(3) + ember.ones(4)
    with pytest.raises(TypeError, match="sub"):
        ember.tensor([True]) - ember.tensor([False])


def test_compile_records_tiny_adds():
    # the tiny inline arithmetic must not escape ember.compile's kernel trace
    def f(x, y):
        return (x + y) * y - x / y

    g = ember.compile(f)
    x, y = ember.tensor([1.0, 2.0, 3.0]), ember.tensor([2.0, 4.0, 8.0])
    for _ in range(3):
        assert g(x, y).tolist() == f(x, y).tolist()
    x2, y2 = ember.tensor([5.0, 6.0, 7.0]), ember.tensor([1.0, 2.0, 4.0])
    assert g(x2, y2).tolist() == f(x2, y2).tolist()
