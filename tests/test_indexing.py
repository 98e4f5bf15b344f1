"""Indexing: __getitem__/__setitem__ vs numpy, gather/scatter/index ops, sort/topk/unique vs torch,
their gradients, and the error contract (IndexError for out of range, TypeError for float indices)."""

import numpy as np
import pytest

import ember
from ember.testing import gradcheck

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")


# ----------------------------------------------------------------------------- helpers
def to_np(t):
    assert isinstance(t, ember.Tensor), f"expected an ember.Tensor, got {type(t)}"
    return np.array(t.detach().numpy(), copy=True)


def E(a, **kw):
    return ember.tensor(np.asarray(a), **kw)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


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


def to_ember_index(idx, int_dtype=None):
    """Converts numpy arrays inside an index expression to ember tensors."""
    if isinstance(idx, tuple):
        return tuple(to_ember_index(i, int_dtype) for i in idx)
    if isinstance(idx, np.ndarray):
        if int_dtype is not None and idx.dtype.kind == "i":
            return ember.tensor(idx, dtype=int_dtype)
        return ember.tensor(idx)
    return idx


def T(a):
    """numpy -> torch."""
    return torch.from_numpy(np.ascontiguousarray(a))


A = np.arange(120, dtype=np.float64).reshape(4, 5, 6)
MASK_A = (A.astype(np.int64) * 7919) % 3 == 0
MASK_45 = np.array(
    [
        [True, False, True, False, False],
        [False, False, False, True, True],
        [True, True, False, False, False],
        [False] * 5,
    ]
)

GETITEM_CASES = [
    0,
    -1,
    3,
    (1, 2),
    (1, 2, 3),
    (-1, -2, -3),
    slice(None),
    slice(1, 3),
    slice(None, None, 2),
    slice(1, None, 3),
    slice(-3, None),
    slice(None, -1),
    slice(3, 1),
    slice(-100, 100),
    (slice(None), 1),
    (slice(None), slice(None), slice(None, None, 4)),
    (slice(1, 4, 2), slice(0, 5, 2), -1),
    (slice(-2, -1), slice(-4, None, 3)),
    (Ellipsis, 0),
    (0, Ellipsis, 1),
    (Ellipsis,),
    Ellipsis,
    None,
    (None, 0, None),
    (Ellipsis, None),
    (slice(1, 3), None, slice(None, None, 2)),
    (None, Ellipsis, None, 2),
    np.array([0, 2]),
    np.array([-1, 0, -1, 3]),
    np.array([[0, 1], [3, 2]]),
    np.array(2),
    (np.array([0, 1]), np.array([1, 2])),
    (np.array([[0], [3]]), np.array([1, 4, 0])),
    (np.array([0, 3]), slice(None), np.array([5, 0])),
    (slice(None), np.array([0, 4]), np.array([1, 2])),
    (1, np.array([0, 4, 4])),
    (Ellipsis, np.array([5, 1])),
    (slice(1, 3), np.array([2, 0]), slice(None, None, 2)),
    np.array([], dtype=np.int64),
    [0, 2],
    ([0, 1], [2, 3]),
    MASK_A,
    np.array([True, False, True, True]),
    np.array([False, False, False, False]),
    MASK_45,
    (slice(None), np.array([True, False, False, True, True])),
    (np.array([True, False, True, False]), slice(1, 3)),
    (Ellipsis, np.array([False, True, False, True, False, True])),
    (np.array([True, False, True, False]), 2),
    (np.array([1, 3]), np.array([True, False, True, False, False])),
    (MASK_45, slice(None, None, 2)),
    (MASK_45, 3),
]


@pytest.mark.parametrize("idx", GETITEM_CASES, ids=[f"i{k}" for k in range(len(GETITEM_CASES))])
@pytest.mark.parametrize("dtype", [np.float64, np.int64])
def test_getitem_matches_numpy(idx, dtype):
    a = A.astype(dtype)
    expected = a[idx]
    out = E(a)[to_ember_index(idx)]
    check(out, expected)
    assert str(out.dtype).split(".")[-1] == np.dtype(dtype).name


@pytest.mark.parametrize(
    "idx", [np.array([0, 2]), (np.array([[1], [2]]), np.array([0, 3])), (1, np.array([4, 0]))]
)
def test_getitem_int32_index_tensor(idx):
    check(E(A)[to_ember_index(idx, ember.int32)], A[idx])


