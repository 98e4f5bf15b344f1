"""The Winograd F(4x4, 3x3) conv kernels (private entry points ember._C._winograd3x3_*): the
forward with and without bias, the weight gradient and the input gradient (a forward with the
filters flipped and the channels swapped) against float64 PyTorch over odd shapes and paddings,
partial edge tiles, thread-count independence, accuracy at large channel counts, each ISA path
forced through EMBER_CPU_ISA, the applicability rule and bad input."""

import os
import subprocess
import sys

import numpy as np
import pytest

import ember
from ember import _C

torch = pytest.importorskip("torch")
F = torch.nn.functional


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def em(a):
    return ember.from_numpy(np.ascontiguousarray(a))


def npy(t):
    return np.asarray(t.numpy())


def ref_forward(x, w, b, p):
    tb = None if b is None else torch.from_numpy(b).double()
    y = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), tb, padding=p)
    return y.numpy()


def ref_grads(x, w, dy, p):
    xt = torch.from_numpy(x).double().requires_grad_()
    wt = torch.from_numpy(w).double().requires_grad_()
    F.conv2d(xt, wt, padding=p).backward(torch.from_numpy(dy).double())
    return xt.grad.numpy(), wt.grad.numpy()


def assert_rel(got, want, tol):
    """Max error relative to the reference's largest magnitude (Winograd errors scale with the
    transformed values, not with each output)."""
    assert got.shape == want.shape
    scale = max(np.abs(want).max(), 1e-30)
    err = np.abs(got.astype(np.float64) - want).max() / scale
    assert err < tol, f"relative error {err:.3g} >= {tol}"


