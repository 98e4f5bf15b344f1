"""ember.nn.functional: the functional forms of layers, activations and losses.

Names and signatures follow ``torch.nn.functional``. Most functions are compositions of ember
ops (so autograd, dtypes and double backward come for free); the hot ones are single C++ ops.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .. import _C
from .._C import Tensor

__all__ = [
    "linear",
    "bilinear",
    "identity",
    "relu",
    "relu_",
    "relu6",
    "elu",
    "selu",
    "celu",
    "leaky_relu",
    "gelu",
    "silu",
    "mish",
    "softplus",
    "tanh",
    "sigmoid",
    "hardtanh",
    "hardsigmoid",
    "hardswish",
    "logsigmoid",
    "softsign",
    "tanhshrink",
    "softmax",
    "log_softmax",
    "softmin",
    "glu",
    "prelu",
    "dropout",
    "layer_norm",
    "rms_norm",
    "group_norm",
    "embedding",
    "scaled_dot_product_attention",
    "pad",
    "one_hot",
    "normalize",
    "cosine_similarity",
    "pairwise_distance",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "kl_div",
]

# --------------------------------------------------------------------------------- activations

relu = _C.relu
relu_ = _C.Tensor.relu_
sigmoid = _C.sigmoid
tanh = _C.tanh
silu = _C.silu
mish = _C.mish
hardtanh = _C.hardtanh


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return _inplace(input, _C.elu(input, alpha), inplace)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return _C.softplus(input, beta, threshold)


def _inplace(input: Tensor, out: Tensor, inplace: bool) -> Tensor:
    return input.copy_(out) if inplace else out


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return _inplace(input, _C.leaky_relu(input, negative_slope), inplace)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    return _C.gelu(input, approximate)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return _inplace(input, hardtanh(input, 0.0, 6.0), inplace)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    return _inplace(input, _C.elu(input, _SELU_ALPHA) * _SELU_SCALE, inplace)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    return _inplace(input, _C.elu(input / alpha, 1.0) * alpha, inplace)


def logsigmoid(input: Tensor) -> Tensor:
    return -_C.softplus(-input)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    return _inplace(input, hardtanh(input / 6.0 + 0.5, 0.0, 1.0), inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    return _inplace(input, input * hardtanh(input + 3.0, 0.0, 6.0) / 6.0, inplace)


def softsign(input: Tensor) -> Tensor:
    return input / (_C.abs(input) + 1)


def tanhshrink(input: Tensor) -> Tensor:
    return input - _C.tanh(input)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    if input.ndim == 0 or input.shape[dim] % 2:
        raise ValueError(
            f"glu: halving dimension {dim} must be even, got shape {tuple(input.shape)}"
        )
    a, b = _C.chunk(input, 2, dim)
    return a * _C.sigmoid(b)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    w = weight
    if weight.numel() > 1 and input.ndim >= 2:  # one slope per channel (dim 1)
        w = weight.reshape([1, weight.numel()] + [1] * (input.ndim - 2))
    return _C.where(input >= 0, input, input * w)


def _softmax_dim(ndim):
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim=None, dtype=None) -> Tensor:
    return _C.softmax(input, _softmax_dim(input.ndim) if dim is None else dim, dtype)


def log_softmax(input: Tensor, dim=None, dtype=None) -> Tensor:
    return _C.log_softmax(input, _softmax_dim(input.ndim) if dim is None else dim, dtype)


def softmin(input: Tensor, dim=None, dtype=None) -> Tensor:
    return softmax(-input, dim, dtype)


# ------------------------------------------------------------------------------ linear layers


def _linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``: input [*, in], weight [out, in], bias [out] -> [*, out]."""
    if weight.ndim not in (1, 2) or input.ndim == 0 or input.shape[-1] != weight.shape[-1]:
        raise ValueError(
            f"linear: input shape {tuple(input.shape)} does not match weight shape {tuple(weight.shape)} "
            "(expected input [..., in_features] and weight [out_features, in_features])"
        )
    out = _C.matmul(input, weight.t())
    return out if bias is None else out + bias