@pytest.mark.parametrize(
    "idx",
    [
        0,
        -3,
        slice(None),
        None,
        Ellipsis,
        slice(1, None),
        slice(None, None, 2),
        np.array([1, 0, 1]),
        np.array([True, False, True]),
    ],
)
def test_getitem_1d(idx):
    a = np.array([3.0, -1.0, 2.0])
    check(E(a)[to_ember_index(idx)], a[idx])


def test_getitem_0d():
    s = ember.tensor(5.0)
    check(s[None], np.array([5.0]))
    check(s[...], np.array(5.0))
    check(s[None, None], np.array([[5.0]]))
    assert s[...].item() == 5.0


def test_getitem_on_non_contiguous_tensor():
    base = E(A).permute(2, 0, 1)  # (6, 4, 5)
    ref = A.transpose(2, 0, 1)
    for idx in [
        (1, slice(None, None, 2)),
        np.array([5, 0]),
        (Ellipsis, np.array([4, 0])),
        ref > 60,
        (slice(1, 5, 3), 2, slice(None)),
    ]:
        check(base[to_ember_index(idx)], ref[idx])


def test_basic_slicing_returns_view_and_advanced_returns_copy():
    t = E(A.copy())
    v = t[1:3, ::2, -1]
    v[0, 1] = -7.0
    expected = A.copy()
    expected[1, 2, 5] = -7.0
    check(t, expected)
    w = t[ember.tensor([0, 1])]
    w[0, 0, 0] = 1234.0
    m = t[t > 100]
    m[0] = -1.0
    check(t, expected)


def test_iteration_and_len():
    t = E(A)
    assert len(t) == 4
    rows = list(t)
    assert len(rows) == 4
    for r, e in zip(rows, A):
        check(r, e)


@pytest.mark.parametrize(
    "idx,exc",
    [
        (4, IndexError),
        (-5, IndexError),
        ((0, 5), IndexError),
        ((0, 0, 6), IndexError),
        ((0, 0, 0, 0), IndexError),
        (np.array([0, 4]), IndexError),
        (np.array([-5]), IndexError),
        ((slice(None), np.array([7])), IndexError),
        (np.array([True, False, True]), IndexError),  # mask shape mismatch
        (np.array([0.0, 1.0]), TypeError),
        ((0, np.array([1.5])), TypeError),
    ],
)
def test_getitem_errors(idx, exc):
    with pytest.raises(exc):
        E(A)[to_ember_index(idx)]


def test_getitem_error_on_0d_and_with_float_scalar():
    with pytest.raises(IndexError):
        ember.tensor(1.0)[0]
    with pytest.raises((TypeError, IndexError)):
        E(A)[1.5]


# ----------------------------------------------------------------------------- __setitem__
SETITEM_CASES = [
    (1, lambda: 5.0),
    ((0, 1, 2), lambda: -3.0),
    ((slice(None), slice(1, 3)), lambda: rand(4, 2, 6)),
    ((slice(None), slice(1, 3)), lambda: rand(6)),  # broadcast
    ((Ellipsis, 0), lambda: rand(4, 1)),
    ((slice(None, None, 2), slice(None, None, 3)), lambda: rand(1, 1, 6)),
    ((slice(-3, -1), 0, slice(1, None, 2)), lambda: rand(2, 3)),
    (np.array([0, 3]), lambda: 2.5),
    (np.array([0, 3]), lambda: rand(2, 5, 6)),
    (np.array([2, 0]), lambda: rand(5, 1)),
    ((np.array([0, 1, 3]), np.array([4, 0, 2])), lambda: rand(3, 6)),
    ((slice(None), np.array([1, 3]), 2), lambda: rand(4, 2)),
    ([1, 2], lambda: 0.0),
    (MASK_A, lambda: 0.0),
    (MASK_A, lambda: rand(int(MASK_A.sum()))),
    (np.array([True, False, False, True]), lambda: rand(6)),
    (MASK_45, lambda: rand(int(MASK_45.sum()), 6)),
    ((slice(None), np.array([True, False, True, False, True])), lambda: -1.0),
    (None, lambda: 7.0),
    (Ellipsis, lambda: rand(5, 6)),
]


@pytest.mark.parametrize(
    "idx,value", SETITEM_CASES, ids=[f"s{k}" for k in range(len(SETITEM_CASES))]
)
def test_setitem_matches_numpy(idx, value):
    v = value()
    expected = A.copy()
    expected[idx] = v
    t = E(A.copy())
    t[to_ember_index(idx)] = E(v)
    check(t, expected)
    if not isinstance(v, np.ndarray):  # python scalar value
        t = E(A.copy())
        t[to_ember_index(idx)] = v
        check(t, expected)


