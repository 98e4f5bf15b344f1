"""Time ember against PyTorch and NumPy on the same workloads, in one process.

Usage:
    python bench/py/compare.py                      # every workload
    python bench/py/compare.py --only softmax       # workloads whose name contains "softmax"
    python bench/py/compare.py --threads 1 --repeat 50
    python bench/py/compare.py --device metal       # GPU: ember "metal" vs torch "mps" and MLX

Prints the median wall time in ms of each framework per workload, the ratios ember/torch and
ember/numpy (lower is better) and the workload's target. Benchmarks are not tests: the exit
status is non-zero only when a framework raised or returned a wrong result.

Adding a workload: add an entry to WORKLOADS (see the existing ones). "inputs" builds NumPy
arrays from a seeded generator; every framework gets its own copy in its own memory (so each
is timed with its own allocator), then its callable is timed on those inputs. A framework whose
callable is missing from the entry is shown as "-".
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from typing import Any, Callable

# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE pin NumPy's OpenBLAS to a kernel that may not be the
# machine's best; the anchor must be the best each library does here. OpenBLAS reads them when
# it loads, so this process re-executes itself without them (only the benchmark: tests and CI
# keep their environment).
_BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
if __name__ == "__main__" and any(k in os.environ for k in _BLAS_OVERRIDES):
    _env = {k: v for k, v in os.environ.items() if k not in _BLAS_OVERRIDES}
    _env["EMBER_BENCH_UNSET_BLAS"] = ",".join(k for k in _BLAS_OVERRIDES if k in os.environ)
    os.execve(sys.executable, [sys.executable, *sys.argv], _env)

import numpy as np  # noqa: E402  (after the re-exec above)

try:
    import torch
except ImportError:  # torch is optional: its column is skipped
    torch = None

try:
    import ember
except ImportError as exc:  # keep going so torch-vs-numpy still prints; ember cells show "n/a"
    ember = None
    _EMBER_IMPORT_ERROR: str | None = f"{type(exc).__name__}: {exc}"
else:
    _EMBER_IMPORT_ERROR = None

try:  # optional: lets --threads limit numpy's BLAS pool too
    import threadpoolctl
except ImportError:
    threadpoolctl = None

M16 = 16 * 1024 * 1024


# ---------------------------------------------------------------------------------------------
# Frameworks: how to copy a NumPy input into the framework and how to read a result back.


def _np_in(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).copy()


def _torch_in(a: np.ndarray) -> Any:
    return torch.from_numpy(np.ascontiguousarray(a)).clone()


def _ember_in(a: np.ndarray) -> Any:
    return ember.from_numpy(np.ascontiguousarray(a)).clone()


def _torch_out(t: Any) -> np.ndarray:
    if t.dtype == torch.bfloat16:  # NumPy has no bfloat16
        t = t.float()
    return t.detach().cpu().numpy()


def _ember_out(t: Any) -> np.ndarray:
    if getattr(t, "dtype", None) == ember.bfloat16:
        t = t.float()
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


# name -> (module or None, input converter, output converter); column order of the table.
FRAMEWORKS: dict[str, tuple[Any, Callable[[np.ndarray], Any], Callable[[Any], np.ndarray]]] = {
    "numpy": (np, _np_in, np.asarray),
    "torch": (torch, _torch_in, _torch_out),
    "ember": (ember, _ember_in, _ember_out),
}


# ---------------------------------------------------------------------------------------------
# Workloads. Each entry:
#   "inputs":  rng -> tuple of NumPy arrays (built once per workload)
#   "numpy" / "torch" / "ember": callable(*inputs) -> result; the timed call
#   "target":  (framework, max ratio): ember should take <= ratio x that framework's time; or a
#              list of such pairs
#   "rtol", "atol": tolerance of the correctness check against the NumPy result (optional)
#   "note":    shown under the table (optional)
#   "max_repeat": cap on --repeat for a slow workload (optional)
#   target anchors: "numpy", "torch", "best" (the faster of the two) or "ember:<workload>"
#   (ember's time on another row)


def _randn(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float32)


def _np_softmax(x: np.ndarray) -> np.ndarray:
    # the stable formula: subtract the row max before exp
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _chain_add(x: Any, y: Any) -> Any:
    # 1000 dependent tiny ops: measures per-op dispatch overhead, not arithmetic
    for _ in range(1000):
        x = x + y
    return x


WORKLOADS: dict[str, dict[str, Any]] = {
    "add 16M f32": {
        "inputs": lambda rng: (_randn(rng, M16), _randn(rng, M16)),
        "numpy": lambda a, b: a + b,
        "torch": lambda a, b: a + b,
        "ember": lambda a, b: a + b,
        "target": ("numpy", 0.8),
        "note": "the output's allocation (and first touch) is part of each call",
    },
    "sum 16M f32": {
        # uniform [0, 1): a naive f32 running sum would be visibly off at this size
        "inputs": lambda rng: (rng.random(M16, dtype=np.float32),),
        "numpy": lambda a: a.sum(),
        "torch": lambda a: a.sum(),
        "ember": lambda a: a.sum(),
        "target": ("torch", 1.0),
        "rtol": 1e-4,
    },
    "softmax 4096x1024 f32 dim=-1": {
        "inputs": lambda rng: (_randn(rng, 4096, 1024) * 4,),
        "numpy": _np_softmax,
        "torch": lambda x: torch.softmax(x, dim=-1),
        "ember": lambda x: ember.softmax(x, dim=-1),
        "target": ("torch", 1.0),
        "rtol": 1e-4,  # room for a vectorized exp approximation
    },
    "1000 chained adds 4 f32": {
        "inputs": lambda rng: (_randn(rng, 4), _randn(rng, 4) * 1e-3),
        "numpy": _chain_add,
        "torch": _chain_add,
        "ember": _chain_add,
        "target": [("numpy", 1.0), ("torch", 0.5)],
        "rtol": 1e-4,
        "atol": 1e-4,
        "note": "per-op overhead: ms per 1000 ops = us per op",
    },
}


# ---------------------------------------------------------------------------------------------
# Training workloads (nn / optim). The callables keep their model and optimizer between calls
# (keyed by the identity of the framework's input tensors): each timed call is one more training
# step. Only the first call's result (the loss, or the params after one step) is checked.

_TRAIN_STATE: dict[tuple[str, str], tuple[Any, Any]] = {}


def _train_state(tag: str, fw: str, first_input: Any, build: Callable[[], Any]) -> Any:
    """The state of workload `tag` for framework `fw`, rebuilt when called on new inputs (the
    inputs are held with the state, so an `is` check is safe where an id() could be reused)."""
    entry = _TRAIN_STATE.get((tag, fw))
    if entry is None or entry[0] is not first_input:
        entry = (first_input, build())
        _TRAIN_STATE[(tag, fw)] = entry
    return entry[1]


MLP_SIZES = (784, 512, 512, 10)
MLP_BATCH = 128


def _mlp_inputs(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    x = rng.standard_normal((MLP_BATCH, MLP_SIZES[0]), dtype=np.float32)
    y = rng.integers(0, MLP_SIZES[-1], MLP_BATCH).astype(np.int64)
    params = []
    for fan_in, fan_out in zip(MLP_SIZES[:-1], MLP_SIZES[1:]):
        bound = 1.0 / np.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32))
        params.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    return (x, y, *params)


def _mlp_step_fw(lib: Any) -> Callable[..., Any]:
    """forward (Linear-ReLU-Linear-ReLU-Linear), cross entropy, backward, SGD(momentum=0.9)."""

    def build(params):
        layers = []
        for i in range(3):
            lin = lib.nn.Linear(MLP_SIZES[i], MLP_SIZES[i + 1])
            with lib.no_grad():
                lin.weight.copy_(params[2 * i])
                lin.bias.copy_(params[2 * i + 1])
            layers += [lin, lib.nn.ReLU()] if i < 2 else [lin]
        model = lib.nn.Sequential(*layers)
        return model, lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(x, y, *params):
        model, opt = _train_state("mlp", lib.__name__, x, lambda: build(params))
        loss = lib.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.detach()

    return step


def _np_mlp_step(x, y, *params):
    ps, bufs = _train_state(
        "mlp", "numpy", x, lambda: ([p.copy() for p in params], [None] * len(params))
    )
    acts, h = [x], x
    for i in range(3):
        h = h @ ps[2 * i].T + ps[2 * i + 1]
        if i < 2:
            h = np.maximum(h, 0)
        acts.append(h)
    z = acts[-1]
    zmax = z.max(1, keepdims=True)
    e = np.exp(z - zmax)
    s = e.sum(1, keepdims=True)
    n = len(y)
    loss = (np.log(s[:, 0]) + zmax[:, 0] - z[np.arange(n), y]).mean()
    d = e / s
    d[np.arange(n), y] -= 1
    d /= n
    grads = [None] * 6
    for i in (2, 1, 0):
        grads[2 * i] = d.T @ acts[i]
        grads[2 * i + 1] = d.sum(0)
        if i > 0:
            d = (d @ ps[2 * i]) * (acts[i] > 0)
    for j, g in enumerate(grads):
        bufs[j] = g.copy() if bufs[j] is None else bufs[j] * 0.9 + g
        ps[j] -= 0.01 * bufs[j]
    return np.float32(loss)


# AdamW over ~10M parameters shaped like a transformer block (two 4096x1024 MLP matrices, a
# 1024x1024 and a 512x1024 projection, biases and norm weights).
ADAMW_SHAPES = [
    (4096, 1024),
    (4096,),
    (1024, 4096),
    (1024,),
    (1024, 1024),
    (1024,),
    (512, 1024),
    (512,),
    (1024,),
    (1024,),
]


def _adamw_inputs(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    params = [rng.standard_normal(s, dtype=np.float32) * 0.02 for s in ADAMW_SHAPES]
    grads = [rng.standard_normal(s, dtype=np.float32) * 1e-3 for s in ADAMW_SHAPES]
    return (*params, *grads)


def _adamw_step_fw(lib: Any) -> Callable[..., Any]:
    def build(arrays):
        n = len(arrays) // 2
        params = []
        for p, g in zip(arrays[:n], arrays[n:]):
            p.requires_grad_(True)
            p.grad = g
            params.append(p)
        return lib.optim.AdamW(params, lr=1e-3, weight_decay=0.01)

    def step(*arrays):
        _train_state("adamw", lib.__name__, arrays[0], lambda: build(arrays)).step()
        return arrays[0].detach()[0]  # the first row of the first param, for the check

    return step


def _np_adamw_step(*arrays):
    n = len(arrays) // 2
    ms, vs, t = _train_state(
        "adamw",
        "numpy",
        arrays[0],
        lambda: (
            [np.zeros_like(p) for p in arrays[:n]],
            [np.zeros_like(p) for p in arrays[:n]],
            [0],
        ),
    )
    t[0] += 1
    lr, b1, b2, eps, wd = 1e-3, 0.9, 0.999, 1e-8, 0.01
    bc1, bc2 = 1 - b1 ** t[0], 1 - b2 ** t[0]
    for p, g, m, v in zip(arrays[:n], arrays[n:], ms, vs):
        p *= 1 - lr * wd
        m += (1 - b1) * (g - m)
        v *= b2
        v += (1 - b2) * g * g
        p -= (lr / bc1) * m / (np.sqrt(v) / np.sqrt(bc2) + eps)
    return arrays[0][0].copy()


WORKLOADS.update(
    {
        "MLP 784-512-512-10 b128 train step (SGD momentum)": {
            "inputs": _mlp_inputs,
            "numpy": _np_mlp_step,
            "torch": _mlp_step_fw(torch) if torch is not None else None,
            "ember": _mlp_step_fw(ember) if ember is not None else None,
            "target": ("torch", 1.0),
            "rtol": 1e-4,
            "note": "forward, cross entropy, backward, SGD(lr=0.01, momentum=0.9); each call is one more step",
        },
        "AdamW step 10M params": {
            "inputs": _adamw_inputs,
            "numpy": _np_adamw_step,
            "torch": _adamw_step_fw(torch) if torch is not None else None,
            "ember": _adamw_step_fw(ember) if ember is not None else None,
            "target": ("torch", 1.0),
            "rtol": 1e-5,
            "atol": 1e-7,
            "note": "10 tensors, 9.97M float32 params; torch.optim.AdamW defaults (single-tensor path on CPU)",
        },
    }
)


# Optimizers written with plain ember ops (not fused kernels), and DataLoader worker processes.


def _opt_step_fw(lib: Any, tag: str, name: str, **kw: Any) -> Callable[..., Any]:
    """One ``lib.optim.<name>`` step per call over the AdamW workload's params and grads."""

    def build(arrays):
        n = len(arrays) // 2
        for p, g in zip(arrays[:n], arrays[n:]):
            p.requires_grad_(True)
            p.grad = g
        return getattr(lib.optim, name)(list(arrays[:n]), **kw)

    def step(*arrays):
        _train_state(tag, lib.__name__, arrays[0], lambda: build(arrays)).step()
        return arrays[0].detach()[0]

    return step


