"""Distributed benchmarks; run under MPI, e.g. on one machine with 2 cores:

    mpirun -n 2 python bench/py/distributed.py [--threads 1] [--steps 20] [--batch 64]
        [--max-mb 256] [--only allreduce|ddp]

1. all-reduce: ``ember.distributed.all_reduce`` of ember float32 tensors vs mpi4py's own
   ``Allreduce`` of NumPy arrays of the same size (1 KB - 256 MB), call by call in turn. Prints
   the median ms of each and the bandwidth ratio mpi4py ms / ember ms (target >= 0.9x; also of
   the fastest calls, robust to a busy machine), for ember's
   default and with its cross-rank shape checks on (``EMBER_DISTRIBUTED_CHECKS=1``).
2. DDP step of the MNIST CNN (examples/mnist_cnn.py, synthetic images of MNIST's shape), the
   same per-rank batch: one process alone (no DDP) vs every rank under DistributedDataParallel.
   To show the overlap, it also times the DDP step under ``no_sync()`` (the same compute, no
   communication) and the gradient all-reduces alone (communication, no compute):
   step = compute + non-overlapped communication, and the hidden fraction is
   1 - (step - compute) / communication.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
from mpi4py import MPI

import ember
import ember.distributed as dist
from ember.distributed import _process_group
from ember.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples"))
from mnist_cnn import build_model  # noqa: E402

WORLD = MPI.COMM_WORLD


def say(*a) -> None:
    if WORLD.Get_rank() == 0:
        print(*a, flush=True)


def idle_wait() -> None:
    """Wait for the other ranks without spinning a core (MPI's barrier polls)."""
    req = WORLD.Ibarrier()
    while not req.Test():
        time.sleep(0.002)


def fmt_size(b: int) -> str:
    return f"{b >> 20} MB" if b >= 2**20 else f"{b >> 10} KB"


def bench_allreduce(max_mb: int) -> None:
    n = WORLD.Get_size()
    pg = _process_group._pg
    say(
        f"\n## all-reduce of float32, {n} ranks (median ms; bandwidth ratio = mpi4py ms / ember ms)"
    )
    say(
        f"{'size':>8} {'mpi4py ms':>10} {'ember ms':>10} {'ratio':>6} {'checked ms':>12} "
        f"{'ratio':>6} {'busbw GB/s':>10} {'best-ratio':>10}"
    )
    size = 1024
    while size <= max_mb * 2**20:
        count = size // 4
        arr = np.ones(count, np.float32)
        t = ember.ones(count)
        reps = max(5, min(200, int(1e8 / size)))
        times: dict[str, list[float]] = {"mpi4py": [], "ember": [], "checked": []}

        def run(kind, arr=arr, t=t):
            if kind == "mpi4py":
                WORLD.Allreduce(MPI.IN_PLACE, arr, op=MPI.SUM)
            else:
                pg.checks = kind == "checked"
                dist.all_reduce(t)

        for kind in times:  # warm up (first-touch of buffers, MPI connections)
            run(kind)
            run(kind)
        for _ in range(reps):  # the three in turn, call by call: load changes hit all alike
            for kind, ts in times.items():
                WORLD.Barrier()
                t0 = time.perf_counter()
                run(kind)
                ts.append(time.perf_counter() - t0)
        pg.checks = False
        med = {k: 1e3 * statistics.median(v) for k, v in times.items()}
        best = {k: 1e3 * min(v) for k, v in times.items()}
        busbw = 2 * (n - 1) / n * size / (med["ember"] / 1e3) / 1e9
        say(
            f"{fmt_size(size):>8} {med['mpi4py']:>10.4f} {med['ember']:>10.4f} "
            f"{med['mpi4py'] / med['ember']:>5.2f}x {med['checked']:>12.4f} "
            f"{med['mpi4py'] / med['checked']:>5.2f}x {busbw:>10.2f} "
            f"{best['mpi4py'] / best['ember']:>9.2f}x"
        )
        del arr, t
        size *= 16 if size < 2**20 else 4


def bench_ddp(steps: int, batch: int, caps: list[float]) -> None:
    rank, n = WORLD.Get_rank(), WORLD.Get_size()
    F = ember.nn.functional
    rng = np.random.default_rng(rank)
    x = ember.from_numpy(rng.standard_normal((batch, 1, 28, 28)).astype(np.float32))
    y = ember.from_numpy(rng.integers(0, 10, batch))

    def step(model, opt, sync: bool) -> float:
        t0 = time.perf_counter()
        opt.zero_grad()
        if sync:
            F.cross_entropy(model(x), y).backward()
        else:
            with model.no_sync():
                F.cross_entropy(model(x), y).backward()
        opt.step()
        return time.perf_counter() - t0

    def timed(model, modes) -> list[float]:
        """Median ms per mode; the modes alternate step by step, so load changes hit all alike."""
        opt = ember.optim.SGD(model.parameters(), lr=0.01)
        ts: list[list[float]] = [[] for _ in modes]
        for i in range(steps + 3):
            for k, sync in enumerate(modes):
                dt = step(model, opt, sync)
                if i >= 3:
                    ts[k].append(dt)
        return [1e3 * statistics.median(t) for t in ts]

    say(f"\n## DDP step of the MNIST CNN, batch {batch} per rank, {steps} steps (median ms)")
    ember.manual_seed(0)
    one = timed(build_model(), [True])[0] if rank == 0 else None
    idle_wait()
    one = WORLD.bcast(one)
    say(f"1 process, no DDP:                       {one:8.2f} ms")
    for cap in caps:
        ember.manual_seed(0)
        ddp = DistributedDataParallel(build_model(), bucket_cap_mb=cap)
        step_ms, compute = timed(ddp, [True, False])
        pg = _process_group._pg
        comm_ts = []
        for i in range(steps + 3):  # the same all-reduces, nothing to overlap with
            WORLD.Barrier()
            t0 = time.perf_counter()
            for b in ddp._buckets:
                pg.comm.Allreduce(MPI.IN_PLACE, b.flat, op=MPI.SUM)
            if i >= 3:
                comm_ts.append(time.perf_counter() - t0)
        comm = 1e3 * statistics.median(comm_ts)
        exposed = step_ms - compute
        hidden = 1 - exposed / comm if comm > 0 else float("nan")
        say(f"{n} ranks DDP, bucket_cap_mb={cap:g} ({len(ddp._buckets)} buckets, "
            f"{sum(b.flat.nbytes for b in ddp._buckets) / 2**20:.2f} MB of gradients):")  # fmt: skip
        say(f"  step {step_ms:8.2f} ms = compute {compute:.2f} (no_sync) + exposed communication "
            f"{exposed:.2f}; all-reduces alone {comm:.2f} ms -> {100 * hidden:.0f}% hidden; "
            f"step vs 1 process {step_ms / one:.2f}x")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="ember threads per rank")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--max-mb", type=int, default=256)
    ap.add_argument("--caps", type=float, nargs="+", default=[25, 0.25])
    ap.add_argument("--only", choices=["allreduce", "ddp"], default=None)
    args = ap.parse_args()
    if args.threads:
        ember.set_num_threads(args.threads)
    dist.init_process_group(backend="mpi")
    say(
        f"ember.distributed benchmark: {WORLD.Get_size()} ranks, {ember.get_num_threads()} ember "
        f"threads per rank, {os.cpu_count()} CPUs; {MPI.Get_library_version().splitlines()[0]}"
    )
    if args.only in (None, "allreduce"):
        bench_allreduce(args.max_mb)
    if args.only in (None, "ddp"):
        bench_ddp(args.steps, args.batch, args.caps)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
