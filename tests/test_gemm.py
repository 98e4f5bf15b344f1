"""The CPU GEMM engine behind matmul / bmm / addmm / baddbmm / linear: odd sizes, every
transposition of the operands, non-contiguous and broadcast batch strides, each floating dtype
against a float64 reference, the fused epilogues (alpha, beta, bias, relu/gelu), gradients, and
each ISA path (portable, AVX2, AVX-512) forced through EMBER_CPU_ISA in a subprocess."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ember
from ember.testing import gradcheck

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")

DTYPES = {
    "float32": (ember.float32, np.float32),
    "float64": (ember.float64, np.float64),
    "float16": (ember.float16, np.float16),
    "bfloat16": (ember.bfloat16, None),  # numpy has no bfloat16: rounded through ember
}
# error bound per element: TOL * (|A| @ |B|)  (accumulation in f32/f64, result rounded to dtype)
TOL = {"float32": 2e-6, "float64": 1e-14, "float16": 1.5e-3, "bfloat16": 1e-2}


# ----------------------------------------------------------------------------- helpers
def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def to_ember(x, dtype, transposed=False):
    """An ember tensor of `dtype` holding x; with transposed=True a transposed view (the data
    is stored as x.mT) so the GEMM sees column-major strides."""
    edt = DTYPES[dtype][0]
    x = np.asarray(x, dtype=np.float64)
    if transposed:
        t = ember.tensor(np.ascontiguousarray(np.swapaxes(x, -1, -2))).to(edt)
        return t.mT
    return ember.tensor(np.ascontiguousarray(x)).to(edt)


def rounded(t):
    """The float64 values an ember tensor holds (after its dtype's rounding)."""
    return np.array(t.detach().to(ember.float64).numpy(), dtype=np.float64, copy=True)


def assert_gemm_close(out, a, b, dtype, extra=None, scale=1.0):
    """out ~= a @ b (+ extra) in float64, with a bound proportional to |a| @ |b|."""
    ref = np.matmul(a, b) * scale
    bound = np.matmul(np.abs(a), np.abs(b)) * abs(scale)
    if extra is not None:
        ref = ref + extra
        bound = bound + np.abs(extra)
    got = rounded(out)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    err = np.abs(got - ref)
    lim = TOL[dtype] * bound + 1e-30
    bad = err > lim
    assert not bad.any(), (
        f"{bad.sum()} of {bad.size} elements off; worst err {err.max():.3g}, "
        f"at {np.unravel_index(np.argmax(err - lim), err.shape)}"
    )


SIZES = [
    (1, 1, 1),
    (3, 5, 7),
    (1, 64, 33),
    (40, 1, 9),
    (2, 3, 1),
    (14, 14, 32),
    (15, 29, 33),
    (17, 1023, 513),
    (65, 33, 129),
    (127, 300, 31),
    (129, 70, 10),
    (200, 300, 250),
    (31, 700, 600),  # several K blocks and column blocks
]
TRANS = ["nn", "nt", "tn", "tt"]


# ----------------------------------------------------------------------------- matmul / mm
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("trans", TRANS)
@pytest.mark.parametrize("m,k,n", SIZES)
def test_mm_sizes_transposes_dtypes(m, k, n, trans, dtype):
    if dtype in ("float16", "bfloat16") and m * k * n > 2_000_000:
        pytest.skip("large 16-bit case covered by smaller ones")
    A = to_ember(rand(m, k, seed=1), dtype, trans[0] == "t")
    B = to_ember(rand(k, n, seed=2), dtype, trans[1] == "t")
    out = A @ B
    assert out.dtype == DTYPES[dtype][0]
    assert tuple(out.shape) == (m, n)
    assert_gemm_close(out, rounded(A), rounded(B), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "m,k,n", [(1, 4096, 300), (300, 4096, 1), (1, 300, 4096), (4096, 300, 1), (1, 7, 1), (1, 1, 50)]
)
@pytest.mark.parametrize("trans", TRANS)
def test_matrix_vector_shapes(m, k, n, trans, dtype):
    A = to_ember(rand(m, k, seed=3), dtype, trans[0] == "t")
    B = to_ember(rand(k, n, seed=4), dtype, trans[1] == "t")
    assert_gemm_close(A @ B, rounded(A), rounded(B), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_zero_sizes(dtype):
    edt = DTYPES[dtype][0]
    for m, k, n in [(0, 3, 4), (3, 0, 4), (3, 4, 0), (5, 0, 1), (1, 0, 5)]:
        out = ember.zeros(m, k, dtype=edt) @ ember.zeros(k, n, dtype=edt)
        assert tuple(out.shape) == (m, n)
        assert np.all(rounded(out) == 0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_strided_inner_dims(dtype):
    a = rand(40, 90, seed=5)
    b = rand(60, 70, seed=6)
    A = to_ember(a, dtype)[::2, ::3]  # [20, 30], strides (180, 3)
    B = to_ember(b, dtype)[::2, 1::5]  # [30, 14]
    assert_gemm_close(A @ B, a[::2, ::3], b[::2, 1::5], dtype)
    # slices of a transposed operand
    At = to_ember(a, dtype, transposed=True)[5:37, 2:80:2]  # [32, 39], strides (1, 80)
    Bt = to_ember(b[:39, :50], dtype, transposed=True)[:, 1::3]
    assert_gemm_close(At @ Bt, a[5:37, 2:80:2], b[:39, 1:50:3], dtype)


def test_results_do_not_depend_on_thread_count():
    a = ember.tensor(rand(300, 700, seed=7), dtype=ember.float32)
    b = ember.tensor(rand(700, 500, seed=8), dtype=ember.float32)
    n = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        one = (a @ b).numpy().copy()
        ember.set_num_threads(max(2, n))
        many = (a @ b).numpy().copy()
    finally:
        ember.set_num_threads(n)
    np.testing.assert_array_equal(one, many)


# ----------------------------------------------------------------------------- batched
@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("trans", TRANS)
def test_bmm_transposes(trans, dtype):
    a, b = rand(6, 19, 37, seed=9), rand(6, 37, 23, seed=10)
    A = to_ember(a, dtype, trans[0] == "t")
    B = to_ember(b, dtype, trans[1] == "t")
    assert_gemm_close(ember.bmm(A, B), rounded(A), rounded(B), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_bmm_noncontiguous_batch_strides(dtype):
    a, b = rand(10, 13, 17, seed=11), rand(17, 8, 21, seed=12)
    A = to_ember(a, dtype)[::2]  # batch stride 2 * 13 * 17
    B = to_ember(b, dtype).permute(1, 0, 2)[1:6]  # batch dim from the middle of the storage
    ra, rb = rounded(A), rounded(B)
    assert_gemm_close(ember.bmm(A, B), ra, rb, dtype)
    # broadcast (stride-0) batch on one side, through matmul
    C = to_ember(rand(1, 17, 9, seed=13), dtype).expand(5, 17, 9)
    assert_gemm_close(ember.matmul(A, C), ra, rounded(C), dtype)
    # batched @ 2-D: the batch folds into the rows
    D = to_ember(rand(17, 30, seed=14), dtype, transposed=True)
    assert_gemm_close(A @ D, ra, rounded(D), dtype)


def test_bmm_attention_shapes():
    q = rand(64, 128, 64, seed=15)
    k = rand(64, 64, 128, seed=16)
    Q, K = ember.tensor(q, dtype=ember.float32), ember.tensor(k, dtype=ember.float32)
    assert_gemm_close(
        ember.bmm(Q, K),
        q.astype(np.float32).astype(np.float64),
        k.astype(np.float32).astype(np.float64),
        "float32",
    )
    # scores = q @ k^T with k stored [B, N, D]
    Kt = ember.tensor(np.ascontiguousarray(np.swapaxes(k, 1, 2)), dtype=ember.float32).mT
    assert_gemm_close(ember.bmm(Q, Kt), rounded(Q), rounded(Kt), "float32")


def test_many_batches_split_workspace():
    # packed B of all batches exceeds the engine's workspace cap: processed in batch groups
    a = rand(20, 40, 512, seed=17)
    b = rand(20, 2048, 512, seed=18)
    A = ember.tensor(a, dtype=ember.float32)
    B = ember.tensor(b, dtype=ember.float32).mT  # [20, 512, 2048], transposed: packed
    assert_gemm_close(ember.bmm(A, B), rounded(A), rounded(B), "float32")


# ----------------------------------------------------------------------------- addmm / baddbmm
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("ishape", [(23,), (1, 23), (31, 1), (31, 23), ()])
@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2.0), (0, 1), (1, -1.5)])
def test_addmm(ishape, beta, alpha, dtype):
    m, k, n = 31, 45, 23
    inp = to_ember(rand(*ishape, seed=19), dtype)
    A = to_ember(rand(m, k, seed=20), dtype, transposed=True)
    B = to_ember(rand(k, n, seed=21), dtype)
    out = ember.addmm(inp, A, B, beta=beta, alpha=alpha)
    extra = beta * np.broadcast_to(rounded(inp), (m, n)) if beta != 0 else None
    assert_gemm_close(out, rounded(A), rounded(B), dtype, extra=extra, scale=alpha)
    # method form
    out2 = inp.addmm(A, B, beta=beta, alpha=alpha)
    np.testing.assert_array_equal(rounded(out), rounded(out2))


def test_addmm_beta_zero_ignores_nan():
    inp = ember.full((4, 5), float("nan"))
    A, B = ember.ones(4, 3), ember.ones(3, 5)
    out = ember.addmm(inp, A, B, beta=0)
    np.testing.assert_array_equal(out.numpy(), np.full((4, 5), 3.0, np.float32))
    out = ember.addmm(ember.full((5,), float("nan")), A, B, beta=0, alpha=2)
    np.testing.assert_array_equal(out.numpy(), np.full((4, 5), 6.0, np.float32))


def test_addmm_integer():
    inp = ember.tensor([[1, 2], [3, 4]])
    A = ember.tensor([[1, 2, 3], [4, 5, 6]])
    B = ember.tensor([[1, 0], [0, 1], [1, 1]])
    out = ember.addmm(inp, A, B, beta=2, alpha=3)
    ref = 2 * np.array([[1, 2], [3, 4]]) + 3 * (
        np.array([[1, 2, 3], [4, 5, 6]]) @ np.array([[1, 0], [0, 1], [1, 1]])
    )
    np.testing.assert_array_equal(out.numpy(), ref)
    assert out.dtype == ember.int64


def test_addmm_errors():
    assert tuple(ember.addmm(ember.zeros(3), ember.zeros(2, 4), ember.zeros(4, 3)).shape) == (2, 3)
    with pytest.raises(ValueError, match="addmm"):
        ember.addmm(ember.zeros(2, 3), ember.zeros(2, 4), ember.zeros(5, 3))
    with pytest.raises(ValueError, match="addmm"):
        ember.addmm(ember.zeros(2, 3), ember.zeros(2, 4, 1), ember.zeros(4, 3))
    with pytest.raises(ValueError, match="addmm"):
        ember.addmm(ember.zeros(4, 3), ember.zeros(2, 4), ember.zeros(4, 3))
    with pytest.raises(TypeError, match="addmm"):
        ember.addmm(ember.zeros(2, 3, dtype=ember.float64), ember.zeros(2, 4), ember.zeros(4, 3))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("ishape", [(7,), (5, 1, 7), (5, 6, 7), (1, 6, 1)])
def test_baddbmm(ishape, dtype):
    a, b = rand(5, 6, 9, seed=22), rand(5, 9, 7, seed=23)
    inp = to_ember(rand(*ishape, seed=24), dtype)
    A, B = to_ember(a, dtype), to_ember(b, dtype, transposed=True)
    out = ember.baddbmm(inp, A, B, beta=0.25, alpha=3.0)
    extra = 0.25 * np.broadcast_to(rounded(inp), (5, 6, 7))
    assert_gemm_close(out, rounded(A), rounded(B), dtype, extra=extra, scale=3.0)
    with pytest.raises(ValueError, match="baddbmm"):
        ember.baddbmm(inp, A, ember.zeros(4, 9, 7, dtype=A.dtype))


# ----------------------------------------------------------------------------- linear
@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("xshape", [(13,), (9, 13), (2, 3, 13), (0, 13)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(xshape, bias, dtype):
    x = to_ember(rand(*xshape, seed=25), dtype)
    w = to_ember(rand(11, 13, seed=26), dtype)
    b = to_ember(rand(11, seed=27), dtype) if bias else None
    out = ember.nn.functional.linear(x, w, b)
    assert tuple(out.shape) == tuple(xshape[:-1]) + (11,)
    rx, rw = rounded(x).reshape(-1, 13), rounded(w)
    extra = np.broadcast_to(rounded(b), (rx.shape[0], 11)) if bias else None
    assert_gemm_close(out.reshape(-1, 11), rx, rw.T, dtype, extra=extra)


@pytest.mark.parametrize("act", ["relu", "gelu", "gelu_tanh"])
def test_linear_activation_epilogue(act):
    x = ember.tensor(rand(37, 50, seed=28), dtype=ember.float32)
    w = ember.tensor(rand(70, 50, seed=29), dtype=ember.float32)
    b = ember.tensor(rand(70, seed=30), dtype=ember.float32)
    got = ember._C._linear_act(x, w, b, act)
    z = ember.nn.functional.linear(x, w, b)
    ref = {
        "relu": ember.relu(z),
        "gelu": ember.nn.functional.gelu(z),
        "gelu_tanh": ember.nn.functional.gelu(z, approximate="tanh"),
    }[act]
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-5, atol=1e-5)


def test_linear_errors():
    with pytest.raises(ValueError, match="linear"):
        ember.nn.functional.linear(ember.zeros(4, 5), ember.zeros(3, 6))
    with pytest.raises(ValueError, match="linear"):
        ember.nn.functional.linear(ember.zeros(4, 5), ember.zeros(3, 5), ember.zeros(4))
    with pytest.raises(TypeError, match="linear"):
        ember.nn.functional.linear(ember.zeros(4, 5), ember.zeros(3, 5, dtype=ember.float64))


# ----------------------------------------------------------------------------- gradients
def leaf(*shape, seed=0):
    return ember.tensor(rand(*shape, seed=seed), dtype=ember.float64, requires_grad=True)


def test_addmm_gradcheck():
    gradcheck(
        lambda i, a, b: ember.addmm(i, a, b, beta=0.7, alpha=-1.3),
        (leaf(5, seed=1), leaf(4, 3, seed=2), leaf(3, 5, seed=3)),
    )
    gradcheck(
        lambda i, a, b: ember.addmm(i, a.mT, b),
        (leaf(4, 1, seed=4), leaf(3, 4, seed=5), leaf(3, 5, seed=6)),
    )


def test_baddbmm_gradcheck():
    gradcheck(
        lambda i, a, b: ember.baddbmm(i, a, b.mT, alpha=2.0),
        (leaf(2, 1, 4, seed=7), leaf(2, 3, 5, seed=8), leaf(2, 4, 5, seed=9)),
    )


def test_linear_gradcheck():
    gradcheck(
        lambda x, w, b: ember.nn.functional.linear(x, w, b),
        (leaf(2, 3, 4, seed=10), leaf(5, 4, seed=11), leaf(5, seed=12)),
    )
    gradcheck(
        lambda x, w: ember.nn.functional.linear(x, w), (leaf(4, seed=13), leaf(3, 4, seed=14))
    )


@pytest.mark.parametrize("act", ["relu", "gelu"])
def test_linear_act_gradcheck(act):
    # relu's kink is avoided by shifting the bias away from zero outputs
    x, w, b = leaf(6, 4, seed=15), leaf(5, 4, seed=16), leaf(5, seed=17)
    gradcheck(lambda x, w, b: ember._C._linear_act(x, w, b, act), (x, w, b))


def test_double_backward_through_matmul():
    a, b = leaf(3, 4, seed=18), leaf(4, 2, seed=19)
    (ga,) = ember.autograd.grad(
        (ember.addmm(ember.zeros(2, dtype=ember.float64), a, b) ** 2).sum(), (a,), create_graph=True
    )
    (gb,) = ember.autograd.grad(ga.sum(), (b,))
    an, bn = rand(3, 4, seed=18), rand(4, 2, seed=19)
    # d/db sum(2 (a b) b^T) = 2 (a^T 1 b + a^T a b 1?) -> check numerically with torch when available
    if torch is not None:
        ta = torch.tensor(an, requires_grad=True)
        tb = torch.tensor(bn, requires_grad=True)
        (tga,) = torch.autograd.grad(((ta @ tb) ** 2).sum(), (ta,), create_graph=True)
        (tgb,) = torch.autograd.grad(tga.sum(), (tb,))
        np.testing.assert_allclose(gb.numpy(), tgb.numpy(), rtol=1e-10)


@needs_torch
def test_mlp_backward_matches_torch():
    x, w1, b1 = rand(16, 30, seed=20), rand(20, 30, seed=21), rand(20, seed=22)
    w2, b2 = rand(10, 20, seed=23), rand(10, seed=24)
    ex = [ember.tensor(v, dtype=ember.float32, requires_grad=True) for v in (x, w1, b1, w2, b2)]
    tx = [torch.tensor(v, dtype=torch.float32, requires_grad=True) for v in (x, w1, b1, w2, b2)]
    F = ember.nn.functional
    ey = F.linear(ember._C._linear_act(ex[0], ex[1], ex[2], "relu"), ex[3], ex[4])
    ty = torch.nn.functional.linear(
        torch.relu(torch.nn.functional.linear(tx[0], tx[1], tx[2])), tx[3], tx[4]
    )
    (ey**2).sum().backward()
    (ty**2).sum().backward()
    np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    for e, t in zip(ex, tx):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- ISA paths
ISA_SCRIPT = textwrap.dedent(
    """
    import numpy as np, ember
    want = {want!r}
    got = ember._C.cpu_isa()
    order = ["scalar", "avx2", "avx512"]
    assert got == want or (got in order and order.index(got) < order.index(want)), got  # lowered to the hardware
    rng = np.random.default_rng(0)
    ember.set_num_threads(2)
    for m, k, n in [(1, 1, 1), (3, 5, 7), (17, 1023, 513), (65, 33, 129), (129, 70, 10), (1, 300, 77),
                    (77, 300, 1), (200, 300, 250), (31, 700, 600)]:
        a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
        bound = np.abs(a) @ np.abs(b)
        for dt, tol in [(ember.float32, 2e-6), (ember.float64, 1e-14), (ember.bfloat16, 1e-2)]:
            for ta in (0, 1):
                for tb in (0, 1):
                    A = ember.tensor(np.ascontiguousarray(a.T)).to(dt).T if ta else ember.tensor(a).to(dt)
                    B = ember.tensor(np.ascontiguousarray(b.T)).to(dt).T if tb else ember.tensor(b).to(dt)
                    ra = A.to(ember.float64).numpy(); rb = B.to(ember.float64).numpy()
                    out = ember.addmm(ember.tensor(np.ones(n)).to(dt), A, B, beta=0.5, alpha=2.0)
                    ref = 2.0 * (ra @ rb) + 0.5
                    err = np.abs(out.to(ember.float64).numpy() - ref)
                    lim = tol * (2.0 * (np.abs(ra) @ np.abs(rb)) + 0.5) + 1e-30
                    assert (err <= lim).all(), (m, k, n, dt, ta, tb, err.max())
    x = ember.tensor(rng.standard_normal((6, 40, 30)), dtype=ember.float32)
    y = ember.tensor(rng.standard_normal((6, 30, 50)), dtype=ember.float32)
    r = ember.bmm(x[::2], y[1::2].mT.contiguous().mT).numpy().astype(np.float64)
    ref = x.numpy()[::2].astype(np.float64) @ y.numpy()[1::2].astype(np.float64)
    assert np.abs(r - ref).max() < 1e-4
    print("ok", got)
    """
)


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_each_isa_path(isa):
    env = dict(os.environ, EMBER_CPU_ISA=isa)
    env["PYTHONPATH"] = os.pathsep.join(
        p
        for p in [os.path.dirname(os.path.dirname(ember.__file__)), env.get("PYTHONPATH", "")]
        if p
    )
    r = subprocess.run(
        [sys.executable, "-c", ISA_SCRIPT.format(want=isa)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("ok")


# ----------------------------------------------------------------------------- narrow C (N < NR)
# C with fewer columns than the kernel's register tile and rows of A contiguous along K take a
# dot-product path (B^T packed once, A read in place): every N up to 15, K around the vector
# width and its two-accumulator unroll, row counts around its 4-row blocks and 32-row units.
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 10, 15])
@pytest.mark.parametrize(
    "m,k", [(1, 16), (3, 17), (4, 31), (5, 32), (33, 33), (65, 100), (130, 512)]
)
@pytest.mark.parametrize("tb", [False, True])
def test_narrow_output_columns(m, k, n, tb, dtype):
    A = to_ember(rand(m, k, seed=11), dtype)
    B = to_ember(rand(k, n, seed=12), dtype, transposed=tb)
    assert_gemm_close(A @ B, rounded(A), rounded(B), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_narrow_strided_rows_and_batches(dtype):
    a = rand(3, 70, 90, seed=13)
    b = rand(3, 90, 6, seed=14)
    A = to_ember(a, dtype)[:, ::2, 5:85]  # rows 180 apart, K contiguous
    B = to_ember(b, dtype)[:, 5:85]
    assert_gemm_close(A @ B, a[:, ::2, 5:85], b[:, 5:85], dtype)
    # one B for every batch (broadcast, batch stride 0) and a B per batch
    assert_gemm_close(A @ B[1], a[:, ::2, 5:85], b[1, 5:85], dtype)
    Bb = to_ember(b, dtype).expand(3, 90, 6)[:, 5:85]
    assert_gemm_close(A @ Bb, a[:, ::2, 5:85], b[:, 5:85], dtype)


@pytest.mark.parametrize("act", [None, "relu"])
def test_narrow_epilogues(act):
    x = ember.tensor(rand(70, 200, seed=15), dtype=ember.float32)
    w = ember.tensor(rand(10, 200, seed=16), dtype=ember.float32)
    bias = ember.tensor(rand(10, seed=17), dtype=ember.float32)
    ref = x.numpy().astype(np.float64) @ w.numpy().astype(np.float64).T + bias.numpy()
    if act == "relu":
        ref = np.maximum(ref, 0)
        out = ember.relu(ember.nn.functional.linear(x, w, bias))
    else:
        out = ember.nn.functional.linear(x, w, bias)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-4)
    inp = ember.tensor(rand(70, 10, seed=18), dtype=ember.float32)
    out = ember.addmm(inp, x, w.T, beta=0.5, alpha=-2.0)
    ref = 0.5 * inp.numpy() - 2.0 * (x.numpy().astype(np.float64) @ w.numpy().astype(np.float64).T)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-4)


def test_narrow_and_gemv_one_thread_match_many():
    # the narrow path's row units and the matrix-vector chunks differ with the thread count;
    # each output is still one dot product over K in the same order
    cases = [((300, 257), (257, 7)), ((1, 300), (300, 5000)), ((5000, 300), (300, 1))]
    n = ember.get_num_threads()
    for sa, sb in cases:
        a = ember.tensor(rand(*sa, seed=19), dtype=ember.float32)
        b = ember.tensor(rand(*sb, seed=20), dtype=ember.float32)
        try:
            ember.set_num_threads(1)
            one = (a @ b).numpy().copy()
            ember.set_num_threads(max(2, n))
            many = (a @ b).numpy().copy()
        finally:
            ember.set_num_threads(n)
        ref = a.numpy().astype(np.float64) @ b.numpy().astype(np.float64)
        np.testing.assert_allclose(one, ref, rtol=1e-4, atol=1e-4 * sa[1] ** 0.5)
        np.testing.assert_allclose(many, ref, rtol=1e-4, atol=1e-4 * sa[1] ** 0.5)


# ----------------------------------------------------------------------------- B read in place
# Few rows of A (up to 4 register panels: 24 rows with AVX2, 56 with AVX-512) read a row-major B
# in place instead of packing it, whatever B's size: row counts at both boundaries, a partial
# last column strip, B rows sliced apart, a transposed B (packed), and a fused epilogue.
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("m", [1, 12, 13, 23, 24, 25, 56, 57])
@pytest.mark.parametrize("tb", [False, True])
def test_few_rows_large_b(m, tb, dtype):
    k, n = 301, 263  # B > 256 KB in float32, 263 = 16 * 16 + 7 columns
    A = to_ember(rand(m, k, seed=21), dtype)
    B = to_ember(rand(k, n, seed=22), dtype, transposed=tb)
    assert_gemm_close(A @ B, rounded(A), rounded(B), dtype)


@pytest.mark.parametrize("m", [17, 24])
def test_few_rows_strided_b_and_epilogue(m):
    a, b = rand(m, 520, seed=23), rand(1040, 300, seed=24)
    A = to_ember(a, "float32")
    B = to_ember(b, "float32")[::2]  # [520, 300], rows 600 apart
    assert_gemm_close(A @ B, a, b[::2], "float32")
    c = rand(m, 300, seed=25)
    out = ember.addmm(to_ember(c, "float32"), A, B, beta=0.5, alpha=2.0)
    assert_gemm_close(out, a, b[::2], "float32", extra=0.5 * c, scale=2.0)


# ----------------------------------------------------------------------------- matrix-vector
# x @ B with B row-major runs axpy sweeps of 8 rows of B over chunks of up to 4096 outputs (one
# thread) or over halves of K (two threads): K around the sweep width and the K split, outputs
# around the chunk width.
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k", [1, 7, 8, 9, 17, 33, 129])
@pytest.mark.parametrize("n", [5, 4095, 4097])
def test_row_vector_sweeps(k, n, dtype):
    A = to_ember(rand(1, k, seed=26), dtype)
    B = to_ember(rand(k, n, seed=27), dtype)
    assert_gemm_close(A @ B, rounded(A), rounded(B), dtype)
    # a strided x and a batch of row vectors
    xs = to_ember(rand(1, 2 * k, seed=28), dtype)[:, ::2]
    assert_gemm_close(xs @ B, rounded(xs), rounded(B), dtype)
    xb = to_ember(rand(3, 1, k, seed=29), dtype)
    assert_gemm_close(xb @ B, rounded(xb), rounded(B), dtype)


def test_small_products_one_thread_match_many():
    # 64^3 and up run on the pool: the split changes, each output's K order does not
    n = ember.get_num_threads()
    for m, k, nn in [(64, 64, 64), (65, 63, 67), (1, 9000, 77), (1, 65, 8200), (20, 700, 600)]:
        a = ember.tensor(rand(m, k, seed=30), dtype=ember.float32)
        b = ember.tensor(rand(k, nn, seed=31), dtype=ember.float32)
        try:
            ember.set_num_threads(1)
            one = (a @ b).numpy().copy()
            ember.set_num_threads(max(2, n))
            many = (a @ b).numpy().copy()
        finally:
            ember.set_num_threads(n)
        ref = a.numpy().astype(np.float64) @ b.numpy().astype(np.float64)
        np.testing.assert_allclose(one, ref, rtol=1e-4, atol=1e-4 * k**0.5)
        np.testing.assert_allclose(many, ref, rtol=1e-4, atol=1e-4 * k**0.5)


def test_pool_spin_modes_one_thread_match_many():
    # The pool's waiting threads keep their CPU for a while when it has at most one thread per
    # CPU and yield at once when it has more: both modes (and back-to-back jobs on either) give
    # the one-thread result exactly.
    n = ember.get_num_threads()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    a = ember.tensor(rand(130, 257, seed=40), dtype=ember.float32)
    b = ember.tensor(rand(257, 190, seed=41), dtype=ember.float32)
    try:
        ember.set_num_threads(1)
        one = (a @ b).numpy().copy()
        for threads in (max(2, cpus), 2 * cpus + 1):
            ember.set_num_threads(threads)
            for _ in range(50):
                np.testing.assert_array_equal((a @ b).numpy(), one)
    finally:
        ember.set_num_threads(n)