# the composite; the GEMM work rebinds F.linear to the fused C++ op (_C.linear) below
linear = _linear


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``y_k = x1 @ W_k @ x2 + b_k``: x1 [*, in1], x2 [*, in2], weight [out, in1, in2]."""
    # [*, in1] x [out, in1, in2] -> [*, out, in2], then contract with x2
    t = _C.matmul(input1.unsqueeze(-2).unsqueeze(-3), weight).squeeze(-2)
    out = (t * input2.unsqueeze(-2)).sum(-1)
    return out if bias is None else out + bias


def identity(input: Tensor) -> Tensor:
    return input


# ---------------------------------------------------------------------------------- dropout


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)`` (training only).

    The mask is drawn from ember's default generator (``ember.manual_seed`` makes it repeatable).
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return _inplace(input, input * (0.0 if input.is_floating_point() else False), inplace)
    if not input.is_floating_point():  # the scaled mask is float, as in PyTorch
        raise RuntimeError(
            f"dropout: result type float32 can't be cast to the desired output type {input.dtype}"
        )
    keep = 1.0 - p
    mask = _C._bernoulli_scalar(list(input.shape), keep, input.dtype, input.device.type)
    return _inplace(input, input * (mask * (1.0 / keep)), inplace)


def alpha_dropout(
    input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False
) -> Tensor:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    alpha_p = -_SELU_ALPHA * _SELU_SCALE
    keep = 1.0 - p
    mask = _C._bernoulli_scalar(list(input.shape), keep, input.dtype, input.device.type)
    a = (keep + alpha_p**2 * keep * p) ** -0.5
    b = -a * alpha_p * p
    return _inplace(input, (input * mask + alpha_p * (1 - mask)) * a + b, inplace)


# ---------------------------------------------------------------------------- normalization

_FLOAT_EPS = {
    "float32": 1.1920928955078125e-07,
    "float64": 2.220446049250313e-16,
    "float16": 0.0009765625,
    "bfloat16": 0.0078125,
}


def _norm_dims(input: Tensor, normalized_shape, op: str) -> list[int]:
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    n = len(normalized_shape)
    if n == 0 or input.ndim < n or tuple(input.shape[input.ndim - n :]) != normalized_shape:
        raise ValueError(
            f"{op}: input shape {tuple(input.shape)} does not end with normalized_shape {list(normalized_shape)}"
        )
    return list(range(input.ndim - n, input.ndim))


def layer_norm(
    input: Tensor,
    normalized_shape,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize over the trailing ``normalized_shape`` dims: ``(x - mean) / sqrt(var + eps) * w + b``."""
    dims = _norm_dims(input, normalized_shape, "layer_norm")
    shape = list(input.shape[dims[0] :])
    return _C._layer_norm(input, shape, weight, bias, eps)  # one fused kernel each way


def rms_norm(
    input: Tensor, normalized_shape, weight: Tensor | None = None, eps: float | None = None
) -> Tensor:
    """``x / sqrt(mean(x^2) + eps) * w`` over the trailing ``normalized_shape`` dims (eps None:
    the dtype's machine epsilon, like PyTorch)."""
    dims = _norm_dims(input, normalized_shape, "rms_norm")
    if eps is None:
        eps = _FLOAT_EPS.get(repr(input.dtype).split(".")[-1], 1.1920928955078125e-07)
    return _C._rms_norm(input, list(input.shape[dims[0] :]), weight, eps)