SIZES = [1, 2, 3, 5, 7, 13, 32, 33]
CASES = [
    # (N, C, H, W, K)
    (1, 1, 1, 1, 1),
    (1, 3, 2, 5, 1),
    (3, 17, 7, 13, 3),
    (1, 64, 13, 7, 17),
    (3, 3, 33, 32, 64),
    (1, 17, 5, 33, 17),
    (3, 64, 32, 3, 3),
    (1, 1, 32, 33, 64),
    # output channels past several passes of filter panels, the last panel partial
    (2, 5, 9, 11, 29),
    (1, 8, 6, 6, 50),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
@pytest.mark.parametrize("p", [0, 1, 2])
@pytest.mark.parametrize("bias", [False, True])
def test_forward_matches_torch(case, p, bias):
    N, C, H, W, K = case
    if H + 2 * p < 3 or W + 2 * p < 3:
        pytest.skip("input smaller than the kernel")
    x, w = rand(N, C, H, W, seed=1), rand(K, C, 3, 3, seed=2)
    b = rand(K, seed=3) if bias else None
    y = _C._winograd3x3_forward(em(x), em(w), None if b is None else em(b), p)
    assert_rel(npy(y), ref_forward(x, w, b, p), 2e-5)


@pytest.mark.parametrize("H", SIZES)
@pytest.mark.parametrize("W", SIZES)
def test_forward_all_sizes(H, W):
    # every combination of the listed sizes: partial tiles on either edge, one-tile images
    for ph, pw in ((0, 0), (1, 1), (2, 2), (0, 2), (2, 1)):
        if H + 2 * ph < 3 or W + 2 * pw < 3:
            continue
        x, w, b = rand(3, 5, H, W, seed=H), rand(7, 5, 3, 3, seed=W), rand(7, seed=4)
        y = _C._winograd3x3_forward(em(x), em(w), em(b), (ph, pw))
        want = F.conv2d(
            torch.from_numpy(x).double(),
            torch.from_numpy(w).double(),
            torch.from_numpy(b).double(),
            padding=(ph, pw),
        ).numpy()
        assert_rel(npy(y), want, 2e-5)


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
@pytest.mark.parametrize("p", [0, 1, 2])
def test_grad_weight_and_input_match_torch(case, p):
    N, C, H, W, K = case
    if H + 2 * p < 3 or W + 2 * p < 3:
        pytest.skip("input smaller than the kernel")
    x, w = rand(N, C, H, W, seed=5), rand(K, C, 3, 3, seed=6)
    Ho, Wo = H + 2 * p - 2, W + 2 * p - 2
    dy = rand(N, K, Ho, Wo, seed=7)
    gx, gw = ref_grads(x, w, dy, p)
    dw = _C._winograd3x3_grad_weight(em(x), em(dy), p)
    assert_rel(npy(dw), gw, 2e-5)
    # input gradient = forward of dy with the filters flipped and in/out channels swapped
    wf = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    dx = _C._winograd3x3_forward(em(dy), em(wf), None, 2 - p)
    assert_rel(npy(dx), gx, 2e-5)


def test_non_contiguous_inputs():
    x, w, dy = rand(2, 6, 9, 11, seed=8), rand(5, 6, 3, 3, seed=9), rand(2, 5, 9, 11, seed=10)
    xt = em(x.transpose(0, 1, 3, 2).copy()).transpose(2, 3)  # a strided view holding x
    wt = em(w.transpose(1, 0, 2, 3).copy()).transpose(0, 1)
    assert not xt.is_contiguous()
    y = _C._winograd3x3_forward(xt, wt, None, 1)
    assert_rel(npy(y), ref_forward(x, w, None, 1), 2e-5)
    dyt = em(dy.transpose(1, 0, 2, 3).copy()).transpose(0, 1)
    dw = _C._winograd3x3_grad_weight(xt, dyt, 1)
    assert_rel(npy(dw), ref_grads(x, w, dy, 1)[1], 2e-5)


def test_large_channels_accuracy():
    # long channel reductions through the transforms stay within ~1e-4 of a float64 reference
    x, w = rand(2, 512, 12, 12, seed=11), rand(32, 512, 3, 3, seed=12) / 20
    assert_rel(
        npy(_C._winograd3x3_forward(em(x), em(w), None, 1)), ref_forward(x, w, None, 1), 1e-4
    )
    x2, dy2 = rand(4, 64, 16, 16, seed=14), rand(4, 512, 16, 16, seed=15)
    w2 = rand(512, 64, 3, 3, seed=16)
    assert_rel(
        npy(_C._winograd3x3_grad_weight(em(x2), em(dy2), 1)), ref_grads(x2, w2, dy2, 1)[1], 1e-4
    )


def test_thread_count_independent():
    x, w, b = rand(5, 24, 21, 19, seed=17), rand(20, 24, 3, 3, seed=18), rand(20, seed=19)
    dy = rand(5, 20, 21, 19, seed=20)
    old = ember.get_num_threads()
    try:
        outs = []
        for n in (1, 2, 3):
            ember.set_num_threads(n)
            outs.append(
                (
                    npy(_C._winograd3x3_forward(em(x), em(w), em(b), 1)),
                    npy(_C._winograd3x3_grad_weight(em(x), em(dy), 1)),
                )
            )
    finally:
        ember.set_num_threads(old)
    for y, dw in outs[1:]:
        np.testing.assert_array_equal(y, outs[0][0])  # each output is computed the same way
        assert_rel(
            dw, outs[0][1].astype(np.float64), 1e-5
        )  # per-thread partial sums: order differs


def test_applicable():
    assert _C._winograd3x3_applicable(32, 64, 32, 32, 64, 1, 1)
    assert _C._winograd3x3_applicable(128, 32, 14, 14, 64, 1, 1)
    assert not _C._winograd3x3_applicable(32, 1, 28, 28, 32, 1, 1)  # tiny channel count
    assert not _C._winograd3x3_applicable(32, 64, 32, 32, 64, 3, 1)  # padding > 2
    assert not _C._winograd3x3_applicable(32, 64, 1, 1, 64, 0, 0)  # empty output


def test_bad_input():
    x, w = em(rand(1, 3, 5, 5)), em(rand(2, 3, 3, 3))
    with pytest.raises(ValueError, match="_winograd3x3_forward.*padding"):
        _C._winograd3x3_forward(x, w, None, 3)
    with pytest.raises(ValueError, match=r"weight \[2, 4, 3, 3\]"):
        _C._winograd3x3_forward(x, em(rand(2, 4, 3, 3)), None, 1)
    with pytest.raises(ValueError, match="bias"):
        _C._winograd3x3_forward(x, w, em(rand(3)), 1)
    with pytest.raises(TypeError, match="float32"):
        _C._winograd3x3_forward(ember.from_numpy(rand(1, 3, 5, 5).astype(np.float64)), w, None, 1)
    with pytest.raises(ValueError, match="smaller than the 3x3 kernel"):
        _C._winograd3x3_forward(em(rand(1, 3, 1, 5)), w, None, 0)
    with pytest.raises(ValueError, match="grad_output"):
        _C._winograd3x3_grad_weight(x, em(rand(1, 2, 4, 5)), 1)


ISA_SCRIPT = """
import numpy as np, torch, ember
from ember import _C
F = torch.nn.functional
rng = np.random.default_rng(0)
for (N, C, H, W, K, p) in [(2, 19, 13, 33, 21, 1), (1, 5, 7, 5, 3, 0), (3, 8, 6, 14, 9, 2)]:
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C, 3, 3)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    y = np.asarray(_C._winograd3x3_forward(ember.from_numpy(x), ember.from_numpy(w), ember.from_numpy(b), p).numpy())
    xt, wt = torch.from_numpy(x).double().requires_grad_(), torch.from_numpy(w).double()
    wt.requires_grad_()
    want = F.conv2d(xt, wt, torch.from_numpy(b).double(), padding=p)
    assert np.abs(y - want.detach().numpy()).max() < 2e-5 * np.abs(want.detach().numpy()).max()
    dy = rng.standard_normal(want.shape).astype(np.float32)
    want.backward(torch.from_numpy(dy).double())
    dw = np.asarray(_C._winograd3x3_grad_weight(ember.from_numpy(x), ember.from_numpy(dy), p).numpy())
    assert np.abs(dw - wt.grad.numpy()).max() < 2e-5 * np.abs(wt.grad.numpy()).max()
print("ok")
"""


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_each_isa_path(isa):
    env = dict(os.environ, EMBER_CPU_ISA=isa)
    env["PYTHONPATH"] = os.pathsep.join(
        p
        for p in [os.path.dirname(os.path.dirname(ember.__file__)), env.get("PYTHONPATH", "")]
        if p
    )
    r = subprocess.run(
        [sys.executable, "-c", ISA_SCRIPT], env=env, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("ok")
