"""Regression tests for inputs that used to crash (segfault / hang) or silently give a wrong
answer. Every call here must either return the right result or raise the named Python exception
with a message that starts with the op's name."""

import re

import numpy as np
import pytest

import ember
import ember.nn.functional as F

BIG = 2**63 - 1  # INT64_MAX


def raises(exc, op, fn):
    """fn() raises exc and the message names the op."""
    with pytest.raises(exc) as info:
        fn()
    assert re.match(rf"{re.escape(op)}\b", str(info.value)), str(info.value)


# ------------------------------------------------------------------ 0-d tensors with dim 0 / -1
# wrap_dim accepts 0 / -1 for 0-d tensors (like PyTorch); ops must not then index shape[dim].


@pytest.mark.parametrize("d", [0, -1])
def test_zero_dim_movedim_is_identity(d):
    x = ember.tensor(3.0)
    assert ember.movedim(x, d, d).shape == ()
    assert x.movedim((d,), (d,)).item() == 3.0
    raises(IndexError, "movedim", lambda: ember.movedim(x, 1, 0))


@pytest.mark.parametrize("d", [0, -1, 1])
def test_zero_dim_size_and_stride(d):
    x = ember.tensor(3.0)
    raises(IndexError, "size", lambda: x.size(d))
    raises(IndexError, "stride", lambda: x.stride(d))
    assert x.size() == () and x.stride() == ()


def test_zero_dim_flatten_checks_dims():
    x = ember.tensor(3.0)
    assert x.flatten(0, -1).shape == (1,)
    raises(IndexError, "flatten", lambda: x.flatten(3))


def test_zero_dim_nonzero_as_tuple():
    (i,) = ember.nonzero(ember.tensor(3.0), as_tuple=True)
    assert i.tolist() == [0]
    (i,) = ember.nonzero(ember.tensor(0.0), as_tuple=True)
    assert i.tolist() == []


# ------------------------------------------------------------------ sizes whose element / byte count overflows int64
# (used to allocate a wrapped-around small buffer and write past it, or spin forever in the
# allocator's size rounding)


HUGE = [
    ("zeros", lambda: ember.zeros(2**32, 2**32)),
    ("empty", lambda: ember.empty(2**61 + 1, dtype=ember.float32)),
    ("ones", lambda: ember.ones(BIG)),
    ("full", lambda: ember.full((2**40, 2**40), 1.0)),
    ("rand", lambda: ember.rand(2**62)),
    ("arange", lambda: ember.arange(2**62)),
    ("linspace", lambda: ember.linspace(0, 1, 2**62)),
    ("eye", lambda: ember.eye(2**32)),
    ("arange", lambda: ember.arange(-(2**63), BIG)),
    ("repeat", lambda: ember.tensor(1.0).repeat(BIG)),
    ("repeat", lambda: ember.zeros(3).repeat(2**62)),
    ("repeat", lambda: ember.zeros(3).tile((2**62,))),
    ("expand", lambda: ember.zeros(3).expand(2**32, 2**32, 3)),
    ("view", lambda: ember.zeros(0).view(2**32, 2**32)),
    ("reshape", lambda: ember.zeros(0).reshape(2**32, 2**32)),
    ("as_strided", lambda: ember.as_strided(ember.zeros(3), (2**62, 3), (2**62, 1))),
    ("as_strided", lambda: ember.as_strided(ember.zeros(3), (2, 2), (BIG, 1))),
    ("pad", lambda: F.pad(ember.zeros(3), (BIG, BIG))),
    ("one_hot", lambda: F.one_hot(ember.tensor([0, 1]), 2**62)),
]


@pytest.mark.parametrize("op, fn", HUGE, ids=[f"{op}{i}" for i, (op, _) in enumerate(HUGE)])
def test_huge_sizes_raise(op, fn):
    raises(ValueError, op, fn)


def test_zero_size_with_huge_sides_is_fine():
    x = ember.zeros(2**31, 2**31, 0)
    assert x.numel() == 0 and tuple(x.shape) == (2**31, 2**31, 0)
    assert x.sum().item() == 0 and tuple(x.sum(0).shape) == (2**31, 0)
    assert tuple(ember.zeros(0).reshape(2**40, 0, 2**20).shape) == (2**40, 0, 2**20)


