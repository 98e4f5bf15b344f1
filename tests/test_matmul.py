"""matmul / @ / bmm / mm / mv / dot: torch's 1-D/2-D/N-D broadcasting rules checked against
np.matmul (which follows the same rules), odd sizes, strided operands, dtypes, gradients and the
shape-mismatch error contract."""

import math

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
    t = t.detach()
    if t.dtype in (ember.float16, ember.bfloat16):
        t = t.to(ember.float32)
    return np.array(t.numpy(), copy=True)


def rand(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def E(a, **kw):
    return ember.tensor(np.asarray(a), **kw)


def leaf(*shape, seed=0):
    return ember.tensor(rand(*shape, seed=seed), dtype=ember.float64, requires_grad=True)


def fmt(shape):
    return "[" + ", ".join(str(s) for s in shape) + "]"


TOL = {  # (rtol, atol per unit of the contraction length k)
    np.float64: (1e-10, 1e-12),
    np.float32: (1e-5, 3e-6),
}


def check_matmul(out, expected, dtype, k):
    got = to_np(out)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    rtol, atol_k = TOL[dtype]
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol_k * max(k, 1) + 1e-12)


# ----------------------------------------------------------------------------- shapes
# (shape_a, shape_b, expected output shape) — torch.matmul broadcasting semantics.
BROADCAST_CASES = [
    ((5,), (5,), ()),  # dot
    ((3, 5), (5,), (3,)),  # matrix-vector
    ((5,), (5, 4), (4,)),  # vector-matrix (prepended 1 removed)
    ((3, 5), (5, 4), (3, 4)),
    ((2, 3, 5), (5,), (2, 3)),
    ((5,), (2, 5, 4), (2, 4)),
    ((2, 3, 5), (2, 5, 4), (2, 3, 4)),
    ((2, 3, 5), (5, 4), (2, 3, 4)),
    ((3, 5), (2, 5, 4), (2, 3, 4)),
    ((2, 1, 3, 5), (4, 5, 2), (2, 4, 3, 2)),
    ((1, 3, 5), (6, 5, 2), (6, 3, 2)),
    ((6, 3, 5), (1, 5, 2), (6, 3, 2)),
    ((2, 1, 1, 3, 5), (3, 1, 5, 2), (2, 3, 1, 3, 2)),
    ((1, 1), (1, 1), (1, 1)),
    ((1,), (1,), ()),
    ((0, 5), (5, 4), (0, 4)),
    ((3, 0), (0, 4), (3, 4)),  # empty contraction -> zeros
    ((3, 5), (5, 0), (3, 0)),
    ((0, 3, 5), (5, 2), (0, 3, 2)),
    ((2, 0, 5), (2, 5, 3), (2, 0, 3)),
    ((0,), (0,), ()),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sa,sb,so", BROADCAST_CASES)
def test_matmul_broadcasting(sa, sb, so, dtype):
    a, b = rand(*sa, dtype=dtype), rand(*sb, seed=1, dtype=dtype)
    expected = np.matmul(a.astype(np.float64), b.astype(np.float64))
    assert expected.shape == so
    k = sa[-1]
    for out in (ember.matmul(E(a), E(b)), E(a) @ E(b), E(a).matmul(E(b))):
        check_matmul(out, expected, dtype, k)
        assert out.dtype == (ember.float64 if dtype == np.float64 else ember.float32)


ODD = [1, 3, 7, 17, 33, 65, 129]
MKN = sorted(
    {(s, s, s) for s in ODD}
    | {(s, 7, 3) for s in ODD}
    | {(3, s, 7) for s in ODD}
    | {(7, 3, s) for s in ODD}
    | {(129, 65, 33), (1, 129, 1), (33, 1, 65), (65, 17, 129), (2, 129, 2)}
)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m,k,n", MKN)
def test_mm_odd_sizes(m, k, n, dtype):
    a, b = rand(m, k, dtype=dtype), rand(k, n, seed=1, dtype=dtype)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    check_matmul(ember.mm(E(a), E(b)), expected, dtype, k)
    check_matmul(E(a) @ E(b), expected, dtype, k)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", ODD)
def test_dot_and_mv_odd_sizes(n, dtype):
    a, v = rand(7, n, dtype=dtype), rand(n, seed=1, dtype=dtype)
    w = rand(n, seed=2, dtype=dtype)
    check_matmul(ember.mv(E(a), E(v)), a.astype(np.float64) @ v, dtype, n)
    check_matmul(E(a).mv(E(v)), a.astype(np.float64) @ v, dtype, n)
    d = ember.dot(E(v), E(w))
    assert tuple(d.shape) == ()
    check_matmul(d, np.array(np.dot(v.astype(np.float64), w)), dtype, n)
    check_matmul(E(v).dot(E(w)), np.array(np.dot(v.astype(np.float64), w)), dtype, n)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "b,m,k,n", [(1, 1, 1, 1), (3, 7, 17, 5), (2, 33, 3, 65), (5, 1, 129, 1), (0, 2, 3, 4)]
)
def test_bmm(b, m, k, n, dtype):
    x, y = rand(b, m, k, dtype=dtype), rand(b, k, n, seed=1, dtype=dtype)
    expected = np.matmul(x.astype(np.float64), y.astype(np.float64))
    check_matmul(ember.bmm(E(x), E(y)), expected, dtype, k)
    check_matmul(E(x).bmm(E(y)), expected, dtype, k)


