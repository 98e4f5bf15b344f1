"""Recurrent-layer workloads for compare.py (word-level language-model sizes): forward and
backward of a 2-layer LSTM / GRU, 256 hidden, 35 steps, batch 20."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

T, B, I, H, LAYERS = 35, 20, 256, 256, 2


def _inputs(gates: int) -> Callable[[np.random.Generator], tuple[np.ndarray, ...]]:
    def make(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        x = rng.standard_normal((T, B, I), dtype=np.float32)
        g = rng.standard_normal((T, B, H), dtype=np.float32)
        bound = 1.0 / np.sqrt(H)
        params = []
        for layer in range(LAYERS):  # PyTorch's order: weight_ih, weight_hh, bias_ih, bias_hh
            for shape in (
                (gates * H, I if layer == 0 else H),
                (gates * H, H),
                (gates * H,),
                (gates * H,),
            ):
                params.append(rng.uniform(-bound, bound, shape).astype(np.float32))
        return (x, g, *params)

    return make


def _fwd_bwd(lib: Any, cls_name: str) -> Callable[..., Any]:
    """out = model(x); backward of sum(out * g) into the weights and x. The model is built once
    per input set (kept with the inputs, as compare.py's training workloads do)."""
    state: dict[str, Any] = {}

    def step(x, g, *params):
        if state.get("x") is not x:
            model = getattr(lib.nn, cls_name)(I, H, num_layers=LAYERS)
            with lib.no_grad():
                for p, v in zip(model.parameters(), params):
                    p.copy_(v)
            x.requires_grad_(True)
            state.update(x=x, model=model)
        model = state["model"]
        model.zero_grad()
        x.grad = None
        out, _ = model(x)
        (out * g).sum().backward()
        return out.detach()

    return step


def rnn_workloads(torch: Any, ember: Any) -> dict[str, dict[str, Any]]:
    def entry(cls_name: str, gates: int, target: float) -> dict[str, Any]:
        return {
            "inputs": _inputs(gates),
            "torch": _fwd_bwd(torch, cls_name) if torch is not None else None,
            "ember": _fwd_bwd(ember, cls_name) if ember is not None else None,
            "target": ("torch", target),
            "rtol": 1e-4,
            "atol": 1e-5,
            "note": f"nn.{cls_name}({I}, {H}, num_layers={LAYERS}), input [T={T}, B={B}, {I}], backward into weights and x",
        }

    return {
        f"LSTM 2x{H} T{T} B{B} fwd+bwd": entry("LSTM", 4, 0.8),
        f"GRU 2x{H} T{T} B{B} fwd+bwd": entry("GRU", 3, 0.8),
    }
