"""Activation modules (thin wrappers over nn.functional) and MultiheadAttention."""

from __future__ import annotations

import math

from ... import _C
from ..._C import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .linear import Linear
from .module import Module


def _inplace_repr(inplace: bool) -> str:
    return "inplace=True" if inplace else ""


class ReLU(Module):
    """``max(x, 0)`` elementwise. Shape: any -> same."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return input.relu_() if self.inplace else _C.relu(input)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class ReLU6(Module):
    """``min(max(x, 0), 6)``."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.relu6(input, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class LeakyReLU(Module):
    """``x`` for x >= 0, ``negative_slope * x`` otherwise."""

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """Gaussian error linear unit; ``approximate="tanh"`` uses the tanh approximation."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return _C.gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """``x * sigmoid(x)`` (a.k.a. swish)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        out = _C.silu(input)
        return input.copy_(out) if self.inplace else out

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class Mish(Module):
    """``x * tanh(softplus(x))``."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        out = _C.mish(input)
        return input.copy_(out) if self.inplace else out

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class Tanh(Module):
    def forward(self, input: Tensor) -> Tensor:
        return _C.tanh(input)


class Sigmoid(Module):
    def forward(self, input: Tensor) -> Tensor:
        return _C.sigmoid(input)


class LogSigmoid(Module):
    def forward(self, input: Tensor) -> Tensor:
        return F.logsigmoid(input)


class ELU(Module):
    """``x`` for x > 0, ``alpha * (exp(x) - 1)`` otherwise."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class SELU(Module):
    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.selu(input, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class CELU(Module):
    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.celu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Softplus(Module):
    """``log(1 + exp(beta x)) / beta`` (linear above ``threshold`` for stability)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:
        return _C.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        if not max_val > min_val:
            raise ValueError(
                f"Hardtanh: max_val ({max_val}) must be greater than min_val ({min_val})"
            )
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        out = _C.hardtanh(input, self.min_val, self.max_val)
        return input.copy_(out) if self.inplace else out

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (
            ", inplace=True" if self.inplace else ""
        )


class Hardsigmoid(Module):
    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.hardsigmoid(input, self.inplace)


class Hardswish(Module):
    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.hardswish(input, self.inplace)


class Softsign(Module):
    def forward(self, input: Tensor) -> Tensor:
        return F.softsign(input)


class Tanhshrink(Module):
    def forward(self, input: Tensor) -> Tensor:
        return F.tanhshrink(input)


class GLU(Module):
    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class PReLU(Module):
    """Leaky ReLU with a learned slope (one, or one per channel), initialized to ``init``."""

    def __init__(
        self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None
    ) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(_C._full([num_parameters], init, dtype or _C.get_default_dtype()))

    def reset_parameters(self) -> None:
        init.constant_(self.weight, self.init)

    def forward(self, input: Tensor) -> Tensor:
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class _DimActivation(Module):
    """An activation applied along ``dim`` (the functional form is ``_fn``). Shape: any -> same."""

    _fn = staticmethod(F.softmax)

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return self._fn(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_DimActivation):
    """softmax along ``dim``. Shape: any -> same."""

    _fn = staticmethod(F.softmax)


class Softmin(_DimActivation):
    """softmax of ``-input`` along ``dim``. Shape: any -> same."""

    _fn = staticmethod(F.softmin)


class LogSoftmax(_DimActivation):
    """log(softmax) along ``dim``, computed stably in one kernel. Shape: any -> same."""

    _fn = staticmethod(F.log_softmax)


# ----------------------------------------------------------------------------- attention


class NonDynamicallyQuantizableLinear(Linear):
    """A Linear (the name PyTorch gives MultiheadAttention's output projection)."""


def _float_mask(mask: Tensor | None, dtype, name: str) -> Tensor | None:
    """A bool mask (True = not allowed) becomes an additive float mask with -inf."""
    if mask is None:
        return None
    if mask.dtype == _C.bool:
        return _C._zeros(list(mask.shape), dtype).masked_fill(mask, float("-inf"))
    if not mask.is_floating_point():
        raise TypeError(
            f"MultiheadAttention: only bool and floating types of {name} are supported, got {mask.dtype!r}"
        )
    return mask.to(dtype)


class MultiheadAttention(Module):
    """Multi-head attention (PyTorch's module, parameters and mask conventions).

    Args:
        embed_dim: model width E (split over ``num_heads`` heads).
        num_heads: number of heads; E must be divisible by it.
        dropout: dropout on the attention weights (training only).
        bias: biases on the input and output projections.
        add_bias_kv, add_zero_attn: append a learned / zero key-value position.
        kdim, vdim: key / value widths (default E).
        batch_first: inputs and output are [N, L, E] instead of [L, N, E].

    Shape:
        query [L, N, E] (or [N, L, E] with batch_first, or unbatched [L, E]); key [S, N, kdim];
        value [S, N, vdim]. key_padding_mask [N, S] (True / -inf = ignore that key);
        attn_mask [L, S] or [N * num_heads, L, S] (True / -inf = not allowed).
        Returns (output with query's shape, weights [N, L, S] averaged over heads — or
        [N, num_heads, L, S] — when need_weights, else None).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(
                f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and num_heads={num_heads}"
            )
        if embed_dim % num_heads:
            raise ValueError(
                f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        dt = dtype or _C.get_default_dtype()
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(_C._empty([embed_dim, embed_dim], dt))
            self.k_proj_weight = Parameter(_C._empty([embed_dim, self.kdim], dt))
            self.v_proj_weight = Parameter(_C._empty([embed_dim, self.vdim], dt))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = Parameter(_C._empty([3 * embed_dim, embed_dim], dt))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(_C._empty([3 * embed_dim], dt))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(
            embed_dim, embed_dim, bias=bias, dtype=dtype
        )
        if add_bias_kv:
            self.bias_k = Parameter(_C._empty([1, 1, embed_dim], dt))
            self.bias_v = Parameter(_C._empty([1, 1, embed_dim], dt))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ):
        E, H, hd = self.embed_dim, self.num_heads, self.head_dim
        if query.ndim not in (2, 3):
            raise ValueError(
                f"MultiheadAttention: query should be unbatched 2D or batched 3D, got shape {tuple(query.shape)}"
            )
        batched = query.ndim == 3
        if key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(
                f"MultiheadAttention: query, key and value must have the same number of dims, got "
                f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
            )
        if not batched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif not self.batch_first:  # [L, N, E] -> [N, L, E]
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        N, L, Eq = query.shape
        S = key.shape[1]
        if Eq != E:
            raise ValueError(
                f"MultiheadAttention: was expecting embedding dimension of {E}, but got query shape {tuple(query.shape)}"
            )
        if key.shape[0] != N or value.shape[0] != N or value.shape[1] != S:
            raise ValueError(
                f"MultiheadAttention: key shape {tuple(key.shape)} and value shape {tuple(value.shape)} do not match query shape {tuple(query.shape)}"
            )
        if key.shape[2] != self.kdim or value.shape[2] != self.vdim:
            raise ValueError(
                f"MultiheadAttention: key/value widths {key.shape[2]}/{value.shape[2]} do not match kdim/vdim {self.kdim}/{self.vdim}"
            )
        # input projections
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E : 2 * E], b[2 * E :])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            wq, wk, wv = w[:E], w[E : 2 * E], w[2 * E :]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        q = F.linear(query, wq, bq)
        k = F.linear(key, wk, bk)
        v = F.linear(value, wv, bv)
        dtype = q.dtype
        # masks -> one additive float mask broadcastable to [N, H, L, S]
        if (
            is_causal
            and attn_mask is None
            and key_padding_mask is None
            and self.bias_k is None
            and not self.add_zero_attn
        ):
            mask = None
            causal = True
        else:
            causal = False
            mask = _float_mask(attn_mask, dtype, "attn_mask")
            if is_causal and mask is None:
                mask = _C._zeros([L, S], dtype).masked_fill(
                    _C._ones([L, S], _C.bool).tril().logical_not(), float("-inf")
                )
            if mask is not None:
                if mask.ndim == 2:
                    if tuple(mask.shape) != (L, S):
                        raise ValueError(
                            f"MultiheadAttention: the shape of the 2D attn_mask is {tuple(mask.shape)}, but should be {(L, S)}"
                        )
                    mask = mask.reshape(1, 1, L, S)
                elif mask.ndim == 3:
                    if tuple(mask.shape) != (N * H, L, S):
                        raise ValueError(
                            f"MultiheadAttention: the shape of the 3D attn_mask is {tuple(mask.shape)}, but should be {(N * H, L, S)}"
                        )
                    mask = mask.reshape(N, H, L, S)
                else:
                    raise ValueError(
                        f"MultiheadAttention: attn_mask's dimension {mask.ndim} is not supported"
                    )
            kpm = _float_mask(key_padding_mask, dtype, "key_padding_mask")
            if kpm is not None:
                if tuple(kpm.shape) != (N, S):
                    raise ValueError(
                        f"MultiheadAttention: key_padding_mask shape {tuple(kpm.shape)} should be {(N, S)}"
                    )
                kpm = kpm.reshape(N, 1, 1, S)
                mask = kpm if mask is None else mask + kpm
        if self.bias_k is not None:
            k = _C.cat([k, self.bias_k.expand(N, 1, E)], 1)
            v = _C.cat([v, self.bias_v.expand(N, 1, E)], 1)
            if mask is not None:
                mask = F.pad(mask, (0, 1))
            S += 1
        # heads: [N, S, E] -> [N, H, S, hd]
        q = q.reshape(N, L, H, hd).transpose(1, 2)
        k = k.reshape(N, S, H, hd).transpose(1, 2)
        v = v.reshape(N, S, H, hd).transpose(1, 2)
        if self.add_zero_attn:
            k = _C.cat([k, _C._zeros([N, H, 1, hd], dtype)], 2)
            v = _C.cat([v, _C._zeros([N, H, 1, hd], dtype)], 2)
            if mask is not None:
                mask = F.pad(mask, (0, 1))
            S += 1
        dropout_p = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            scores = _C.matmul(q * math.sqrt(1.0 / hd), k.transpose(-2, -1))
            if causal:
                scores = scores.masked_fill(
                    _C._ones([L, S], _C.bool).tril().logical_not(), float("-inf")
                )
            if mask is not None:
                scores = scores + mask
            attn = _C.softmax(scores, -1)
            if dropout_p > 0.0:
                attn = F.dropout(attn, dropout_p, True)
            out = _C.matmul(attn, v)
            weights = attn.mean(1) if average_attn_weights else attn
            if not batched:
                weights = weights.squeeze(0)
        else:
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=causal
            )
        out = out.transpose(1, 2).reshape(N, L, E)
        out = self.out_proj(out)
        if not batched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        return out, weights


class CausalSelfAttention(Module):
    """GPT-style masked self-attention: each position attends to itself and earlier ones.

    ``c_attn`` projects to queries, keys and values at once, heads attend through
    ``F.scaled_dot_product_attention(is_causal=True)``, ``c_proj`` projects back.

    Args:
        embed_dim: model width E (divisible by num_heads).
        num_heads: number of heads.
        dropout: dropout on the attention weights and on the output (training only).
        bias: biases on the projections.

    Shape:
        x [N, T, E] -> [N, T, E].
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(
                f"CausalSelfAttention: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        from .dropout import Dropout

        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.c_attn = Linear(embed_dim, 3 * embed_dim, bias=bias, dtype=dtype)
        self.c_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        self.resid_dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 3 or x.shape[-1] != self.embed_dim:
            raise ValueError(
                f"CausalSelfAttention: expected input [N, T, {self.embed_dim}], got shape {tuple(x.shape)}"
            )
        N, T, E = x.shape
        H = self.num_heads
        q, k, v = self.c_attn(x).split(E, 2)  # 3 x [N, T, E]
        q = q.reshape(N, T, H, E // H).transpose(1, 2)  # [N, H, T, hd]
        k = k.reshape(N, T, H, E // H).transpose(1, 2)
        v = v.reshape(N, T, H, E // H).transpose(1, 2)
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
        )
        y = y.transpose(1, 2).reshape(N, T, E)
        return self.resid_dropout(self.c_proj(y))

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"
