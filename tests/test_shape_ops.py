"""Shape-manipulation ops: cat stack split chunk unbind flip roll repeat tile tril triu pad
one_hot masked_fill. Forward results are compared with numpy (and torch where the semantics are
torch-specific), gradients are checked in float64 with ember.testing.gradcheck."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.testing import gradcheck

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")


# ----------------------------------------------------------------------------- helpers
def to_np(t):
    """Numpy copy of an ember tensor."""
    assert isinstance(t, ember.Tensor), f"expected an ember.Tensor, got {type(t)}"
    return np.array(t.detach().numpy(), copy=True)


def dtname(t):
    return str(t.dtype).split(".")[-1]


def rand(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def E(a, **kw):
    return ember.tensor(np.asarray(a), **kw)


def leaf(*shape, seed=0):
    return ember.tensor(rand(*shape, seed=seed), dtype=ember.float64, requires_grad=True)


def check(t, expected, exact=True):
    expected = np.asarray(expected)
    got = to_np(t)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    if exact:
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def check_seq(ts, expected):
    ts = list(ts)
    assert len(ts) == len(expected)
    for t, e in zip(ts, expected):
        check(t, e)


def t2np(t):
    return t.detach().numpy()


# ----------------------------------------------------------------------------- cat
CAT_CASES = [
    ([(2, 3), (4, 3)], 0),
    ([(2, 3), (2, 5)], 1),
    ([(2, 3), (2, 1), (2, 7)], -1),
    ([(1, 2, 3), (4, 2, 3)], -3),
    ([(3, 0, 2), (3, 4, 2)], 1),
    ([(0, 3), (0, 3)], 0),
    ([(5,)], 0),
    ([(2, 1, 3)] * 4, 1),
    ([(1,), (1,), (1,)], 0),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32, np.bool_])
@pytest.mark.parametrize("shapes,dim", CAT_CASES)
def test_cat_forward(shapes, dim, dtype):
    arrs = [(rand(*s, seed=i) * 3).astype(dtype) for i, s in enumerate(shapes)]
    out = ember.cat([E(a) for a in arrs], dim=dim)
    check(out, np.concatenate(arrs, axis=dim))
    assert dtname(out) == np.dtype(dtype).name


def test_cat_tuple_and_default_dim_and_concat_alias():
    a, b = rand(2, 3), rand(1, 3, seed=1)
    check(ember.cat((E(a), E(b))), np.concatenate([a, b]))
    if hasattr(ember, "concat"):
        check(ember.concat([E(a), E(b)]), np.concatenate([a, b]))


def test_cat_non_contiguous_inputs():
    a, b = rand(3, 4), rand(5, 4, seed=1)
    ta, tb = E(a).T, E(b).transpose(0, 1)
    assert not ta.is_contiguous()
    check(ember.cat([ta, tb], dim=1), np.concatenate([a.T, b.T], axis=1))
    check(ember.cat([E(a)[:, ::2], E(b)[:, 1::2]], dim=0), np.concatenate([a[:, ::2], b[:, 1::2]]))


def test_cat_result_is_a_copy():
    a = E(rand(2, 2))
    out = ember.cat([a, a])
    out[0, 0] = 100.0
    assert a[0, 0].item() != 100.0


@needs_torch
def test_cat_dtype_promotion_like_torch():
    pairs = [
        (np.int64, np.float32),
        (np.float32, np.float64),
        (np.bool_, np.int32),
        (np.uint8, np.int64),
    ]
    for d1, d2 in pairs:
        a, b = np.ones((2, 2), d1), np.zeros((1, 2), d2)
        ref = torch.cat([torch.from_numpy(a), torch.from_numpy(b)])
        out = ember.cat([E(a), E(b)])
        assert dtname(out) == str(ref.dtype).split(".")[-1], (d1, d2)
        check(out, ref.numpy())


@pytest.mark.parametrize(
    "shapes,dim", [([(2, 3), (4, 5)], 0), ([(2, 3), (3, 3)], 1), ([(2, 3), (2, 3, 1)], 0)]
)
def test_cat_shape_mismatch_is_value_error(shapes, dim):
    ts = [ember.zeros(*s) for s in shapes]
    with pytest.raises(ValueError) as info:
        ember.cat(ts, dim=dim)
    msg = str(info.value)
    assert "cat" in msg
    for s in shapes:
        assert "[" + ", ".join(map(str, s)) + "]" in msg, msg


@pytest.mark.parametrize("dim", [2, -3, 5])
def test_cat_dim_out_of_range(dim):
    with pytest.raises(IndexError):
        ember.cat([ember.zeros(2, 3), ember.zeros(2, 3)], dim=dim)


def test_cat_empty_list_raises():
    with pytest.raises((ValueError, RuntimeError)):
        ember.cat([])


def test_cat_gradcheck():
    a, b, c = leaf(2, 3), leaf(2, 1, seed=1), leaf(2, 4, seed=2)
    assert gradcheck(
        lambda x, y, z: ember.cat([x, y, z], dim=1) * ember.arange(8.0, dtype=ember.float64),
        (a, b, c),
    )
    assert gradcheck(lambda x, y: ember.cat([x, x * 2, y], dim=-1), (a, b))  # same input twice


def test_cat_grad_values_and_partial_requires_grad():
    a = leaf(2, 2)
    b = ember.ones(3, 2, dtype=ember.float64)  # no grad
    out = ember.cat([a, b])
    w = ember.arange(10.0, dtype=ember.float64).reshape(5, 2)
    (out * w).sum().backward()
    check(a.grad, np.arange(4.0).reshape(2, 2))
    assert b.grad is None


# ----------------------------------------------------------------------------- stack
@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 1, 4), (0, 2)])
@pytest.mark.parametrize("n", [1, 3])
def test_stack_forward_all_dims(shape, n):
    arrs = [rand(*shape, seed=i) for i in range(n)]
    for dim in range(-len(shape) - 1, len(shape) + 1):
        out = ember.stack([E(a) for a in arrs], dim=dim)
        check(out, np.stack(arrs, axis=dim))


def test_stack_int_dtype_and_non_contiguous():
    a = np.arange(6).reshape(2, 3)
    out = ember.stack([E(a).T, E(a * 2).T], dim=1)
    check(out, np.stack([a.T, a.T * 2], axis=1))
    assert dtname(out) == "int64"


def test_stack_mismatch_and_range_errors():
    with pytest.raises(ValueError):
        ember.stack([ember.zeros(2, 3), ember.zeros(3, 2)])
    with pytest.raises(IndexError):
        ember.stack([ember.zeros(2, 3), ember.zeros(2, 3)], dim=3)


def test_stack_gradcheck():
    a, b = leaf(2, 3), leaf(2, 3, seed=1)
    assert gradcheck(lambda x, y: ember.stack([x, y, x], dim=1) ** 2, (a, b))
    s0, s1 = leaf(), leaf(seed=1)
    assert gradcheck(
        lambda x, y: ember.stack([x, y]) * ember.tensor([2.0, 3.0], dtype=ember.float64), (s0, s1)
    )


# ----------------------------------------------------------------------------- split / chunk / unbind
@needs_torch
@pytest.mark.parametrize(
    "shape,arg,dim",
    [
        ((7,), 3, 0),
        ((7,), 7, 0),
        ((7,), 10, 0),
        ((6, 4), 2, 0),
        ((6, 5), 2, 1),
        ((6, 5), 4, -1),
        ((5, 3), [1, 4], 0),
        ((5, 3), [0, 5], 0),
        ((2, 9), [2, 3, 4], 1),
        ((2, 9), (9,), -1),
        ((0, 3), 2, 0),
    ],
)
def test_split_like_torch(shape, arg, dim):
    a = rand(*shape)
    ref = torch.split(torch.from_numpy(a), arg, dim)
    out = ember.split(E(a), arg, dim)
    check_seq(out, [r.numpy() for r in ref])
    check_seq(E(a).split(arg, dim), [r.numpy() for r in ref])


def test_split_sizes_must_sum_to_dim():
    with pytest.raises((ValueError, RuntimeError)):
        ember.split(ember.zeros(5), [2, 2])


def test_split_gradcheck():
    a = leaf(5, 3)
    assert gradcheck(lambda x: ember.split(x, 2, dim=0), a)
    assert gradcheck(
        lambda x: tuple(p * (i + 1) for i, p in enumerate(ember.split(x, [1, 2], dim=1))), a
    )
    # only some outputs used: unused chunks get zero gradient
    assert gradcheck(lambda x: ember.split(x, [2, 3])[1].sum(), a)


@needs_torch
@pytest.mark.parametrize(
    "shape,chunks,dim",
    [
        ((6,), 3, 0),
        ((6,), 4, 0),
        ((6,), 5, 0),
        ((5,), 2, 0),
        ((2,), 5, 0),
        ((3, 7), 3, 1),
        ((4, 7), 2, -2),
        ((1, 7), 7, 1),
    ],
)
def test_chunk_like_torch(shape, chunks, dim):
    a = rand(*shape)
    ref = torch.chunk(torch.from_numpy(a), chunks, dim)
    check_seq(ember.chunk(E(a), chunks, dim), [r.numpy() for r in ref])
    check_seq(E(a).chunk(chunks, dim=dim), [r.numpy() for r in ref])


def test_chunk_invalid():
    with pytest.raises((ValueError, RuntimeError)):
        ember.chunk(ember.zeros(4), 0)
    with pytest.raises(IndexError):
        ember.chunk(ember.zeros(4), 2, dim=1)


def test_chunk_gradcheck():
    assert gradcheck(lambda x: ember.chunk(x, 3, dim=1), leaf(2, 7))


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 1, 4)])
def test_unbind(shape):
    a = rand(*shape)
    for dim in range(-len(shape), len(shape)):
        out = ember.unbind(E(a), dim)
        assert isinstance(out, tuple)
        check_seq(out, [np.take(a, i, axis=dim) for i in range(a.shape[dim])])
    check_seq(E(a).unbind(), list(a))


def test_unbind_errors_and_grad():
    with pytest.raises(IndexError):
        ember.unbind(ember.zeros(2, 3), 2)
    assert gradcheck(lambda x: ember.unbind(x, 1), leaf(2, 3))
    x = leaf(3, 2)
    r0, r1, r2 = x.unbind()
    (r0 * 1 + r2 * 3).sum().backward()
    check(x.grad, [[1.0, 1.0], [0.0, 0.0], [3.0, 3.0]])


# ----------------------------------------------------------------------------- flip / roll
@pytest.mark.parametrize(
    "shape,dims",
    [
        ((5,), (0,)),
        ((2, 3), (0,)),
        ((2, 3), (1,)),
        ((2, 3), (0, 1)),
        ((2, 3, 4), (-1, 0)),
        ((1, 3, 1), (0, 2)),
        ((0, 3), (1,)),
    ],
)
def test_flip(shape, dims):
    a = rand(*shape)
    check(ember.flip(E(a), dims), np.flip(a, dims))
    check(E(a).flip(dims), np.flip(a, dims))
    check(
        ember.flip(E(a).mT if len(shape) >= 2 else E(a), dims),
        np.flip(np.swapaxes(a, -1, -2) if len(shape) >= 2 else a, dims),
    )


def test_flip_int_and_list_dims_and_errors():
    a = np.arange(12).reshape(3, 4)
    check(ember.flip(E(a), [0, 1]), a[::-1, ::-1])
    with pytest.raises(IndexError):
        ember.flip(E(a), (2,))
    with pytest.raises((ValueError, RuntimeError)):
        ember.flip(E(a), (0, 0))  # repeated dim


def test_flip_gradcheck():
    assert gradcheck(
        lambda x: ember.flip(x, (0, 2)) * ember.arange(24.0, dtype=ember.float64).reshape(2, 3, 4),
        leaf(2, 3, 4),
    )


@pytest.mark.parametrize(
    "shape,shifts,dims",
    [
        ((5,), 2, None),
        ((5,), -1, None),
        ((5,), 7, None),
        ((2, 3), 1, None),
        ((2, 3), 4, 1),
        ((2, 3), -4, 0),
        ((2, 3, 4), (1, -2), (0, 2)),
        ((2, 3, 4), (1, 1), (-1, -1)),
        ((3, 4), 0, 1),
        ((0, 3), 1, 1),
    ],
)
def test_roll(shape, shifts, dims):
    a = rand(*shape)
    expected = np.roll(a, shifts, axis=dims)
    kwargs = {} if dims is None else {"dims": dims}
    check(ember.roll(E(a), shifts, **kwargs), expected)
    check(E(a).roll(shifts, **kwargs), expected)


def test_roll_errors():
    with pytest.raises(IndexError):
        ember.roll(ember.zeros(2, 3), 1, dims=2)
    with pytest.raises((ValueError, RuntimeError)):
        ember.roll(ember.zeros(2, 3), (1, 2), dims=(0,))


def test_roll_gradcheck():
    assert gradcheck(lambda x: ember.roll(x, (1, -2), (0, 1)) ** 2, leaf(3, 4))
    assert gradcheck(lambda x: ember.roll(x, 5) * 3, leaf(2, 3))


# ----------------------------------------------------------------------------- repeat / tile
@pytest.mark.parametrize(
    "shape,reps",
    [
        ((3,), (2,)),
        ((3,), (2, 2)),
        ((2, 3), (1, 1)),
        ((2, 3), (2, 3)),
        ((2, 3), (2, 1, 2)),
        ((1,), (4, 1, 3)),
        ((2, 0), (2, 2)),
        ((), (3,)),
        ((2, 3), (0, 1)),
    ],
)
def test_repeat_matches_np_tile(shape, reps):
    a = rand(*shape)
    expected = np.tile(a, reps)
    check(E(a).repeat(*reps), expected)
    check(E(a).repeat(reps), expected)


def test_repeat_fewer_reps_than_dims_raises():
    with pytest.raises((ValueError, RuntimeError)):
        ember.zeros(2, 3).repeat(2)


@pytest.mark.parametrize(
    "shape,reps",
    [((3,), (2,)), ((2, 3), (2,)), ((2, 3), (3, 1, 2)), ((2, 1, 3), (1, 2)), ((), (2, 2))],
)
def test_tile(shape, reps):
    a = np.arange(int(np.prod(shape))).reshape(shape)
    check(ember.tile(E(a), reps), np.tile(a, reps))
    check(E(a).tile(reps), np.tile(a, reps))


def test_repeat_tile_gradcheck():
    assert gradcheck(
        lambda x: x.repeat(2, 1, 3) * ember.arange(36.0, dtype=ember.float64).reshape(2, 3, 6),
        leaf(3, 2),
    )
    assert gradcheck(lambda x: ember.tile(x, (2,)) ** 2, leaf(2, 3))
    x = leaf(2)
    x.repeat(3).sum().backward()
    check(x.grad, [3.0, 3.0])


# ----------------------------------------------------------------------------- tril / triu
@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (5, 2), (1, 1), (2, 3, 4), (0, 3)])
@pytest.mark.parametrize("k", [-2, -1, 0, 1, 3])
def test_tril_triu(shape, k):
    a = rand(*shape)
    check(ember.tril(E(a), k), np.tril(a, k))
    check(ember.triu(E(a), diagonal=k), np.triu(a, k))
    check(E(a).tril(k), np.tril(a, k))
    check(E(a).triu(k), np.triu(a, k))


def test_tril_int_and_bool_and_non_contiguous():
    a = np.arange(16).reshape(4, 4)
    check(ember.tril(E(a).T), np.tril(a.T))
    m = ember.ones(3, 3, dtype=ember.bool)
    out = ember.triu(m, 1)
    assert out.dtype == ember.bool
    check(out, np.triu(np.ones((3, 3), bool), 1))


def test_tril_requires_2d():
    with pytest.raises((ValueError, RuntimeError, IndexError)):
        ember.tril(ember.zeros(3))


def test_tril_triu_gradcheck():
    assert gradcheck(lambda x: ember.tril(x, -1) + ember.triu(x, 1) * 2, leaf(3, 4))
    x = leaf(2, 3, 3)
    ember.triu(x).sum().backward()
    check(x.grad, np.broadcast_to(np.triu(np.ones((3, 3))), (2, 3, 3)))


# ----------------------------------------------------------------------------- pad
@pytest.mark.parametrize(
    "shape,pad",
    [
        ((3,), (1, 2)),
        ((2, 3), (0, 1)),
        ((2, 3), (1, 1, 2, 0)),
        ((2, 3, 4), (1, 0, 0, 2, 1, 1)),
        ((2, 3), (0, 0)),
        ((2, 5), (-1, 2)),
        ((1, 2, 3), (2, 2)),
    ],
)
@pytest.mark.parametrize("value", [0.0, 2.5])
def test_pad_constant(shape, pad, value):
    a = rand(*shape)
    widths = [(0, 0)] * a.ndim
    for i in range(len(pad) // 2):
        widths[a.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    pos = [(max(l, 0), max(r, 0)) for l, r in widths]
    expected = np.pad(a, pos, mode="constant", constant_values=value)
    sl = tuple(slice(-min(l, 0), expected.shape[d] + min(r, 0)) for d, (l, r) in enumerate(widths))
    expected = expected[sl]
    check(F.pad(E(a), pad, value=value), expected)
    check(F.pad(E(a), list(pad), mode="constant", value=value), expected)


def test_pad_constant_int_dtype():
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    out = F.pad(E(a), (1, 1), value=7)
    assert out.dtype == ember.int64
    check(out, np.pad(a, ((0, 0), (1, 1)), constant_values=7))


# torch supports reflect / replicate padding of the last 1, 2 (or 3) dims for batched inputs.
REFLECT_CASES = [
    ((2, 5), (2, 1)),
    ((1, 2, 5), (1, 3)),
    ((1, 4, 3), (2, 2, 1, 0)),
    ((2, 1, 3, 4), (1, 2, 2, 1)),
    ((2, 3, 4), (0, 0)),
]


@pytest.mark.parametrize("mode,np_mode", [("reflect", "reflect"), ("replicate", "edge")])
@pytest.mark.parametrize("shape,pad", REFLECT_CASES)
def test_pad_reflect_replicate(mode, np_mode, shape, pad):
    a = rand(*shape)
    widths = [(0, 0)] * a.ndim
    for i in range(len(pad) // 2):
        widths[a.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    check(F.pad(E(a), pad, mode=mode), np.pad(a, widths, mode=np_mode))


@needs_torch
@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_pad_reflect_replicate_like_torch_float32(mode):
    a = rand(2, 3, 4, 5, dtype=np.float32)
    ref = torch.nn.functional.pad(torch.from_numpy(a), (3, 1, 2, 3), mode=mode)
    check(F.pad(E(a), (3, 1, 2, 3), mode=mode), ref.numpy())


def test_pad_errors():
    with pytest.raises((ValueError, RuntimeError)):
        F.pad(ember.zeros(1, 2, 3), (3, 3), mode="reflect")  # pad >= size
    with pytest.raises((ValueError, RuntimeError)):
        F.pad(ember.zeros(2, 3), (1,))  # odd length
    with pytest.raises((ValueError, RuntimeError, NotImplementedError)):
        F.pad(ember.zeros(2, 3), (1, 1), mode="no-such-mode")


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate"])
def test_pad_gradcheck(mode):
    x = leaf(1, 2, 4, 3)
    w = ember.tensor(rand(1, 2, 7, 6, seed=5), dtype=ember.float64)
    assert gradcheck(lambda t: F.pad(t, (2, 1, 1, 2), mode=mode) * w, x)


def test_pad_replicate_grad_accumulates_at_edges():
    x = ember.tensor([[[1.0, 2.0, 3.0]]], dtype=ember.float64, requires_grad=True)
    F.pad(x, (2, 1), mode="replicate").sum().backward()
    check(x.grad, [[[3.0, 1.0, 2.0]]])
    x.grad = None
    F.pad(x, (2, 1), mode="reflect").sum().backward()
    # reflect of [1,2,3] by (2,1): [3,2,1,2,3,2]
    check(x.grad, [[[1.0, 3.0, 2.0]]])


# ----------------------------------------------------------------------------- one_hot
@pytest.mark.parametrize("shape", [(5,), (2, 3), (1,), (0,)])
@pytest.mark.parametrize("num_classes", [-1, 6])
def test_one_hot(shape, num_classes):
    idx = np.random.default_rng(1).integers(0, 5, size=shape)
    if idx.size and num_classes == -1:
        idx.flat[0] = 4  # so the inferred number of classes is 5
    n = 5 if num_classes == -1 else num_classes
    if idx.size == 0 and num_classes == -1:
        with pytest.raises((ValueError, RuntimeError)):
            F.one_hot(E(idx), num_classes)
        return
    out = F.one_hot(E(idx), num_classes=num_classes)
    assert out.dtype == ember.int64
    check(out, np.eye(n, dtype=np.int64)[idx])


def test_one_hot_errors():
    with pytest.raises((IndexError, ValueError, RuntimeError)):
        F.one_hot(ember.tensor([0, 3]), num_classes=3)  # class 3 out of range
    with pytest.raises((IndexError, ValueError, RuntimeError)):
        F.one_hot(ember.tensor([-1, 0]), num_classes=3)
    with pytest.raises(TypeError):
        F.one_hot(ember.tensor([0.0, 1.0]), num_classes=2)


# ----------------------------------------------------------------------------- masked_fill
@pytest.mark.parametrize(
    "shape,mask_shape",
    [
        ((2, 3), (2, 3)),
        ((2, 3), (3,)),
        ((2, 3), (2, 1)),
        ((4,), ()),
        ((2, 3, 2), (1, 3, 1)),
        ((0, 3), (3,)),
    ],
)
@pytest.mark.parametrize("value", [-1.5, 0.0, float("inf")])
def test_masked_fill(shape, mask_shape, value):
    a = rand(*shape)
    mask = np.random.default_rng(2).random(mask_shape) > 0.5
    expected = np.where(mask, value, a)
    check(ember.masked_fill(E(a), E(mask), value), expected)
    check(E(a).masked_fill(E(mask), value), expected)
    check(E(a).masked_fill(E(mask), ember.tensor(value, dtype=ember.float64)), expected)


def test_masked_fill_int_tensor_and_non_contiguous():
    a = np.arange(6).reshape(2, 3)
    mask = a % 2 == 0
    out = E(a).masked_fill(E(mask), 9)
    assert out.dtype == ember.int64
    check(out, np.where(mask, 9, a))
    f = E(a.astype(np.float32)).T  # (3, 2) view
    out = f.masked_fill(E(mask.T), 0.5)
    assert out.dtype == ember.float32
    check(out, np.where(mask.T, 0.5, a.T).astype(np.float32))
    check(f, a.T.astype(np.float32))  # out-of-place: input unchanged


def test_masked_fill_errors():
    with pytest.raises(TypeError):
        ember.zeros(2, 3).masked_fill(ember.zeros(2, 3), 1.0)  # float mask
    with pytest.raises(ValueError):
        ember.zeros(2, 3).masked_fill(ember.zeros(4, dtype=ember.bool), 1.0)


def test_masked_fill_gradcheck_and_grad_is_zero_where_masked():
    mask = E(np.array([[True, False, True], [False, False, True]]))
    assert gradcheck(lambda x: x.masked_fill(mask, 3.0) ** 2, leaf(2, 3))
    x = leaf(2, 3)
    x.masked_fill(mask, 3.0).sum().backward()
    check(x.grad, (~to_np(mask)).astype(np.float64))