def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize ``input`` [N, C, *] over groups of C // num_groups channels (and all of *)."""
    if input.ndim < 2:
        raise ValueError(
            f"group_norm: expected input with at least 2 dims [N, C, *], got shape {tuple(input.shape)}"
        )
    n, c = input.shape[0], input.shape[1]
    if num_groups <= 0 or c % num_groups:
        raise ValueError(
            f"group_norm: num_channels {c} must be divisible by num_groups {num_groups}"
        )
    x = input.reshape(n, num_groups, -1)
    mean = x.mean(-1, keepdim=True)
    xc = x - mean
    var = (xc * xc).mean(-1, keepdim=True)
    y = (xc * _C.rsqrt(var + eps)).reshape(input.shape)
    shape = [1, c] + [1] * (input.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


# ---------------------------------------------------------------------------------- embedding


def embedding(
    input: Tensor,
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Rows of ``weight`` [num_embeddings, dim] picked by the integer ``input`` [*] -> [*, dim].

    The row at ``padding_idx`` gets no gradient.
    """
    if input.is_floating_point() or input.dtype == _C.bool:
        raise TypeError(
            f"embedding: expected an integer index tensor (int64 or int32), got {input.dtype!r}"
        )
    if weight.ndim != 2:
        raise ValueError(
            f"embedding: weight must be 2-D [num_embeddings, embedding_dim], got shape {tuple(weight.shape)}"
        )
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: scale_grad_by_freq and sparse are not supported")
    if padding_idx is not None:
        if padding_idx < 0:
            padding_idx += weight.shape[0]
        if not 0 <= padding_idx < weight.shape[0]:
            raise ValueError(
                f"embedding: padding_idx must be within num_embeddings {weight.shape[0]}"
            )
    if max_norm is not None:
        from .. import no_grad

        with no_grad():
            idx = _C.unique(input.reshape(-1))
            rows = weight.index_select(0, idx)
            norms = _C.norm(rows, norm_type, -1, True)
            scale = _C.where(norms > max_norm, max_norm / (norms + 1e-7), _C._ones([], norms.dtype))
            weight.index_put_((idx,), rows * scale)
    flat = input.reshape(-1)
    out = weight.index_select(0, flat)
    if padding_idx is not None and weight.requires_grad:
        # same values, but no gradient reaches the padding row
        keep = (flat != padding_idx).unsqueeze(-1)
        out = _C.where(keep, out, out.detach())
    return out.reshape(list(input.shape) + [weight.shape[1]])


# ---------------------------------------------------------------------------------- attention


def _sdpa_check_shapes(query: Tensor, key: Tensor, value: Tensor) -> None:
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise ValueError(
            f"scaled_dot_product_attention: query, key and value need at least 2 dims [..., L, E], got "
            f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
        )
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(
            f"scaled_dot_product_attention: shapes do not match: query {tuple(query.shape)} [..., L, E], "
            f"key {tuple(key.shape)} [..., S, E], value {tuple(value.shape)} [..., S, Ev]"
        )


def _sdpa(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    _sdpa_check_shapes(query, key, value)
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        hq, hk = query.shape[-3], key.shape[-3]
        if hq % hk:
            raise ValueError(
                f"scaled_dot_product_attention: {hq} query heads are not a multiple of {hk} key heads"
            )
        rep = hq // hk

        def expand_heads(t):
            s = list(t.shape)
            t = t.unsqueeze(-3).expand(*s[:-2], rep, s[-2], s[-1])
            return t.reshape(*s[:-3], hq, s[-2], s[-1])

        key, value = expand_heads(key), expand_heads(value)
    L, S = query.shape[-2], key.shape[-2]
    E = query.shape[-1]  # head dim 0: the scores are all 0 (uniform attention), as in PyTorch
    scale_factor = (1.0 / math.sqrt(E) if E else 1.0) if scale is None else scale
    scores = _C.matmul(query, key.transpose(-2, -1)) * scale_factor
    if is_causal:
        if attn_mask is not None:
            raise ValueError(
                "scaled_dot_product_attention: pass either attn_mask or is_causal=True, not both"
            )
        causal = _C._ones([L, S], _C.bool).tril()
        scores = scores.masked_fill(causal.logical_not(), float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == _C.bool:
            scores = scores.masked_fill(attn_mask.logical_not(), float("-inf"))
        else:
            scores = scores + attn_mask
    attn = _C.softmax(scores, -1)
    if dropout_p > 0.0:
        attn = dropout(attn, dropout_p, True)
    return _C.matmul(attn, value)


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """``softmax(q @ k^T * scale + mask) @ v`` with PyTorch's signature and mask conventions.

    Shape:
        query [..., L, E], key [..., S, E], value [..., S, Ev] -> [..., L, Ev].
        attn_mask broadcastable to [..., L, S]: bool (True = may attend) or float (added).
    """
    fused = getattr(_C, "scaled_dot_product_attention", None)
    if fused is not None:
        _sdpa_check_shapes(query, key, value)  # (errors format shapes as tuples, like torch)
        return fused(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)
    return _sdpa(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)


# ------------------------------------------------------------------------------------- misc


def pad(input: Tensor, pad, mode: str = "constant", value=None) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims: ``pad = (left, right, top, bottom, ...)``."""
    return _C._pad(input, list(pad), mode, 0.0 if value is None else float(value))


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    return _C._one_hot(tensor, num_classes)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    return input / _C.clamp(_C.norm(input, p, dim, True), min=eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    n1 = _C.clamp(_C.norm(x1, 2, dim, True), min=eps)
    n2 = _C.clamp(_C.norm(x2, 2, dim, True), min=eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(
    x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> Tensor:
    return _C.norm(x1 - x2 + eps, p, -1, keepdim)


# ------------------------------------------------------------------------------------- losses

_REDUCTIONS = ("none", "mean", "sum")


def _legacy_reduction(size_average, reduce, reduction: str) -> str:
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _check_reduction(reduction: str, op: str, extra: Sequence[str] = ()) -> None:
    if reduction not in _REDUCTIONS and reduction not in extra:
        raise ValueError(
            f"{op}: {reduction!r} is not a valid value for reduction (none, mean, sum)"
        )


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _check_same_shape(input: Tensor, target: Tensor, op: str) -> None:
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise TypeError(
            f"{op}: expected input and target tensors, got {type(input).__name__} and {type(target).__name__}"
        )
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(
            f"{op}: input shape {tuple(input.shape)} and target shape {tuple(target.shape)} must be the same"
        )


def _class_dim_checks(input: Tensor, target: Tensor, op: str) -> int:
    """The class dim of ``input`` ([C], [N, C] or [N, C, d1, ...]) after checking ``target``'s
    shape ([], [N] or [N, d1, ...] for class indices)."""
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have at least 1 dim (classes), got a 0-d tensor")
    cdim = 0 if input.ndim == 1 else 1
    expected = tuple(input.shape[:cdim]) + tuple(input.shape[cdim + 1 :])
    if tuple(target.shape) != expected:
        raise ValueError(
            f"{op}: input shape {tuple(input.shape)} and target shape {tuple(target.shape)} do not match "
            f"(class-index target must have shape {expected})"
        )
    return cdim


def _nll(
    logp: Tensor, target: Tensor, weight, ignore_index: int, reduction: str, op: str
) -> Tensor:
    """NLL of log-probabilities ``logp`` (class dim 1, or 0 when 1-D) at class indices ``target``."""
    if target.is_floating_point() or target.dtype == _C.bool:
        raise TypeError(
            f"{op}: expected class-index target of an integer dtype, got {target.dtype!r}"
        )
    cdim = _class_dim_checks(logp, target, op)
    n_classes = logp.shape[cdim]
    if weight is not None and (weight.ndim != 1 or weight.shape[0] != n_classes):
        raise ValueError(
            f"{op}: weight should be a 1-D tensor of size {n_classes} (classes), got shape {tuple(weight.shape)}"
        )
    valid = target != ignore_index
    n_valid = int(valid.sum().item())
    all_valid = n_valid == target.numel()
    safe = target if all_valid else _C.where(valid, target, _C._zeros([], target.dtype))
    if target.numel():
        lo, hi = int(safe.min().item()), int(safe.max().item())
        if lo < 0 or hi >= n_classes:
            bad = lo if lo < 0 else hi
            raise IndexError(f"{op}: target {bad} is out of bounds for {n_classes} classes")
    picked = -_C.gather(logp, cdim, safe.unsqueeze(cdim)).squeeze(cdim)
    if weight is None and all_valid:
        return _reduce(picked, reduction)
    w = weight.index_select(0, safe.reshape(-1)).reshape(safe.shape) if weight is not None else None
    if not all_valid:
        vm = valid.to(logp.dtype)
        w = vm if w is None else w * vm
    loss = picked * w
    if reduction == "mean":
        return loss.sum() / w.sum()
    return _reduce(loss, reduction)


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` at class indices ``target``.

    Shape:
        input [C], [N, C] or [N, C, d1, ...]; target [], [N] or [N, d1, ...] (integers).
        ``mean`` divides by the summed weights of the non-ignored targets.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "nll_loss")
    return _nll(input, target, weight, ignore_index, reduction, "nll_loss")


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross entropy of logits ``input`` against class indices or class probabilities.

    Computed as ``log_softmax`` followed by NLL (so it is stable for any logits).

    Args:
        weight: per-class weights [C].
        ignore_index: class-index targets equal to it contribute nothing (and are not counted).
        label_smoothing: in [0, 1]; mixes the target with the uniform distribution.

    Shape:
        input [C], [N, C] or [N, C, d1, ...]; target: integer [], [N] or [N, d1, ...], or float
        probabilities with input's shape.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    op = "cross_entropy"
    _check_reduction(reduction, op)
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise TypeError(f"{op}: expected input and target tensors")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(
            f"{op}: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}"
        )
    if not input.is_floating_point():
        raise TypeError(f"{op}: expected floating point logits, got {input.dtype!r}")
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have at least 1 dim (classes), got a 0-d tensor")
    if not target.is_floating_point():  # class indices: one fused kernel each way
        if target.dtype == _C.bool:
            raise TypeError(
                f"{op}: expected class-index target of an integer dtype, got {target.dtype!r}"
            )
        _class_dim_checks(input, target, op)
        red = {"none": 0, "sum": 1, "mean": 2}[reduction]
        return _C._cross_entropy(input, target, weight, red, ignore_index, label_smoothing)
    cdim = 0 if input.ndim == 1 else 1
    n_classes = input.shape[cdim]
    logp = _C.log_softmax(input, cdim)
    wshape = [1] * input.ndim
    wshape[cdim] = n_classes
    if target.is_floating_point():  # class probabilities
        if tuple(target.shape) != tuple(input.shape):
            raise ValueError(
                f"{op}: input shape {tuple(input.shape)} and probability target shape {tuple(target.shape)} must be the same"
            )
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / n_classes
        prod = logp * target
        if weight is not None:
            prod = prod * weight.reshape(wshape)
        if reduction == "none":
            return -prod.sum(cdim)
        if reduction == "sum":
            return -prod.sum()
        return -prod.sum() / (input.numel() // n_classes if n_classes else 0)


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """``-(t log x + (1 - t) log(1 - x))`` for probabilities ``input`` in [0, 1] (logs clamped at
    -100 like PyTorch)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    op = "binary_cross_entropy"
    _check_reduction(reduction, op)
    _check_same_shape(input, target, op)
    if input.numel():
        lo, hi = float(input.detach().min().item()), float(input.detach().max().item())
        if not (lo >= 0.0 and hi <= 1.0):
            raise ValueError(
                f"{op}: all elements of input should be between 0 and 1 (got min {lo}, max {hi})"
            )
    log_x = _C.clamp(_C.log(input), min=-100.0)
    log_1mx = _C.clamp(_C.log(1 - input), min=-100.0)
    loss = -(target * log_x + (1 - target) * log_1mx)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Sigmoid + binary cross entropy in one stable formula:
    ``(1 - t) x - w_pos log sigmoid(x)`` with ``w_pos = 1 + (pos_weight - 1) t``."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    op = "binary_cross_entropy_with_logits"
    _check_reduction(reduction, op)
    _check_same_shape(input, target, op)
    log_sig = logsigmoid(input)
    if pos_weight is not None:
        log_sig = log_sig * ((pos_weight - 1) * target + 1)
    loss = (1 - target) * input - log_sig
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def mse_loss(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    weight=None,
) -> Tensor:
    """Squared error ``(x - t)^2``."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "mse_loss")
    _check_same_shape(input, target, "mse_loss")
    d = input - target
    loss = d * d
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def l1_loss(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    weight=None,
) -> Tensor:
    """Absolute error ``|x - t|``."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "l1_loss")
    _check_same_shape(input, target, "l1_loss")
    loss = _C.abs(input - target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """``0.5 z^2 / beta`` where ``z = |x - t| < beta``, else ``z - 0.5 beta``."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "smooth_l1_loss")
    _check_same_shape(input, target, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    z = _C.abs(input - target)
    if beta == 0.0:
        return _reduce(z, reduction)
    loss = _C.where(z < beta, z * z * (0.5 / beta), z - 0.5 * beta)
    return _reduce(loss, reduction)


def huber_loss(
    input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0, weight=None
) -> Tensor:
    """``0.5 z^2`` where ``z = |x - t| < delta``, else ``delta (z - 0.5 delta)``."""
    _check_reduction(reduction, "huber_loss")
    _check_same_shape(input, target, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    z = _C.abs(input - target)
    loss = _C.where(z < delta, z * z * 0.5, (z - 0.5 * delta) * delta)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """KL divergence ``t (log t - x)`` of log-probabilities ``input`` from ``target``
    (log-probabilities too with ``log_target``). ``reduction="batchmean"`` divides the sum by
    the batch size (the mathematically correct KL); ``"mean"`` divides by the element count."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "kl_div", extra=("batchmean",))
    _check_same_shape(input, target, "kl_div")
    if log_target:
        loss = _C.exp(target) * (target - input)
    else:
        # xlogy(t, t): 0 where t == 0 (and no NaN gradient from log(0))
        pos = target > 0
        safe = _C.where(pos, target, _C._ones([], target.dtype))
        loss = target * _C.log(safe) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


linear = _C.linear

# convolution, pooling, batch norm and interpolation live in their own files
from ._conv_functional import *  # noqa: E402,F403
from ._conv_functional import __all__ as _conv_all  # noqa: E402
from ._norm_functional import *  # noqa: E402,F403
from ._norm_functional import __all__ as _norm_all  # noqa: E402
from ._pool_functional import *  # noqa: E402,F403
from ._pool_functional import __all__ as _pool_all  # noqa: E402

__all__ += _conv_all + _pool_all + _norm_all

# a non-tensor argument gets a TypeError naming the function and argument (nn/_arg_checks.py)
from ._arg_checks import check_tensor_args as _check_tensor_args  # noqa: E402

_check_tensor_args(globals(), __all__)

# autocast: the ops of the autocast table written in Python cast their inputs here (the C++ ops do
# it themselves); see csrc/ops/autocast.h
from ..amp.autocast_mode import autocast_inputs as _autocast_inputs  # noqa: E402

for _name in (
    "mse_loss l1_loss smooth_l1_loss huber_loss cross_entropy nll_loss kl_div binary_cross_entropy "
    "binary_cross_entropy_with_logits prelu scaled_dot_product_attention"
).split():
    globals()[_name] = _autocast_inputs(_name, globals()[_name])
