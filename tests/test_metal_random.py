"""Metal random numbers (metal/random.metal): the counter-based Philox4x32-10 stream against a
NumPy reference (checked on Random123's known-answer vectors), bit for bit for uniforms and
Bernoulli draws; determinism per seed and generator; moments of rand / randn; dropout's zero
fraction and scaling; no CPU fallback. Skipped without the Metal backend (Linux: the emulator)."""

import math

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from conftest import metal_variants, requires_metal, to_np

pytestmark = requires_metal

M32 = np.uint64(0xFFFFFFFF)


def _philox(counters, key):
    """Philox4x32-10 of counters (c0, c1, 0, 0) under a 64-bit key -> uint32 [n, 4]."""
    c = np.zeros((len(counters), 4), dtype=np.uint64)
    c[:, 0] = np.asarray(counters, dtype=np.uint64) & M32
    c[:, 1] = np.asarray(counters, dtype=np.uint64) >> np.uint64(32)
    return _philox_rounds(c, key & 0xFFFFFFFF, key >> 32)


def _philox_rounds(c, k0, k1):
    c = c.astype(np.uint64)
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & 0xFFFFFFFF, (k1 + 0xBB67AE85) & 0xFFFFFFFF
        p0 = np.uint64(0xD2511F53) * c[:, 0]
        p1 = np.uint64(0xCD9E8D57) * c[:, 2]
        n0 = (p1 >> np.uint64(32)) ^ c[:, 1] ^ np.uint64(k0)
        n2 = (p0 >> np.uint64(32)) ^ c[:, 3] ^ np.uint64(k1)
        c = np.stack([n0, p1 & M32, n2, p0 & M32], axis=1)
    return c.astype(np.uint32)


