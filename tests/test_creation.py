"""Creation functions, random number generation and ember.tensor() from Python / NumPy data."""

import numpy as np
import pytest

import ember
from conftest import DTYPES, FLOAT_DTYPES, NUMPY_DTYPES, assert_close, assert_equal, to_np

DTYPE_IDS = [d.name for d in DTYPES]
SHAPES = [(), (0,), (1,), (7,), (2, 3), (13, 1), (3, 0, 2), (2, 1, 5)]


# --------------------------------------------------------------------------------------------
# zeros / ones / empty / full
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("fn, ref", [("zeros", np.zeros), ("ones", np.ones)])
def test_zeros_ones_shape_tuple(fn, ref, shape):
    t = getattr(ember, fn)(shape)
    assert tuple(t.shape) == shape
    assert t.dtype == ember.float32
    assert_equal(t, ref(shape, np.float32))


@pytest.mark.parametrize("fn", ["zeros", "ones", "empty"])
def test_size_varargs_tuple_and_list_agree(fn):
    f = getattr(ember, fn)
    assert tuple(f(2, 3, 5).shape) == (2, 3, 5)
    assert tuple(f((2, 3, 5)).shape) == (2, 3, 5)
    assert tuple(f([2, 3, 5]).shape) == (2, 3, 5)
    assert tuple(f(7).shape) == (7,)
    assert tuple(f(()).shape) == ()


@pytest.mark.parametrize("d", DTYPES, ids=DTYPE_IDS)
def test_zeros_ones_empty_dtypes(d):
    z, o, e = (f(2, 3, dtype=d.ember) for f in (ember.zeros, ember.ones, ember.empty))
    assert z.dtype == o.dtype == e.dtype == d.ember
    assert tuple(e.shape) == (2, 3)
    assert (to_np(z) == 0).all()
    assert (to_np(o) == 1).all()


@pytest.mark.parametrize("fn", ["zeros", "ones", "empty", "rand", "randn"])
def test_requires_grad_kwarg(fn):
    t = getattr(ember, fn)(2, 3, requires_grad=True)
    assert t.requires_grad and t.is_leaf
    assert not getattr(ember, fn)(2, 3).requires_grad


@pytest.mark.parametrize("fn", ["zeros", "ones", "empty", "rand", "randn"])
def test_device_cpu_kwarg(fn):
    assert str(getattr(ember, fn)(2, device="cpu").device) == "cpu"


def test_negative_size_rejected():
    with pytest.raises((ValueError, RuntimeError), match="zeros|negative"):
        ember.zeros(2, -1)


@pytest.mark.parametrize(
    "fill, dtype",
    [(1.5, ember.float32), (3, ember.int64), (True, ember.bool), (-2.0, ember.float32)],
)
def test_full_infers_dtype(fill, dtype):
    t = ember.full((2, 3), fill)
    assert t.dtype == dtype
    assert_equal(t, np.full((2, 3), fill))


@pytest.mark.parametrize("d", DTYPES, ids=DTYPE_IDS)
def test_full_dtype(d):
    t = ember.full((3, 1), 1, dtype=d.ember)
    assert t.dtype == d.ember
    assert (to_np(t) == 1).all()
    assert tuple(t.shape) == (3, 1)


@pytest.mark.parametrize("shape", [(0,), (), (13,)])
def test_full_odd_shapes(shape):
    assert_equal(ember.full(shape, 7.25), np.full(shape, 7.25, np.float32))


# --------------------------------------------------------------------------------------------
# arange / linspace / eye
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, dtype",
    [
        ((5,), ember.int64),
        ((0,), ember.int64),
        ((2, 9), ember.int64),
        ((1, 10, 3), ember.int64),
        ((5, 0, -1), ember.int64),
        ((-3, 4, 2), ember.int64),
        ((2.5,), ember.float32),
        ((0, 1, 0.1), ember.float32),
        ((1.0, 2.0, 0.25), ember.float32),
        ((3, -1.5, -0.5), ember.float32),
        ((0, 7, 7), ember.int64),
    ],
)
def test_arange(args, dtype):
    t = ember.arange(*args)
    ref = np.arange(*args)
    assert t.dtype == dtype
    assert tuple(t.shape) == ref.shape
    assert_close(t, ref, atol=1e-6)


@pytest.mark.parametrize("d", [dt for dt in DTYPES if dt.name != "bool"], ids=lambda d: d.name)
def test_arange_dtype(d):
    t = ember.arange(0, 13, dtype=d.ember)
    assert t.dtype == d.ember
    assert to_np(t).tolist() == list(range(13))


def test_arange_keyword_form():
    assert to_np(ember.arange(start=1, end=7, step=2)).tolist() == [1, 3, 5]


def test_arange_zero_step():
    with pytest.raises((ValueError, RuntimeError), match="arange|step"):
        ember.arange(0, 5, 0)


