"""Convolution layers: Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, Unfold, Fold."""

from __future__ import annotations

import math
import operator

from ... import _C
from ..._C import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__: list[str] = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d", "Unfold", "Fold"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _int(v, name: str, layer: str) -> int:
    """A plain int argument (bools refused, as PyTorch does when it builds the weight)."""
    try:
        if isinstance(v, bool):
            raise TypeError
        return operator.index(v)
    except TypeError:
        raise TypeError(f"{layer}: expected {name} to be an int, got {v!r}") from None


def _int_tuple(x, n: int, name: str, layer: str, expand: bool = True) -> tuple:
    """An int or a tuple of ints as an n-tuple; a 1-tuple is expanded when ``expand`` (as the
    functional ops do). Raises TypeError for non-ints (bools included), ValueError for lengths."""
    items = tuple(x) if isinstance(x, (tuple, list)) else (x,)
    out = []
    for v in items:
        if isinstance(v, bool):
            v = None
        try:
            out.append(operator.index(v))
        except TypeError:
            raise TypeError(
                f"{layer}: expected {name} to be an int or a tuple of {n} ints, got {x!r}"
            ) from None
    if len(out) == 1 and (expand or not isinstance(x, (tuple, list))):
        return tuple(out) * n
    if len(out) != n:
        raise ValueError(f"{layer}: expected {name} to be an int or a tuple of {n} ints, got {x!r}")
    return tuple(out)


class _ConvNd(Module):
    """Shared parameters, init, checks and repr of the convolution layers."""

    _nd = 2
    transposed = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride,
        padding,
        dilation,
        output_padding,
        groups: int,
        bias: bool,
        padding_mode: str,
        dtype=None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        nd = self._nd
        in_channels = _int(in_channels, "in_channels", name)
        out_channels = _int(out_channels, "out_channels", name)
        groups = _int(groups, "groups", name)
        if in_channels < 0 or out_channels < 0:
            raise ValueError(
                f"{name}: in_channels and out_channels must be non-negative, got "
                f"{in_channels} and {out_channels}"
            )
        if groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        if in_channels % groups != 0:
            raise ValueError(
                f"{name}: in_channels={in_channels} must be divisible by groups={groups}"
            )
        if out_channels % groups != 0:
            raise ValueError(
                f"{name}: out_channels={out_channels} must be divisible by groups={groups}"
            )
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"{name}: padding_mode must be one of {_PADDING_MODES}, got '{padding_mode}'"
            )
        kernel_size = _int_tuple(kernel_size, nd, "kernel_size", name, expand=False)
        stride = _int_tuple(stride, nd, "stride", name)
        dilation = _int_tuple(dilation, nd, "dilation", name)
        output_padding = _int_tuple(output_padding, nd, "output_padding", name)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(
                    f"{name}: invalid padding string '{padding}', expected 'same' or 'valid'"
                )
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError(
                    f"{name}: padding='same' is not supported for strided convolutions"
                )
        else:
            padding = _int_tuple(padding, nd, "padding", name)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.output_padding = output_padding
        self.groups = groups
        self.padding_mode = padding_mode
        # F.pad order (last dim first, (left, right) each) for the non-zero padding modes
        pads = []
        for d in reversed(range(nd)):
            if padding == "valid":
                lo = hi = 0
            elif padding == "same":
                total = dilation[d] * (kernel_size[d] - 1)
                lo, hi = total // 2, total - total // 2
            else:
                lo = hi = padding[d]
            pads += [lo, hi]
        self._reversed_padding_repeated_twice = pads
        if self.transposed:
            shape = (in_channels, out_channels // groups, *kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *kernel_size)
        dt = _C.get_default_dtype() if dtype is None else dtype
        self.weight = Parameter(_C._empty(list(shape), dt))
        if bias:
            self.bias = Parameter(_C._empty([out_channels], dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # PyTorch's defaults: W ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) via kaiming_uniform_(a=sqrt(5))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        nd = len(self.kernel_size)
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    _fn = None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            0,
            groups,
            bias,
            padding_mode,
            dtype,
        )

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        fn = type(self)._fn
        if self.padding_mode != "zeros":
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return fn(input, weight, bias, self.stride, 0, self.dilation, self.groups)
        return fn(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input: Tensor) -> Tensor:
        return self._conv_forward(input, self.weight, self.bias)


class Conv1d(_Conv):
    r"""1-D convolution over an input of several planes.

    Args:
        in_channels: channels of the input.
        out_channels: channels produced.
        kernel_size: int or 1-tuple.
        stride: int or 1-tuple (default 1).
        padding: int, 1-tuple, ``"valid"`` or ``"same"`` (default 0).
        dilation: spacing between kernel elements (default 1).
        groups: blocked connections from input to output channels (default 1).
        bias: learn an additive bias (default True).
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.

    Shape:
        input ``[N, C_in, L]`` (or ``[C_in, L]``) -> output ``[N, C_out, L_out]``.

    Attributes:
        weight: ``[out_channels, in_channels / groups, kernel_size]``, bias ``[out_channels]``,
        initialized from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) like PyTorch.
    """

    _nd = 1
    _fn = staticmethod(F.conv1d)


class Conv2d(_Conv):
    r"""2-D convolution over an input image of several planes.

    Args:
        in_channels: channels of the input.
        out_channels: channels produced.
        kernel_size: int or ``(kH, kW)``.
        stride: int or pair (default 1).
        padding: int, pair, ``"valid"`` or ``"same"`` (default 0).
        dilation: spacing between kernel elements (default 1).
        groups: blocked connections from input to output channels (default 1;
            ``groups == in_channels`` is a depthwise convolution).
        bias: learn an additive bias (default True).
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.

    Shape:
        input ``[N, C_in, H, W]`` (or ``[C_in, H, W]``) -> output ``[N, C_out, H_out, W_out]``.

    Attributes:
        weight: ``[out_channels, in_channels / groups, kH, kW]``, bias ``[out_channels]``,
        initialized from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) like PyTorch.
    """

    _nd = 2
    _fn = staticmethod(F.conv2d)


class _ConvTranspose(_ConvNd):
    transposed = True
    _fn = None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups: int = 1,
        bias: bool = True,
        dilation=1,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ) -> None:
        if padding_mode != "zeros":
            raise ValueError(
                f'Only "zeros" padding mode is supported for {type(self).__name__}, '
                f"got '{padding_mode}'"
            )
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple of ints")
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            output_padding,
            groups,
            bias,
            padding_mode,
            dtype,
        )

    def _output_padding(self, input: Tensor, output_size) -> tuple:
        """output_padding that gives `output_size` (PyTorch's rule), else the layer's own."""
        if output_size is None:
            return self.output_padding
        nd = self._nd
        output_size = list(output_size)
        lead = 2 if input.dim() == nd + 2 else 1
        if len(output_size) == nd + lead:
            output_size = output_size[lead:]
        if len(output_size) != nd:
            raise ValueError(
                f"{type(self).__name__}: output_size must have {nd} or {nd + lead} elements "
                f"(got {len(output_size)})"
            )
        spatial = tuple(input.shape)[lead:]
        lo, hi = [], []
        for d in range(nd):
            size = (
                (spatial[d] - 1) * self.stride[d]
                - 2 * self.padding[d]
                + self.dilation[d] * (self.kernel_size[d] - 1)
                + 1
            )
            lo.append(size)
            hi.append(size + self.stride[d] - 1)
        for d in range(nd):
            if not lo[d] <= output_size[d] <= hi[d]:
                raise ValueError(
                    f"{type(self).__name__}: requested an output size of {output_size}, but valid "
                    f"sizes range from {lo} to {hi} (for an input of {list(spatial)})"
                )
        return tuple(output_size[d] - lo[d] for d in range(nd))

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        output_padding = self._output_padding(input, output_size)
        return type(self)._fn(
            input,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            output_padding,
            self.groups,
            self.dilation,
        )


