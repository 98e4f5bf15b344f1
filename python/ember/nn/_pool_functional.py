"""Part of ember.nn.functional (re-exported there): max, average and adaptive pooling.

Signatures follow ``torch.nn.functional``. Inputs are (N, C, L) / (C, L) for the 1-D pools and
(N, C, H, W) / (C, H, W) for the 2-D ones; the work happens in single C++ ops (``ember._C``).
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import _C
from .._C import Tensor

__all__ = [
    "max_pool1d",
    "max_pool2d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "avg_pool1d",
    "avg_pool2d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "max_unpool1d",
    "max_unpool2d",
]

_Size = int | Sequence[int]


def _stride(stride: _Size | None) -> _Size:
    # None and an empty sequence both mean "stride = kernel_size" (as in PyTorch)
    return () if stride is None else stride


def max_pool1d_with_indices(
    input: Tensor,
    kernel_size: _Size,
    stride: _Size | None = None,
    padding: _Size = 0,
    dilation: _Size = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[Tensor, Tensor]:
    """:func:`max_pool1d` returning ``(output, indices)``; indices are int64 positions in L."""
    return _C.max_pool1d_with_indices(
        input, kernel_size, _stride(stride), padding, dilation, ceil_mode
    )


def max_pool2d_with_indices(
    input: Tensor,
    kernel_size: _Size,
    stride: _Size | None = None,
    padding: _Size = 0,
    dilation: _Size = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[Tensor, Tensor]:
    """:func:`max_pool2d` returning ``(output, indices)``; indices are int64 flat positions
    ``h * W + w`` in each input plane."""
    return _C._max_pool2d_with_indices(
        input, kernel_size, _stride(stride), padding, dilation, ceil_mode
    )


def max_pool1d(
    input: Tensor,
    kernel_size: _Size,
    stride: _Size | None = None,
    padding: _Size = 0,
    dilation: _Size = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """1-D max pooling over the last dim of an (N, C, L) or (C, L) input.

    Args:
        kernel_size: window size. stride: window step (default: ``kernel_size``).
        padding: implicit -inf padding on both sides, at most ``kernel_size // 2``.
        dilation: spacing between window taps. ceil_mode: round the output size up (the last
            window must still start inside the input or the left padding).
        return_indices: also return the int64 positions of the maxima (for max_unpool).

    Shape: (N, C, L_in) -> (N, C, L_out) with
    ``L_out = floor((L_in + 2 * padding - dilation * (kernel_size - 1) - 1) / stride + 1)``.
    """
    if return_indices:
        return _C.max_pool1d_with_indices(
            input, kernel_size, _stride(stride), padding, dilation, ceil_mode
        )
    return _C.max_pool1d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def max_pool2d(
    input: Tensor,
    kernel_size: _Size,
    stride: _Size | None = None,
    padding: _Size = 0,
    dilation: _Size = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """2-D max pooling over the last two dims of an (N, C, H, W) or (C, H, W) input.

    Arguments are an int (both dims) or a pair (H, W); see :func:`max_pool1d`. Ties keep the
    first maximum in scan order and NaN propagates. With ``return_indices`` the int64 flat
    positions ``h * W + w`` of the maxima are returned too.

    Shape: (N, C, H_in, W_in) -> (N, C, H_out, W_out), each dim as in :func:`max_pool1d`.
    """
    if return_indices:
        return _C._max_pool2d_with_indices(
            input, kernel_size, _stride(stride), padding, dilation, ceil_mode
        )
    return _C.max_pool2d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def avg_pool1d(
    input: Tensor,
    kernel_size: _Size,
    stride: _Size | None = None,
    padding: _Size = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """1-D average pooling over the last dim of an (N, C, L) or (C, L) input.

    Args:
        kernel_size, stride (default ``kernel_size``), padding (zeros, at most
            ``kernel_size // 2``), ceil_mode: as in :func:`max_pool1d`.
        count_include_pad: divide by the window size including the zero padding (else by the
            number of input elements in the window).
    """
    return _C.avg_pool1d(input, kernel_size, _stride(stride), padding, ceil_mode, count_include_pad)


def avg_pool2d(
    input: Tensor,
    kernel_size: _Size,
    stride: _Size | None = None,
    padding: _Size = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """2-D average pooling over the last two dims of an (N, C, H, W) or (C, H, W) input.

    Arguments as in :func:`avg_pool1d` (an int or an (H, W) pair); ``divisor_override``, when
    given, replaces every window's divisor.
    """
    return _C._avg_pool2d(
        input, kernel_size, _stride(stride), padding, ceil_mode, count_include_pad, divisor_override
    )


def adaptive_avg_pool1d(input: Tensor, output_size: int | Sequence[int]) -> Tensor:
    """Average pooling of an (N, C, L) or (C, L) input to length ``output_size``; window i
    covers ``[floor(i * L / out), ceil((i + 1) * L / out))``."""
    return _C.adaptive_avg_pool1d(input, output_size)


def adaptive_avg_pool2d(input: Tensor, output_size: int | None | Sequence[int | None]) -> Tensor:
    """Average pooling of an (N, C, H, W) or (C, H, W) input to ``output_size`` (an int, or
    an (H, W) pair where None keeps that input size)."""
    return _C._adaptive_avg_pool2d(input, output_size)


def adaptive_max_pool1d_with_indices(
    input: Tensor, output_size: int | Sequence[int], return_indices: bool = False
) -> tuple[Tensor, Tensor]:
    """:func:`adaptive_max_pool1d` returning ``(output, indices)``."""
    return _C.adaptive_max_pool1d(input, output_size)


def adaptive_max_pool2d_with_indices(
    input: Tensor, output_size: int | None | Sequence[int | None], return_indices: bool = False
) -> tuple[Tensor, Tensor]:
    """:func:`adaptive_max_pool2d` returning ``(output, indices)``."""
    return _C._adaptive_max_pool2d(input, output_size)


def adaptive_max_pool1d(
    input: Tensor, output_size: int | Sequence[int], return_indices: bool = False
) -> Tensor | tuple[Tensor, Tensor]:
    """Max pooling of an (N, C, L) or (C, L) input to length ``output_size`` (windows as in
    :func:`adaptive_avg_pool1d`); ``return_indices`` also returns the int64 positions."""
    out, idx = _C.adaptive_max_pool1d(input, output_size)
    return (out, idx) if return_indices else out


def adaptive_max_pool2d(
    input: Tensor, output_size: int | None | Sequence[int | None], return_indices: bool = False
) -> Tensor | tuple[Tensor, Tensor]:
    """Max pooling of an (N, C, H, W) or (C, H, W) input to ``output_size`` (an int or an
    (H, W) pair, None keeps that size); ``return_indices`` also returns the flat positions."""
    out, idx = _C._adaptive_max_pool2d(input, output_size)
    return (out, idx) if return_indices else out


def _tuple(v, n: int) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, Sequence) else (v,) * n


def _unpool_output_size(
    input: Tensor,
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    output_size: Sequence[int] | None,
) -> list[int]:
    # PyTorch's rule: the default is the size max pooling came from (ceil_mode off); an
    # explicit size (optionally with the N, C dims) must lie strictly within one stride of it
    k = len(kernel_size)
    default = [
        (input.shape[-k + d] - 1) * stride[d] + kernel_size[d] - 2 * padding[d] for d in range(k)
    ]
    if output_size is None:
        ret = default
    else:
        output_size = list(_tuple(output_size, 1))
        if len(output_size) == k + 2:
            output_size = output_size[2:]
        if len(output_size) != k:
            raise ValueError(
                f"output_size should be a sequence containing {k} or {k + 2} elements, "
                f"but it has a length of '{len(output_size)}'"
            )
        for d in range(k):
            lo, hi = default[d] - stride[d], default[d] + stride[d]
            if not lo < output_size[d] < hi:
                raise ValueError(
                    f'invalid output_size "{output_size}" (dim {d} must be between {lo} and {hi})'
                )
        ret = [int(v) for v in output_size]
    for d in range(k):
        if ret[d] < 0:
            raise ValueError(
                "max_unpooling: output_size must contain non-negative spatial dimensions, "
                f"but got output_size[{d}]={ret[d]}"
            )
    return ret


def max_unpool1d(
    input: Tensor,
    indices: Tensor,
    kernel_size: _Size,
    stride: _Size | None = None,
    padding: _Size = 0,
    output_size: Sequence[int] | None = None,
) -> Tensor:
    """Partial inverse of :func:`max_pool1d`: zeros of length ``L_out`` with each input value
    written at its index (from ``max_pool1d(..., return_indices=True)``).

    Args:
        kernel_size, stride (default ``kernel_size``), padding: those of the max pooling.
        output_size: the exact output length (optionally as (N, C, L)); by default
            ``(L_in - 1) * stride + kernel_size - 2 * padding``.

    Shape: (N, C, L_in) or (C, L_in) -> (N, C, L_out) or (C, L_out).
    """
    kernel_size = _tuple(kernel_size, 1)
    stride = kernel_size if stride is None or stride == () else _tuple(stride, 1)
    padding = _tuple(padding, 1)
    size = _unpool_output_size(input, kernel_size, stride, padding, output_size)
    out = _C._max_unpool2d(input.unsqueeze(-1), indices.unsqueeze(-1), size + [1])
    return out.squeeze(-1)


def max_unpool2d(
    input: Tensor,
    indices: Tensor,
    kernel_size: _Size,
    stride: _Size | None = None,
    padding: _Size = 0,
    output_size: Sequence[int] | None = None,
) -> Tensor:
    """Partial inverse of :func:`max_pool2d`: zeros of size (H_out, W_out) with each input
    value written at its flat index ``h * W_out + w`` (from ``return_indices=True``).

    Args: as :func:`max_unpool1d`, each an int or an (H, W) pair; ``output_size`` (H, W) or
    (N, C, H, W), by default ``(H_in - 1) * stride + kernel_size - 2 * padding`` per dim.

    Shape: (N, C, H_in, W_in) or (C, H_in, W_in) -> (N, C, H_out, W_out) or (C, H_out, W_out).
    """
    kernel_size = _tuple(kernel_size, 2)
    stride = kernel_size if stride is None or stride == () else _tuple(stride, 2)
    padding = _tuple(padding, 2)
    size = _unpool_output_size(input, kernel_size, stride, padding, output_size)
    return _C._max_unpool2d(input, indices, size)