def test_setitem_casts_value_dtype_and_writes_through_views():
    t = ember.zeros(2, 3, dtype=ember.float32)
    t[0] = ember.tensor([1, 2, 3])  # int64 value into float32 tensor
    assert t.dtype == ember.float32
    check(t, np.array([[1, 2, 3], [0, 0, 0]], np.float32))
    i = ember.zeros(3, dtype=ember.int64)
    i[1] = 4
    check(i, np.array([0, 4, 0]))
    v = t[:, 1:]
    v[1] = 9.0
    check(t, np.array([[1, 2, 3], [0, 9, 9]], np.float32))
    tt = t.T
    tt[2, 0] = -1.0
    assert t[0, 2].item() == -1.0


def test_setitem_errors():
    t = ember.zeros(3, 4)
    with pytest.raises(IndexError):
        t[3] = 1.0
    with pytest.raises(IndexError):
        t[ember.tensor([0, 5])] = 1.0
    with pytest.raises(TypeError):
        t[ember.tensor([0.0])] = 1.0
    with pytest.raises(ValueError):
        t[0] = ember.ones(3)  # cannot broadcast [3] to [4]


def test_setitem_gradient():
    mask = E(np.array([[True, False, True], [False, True, False]]))

    def f(x, v):
        y = x * 1.0
        y[mask] = v * 2.0
        y[:, 0] = y[:, 0] * 3.0
        return y

    assert gradcheck(f, (leaf(2, 3), leaf(3, seed=1)))


# ----------------------------------------------------------------------------- getitem gradients
GRAD_INDICES = [
    (1, slice(None, None, 2)),
    (Ellipsis, -1),
    (None, slice(1, 3)),
    np.array([0, 2, 0, 2]),  # repeated indices accumulate
    (np.array([[0, 1]]), np.array([[2], [1]])),
    (slice(None), np.array([3, 3, 0])),
    MASK_45[:3, :4],
]


@pytest.mark.parametrize("idx", GRAD_INDICES, ids=[f"g{k}" for k in range(len(GRAD_INDICES))])
def test_getitem_gradcheck(idx):
    assert gradcheck(lambda x: x[to_ember_index(idx)] ** 2, leaf(3, 4))


def test_getitem_grad_accumulates_repeated_indices():
    x = leaf(4)
    x[ember.tensor([1, 1, 3, 1])].sum().backward()
    check(x.grad, [0.0, 3.0, 0.0, 1.0])


# ----------------------------------------------------------------------------- gather / scatter
GATHER_CASES = [
    ((3, 4), 0, (2, 4)),
    ((3, 4), 1, (3, 6)),
    ((3, 4), -1, (2, 2)),
    ((2, 3, 4), 1, (2, 5, 4)),
    ((2, 3, 4), 2, (1, 3, 1)),
    ((5,), 0, (7,)),
    ((3, 4), 0, (0, 4)),
]


@needs_torch
@pytest.mark.parametrize("shape,dim,ishape", GATHER_CASES)
def test_gather_like_torch(shape, dim, ishape):
    a = rand(*shape)
    idx = np.random.default_rng(3).integers(0, shape[dim], size=ishape)
    ref = torch.gather(T(a), dim, T(idx)).numpy()
    check(ember.gather(E(a), dim, E(idx)), ref)
    check(E(a).gather(dim, E(idx)), ref)


@pytest.mark.parametrize("shape,dim,ishape", GATHER_CASES[:5])
def test_gather_gradcheck(shape, dim, ishape):
    idx = E(np.random.default_rng(3).integers(0, shape[dim], size=ishape))
    assert gradcheck(lambda x: ember.gather(x, dim, idx) * 2.0, leaf(*shape))


def test_gather_errors():
    x = ember.zeros(3, 4)
    with pytest.raises(IndexError):
        ember.gather(x, 0, ember.tensor([[3, 0, 0, 0]]))
    with pytest.raises(IndexError):
        ember.gather(x, 2, ember.tensor([[0]]))
    with pytest.raises(TypeError):
        ember.gather(x, 0, ember.tensor([[0.0]]))


def _perm_index(shape, dim, seed=0):
    """Index of `shape` whose slices along dim are permutations (no duplicate targets)."""
    rng = np.random.default_rng(seed)
    idx = np.argsort(rng.random(shape), axis=dim)
    return idx


