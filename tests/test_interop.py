"""NumPy / DLPack / Python interop, dtype casts, clone and copy_."""

import warnings

import numpy as np
import pytest

import ember
from conftest import DTYPES, NUMPY_DTYPES, assert_equal, requires_torch, to_np, torch

NP_IDS = [d.name for d in NUMPY_DTYPES]
ALL_IDS = [d.name for d in DTYPES]


def _np_array(d, shape=(2, 3)):
    """A small NumPy array of dtype d with distinct-ish values that every dtype can hold."""
    n = int(np.prod(shape))
    a = (np.arange(n) % 2 == 1) if d.name == "bool" else np.arange(n).astype(d.numpy)
    return a.reshape(shape)


def _one(d):
    return True if d.name == "bool" else 1


def _value(d):
    return True if d.name == "bool" else 9


# --------------------------------------------------------------------------------------------
# from_numpy / .numpy(): zero-copy both ways
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", NUMPY_DTYPES, ids=NP_IDS)
def test_from_numpy_dtype_shape_values(d):
    a = _np_array(d)
    t = ember.from_numpy(a)
    assert t.dtype == d.ember
    assert tuple(t.shape) == (2, 3)
    assert_equal(t, a)


@pytest.mark.parametrize("d", NUMPY_DTYPES, ids=NP_IDS)
def test_from_numpy_is_zero_copy(d):
    a = _np_array(d)
    t = ember.from_numpy(a)
    assert t.data_ptr() == a.ctypes.data
    a[0, 0] = _value(d)  # numpy -> ember
    assert to_np(t)[0, 0] == _value(d)
    t[1, 2] = 0  # ember -> numpy
    assert a[1, 2] == 0
    t.fill_(_one(d))
    assert (a == _one(d)).all()


@pytest.mark.parametrize(
    "make",
    [
        lambda a: a.T,
        lambda a: a[::2, 1:],
        lambda a: a[:, 2],
        lambda a: a[1:, ::3],
        lambda a: a[None, :, 1:2],
    ],
    ids=["T", "step", "column", "offset_step", "newaxis"],
)
def test_from_numpy_non_contiguous(make):
    a = make(np.arange(35, dtype=np.float32).reshape(5, 7))
    t = ember.from_numpy(a)
    assert tuple(t.stride()) == tuple(s // 4 for s in a.strides)
    assert t.data_ptr() == a.ctypes.data
    assert_equal(t, a)
    a[...] = -1
    assert (to_np(t) == -1).all()


@pytest.mark.parametrize("shape", [(), (0,), (3, 0), (1,), (13,)])
def test_from_numpy_odd_shapes(shape):
    a = np.full(shape, 2.5, dtype=np.float64)
    t = ember.from_numpy(a)
    assert tuple(t.shape) == shape and t.dtype == ember.float64
    assert_equal(t, a)


def test_from_numpy_negative_strides_rejected():
    with pytest.raises(ValueError, match="from_numpy|stride"):
        ember.from_numpy(np.arange(5.0)[::-1])


@pytest.mark.parametrize("np_dtype", [np.int16, np.int8, np.uint32, np.complex64, np.object_])
def test_from_numpy_unsupported_dtype(np_dtype):
    with pytest.raises(TypeError, match="from_numpy|dtype|type"):
        ember.from_numpy(np.zeros(3, dtype=np_dtype))


def test_from_numpy_keeps_array_alive():
    t = ember.from_numpy(np.arange(1000, dtype=np.float64))
    import gc

    gc.collect()
    assert to_np(t)[999] == 999.0


@pytest.mark.parametrize("d", NUMPY_DTYPES, ids=NP_IDS)
def test_numpy_is_zero_copy(d):
    t = ember.zeros(2, 3, dtype=d.ember)
    n = t.numpy()
    assert n.dtype == d.numpy and n.shape == (2, 3)
    assert n.ctypes.data == t.data_ptr()
    n[0, 1] = _value(d)  # numpy -> ember
    assert to_np(t)[0, 1] == _value(d)
    t.fill_(_one(d))  # ember -> numpy
    assert (n == _one(d)).all()


@pytest.mark.parametrize(
    "view",
    [lambda t: t.T, lambda t: t[::2], lambda t: t[:, 1:], lambda t: t[1]],
    ids=["T", "step", "slice", "row"],
)
def test_numpy_of_view_shares_and_keeps_strides(view):
    base = ember.zeros(4, 6, dtype=ember.float64)
    v = view(base)
    n = v.numpy()
    assert n.shape == tuple(v.shape)
    assert n.strides == tuple(s * 8 for s in v.stride())
    n[...] = 3.0
    ref = np.zeros((4, 6))
    view(ref)[...] = 3.0
    assert_equal(base, ref)


def test_numpy_round_trip_is_same_memory():
    t = ember.arange(12, dtype=ember.float32).reshape(3, 4)
    u = ember.from_numpy(t.numpy())
    assert u.data_ptr() == t.data_ptr()
    u.fill_(0)
    assert (to_np(t) == 0).all()


def test_numpy_bfloat16_is_type_error():
    with pytest.raises(TypeError, match="(?i)bfloat16|bf16|numpy"):
        ember.zeros(3, dtype=ember.bfloat16).numpy()


def test_numpy_float16_has_numpy_dtype():
    n = ember.tensor([1.5, -2.0], dtype=ember.float16).numpy()
    assert n.dtype == np.float16
    assert n.tolist() == [1.5, -2.0]


def test_numpy_requires_grad_raises():
    t = ember.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="numpy"):
        t.numpy()
    n = t.detach().numpy()
    assert n.ctypes.data == t.data_ptr()


