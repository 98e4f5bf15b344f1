"""The private roofline probes behind bench/py/roofline.py (ember._C): they run, return
positive rates (no timing is asserted), report n/a for bf16 without AVX512_BF16, and reject
bad arguments with the probe's name."""

import pytest

import ember
from ember import _C


def _has_bf16_dot():
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and "avx512_bf16" in line.split() for line in f)
    except OSError:
        return False


def test_fma_peak_f32():
    assert _C._fma_peak_isa("f32") in ("avx512", "avx2", "portable")
    g = _C._fma_peak_gflops("f32", 1, 1)
    assert isinstance(g, float) and g > 0


def test_fma_peak_bf16_matches_the_cpu():
    g = _C._fma_peak_gflops("bf16", 1, 1)
    if _has_bf16_dot() and _C.cpu_isa() == "avx512":
        assert g > 0 and _C._fma_peak_isa("bf16") == "avx512_bf16"
    else:
        assert g is None and _C._fma_peak_isa("bf16") is None


def test_triad_all_threads():
    assert _C._triad_gbs(1 << 16, 0, 2) > 0
    assert _C._triad_gbs(7, ember.get_num_threads() + 1, 1) > 0  # fewer elements than threads


def test_bad_arguments():
    with pytest.raises(ValueError, match="_fma_peak_gflops: kind"):
        _C._fma_peak_gflops("f16")
    with pytest.raises(ValueError, match="_fma_peak_gflops: threads"):
        _C._fma_peak_gflops("f32", -1)
    with pytest.raises(ValueError, match="_triad_gbs: n must be"):
        _C._triad_gbs(0)
