"""Layers: upsampling (Upsample, UpsamplingNearest2d, UpsamplingBilinear2d)."""

from __future__ import annotations

from ..._C import Tensor
from .. import functional as F
from .module import Module

__all__: list[str] = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]


class Upsample(Module):
    """Resample [N, C, L] or [N, C, H, W] inputs to ``size`` or by ``scale_factor``
    (:func:`ember.nn.functional.interpolate`).

    Args:
        size: output spatial size (an int, or one per spatial dim).
        scale_factor: multiplier of the spatial size (a float, or one per spatial dim).
        mode: ``'nearest'``, ``'nearest-exact'``, ``'linear'`` (3-D) or ``'bilinear'`` (4-D).
        align_corners: linear modes only: align the corner pixels of input and output.
        recompute_scale_factor: interpolate as if the computed output size had been given.

    Shape:
        input [N, C, *in] -> [N, C, *out] with out = size or floor(in * scale_factor).
    """

    def __init__(
        self,
        size: int | tuple[int, ...] | None = None,
        scale_factor: float | tuple[float, ...] | None = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
    ) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, tuple):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.interpolate(
            input,
            self.size,
            self.scale_factor,
            self.mode,
            self.align_corners,
            recompute_scale_factor=self.recompute_scale_factor,
        )

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = "scale_factor=" + repr(self.scale_factor)
        else:
            info = "size=" + repr(self.size)
        return info + ", mode=" + repr(self.mode)


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour upsampling of [N, C, H, W] (``Upsample(mode='nearest')``)."""

    def __init__(
        self,
        size: int | tuple[int, int] | None = None,
        scale_factor: float | tuple[float, float] | None = None,
    ) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear upsampling of [N, C, H, W] with ``align_corners=True``."""

    def __init__(
        self,
        size: int | tuple[int, int] | None = None,
        scale_factor: float | tuple[float, float] | None = None,
    ) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
