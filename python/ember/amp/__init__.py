"""Mixed precision: ``autocast`` (ops of PyTorch's autocast lists run in float16/bfloat16 or
float32) and ``GradScaler`` (loss scaling with skipped steps on inf/NaN gradients)."""

from .autocast_mode import autocast, get_autocast_dtype, is_autocast_enabled
from .grad_scaler import GradScaler

__all__ = ["GradScaler", "autocast", "get_autocast_dtype", "is_autocast_enabled"]
