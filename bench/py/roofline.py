"""How close ember, PyTorch and NumPy come to this machine's limits.

Usage:
    python bench/py/roofline.py --threads 2                   # every roofline workload
    python bench/py/roofline.py --threads 2 --only matmul --png roofline.png --json out.json

Measures the machine's limits with ember's own probes (ember._C): the FMA peak, float32 and
bfloat16 (VDPBF16PS; "n/a" on CPUs without AVX512_BF16), from a register-only loop of
independent FMA chains on every thread, and the memory bandwidth from a STREAM triad over
arrays far larger than the caches. Then it times compare.py's workloads (same timing, same
checks) and prints each framework's achieved GFLOP/s (compute-bound workloads) or GB/s
(memory-bound ones) as a fraction of the limit that binds it, and plots those fractions
(matplotlib PNG, with --png).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

# as in compare.py: OpenBLAS must load with its native kernel (these pin another one)
_BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
if __name__ == "__main__" and any(k in os.environ for k in _BLAS_OVERRIDES):
    _env = {k: v for k, v in os.environ.items() if k not in _BLAS_OVERRIDES}
    _env["EMBER_BENCH_UNSET_BLAS"] = ",".join(k for k in _BLAS_OVERRIDES if k in os.environ)
    os.execve(sys.executable, [sys.executable, *sys.argv], _env)

import compare  # noqa: E402  (bench/py is the script dir)
from compare import ADAMW_SHAPES, M16, ember  # noqa: E402

MB = 1e6
GB = 1e9


def _mm(m: int, k: int, n: int, batch: int = 1) -> float:
    return 2.0 * batch * m * k * n


# compare.py workload -> (limit, work): limit "f32" / "bf16" (FMA peak, work in flops) or "bw"
# (triad bandwidth, work in bytes that must cross the memory bus at least once).
ROOF: dict[str, tuple[str, float]] = {
    **{f"matmul {n} f32": ("f32", _mm(n, n, n)) for n in (64, 128, 256, 512, 1024, 2048, 4096)},
    "matmul MLP (128x784)@(784x512) f32": ("f32", _mm(128, 784, 512)),
    "matmul MLP (128x512)@(512x10) f32": ("f32", _mm(128, 512, 10)),
    "matmul 17x1023x513 f32": ("f32", _mm(17, 1023, 513)),
    "matmul bmm (64,128,64)@(64,64,128) f32": ("f32", _mm(128, 64, 128, 64)),
    # a matrix-vector product streams the 64 MB matrix: bandwidth-bound
    "matmul 1x4096x4096 f32": ("bw", 4.0 * 4096 * 4096),
    "matmul 1024 bf16": ("bf16", _mm(1024, 1024, 1024)),
    "conv2d 3x3 64->64 32x32 N=32 fwd": ("f32", 2.0 * 32 * 64 * 32 * 32 * 64 * 9),
    "add 16M f32": ("bw", 12.0 * M16),  # read a, b; write c
    "relu 16M f32": ("bw", 8.0 * M16),
    "sum 16M f32": ("bw", 4.0 * M16),
    "softmax 4096x1024 f32 dim=-1": ("bw", 8.0 * 4096 * 1024),
    # read p, g, m, v; write p, m, v
    "AdamW step 10M params": ("bw", 28.0 * sum(math.prod(s) for s in ADAMW_SHAPES)),
}


def measure_limits(threads: int) -> dict[str, float | None]:
    c = ember._C
    return {
        "f32": c._fma_peak_gflops("f32", threads, 20) * GB,
        "f32_isa": c._fma_peak_isa("f32"),
        "bf16": (lambda g: None if g is None else g * GB)(c._fma_peak_gflops("bf16", threads, 20)),
        "bw": c._triad_gbs(1 << 25, threads, 5) * GB,  # 3 x 128 MB arrays
    }


def _unit(limit: str) -> tuple[str, float]:
    return ("GB/s", GB) if limit == "bw" else ("GFLOP/s", GB)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2, help="threads for every framework (default 2)")
    p.add_argument("--only", action="append", metavar="NAME_SUBSTRING", help="workload filter")
    p.add_argument("--repeat", type=int, default=15, help="timed runs per workload (default 15)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument(
        "--settle", type=float, default=0.2, help="pause before each library's turn (as compare.py)"
    )
    p.add_argument(
        "--rewarm", type=float, default=0.01, help="untimed calls after each pause (as compare.py)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--png", metavar="PATH", help="plot the fractions into this PNG (matplotlib)")
    p.add_argument("--json", metavar="PATH", help="write limits and rows as JSON")
    p.add_argument(
        "--from-json",
        metavar="PATH",
        help="take the times from a compare.py --json file instead of timing again",
    )
    args = p.parse_args(argv)
    args.no_check = False
    if ember is None:
        print("ember is not importable: the probes live in ember._C", file=sys.stderr)
        return 1

    compare.set_threads(args.threads)
    info = compare.machine_info(args)
    compare.print_header(info, args)
    # limits measured before and after the timings (best of both): on a shared machine a
    # probe caught in a busy moment would make every fraction look better than it is
    lim = measure_limits(args.threads)
    timed = None
    if args.from_json:
        with open(args.from_json) as f:
            timed = {r["workload"]: r for r in json.load(f)["rows"]}
    names = [n for n in ROOF if not args.only or any(s.lower() in n.lower() for s in args.only)]
    if timed is not None:
        names = [n for n in names if n in timed]
    fws = ("numpy", "torch", "ember")
    results = {}
    for name in names:
        r = (
            timed[name]
            if timed is not None
            else compare.run_workload(compare.WORKLOADS[name], args)
        )
        results[name] = r
        for fw, msg in r["errors"].items():
            print(f"  {name} [{fw}]: {msg}")
    after = measure_limits(args.threads)
    for key in ("f32", "bf16", "bw"):
        if lim[key] is not None and after[key] is not None:
            lim[key] = max(lim[key], after[key])

    rows = []
    for name, r in results.items():
        limit, work = ROOF[name]
        peak = lim[limit]
        used = limit
        if peak is None:  # no bf16 dot product here: the bf16 GEMM widens to f32 FMAs
            used, peak = "f32", lim["f32"]
        unit, scale = _unit(used)
        cells = {}
        for fw in fws:
            ms = r["ms"].get(fw)
            if ms is None or fw in r["errors"]:
                continue
            rate = work / (ms * 1e-3)
            cells[fw] = {"ms": ms, "rate": rate / scale, "fraction": rate / peak}
        rows.append({"workload": name, "limit": used, "unit": unit, "peak": peak / scale, **cells})

    bf16 = "n/a (no AVX512_BF16)" if lim["bf16"] is None else f"{lim['bf16'] / GB:.1f} GFLOP/s"
    print(
        f"limits on {args.threads} threads: f32 FMA peak {lim['f32'] / GB:.1f} GFLOP/s "
        f"({lim['f32_isa']}), bf16 dot peak {bf16}, triad bandwidth {lim['bw'] / GB:.1f} GB/s\n"
    )

    head = f"{'workload':40} {'limit':>16}" + "".join(f" {fw + ' (frac)':>22}" for fw in fws)
    print(head)
    print("-" * len(head))
    for row in rows:
        lim_s = f"{row['peak']:.1f} {row['unit']}"
        line = f"{row['workload'][:40]:40} {lim_s:>16}"
        for fw in fws:
            c = row.get(fw)
            line += (
                f" {'-':>22}"
                if c is None
                else f" {c['rate']:9.1f} ({c['fraction']:6.1%})".rjust(23)
            )
        print(line)
    print(
        "\nfraction = achieved / the binding limit: the FMA peak for GEMM and convolution, the "
        "triad bandwidth for elementwise ops, reductions, softmax, optimizer steps and GEMV."
    )
    if lim["bf16"] is None and any(r["workload"].endswith("bf16") for r in rows):
        print("bf16 rows are measured against the f32 FMA peak: without AVX512_BF16 every bf16")
        print("product is widened to f32 and runs on the same FMA units.")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "limits": lim, "rows": rows}, f, indent=1)
    if args.png:
        plot(rows, lim, args.png, args.threads)
    return 0


def plot(rows: list[dict], lim: dict, path: str, threads: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fws = ("numpy", "torch", "ember")
    colors = {"numpy": "#4c72b0", "torch": "#dd8452", "ember": "#55a868"}
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.5))
    h = 0.27
    for i, fw in enumerate(fws):
        ys = [j + (i - 1) * h for j in range(len(rows))]
        xs = [r[fw]["fraction"] if fw in r else 0 for r in rows]
        ax.barh(ys, xs, height=h, color=colors[fw], label=fw)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{r['workload']} [{r['limit']}]" for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xlabel("fraction of the machine's limit (FMA peak or triad bandwidth)")
    ax.set_title(
        f"{threads} threads: f32 peak {lim['f32'] / GB:.0f} GFLOP/s, "
        f"triad {lim['bw'] / GB:.1f} GB/s",
        fontsize=10,
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


if __name__ == "__main__":
    sys.exit(main())