@needs_torch
@pytest.mark.parametrize("shape,dim", [((4, 3), 0), ((4, 3), 1), ((2, 3, 4), -1), ((5,), 0)])
def test_scatter_src_and_value_like_torch(shape, dim):
    a, src = rand(*shape), rand(*shape, seed=1)
    idx = _perm_index(shape, dim)
    ref = torch.scatter(T(a), dim, T(idx), T(src)).numpy()
    check(ember.scatter(E(a), dim, E(idx), E(src)), ref)
    check(E(a).scatter(dim, E(idx), E(src)), ref)
    # partial index (smaller than input along dim): only some positions written
    sub = tuple(slice(0, 2) if d == (dim % len(shape)) else slice(None) for d in range(len(shape)))
    ref = torch.scatter(T(a), dim, T(idx[sub]), 7.5).numpy()
    check(ember.scatter(E(a), dim, E(idx[sub]), 7.5), ref)
    ref = torch.scatter(T(a), dim, T(idx[sub]), T(src)).numpy()
    check(E(a).scatter(dim, E(idx[sub]), E(src)), ref)


@needs_torch
@pytest.mark.parametrize(
    "shape,dim,ishape",
    [((4, 3), 0, (6, 3)), ((4, 3), 1, (4, 5)), ((3, 4, 2), 1, (2, 7, 2)), ((3,), 0, (10,))],
)
def test_scatter_add_like_torch(shape, dim, ishape):
    a = rand(*shape)
    src = rand(*ishape, seed=1)
    idx = np.random.default_rng(2).integers(0, shape[dim], size=ishape)  # duplicates accumulate
    ref = torch.scatter_add(T(a), dim, T(idx), T(src)).numpy()
    check(ember.scatter_add(E(a), dim, E(idx), E(src)), ref, exact=False)
    check(E(a).scatter_add(dim, E(idx), E(src)), ref, exact=False)


def test_scatter_add_and_scatter_gradcheck():
    idx = E(np.array([[0, 2, 1], [2, 2, 0]]))
    assert gradcheck(lambda x, s: ember.scatter_add(x, 0, idx, s), (leaf(3, 3), leaf(2, 3, seed=1)))
    pidx = E(_perm_index((3, 4), 1))
    assert gradcheck(
        lambda x, s: ember.scatter(x, 1, pidx[:, :2], s) * 2.0, (leaf(3, 4), leaf(3, 2, seed=1))
    )


def test_scatter_errors():
    x = ember.zeros(3)
    with pytest.raises(IndexError):
        ember.scatter_add(x, 0, ember.tensor([3]), ember.ones(1))
    with pytest.raises(TypeError):
        ember.scatter(x, 0, ember.tensor([0.0]), ember.ones(1))


# ----------------------------------------------------------------------------- index_select / index_add / take_along_dim
@pytest.mark.parametrize(
    "shape,dim,index",
    [
        ((4, 3), 0, [3, 0, 0]),
        ((4, 3), 1, [2]),
        ((2, 3, 4), -1, [1, 3, 1, 0, 2]),
        ((5,), 0, []),
        ((3, 2), 0, [2, 1, 0]),
    ],
)
def test_index_select(shape, dim, index):
    a = rand(*shape)
    idx = np.array(index, dtype=np.int64)
    expected = np.take(a, idx, axis=dim)
    check(ember.index_select(E(a), dim, E(idx)), expected)
    check(E(a).index_select(dim, E(idx)), expected)
    if index:
        assert gradcheck(lambda x: ember.index_select(x, dim, E(idx)) ** 2, leaf(*shape))


def test_index_select_grad_accumulates():
    x = leaf(3)
    ember.index_select(x, 0, ember.tensor([2, 2, 0])).sum().backward()
    check(x.grad, [1.0, 0.0, 2.0])


def test_index_select_errors():
    with pytest.raises(IndexError):
        ember.index_select(ember.zeros(3, 2), 0, ember.tensor([3]))
    with pytest.raises(IndexError):
        ember.index_select(ember.zeros(3, 2), 2, ember.tensor([0]))
    with pytest.raises(TypeError):
        ember.index_select(ember.zeros(3, 2), 0, ember.tensor([0.0]))