EMPTY_BUT_HUGE = [  # an empty tensor whose nonzero sides multiply past int64 (PyTorch refuses too)
    ("zeros", lambda: ember.zeros(3, 2**62, 2**62, 0)),
    ("zeros", lambda: ember.zeros(0, 2**62, 2**62)),
    ("empty", lambda: ember.empty(2**40, 0, 2**30)),
    ("full", lambda: ember.full((2**33, 2**31, 0), 1.0)),
    ("view", lambda: ember.zeros(0).view(0, 2**62, 2**62)),
    ("reshape", lambda: ember.zeros(0).reshape(2**62, 0, 2**62)),
    ("expand", lambda: ember.zeros(1, 1, 0).expand(2**62, 2**62, 0)),
]


@pytest.mark.parametrize(
    "op, fn", EMPTY_BUT_HUGE, ids=[f"{op}{i}" for i, (op, _) in enumerate(EMPTY_BUT_HUGE)]
)
def test_empty_tensor_whose_sides_overflow_int64_is_refused(op, fn):
    # its reductions computed the product of the other sides (ember.zeros(3, 2**62, 2**62, 0).sum()
    # overflowed); the message names the op and the size
    with pytest.raises(ValueError, match=rf"{op}: size \[.*\] is too large"):
        fn()


def test_as_strided_stays_inside_the_storage():
    # the allocator rounds buffers up; a view must not reach into that slack
    raises(ValueError, "as_strided", lambda: ember.as_strided(ember.tensor(1.0), (2,), (1,)))
    x = ember.arange(4.0)
    assert ember.as_strided(x, (2, 2), (1, 2)).tolist() == [[0.0, 2.0], [1.0, 3.0]]


# ------------------------------------------------------------------ arithmetic on huge arguments
# (start + length, ceil-divisions and i + k overflowed and produced wrong shapes / results)


def test_huge_slice_steps_and_bounds():
    x = ember.arange(5.0)
    assert x[::BIG].tolist() == [0.0]
    assert x[1 :: 2**70].tolist() == [1.0]  # beyond int64: clamps like Python slicing
    assert x[: -(2**70)].tolist() == []
    assert x[-(2**70) :].tolist() == x.tolist()
    raises(IndexError, "getitem", lambda: x[2**70])
    raises(IndexError, "index", lambda: x[..., 2**70])
    raises(ValueError, "getitem", lambda: x[:: -(2**70)])


def test_huge_narrow_split_chunk():
    x = ember.arange(5.0)
    raises(ValueError, "narrow", lambda: x.narrow(0, 2, BIG))
    assert [t.tolist() for t in ember.split(x, BIG)] == [x.tolist()]
    assert [t.tolist() for t in ember.chunk(x, BIG)] == [[v] for v in x.tolist()]
    raises(ValueError, "split_with_sizes", lambda: ember.split(x, [BIG, BIG, 2 + 5]))


@pytest.mark.parametrize("k", [BIG, -(2**63), 2**62, -(2**62)])
def test_tril_triu_huge_diagonal(k):
    x = ember.arange(6.0).reshape(2, 3)
    a = np.arange(6.0).reshape(2, 3)
    kk = int(np.clip(k, -10, 10))
    assert ember.tril(x, k).tolist() == np.tril(a, kk).tolist()
    assert ember.triu(x, k).tolist() == np.triu(a, kk).tolist()


# ------------------------------------------------------------------ Python numbers that do not fit the dtype
# (the C++ float/int conversion is undefined for NaN, inf and out-of-range values)


def _int32s(n=3):
    return ember.zeros(n, dtype=ember.int32)


FILLS = {
    "fill_": lambda v: _int32s().fill_(v),
    "full": lambda v: ember.full((3,), v, dtype=ember.int32),
    "setitem": lambda v: _int32s().__setitem__(0, v),
    "scatter": lambda v: ember.scatter(_int32s(), 0, ember.tensor([0]), v),
    "masked_fill": lambda v: _int32s().masked_fill(ember.ones(3, dtype=ember.bool), v),
}


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1, float("nan"), float("inf"), 1e30])
@pytest.mark.parametrize("op", sorted(FILLS))
def test_scalar_out_of_dtype_range(op, value):
    fn = FILLS[op]
    with pytest.raises((RuntimeError, ValueError)) as info:  # masked_fill: ValueError for nan / inf
        fn(value)
    assert str(info.value).startswith(op), str(info.value)


@pytest.mark.parametrize("bound", [2**31, -(2**31) - 1, 2**40])
def test_clamp_int_bound_out_of_dtype_range(bound):
    raises(RuntimeError, "clamp", lambda: ember.clamp(_int32s(), min=bound))
    raises(RuntimeError, "clamp", lambda: _int32s().clamp(max=bound))
    # a float bound makes the result float (PyTorch's promotion): no conversion to int32
    assert ember.clamp(_int32s(), min=float(bound)).dtype == ember.float32


