"""``ember.backends.mps``: whether the Metal ("mps") backend is present."""

from __future__ import annotations

__all__ = ["is_available", "is_built"]


def is_built() -> bool:
    """False: this ember was built without the Metal backend."""
    return False


def is_available() -> bool:
    """False: the Metal backend is not built into this ember (see :func:`is_built`)."""
    return False
