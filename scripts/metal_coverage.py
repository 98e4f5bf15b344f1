"""Generate docs/metal_coverage.md: op x dtype x forward/backward -> the Metal kernels (host names)
that ran, or the CPU fallback taken.

Runs each case on device="metal" (on Linux: an EMBER_METAL_EMULATOR build), clearing the record of
executed kernels (``ember.metal._executed_kernels()``) and ``ember.metal.fallback_counts()`` (the CPU
kernels that ran instead) before each forward and each backward.

    PYTHONPATH=python python scripts/metal_coverage.py                 # every op -> docs/...
    PYTHONPATH=python python scripts/metal_coverage.py --ops matmul,relu --out /tmp/t.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import ember
import ember.nn.functional as F

DTYPES = ("float32", "float16", "bfloat16")
S = (5, 7)  # a small odd shape for elementwise and row ops


def _r(*shape):
    return lambda dt: ember.randn(*shape, dtype=dt)


def _pos(*shape):
    return lambda dt: (ember.rand(*shape) + 0.5).to(dt)


def _idx(high, *shape):
    return lambda dt: ember.randint(0, high, shape)


# name -> (input makers: dtype -> CPU tensor (floating ones get requires_grad), op)
OPS = {
    "add": ((_r(*S), _r(*S)), lambda a, b: a + b),
    "mul": ((_r(*S), _r(1, 7)), lambda a, b: a * b),
    "div": ((_r(*S), _pos(*S)), lambda a, b: a / b),
    "pow": ((_pos(*S),), lambda a: a**2.5),
    "maximum": ((_r(*S), _r(*S)), ember.maximum),
    "where": ((_r(*S), _r(*S)), lambda a, b: ember.where(a > 0, a, b)),
    "exp": ((_r(*S),), ember.exp),
    "log": ((_pos(*S),), ember.log),
    "sqrt": ((_pos(*S),), ember.sqrt),
    "tanh": ((_r(*S),), ember.tanh),
    "sigmoid": ((_r(*S),), ember.sigmoid),
    "relu": ((_r(*S),), F.relu),
    "gelu": ((_r(*S),), F.gelu),
    "silu": ((_r(*S),), F.silu),
    "gelu (tanh)": ((_r(*S),), lambda a: F.gelu(a, approximate="tanh")),
    "erf": ((_r(*S),), ember.erf),
    "dropout": ((_r(*S),), lambda a: F.dropout(a, 0.3)),
    "rand_like": ((_r(*S),), ember.rand_like),
    "randn_like": ((_r(*S),), ember.randn_like),
    "clone (strided)": ((_r(7, 5),), lambda a: a.t().contiguous()),
    "sum(dim)": ((_r(*S),), lambda a: a.sum(1)),
    "mean": ((_r(*S),), lambda a: a.mean()),
    "amax(dim)": ((_r(*S),), lambda a: a.amax(0)),
    "argmax(dim)": ((_r(*S),), lambda a: a.argmax(1)),
    "cumsum": ((_r(*S),), lambda a: a.cumsum(1)),
    "cumprod": ((_pos(*S),), lambda a: a.cumprod(0)),
    "flip": ((_r(*S),), lambda a: a.flip(0, 1)),
    "softmax": ((_r(*S),), lambda a: F.softmax(a, -1)),
    "log_softmax": ((_r(*S),), lambda a: F.log_softmax(a, -1)),
    "matmul": ((_r(9, 11), _r(11, 13)), lambda a, b: a @ b),
    "bmm": ((_r(2, 9, 11), _r(2, 11, 13)), ember.bmm),
    "linear": ((_r(9, 11), _r(13, 11), _r(13)), F.linear),
    "layer_norm": ((_r(*S), _r(7), _r(7)), lambda a, w, b: F.layer_norm(a, (7,), w, b)),
    "rms_norm": ((_r(*S), _r(7)), lambda a, w: F.rms_norm(a, (7,), w)),
    "cross_entropy": ((_r(*S), _idx(7, 5)), F.cross_entropy),
    "conv2d": ((_r(2, 3, 9, 9), _r(4, 3, 3, 3)), lambda x, w: F.conv2d(x, w, padding=1)),
    "max_pool2d": ((_r(2, 3, 8, 8),), lambda x: F.max_pool2d(x, 2)),
    "avg_pool2d": ((_r(2, 3, 8, 8),), lambda x: F.avg_pool2d(x, 2)),
    "adaptive_avg_pool2d": ((_r(2, 3, 7, 7),), lambda x: F.adaptive_avg_pool2d(x, 3)),
    "scaled_dot_product_attention": (
        (_r(1, 2, 9, 8), _r(1, 2, 9, 8), _r(1, 2, 9, 8)),
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
    ),
    "embedding": ((_idx(11, 6), _r(11, 4)), F.embedding),
    "index_select": ((_r(*S), _idx(5, 3)), lambda a, i: a.index_select(0, i)),
    "gather": ((_r(*S), _idx(7, 5, 3)), lambda a, i: a.gather(1, i)),
    "cat": ((_r(*S), _r(*S)), lambda a, b: ember.cat([a, b], 1)),
    "sort": ((_r(*S),), lambda a: a.sort(1)[0]),
    "topk": ((_r(*S),), lambda a: a.topk(3, 1)[0]),
    "argsort": ((_r(*S),), lambda a: a.argsort(0, descending=True)),
    "SGD step (momentum)": ((_r(*S),), "sgd"),
    "Adam step": ((_r(*S),), "adam"),
}


def _run_case(name: str, dtype: str) -> dict:
    """Runs one op on metal; {"fwd"/"bwd": {"kernels": [...], "fallbacks": [...]}} or "error"."""
    makers, op = OPS[name]
    dt = getattr(ember, dtype)
    xs = [m(dt).to("metal") for m in makers]
    for x in xs:
        if x.dtype.is_floating_point:
            x.requires_grad_(True)
    out: dict = {}

    def record(key, fn):
        ember.metal.synchronize()
        ember.metal._clear_executed_kernels()
        ember.metal.reset_fallback_counts()
        try:
            result = fn()
            ember.metal.synchronize()
        except Exception as exc:  # reported in the table (an unsupported op or dtype, or a bug)
            out[key] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"}
            return None
        out[key] = {
            "kernels": sorted(ember.metal._executed_kernels()),
            "fallbacks": sorted(ember.metal.fallback_counts()),
        }
        return result

    if op in ("sgd", "adam"):
        xs[0].grad = ember.randn(*xs[0].shape, dtype=dt).to("metal")
        opt = (
            ember.optim.SGD(xs, lr=0.1, momentum=0.9)
            if op == "sgd"
            else ember.optim.Adam(xs, lr=0.1)
        )
        record("fwd", opt.step)
        return out
    y = record("fwd", lambda: op(*xs))
    if y is not None and y.requires_grad:
        g = ember.ones(*y.shape, dtype=y.dtype).to("metal")
        record("bwd", lambda: y.backward(g))
    return out


def _case(name: str, dtype: str) -> dict:
    try:
        return _run_case(name, dtype)
    except Exception as exc:  # an unsupported (op, dtype) is a table entry, not a failure
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"}


def _cell(rec: dict | None) -> str:
    if rec is None:
        return "-"
    if "error" in rec:
        return f"error: {rec['error']}"
    parts = [f"`{k}`" for k in rec["kernels"]]
    parts += [f"CPU fallback `{f}`" for f in rec["fallbacks"]]
    return ", ".join(parts) or "(no kernel: view or metadata only)"


def table(ops: list[str]) -> str:
    """The markdown table for ``ops`` (every dtype, forward and backward)."""
    emu = " (emulator)" if ember.metal.is_emulated() else ""
    lines = [
        "# Metal coverage",
        "",
        f"Generated by `scripts/metal_coverage.py`{emu}: for each op and dtype, the Metal kernels "
        '(host names) that ran on `device="metal"` in the forward and in the backward (given '
        "`grad_output`), or the CPU kernel that ran instead (`ember.metal.fallback_counts()` key). "
        "Optimizer rows: the step. `error:` the op raised there. `-`: no backward (integer output or no grad). Kernels shared "
        "with the surrounding autograd machinery (fills, copies) are listed where they ran.",
        "",
        "| op | dtype | forward | backward |",
        "| --- | --- | --- | --- |",
    ]
    for name in ops:
        for dtype in DTYPES:
            res = _case(name, dtype)
            if "error" in res:
                lines.append(f"| {name} | {dtype} | error: {res['error']} | - |")
            else:
                lines.append(
                    f"| {name} | {dtype} | {_cell(res.get('fwd'))} | {_cell(res.get('bwd'))} |"
                )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Write the Metal op coverage table.")
    p.add_argument("--ops", help="comma-separated op names (default: all)")
    p.add_argument("--out", default=str(Path(__file__).parent.parent / "docs/metal_coverage.md"))
    args = p.parse_args(argv)
    if not ember.metal.is_available():
        print("no Metal device (on Linux: EMBER_METAL_EMULATOR=1 bash scripts/dev_build.sh)")
        return 2
    ops = args.ops.split(",") if args.ops else list(OPS)
    unknown = [o for o in ops if o not in OPS]
    if unknown:
        p.error(f"unknown ops {unknown}; have {list(OPS)}")
    text = table(ops)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(f"wrote {args.out} ({len(ops)} ops x {len(DTYPES)} dtypes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
