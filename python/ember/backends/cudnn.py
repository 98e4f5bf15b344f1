"""``ember.backends.cudnn``: cuDNN flags, accepted for PyTorch compatibility (no effect: ember
has no cuDNN). ``flags(...)`` is a context manager that sets them temporarily."""

from __future__ import annotations

import contextlib

__all__ = [
    "allow_tf32",
    "benchmark",
    "deterministic",
    "enabled",
    "flags",
    "is_available",
    "version",
]

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    return False


def version():
    """None: cuDNN is not present."""
    return None


@contextlib.contextmanager
def flags(enabled=False, benchmark=False, deterministic=False, allow_tf32=True):
    g = globals()
    names = ("enabled", "benchmark", "deterministic", "allow_tf32")
    saved = {n: g[n] for n in names}
    g.update(
        enabled=enabled, benchmark=benchmark, deterministic=deterministic, allow_tf32=allow_tf32
    )
    try:
        yield
    finally:
        g.update(saved)
