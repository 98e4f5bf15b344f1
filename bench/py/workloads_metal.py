"""GPU workloads for ``compare.py --device metal``: ember on "metal" vs PyTorch on "mps" and MLX.

Each workload builds NumPy inputs once; every framework copies them to its device and returns a
step callable, timed with a device synchronize before the clock stops. Anchors that are not
installed (or have no GPU) are skipped and said so. Results are checked against ember on the CPU.
On Linux the Metal kernels run on ember's CPU emulator: that run only shows the workloads work end
to end; its timings mean nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable

import numpy as np

try:
    import torch
except ImportError:
    torch = None
try:
    import mlx.core as mx
    import mlx.nn as mnn
    import mlx.optimizers as mopt
except ImportError:
    mx = None

import ember
import ember.nn as enn
import ember.nn.functional as F

# (full, quick) sizes; quick is used with --quick and always under the emulator
SIZES = {
    "matmul": ((2048, 2048, 2048), (32, 24, 40)),
    "conv": ((16, 64, 56, 64), (2, 3, 9, 4)),  # batch, in-channels, H=W, out-channels; 3x3, pad 1
    "softmax": ((4096, 4096), (8, 33)),
    "layer_norm": ((8192, 1024), (8, 40)),
    "attention": ((8, 16, 1024, 64), (1, 2, 24, 8)),  # batch, heads, length, head dim; causal
    "mlp": ((256, 784, 1024, 10), (8, 20, 32, 10)),  # batch, in, hidden, classes
}


def _randn(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float32)


# ---- frameworks: device copy, synchronize, result to NumPy


def _ember_dev(device: str) -> Callable[[np.ndarray], Any]:
    return lambda a: ember.from_numpy(np.array(a)).to(device)  # a copy: steps update in place


def _ember_sync(out: Any) -> None:
    ember.metal.synchronize()


def _torch_sync(out: Any) -> None:
    torch.mps.synchronize()


def _mlx_sync(out: Any) -> None:
    mx.eval(out)


def _anchors() -> tuple[dict[str, tuple], list[str]]:
    """The frameworks to time: name -> (to_device, synchronize, to_numpy), and skip notes."""
    fws = {"ember": (_ember_dev("metal"), _ember_sync, lambda t: t.detach().cpu().numpy())}
    skipped = []
    if torch is None:
        skipped.append("torch: not installed")
    elif not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        skipped.append("torch: no MPS device")
    else:
        fws["torch"] = (
            lambda a: torch.from_numpy(np.ascontiguousarray(a)).to("mps"),
            _torch_sync,
            lambda t: t.detach().cpu().numpy(),
        )
    if mx is None:
        skipped.append("mlx: not installed")
    elif not mx.metal.is_available():
        skipped.append("mlx: no Metal device")
    else:
        fws["mlx"] = (mx.array, _mlx_sync, np.array)
    return fws, skipped


# ---- workloads: inputs(rng, size) -> arrays; <framework>(device copies, size) -> step callable


def _mlp_init(rng: np.random.Generator, size: tuple) -> tuple:
    n, d, h, c = size
    x, y = _randn(rng, n, d), rng.integers(0, c, n).astype(np.int64)
    w1, w2 = _randn(rng, h, d) * (1 / d**0.5), _randn(rng, c, h) * (1 / h**0.5)
    return x, y, w1, np.zeros(h, np.float32), w2, np.zeros(c, np.float32)


def _mlp_step_ember(x, y, w1, b1, w2, b2) -> Callable:
    # (built on the inputs' device: "metal" when timed, "cpu" for the reference)
    model = enn.Sequential(enn.Linear(*w1.shape[::-1]), enn.ReLU(), enn.Linear(*w2.shape[::-1]))
    for p, a in zip(model.parameters(), (w1, b1, w2, b2)):
        p.data = a
    opt = ember.optim.SGD(model.parameters(), lr=0.01)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def _mlp_step_torch(x, y, w1, b1, w2, b2) -> Callable:
    lin = torch.nn.Linear
    model = torch.nn.Sequential(lin(*w1.shape[::-1]), torch.nn.ReLU(), lin(*w2.shape[::-1]))
    for p, a in zip(model.parameters(), (w1, b1, w2, b2)):
        p.data = a.clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def _mlp_step_mlx(x, y, w1, b1, w2, b2) -> Callable:
    model = mnn.Sequential(mnn.Linear(*w1.shape[::-1]), mnn.ReLU(), mnn.Linear(*w2.shape[::-1]))
    model.update({"layers": [{"weight": w1, "bias": b1}, {}, {"weight": w2, "bias": b2}]})
    opt = mopt.SGD(learning_rate=0.01)
    loss_and_grad = mnn.value_and_grad(
        model, lambda m, a, b: mnn.losses.cross_entropy(m(a), b, reduction="mean")
    )

    def step():
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        return loss

    return step


def _sdpa_mlx(q, k, v):
    return mx.fast.scaled_dot_product_attention(q, k, v, scale=q.shape[-1] ** -0.5, mask="causal")


WORKLOADS: dict[str, dict[str, Any]] = {
    "matmul f32": {
        "size": "matmul",
        "inputs": lambda rng, s: (_randn(rng, s[0], s[1]), _randn(rng, s[1], s[2])),
        "ember": lambda a, b: lambda: a @ b,
        "torch": lambda a, b: lambda: a @ b,
        "mlx": lambda a, b: lambda: a @ b,
    },
    "conv2d 3x3 f32": {
        "size": "conv",
        "inputs": lambda rng, s: (
            _randn(rng, s[0], s[1], s[2], s[2]),
            _randn(rng, s[3], s[1], 3, 3),
        ),
        "ember": lambda x, w: lambda: F.conv2d(x, w, padding=1),
        "torch": lambda x, w: lambda: torch.nn.functional.conv2d(x, w, padding=1),
        # MLX convolves NHWC with OHWI weights: transpose in and out (views, lazily fused)
        "mlx": lambda x, w: (
            lambda xt, wt: lambda: mx.conv2d(xt, wt, padding=1).transpose(0, 3, 1, 2)
        )(x.transpose(0, 2, 3, 1), w.transpose(0, 2, 3, 1)),
    },
    "softmax rows f32": {
        "size": "softmax",
        "inputs": lambda rng, s: (_randn(rng, *s),),
        "ember": lambda x: lambda: F.softmax(x, -1),
        "torch": lambda x: lambda: torch.softmax(x, -1),
        "mlx": lambda x: lambda: mx.softmax(x, axis=-1),
    },
    "layer_norm f32": {
        "size": "layer_norm",
        "inputs": lambda rng, s: (_randn(rng, *s), _randn(rng, s[1]), _randn(rng, s[1])),
        "ember": lambda x, w, b: lambda: F.layer_norm(x, (x.shape[-1],), w, b),
        "torch": lambda x, w, b: lambda: torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b),
        "mlx": lambda x, w, b: lambda: mx.fast.layer_norm(x, w, b, 1e-5),
    },
    "causal attention f32": {
        "size": "attention",
        "inputs": lambda rng, s: tuple(_randn(rng, *s) for _ in range(3)),
        "ember": lambda q, k, v: lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        "torch": lambda q, k, v: (
            lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        ),
        "mlx": lambda q, k, v: lambda: _sdpa_mlx(q, k, v),
    },
    "MLP train step (SGD)": {
        "size": "mlp",
        "inputs": lambda rng, s: _mlp_init(rng, s),
        "ember": _mlp_step_ember,
        "torch": _mlp_step_torch,
        "mlx": _mlp_step_mlx,
        "rtol": 1e-3,
    },
}


def _median_ms(fn: Callable, sync: Callable, warmup: int, repeat: int) -> tuple[float, Any]:
    out = None
    for _ in range(warmup):
        out = fn()
        sync(out)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        sync(out)  # the GPU runs asynchronously: stop the clock when it is done
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), out


def run_metal(args: argparse.Namespace) -> int:
    """``compare.py --device metal``: time the selected GPU workloads; non-zero on errors."""
    if not ember.metal.is_available():
        print("ember: no Metal device (macOS build, or EMBER_METAL_EMULATOR=1 on Linux)")
        return 2
    emulated = ember.metal.is_emulated()
    quick = args.quick or emulated
    fws, skipped = _anchors()
    print(f"device: metal{' (CPU EMULATOR: timings mean nothing)' if emulated else ''}")
    print(f"sizes: {'quick (tiny)' if quick else 'full'}; frameworks: {', '.join(fws)}")
    if skipped:
        print("skipped anchors: " + "; ".join(skipped))
    names = [
        n for n in WORKLOADS if not args.only or any(s.lower() in n.lower() for s in args.only)
    ]
    errors = []
    print(
        f"\n{'workload':<24}"
        + "".join(f"{fw + ' ms':>12}" for fw in fws)
        + "".join(f"{'ember/' + fw:>12}" for fw in fws if fw != "ember")
    )
    for name in names:
        spec = WORKLOADS[name]
        size = SIZES[spec["size"]][1 if quick else 0]
        arrays = spec["inputs"](np.random.default_rng(args.seed), size)
        ref = spec["ember"](*(_ember_dev("cpu")(a) for a in arrays))().detach().numpy()
        ms = {}
        for fw, (to_dev, sync, to_np) in fws.items():
            try:
                fn = spec[fw](*(to_dev(a) for a in arrays))
                if name.startswith("MLP"):  # one step from the initial weights, for the check
                    got = to_np(fn())
                    fn = spec[fw](*(to_dev(a) for a in arrays))
                ms[fw], out = _median_ms(fn, sync, args.warmup, args.repeat)
                if not name.startswith("MLP"):
                    got = to_np(out)
                rtol = spec.get("rtol", 1e-3)
                if not np.allclose(got, ref, rtol=rtol, atol=rtol):
                    errors.append(f"{name} [{fw}]: differs from ember on the CPU")
            except Exception as exc:  # one broken anchor must not hide the others
                errors.append(f"{name} [{fw}]: {type(exc).__name__}: {exc}")
        cells = "".join(f"{ms[fw]:>12.3f}" if fw in ms else f"{'-':>12}" for fw in fws)
        ratios = "".join(
            f"{ms['ember'] / ms[fw]:>12.2f}" if "ember" in ms and fw in ms else f"{'-':>12}"
            for fw in fws
            if fw != "ember"
        )
        print(f"{name:<24}{cells}{ratios}")
    fallbacks = ember.metal.fallback_counts()
    if fallbacks:
        print(f"\nember CPU fallbacks on metal: {fallbacks}")
    if errors:
        print("\nerrors:\n  " + "\n  ".join(errors))
    return 1 if errors else 0