# ----------------------------------------------------------------------------- layouts
def _layouts():
    """(name, builder) pairs: builder(np_a, np_b) -> (ember_a, ember_b, np_a', np_b')."""
    return [
        ("contiguous", lambda a, b: (E(a), E(b), a, b)),
        ("a_transposed", lambda a, b: (E(np.ascontiguousarray(a.T)).T, E(b), a, b)),
        ("b_transposed", lambda a, b: (E(a), E(np.ascontiguousarray(b.T)).T, a, b)),
        (
            "both_T",
            lambda a, b: (E(np.ascontiguousarray(a.T)).T, E(np.ascontiguousarray(b.T)).mT, a, b),
        ),
        ("a_strided", lambda a, b: (E(np.repeat(a, 2, axis=1))[:, ::2], E(b), a, b)),
        ("b_row_strided", lambda a, b: (E(a), E(np.repeat(b, 3, axis=0))[1::3], a, b)),
        (
            "a_offset",
            lambda a, b: (E(np.vstack([np.zeros((2, a.shape[1]), a.dtype), a]))[2:], E(b), a, b),
        ),
        (
            "b_expanded",
            lambda a, b: (
                E(a),
                E(b[:1]).expand(b.shape[0], b.shape[1]),
                a,
                np.broadcast_to(b[:1], b.shape),
            ),
        ),
    ]