@pytest.mark.parametrize(
    "start, end, steps", [(0, 1, 5), (-1, 1, 1), (0, 10, 7), (2, 2, 3), (1.5, -3.0, 13), (0, 1, 0)]
)
def test_linspace(start, end, steps):
    t = ember.linspace(start, end, steps)
    assert t.dtype == ember.float32
    assert_close(t, np.linspace(start, end, steps), atol=1e-6)


def test_linspace_dtype():
    t = ember.linspace(0, 1, 11, dtype=ember.float64)
    assert t.dtype == ember.float64
    np.testing.assert_allclose(to_np(t), np.linspace(0, 1, 11), rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("n, m", [(3, None), (2, 4), (4, 2), (0, None), (1, 1), (7, 13)])
def test_eye(n, m):
    t = ember.eye(n) if m is None else ember.eye(n, m)
    assert t.dtype == ember.float32
    assert_equal(t, np.eye(n, m, dtype=np.float32))


@pytest.mark.parametrize("d", DTYPES, ids=DTYPE_IDS)
def test_eye_dtype(d):
    t = ember.eye(3, dtype=d.ember)
    assert t.dtype == d.ember
    assert_equal(to_np(t).astype(np.float64), np.eye(3))


# --------------------------------------------------------------------------------------------
# *_like
# --------------------------------------------------------------------------------------------

LIKE_SOURCES = [
    lambda: ember.zeros(2, 3, dtype=ember.int32),
    lambda: ember.ones(7, dtype=ember.float64),
    lambda: ember.zeros(0, 4),
    lambda: ember.zeros(3, 5).T,  # non-contiguous
    lambda: ember.zeros((), dtype=ember.float16),
]


@pytest.mark.parametrize("src", LIKE_SOURCES)
def test_zeros_ones_empty_full_like(src):
    x = src()
    shape = tuple(x.shape)
    for t, val in [(ember.zeros_like(x), 0), (ember.ones_like(x), 1), (ember.full_like(x, 1), 1)]:
        assert tuple(t.shape) == shape and t.dtype == x.dtype
        assert (to_np(t) == val).all()
    e = ember.empty_like(x)
    assert tuple(e.shape) == shape and e.dtype == x.dtype


def test_like_dtype_override():
    x = ember.zeros(2, 3, dtype=ember.int64)
    assert ember.zeros_like(x, dtype=ember.float64).dtype == ember.float64
    assert ember.ones_like(x, dtype=ember.bool).dtype == ember.bool
    t = ember.full_like(x, 2.5, dtype=ember.float32)
    assert_equal(t, np.full((2, 3), 2.5, np.float32))


def test_full_like_casts_fill_to_dtype():
    t = ember.full_like(ember.zeros(3, dtype=ember.int32), 2.9)
    assert t.dtype == ember.int32
    assert to_np(t).tolist() == [2, 2, 2]


@pytest.mark.parametrize("d", FLOAT_DTYPES, ids=[d.name for d in FLOAT_DTYPES])
def test_rand_like_randn_like(d):
    x = ember.zeros(4, 5, dtype=d.ember)
    r, n = ember.rand_like(x), ember.randn_like(x)
    assert r.dtype == n.dtype == d.ember
    assert tuple(r.shape) == tuple(n.shape) == (4, 5)
    v = to_np(r)
    assert ((v >= 0) & (v <= 1)).all()  # bf16/f16 rounding may reach 1.0
    assert np.isfinite(to_np(n)).all()


# --------------------------------------------------------------------------------------------
# random numbers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(), (0,), (7,), (13, 3)])
def test_rand_randn_shapes(shape):
    for f in (ember.rand, ember.randn):
        t = f(*shape) if shape else f(())
        assert tuple(t.shape) == shape and t.dtype == ember.float32


def test_rand_statistics():
    ember.manual_seed(0)
    v = to_np(ember.rand(20000))
    assert v.min() >= 0.0 and v.max() < 1.0
    assert abs(v.mean() - 0.5) < 0.02
    assert abs(v.var() - 1 / 12) < 0.01
    hist, _ = np.histogram(v, bins=10, range=(0, 1))
    assert hist.min() > 1600  # expected 2000 per bin


def test_randn_statistics():
    ember.manual_seed(1)
    v = to_np(ember.randn(20000))
    assert abs(v.mean()) < 0.05
    assert abs(v.std() - 1.0) < 0.05
    assert 0.6 < np.mean(np.abs(v) < 1.0) < 0.76  # ~0.683 within one sigma


@pytest.mark.parametrize("fn", ["rand", "randn"])
def test_rand_float64(fn):
    t = getattr(ember, fn)(1000, dtype=ember.float64)
    assert t.dtype == ember.float64
    assert len(np.unique(to_np(t))) == 1000


@pytest.mark.parametrize(
    "low, high, size", [(0, 10, (2000,)), (-5, 5, (50, 40)), (3, 4, (7,)), (0, 2, (0,))]
)
def test_randint(low, high, size):
    t = ember.randint(low, high, size)
    assert t.dtype == ember.int64
    assert tuple(t.shape) == size
    v = to_np(t)
    assert ((v >= low) & (v < high)).all()
    if v.size >= 2000:
        assert set(np.unique(v).tolist()) == set(range(low, high))


def test_randint_high_only():
    v = to_np(ember.randint(3, (500,)))
    assert set(np.unique(v).tolist()) == {0, 1, 2}


def test_randint_dtype():
    t = ember.randint(0, 100, (13,), dtype=ember.int32)
    assert t.dtype == ember.int32
    assert ((to_np(t) >= 0) & (to_np(t) < 100)).all()


@pytest.mark.parametrize("n", [0, 1, 2, 13, 1000])
def test_randperm_is_permutation(n):
    t = ember.randperm(n)
    assert t.dtype == ember.int64
    assert tuple(t.shape) == (n,)
    assert sorted(to_np(t).tolist()) == list(range(n))


def test_randperm_shuffles():
    ember.manual_seed(0)
    assert to_np(ember.randperm(100)).tolist() != list(range(100))


@pytest.mark.parametrize("d", FLOAT_DTYPES, ids=[d.name for d in FLOAT_DTYPES])
def test_uniform_(d):
    t = ember.zeros(5000, dtype=d.ember)
    out = t.uniform_(-2.0, 3.0)
    assert out.data_ptr() == t.data_ptr() and out.dtype == d.ember
    v = to_np(t)
    assert v.min() >= -2.0 and v.max() <= 3.0
    assert abs(v.mean() - 0.5) < 0.1


@pytest.mark.parametrize("d", FLOAT_DTYPES, ids=[d.name for d in FLOAT_DTYPES])
def test_normal_(d):
    t = ember.zeros(5000, dtype=d.ember)
    out = t.normal_(3.0, 2.0)
    assert out.data_ptr() == t.data_ptr()
    v = to_np(t)
    assert abs(v.mean() - 3.0) < 0.15
    assert abs(v.std() - 2.0) < 0.15


def test_uniform_on_non_contiguous_view_writes_only_view():
    base = ember.zeros(6, 4)
    base.T[1].uniform_(5.0, 6.0)  # column 1 of base
    v = to_np(base)
    assert ((v[:, 1] >= 5) & (v[:, 1] <= 6)).all()
    assert (np.delete(v, 1, axis=1) == 0).all()


# --------------------------------------------------------------------------------------------
# seeding and generators
# --------------------------------------------------------------------------------------------

RANDOM_FNS = [
    lambda **kw: ember.rand(3, 5, **kw),
    lambda **kw: ember.randn(7, **kw),
    lambda **kw: ember.randint(0, 1000, (13,), **kw),
    lambda **kw: ember.randperm(50, **kw),
]


@pytest.mark.parametrize("fn", RANDOM_FNS, ids=["rand", "randn", "randint", "randperm"])
def test_manual_seed_reproducible(fn):
    ember.manual_seed(1234)
    a = to_np(fn())
    ember.manual_seed(1234)
    b = to_np(fn())
    ember.manual_seed(4321)
    c = to_np(fn())
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_manual_seed_reproducible_in_place():
    ember.manual_seed(7)
    a = to_np(ember.empty(11).normal_(0, 1))
    ember.manual_seed(7)
    b = to_np(ember.empty(11).normal_(0, 1))
    np.testing.assert_array_equal(a, b)


def test_successive_draws_differ():
    ember.manual_seed(0)
    assert not np.array_equal(to_np(ember.rand(10)), to_np(ember.rand(10)))


@pytest.mark.parametrize("fn", RANDOM_FNS, ids=["rand", "randn", "randint", "randperm"])
def test_generator_reproducible(fn):
    g1 = ember.Generator().manual_seed(99)
    g2 = ember.Generator().manual_seed(99)
    np.testing.assert_array_equal(to_np(fn(generator=g1)), to_np(fn(generator=g2)))
    # the generator advances
    g3 = ember.Generator().manual_seed(99)
    first = to_np(fn(generator=g3))
    assert not np.array_equal(first, to_np(fn(generator=g3)))


def test_generator_does_not_touch_global_state():
    ember.manual_seed(5)
    expected = to_np(ember.rand(8))
    ember.manual_seed(5)
    g = ember.Generator().manual_seed(5)
    ember.rand(100, generator=g)
    np.testing.assert_array_equal(to_np(ember.rand(8)), expected)


def test_generator_manual_seed_returns_generator():
    g = ember.Generator()
    assert g.manual_seed(3) is g


# --------------------------------------------------------------------------------------------
# ember.tensor()
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, dtype",
    [
        ([1, 2, 3], ember.int64),
        ([1.0, 2.5], ember.float32),
        ([1, 2.5], ember.float32),
        ([True, False], ember.bool),
        ([[1, 2], [3, 4], [5, 6]], ember.int64),
        ([[[1.5]], [[2.5]]], ember.float32),
        ([], ember.float32),
        ([[], []], ember.float32),
        ([[1], [2], [3], [4], [5], [6], [7]], ember.int64),
    ],
)
def test_tensor_from_nested_lists(data, dtype):
    t = ember.tensor(data)
    ref = np.array(data, dtype=np.float64 if dtype == ember.float32 else None)
    assert t.dtype == dtype
    assert tuple(t.shape) == ref.shape
    assert to_np(t).tolist() == ref.tolist()


