"""compare.py workloads for mixed precision and einsum: an MLP and a small CNN training step at
float32 and under bfloat16 autocast (ember.autocast vs torch.autocast), and an attention-shaped
einsum contraction (ember vs torch vs numpy). The "bf16 / f32" ratio of the same framework is the
speed-up autocast gives on this CPU (native bf16 dot products need AVX512_BF16 or AMX)."""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None
try:
    import ember
except ImportError:  # pragma: no cover
    ember = None

_STATE: dict[tuple[str, str], tuple[Any, Any]] = {}


def _state(tag: str, fw: str, first_input: Any, build):
    entry = _STATE.get((tag, fw))
    if entry is None or entry[0] is not first_input:
        entry = (first_input, build())
        _STATE[(tag, fw)] = entry
    return entry[1]


MLP = (1024, 2048, 2048, 10)
MLP_BATCH = 256


def _mlp_inputs(rng):
    x = rng.standard_normal((MLP_BATCH, MLP[0]), dtype=np.float32)
    y = rng.integers(0, MLP[-1], MLP_BATCH).astype(np.int64)
    return (x, y)


def _mlp_step(lib_name: str, amp: bool):
    def build():
        lib = torch if lib_name == "torch" else ember
        lib.manual_seed(0)
        layers = []
        for i in range(3):
            layers.append(lib.nn.Linear(MLP[i], MLP[i + 1]))
            if i < 2:
                layers.append(lib.nn.ReLU())
        model = lib.nn.Sequential(*layers)
        return lib, model, lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(x, y):
        lib, model, opt = _state(f"mlp{amp}", lib_name, x, build)
        with lib.autocast("cpu", dtype=lib.bfloat16, enabled=amp):
            loss = lib.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.detach().float()

    return step


CNN_BATCH = 32


def _cnn_inputs(rng):
    x = rng.standard_normal((CNN_BATCH, 16, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, CNN_BATCH).astype(np.int64)
    return (x, y)


def _cnn_step(lib_name: str, amp: bool):
    def build():
        lib = torch if lib_name == "torch" else ember
        lib.manual_seed(0)
        nn = lib.nn
        model = nn.Sequential(
            nn.Conv2d(16, 64, 3, padding=1),  # (B, 64, 32, 32)
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=2, padding=1),  # (B, 64, 16, 16)
            nn.ReLU(),
            nn.Conv2d(64, 128, 3, stride=2, padding=1),  # (B, 128, 8, 8)
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(128 * 8 * 8, 10),
        )
        return lib, model, lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(x, y):
        lib, model, opt = _state(f"cnn{amp}", lib_name, x, build)
        with lib.autocast("cpu", dtype=lib.bfloat16, enabled=amp):
            loss = lib.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.detach().float()

    return step


def _train(name: str, inputs, make, amp: bool, note: str) -> dict[str, Any]:
    return {
        "inputs": inputs,
        "torch": make("torch", amp),
        "ember": make("ember", amp),
        "target": ("torch", 1.0),
        # different initial weights per framework: only the loss scale is comparable
        "rtol": 0.5,
        "atol": 0.5,
        "note": note,
    }


EINSUM_EQ = "bhqd,bhkd->bhqk"


def _einsum_inputs(rng):
    return (
        rng.standard_normal((4, 8, 256, 64), dtype=np.float32),
        rng.standard_normal((4, 8, 256, 64), dtype=np.float32),
    )


WORKLOADS: dict[str, dict[str, Any]] = {
    "amp mlp 1024-2048-2048-10 b256 train step f32": _train(
        "mlp", _mlp_inputs, _mlp_step, False, "compare with the bf16-autocast row of the same model"
    ),
    "amp mlp 1024-2048-2048-10 b256 train step bf16 autocast": _train(
        "mlp", _mlp_inputs, _mlp_step, True, "ember/torch ms vs the f32 row: the autocast speed-up"
    ),
    "amp cnn 3 conv + linear b32 train step f32": _train(
        "cnn", _cnn_inputs, _cnn_step, False, "compare with the bf16-autocast row of the same model"
    ),
    "amp cnn 3 conv + linear b32 train step bf16 autocast": _train(
        "cnn", _cnn_inputs, _cnn_step, True, "ember/torch ms vs the f32 row: the autocast speed-up"
    ),
    "einsum bhqd,bhkd->bhqk 4x8x256x64 f32": {
        "inputs": _einsum_inputs,
        "numpy": lambda a, b: np.einsum(EINSUM_EQ, a, b, optimize=True),
        "torch": lambda a, b: torch.einsum(EINSUM_EQ, a, b),
        "ember": lambda a, b: ember.einsum(EINSUM_EQ, a, b),
        "target": ("torch", 1.0),
        "rtol": 1e-4,
        "atol": 1e-4,
    },
}
