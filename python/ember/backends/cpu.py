"""``ember.backends.cpu``: which SIMD level the CPU kernels use."""

from __future__ import annotations

__all__ = ["get_cpu_capability"]


def get_cpu_capability() -> str:
    """The instruction set ember's CPU kernels picked at start-up (e.g. ``"AVX2"``)."""
    from .. import _C

    return str(_C.cpu_isa())
