"""Anomaly mode: find the forward line behind a NaN/inf gradient or a failing backward.

While on, every autograd node remembers the Python stack of the forward call that created it,
and the engine checks each gradient a node returns: a NaN or inf raises ``RuntimeError`` naming
the node (``Function 'DivBackward0' returned nan values in its 0th output.``) with that stack.
Any other error inside a node's backward also prints the stack, as a warning. Recording the
stack costs time per op, so the mode is for debugging; off, it costs one flag check per node.
"""

from __future__ import annotations

import functools
import warnings

from .. import _C

__all__ = [
    "detect_anomaly",
    "is_anomaly_check_nan_enabled",
    "is_anomaly_enabled",
    "set_anomaly_enabled",
    "set_detect_anomaly",
]


def is_anomaly_enabled() -> bool:
    """Whether anomaly mode is on."""
    return _C._is_anomaly_enabled()


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly mode checks backward outputs for NaN/inf."""
    return _C._is_anomaly_check_nan_enabled()


def set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    """Turn anomaly mode on or off (also ``ember.set_anomaly_enabled``, as in PyTorch)."""
    _C._set_anomaly_enabled(bool(enabled), bool(check_nan))


class _AnomalyState:
    """Remembers the mode it replaces and restores it on ``__exit__``."""

    def __init__(self, mode: bool, check_nan: bool = True):
        self.mode, self.check_nan = bool(mode), bool(check_nan)
        self.prev = (is_anomaly_enabled(), is_anomaly_check_nan_enabled())

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        _C._set_anomaly_enabled(*self.prev)
        return False


class detect_anomaly(_AnomalyState):
    """Context manager (or decorator) turning anomaly mode on inside its block.

    Args:
        check_nan: raise when a backward node returns NaN or inf values (default True).

    Example::

        with ember.autograd.detect_anomaly():
            y = x.sqrt()          # the stack of this line is recorded
            y.sum().backward()    # RuntimeError: Function 'SqrtBackward0' returned nan ...
    """

    def __init__(self, check_nan: bool = True):
        super().__init__(True, check_nan)

    def __enter__(self):
        warnings.warn(
            "anomaly detection is on: every op records its Python stack, so this runs slower; "
            "use it for debugging only",
            stacklevel=2,
        )
        self.prev = (is_anomaly_enabled(), is_anomaly_check_nan_enabled())
        _C._set_anomaly_enabled(True, self.check_nan)
        return self

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with detect_anomaly(self.check_nan):
                return fn(*args, **kwargs)

        return wrapper


class set_detect_anomaly(_AnomalyState):
    """Turn anomaly mode on or off: at once when called, and back to the previous mode when
    used as a context manager and the block ends.

    Args:
        mode: True to turn it on, False to turn it off.
        check_nan: raise when a backward node returns NaN or inf values (default True).
    """

    def __init__(self, mode: bool, check_nan: bool = True):
        super().__init__(mode, check_nan)
        _C._set_anomaly_enabled(self.mode, self.check_nan)