# --------------------------------------------------------------------------------------------
# __array__
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", NUMPY_DTYPES, ids=NP_IDS)
def test_np_asarray(d):
    a = _np_array(d, (3, 1, 2))
    t = ember.tensor(a)
    n = np.asarray(t)
    assert n.dtype == d.numpy
    np.testing.assert_array_equal(n, a)
    np.testing.assert_array_equal(np.array(t), a)


@pytest.mark.skipif(
    np.lib.NumpyVersion(np.__version__) < "2.0.0", reason="NumPy 2 __array__ protocol"
)
def test_array_protocol_accepts_copy_keyword():
    t = ember.tensor([1.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "__array__ doesn't accept a copy keyword" warning
        a = np.asarray(t)
        b = np.array(t, copy=True)
    b[0] = 5.0
    assert a.tolist() == [1.0, 2.0] and to_np(t).tolist() == [1.0, 2.0]


def test_np_asarray_with_dtype():
    t = ember.tensor([1, 2, 3], dtype=ember.int32)
    n = np.asarray(t, dtype=np.float64)
    assert n.dtype == np.float64 and n.tolist() == [1.0, 2.0, 3.0]


def test_np_asarray_of_non_contiguous_view():
    t = ember.arange(6).reshape(2, 3).T
    np.testing.assert_array_equal(np.asarray(t), np.arange(6).reshape(2, 3).T)


def test_numpy_functions_accept_tensors():
    t = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert np.sum(np.asarray(t)) == 10.0
    np.testing.assert_array_equal(np.asarray(t) @ np.ones(2, np.float32), [3.0, 7.0])


# --------------------------------------------------------------------------------------------
# DLPack
# --------------------------------------------------------------------------------------------


def test_dlpack_device_is_cpu():
    dev = ember.zeros(3).__dlpack_device__()
    assert tuple(int(x) for x in dev) == (1, 0)  # (kDLCPU, 0)


@pytest.mark.parametrize("d", NUMPY_DTYPES, ids=NP_IDS)
def test_dlpack_ember_to_numpy(d):
    t = ember.tensor(_np_array(d))
    n = np.from_dlpack(t)
    assert n.dtype == d.numpy
    np.testing.assert_array_equal(n, _np_array(d))
    t.fill_(_one(d))  # zero-copy
    assert (n == _one(d)).all()


@pytest.mark.parametrize("d", NUMPY_DTYPES, ids=NP_IDS)
def test_dlpack_numpy_to_ember(d):
    a = _np_array(d)
    t = ember.from_dlpack(a)
    assert t.dtype == d.ember
    assert_equal(t, a)
    a[1, 1] = _value(d)  # zero-copy
    assert to_np(t)[1, 1] == _value(d)


def test_dlpack_numpy_non_contiguous():
    a = np.arange(35, dtype=np.float32).reshape(5, 7)[::2, 1:].T
    t = ember.from_dlpack(a)
    assert tuple(t.stride()) == tuple(s // 4 for s in a.strides)
    assert_equal(t, a)
    n = np.from_dlpack(t)
    assert n.strides == a.strides
    np.testing.assert_array_equal(n, a)


@pytest.mark.parametrize("shape", [(), (0,), (2, 0), (1,), (7, 1)])
def test_dlpack_odd_shapes(shape):
    a = np.full(shape, 4.0, np.float32)
    assert_equal(ember.from_dlpack(a), a)
    np.testing.assert_array_equal(np.from_dlpack(ember.from_numpy(a)), a)


def _torch_src(d):
    return torch.arange(6).reshape(2, 3).to(d.torch)


@requires_torch
@pytest.mark.parametrize("d", DTYPES, ids=ALL_IDS)
def test_dlpack_torch_to_ember(d):
    src = _torch_src(d)
    t = ember.from_dlpack(src)
    assert t.dtype == d.ember
    assert_equal(t, src)
    src.fill_(_one(d))  # zero-copy
    assert (to_np(t) == _one(d)).all()


@requires_torch
@pytest.mark.parametrize("d", DTYPES, ids=ALL_IDS)
def test_dlpack_ember_to_torch(d):
    t = ember.arange(6).reshape(2, 3).to(d.ember)
    u = torch.from_dlpack(t)
    assert u.dtype == d.torch
    assert_equal(u, _torch_src(d))
    assert u.data_ptr() == t.data_ptr()
    t.fill_(_one(d))  # zero-copy
    assert (to_np(u) == _one(d)).all()


@requires_torch
def test_dlpack_torch_non_contiguous_both_ways():
    src = torch.arange(35.0).reshape(5, 7)[1:, ::3].T
    t = ember.from_dlpack(src)
    assert tuple(t.stride()) == tuple(src.stride())
    assert_equal(t, src)
    back = torch.from_dlpack(t)
    assert tuple(back.stride()) == tuple(src.stride())
    assert back.data_ptr() == src.data_ptr()


# --------------------------------------------------------------------------------------------
# tolist / item / Python number conversion
# --------------------------------------------------------------------------------------------

PY_TYPE = {"bool": bool, "int32": int, "int64": int, "uint8": int}


@pytest.mark.parametrize("d", DTYPES, ids=ALL_IDS)
def test_tolist_types_and_values(d):
    t = ember.tensor([[0, 1, 1], [1, 0, 1]], dtype=d.ember)
    lst = t.tolist()
    assert lst == [[0, 1, 1], [1, 0, 1]]
    assert type(lst[0][1]) is PY_TYPE.get(d.name, float)


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: ember.tensor(2.5), 2.5),
        (lambda: ember.zeros(0), []),
        (lambda: ember.zeros(2, 0), [[], []]),
        (lambda: ember.arange(6).reshape(2, 3).T, [[0, 3], [1, 4], [2, 5]]),
        (lambda: ember.arange(7)[::3], [0, 3, 6]),
        (lambda: ember.tensor([[[1.5]]]), [[[1.5]]]),
    ],
)
def test_tolist_shapes(make, expected):
    assert make().tolist() == expected


