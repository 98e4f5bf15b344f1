"""Tensor core: dtypes, metadata, type promotion, default dtype, memory stats, threads, repr."""

import gc
import os
import sys
import time

import numpy as np
import pytest

import ember
from conftest import DTYPE_BY_NAME, DTYPES, FLOAT_DTYPES, assert_close, to_np

ALL_NAMES = [d.name for d in DTYPES]


def _make(shape, name):
    """A small tensor of the given shape and dtype name, values 0/1 so every dtype holds them."""
    return ember.ones(shape, dtype=DTYPE_BY_NAME[name].ember)


# --------------------------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "alias, name",
    [
        ("float", "float32"),
        ("double", "float64"),
        ("half", "float16"),
        ("long", "int64"),
        ("int", "int32"),
    ],
)
def test_dtype_aliases(alias, name):
    assert getattr(ember, alias) == getattr(ember, name)


@pytest.mark.parametrize("d", DTYPES, ids=ALL_NAMES)
def test_dtype_repr(d):
    assert repr(d.ember) == f"ember.{d.name}"


@pytest.mark.parametrize("d", DTYPES, ids=ALL_NAMES)
def test_element_size_and_itemsize(d):
    t = ember.zeros(3, dtype=d.ember)
    assert t.dtype == d.ember
    assert t.element_size() == d.itemsize
    assert t.itemsize == d.itemsize


def test_dtypes_are_distinct():
    dts = [d.ember for d in DTYPES]
    for i, a in enumerate(dts):
        for j, b in enumerate(dts):
            assert (a == b) == (i == j)


# --------------------------------------------------------------------------------------------
# metadata
# --------------------------------------------------------------------------------------------


def contiguous_strides(shape):
    """Row-major strides in elements, PyTorch style (size-0 dims count as 1)."""
    strides, acc = [], 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= max(n, 1)
    return tuple(reversed(strides))


@pytest.mark.parametrize(
    "shape", [(), (0,), (1,), (7,), (2, 3), (13, 1, 7), (2, 0, 3), (1, 1, 1, 1)]
)
def test_shape_metadata(shape):
    t = ember.zeros(shape)
    ref = np.zeros(shape)
    assert tuple(t.shape) == shape
    assert tuple(t.size()) == shape
    assert t.ndim == len(shape) and t.dim() == len(shape)
    assert t.numel() == ref.size
    assert t.is_contiguous()
    assert t.storage_offset() == 0
    assert tuple(t.stride()) == contiguous_strides(shape)


@pytest.mark.parametrize("shape", [(2, 3, 5), (7, 1), (13,)])
def test_size_of_dim(shape):
    t = ember.zeros(shape)
    for d in range(-len(shape), len(shape)):
        assert t.size(d) == shape[d]
    assert t.shape[-1] == shape[-1]


def test_size_dim_out_of_range():
    t = ember.zeros(2, 3)
    with pytest.raises(IndexError):
        t.size(2)
    with pytest.raises(IndexError):
        t.size(-3)


def test_contiguous_strides():
    assert tuple(ember.zeros(2, 3, 5).stride()) == (15, 5, 1)
    assert tuple(ember.zeros(7).stride()) == (1,)
    assert tuple(ember.zeros(()).stride()) == ()


def test_device_is_cpu(device):
    t = ember.zeros(3, device=device)
    assert str(t.device).startswith(device)
    assert str(ember.zeros(3).device) == "cpu"


def test_metal_device_errors_or_works():
    """Without the Metal backend, device="metal" is a RuntimeError that names "metal"."""
    try:
        t = ember.zeros(2, device="metal")
    except RuntimeError as e:
        assert "metal" in str(e).lower()
    else:
        assert "metal" in str(t.device)
        assert to_np(t.to("cpu")).tolist() == [0.0, 0.0]


def test_len_and_iteration():
    t = ember.tensor([[1, 2, 3], [4, 5, 6]])
    assert len(t) == 2
    rows = list(t)
    assert len(rows) == 2
    assert [tuple(r.shape) for r in rows] == [(3,), (3,)]
    assert [to_np(r).tolist() for r in rows] == [[1, 2, 3], [4, 5, 6]]
    assert len(ember.zeros(0, 4)) == 0
    assert list(ember.zeros(0, 4)) == []


