"""``ember.backends.cuda``: CUDA matmul flags, accepted for PyTorch compatibility (no effect)."""

from __future__ import annotations

__all__ = ["is_built", "matmul"]


class _MatmulFlags:
    """``matmul.allow_tf32`` and friends: plain attributes, kept so scripts can read them back."""

    def __init__(self) -> None:
        self.allow_tf32 = False
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True


matmul = _MatmulFlags()


def is_built() -> bool:
    """False: this ember has no CUDA backend."""
    return False
