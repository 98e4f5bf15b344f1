"""Dropout layers (identity in eval mode)."""

from __future__ import annotations

from ... import _C
from ..._C import Tensor
from .. import functional as F
from .module import Module


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """In training, zero each element with probability ``p`` and scale the others by
    ``1 / (1 - p)``; in eval, the identity. Shape: any -> same."""

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)


class _ChannelDropout(_DropoutNd):
    _min_dims = 2

    def forward(self, input: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return input
        if input.ndim < self._min_dims:
            raise ValueError(
                f"{type(self).__name__}: expected at least {self._min_dims}D input, got shape {tuple(input.shape)}"
            )
        keep = 1.0 - self.p
        # one draw per (sample, channel), broadcast over the spatial dims
        shape = list(input.shape[:2]) + [1] * (input.ndim - 2)
        mask = _C._bernoulli_scalar(shape, keep, input.dtype, input.device.type)
        mask = mask * (1.0 / keep if keep > 0 else 0.0)
        out = input * mask
        return input.copy_(out) if self.inplace else out


class Dropout1d(_ChannelDropout):
    """Zero whole channels of [N, C, L]."""

    _min_dims = 3


class Dropout2d(_ChannelDropout):
    """Zero whole channels of [N, C, H, W]."""

    _min_dims = 3


class Dropout3d(_ChannelDropout):
    """Zero whole channels of [N, C, D, H, W]."""

    _min_dims = 4


class AlphaDropout(_DropoutNd):
    """Dropout that keeps SELU's self-normalizing mean and variance."""

    def forward(self, input: Tensor) -> Tensor:
        return F.alpha_dropout(input, self.p, self.training)
