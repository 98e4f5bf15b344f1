"""Part of ember.nn.functional (re-exported there): convolutions, transposed convolutions,
unfold and fold. Each is one C++ op with its own backward (double backward included)."""

from __future__ import annotations

from .. import _C
from .._C import Tensor

__all__: list[str] = [
    "conv1d",
    "conv2d",
    "conv_transpose1d",
    "conv_transpose2d",
    "unfold",
    "fold",
]


def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
) -> Tensor:
    r"""1-D convolution (cross-correlation) over an input of several planes.

    Args:
        input: ``[N, C_in, L]`` or unbatched ``[C_in, L]``.
        weight: ``[C_out, C_in / groups, kW]``.
        bias: optional ``[C_out]``.
        stride: int or 1-tuple.
        padding: int, 1-tuple, ``"valid"`` (no padding) or ``"same"`` (output length equals the
            input length; stride must be 1; an odd total goes to the right).
        dilation: spacing between kernel elements.
        groups: split input and output channels into this many groups.

    Shape:
        output ``[N, C_out, L_out]``, ``L_out = (L + 2 p - d (kW - 1) - 1) // stride + 1``.
    """
    return _C.conv1d(input, weight, bias, stride, padding, dilation, groups)


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
) -> Tensor:
    r"""2-D convolution (cross-correlation) over an input image of several planes.

    Args:
        input: ``[N, C_in, H, W]`` or unbatched ``[C_in, H, W]``.
        weight: ``[C_out, C_in / groups, kH, kW]``.
        bias: optional ``[C_out]``.
        stride: int or ``(sH, sW)``.
        padding: int, ``(pH, pW)``, ``"valid"`` or ``"same"`` (stride 1 only; with an even
            kernel the extra row/column of padding goes to the bottom/right, like PyTorch).
        dilation: int or ``(dH, dW)``.
        groups: split input and output channels into this many groups (``groups == C_in`` is
            a depthwise convolution).

    Shape:
        output ``[N, C_out, H_out, W_out]`` with
        ``H_out = (H + 2 pH - dH (kH - 1) - 1) // sH + 1`` (likewise W_out).
    """
    return _C.conv2d(input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    output_padding=0,
    groups: int = 1,
    dilation=1,
) -> Tensor:
    r"""1-D transposed convolution (the gradient of conv1d with respect to its input).

    Args:
        input: ``[N, C_in, L]`` or unbatched ``[C_in, L]``.
        weight: ``[C_in, C_out / groups, kW]``.
        bias: optional ``[C_out]``.
        stride, padding, dilation: as for the convolution this transposes.
        output_padding: extra length added to one side of the output (smaller than stride or
            dilation).
        groups: number of channel groups.

    Shape:
        output ``[N, C_out, L_out]``,
        ``L_out = (L - 1) stride - 2 padding + dilation (kW - 1) + output_padding + 1``.
    """
    return _C.conv_transpose1d(
        input, weight, bias, stride, padding, output_padding, groups, dilation
    )


def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    output_padding=0,
    groups: int = 1,
    dilation=1,
) -> Tensor:
    r"""2-D transposed convolution ("deconvolution"), the gradient of conv2d with respect to
    its input.

    Args:
        input: ``[N, C_in, H, W]`` or unbatched ``[C_in, H, W]``.
        weight: ``[C_in, C_out / groups, kH, kW]``.
        bias: optional ``[C_out]``.
        stride, padding, dilation: int or pair, as for the convolution this transposes.
        output_padding: extra size added to the bottom/right of the output (smaller than
            stride or dilation).
        groups: number of channel groups.

    Shape:
        output ``[N, C_out, H_out, W_out]``,
        ``H_out = (H - 1) sH - 2 pH + dH (kH - 1) + output_padding + 1`` (likewise W_out).
    """
    return _C.conv_transpose2d(
        input, weight, bias, stride, padding, output_padding, groups, dilation
    )


def _pair_args(op: str, **args) -> None:
    # unfold / fold take an int or exactly two (PyTorch does not expand a 1-tuple here)
    for name, v in args.items():
        if isinstance(v, (tuple, list)) and len(v) != 2:
            raise ValueError(f"{op}: expected {name} to be an int or a pair of ints, got {v!r}")


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    r"""Extracts sliding local blocks (im2col).

    Args:
        input: ``[N, C, H, W]`` or unbatched ``[C, H, W]``.
        kernel_size, dilation, padding, stride: int or pair.

    Shape:
        output ``[N, C * kH * kW, L]``, L the number of block positions.
    """
    _pair_args("unfold", kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride)
    return _C._unfold(input, kernel_size, dilation, padding, stride)


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    r"""Sums sliding local blocks into a tensor (col2im): the adjoint of :func:`unfold`.

    Args:
        input: ``[N, C * kH * kW, L]`` or unbatched ``[C * kH * kW, L]``.
        output_size: spatial size ``(H, W)`` of the output.
        kernel_size, dilation, padding, stride: int or pair.

    Shape:
        output ``[N, C, H, W]``.
    """
    _pair_args(
        "fold",
        output_size=output_size,
        kernel_size=kernel_size,
        dilation=dilation,
        padding=padding,
        stride=stride,
    )
    return _C._fold(input, output_size, kernel_size, dilation, padding, stride)
