"""``ember.accelerator``: PyTorch's device-agnostic accelerator queries. This ember runs on the
CPU only, so no accelerator is available."""

from __future__ import annotations

__all__ = ["current_accelerator", "device_count", "is_available", "synchronize"]


def is_available() -> bool:
    """False: this build has no accelerator backend (no CUDA, no Metal)."""
    return False


def current_accelerator(check_available: bool = False):
    """None: there is no accelerator (PyTorch returns None when none is present)."""
    return None


def device_count() -> int:
    return 0


def synchronize(device=None) -> None:
    """No-op: nothing runs asynchronously."""