def test_reference_matches_known_answers():
    # Random123's kat_vectors for philox4x32_10: (counter, key) -> output
    cases = [
        ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
        ([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
        (
            [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344],
            [0xA4093822, 0x299F31D0],
            [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1],
        ),
    ]
    for ctr, key, want in cases:
        got = _philox_rounds(np.array([ctr], dtype=np.uint64), key[0], key[1])[0]
        assert [int(v) for v in got] == want


def _key(gen):
    """The 64-bit key a device draw takes from gen: its next xorshift128+ output."""
    s0, s1, _ = gen.get_state()
    return (s0 + s1) % 2**64


def _words(n, key):
    return _philox(np.arange((n + 3) // 4), key).reshape(-1)[:n]


def _uniform_ref(n, key, bits=24):
    return (_words(n, key) >> np.uint32(32 - bits)).astype(np.float64) * 2.0**-bits


def _normal_ref(n, key):
    w = _words(4 * ((n + 3) // 4), key).reshape(-1, 2).astype(np.float64)
    u1 = (np.floor(w[:, 0] / 256) + 1) * 2.0**-24
    u2 = np.floor(w[:, 1] / 256) * 2.0**-24
    r, th = np.sqrt(-2 * np.log(u1)), 2 * np.pi * u2
    return np.stack([r * np.cos(th), r * np.sin(th)], axis=1).reshape(-1)[:n]


def _gen(seed):
    return ember.Generator().manual_seed(seed)


def _no_fallback(fn):
    ember.metal.reset_fallback_counts()
    out = metal_variants(fn)
    assert ember.metal.fallback_counts() == {}, ember.metal.fallback_counts()
    return out


@pytest.mark.parametrize("dtype,bits", [("float32", 24), ("float16", 11), ("bfloat16", 8)])
@pytest.mark.parametrize("n", [1, 6, 37])
def test_rand_is_the_philox_stream(dtype, bits, n):
    dt = getattr(ember, dtype)
    key = _key(_gen(7))
    out = _no_fallback(lambda: ember.rand(n, generator=_gen(7), dtype=dt, device="metal"))
    assert out.device == "metal" and out.dtype == dt and tuple(out.shape) == (n,)
    # exact: the dtype's significand bits of each word, so never 1.0
    np.testing.assert_array_equal(to_np(out.cpu()).astype(np.float64), _uniform_ref(n, key, bits))


def test_randn_is_box_muller_on_the_stream():
    key = _key(_gen(3))
    out = _no_fallback(lambda: ember.randn(3, 11, generator=_gen(3), device="metal"))
    assert tuple(out.shape) == (3, 11)
    np.testing.assert_allclose(
        to_np(out.cpu()).reshape(-1), _normal_ref(33, key), rtol=2e-5, atol=2e-5
    )


def test_same_seed_same_stream_and_calls_advance():
    draws = []
    for _ in range(2):
        ember.manual_seed(1234)
        draws.append(
            [
                to_np(ember.rand(9, device="metal").cpu()),
                to_np(ember.randn(9, device="metal").cpu()),
            ]
        )
    np.testing.assert_array_equal(draws[0][0], draws[1][0])
    np.testing.assert_array_equal(draws[0][1], draws[1][1])
    ember.manual_seed(1234)
    a, b = ember.rand(9, device="metal"), ember.rand(9, device="metal")
    assert not np.array_equal(to_np(a.cpu()), to_np(b.cpu()))  # each call takes a new key
    g1, g2 = _gen(5), _gen(6)
    assert not np.array_equal(
        to_np(ember.rand(9, generator=g1, device="metal").cpu()),
        to_np(ember.rand(9, generator=g2, device="metal").cpu()),
    )


def test_moments():
    n = 4096
    u = to_np(_no_fallback(lambda: ember.rand(n, generator=_gen(11), device="metal")).cpu())
    z = to_np(_no_fallback(lambda: ember.randn(n, generator=_gen(12), device="metal")).cpu())
    # 5 standard errors: a false failure has probability ~1e-6 (and the seeds are fixed)
    assert u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 5 * math.sqrt(1 / 180 / n)
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1) < 5 * math.sqrt(2 / n)
    assert abs((z**3).mean()) < 5 * math.sqrt(15 / n)  # symmetric


def test_inplace_uniform_normal_and_like():
    x = ember.zeros(6, 8, device="metal")
    key = _key(_gen(21))
    _no_fallback(lambda: x.uniform_(-2.0, 3.0, generator=_gen(21)))
    np.testing.assert_allclose(
        to_np(x.cpu()).reshape(-1), -2 + 5 * _uniform_ref(48, key), rtol=1e-6, atol=1e-6
    )
    key = _key(_gen(22))
    _no_fallback(lambda: x.normal_(1.5, 0.5, generator=_gen(22)))
    np.testing.assert_allclose(
        to_np(x.cpu()).reshape(-1), 1.5 + 0.5 * _normal_ref(48, key), rtol=2e-5, atol=2e-5
    )
    # a strided view draws its own elements in logical order; the rest is untouched
    y = ember.zeros(4, 6, device="metal")
    key = _key(_gen(23))
    _no_fallback(lambda: y.t()[1:4].uniform_(generator=_gen(23)))
    ref = np.zeros((4, 6))
    ref.T[1:4] = _uniform_ref(12, key).reshape(3, 4)
    np.testing.assert_array_equal(to_np(y.cpu()), ref)
    like = _no_fallback(lambda: ember.randn_like(y, generator=_gen(24)))
    assert like.device == "metal" and like.shape == y.shape
    like = _no_fallback(lambda: ember.rand_like(y, dtype=ember.float16, generator=_gen(25)))
    assert like.device == "metal" and like.dtype == ember.float16


def test_bernoulli_tensor_probabilities():
    p = ember.tensor([[0.0, 1.0, 0.5, 0.25, 0.9], [0.1, 0.0, 1.0, 0.7, 0.3]])
    key = _key(_gen(31))
    out = _no_fallback(lambda: ember.bernoulli(p.to("metal"), generator=_gen(31)))
    want = (_uniform_ref(10, key) < to_np(p).reshape(-1).astype(np.float32)).astype(np.float32)
    np.testing.assert_array_equal(to_np(out.cpu()).reshape(-1), want)
    for bad in ([0.5, 1.5], [float("nan"), 0.5], [-0.1, 0.2]):
        with pytest.raises(ValueError, match="bernoulli"):
            ember.bernoulli(ember.tensor(bad, device="metal"))


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_dropout_zero_fraction_and_scale(dtype):
    dt = getattr(ember, dtype)
    x = ember.ones(64, 64, dtype=dt, device="metal")
    p = 0.3
    ember.manual_seed(0)
    key = _key(ember.default_generator())
    y = to_np(_no_fallback(lambda: (ember.manual_seed(0), F.dropout(x, p))[1]).cpu())
    ember.manual_seed(0)
    y2 = to_np(F.dropout(x, p).cpu())
    np.testing.assert_array_equal(y, y2)  # same seed, same mask
    kept = _uniform_ref(x.numel(), key) < 1 - p  # the mask is the stream's Bernoulli draw
    np.testing.assert_array_equal(y.reshape(-1) != 0, kept)
    scale = float(ember.tensor(1 / (1 - p), dtype=dt).item())
    assert np.all((y == 0) | np.isclose(y, scale, rtol=1e-2 if dtype != "float32" else 1e-6))
    zero = (y == 0).mean()
    assert abs(zero - p) < 5 * math.sqrt(p * (1 - p) / y.size)


def test_dropout_modules_and_gradient():
    ember.manual_seed(1)
    m = ember.nn.Dropout(0.5).to("metal")
    x = ember.randn(8, 16, device="metal", requires_grad=True)
    ember.metal.reset_fallback_counts()
    y = m(x)
    y.sum().backward()
    assert ember.metal.fallback_counts() == {}, ember.metal.fallback_counts()
    # the gradient is the mask times 1 / (1 - p)
    np.testing.assert_allclose(to_np(x.grad.cpu()), (to_np(y.detach().cpu()) != 0) * 2.0)
    m.eval()
    assert m(x) is x
    d2 = ember.nn.Dropout2d(0.5)
    z = d2(ember.ones(4, 6, 3, 3, device="metal"))
    assert z.device == "metal"
    per_channel = to_np(z.cpu()).reshape(24, 9)
    assert np.all(per_channel.min(1) == per_channel.max(1))  # whole channels kept or dropped


def test_float64_falls_back_to_the_same_stream():
    # no float64 on Metal GPUs: the slot's CPU kernel computes the Philox stream (32-bit uniforms)
    key = _key(_gen(41))
    ember.metal.reset_fallback_counts()
    out = ember.rand(10, generator=_gen(41), dtype=ember.float64, device="metal")
    assert out.device == "metal" and ember.metal.fallback_counts() == {"random/random": 1}
    np.testing.assert_array_equal(to_np(out.cpu()), _uniform_ref(10, key, bits=32))


def test_empty_and_cpu_unchanged():
    assert ember.rand(0, 3, device="metal").shape == (0, 3)
    # CPU tensors keep the sequential CPU stream (not Philox)
    a = to_np(ember.rand(8, generator=_gen(9)))
    b = to_np(ember.rand(8, generator=_gen(9), device="metal").cpu())
    assert not np.array_equal(a, b)


def test_distributions_sample_on_metal():
    loc = ember.zeros(3, 4, device="metal", requires_grad=True)
    scale = ember.ones(3, 4, device="metal")
    ember.metal.reset_fallback_counts()
    s = ember.distributions.Normal(loc, scale).rsample((2,))
    b = ember.distributions.Bernoulli(probs=ember.full((5,), 0.5, device="metal")).sample()
    assert s.device == "metal" and tuple(s.shape) == (2, 3, 4) and b.device == "metal"
    assert ember.metal.fallback_counts() == {}, ember.metal.fallback_counts()
    s.sum().backward()
    np.testing.assert_array_equal(to_np(loc.grad.cpu()), np.full((3, 4), 2.0, dtype=np.float32))
    assert set(np.unique(to_np(b.cpu()))) <= {0.0, 1.0}