@pytest.mark.parametrize("d", DTYPES, ids=ALL_IDS)
def test_item(d):
    t = ember.tensor([[[1]]], dtype=d.ember)
    v = t.item()
    assert v == 1 and type(v) is PY_TYPE.get(d.name, float)


@pytest.mark.parametrize(
    "value, dtype",
    [
        (1.5, ember.float16),
        (-0.375, ember.bfloat16),
        (2**40, ember.int64),
        (0.1, ember.float64),
        (255, ember.uint8),
    ],
)
def test_item_exact_values(value, dtype):
    assert ember.tensor(value, dtype=dtype).item() == value


@pytest.mark.parametrize("shape", [(2,), (0,), (1, 2)])
def test_item_needs_one_element(shape):
    with pytest.raises((ValueError, RuntimeError), match="item|element"):
        ember.zeros(shape).item()


def test_python_number_conversions():
    assert float(ember.tensor([2.5])) == 2.5
    assert int(ember.tensor(7)) == 7
    assert int(ember.tensor(-2.7)) == -2
    assert bool(ember.tensor([1])) is True
    assert bool(ember.tensor(0.0)) is False


# --------------------------------------------------------------------------------------------
# casts: to(dtype), float(), ... vs NumPy astype
# --------------------------------------------------------------------------------------------

# values exactly representable in every float dtype (incl. bfloat16) and in uint8 after truncation
NONNEG = {
    "float": [0.0, 0.5, 1.5, 2.75, 7.0, 100.0, 120.5],
    "int": [0, 1, 2, 7, 100, 120, 127],
    "bool": [False, True, True, False, True, False, True],
}
NEG = {"float": [-0.5, -1.5, -2.75, -100.0, 3.0], "int": [-1, -7, -100, 5, 0]}