@pytest.mark.parametrize("layout", _layouts(), ids=lambda x: x[0])
@pytest.mark.parametrize("m,k,n", [(3, 7, 5), (17, 33, 9), (1, 65, 1), (65, 1, 3)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matmul_non_contiguous_operands(layout, m, k, n, dtype):
    a, b = rand(m, k, dtype=dtype), rand(k, n, seed=1, dtype=dtype)
    ta, tb, a2, b2 = layout[1](a, b)
    expected = a2.astype(np.float64) @ b2.astype(np.float64)
    check_matmul(ta @ tb, expected, dtype, k)
    check_matmul(ember.mm(ta, tb), expected, dtype, k)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batched_non_contiguous(dtype):
    a = rand(4, 2, 5, 3, dtype=dtype)  # will be permuted to (2, 4, 3, 5)
    b = rand(2, 5, 6, seed=1, dtype=dtype)
    ta = E(a).permute(1, 0, 3, 2)
    tb = E(b).transpose(-1, -2).contiguous().transpose(-1, -2)
    expected = np.matmul(a.transpose(1, 0, 3, 2).astype(np.float64), b[:, None])
    check_matmul(ta @ tb.unsqueeze(1), expected, dtype, 5)
    x = rand(3, 6, 4, dtype=dtype)
    y = rand(3, 4, 5, seed=2, dtype=dtype)
    tx = E(x)[:, ::2]  # (3, 3, 4) strided in dim 1
    ty = E(np.ascontiguousarray(y.transpose(0, 2, 1))).mT
    check_matmul(ember.bmm(tx, ty), np.matmul(x[:, ::2].astype(np.float64), y), dtype, 4)
    m, v = rand(4, 3, dtype=dtype), rand(8, dtype=dtype)
    check_matmul(ember.mv(E(m).T, E(v)[::2]), m.T.astype(np.float64) @ v[::2], dtype, 4)


def test_matmul_does_not_modify_inputs_and_returns_new_tensor():
    a, b = rand(3, 4), rand(4, 2, seed=1)
    ta, tb = E(a), E(b)
    out = ta @ tb
    out[0, 0] = 1e9
    np.testing.assert_array_equal(to_np(ta), a)
    np.testing.assert_array_equal(to_np(tb), b)


def test_matmul_integer():
    a = np.arange(12, dtype=np.int64).reshape(3, 4) - 5
    b = np.arange(8, dtype=np.int64).reshape(4, 2) % 3
    out = E(a) @ E(b)
    assert out.dtype == ember.int64
    np.testing.assert_array_equal(to_np(out), a @ b)


def test_matmul_identity_and_known_values():
    x = E(rand(5, 5))
    np.testing.assert_allclose(
        to_np(x @ ember.eye(5, dtype=ember.float64)), to_np(x), rtol=0, atol=0
    )
    m = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(to_np(m @ m), [[7.0, 10.0], [15.0, 22.0]])
    assert (ember.tensor([1.0, 2.0, 3.0]) @ ember.tensor([4.0, 5.0, 6.0])).item() == 32.0


@pytest.mark.parametrize(
    "dtype,rtol,atol_per_sqrt_k",
    [("float16", 1e-2, 1e-2), ("bfloat16", 4e-2, 6e-2)],
)
@pytest.mark.parametrize(
    "sa,sb", [((7, 33), (33, 5)), ((2, 3, 65), (65, 4)), ((129,), (129, 3)), ((17, 129), (129,))]
)
def test_matmul_half_precision_loose(dtype, rtol, atol_per_sqrt_k, sa, sb):
    edt = getattr(ember, dtype)
    ta = E(rand(*sa, dtype=np.float32)).to(edt)
    tb = E(rand(*sb, seed=1, dtype=np.float32)).to(edt)
    out = ta @ tb
    assert out.dtype == edt
    expected = np.matmul(to_np(ta).astype(np.float64), to_np(tb).astype(np.float64))
    got = to_np(out)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol_per_sqrt_k * math.sqrt(sa[-1]))


# ----------------------------------------------------------------------------- gradients
GRAD_CASES = [c[:2] for c in BROADCAST_CASES if 0 not in c[0] + c[1] and c[0] != (1,)]


@pytest.mark.parametrize("sa,sb", GRAD_CASES)
def test_matmul_gradcheck(sa, sb):
    assert gradcheck(lambda x, y: ember.matmul(x, y), (leaf(*sa), leaf(*sb, seed=1)))


def test_matmul_grad_sums_over_broadcast_batch_dims():
    a = leaf(3, 2, 4)
    b = leaf(4, 5, seed=1)
    (a @ b).sum().backward()
    a_np, b_np = rand(3, 2, 4), rand(4, 5, seed=1)
    np.testing.assert_allclose(
        to_np(b.grad), a_np.sum(axis=(0, 1))[:, None] * np.ones((1, 5)), rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(
        to_np(a.grad), np.broadcast_to(b_np.sum(axis=1), (3, 2, 4)), rtol=1e-12, atol=1e-12
    )
    assert tuple(b.grad.shape) == (4, 5)


@pytest.mark.parametrize(
    "fn,shapes",
    [
        (lambda x, y: ember.mm(x, y), [(3, 4), (4, 2)]),
        (lambda x, y: ember.bmm(x, y), [(2, 3, 4), (2, 4, 1)]),
        (lambda x, y: ember.mv(x, y), [(3, 4), (4,)]),
        (lambda x, y: ember.dot(x, y), [(5,), (5,)]),
        (lambda x, y: x.T @ y.mT, [(4, 3), (2, 4)]),
        (lambda x, y: x[:, ::2] @ y[1::2], [(3, 6), (6, 2)]),
        (lambda x, y: (x @ y) @ x, [(3, 3), (3, 3)]),
        (lambda x, y: x @ x, [(3, 3), (1,)]),
    ],
)
def test_mm_bmm_mv_dot_gradcheck(fn, shapes):
    assert gradcheck(fn, tuple(leaf(*s, seed=i) for i, s in enumerate(shapes)))


def test_matmul_gradgradcheck():
    from ember.testing import gradgradcheck

    assert gradgradcheck(lambda x, y: (x @ y).tanh(), (leaf(2, 3), leaf(3, 2, seed=1)))


@needs_torch
def test_matmul_grads_match_torch_float32():
    a, b = rand(2, 1, 7, 17, dtype=np.float32), rand(3, 17, 5, seed=1, dtype=np.float32)
    g = rand(2, 3, 7, 5, seed=2, dtype=np.float32)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    torch.matmul(ta, tb).backward(torch.from_numpy(g))
    ea, eb = E(a, requires_grad=True), E(b, requires_grad=True)
    ember.matmul(ea, eb).backward(E(g))
    np.testing.assert_allclose(to_np(ea.grad), ta.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(to_np(eb.grad), tb.grad.numpy(), rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- errors
MISMATCH = [
    ((2, 3), (4, 5)),
    ((3,), (4,)),
    ((2, 3), (2,)),
    ((4,), (3, 4)),
    ((2, 3, 4), (3, 4, 5)),
    ((2, 2, 3), (4, 5)),
    ((5, 2, 3, 4), (3, 4, 2)),
]


@pytest.mark.parametrize("sa,sb", MISMATCH)
@pytest.mark.parametrize("via", ["function", "operator", "method"])
def test_matmul_shape_mismatch_value_error(sa, sb, via):
    a, b = ember.zeros(*sa), ember.zeros(*sb)
    with pytest.raises(ValueError) as info:
        if via == "function":
            ember.matmul(a, b)
        elif via == "operator":
            a @ b
        else:
            a.matmul(b)
    msg = str(info.value)
    assert "matmul" in msg, msg
    assert fmt(sa) in msg and fmt(sb) in msg, msg


@pytest.mark.parametrize(
    "fn,sa,sb",
    [
        (ember.mm, (2, 3), (4, 2)),
        (ember.bmm, (2, 3, 4), (2, 5, 2)),
        (ember.bmm, (2, 3, 4), (3, 4, 2)),
        (ember.mv, (2, 3), (4,)),
        (ember.dot, (3,), (4,)),
    ],
)
def test_mm_family_mismatch_value_error(fn, sa, sb):
    with pytest.raises(ValueError) as info:
        fn(ember.zeros(*sa), ember.zeros(*sb))
    msg = str(info.value)
    assert fmt(sa) in msg and fmt(sb) in msg, msg


@pytest.mark.parametrize(
    "fn,sa,sb",
    [
        (ember.mm, (2, 3, 4), (4, 2)),
        (ember.mm, (3,), (3, 2)),
        (ember.bmm, (3, 4), (4, 2)),
        (ember.mv, (3,), (3,)),
        (ember.dot, (2, 3), (2, 3)),
        (ember.matmul, (), (3,)),
        (ember.matmul, (3,), ()),
    ],
)
def test_wrong_rank_raises(fn, sa, sb):
    with pytest.raises((ValueError, RuntimeError)):
        fn(ember.zeros(sa), ember.zeros(sb))
