"""Convolution workloads for compare.py beyond the basic conv2d rows: depthwise with stride 2 and 1
(MobileNet-style shapes), and 3x3 convolutions on small images (14x14, 7x7: ResNet's later stages)
timed twice, once as conv2d picks the algorithm and once with Winograd switched off (ember's
im2col path), so the two ember rows show which algorithm is faster there."""

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


def _lib(x: Any) -> Any:
    return ember if ember is not None and isinstance(x, ember.Tensor) else torch


def _conv(fwd: bool, im2col: bool, **kw: Any) -> Callable[..., Any]:
    """conv2d forward, or forward + the gradients of input and weight (the input gradient is
    returned for the check). im2col: ember runs with Winograd off (restored afterwards)."""

    def run(x, w, g=None):
        lib = _lib(x)
        if fwd:
            return lib.nn.functional.conv2d(x, w, **kw)
        x.requires_grad_(True)
        w.requires_grad_(True)
        y = lib.nn.functional.conv2d(x, w, **kw)
        return lib.autograd.grad(y, (x, w), g)[0]

    def fn(*args):
        if not (im2col and _lib(args[0]) is ember):
            return run(*args)
        prev = ember._C._winograd3x3_set_enabled(False)
        try:
            return run(*args)
        finally:
            ember._C._winograd3x3_set_enabled(prev)

    return fn


def _workload(n, c_in, c_out, hw, k, fwd, target, stride=1, padding=0, groups=1, im2col=False):
    ho = (hw + 2 * padding - k) // stride + 1
    shapes = [(n, c_in, hw, hw), (c_out, c_in // groups, k, k)]
    if not fwd:
        shapes.append((n, c_out, ho, ho))
    fn = _conv(fwd, im2col, stride=stride, padding=padding, groups=groups)
    return {
        "inputs": lambda rng: tuple(rng.standard_normal(s, dtype=np.float32) for s in shapes),
        "torch": fn if torch is not None else None,
        "ember": fn if ember is not None else None,
        "target": target,
        "rtol": 1e-3,
        "atol": 1e-3 * (c_in * k * k / groups) ** 0.5,  # Winograd rounds differently
    }


WORKLOADS: dict[str, dict[str, Any]] = {
    "conv2d depthwise 3x3 s2 C=64 56x56 N=32 fwd": _workload(
        32, 64, 64, 56, 3, True, ("torch", 0.5), stride=2, padding=1, groups=64
    ),
    "conv2d depthwise 3x3 s2 C=64 56x56 N=32 fwd+bwd": _workload(
        32, 64, 64, 56, 3, False, ("torch", 0.5), stride=2, padding=1, groups=64
    ),
    "conv2d depthwise 3x3 s1 C=64 56x56 N=32 fwd+bwd": _workload(
        32, 64, 64, 56, 3, False, ("torch", 0.5), padding=1, groups=64
    ),
    # the forward alone of compare.py's 1x1 fwd+bwd row: one plain GEMM per image
    "conv2d 1x1 256->256 28x28 N=16 fwd": _workload(16, 256, 256, 28, 1, True, ("torch", 0.6)),
}

# Small images: the "[im2col]" row is the same problem with Winograd off; conv2d's choice
# (the row without the tag) should be at least as fast.
for _hw, _c, _n in ((14, 256, 16), (7, 512, 8)):
    for _fwd in (True, False):
        _name = f"conv2d 3x3 {_c}->{_c} {_hw}x{_hw} N={_n} {'fwd' if _fwd else 'fwd+bwd'}"
        WORKLOADS[_name] = _workload(_n, _c, _c, _hw, 3, _fwd, ("torch", 1.0), padding=1)
        WORKLOADS[_name]["note"] = "conv2d's choice: compare its time with the [im2col] row"
        WORKLOADS[_name + " [im2col]"] = _workload(
            _n, _c, _c, _hw, 3, _fwd, ("torch", 1.0), padding=1, im2col=True
        )
