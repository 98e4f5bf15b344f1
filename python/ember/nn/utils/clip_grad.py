"""Gradient clipping over all parameters at once (fused multi-tensor C++ kernels)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from ... import _C
from ..._C import Tensor


def _grads(parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def get_total_norm(
    tensors: Iterable[Tensor],
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach=None,
) -> Tensor:
    """The ``norm_type``-norm of all the tensors' elements together, as a 0-d tensor."""
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    tensors = [t for t in tensors if t is not None]
    norm_type = float(norm_type)
    if not tensors:
        return _C._zeros([], _C.get_default_dtype())
    total = _C._multi_tensor_norm([t.detach() for t in tensors], norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be "
            "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`"
        )
    return _C._full([], total, tensors[0].dtype)


def clip_grad_norm_(
    parameters,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach=None,
) -> Tensor:
    """Scale all gradients in place so that their joint norm is at most ``max_norm``.

    Args:
        parameters: an iterable of tensors (or one tensor) whose ``.grad`` is clipped.
        max_norm: the largest allowed total norm.
        norm_type: the p of the p-norm (``float("inf")`` for the max-norm).
        error_if_nonfinite: raise if the total norm is nan or inf.

    Returns:
        The total norm of the gradients before clipping (a 0-d tensor).
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = _grads(list(parameters))
    max_norm = float(max_norm)
    if not grads:
        return _C._zeros([], _C.get_default_dtype())
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_coef = max_norm / (float(total.item()) + 1e-6)
    # scaling by min(coef, 1) always (like PyTorch): a no-op multiply when below max_norm
    if clip_coef < 1.0 or not math.isfinite(clip_coef):
        _C._multi_tensor_scale_(
            grads, min(clip_coef, 1.0) if not math.isnan(clip_coef) else clip_coef
        )
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element to ``[-clip_value, clip_value]`` in place."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    clip_value = float(clip_value)
    grads = _grads(list(parameters))
    if grads:
        _C._multi_tensor_clamp_(grads, -clip_value, clip_value)