def _kind(d):
    return "float" if d.is_float else ("bool" if d.name == "bool" else "int")


def _src(d, values):
    """(ember tensor, NumPy reference) of dtype d holding values."""
    ref = np.array(values, dtype=d.numpy or np.float32)
    return ember.tensor(values, dtype=d.ember), ref


def _cast_ref(ref, dst):
    out = ref.astype(dst.numpy or np.float32)
    return out.astype(np.float32) if dst.name in ("float16", "bfloat16") else out


@pytest.mark.parametrize("dst", DTYPES, ids=ALL_IDS)
@pytest.mark.parametrize("src", DTYPES, ids=ALL_IDS)
def test_to_dtype_all_pairs(src, dst):
    t, ref = _src(src, NONNEG[_kind(src)])
    out = t.to(dst.ember)
    assert out.dtype == dst.ember
    assert_equal(out, _cast_ref(ref, dst))


SIGNED = [d for d in DTYPES if d.name not in ("uint8", "bool")]


@pytest.mark.parametrize("dst", [d for d in DTYPES if d.name != "uint8"], ids=lambda d: d.name)
@pytest.mark.parametrize("src", SIGNED, ids=[d.name for d in SIGNED])
def test_to_dtype_negative_values(src, dst):
    t, ref = _src(src, NEG[_kind(src)])
    assert_equal(t.to(dst.ember), _cast_ref(ref, dst))


@pytest.mark.parametrize(
    "method, dtype",
    [
        ("float", "float32"),
        ("double", "float64"),
        ("half", "float16"),
        ("bfloat16", "bfloat16"),
        ("long", "int64"),
        ("int", "int32"),
        ("bool", "bool"),
    ],
)
def test_cast_methods(method, dtype):
    t = ember.tensor([0.0, 1.5, -2.75])
    out = getattr(t, method)()
    assert out.dtype == getattr(ember, dtype)
    ref = np.array([0.0, 1.5, -2.75], np.float32).astype(
        np.bool_ if dtype == "bool" else np.float64
    )
    if dtype in ("int64", "int32"):
        ref = ref.astype(np.int64)
    np.testing.assert_array_equal(to_np(out).astype(ref.dtype), ref)


def test_integer_wraparound_casts():
    assert to_np(ember.tensor([2**31 + 5]).to(ember.int32)).tolist() == [-(2**31) + 5]
    assert to_np(ember.tensor([300, -1]).to(ember.uint8)).tolist() == [44, 255]


def test_float16_rounding_and_overflow_vs_numpy():
    a = np.random.default_rng(0).standard_normal(1000).astype(np.float32) * 10.0
    a = np.concatenate([a, np.array([70000.0, -1e6, 6e-8, 1e-5, np.inf, -np.inf], np.float32)])
    np.testing.assert_array_equal(
        to_np(ember.from_numpy(a).half()), a.astype(np.float16).astype(np.float32)
    )


@requires_torch
def test_bfloat16_rounding_vs_torch():
    a = np.random.default_rng(1).standard_normal(1000).astype(np.float32) * 100.0
    a = np.concatenate([a, np.array([1 + 2**-8, 1 + 3 * 2**-8, 3e38, -np.inf, 1e-40], np.float32)])
    expected = torch.from_numpy(a).bfloat16().float().numpy()
    np.testing.assert_array_equal(to_np(ember.from_numpy(a).bfloat16()), expected)


def test_to_nan_preserved():
    t = ember.tensor([float("nan"), 1.0])
    for d in (ember.float64, ember.float16, ember.bfloat16):
        assert np.isnan(to_np(t.to(d))[0])
    assert to_np(t.to(ember.bool)).tolist() == [True, True]


def test_to_same_dtype_and_cpu_returns_same_storage():
    t = ember.arange(5, dtype=ember.float32)
    assert t.to(ember.float32).data_ptr() == t.data_ptr()
    assert t.to("cpu").data_ptr() == t.data_ptr()
    assert t.to(device="cpu").data_ptr() == t.data_ptr()


def test_to_device_and_dtype_kwargs():
    t = ember.arange(5)
    out = t.to("cpu", ember.float64)
    assert out.dtype == ember.float64 and str(out.device) == "cpu"
    out = t.to(device="cpu", dtype=ember.float16)
    assert out.dtype == ember.float16
    assert to_np(out).tolist() == [0, 1, 2, 3, 4]


