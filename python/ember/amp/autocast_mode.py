"""``ember.autocast``: a context manager / decorator over the core's thread-local autocast state.

The op list lives in one C++ table (``csrc/ops/autocast.h``); ops written in C++ cast their own
inputs, ops written in Python (losses, ``cdist``, attention) cast through ``autocast_inputs``.
"""

from __future__ import annotations

import functools
import warnings

from .. import _C

_DEFAULT_DTYPE = {"cpu": _C.bfloat16, "mps": _C.float16, "metal": _C.float16}


def _device_type(device_type: str) -> str:
    if not isinstance(device_type, str):
        raise ValueError(
            f"autocast: expected device_type to be a str, got {type(device_type).__name__}"
        )
    if device_type not in ("cpu", "mps", "metal", "cuda"):
        raise RuntimeError(
            f"autocast: unsupported device_type '{device_type}' (expected 'cpu' or 'mps'; 'cuda' is disabled)"
        )
    return device_type


def is_autocast_enabled(device_type: str = "cpu") -> bool:
    """Whether autocast is on for ``device_type`` on this thread."""
    if _device_type(device_type) == "cuda":
        return False
    return _C._autocast_is_enabled(device_type)


def get_autocast_dtype(device_type: str = "cpu"):
    """The dtype autocast casts to on ``device_type`` (bfloat16 on CPU, float16 on MPS by default)."""
    if _device_type(device_type) == "cuda":
        return _C.float16
    return _C._autocast_get_dtype(device_type)


class autocast:  # noqa: N801  (PyTorch's name)
    """Run the enclosed region in mixed precision, like ``torch.autocast``.

    Inside, matmul / mm / bmm / addmm / baddbmm / linear / conv1d / conv2d / conv_transpose1d /
    conv_transpose2d / prelu / scaled_dot_product_attention cast their floating inputs to ``dtype``
    (bfloat16 or float16) and the losses (cross_entropy, nll_loss, mse_loss, l1_loss, ...) and
    ``cdist`` to float32 — PyTorch's CPU lists. Other ops run in their inputs' dtype. float64 inputs
    are never cast. The casts are recorded by autograd, so gradients reach each parameter in its own
    dtype.

    Args:
        device_type: ``"cpu"`` or ``"mps"`` (``"cuda"`` warns and disables, as in PyTorch without CUDA).
        dtype: ``ember.bfloat16`` (CPU default) or ``ember.float16`` (MPS default).
        enabled: ``False`` makes the region run at full precision (also inside an enabled region).
        cache_enabled: accepted for PyTorch compatibility; casts are not cached.

    Usable as ``with ember.autocast("cpu"):`` or as a decorator ``@ember.autocast("cpu")``.
    """

    def __init__(
        self, device_type: str = "cpu", dtype=None, enabled: bool = True, cache_enabled=None
    ):
        self.device = _device_type(device_type)
        self.fast_dtype = _DEFAULT_DTYPE.get(self.device, _C.float16) if dtype is None else dtype
        self._enabled = bool(enabled)
        self._cache_enabled = cache_enabled
        if self.device == "cuda":
            if self._enabled:
                warnings.warn(
                    "autocast: ember has no CUDA backend; disabling autocast.", stacklevel=2
                )
            self._enabled = False
        elif self.fast_dtype not in (_C.bfloat16, _C.float16):
            if self._enabled:
                warnings.warn(
                    f"autocast: {self.device} autocast supports bfloat16 and float16, got {self.fast_dtype}; "
                    "disabling autocast.",
                    stacklevel=2,
                )
            self._enabled = False
        self._prev = []

    def __enter__(self):
        if self.device == "cuda":
            return self
        self._prev.append(
            (_C._autocast_is_enabled(self.device), _C._autocast_get_dtype(self.device))
        )
        _C._autocast_set_enabled(self.device, self._enabled)
        if self._enabled:
            _C._autocast_set_dtype(self.device, self.fast_dtype)
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        if self.device == "cuda":
            return False
        enabled, dtype = self._prev.pop()
        _C._autocast_set_enabled(self.device, enabled)
        _C._autocast_set_dtype(self.device, dtype)
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with autocast(self.device, self.fast_dtype, self._enabled, self._cache_enabled):
                return func(*args, **kwargs)

        return wrapper


def autocast_inputs(op: str, func):
    """Wrap a Python-level op of the autocast table: its tensor arguments are cast per the op's
    policy while autocast is on (one cheap check otherwise)."""
    if _C._autocast_policy(op) == "none":
        raise ValueError(
            f"autocast_inputs: '{op}' is not in the autocast op table (csrc/ops/autocast.h)"
        )
    Tensor = _C.Tensor

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if _C._autocast_any_enabled():
            args = tuple(_C._autocast_arg(op, a) if isinstance(a, Tensor) else a for a in args)
            kwargs = {
                k: _C._autocast_arg(op, v) if isinstance(v, Tensor) else v
                for k, v in kwargs.items()
            }
        return func(*args, **kwargs)

    return wrapper