def test_tensor_from_tuples():
    t = ember.tensor(((1, 2), (3, 4)))
    assert tuple(t.shape) == (2, 2)
    assert to_np(t).tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize(
    "value, dtype", [(3, ember.int64), (2.5, ember.float32), (True, ember.bool), (-7, ember.int64)]
)
def test_tensor_from_scalar(value, dtype):
    t = ember.tensor(value)
    assert tuple(t.shape) == () and t.ndim == 0 and t.numel() == 1
    assert t.dtype == dtype
    assert t.item() == value


@pytest.mark.parametrize("d", NUMPY_DTYPES, ids=[d.name for d in NUMPY_DTYPES])
def test_tensor_from_numpy_keeps_dtype_and_copies(d):
    a = (np.arange(6) % 2 == 1) if d.name == "bool" else np.arange(6).astype(d.numpy)
    a = a.reshape(2, 3)
    t = ember.tensor(a)
    assert t.dtype == d.ember
    assert_equal(t, a)
    a[0, 0] = 1  # ember.tensor copies: later writes to the array are not seen
    assert to_np(t)[0, 0] == 0


@pytest.mark.parametrize("make", [lambda a: a.T, lambda a: a[::2, 1:], lambda a: a[1:4, 2]])
def test_tensor_from_non_contiguous_numpy(make):
    a = make(np.arange(35, dtype=np.float32).reshape(5, 7))
    assert_equal(ember.tensor(a), a)