def test_clamp_int64_bounds_are_exact():
    # the bounds used to reach the kernel as doubles: 2**63 - 1 became 2**63, which does not fit
    x = ember.tensor([5, -5])
    assert x.clamp(min=BIG).tolist() == [BIG, BIG]
    assert x.clamp(max=-(2**63)).tolist() == [-(2**63)] * 2
    assert x.clamp(-1, 1).tolist() == [1, -1]


def test_scalar_in_dtype_range_still_converts():
    assert ember.full((2,), 2**31 - 1, dtype=ember.int32).tolist() == [2**31 - 1] * 2
    assert ember.full((1,), BIG, dtype=ember.int64).tolist() == [BIG]
    assert ember.zeros(2, dtype=ember.uint8).fill_(-1).tolist() == [255, 255]  # wraps, like PyTorch
    assert ember.zeros(2, dtype=ember.int32).fill_(-2.9).tolist() == [-2, -2]


# ------------------------------------------------------------------ Python ints beyond int64 as dims


def test_dims_beyond_int64_raise_type_error():
    x = ember.zeros(2, 3)
    for fn in (
        lambda: ember.sum(x, 2**70),
        lambda: ember.sum(x, [0, 2**70]),
        lambda: x.amax((2**70,)),
    ):
        with pytest.raises(TypeError):  # not a SystemError from a pending OverflowError
            fn()


# ------------------------------------------------------------------ more dims than the kernels track


@pytest.mark.parametrize(
    "op, fn",
    [
        ("sum", lambda x: ember.sum(x, tuple(range(1, x.ndim)))),
        ("sum", lambda x: x.sum()),
        ("amax", lambda x: ember.amax(x, tuple(range(1, x.ndim)))),
        ("mean", lambda x: x.mean(tuple(range(1, x.ndim)))),
        ("argmax", lambda x: x.argmax(0)),
    ],
    ids=["sum", "sum_all", "amax", "mean", "argmax"],
)
def test_reduction_of_more_than_25_dims(op, fn):
    # the column kernel kept one index per reduced dim in a fixed array (stack overflow)
    x = ember.ones(16).reshape([16] + [1] * 30)
    raises(ValueError, op, lambda: fn(x))


# ------------------------------------------------------------------ autograd: hooks and grads of the wrong shape


@pytest.mark.parametrize("leaf", [True, False])
def test_hook_changing_the_grad_shape_raises(leaf):
    # a leaf's hook used to silently give x.grad another shape
    x = ember.ones(2, 3, requires_grad=True)
    y = x if leaf else x * 2
    y.register_hook(lambda g: ember.ones(3, 2))
    raises(RuntimeError, "register_hook", lambda: (y * 1).sum().backward())


def test_grad_outputs_of_the_wrong_shape_raise():
    x = ember.ones(2, 3, requires_grad=True)
    raises(ValueError, "grad", lambda: ember.autograd.grad([x * 2], [x], [ember.ones(5)]))


def test_set_num_threads_rejects_huge_counts():
    raises(ValueError, "set_num_threads", lambda: ember.set_num_threads(2**31 - 1))


# ------------------------------------------------------------------ memory borrowed from read-only arrays


def test_inplace_on_a_read_only_numpy_array_raises(tmp_path):
    # writing through a read-only mapping used to segfault
    np.save(tmp_path / "a.npy", np.zeros(4, dtype=np.float32))
    a = np.load(tmp_path / "a.npy", mmap_mode="r")
    t = ember.from_numpy(a)
    raises(RuntimeError, "add", lambda: t.add_(1))
    raises(RuntimeError, "fill_", lambda: t.fill_(1))
    raises(RuntimeError, "setitem", lambda: t.__setitem__(0, 1.0))
    raises(RuntimeError, "copy_", lambda: t[1:].copy_(ember.ones(3)))
    with pytest.raises(ValueError):  # numpy's own error: the view it gets back is read-only too
        t.numpy()[0] = 1
    assert (t + 1).tolist() == [1.0] * 4 and t.clone().add_(1).tolist() == [1.0] * 4
    w = np.zeros(2, dtype=np.float32)
    ember.from_numpy(w).add_(1)  # writable arrays still share memory
    assert w.tolist() == [1.0, 1.0]