@needs_torch
@pytest.mark.parametrize("alpha", [1, 2.5])
def test_index_add_like_torch(alpha):
    a, src = rand(4, 3), rand(5, 3, seed=1)
    idx = np.array([0, 3, 0, 1, 3])
    ref = torch.index_add(T(a), 0, T(idx), T(src), alpha=alpha).numpy()
    check(ember.index_add(E(a), 0, E(idx), E(src), alpha=alpha), ref, exact=False)
    check(E(a).index_add(0, E(idx), E(src), alpha=alpha), ref, exact=False)
    b, src2 = rand(2, 4), rand(2, 2, seed=4)
    ref = torch.index_add(T(b), 1, T(np.array([3, 1])), T(src2)).numpy()
    check(ember.index_add(E(b), 1, E(np.array([3, 1])), E(src2)), ref, exact=False)
    assert gradcheck(
        lambda x, s: ember.index_add(x, 0, E(idx), s, alpha=alpha), (leaf(4, 3), leaf(5, 3, seed=1))
    )


@needs_torch
@pytest.mark.parametrize(
    "shape,ishape,dim",
    [
        ((3, 4), (3, 2), 1),
        ((3, 4), (1, 4), 0),
        ((2, 3, 4), (2, 3, 3), -1),
        ((3, 4), (3, 1), 1),
        ((3, 4), (5,), None),
    ],
)
def test_take_along_dim_like_torch(shape, ishape, dim):
    a = rand(*shape)
    n = a.size if dim is None else shape[dim]
    idx = np.random.default_rng(1).integers(0, n, size=ishape)
    ref = torch.take_along_dim(T(a), T(idx), dim).numpy()
    check(ember.take_along_dim(E(a), E(idx), dim), ref)
    assert gradcheck(lambda x: ember.take_along_dim(x, E(idx), dim) * 3.0, leaf(*shape))


def test_take_along_dim_with_argsort_sorts():
    a = rand(3, 5)
    out = ember.take_along_dim(E(a), ember.argsort(E(a), dim=1), dim=1)
    check(out, np.sort(a, axis=1))


# ----------------------------------------------------------------------------- nonzero
@pytest.mark.parametrize(
    "arr",
    [
        np.array([0.0, 1.5, 0.0, -2.0]),
        np.array([[0, 1, 0], [2, 0, 3]]),
        np.array([[True, False], [True, True]]),
        np.zeros((2, 3)),
        np.arange(24).reshape(2, 3, 4) % 5,
        np.array([np.nan, 0.0, -0.0]),
    ],
)
def test_nonzero(arr):
    out = ember.nonzero(E(arr))
    assert out.dtype == ember.int64
    check(out, np.argwhere(arr))
    check(E(arr).nonzero(), np.argwhere(arr))
    tup = ember.nonzero(E(arr), as_tuple=True)
    assert isinstance(tup, tuple) and len(tup) == arr.ndim
    for t, e in zip(tup, np.nonzero(arr)):
        check(t, e)


# ----------------------------------------------------------------------------- sort / argsort / topk
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), (1, 1), (0, 3)])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_all_dims(shape, descending):
    a = rand(*shape)  # no ties, so indices are unique
    for dim in range(-len(shape), len(shape)):
        values, indices = ember.sort(E(a), dim=dim, descending=descending)
        order = np.argsort(-a if descending else a, axis=dim, kind="stable")
        check(values, np.take_along_axis(a, order, axis=dim))
        check(indices, order)
        assert indices.dtype == ember.int64
        r = E(a).sort(dim, descending)
        check(r.values, np.take_along_axis(a, order, axis=dim))
        check(r.indices, order)
        check(ember.argsort(E(a), dim=dim, descending=descending), order)


def test_sort_default_dim_is_last_and_int_dtype():
    a = np.array([[3, 1, 2], [0, 5, -4]])
    v, i = ember.sort(E(a))
    check(v, np.sort(a, axis=-1))
    check(i, np.argsort(a, axis=-1))
    assert v.dtype == ember.int64


@pytest.mark.parametrize("descending", [False, True])
def test_sort_stable_with_ties(descending):
    a = np.array([2, 1, 2, 0, 1, 2, 0, 1, 1, 2, 0, 2] * 3)
    v, i = ember.sort(E(a), stable=True, descending=descending)
    order = np.argsort(-a if descending else a, kind="stable")
    check(v, a[order])
    check(i, order)


@needs_torch
def test_sort_nan_like_torch():
    a = np.array([3.0, np.nan, -1.0, np.inf, -np.inf, 0.0])
    for desc in (False, True):
        ref = torch.sort(T(a), descending=desc)
        v, i = ember.sort(E(a), descending=desc)
        np.testing.assert_array_equal(to_np(v), ref.values.numpy())
        check(i, ref.indices.numpy())