def test_iteration_1d_yields_0d():
    items = list(ember.tensor([1.5, 2.5]))
    assert [tuple(x.shape) for x in items] == [(), ()]
    assert [x.item() for x in items] == [1.5, 2.5]


def test_len_and_iter_of_0d_raise():
    t = ember.tensor(3.0)
    with pytest.raises(TypeError):
        len(t)
    with pytest.raises(TypeError):
        iter(t)


# --------------------------------------------------------------------------------------------
# type promotion (reference: PyTorch's rules, hard-coded so the tests run without torch)
# --------------------------------------------------------------------------------------------

_CATEGORY = {
    "bool": 0,
    "uint8": 1,
    "int32": 1,
    "int64": 1,
    "float16": 2,
    "bfloat16": 2,
    "float32": 2,
    "float64": 2,
}


def promote(a: str, b: str) -> str:
    """torch.promote_types for ember's dtypes."""
    if a == b:
        return a
    ca, cb = _CATEGORY[a], _CATEGORY[b]
    if ca != cb:
        return a if ca > cb else b
    if ca == 1:
        order = ["uint8", "int32", "int64"]
        return max(a, b, key=order.index)
    # floats: f16 and bf16 meet at f32
    if {a, b} == {"float16", "bfloat16"}:
        return "float32"
    order = ["float16", "bfloat16", "float32", "float64"]
    return max(a, b, key=order.index)


def promote_with_0d(dim_dtype: str, zero_dim_dtype: str) -> str:
    """result dtype of (dimensioned tensor) op (0-d tensor): the 0-d one only counts when it is
    of a higher category."""
    if _CATEGORY[zero_dim_dtype] > _CATEGORY[dim_dtype]:
        return zero_dim_dtype
    return dim_dtype


def promote_with_scalar(dtype: str, scalar) -> str:
    """result dtype of (tensor) op (python scalar) with the default dtype float32."""
    if isinstance(scalar, bool):
        return dtype
    if isinstance(scalar, int):
        return "int64" if dtype == "bool" else dtype
    return dtype if _CATEGORY[dtype] == 2 else "float32"


@pytest.mark.parametrize("a", ALL_NAMES)
@pytest.mark.parametrize("b", ALL_NAMES)
def test_promotion_tensor_tensor(a, b):
    x, y = _make((2, 3), a), _make((3,), b)
    expected = DTYPE_BY_NAME[promote(a, b)].ember
    assert (x + y).dtype == expected
    assert (y * x).dtype == expected
    assert (x == y).dtype == ember.bool


@pytest.mark.parametrize("a", ALL_NAMES)
@pytest.mark.parametrize("b", ALL_NAMES)
def test_promotion_dim_tensor_with_0d_tensor(a, b):
    x, s = _make((4,), a), _make((), b)
    expected = DTYPE_BY_NAME[promote_with_0d(a, b)].ember
    assert (x + s).dtype == expected
    assert (s + x).dtype == expected


@pytest.mark.parametrize("a", ALL_NAMES)
@pytest.mark.parametrize("b", ALL_NAMES)
def test_promotion_two_0d_tensors(a, b):
    x, y = _make((), a), _make((), b)
    assert (x + y).dtype == DTYPE_BY_NAME[promote(a, b)].ember


@pytest.mark.parametrize("a", ALL_NAMES)
@pytest.mark.parametrize("scalar", [True, 2, 2.5], ids=["bool", "int", "float"])
def test_promotion_with_python_scalar(a, scalar):
    x = _make((3,), a)
    expected = DTYPE_BY_NAME[promote_with_scalar(a, scalar)].ember
    assert (x + scalar).dtype == expected
    assert (scalar + x).dtype == expected


def test_promotion_values():
    i = ember.tensor([1, 2, 3], dtype=ember.int32)
    assert_close(i + 2.5, np.array([3.5, 4.5, 5.5], np.float32))
    u = ember.tensor([250, 1], dtype=ember.uint8)
    r = u + 10  # python ints do not upcast: uint8 wraps around like torch
    assert r.dtype == ember.uint8
    assert to_np(r).tolist() == [4, 11]
    b = ember.tensor([True, False])
    assert to_np(b + 1).tolist() == [2, 1]


# --------------------------------------------------------------------------------------------
# default dtype
# --------------------------------------------------------------------------------------------