LOADER_N, LOADER_DIM, LOADER_BATCH = 20000, 64, 256


class _ArrayDataset:
    """Map-style dataset over NumPy arrays: one __getitem__ per sample, as in most scripts."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def _loader_inputs(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    x = rng.standard_normal((LOADER_N, LOADER_DIM), dtype=np.float32)
    return (x, rng.integers(0, 10, LOADER_N).astype(np.int64))


def _loader_epoch_fw(lib: Any, data_mod: Any) -> Callable[..., Any]:
    def epoch(x, y):
        xs, ys = _to_np_any(x), _to_np_any(y)
        loader = data_mod.DataLoader(_ArrayDataset(xs, ys), batch_size=LOADER_BATCH, num_workers=2)
        total = 0.0
        for xb, yb in loader:
            total += float(xb.sum().item()) + float(yb.sum().item())
        return lib.tensor(total, dtype=lib.float64)

    return epoch


def _to_np_any(a: Any) -> np.ndarray:
    return a if isinstance(a, np.ndarray) else a.detach().numpy()


WORKLOADS.update(
    {
        "NAdam step 10M params": {
            "inputs": _adamw_inputs,
            "torch": _opt_step_fw(torch, "nadam", "NAdam", lr=1e-3) if torch is not None else None,
            "ember": _opt_step_fw(ember, "nadam", "NAdam", lr=1e-3) if ember is not None else None,
            "target": ("torch", 1.5),
            "rtol": 1e-5,
            "atol": 1e-7,
            "note": "plain ember ops (no fused kernel); torch single-tensor path on CPU",
        },
        "DataLoader epoch 20000x64 b256 num_workers=2": {
            "inputs": _loader_inputs,
            "torch": _loader_epoch_fw(torch, torch.utils.data) if torch is not None else None,
            "ember": _loader_epoch_fw(ember, ember.data) if ember is not None else None,
            "target": ("torch", 1.0),
            "rtol": 1e-6,
            "note": "per-sample __getitem__ in 2 worker processes (started each call), default collate",
        },
    }
)


# ---------------------------------------------------------------------------------------------
# Matrix products (the GEMM engine). "target" may list several (framework, ratio) pairs.


def _mm(a: Any, b: Any) -> Any:
    return a @ b


def _mm_bt(g: Any, b: Any) -> Any:  # dA = G @ B^T, B^T a transposed view
    return g @ b.T


def _mm_at(a: Any, g: Any) -> Any:  # dB = A^T @ G, A^T a transposed view
    return a.T @ g


def _mm_bf16(a: Any, b: Any) -> Any:
    """a @ b in bfloat16; the bf16 copies are made once per input (not timed)."""
    lib = torch if torch is not None and isinstance(a, torch.Tensor) else ember
    a16, b16 = _train_state(
        "bf16", lib.__name__, a, lambda: (a.to(lib.bfloat16), b.to(lib.bfloat16))
    )
    return a16 @ b16


def _mm_workload(
    shapes: tuple,
    fn: Callable[..., Any] = _mm,
    target: Any = ("numpy", 1.0),
    dtype: Any = np.float32,
    note: str | None = None,
) -> dict[str, Any]:
    k = max(max(s) for s in shapes)
    spec = {
        "inputs": lambda rng: tuple(rng.standard_normal(s).astype(dtype) for s in shapes),
        "numpy": fn,
        "torch": fn,
        "ember": fn,
        "target": target,
        "rtol": 1e-4 if dtype == np.float32 else 1e-10,
        "atol": (2e-5 if dtype == np.float32 else 1e-11) * k**0.5,
    }
    if note:
        spec["note"] = note
    return spec


# Squares against NumPy's OpenBLAS at its native kernel (issue 13) and PyTorch; skinny and odd
# shapes against the faster of the two ("best").
_SQUARE = [("numpy", 1.0), ("torch", 1.0)]
_BEST = ("best", 1.0)
WORKLOADS.update(
    {
        "matmul 64 f32": _mm_workload(((64, 64), (64, 64)), target=_SQUARE),
        "matmul 128 f32": _mm_workload(((128, 128), (128, 128)), target=_SQUARE),
        "matmul 256 f32": _mm_workload(((256, 256), (256, 256)), target=_SQUARE),
        "matmul 512 f32": _mm_workload(((512, 512), (512, 512)), target=_SQUARE),
        "matmul 1024 f32": _mm_workload(((1024, 1024), (1024, 1024)), target=_SQUARE),
        "matmul 2048 f32": _mm_workload(((2048, 2048), (2048, 2048)), target=_SQUARE),
        "matmul 4096 f32": dict(
            _mm_workload(((4096, 4096), (4096, 4096)), target=_SQUARE), max_repeat=5
        ),
        "matmul MLP (128x784)@(784x512) f32": _mm_workload(((128, 784), (784, 512)), target=_BEST),
        "matmul MLP dA (128x512)@(784x512)^T f32": _mm_workload(
            ((128, 512), (784, 512)), _mm_bt, ("torch", 1.0)
        ),
        "matmul MLP dB (128x784)^T@(128x512) f32": _mm_workload(
            ((128, 784), (128, 512)), _mm_at, ("torch", 1.0)
        ),
        "matmul MLP (128x512)@(512x10) f32": _mm_workload(((128, 512), (512, 10)), target=_BEST),
        "matmul MLP dA (128x10)@(512x10)^T f32": _mm_workload(
            ((128, 10), (512, 10)), _mm_bt, ("torch", 1.0)
        ),
        "matmul MLP dB (128x512)^T@(128x10) f32": _mm_workload(
            ((128, 512), (128, 10)), _mm_at, ("torch", 1.0)
        ),
        "matmul bmm (64,128,64)@(64,64,128) f32": _mm_workload(
            ((64, 128, 64), (64, 64, 128)), target=_BEST
        ),
        "matmul 1x4096x4096 f32": _mm_workload(((1, 4096), (4096, 4096)), target=_BEST),
        "matmul 4096x4096x1 f32": _mm_workload(((4096, 4096), (4096, 1)), target=("numpy", 1.25)),
        "matmul 17x1023x513 f32": _mm_workload(((17, 1023), (1023, 513)), target=_BEST),
        "matmul 3x5x7 f32": _mm_workload(
            ((3, 5), (5, 7)),
            target=("torch", 1.0),
            note="per-call overhead; the issue asks only for correctness here",
        ),
        "matmul 1024 f64": _mm_workload(
            ((1024, 1024), (1024, 1024)), target=("numpy", 1.25), dtype=np.float64
        ),
        "matmul 1024 bf16": {
            "inputs": lambda rng: (_randn(rng, 1024, 1024), _randn(rng, 1024, 1024)),
            "torch": _mm_bf16,
            "ember": _mm_bf16,
            "target": ("ember:matmul 1024 f32", 0.55),
            "rtol": 2e-2,
            "atol": 2e-2 * 1024**0.5,
            "note": "bf16 inputs (converted once), f32 accumulation, bf16 result; the target "
            "(<= 0.55x ember's f32 time) needs AVX512_BF16 dot products",
        },
    }
)

# ---------------------------------------------------------------------------------------------
# Convolution and pooling (no NumPy column: PyTorch's result is the reference). "fwd+bwd" runs
# the forward pass and the gradients for every input (autograd.grad with a fixed upstream
# gradient) and returns the input gradient for the check.


def _conv_fwd(**kw: Any) -> Callable[..., Any]:
    def fn(x, w):
        lib = ember if isinstance(x, ember.Tensor) else torch
        return lib.nn.functional.conv2d(x, w, **kw)

    return fn


def _conv_fwd_bwd(**kw: Any) -> Callable[..., Any]:
    def fn(x, w, g):
        lib = ember if isinstance(x, ember.Tensor) else torch
        x.requires_grad_(True)
        w.requires_grad_(True)
        y = lib.nn.functional.conv2d(x, w, **kw)
        return lib.autograd.grad(y, (x, w), g)[0]

    return fn


def _conv_workload(n, c_in, c_out, hw, k, fwd, target, groups=1, padding=0, note=None):
    x, w = (n, c_in, hw, hw), (c_out, c_in // groups, k, k)
    ho = hw + 2 * padding - k + 1
    shapes = (x, w) if fwd else (x, w, (n, c_out, ho, ho))
    make = _conv_fwd if fwd else _conv_fwd_bwd
    fn = make(padding=padding, groups=groups)
    spec = {
        "inputs": lambda rng: tuple(rng.standard_normal(s, dtype=np.float32) for s in shapes),
        "torch": fn if torch is not None else None,
        "ember": fn if ember is not None else None,
        "target": target,
        "rtol": 1e-3,
        "atol": 1e-3 * (c_in * k * k / groups) ** 0.5,  # Winograd rounds differently
    }
    if note:
        spec["note"] = note
    return spec


def _maxpool_fwd_bwd(x, g):
    lib = ember if isinstance(x, ember.Tensor) else torch
    x.requires_grad_(True)
    y = lib.nn.functional.max_pool2d(x, 2)
    return lib.autograd.grad(y, x, g)[0]


CNN_BATCH = 128


def _cnn_inputs(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    x = rng.standard_normal((CNN_BATCH, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, CNN_BATCH).astype(np.int64)
    shapes = [(32, 1, 3, 3), (32,), (64, 32, 3, 3), (64,), (128, 3136), (128,), (10, 128), (10,)]
    fan_in = [9, 9, 288, 288, 3136, 3136, 128, 128]
    params = [
        rng.uniform(-1, 1, s).astype(np.float32) / np.float32(np.sqrt(f))
        for s, f in zip(shapes, fan_in)
    ]
    return (x, y, *params)


def _cnn_step_fw(lib: Any) -> Callable[..., Any]:
    """examples/mnist_cnn.py's model (dropout left out: its masks differ between libraries):
    forward, cross entropy, backward, SGD(momentum=0.9)."""
    nn = lib.nn

    def build(params):
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(3136, 128),
            nn.ReLU(),
            nn.Linear(128, 10),
        )
        with lib.no_grad():
            for p, v in zip(model.parameters(), params):
                p.copy_(v)
        return model, lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(x, y, *params):
        model, opt = _train_state("cnn", lib.__name__, x, lambda: build(params))
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.detach()

    return step


WORKLOADS.update(
    {
        "conv2d 3x3 64->64 32x32 N=32 fwd": _conv_workload(
            32, 64, 64, 32, 3, True, ("torch", 0.4), padding=1
        ),
        "conv2d 3x3 64->64 32x32 N=32 fwd+bwd": _conv_workload(
            32, 64, 64, 32, 3, False, ("torch", 0.4), padding=1
        ),
        "conv2d depthwise 3x3 C=128 56x56 N=8 fwd+bwd": _conv_workload(
            8, 128, 128, 56, 3, False, ("torch", 1.0), groups=128, padding=1
        ),
        "conv2d 1x1 256->256 28x28 N=16 fwd+bwd": _conv_workload(
            16, 256, 256, 28, 1, False, ("torch", 0.6)
        ),
        "max_pool2d 2x2 C=64 32x32 N=32 fwd+bwd": {
            "inputs": lambda rng: (
                rng.standard_normal((32, 64, 32, 32), dtype=np.float32),
                rng.standard_normal((32, 64, 16, 16), dtype=np.float32),
            ),
            "torch": _maxpool_fwd_bwd,
            "ember": _maxpool_fwd_bwd,
            "target": ("torch", 1.0),
        },
        "MNIST CNN b128 train step (SGD momentum)": {
            "inputs": _cnn_inputs,
            "torch": _cnn_step_fw(torch) if torch is not None else None,
            "ember": _cnn_step_fw(ember) if ember is not None else None,
            "target": ("torch", 1.0),
            "rtol": 1e-4,
            "note": "conv(1->32)-relu-pool-conv(32->64)-relu-pool-fc(3136->128)-relu-fc(128->10), 28x28",
        },
    }
)

# mixed precision (autocast bf16 vs f32 train steps) and einsum: bench/py/workloads_amp.py
from workloads_amp import WORKLOADS as _AMP_WORKLOADS  # noqa: E402

WORKLOADS.update(_AMP_WORKLOADS)

from workloads_rnn import rnn_workloads  # noqa: E402  (bench/py is the script dir)

WORKLOADS.update(rnn_workloads(torch, ember))

from workloads_lm import LM_WORKLOADS  # noqa: E402  (language-model workloads)

WORKLOADS.update(LM_WORKLOADS)

from workloads_conv import WORKLOADS as _CONV_WORKLOADS  # noqa: E402  (depthwise s2, small images)

WORKLOADS.update(_CONV_WORKLOADS)

from workloads_compile import COMPILE_WORKLOADS  # noqa: E402  (ember.compile vs eager)

WORKLOADS.update(COMPILE_WORKLOADS)

# ---------------------------------------------------------------------------------------------
# Timing


def time_interleaved_ms(
    calls: dict[str, tuple[Callable[..., Any], tuple]],
    warmup: int,
    repeat: int,
    blocks: int = 5,
    settle_s: float = 0.0,
    rewarm_s: float = 0.0,
) -> dict[str, float]:
    """Median wall time in ms of each fn(*args) in `calls`, after `warmup` untimed calls each.

    The `repeat` timed calls are split into `blocks` blocks and the frameworks take turns block
    by block, so a slow spell of a shared machine lands on every framework alike. Each turn
    starts with a `settle_s` pause: another library's idle threads keep spinning on the cores
    for a while after its turn (OpenBLAS's and OpenMP's workers busy-wait before they sleep),
    which on a 2-core machine halves the next library's speed. Then untimed calls run for at
    least `rewarm_s` (at least one call): after the pause every library's workers sleep and
    the idle cores of a VM wake slowly, so the first milliseconds of a turn run slow, which is
    the pause's cost, not the library's speed. gc is off, like timeit."""
    for fn, a in calls.values():
        time.sleep(settle_s)
        for _ in range(warmup):
            fn(*a)
    times: dict[str, list[float]] = {fw: [] for fw in calls}
    blocks = max(1, min(blocks, repeat))
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for b in range(blocks):
            n = repeat // blocks + (b < repeat % blocks)
            for fw, (fn, a) in calls.items():
                time.sleep(settle_s)
                start = time.perf_counter()
                fn(*a)
                while time.perf_counter() - start < rewarm_s:
                    fn(*a)
                for _ in range(n):
                    t0 = time.perf_counter()
                    fn(*a)
                    times[fw].append((time.perf_counter() - t0) * 1e3)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {fw: statistics.median(ts) for fw, ts in times.items()}


def check_close(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> str | None:
    """None when close, else a one-line reason."""
    actual = np.asarray(actual)
    if actual.shape != expected.shape:
        return f"shape {list(actual.shape)} != {list(expected.shape)}"
    if not np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True):
        err = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
        return f"max abs err {float(err.max()):.3g} (rtol={rtol:g}, atol={atol:g})"
    return None


def run_workload(spec: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Times every available framework on one workload. Returns ms / error per framework."""
    rng = np.random.default_rng(args.seed)
    inputs = spec["inputs"](rng)
    rtol, atol = spec.get("rtol", 1e-5), spec.get("atol", 1e-6)
    expected = None
    row: dict[str, Any] = {"ms": {}, "errors": {}}
    calls: dict[str, tuple[Callable[..., Any], tuple]] = {}
    for fw, (module, to_fw, to_np) in FRAMEWORKS.items():
        fn = spec.get(fw)
        if module is None or fn is None:
            continue
        try:
            fw_inputs = tuple(to_fw(a) for a in inputs)
            result = to_np(fn(*fw_inputs))
            if expected is None:  # NumPy's result is the reference; else PyTorch's
                expected = np.asarray(result)
            elif not args.no_check:
                reason = check_close(result, expected, rtol, atol)
                if reason is not None:
                    row["errors"][fw] = f"wrong result: {reason}"
            del result
            calls[fw] = (fn, fw_inputs)
        except Exception as exc:  # report and keep benchmarking the rest
            row["errors"][fw] = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    try:
        repeat = min(args.repeat, spec.get("max_repeat", args.repeat))  # the slowest ones
        row["ms"] = time_interleaved_ms(
            calls,
            min(args.warmup, repeat),
            repeat,
            settle_s=args.settle,
            rewarm_s=args.rewarm if args.settle else 0.0,
        )
    except Exception as exc:
        row["errors"]["timing"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    del calls
    gc.collect()
    return row


# ---------------------------------------------------------------------------------------------
# Output


def _fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.3f}" if ms < 10 else f"{ms:.2f}" if ms < 100 else f"{ms:.1f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


def machine_info(args: argparse.Namespace) -> dict[str, Any]:
    """What the numbers depend on: CPU, ISA flags, library versions, BLAS kernels, threads."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": _cpu_name(),
        "cpu_flags": _cpu_flags(),
        "numpy": np.__version__,
        "blas": _blas_info(),
        "blas_env_unset": os.environ.get("EMBER_BENCH_UNSET_BLAS", ""),
        "threads": args.threads,
        "repeat": args.repeat,
        "warmup": args.warmup,
        "settle_s": args.settle,
    }
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    if ember is not None:
        info["ember"] = getattr(ember, "__version__", "?")
        if hasattr(ember, "get_num_threads"):
            info["ember_threads"] = ember.get_num_threads()
        c = getattr(ember, "_C", None)
        if c is not None and hasattr(c, "cpu_isa"):
            info["ember_isa"] = c.cpu_isa()
    return info


def print_header(info: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"python {info['python']} on {info['machine']} ({info['cpu']})")
    flags = info["cpu_flags"]
    print("CPU ISA: " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in flags.items()))
    unset = info["blas_env_unset"]
    print(
        f"BLAS env: {'unset ' + unset + ' for this process' if unset else 'no OpenBLAS overrides'}"
    )
    for lib in info["blas"]:
        print(
            f"BLAS: {lib['internal_api']} {lib.get('version') or ''} kernel/core type "
            f"{lib.get('architecture') or '?'}, {lib['num_threads']} threads ({lib['prefix']})"
        )
    if not info["blas"]:
        print(f"BLAS: kernel not reported (install threadpoolctl); threads {_blas_threads()}")
    if args.threads is not None and threadpoolctl is None:
        print(
            "  (numpy's BLAS not limited by --threads: set OPENBLAS_NUM_THREADS or install threadpoolctl)"
        )
    print(f"numpy  {np.__version__}: elementwise ops single-threaded")
    if torch is not None:
        print(f"torch  {torch.__version__}: {torch.get_num_threads()} threads")
    else:
        print("torch  not installed: column skipped")
    if ember is not None:
        parts = []
        if "ember_threads" in info:
            parts.append(f"{info['ember_threads']} threads")
        if "ember_isa" in info:
            parts.append(f"ISA {info['ember_isa']}")
        print(f"ember  {info['ember']}: {', '.join(parts) or 'threads/ISA not reported'}")
    else:
        print(f"ember  NOT importable ({_EMBER_IMPORT_ERROR}): column shows n/a")
    print(
        f"median of {args.repeat} runs after {args.warmup} warm-up runs, {args.settle} s pause before each"
        " library's turn; ratios: lower is better"
    )
    print()


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() + f", {os.cpu_count()} CPUs"
    except OSError:
        pass
    return (platform.processor() or "unknown CPU") + f", {os.cpu_count()} CPUs"


def _cpu_flags() -> dict[str, bool]:
    """The SIMD features the kernels here care about (Linux /proc/cpuinfo names)."""
    have: set[str] = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    have = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    names = {
        "AVX2": "avx2",
        "FMA": "fma",
        "AVX-512": "avx512f",
        "AVX512_BF16": "avx512_bf16",
        "AMX": "amx_tile",
        "NEON": "asimd",
    }
    return {label: flag in have for label, flag in names.items()}


def _blas_info() -> list[dict[str, Any]]:
    if threadpoolctl is None:
        return []
    return [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]


def _blas_threads() -> str:
    if threadpoolctl is not None:
        n = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
        if n:
            return str(n[0])
    env = [
        f"{k}={os.environ[k]}"
        for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
        if k in os.environ
    ]
    return ", ".join(env) if env else "library default"


def ref_ms(rows: dict[str, dict[str, Any]], name: str, ref: str) -> float | None:
    """The anchor time of a target: a framework's column, "best" (the faster of NumPy and
    PyTorch) or "ember:<workload>" (ember's time on another row, e.g. bf16 vs f32)."""
    ms = rows[name]["ms"]
    if ref == "best":
        cands = [ms[f] for f in ("numpy", "torch") if ms.get(f) is not None]
        return min(cands) if cands else None
    if ref.startswith("ember:"):
        other = rows.get(ref[len("ember:") :])
        return None if other is None else other["ms"].get("ember")
    return ms.get(ref)


def verdicts(rows: dict[str, dict[str, Any]], name: str) -> list[dict[str, Any]]:
    row = rows[name]
    targets = row["target"] if isinstance(row["target"], list) else [row["target"]]
    out = []
    for ref, limit in targets:
        r = _ratio(row["ms"].get("ember"), ref_ms(rows, name, ref))
        if "ember" in row["errors"]:
            verdict = "ERROR"
        else:
            verdict = None if r is None else ("ok" if r <= limit else "MISS")
        out.append({"anchor": ref, "limit": limit, "ratio": r, "verdict": verdict})
    return out


def write_json(path: str, info: dict[str, Any], rows: dict[str, dict[str, Any]]) -> None:
    out = []
    for name, row in rows.items():
        out.append(
            {
                "workload": name,
                "ms": row["ms"],
                "ember/torch": _ratio(row["ms"].get("ember"), row["ms"].get("torch")),
                "ember/numpy": _ratio(row["ms"].get("ember"), row["ms"].get("numpy")),
                "targets": verdicts(rows, name),
                "errors": row["errors"],
            }
        )
    with open(path, "w") as f:
        json.dump({"machine": info, "rows": out}, f, indent=1)


def print_table(rows: dict[str, dict[str, Any]]) -> None:
    fws = [fw for fw, (module, _, _) in FRAMEWORKS.items() if module is not None or fw == "ember"]
    headers = ["workload"] + [f"{fw} ms" for fw in fws] + ["ember/torch", "ember/numpy", "target"]
    table = []
    for name, row in rows.items():
        ms = row["ms"]
        cells = [name]
        for fw in fws:
            if fw == "ember" and ember is None:
                cells.append("n/a")
            elif fw in row["errors"] and fw not in ms:
                cells.append("ERROR")
            else:
                cells.append(_fmt_ms(ms.get(fw)) + ("!" if fw in row["errors"] else ""))
        for ref in ("torch", "numpy"):
            r = _ratio(ms.get("ember"), ms.get(ref))
            cells.append("-" if r is None else f"{r:.2f}x")
        parts = []
        for v in verdicts(rows, name):
            verdict = f"  {v['verdict']}" if v["verdict"] else ""
            parts.append(f"<= {v['limit']:.2f}x {v['anchor']}{verdict}")
        cells.append(", ".join(parts))
        table.append(cells)
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *table)]
    line = "  ".join(
        h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths))
    )
    print(line)
    print("-" * len(line))
    for cells in table:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
            )
        )


# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--only",
        action="append",
        metavar="NAME_SUBSTRING",
        help="run workloads whose name contains this (case-insensitive); repeatable",
    )
    p.add_argument(
        "--threads",
        type=int,
        help="set ember and torch intra-op threads (numpy elementwise ops are single-threaded)",
    )
    p.add_argument("--repeat", type=int, default=30, help="timed runs per workload (default 30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    p.add_argument(
        "--settle",
        type=float,
        default=0.2,
        help="seconds of pause before each library's turn, so the previous library's idle "
        "worker threads stop spinning on the cores (default 0.2)",
    )
    p.add_argument(
        "--rewarm",
        type=float,
        default=0.01,
        help="seconds of untimed calls after each pause, at least one call (default 0.01): "
        "after the pause every library's threads sleep and a VM's idle cores wake slowly",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the input data")
    p.add_argument("--no-check", action="store_true", help="skip the result check vs numpy")
    p.add_argument("--list", action="store_true", help="list workload names and exit")
    p.add_argument("--json", metavar="PATH", help="also write the machine info and every row here")
    p.add_argument(
        "--device",
        choices=("cpu", "metal"),
        default="cpu",
        help="metal: the GPU workloads on ember's Metal backend vs PyTorch MPS and MLX "
        "(bench/py/workloads_metal.py)",
    )
    p.add_argument("--quick", action="store_true", help="--device metal: tiny sizes")
    args = p.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0 or args.settle < 0:
        p.error("--repeat must be >= 1, --warmup >= 0 and --settle >= 0")
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be >= 1")
    return args


# NaN-propagating activations: relu/clamp keep NaN as PyTorch does, at max() speed.
WORKLOADS.update(
    {
        "relu 16M f32": {
            "inputs": lambda rng: (_randn(rng, M16),),
            "numpy": lambda x: np.where(x < 0, np.float32(0), x),
            "torch": lambda x: torch.relu(x),
            "ember": lambda x: ember.relu(x),
            "target": ("torch", 1.0),
        },
        "clamp 16M f32": {
            "inputs": lambda rng: (_randn(rng, M16),),
            "numpy": lambda x: np.clip(x, -0.5, 0.5),
            "torch": lambda x: torch.clamp(x, -0.5, 0.5),
            "ember": lambda x: ember.clamp(x, -0.5, 0.5),
            "target": ("torch", 1.0),
        },
    }
)


def set_threads(n: int) -> None:
    if ember is not None and hasattr(ember, "set_num_threads"):
        ember.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)
    if threadpoolctl is not None:  # numpy only threads inside BLAS (matmul)
        threadpoolctl.threadpool_limits(n, user_api="blas")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == "metal":
        from workloads_metal import run_metal  # (bench/py is the script dir)

        if args.threads is not None:
            set_threads(args.threads)
        return run_metal(args)
    if args.list:
        print("\n".join(WORKLOADS))
        return 0
    selected = {
        name: spec
        for name, spec in WORKLOADS.items()
        if not args.only or any(s.lower() in name.lower() for s in args.only)
    }
    if not selected:
        print(f"no workload matches {args.only}; have: {', '.join(WORKLOADS)}", file=sys.stderr)
        return 2
    if args.threads is not None:
        set_threads(args.threads)
    info = machine_info(args)
    print_header(info, args)

    rows = {}
    for name, spec in selected.items():
        rows[name] = run_workload(spec, args)
        rows[name]["target"] = spec["target"]
    print_table(rows)
    if args.json:
        write_json(args.json, info, rows)

    notes = [f"{name}: {spec['note']}" for name, spec in selected.items() if "note" in spec]
    errors = [
        f"{name} [{fw}]: {msg}" for name, row in rows.items() for fw, msg in row["errors"].items()
    ]
    if notes:
        print("\nnotes:\n  " + "\n  ".join(notes))
    if errors:
        print("\nerrors ('!' = timed but wrong result):\n  " + "\n  ".join(errors))
    if ember is None:
        print(f"\nember is not importable: {_EMBER_IMPORT_ERROR}", file=sys.stderr)
    return 1 if errors or ember is None else 0


if __name__ == "__main__":
    sys.exit(main())
