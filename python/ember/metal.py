"""``ember.metal``: the Metal (Apple GPU) backend. ``device="metal"`` (or PyTorch's ``"mps"``)
puts tensors on it. On Linux, a build with the MSL-on-CPU emulator
(``EMBER_METAL_EMULATOR=1 bash scripts/dev_build.sh``) runs the same kernels on the CPU, for tests.

Ops without a Metal kernel run their CPU kernel on the same (unified-memory) buffers after a
synchronize; :func:`fallback_counts` says which, so tests can prove a computation stayed on the GPU.
"""

from __future__ import annotations

from . import _C

__all__ = [
    "is_built",
    "is_available",
    "is_emulated",
    "synchronize",
    "fallback_counts",
    "reset_fallback_counts",
]


def is_built() -> bool:
    """Whether this ember was built with the Metal backend (real or emulated)."""
    return _C._metal_built()


def is_available() -> bool:
    """Whether ``device="metal"`` works in this process."""
    return _C._device_available("metal")


def is_emulated() -> bool:
    """Whether Metal kernels run on the CPU emulator (a test build) rather than a GPU."""
    return is_built() and _C._metal_runtime_name() == "emulator"


def synchronize() -> None:
    """Wait for every queued Metal kernel (a no-op without the backend)."""
    if is_available():
        _C._synchronize("metal")


def fallback_counts() -> dict[str, int]:
    """How often an op ran its CPU kernel on a Metal tensor, keyed ``"slot"`` (no Metal kernel for
    the family) or ``"slot/op"`` (the family's Metal kernel declined that op or dtype)."""
    return dict(_C._fallback_counts())


def reset_fallback_counts() -> None:
    """Clear :func:`fallback_counts`."""
    _C._reset_fallback_counts()


# ---- test hooks (the emulator's race exposure and kernel coverage)


def _set_emulator_options(schedule: int = 0, seed: int = 1, poison: int = 0xFF) -> None:
    """Fiber schedule (0 forward, 1 reverse, 2 random with ``seed``, 3 run-ahead: each
    SIMD-group runs to its next barrier before the next one starts, in a ``seed`` order) and
    the byte fresh threadgroup memory is filled with, for later dispatches (a GPU ignores them)."""
    if is_built():
        _C._metal_set_emulator_options(schedule, seed, poison)


def _executed_kernels() -> set[str]:
    """Host names of the Metal kernels that ran in this process."""
    return set(_C._metal_executed_kernels()) if is_built() else set()


def _clear_executed_kernels() -> None:
    """Empty the :func:`_executed_kernels` record (the coverage table's per-op view; the suite's
    coverage check needs the whole run's record, so tests never call it in-process)."""
    if is_built():
        _C._metal_clear_executed_kernels()


def _registered_kernels() -> list[str]:
    """Host names of every Metal kernel in the library."""
    return list(_C._metal_registered_kernels()) if is_built() else []