class ConvTranspose1d(_ConvTranspose):
    r"""1-D transposed convolution (the gradient of Conv1d with respect to its input).

    Args:
        in_channels, out_channels: channels of input and output.
        kernel_size: int or 1-tuple.
        stride, padding, dilation: as for the convolution this transposes.
        output_padding: extra size added to one side of the output (default 0).
        groups: blocked connections (default 1).
        bias: learn an additive bias (default True).
        padding_mode: only ``'zeros'``.

    Shape:
        input ``[N, C_in, L]`` -> output ``[N, C_out, L_out]``,
        ``L_out = (L - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1``.
        ``forward(input, output_size)`` picks the output_padding that gives ``output_size``.

    Attributes:
        weight: ``[in_channels, out_channels / groups, kernel_size]``, bias ``[out_channels]``.
    """

    _nd = 1
    _fn = staticmethod(F.conv_transpose1d)


class ConvTranspose2d(_ConvTranspose):
    r"""2-D transposed convolution ("deconvolution").

    Args:
        in_channels, out_channels: channels of input and output.
        kernel_size: int or pair.
        stride, padding, dilation: int or pair, as for the convolution this transposes.
        output_padding: extra size added to the bottom/right of the output (default 0).
        groups: blocked connections (default 1).
        bias: learn an additive bias (default True).
        padding_mode: only ``'zeros'``.

    Shape:
        input ``[N, C_in, H, W]`` -> output ``[N, C_out, H_out, W_out]``,
        ``H_out = (H - 1) sH - 2 pH + dH (kH - 1) + output_padding + 1``.
        ``forward(input, output_size)`` picks the output_padding that gives ``output_size``.

    Attributes:
        weight: ``[in_channels, out_channels / groups, kH, kW]``, bias ``[out_channels]``.
    """

    _nd = 2
    _fn = staticmethod(F.conv_transpose2d)


class Unfold(Module):
    r"""Extracts sliding local blocks: ``[N, C, H, W] -> [N, C * kH * kW, L]`` (F.unfold).

    Args:
        kernel_size: int or pair.
        dilation, padding, stride: int or pair (defaults 1, 0, 1).
    """

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Tensor) -> Tensor:
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
            f"stride={self.stride}"
        )


class Fold(Module):
    r"""Sums sliding local blocks into a tensor: ``[N, C * kH * kW, L] -> [N, C, *output_size]``
    (F.fold, the adjoint of Unfold).

    Args:
        output_size: spatial size of the output, int or pair.
        kernel_size: int or pair.
        dilation, padding, stride: int or pair (defaults 1, 0, 1).
    """

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1) -> None:
        super().__init__()
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Tensor) -> Tensor:
        return F.fold(
            input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride
        )

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
            f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}"
        )
