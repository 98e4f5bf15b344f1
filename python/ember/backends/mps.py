"""``ember.backends.mps``: whether the Metal ("mps") backend is present (see ``ember.metal``)."""

from __future__ import annotations

from .. import _C

__all__ = ["is_available", "is_built"]


def is_built() -> bool:
    """Whether this ember was built with the Metal backend (on Linux: the CPU emulator)."""
    return _C._metal_built()


def is_available() -> bool:
    """Whether ``device="mps"`` (an alias of ``"metal"``) works in this process."""
    return _C._device_available("metal")
