"""Part of ember.nn.functional (re-exported there): batch_norm and interpolate."""

from __future__ import annotations

import math
import numbers

from .. import _C
from .._C import Tensor

__all__: list[str] = [
    "batch_norm",
    "interpolate",
    "upsample",
    "upsample_nearest",
    "upsample_bilinear",
]


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization of ``input`` [N, C, *] per channel C.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``. Training uses the batch statistics
    (biased variance) and, when given, updates ``running_mean`` / ``running_var`` in place:
    ``running = (1 - momentum) * running + momentum * batch_stat`` (unbiased variance). Eval
    (``training=False``) uses the running statistics.

    Args:
        input: [N, C, *] floating point tensor.
        running_mean, running_var: [C] running statistics (required when not training).
        weight, bias: optional [C] affine parameters.
        training: use (and track) batch statistics.
        momentum: update factor of the running statistics.
        eps: added to the variance.
    """
    return _C._batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


_LINEAR = {3: "linear", 4: "bilinear", 5: "trilinear"}


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _scale(s) -> float:
    # a real number (bools count, as in PyTorch); inf/nan would make no output size
    if isinstance(s, str) or not isinstance(s, numbers.Real):
        raise TypeError(f"interpolate: expected scale_factor to be a float, got {s!r}")
    f = float(s)
    if not math.isfinite(f):
        raise ValueError(f"interpolate: scale_factor must be finite, got {s!r}")
    return f


def interpolate(
    input: Tensor,
    size: int | tuple[int, ...] | list[int] | None = None,
    scale_factor: float | tuple[float, ...] | list[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resample ``input`` [N, C, L] or [N, C, H, W] to ``size`` or by ``scale_factor``.

    Modes: ``'nearest'``, ``'nearest-exact'``, ``'linear'`` (3-D) and ``'bilinear'`` (4-D),
    with PyTorch's source-index rules: when ``scale_factor`` is given (and
    ``recompute_scale_factor`` is not True) the index math uses ``1 / scale_factor``, otherwise
    the ratio of the sizes. ``align_corners=True`` maps the corner pixels onto each other.

    Args:
        input: 3-D or 4-D floating point tensor.
        size: output spatial size (an int for every spatial dim, or one per dim).
        scale_factor: multiplier of the spatial size (one, or one per dim); the output size is
            ``floor(in * scale_factor)``.
        mode: the interpolation mode.
        align_corners: linear modes only (default False).
        recompute_scale_factor: compute the output size from ``scale_factor``, then interpolate
            as if that size had been given.
        antialias: not supported (raises NotImplementedError when True).

    Shape:
        input [N, C, *in] -> [N, C, *out].
    """
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError(
                "align_corners option can only be set with the interpolating modes: "
                "linear | bilinear | bicubic | trilinear"
            )
    elif align_corners is None:
        align_corners = False
    dim = input.dim() - 2
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        scale_factors = None
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(
                    "Input and output must have the same number of spatial dimensions, but got "
                    f"input with spatial dimensions of {list(input.shape[2:])} and output size "
                    f"of {size}. Please provide input tensor in (N, C, d1, d2, ...,dK) format "
                    "and output size in (o1, o2, ...,oK) format."
                )
            if not all(_is_int(s) for s in size):
                raise TypeError(
                    "expected size to be one of int or Tuple[int] or Tuple[int, int] or "
                    f"Tuple[int, int, int], but got size with types {[type(s) for s in size]}"
                )
            output_size = list(size)
        else:
            if not _is_int(size):
                raise TypeError(f"interpolate: expected size to be an int, got {type(size)}")
            output_size = [size] * dim
    elif scale_factor is not None:
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError(
                    "Input and scale_factor must have the same number of spatial dimensions, but "
                    f"got input with spatial dimensions of {list(input.shape[2:])} and "
                    f"scale_factor of shape {scale_factor}. Please provide input tensor in "
                    "(N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) format."
                )
            scale_factors = [_scale(s) for s in scale_factor]
        else:
            scale_factors = [_scale(scale_factor)] * dim
        output_size = [math.floor(float(input.shape[i + 2]) * scale_factors[i]) for i in range(dim)]
        if recompute_scale_factor:
            scale_factors = None
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if antialias:
        if not (mode in ("bilinear", "bicubic", "lanczos") and input.ndim == 4):
            raise ValueError(
                "Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and "
                "requires a 4-D tensor as input"
            )
        raise NotImplementedError("interpolate: antialias=True is not supported by ember")

    if input.dim() not in (3, 4, 5) or mode not in (
        "nearest",
        "nearest-exact",
        "linear",
        "bilinear",
        "trilinear",
        "bicubic",
        "area",
    ):
        raise NotImplementedError(
            "Input Error: Only 3D, 4D and 5D input Tensors supported"
            f" (got {input.dim()}D) for the modes: nearest | linear | bilinear | bicubic | "
            f"trilinear | area | nearest-exact (got {mode})"
        )
    if mode in ("linear", "bilinear", "trilinear") and _LINEAR[input.dim()] != mode:
        need = {"linear": 3, "bilinear": 4, "trilinear": 5}[mode]
        raise NotImplementedError(f"Got {input.dim()}D input, but {mode} mode needs {need}D input")
    if mode == "bicubic" and input.dim() != 4:
        raise NotImplementedError(f"Got {input.dim()}D input, but bicubic mode needs 4D input")
    if input.dim() == 5 or mode in ("bicubic", "area"):
        raise NotImplementedError(
            f"interpolate: mode '{mode}' with {input.dim()}-D input is not supported by ember "
            "(3-D: nearest, nearest-exact, linear; 4-D: nearest, nearest-exact, bilinear)"
        )
    scales = [0.0] * dim if scale_factors is None else scale_factors
    return _C._upsample(input, output_size, mode, bool(align_corners), scales)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of :func:`interpolate` (as in PyTorch)."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(input, size, scale_factor, mode='nearest')``."""
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(..., mode='bilinear', align_corners=True)``."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