def test_default_dtype_is_float32():
    assert ember.get_default_dtype() == ember.float32
    assert ember.tensor([1.5]).dtype == ember.float32
    assert ember.zeros(2).dtype == ember.float32
    assert ember.tensor([1, 2]).dtype == ember.int64
    assert ember.tensor([True]).dtype == ember.bool


@pytest.mark.parametrize("d", [ember.float64, ember.float32])
def test_set_default_dtype(d):
    ember.set_default_dtype(d)
    assert ember.get_default_dtype() == d
    assert ember.tensor([1.5, 2.0]).dtype == d
    assert ember.tensor(0.5).dtype == d
    assert ember.zeros(2).dtype == d
    assert ember.ones(2, 3).dtype == d
    assert ember.rand(2).dtype == d
    assert (ember.tensor([1, 2]) + 0.5).dtype == d
    assert ember.tensor([1, 2]).dtype == ember.int64  # ints unaffected


def test_set_default_dtype_float64_keeps_precision():
    ember.set_default_dtype(ember.float64)
    t = ember.tensor([0.1])
    assert to_np(t)[0] == 0.1  # exact in float64, not the float32 rounding


@pytest.mark.parametrize("d", ["int64", "int32", "bool", "uint8"])
def test_set_default_dtype_rejects_non_float(d):
    with pytest.raises(TypeError, match="default"):
        ember.set_default_dtype(DTYPE_BY_NAME[d].ember)
    assert ember.get_default_dtype() == ember.float32


# --------------------------------------------------------------------------------------------
# memory stats
# --------------------------------------------------------------------------------------------

MiB = 1 << 20


def _stats():
    gc.collect()
    s = ember.memory_stats()
    for k in ("allocated", "peak", "cached"):
        assert isinstance(s[k], int) and s[k] >= 0, (k, s)
    return s


def test_memory_stats_keys():
    s = _stats()
    assert s["peak"] >= s["allocated"]