def test_sort_errors():
    with pytest.raises(IndexError):
        ember.sort(ember.zeros(2, 3), dim=2)


def test_sort_gradcheck():
    assert gradcheck(
        lambda x: ember.sort(x, dim=1)[0] * ember.arange(4.0, dtype=ember.float64), leaf(3, 4)
    )
    assert gradcheck(lambda x: ember.sort(x, dim=0, descending=True).values ** 2, leaf(3, 4))


@needs_torch
@pytest.mark.parametrize(
    "shape,k,dim",
    [
        ((7,), 3, 0),
        ((7,), 7, 0),
        ((7,), 0, 0),
        ((3, 5), 2, 1),
        ((3, 5), 1, 0),
        ((2, 3, 4), 2, -1),
        ((2, 3, 4), 3, 1),
    ],
)
@pytest.mark.parametrize("largest", [True, False])
def test_topk_like_torch(shape, k, dim, largest):
    a = rand(*shape)
    ref = torch.topk(T(a), k, dim=dim, largest=largest, sorted=True)
    out = ember.topk(E(a), k, dim=dim, largest=largest, sorted=True)
    check(out[0], ref.values.numpy())
    check(out[1], ref.indices.numpy())
    out2 = E(a).topk(k, dim, largest)
    check(out2.values, ref.values.numpy())
    check(out2.indices, ref.indices.numpy())
    # sorted=False: same set of elements, and indices consistent with values
    v, i = ember.topk(E(a), k, dim=dim, largest=largest, sorted=False)
    check(ember.sort(v, dim=dim)[0], np.sort(ref.values.numpy(), axis=dim))
    check(v, np.take_along_axis(a, to_np(i), axis=dim))


def test_topk_default_dim_and_errors():
    a = np.array([[1.0, 5.0, 3.0], [9.0, -1.0, 0.0]])
    v, i = ember.topk(E(a), 2)
    check(v, [[5.0, 3.0], [9.0, 0.0]])
    check(i, [[1, 2], [0, 2]])
    with pytest.raises((IndexError, ValueError, RuntimeError)):
        ember.topk(E(a), 4)
    with pytest.raises(IndexError):
        ember.topk(E(a), 1, dim=2)


def test_topk_gradcheck():
    assert gradcheck(lambda x: ember.topk(x, 2, dim=1)[0], leaf(3, 5))
    assert gradcheck(lambda x: ember.topk(x, 3, dim=0, largest=False).values * 2.0, leaf(4, 2))
    x = leaf(5)
    ember.topk(x, 2)[0].sum().backward()
    expected = np.zeros(5)
    expected[np.argsort(-rand(5))[:2]] = 1.0
    check(x.grad, expected)


# ----------------------------------------------------------------------------- unique
UNIQUE_INPUTS = [
    np.array([3, 1, 2, 3, 1, 1, 7]),
    np.array([[2, 2, 0], [5, 0, 2]]),
    np.array([1.5, -0.5, 1.5, 2.0]),
    np.array([True, False, True]),
    np.array([4]),
    np.array([], dtype=np.int64),
]


@pytest.mark.parametrize("arr", UNIQUE_INPUTS)
def test_unique_sorted_inverse_counts(arr):
    vals, inv, counts = np.unique(arr, return_inverse=True, return_counts=True)
    inv = inv.reshape(arr.shape)
    check(ember.unique(E(arr)), vals)
    check(E(arr).unique(), vals)
    out = ember.unique(E(arr), sorted=True, return_inverse=True)
    assert isinstance(out, tuple) and len(out) == 2
    check(out[0], vals)
    check(out[1], inv)
    assert out[1].dtype == ember.int64
    out = ember.unique(E(arr), return_counts=True)
    assert len(out) == 2
    check(out[0], vals)
    check(out[1], counts)
    u, i, c = ember.unique(E(arr), return_inverse=True, return_counts=True)
    check(u, vals)
    check(i, inv)
    check(c, counts)
    # reconstruction
    check(u[i], arr)


def test_unique_dim():
    a = np.array([[1, 2], [0, 5], [1, 2], [0, 5], [0, 1]])
    vals, inv, counts = np.unique(a, axis=0, return_inverse=True, return_counts=True)
    u, i, c = ember.unique(E(a), dim=0, return_inverse=True, return_counts=True)
    check(u, vals)
    check(i, inv.reshape(-1))
    check(c, counts)