def test_tensor_from_numpy_scalar():
    assert ember.tensor(np.float64(1.5)).dtype == ember.float64
    assert ember.tensor(np.array(3, dtype=np.int32)).dtype == ember.int32


def test_tensor_from_ember_tensor_copies():
    src = ember.tensor([1.0, 2.0, 3.0])
    t = ember.tensor(src)
    assert t.data_ptr() != src.data_ptr()
    src.fill_(0)
    assert to_np(t).tolist() == [1.0, 2.0, 3.0]


def test_tensor_from_list_of_tensors():
    t = ember.tensor([ember.tensor(1.5), ember.tensor(2.5)])
    assert to_np(t).tolist() == [1.5, 2.5]


@pytest.mark.parametrize("d", DTYPES, ids=DTYPE_IDS)
def test_tensor_dtype_kwarg(d):
    t = ember.tensor([[0, 1], [1, 0]], dtype=d.ember)
    assert t.dtype == d.ember
    assert to_np(t).astype(np.float64).tolist() == [[0, 1], [1, 0]]


def test_tensor_dtype_kwarg_truncates_floats():
    assert to_np(ember.tensor([1.7, -2.7], dtype=ember.int64)).tolist() == [1, -2]


def test_tensor_requires_grad():
    t = ember.tensor([1.0, 2.0], requires_grad=True)
    assert t.requires_grad and t.is_leaf and t.grad is None


def test_tensor_int_requires_grad_is_type_error():
    with pytest.raises(TypeError, match="grad"):
        ember.tensor([1, 2], requires_grad=True)


@pytest.mark.parametrize("ragged", [[[1, 2], [3]], [[[1, 2]], [[3, 4], [5, 6]]], [[1.0], []]])
def test_tensor_ragged_is_value_error(ragged):
    with pytest.raises(ValueError, match="tensor|ragged|length"):
        ember.tensor(ragged)


@pytest.mark.parametrize("mixed", [[[1, 2], 3], [1, [2, 3]]])
def test_tensor_mixed_scalars_and_lists_rejected(mixed):
    with pytest.raises((ValueError, TypeError)):  # torch says TypeError here
        ember.tensor(mixed)


def test_tensor_rejects_strings():
    with pytest.raises((TypeError, ValueError)):
        ember.tensor(["a", "b"])


def test_tensor_large_ints_keep_precision():
    t = ember.tensor([2**40 + 1, -(2**40)])
    assert t.dtype == ember.int64
    assert to_np(t).tolist() == [2**40 + 1, -(2**40)]