def test_memory_stats_track_allocation_and_free():
    before = _stats()
    t = ember.empty(MiB // 4, dtype=ember.float32)  # 1 MiB
    during = _stats()
    assert during["allocated"] - before["allocated"] >= MiB
    assert during["peak"] >= during["allocated"]
    del t
    after = _stats()
    assert during["allocated"] - after["allocated"] >= MiB


def test_views_do_not_allocate():
    t = ember.zeros(256, 256)
    before = _stats()
    views = [t.T, t[::2], t.reshape(-1), t.unsqueeze(0), t[3]]
    assert _stats()["allocated"] - before["allocated"] < 64 * 1024
    assert len(views) == 5


def test_reset_peak_memory_stats():
    t = ember.empty(4 * MiB, dtype=ember.uint8)
    del t
    ember.reset_peak_memory_stats()
    s = _stats()
    assert s["peak"] >= s["allocated"]
    assert s["peak"] - s["allocated"] < 4 * MiB


def test_empty_cache():
    t = ember.empty(MiB, dtype=ember.uint8)
    del t
    before = _stats()
    ember.empty_cache()
    after = _stats()
    assert after["cached"] <= before["cached"]
    assert after["allocated"] == before["allocated"]


# --------------------------------------------------------------------------------------------
# threads
# --------------------------------------------------------------------------------------------


@pytest.fixture
def restore_threads():
    saved = ember.get_num_threads()
    yield
    ember.set_num_threads(saved)


def test_get_num_threads_positive():
    n = ember.get_num_threads()
    assert isinstance(n, int) and n >= 1


@pytest.mark.parametrize("n", [1, 2, 3])
def test_set_num_threads(n, restore_threads):
    ember.set_num_threads(n)
    assert ember.get_num_threads() == n


def test_set_num_threads_rejects_zero(restore_threads):
    with pytest.raises((ValueError, RuntimeError), match="thread"):
        ember.set_num_threads(0)


@pytest.mark.parametrize("n", [1, 4])
def test_results_independent_of_thread_count(n, restore_threads):
    ember.set_num_threads(n)
    a = np.random.default_rng(0).standard_normal(100_003).astype(np.float32)
    t = ember.from_numpy(a)
    assert_close(t * 2 + 1, a * 2 + 1)


def _last_cpu(tid):
    with open(f"/proc/self/task/{tid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[36])


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2,
    reason="needs Linux and two CPUs",
)
def test_worker_moves_off_the_callers_cpu(restore_threads):
    # Linux can wake a pool worker on the CPU of the thread that woke it and leave the pair
    # sharing it (half speed); a worker that finds itself there moves to a free CPU.
    allowed = os.sched_getaffinity(0)
    before = set(os.listdir("/proc/self/task"))
    ember.set_num_threads(2)
    workers = [int(t) for t in set(os.listdir("/proc/self/task")) - before]
    assert len(workers) == 1
    a = ember.ones(256, 256)
    cpu = min(allowed)
    try:
        os.sched_setaffinity(0, {cpu})
        os.sched_setaffinity(workers[0], {cpu})
        a @ a  # the worker runs beside the caller
        os.sched_setaffinity(workers[0], allowed)
        a @ a  # the worker takes this job on the caller's CPU, when it gets to run
        deadline = time.monotonic() + 2
        while _last_cpu(workers[0]) == cpu and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _last_cpu(workers[0]) != cpu
    finally:
        os.sched_setaffinity(0, allowed)


# --------------------------------------------------------------------------------------------
# repr (expected strings are PyTorch's with "torch." -> "ember.")
# --------------------------------------------------------------------------------------------

REPR_CASES = [
    (lambda: ember.tensor([1.0, 2.0]), "tensor([1., 2.])"),
    (lambda: ember.tensor([0.1, 2.25]), "tensor([0.1000, 2.2500])"),
    (lambda: ember.tensor([-1.5, 2.0]), "tensor([-1.5000,  2.0000])"),
    (lambda: ember.tensor([1, 2, 3]), "tensor([1, 2, 3])"),
    (lambda: ember.tensor([[1, 2], [3, 4]]), "tensor([[1, 2],\n        [3, 4]])"),
    (lambda: ember.tensor([True, False]), "tensor([ True, False])"),
    (lambda: ember.tensor(3.5), "tensor(3.5000)"),
    (lambda: ember.tensor(7), "tensor(7)"),
    (lambda: ember.tensor([1e10, 1.0]), "tensor([1.0000e+10, 1.0000e+00])"),
    (
        lambda: ember.tensor([1.0, 2.0], dtype=ember.float64),
        "tensor([1., 2.], dtype=ember.float64)",
    ),
    (
        lambda: ember.tensor([1.0, 2.0], dtype=ember.float16),
        "tensor([1., 2.], dtype=ember.float16)",
    ),
    (
        lambda: ember.tensor([1.0, 2.0], dtype=ember.bfloat16),
        "tensor([1., 2.], dtype=ember.bfloat16)",
    ),
    (lambda: ember.tensor([1, 2], dtype=ember.int32), "tensor([1, 2], dtype=ember.int32)"),
    (lambda: ember.tensor([1, 2], dtype=ember.uint8), "tensor([1, 2], dtype=ember.uint8)"),
    (lambda: ember.tensor([]), "tensor([])"),
    (lambda: ember.tensor([], dtype=ember.int64), "tensor([], dtype=ember.int64)"),
    (lambda: ember.zeros(2, 0), "tensor([], size=(2, 0))"),
    (lambda: ember.tensor([1.0, 2.0], requires_grad=True), "tensor([1., 2.], requires_grad=True)"),
    (
        lambda: ember.tensor([1.0, 2.0], requires_grad=True) + 1,
        "tensor([2., 3.], grad_fn=<AddBackward0>)",
    ),
    (
        lambda: ember.tensor([1.0, 2.0], requires_grad=True) * 2,
        "tensor([2., 4.], grad_fn=<MulBackward0>)",
    ),
]


@pytest.mark.parametrize("make, expected", REPR_CASES, ids=[c[1] for c in REPR_CASES])
def test_repr_matches_pytorch(make, expected):
    assert repr(make()) == expected


def test_repr_non_contiguous_view():
    t = ember.tensor([[1, 2, 3], [4, 5, 6]]).T
    assert repr(t) == "tensor([[1, 4],\n        [2, 5],\n        [3, 6]])"


@pytest.mark.parametrize("d", FLOAT_DTYPES, ids=[d.name for d in FLOAT_DTYPES])
def test_str_mentions_values(d):
    s = str(ember.tensor([1.5, -2.0], dtype=d.ember))
    assert s.startswith("tensor([") and "1.5" in s and "-2." in s
