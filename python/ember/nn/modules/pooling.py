"""Layers: pooling (max, average, adaptive), thin wrappers over ember.nn.functional."""

from __future__ import annotations

from collections.abc import Sequence

from ..._C import Tensor
from .. import functional as F
from .module import Module

__all__ = [
    "MaxPool1d",
    "MaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "MaxUnpool1d",
    "MaxUnpool2d",
]

_Size = int | Sequence[int]


def _single(v):
    return tuple(v) if isinstance(v, Sequence) else (v,)


class _MaxPoolNd(Module):
    def __init__(
        self,
        kernel_size: _Size,
        stride: _Size | None = None,
        padding: _Size = 0,
        dilation: _Size = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling (see :func:`ember.nn.functional.max_pool1d`).

    Args:
        kernel_size: window size. stride: window step (default: ``kernel_size``).
        padding: implicit -inf padding on both sides (at most ``kernel_size // 2``).
        dilation: spacing between window taps.
        return_indices: also return the int64 positions of the maxima.
        ceil_mode: round the output size up instead of down.

    Shape: (N, C, L_in) or (C, L_in) -> (N, C, L_out) or (C, L_out), with
    ``L_out = floor((L_in + 2 * padding - dilation * (kernel_size - 1) - 1) / stride + 1)``.
    """

    def forward(self, input: Tensor):
        return F.max_pool1d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            ceil_mode=self.ceil_mode,
            return_indices=self.return_indices,
        )


class MaxPool2d(_MaxPoolNd):
    """2-D max pooling (see :func:`ember.nn.functional.max_pool2d`).

    Args: as :class:`MaxPool1d`; each may be an int (both dims) or an (H, W) pair.

    Shape: (N, C, H_in, W_in) or (C, H_in, W_in) -> (N, C, H_out, W_out) or (C, H_out, W_out),
    each spatial dim as in :class:`MaxPool1d`.
    """

    def forward(self, input: Tensor):
        return F.max_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            ceil_mode=self.ceil_mode,
            return_indices=self.return_indices,
        )


class AvgPool1d(Module):
    """1-D average pooling (see :func:`ember.nn.functional.avg_pool1d`).

    Args:
        kernel_size: window size. stride: window step (default: ``kernel_size``).
        padding: implicit zero padding on both sides (at most ``kernel_size // 2``).
        ceil_mode: round the output size up instead of down.
        count_include_pad: count the zero padding in the divisor.

    Shape: (N, C, L_in) or (C, L_in) -> (N, C, L_out) or (C, L_out), with
    ``L_out = floor((L_in + 2 * padding - kernel_size) / stride + 1)``.
    """

    def __init__(
        self,
        kernel_size: _Size,
        stride: _Size | None = None,
        padding: _Size = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__()
        self.kernel_size = _single(kernel_size)
        self.stride = _single(stride if stride is not None else kernel_size)
        self.padding = _single(padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool1d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Module):
    """2-D average pooling (see :func:`ember.nn.functional.avg_pool2d`).

    Args: as :class:`AvgPool1d` (ints or (H, W) pairs), plus ``divisor_override``: when
    given, the divisor of every window.

    Shape: (N, C, H_in, W_in) or (C, H_in, W_in) -> (N, C, H_out, W_out) or (C, H_out, W_out).
    """

    def __init__(
        self,
        kernel_size: _Size,
        stride: _Size | None = None,
        padding: _Size = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AdaptivePoolNd(Module):
    def __init__(self, output_size) -> None:
        super().__init__()
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptivePoolNd):
    """Average pooling to a fixed length ``output_size`` whatever the input length.

    Shape: (N, C, L_in) or (C, L_in) -> (N, C, output_size) or (C, output_size).
    """

    def __init__(self, output_size: int | Sequence[int]) -> None:
        super().__init__(output_size)

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool1d(input, self.output_size)


class AdaptiveAvgPool2d(_AdaptivePoolNd):
    """Average pooling to a fixed size ``output_size`` (an int, or an (H, W) pair where None
    keeps that input size), whatever the input size.

    Shape: (N, C, H_in, W_in) or (C, H_in, W_in) -> (N, C, H_out, W_out) or (C, H_out, W_out).
    """

    def __init__(self, output_size: int | None | Sequence[int | None]) -> None:
        super().__init__(output_size)

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(input, self.output_size)


class AdaptiveMaxPool1d(_AdaptivePoolNd):
    """Max pooling to a fixed length ``output_size``; ``return_indices`` also returns the
    int64 positions of the maxima.

    Shape: (N, C, L_in) or (C, L_in) -> (N, C, output_size) or (C, output_size).
    """

    def __init__(self, output_size: int | Sequence[int], return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input: Tensor):
        return F.adaptive_max_pool1d(input, self.output_size, self.return_indices)


class AdaptiveMaxPool2d(_AdaptivePoolNd):
    """Max pooling to a fixed size ``output_size`` (an int, or an (H, W) pair where None keeps
    that input size); ``return_indices`` also returns the flat positions of the maxima.

    Shape: (N, C, H_in, W_in) or (C, H_in, W_in) -> (N, C, H_out, W_out) or (C, H_out, W_out).
    """

    def __init__(
        self, output_size: int | None | Sequence[int | None], return_indices: bool = False
    ) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input: Tensor):
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)


class _MaxUnpoolNd(Module):
    _n = 1

    def __init__(self, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0) -> None:
        super().__init__()
        n = self._n
        self.kernel_size = _ntuple(kernel_size, n)
        self.stride = _ntuple(stride if stride is not None else kernel_size, n)
        self.padding = _ntuple(padding, n)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _ntuple(v, n: int) -> tuple:
    return tuple(v) if isinstance(v, Sequence) else (v,) * n


class MaxUnpool1d(_MaxUnpoolNd):
    """Partial inverse of :class:`MaxPool1d` (see :func:`ember.nn.functional.max_unpool1d`):
    the maxima go back to their positions, everything else is zero.

    Args: kernel_size, stride (default ``kernel_size``), padding: those of the max pooling.
    ``forward(input, indices, output_size=None)``.

    Shape: (N, C, L_in) or (C, L_in) -> (N, C, L_out) or (C, L_out), with
    ``L_out = (L_in - 1) * stride + kernel_size - 2 * padding`` or ``output_size``.
    """

    _n = 1

    def forward(
        self, input: Tensor, indices: Tensor, output_size: Sequence[int] | None = None
    ) -> Tensor:
        return F.max_unpool1d(
            input, indices, self.kernel_size, self.stride, self.padding, output_size
        )


class MaxUnpool2d(_MaxUnpoolNd):
    """Partial inverse of :class:`MaxPool2d` (see :func:`ember.nn.functional.max_unpool2d`).

    Args: as :class:`MaxUnpool1d`, each an int or an (H, W) pair.

    Shape: (N, C, H_in, W_in) or (C, H_in, W_in) -> (N, C, H_out, W_out) or (C, H_out, W_out),
    each spatial dim as in :class:`MaxUnpool1d` unless ``output_size`` is given.
    """

    _n = 2

    def forward(
        self, input: Tensor, indices: Tensor, output_size: Sequence[int] | None = None
    ) -> Tensor:
        return F.max_unpool2d(
            input, indices, self.kernel_size, self.stride, self.padding, output_size
        )
