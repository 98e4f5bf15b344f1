"""Language-model workloads for compare.py: fused attention, layer norm, cross entropy and a
small GPT training step (ember vs PyTorch; NumPy has no counterpart, so PyTorch's result is the
reference of the correctness check).

    python bench/py/compare.py --only sdpa --only layer_norm --only GPT --threads 2
    python bench/py/workloads_lm.py     # peak extra memory of SDPA forward + backward at T=4096
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

try:
    import torch
except ImportError:
    torch = None
try:
    import ember
except ImportError:
    ember = None


def _randn(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape, dtype=np.float32) * scale).astype(np.float32)


def _sdpa(lib: Any) -> Callable[..., Any]:
    return lib.nn.functional.scaled_dot_product_attention


def _sdpa_fwd(lib: Any) -> Callable[..., Any]:
    return lambda q, k, v: _sdpa(lib)(q, k, v, is_causal=True)


def _sdpa_fwd_bwd(lib: Any) -> Callable[..., Any]:
    def fn(q, k, v, g):
        q, k, v = (t.detach().requires_grad_(True) for t in (q, k, v))
        _sdpa(lib)(q, k, v, is_causal=True).backward(g)
        return q.grad

    return fn


def _sdpa_masked_fwd_bwd(lib: Any) -> Callable[..., Any]:
    # a bool attn_mask (True = may attend), as nn.MultiheadAttention / nn.Transformer pass it
    def fn(q, k, v, g, m):
        q, k, v = (t.detach().requires_grad_(True) for t in (q, k, v))
        _sdpa(lib)(q, k, v, attn_mask=m).backward(g)
        return q.grad

    return fn


def _qkvgm(B: int, H: int, T: int, D: int) -> Callable[[np.random.Generator], tuple]:
    # causal (lower-triangular) bool mask [T, T], broadcast over batch and heads
    def inputs(rng):
        return tuple(_randn(rng, B, H, T, D) for _ in range(4)) + (np.tril(np.ones((T, T), bool)),)

    return inputs


def _qkvg(B: int, H: int, T: int, D: int, grad: bool) -> Callable[[np.random.Generator], tuple]:
    def inputs(rng):
        n = 4 if grad else 3
        return tuple(_randn(rng, B, H, T, D) for _ in range(n))

    return inputs


def _ln_fwd(lib: Any) -> Callable[..., Any]:
    return lambda x, w, b: lib.nn.functional.layer_norm(x, (x.shape[-1],), w, b)


def _ln_fwd_bwd(lib: Any) -> Callable[..., Any]:
    def fn(x, w, b, g):
        x, w, b = (t.detach().requires_grad_(True) for t in (x, w, b))
        lib.nn.functional.layer_norm(x, (x.shape[-1],), w, b).backward(g)
        return x.grad

    return fn


def _gelu_fwd_bwd(lib: Any) -> Callable[..., Any]:
    def fn(x, g):
        x = x.detach().requires_grad_(True)
        lib.nn.functional.gelu(x).backward(g)
        return x.grad

    return fn


def _silu_fwd_bwd(lib: Any) -> Callable[..., Any]:
    def fn(x, g):
        x = x.detach().requires_grad_(True)
        lib.nn.functional.silu(x).backward(g)
        return x.grad

    return fn


def _ce_fwd_bwd(lib: Any) -> Callable[..., Any]:
    def fn(z, t):
        z = z.detach().requires_grad_(True)
        lib.nn.functional.cross_entropy(z, t).backward()
        return z.grad

    return fn


def _ce_inputs(n: int, v: int) -> Callable[[np.random.Generator], tuple]:
    return lambda rng: (_randn(rng, n, v, scale=2.0), rng.integers(0, v, n).astype(np.int64))


# ---- nanoGPT-style model built from each framework's nn modules

GPT = dict(vocab=65, block=128, embd=128, heads=4, layers=4, batch=16)


def _gpt_model(lib: Any) -> Any:
    nn = lib.nn
    E, H, V, T = GPT["embd"], GPT["heads"], GPT["vocab"], GPT["block"]

    if lib is torch:  # torch has no CausalSelfAttention module: the same one in torch

        class CausalSelfAttention(nn.Module):
            def __init__(self, e, h):
                super().__init__()
                self.num_heads = h
                self.c_attn = nn.Linear(e, 3 * e)
                self.c_proj = nn.Linear(e, e)

            def forward(self, x):
                N, L, C = x.shape
                q, k, v = self.c_attn(x).split(C, 2)
                q, k, v = (t.reshape(N, L, self.num_heads, -1).transpose(1, 2) for t in (q, k, v))
                y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
                return self.c_proj(y.transpose(1, 2).reshape(N, L, C))

    else:
        CausalSelfAttention = nn.CausalSelfAttention

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(E)
            self.attn = CausalSelfAttention(E, H)
            self.ln_2 = nn.LayerNorm(E)
            self.mlp = nn.Sequential(nn.Linear(E, 4 * E), nn.GELU(), nn.Linear(4 * E, E))

        def forward(self, x):  # [N, T, E]
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(V, E)
            self.wpe = nn.Embedding(T, E)
            self.blocks = nn.Sequential(*[Block() for _ in range(GPT["layers"])])
            self.ln_f = nn.LayerNorm(E)
            self.lm_head = nn.Linear(E, V, bias=False)
            self.lm_head.weight = self.wte.weight  # weight tying

        def forward(self, idx):  # [N, T] -> logits [N, T, V]
            pos = lib.arange(idx.shape[1])
            x = self.wte(idx) + self.wpe(pos)
            return self.lm_head(self.ln_f(self.blocks(x)))

    model = Model()
    rng = np.random.default_rng(0)  # same values in both frameworks (same parameter order)
    with lib.no_grad():
        for name, p in model.named_parameters():
            shape = tuple(p.shape)
            if len(shape) > 1:
                a = _randn(rng, *shape, scale=0.02)
            else:
                a = np.full(shape, 1.0 if "ln" in name else 0.0, np.float32)
            p.copy_(lib.from_numpy(a))
    return model


_STATE: dict[str, tuple[Any, Any]] = {}


def _gpt_step(lib: Any) -> Callable[..., Any]:
    def step(idx, targets):
        key = lib.__name__
        if key not in _STATE or _STATE[key][0] is not idx:
            model = _gpt_model(lib)
            _STATE[key] = (idx, (model, lib.optim.AdamW(model.parameters(), lr=1e-3)))
        model, opt = _STATE[key][1]
        logits = model(idx)
        loss = lib.nn.functional.cross_entropy(
            logits.reshape(-1, GPT["vocab"]), targets.reshape(-1)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.detach()

    return step


def _gpt_inputs(rng: np.random.Generator) -> tuple:
    shape = (GPT["batch"], GPT["block"])
    return tuple(rng.integers(0, GPT["vocab"], shape).astype(np.int64) for _ in range(2))


def _fw(make: Callable[[Any], Callable[..., Any]], lib: Any) -> Callable[..., Any] | None:
    return make(lib) if lib is not None else None


LM_WORKLOADS: dict[str, dict[str, Any]] = {
    "sdpa causal B8 H8 T256 D64 f32 fwd": {
        "inputs": _qkvg(8, 8, 256, 64, False),
        "torch": _fw(_sdpa_fwd, torch),
        "ember": _fw(_sdpa_fwd, ember),
        "target": ("torch", 0.5),
        "rtol": 1e-4,
    },
    "sdpa causal B8 H8 T256 D64 f32 fwd+bwd": {
        "inputs": _qkvg(8, 8, 256, 64, True),
        "torch": _fw(_sdpa_fwd_bwd, torch),
        "ember": _fw(_sdpa_fwd_bwd, ember),
        "target": ("torch", 0.5),
        "rtol": 1e-3,
        "atol": 1e-5,
        "note": "result checked: dq",
    },
    "sdpa masked (bool) B8 H8 T256 D64 f32 fwd+bwd": {
        "inputs": _qkvgm(8, 8, 256, 64),
        "torch": _fw(_sdpa_masked_fwd_bwd, torch),
        "ember": _fw(_sdpa_masked_fwd_bwd, ember),
        "target": ("torch", 0.5),
        "rtol": 1e-3,
        "atol": 1e-5,
        "note": "attn_mask: causal bool [T, T]; result checked: dq",
    },
    "layer_norm 4096x1024 f32 fwd": {
        "inputs": lambda rng: (_randn(rng, 4096, 1024), _randn(rng, 1024), _randn(rng, 1024)),
        "torch": _fw(_ln_fwd, torch),
        "ember": _fw(_ln_fwd, ember),
        "target": ("torch", 0.8),
        "rtol": 1e-4,
        "atol": 1e-5,
    },
    "layer_norm 4096x1024 f32 fwd+bwd": {
        "inputs": lambda rng: tuple(
            _randn(rng, *s) for s in ((4096, 1024), (1024,), (1024,), (4096, 1024))
        ),
        "torch": _fw(_ln_fwd_bwd, torch),
        "ember": _fw(_ln_fwd_bwd, ember),
        "target": ("torch", 0.8),
        "rtol": 1e-3,
        "atol": 1e-4,
        "note": "result checked: grad of x",
    },
    "gelu 2048x512 f32 fwd+bwd": {
        "inputs": lambda rng: (_randn(rng, 2048, 512, scale=2.0), _randn(rng, 2048, 512)),
        "torch": _fw(_gelu_fwd_bwd, torch),
        "ember": _fw(_gelu_fwd_bwd, ember),
        "target": ("torch", 1.0),
        "rtol": 1e-5,
        "atol": 1e-6,
        "note": "the GPT MLP's activation (exact erf form); result checked: grad of x",
    },
    "silu 2048x512 f32 fwd+bwd": {
        "inputs": lambda rng: (_randn(rng, 2048, 512, scale=2.0), _randn(rng, 2048, 512)),
        "torch": _fw(_silu_fwd_bwd, torch),
        "ember": _fw(_silu_fwd_bwd, ember),
        "target": ("torch", 1.0),
        "rtol": 1e-5,
        "atol": 1e-6,
        "note": "the LLaMA-style MLP's activation; result checked: grad of x",
    },
    "cross_entropy 2048x50257 f32 fwd+bwd": {
        "inputs": _ce_inputs(2048, 50257),
        "torch": _fw(_ce_fwd_bwd, torch),
        "ember": _fw(_ce_fwd_bwd, ember),
        "target": ("torch", 1.0),
        "rtol": 1e-3,
        "atol": 1e-9,
    },
    "cross_entropy 8192x65 f32 fwd+bwd": {
        "inputs": _ce_inputs(8192, 65),
        "torch": _fw(_ce_fwd_bwd, torch),
        "ember": _fw(_ce_fwd_bwd, ember),
        "target": ("torch", 1.0),
        "rtol": 1e-3,
        "atol": 1e-9,
    },
    "GPT 4L 4H E128 T128 b16 train step (AdamW)": {
        "inputs": _gpt_inputs,
        "torch": _fw(_gpt_step, torch),
        "ember": _fw(_gpt_step, ember),
        "target": ("torch", 0.6),
        "rtol": 1e-4,
        "note": "nanoGPT-style: Embedding, LayerNorm, CausalSelfAttention, GELU MLP, tied head; "
        "each call is one more step",
    },
}


def sdpa_peak_memory(T: int = 4096, B: int = 1, H: int = 8, D: int = 64) -> None:
    """Peak memory of causal SDPA forward + backward beyond its inputs, vs the size of q, k, v, out."""
    rng = np.random.default_rng(0)
    q, k, v, g = (ember.from_numpy(_randn(rng, B, H, T, D)) for _ in range(4))
    for t in (q, k, v):
        t.requires_grad_(True)
    ember.empty_cache()
    base = ember.memory_stats()["allocated"]
    ember.reset_peak_memory_stats()
    out = ember.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    out.backward(g)
    extra = ember.memory_stats()["peak"] - base
    qkvo = 4 * B * H * T * D * 4
    print(
        f"sdpa fwd+bwd B{B} H{H} T{T} D{D} f32: peak extra {extra / 2**20:.1f} MiB = "
        f"{extra / qkvo:.2f} x size(q, k, v, out) ({qkvo / 2**20:.1f} MiB); "
        f"a T x T f32 score buffer per head would be {B * H * T * T * 4 / 2**20:.0f} MiB"
    )


if __name__ == "__main__":
    sdpa_peak_memory()