def test_cast_makes_a_copy():
    t = ember.arange(5, dtype=ember.int32)
    f = t.to(ember.float32)
    f.fill_(0)
    assert to_np(t).tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "view, np_view",
    [
        (lambda t: t.T, lambda a: a.T),
        (lambda t: t[::2, 1:], lambda a: a[::2, 1:]),
        (lambda t: t[:, :1].expand(3, 4), lambda a: np.broadcast_to(a[:, :1], (3, 4))),
    ],
)
def test_cast_of_non_contiguous(view, np_view):
    t = view(ember.arange(12).reshape(3, 4))
    ref = np_view(np.arange(12).reshape(3, 4))
    assert_equal(t.float(), ref.astype(np.float32))
    assert_equal(t.to(ember.uint8), ref.astype(np.uint8))


# --------------------------------------------------------------------------------------------
# clone / copy_
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", DTYPES, ids=ALL_IDS)
def test_clone_is_independent(d):
    t = ember.arange(6).reshape(2, 3).to(d.ember)
    c = t.clone()
    assert c.dtype == d.ember and tuple(c.shape) == (2, 3)
    assert c.data_ptr() != t.data_ptr()
    assert_equal(c, t)
    c.fill_(0)
    assert_equal(t, ember.arange(6).reshape(2, 3).to(d.ember))


@pytest.mark.parametrize(
    "make",
    [
        lambda: ember.tensor(3.0),
        lambda: ember.zeros(0, 3),
        lambda: ember.arange(12).reshape(3, 4).T[1:],
    ],
)
def test_clone_odd_inputs(make):
    t = make()
    c = t.clone()
    assert tuple(c.shape) == tuple(t.shape)
    assert_equal(c, t)


def test_copy_same_shape_returns_dst():
    dst = ember.zeros(2, 3)
    src = ember.arange(6, dtype=ember.float32).reshape(2, 3)
    out = dst.copy_(src)
    assert out.data_ptr() == dst.data_ptr()
    assert_equal(dst, np.arange(6, dtype=np.float32).reshape(2, 3))
    src.fill_(-1)  # no aliasing afterwards
    assert to_np(dst)[1, 2] == 5


@pytest.mark.parametrize(
    "dst_shape, src_shape",
    [
        ((2, 3), (3,)),
        ((4, 3), (1, 3)),
        ((2, 3), ()),
        ((2, 5), (2, 1)),
        ((2, 3, 7), (3, 1)),
        ((0, 3), (3,)),
        ((13,), (1,)),
    ],
)
def test_copy_broadcasts(dst_shape, src_shape):
    src_np = np.arange(int(np.prod(src_shape)), dtype=np.float32).reshape(src_shape) + 1
    dst = ember.zeros(dst_shape)
    dst.copy_(ember.tensor(src_np))
    assert_equal(dst, np.broadcast_to(src_np, dst_shape))


@pytest.mark.parametrize("dst", DTYPES, ids=ALL_IDS)
@pytest.mark.parametrize("src", DTYPES, ids=ALL_IDS)
def test_copy_casts_dtype(src, dst):
    t, ref = _src(src, NONNEG[_kind(src)])
    out = ember.zeros(7, dtype=dst.ember)
    out.copy_(t)
    assert out.dtype == dst.ember
    assert_equal(out, _cast_ref(ref, dst))


def test_copy_into_non_contiguous_view_writes_through():
    base = ember.zeros(3, 4)
    base.T.copy_(ember.arange(12, dtype=ember.float32).reshape(4, 3))
    assert_equal(base, np.arange(12, dtype=np.float32).reshape(4, 3).T)
    base[:, ::2].copy_(ember.tensor([-1.0, -2.0]))
    ref = np.arange(12, dtype=np.float32).reshape(4, 3).T.copy()
    ref[:, ::2] = [-1.0, -2.0]
    assert_equal(base, ref)


def test_copy_from_non_contiguous_source():
    src = ember.arange(12, dtype=ember.float64).reshape(3, 4).T[::2]
    dst = ember.empty(2, 3, dtype=ember.float32)
    dst.copy_(src)
    assert_equal(dst, np.arange(12, dtype=np.float32).reshape(3, 4).T[::2])


@pytest.mark.parametrize("dst_shape, src_shape", [((2, 3), (4,)), ((3,), (2, 3)), ((2, 3), (3, 2))])
def test_copy_bad_shape_is_value_error(dst_shape, src_shape):
    with pytest.raises(ValueError, match="copy"):
        ember.zeros(dst_shape).copy_(ember.zeros(src_shape))
