"""Run by tests/test_distributed.py under mpirun: every check on every rank, one launch.

Prints "CHECK <name> ok" per passed check (test_distributed.py counts them per rank); any
failure raises, which ends the job with a non-zero status.
Usage: mpirun -n N python tests/dist_worker.py TMPDIR [TIMEOUT_S hang|die]
"""

import sys
from datetime import timedelta

import numpy as np

import ember
import ember.distributed as dist
import ember.nn as nn
import ember.nn.functional as F
from ember.data import DataLoader, DistributedSampler, TensorDataset
from ember.nn.parallel import DistributedDataParallel as DDP

R = dist.ReduceOp


def check(name):
    def deco(fn):
        fn()
        dist.barrier()
        print(f"CHECK {name} ok", flush=True)
        return fn

    return deco


def data(r, shape, dtype=np.float32):
    """Rank r's input: the same on every rank that recomputes it."""
    rng = np.random.default_rng(100 + r)
    if np.dtype(dtype).kind == "f":
        return rng.uniform(0.5, 1.5, shape).astype(dtype)
    return rng.integers(1, 4, shape).astype(dtype)


def expect_raises(exc, words, fn):
    try:
        fn()
    except exc as e:
        for w in words:
            assert w in str(e), (w, str(e))
        return
    raise AssertionError(f"no {exc.__name__} raised")


class _WithUnused(nn.Module):
    """A model with a layer its forward does not use."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.unused = nn.Linear(2, 2)

    def forward(self, x):
        return self.net(x)


def main():
    tmp = sys.argv[1]
    if len(sys.argv) > 2:  # failure checks: rank 1 never joins the collective
        dist.init_process_group(backend="mpi", timeout=timedelta(seconds=float(sys.argv[2])))
        if dist.get_rank() == 1:
            import os
            import time

            if sys.argv[3] == "die":
                os._exit(3)
            time.sleep(60)
        dist.all_reduce(ember.ones(3))
        print("CHECK timeout returned", flush=True)
        return
    dist.init_process_group(backend="mpi")
    assert dist.is_initialized()
    r, n = dist.get_rank(), dist.get_world_size()

    @check("all_reduce_vs_add_op")
    def _():
        # a C++-path all_reduce waits in MPI (GIL released) while this thread registers new
        # (op, dtype) pairs, growing the gate's op table: the waiting call must not read its moved
        # entry afterwards (was a heap-use-after-free under ASan). Runs first: the table is small.
        import threading
        import time

        from ember.distributed import _process_group

        pg = _process_group._pg
        dist.all_reduce(ember.from_numpy(data(r, (5,))), R.AVG)  # registers (AVG, float32)
        t = ember.from_numpy(data(r, (5,)))
        news = [(op, dt) for dt in (ember.int32, ember.uint8)
                for op in (R.SUM, R.MIN, R.MAX, R.BAND, R.BOR, R.BXOR)]  # fmt: skip
        if r == 0:
            th = threading.Thread(target=dist.all_reduce, args=(t, R.AVG))
            th.start()
            while pg.gate.current() is None:  # until the thread's call holds MPI
                time.sleep(0.001)
            works = [dist.all_reduce(ember.ones(2, dtype=dt), op, async_op=True) for op, dt in news]
            th.join()
            for w in works:
                w.wait()
        else:
            time.sleep(1.0)  # rank 0's threaded call waits in MPI meanwhile
            dist.all_reduce(t, R.AVG)
            for op, dt in news:
                dist.all_reduce(ember.ones(2, dtype=dt), op)
        want = np.mean([data(i, (5,)) for i in range(n)], axis=0)
        np.testing.assert_allclose(t.numpy(), want, rtol=1e-6)

    @check("all_reduce")
    def _():
        np_ops = {R.SUM: np.sum, R.MAX: np.max, R.MIN: np.min, R.PRODUCT: np.prod}
        for dtype in (np.float32, np.float64, np.int64, np.int32, np.uint8):
            for shape in [(0,), (1,), (7,), (3, 5)]:
                for op, f in np_ops.items():
                    t = ember.from_numpy(data(r, shape, dtype))
                    dist.all_reduce(t, op)
                    want = f(np.stack([data(i, shape, dtype) for i in range(n)]), axis=0)
                    np.testing.assert_allclose(t.numpy(), want.astype(dtype), rtol=1e-6)
        for dtype in (np.float32, np.float64):
            t = ember.from_numpy(data(r, (11,), dtype))
            dist.all_reduce(t, R.AVG)
            want = np.mean([data(i, (11,), dtype) for i in range(n)], axis=0)
            np.testing.assert_allclose(t.numpy(), want, rtol=1e-6)
        for dt in (ember.float16, ember.bfloat16):  # through float32
            t = ember.from_numpy(data(r, (5,))).to(dt)
            dist.all_reduce(t, R.AVG)
            assert t.dtype == dt
            want = np.mean(
                [ember.from_numpy(data(i, (5,))).to(dt).float().numpy() for i in range(n)], 0
            )
            np.testing.assert_allclose(t.float().numpy(), want, rtol=1e-2)
        b = ember.from_numpy(np.array([r == 0, False, True]))
        dist.all_reduce(b, R.SUM)  # any
        assert b.tolist() == [True, False, True]
        b = ember.from_numpy(np.array([r == 0, True]))
        dist.all_reduce(b, R.MIN)  # all
        assert b.tolist() == [n == 1, True]
        # a view with an offset: MPI works on the tensor's own memory
        base = ember.zeros(10)
        v = base[2:6]
        v.fill_(float(r + 1))
        dist.all_reduce(v)
        assert base.tolist() == [0, 0] + [n * (n + 1) / 2] * 4 + [0] * 4
        # async
        t = ember.ones(1000) * (r + 1)
        w = dist.all_reduce(t, async_op=True)
        assert isinstance(w, dist.Work) and w.wait() and w.is_completed() and w.is_success()
        assert t.tolist() == [n * (n + 1) / 2] * 1000
        assert w.result()[0] is t

    @check("all_reduce_c_path")
    def _():
        # the C++ path (_C._MpiGate.all_reduce: MPI called through dlsym'ed pointers) against
        # NumPy, and against mpi4py's own Allreduce (the fallback, forced here)
        from ember.distributed import _process_group

        pg = _process_group._pg
        assert pg.handle is not None, "the C++ MPI path did not load with this MPI library"
        ints = (R.SUM, R.PRODUCT, R.MIN, R.MAX, R.BAND, R.BOR, R.BXOR)
        np_ops = {R.SUM: np.sum, R.PRODUCT: np.prod, R.MIN: np.min, R.MAX: np.max,
                  R.AVG: np.mean, R.BAND: np.bitwise_and.reduce, R.BOR: np.bitwise_or.reduce,
                  R.BXOR: np.bitwise_xor.reduce}  # fmt: skip
        cases = [(np.float32, (R.SUM, R.AVG, R.PRODUCT, R.MIN, R.MAX)),
                 (np.float64, (R.SUM, R.AVG, R.PRODUCT, R.MIN, R.MAX)),
                 (np.int64, ints), (np.int32, ints), (np.uint8, ints)]  # fmt: skip
        for dtype, ops in cases:
            for size in (0, 1, 7, 1001):
                for op in ops:
                    ins = np.stack([data(i, (size,), dtype) for i in range(n)])
                    want = np_ops[op](ins, axis=0).astype(dtype)
                    dist.all_reduce(ember.ones(1, dtype=ember.from_numpy(ins).dtype), op)  # table
                    t = ember.from_numpy(data(r, (size,), dtype))
                    assert pg.gate.all_reduce(t, op) == 0, (dtype, size, op)  # the C++ path ran
                    np.testing.assert_allclose(t.numpy(), want, rtol=1e-6)
                    handle, pg.handle, pg.checks = pg.handle, None, True  # mpi4py's path
                    try:
                        u = ember.from_numpy(data(r, (size,), dtype))
                        dist.all_reduce(u, op)
                    finally:
                        pg.handle, pg.checks = handle, False
                    np.testing.assert_array_equal(u.numpy(), t.numpy())
        for op, want in ((R.SUM, [True, n == 1]), (R.MIN, [n == 1, n == 1])):
            b = ember.from_numpy(np.array([r == 0, r == 0 and n == 1]))
            dist.all_reduce(b, op)
            assert pg.gate.all_reduce(ember.from_numpy(np.array([True])), op) == 0
            assert b.tolist() == want, (op, b.tolist())
        # not taken by the C++ path: the Python path handles or rejects these
        nc = ember.ones(4, 3).t()
        assert pg.gate.all_reduce(nc, R.SUM) == -1
        assert pg.gate.all_reduce(np.ones(3, np.float32), R.SUM) == -1
        assert pg.gate.all_reduce(ember.ones(3, dtype=ember.float16), R.SUM) == -1
        expect_raises(
            ValueError, ["all_reduce", "contiguous", "[3, 4]"], lambda: dist.all_reduce(nc)
        )
        expect_raises(TypeError, ["all_reduce", "ndarray"], lambda: dist.all_reduce(np.ones(3)))
        expect_raises(
            ValueError, ["AVG", "int64"], lambda: dist.all_reduce(ember.ones(2).long(), R.AVG)
        )
        expect_raises(ValueError, ["_mpi_allreduce", "contiguous"],
                      lambda: ember._C._mpi_allreduce(nc, 0, 0, pg.handle))  # fmt: skip
        # a synchronous call after an async one waits for it (submission order)
        a, s = ember.ones(1 << 16) * (r + 1), ember.ones(3) * (r + 1)
        w = dist.all_reduce(a, async_op=True)
        dist.all_reduce(s)
        assert w.is_completed() and s.tolist() == [n * (n + 1) / 2] * 3
        assert a.tolist() == [n * (n + 1) / 2] * (1 << 16)

    @check("broadcast")
    def _():
        for src in range(n):
            t = ember.from_numpy(data(r, (4, 3)))
            dist.broadcast(t, src)
            np.testing.assert_array_equal(t.numpy(), data(src, (4, 3)))
        h = ember.full((3,), float(r), dtype=ember.bfloat16)
        dist.broadcast(h, n - 1)
        assert h.tolist() == [n - 1.0] * 3
        w = dist.broadcast(x := ember.arange(5) * r, 0, async_op=True)
        w.wait()
        assert x.tolist() == [0] * 5

    @check("all_gather")
    def _():
        outs = [ember.zeros(2, 3, dtype=ember.float64) for _ in range(n)]
        dist.all_gather(outs, ember.from_numpy(data(r, (2, 3), np.float64)))
        for i in range(n):
            np.testing.assert_array_equal(outs[i].numpy(), data(i, (2, 3), np.float64))
        out = ember.zeros(n * 3, 2, dtype=ember.int64)
        dist.all_gather_into_tensor(out, ember.from_numpy(data(r, (3, 2), np.int64)))
        np.testing.assert_array_equal(
            out.numpy(), np.concatenate([data(i, (3, 2), np.int64) for i in range(n)])
        )
        expect_raises(
            ValueError,
            ["all_gather", "tensor_list has"],
            lambda: dist.all_gather([ember.zeros(1)], ember.zeros(1)),
        )

    @check("reduce_scatter")
    def _():
        full = [data(i, (n * 4,)) for i in range(n)]
        for op in (R.SUM, R.AVG, R.MAX):
            out = ember.zeros(4)
            dist.reduce_scatter_tensor(out, ember.from_numpy(full[r]), op)
            red = {R.SUM: np.sum, R.AVG: np.mean, R.MAX: np.max}[op](np.stack(full), axis=0)
            np.testing.assert_allclose(out.numpy(), red[r * 4 : (r + 1) * 4], rtol=1e-6)
            out = ember.zeros(4)
            dist.reduce_scatter(
                out, [ember.from_numpy(full[r][i * 4 : (i + 1) * 4].copy()) for i in range(n)], op
            )
            np.testing.assert_allclose(out.numpy(), red[r * 4 : (r + 1) * 4], rtol=1e-6)

    @check("send_recv")
    def _():
        if n == 1:
            return
        nxt, prv = (r + 1) % n, (r - 1) % n
        got = ember.zeros(6, dtype=ember.float64)
        if r == 0:
            dist.send(ember.from_numpy(data(r, (6,), np.float64)), nxt)
            assert dist.recv(got, prv) == prv
        else:
            assert dist.recv(got) == prv  # any source
            dist.send(ember.from_numpy(data(r, (6,), np.float64)), nxt)
        np.testing.assert_array_equal(got.numpy(), data(prv, (6,), np.float64))
        # a size mismatch is named, not a silent truncation
        if r == 0:
            dist.send(ember.zeros(3), 1)
        elif r == 1:
            expect_raises(
                ValueError, ["recv", "12 bytes", "[5]"], lambda: dist.recv(ember.zeros(5), 0)
            )

    @check("mismatch")
    def _():
        from ember.distributed import _process_group

        pg = _process_group._pg
        assert not pg.checks  # off by default; EMBER_DISTRIBUTED_CHECKS=1 turns them on
        pg.checks = True
        try:
            expect_raises(ValueError, ["all_reduce", "rank 0: float32 [3]", f"rank {n - 1}: float32 [{2 + n}]"],
                          lambda: dist.all_reduce(ember.zeros(3 + r)))  # fmt: skip
            dt = ember.float64 if r == 0 else ember.float32
            expect_raises(
                ValueError,
                ["broadcast", "float64", "float32"],
                lambda: dist.broadcast(ember.zeros(4, dtype=dt), 0),
            )
            for op in (R.SUM, R.MAX):  # checked calls that agree still reduce (twice: cached)
                for _ in range(2):
                    t = ember.from_numpy(data(r, (2, 3)))
                    dist.all_reduce(t, op)
                    want = [data(i, (2, 3)) for i in range(n)]
                    want = sum(want) if op == R.SUM else np.maximum.reduce(want)
                    np.testing.assert_allclose(t.numpy(), want, rtol=1e-6)
        finally:
            pg.checks = False
        expect_raises(
            ValueError, ["all_reduce", "contiguous"], lambda: dist.all_reduce(ember.zeros(4, 4).t())
        )
        expect_raises(
            ValueError,
            ["AVG", "int64"],
            lambda: dist.all_reduce(ember.zeros(2, dtype=ember.int64), R.AVG),
        )
        expect_raises(ValueError, ["src=", str(n)], lambda: dist.broadcast(ember.zeros(2), n))
        expect_raises(ValueError, ["group"], lambda: dist.all_reduce(ember.zeros(2), group="g"))

    def mlp(dtype, extra=False):
        ember.manual_seed(r)  # a different init on every rank: DDP must take rank 0's
        m = nn.Sequential(nn.Linear(6, 9), nn.Tanh(), nn.Linear(9, 9), nn.Tanh(), nn.Linear(9, 4))
        if extra:
            m = _WithUnused(m)
        return m.to(dtype)

    def reference_of(ddp, dtype, extra=False):
        ref = mlp(dtype, extra)
        ref.load_state_dict({k[len("module.") :]: v.clone() for k, v in ddp.state_dict().items()})
        return ref

    def batch(step, b):
        rng = np.random.default_rng(step)
        return rng.standard_normal((n * b, 6)), rng.integers(0, 4, n * b)

    def gathered_max_diff(params):
        """Largest difference between this rank's parameters and every other rank's."""
        worst = 0.0
        for p in params:
            outs = [ember.zeros_like(p) for _ in range(n)]
            dist.all_gather(outs, p.detach().contiguous())
            worst = max(worst, max(float((o - outs[0]).abs().max()) for o in outs))
        return worst

    for dtype, tol in ((ember.float64, 1e-12), (ember.float32, 1e-6)):

        @check(f"ddp_20_steps_{str(dtype).replace('ember.', '')}")
        def _(dtype=dtype, tol=tol):
            ddp = DDP(mlp(dtype), bucket_cap_mb=300 / 2**20)  # several buckets
            assert len(ddp._buckets) > 2
            ref = reference_of(ddp, dtype)
            opt = ember.optim.SGD(ddp.parameters(), lr=0.2, momentum=0.9)
            ropt = ember.optim.SGD(ref.parameters(), lr=0.2, momentum=0.9)
            np_dt = np.float64 if dtype == ember.float64 else np.float32
            for step in range(20):
                X, Y = batch(step, 5)
                x = ember.from_numpy(X[r * 5 : (r + 1) * 5].astype(np_dt))
                y = ember.from_numpy(Y[r * 5 : (r + 1) * 5])
                opt.zero_grad()
                F.cross_entropy(ddp(x), y).backward()
                opt.step()
                ropt.zero_grad()
                F.cross_entropy(
                    ref(ember.from_numpy(X.astype(np_dt))), ember.from_numpy(Y)
                ).backward()
                ropt.step()
            assert (
                gathered_max_diff(list(ddp.parameters())) == 0.0
            )  # bitwise the same on every rank
            for p, q in zip(ddp.module.parameters(), ref.parameters()):
                rel = float((p - q).abs().max()) / max(float(q.abs().max()), 1e-30)
                assert rel <= tol, (rel, tol)

    @check("no_sync")
    def _():
        ddp = DDP(mlp(ember.float64))
        ref = reference_of(ddp, ember.float64)
        X, Y = batch(7, 6)
        X, Y = ember.from_numpy(X), ember.from_numpy(Y)
        mine = slice(r * 6, (r + 1) * 6)
        with ddp.no_sync():
            for k in range(2):  # two micro-batches of 3, local accumulation only
                F.cross_entropy(
                    ddp(X[mine][k * 3 : k * 3 + 3]), Y[mine][k * 3 : k * 3 + 3]
                ).backward()
        local = [p.grad.clone() for p in ddp.parameters()]
        if n > 1:
            assert gathered_max_diff(local) > 0  # no communication happened
        F.cross_entropy(ddp(X[mine][:3]), Y[mine][:3]).backward()  # synced: averages the sum
        # reference: sum of the three micro-batch grads per rank, averaged over ranks
        for i in range(n):
            s = slice(i * 6, (i + 1) * 6)
            for a, b in ((0, 3), (3, 6), (0, 3)):
                (F.cross_entropy(ref(X[s][a:b]), Y[s][a:b]) / n).backward()
        for p, q in zip(ddp.parameters(), ref.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-12)

    @check("unused_parameters")
    def _():
        ddp = DDP(mlp(ember.float64, extra=True))
        x = ember.from_numpy(data(0, (3, 6), np.float64))  # the same on every rank
        expect_raises(RuntimeError, ["unused.weight", "unused.bias", "find_unused_parameters=True"],
                      lambda: ddp(x).sum().backward())  # fmt: skip
        ddp = DDP(mlp(ember.float64, extra=True), find_unused_parameters=True)
        ref = reference_of(ddp, ember.float64, extra=True)
        for _step in range(2):  # state resets between iterations
            for p in list(ddp.parameters()) + list(ref.parameters()):
                p.grad = None
            out = ddp(x).sum()
            if r == 0:  # "unused" takes part on rank 0 only
                out = out + ddp.module.unused(x[:, :2]).sum()
            out.backward()
        (ref(x).sum() + ref.unused(x[:, :2]).sum() / n).backward()
        for p, q in zip(ddp.parameters(), ref.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10)
        ddp = DDP(mlp(ember.float64, extra=True), find_unused_parameters=True)
        ddp(x).sum().backward()
        assert ddp.module.unused.weight.grad is None  # unused on every rank: left alone

    @check("ddp_buffers_and_checks")
    def _():
        ember.manual_seed(r)
        m = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
        ddp = DDP(m)
        ddp(ember.randn(8, 4) + r)  # running stats now differ per rank
        if n > 1:
            assert gathered_max_diff([m[1].running_mean]) > 0
        ddp.eval()
        ddp(ember.randn(8, 4))  # the forward first takes rank 0's buffers
        assert gathered_max_diff([m[1].running_mean, m[1].running_var]) == 0
        if n > 1:
            expect_raises(ValueError, ["DistributedDataParallel", "differs across ranks"],
                          lambda: DDP(nn.Linear(3 + (r > 0), 2)))  # fmt: skip

    @check("distributed_sampler")
    def _():
        for size, drop in ((24, False), (25, False), (25, True), (2, False)):
            s = DistributedSampler(range(size), shuffle=True, seed=3, drop_last=drop)
            for epoch in (0, 1):
                s.set_epoch(epoch)
                mine = ember.tensor(list(s), dtype=ember.int64)
                assert len(mine) == len(s)
                outs = [ember.zeros_like(mine) for _ in range(n)]
                dist.all_gather(outs, mine)
                allidx = np.concatenate([o.numpy() for o in outs])
                if drop:
                    assert len(set(allidx.tolist())) == len(allidx) == size // n * n
                else:
                    assert set(allidx.tolist()) == set(range(size))  # each sample at least once
                    assert len(allidx) == -(-size // n) * n  # padded with as few as needed
                    if size % n == 0:
                        assert sorted(allidx.tolist()) == list(range(size))  # exactly once
            s.set_epoch(0)
            first = list(s)
            s.set_epoch(1)
            assert first != list(s) or size <= n  # a new order each epoch

    @check("trainer")
    def _():
        from ember.train import TrainConfig, Trainer

        rng = np.random.default_rng(0)
        ds = TensorDataset(ember.from_numpy(rng.standard_normal((48, 6)).astype(np.float32)),
                           ember.from_numpy(rng.integers(0, 4, 48)))  # fmt: skip
        loader = DataLoader(ds, batch_size=4, sampler=DistributedSampler(ds, seed=1))

        def make():
            ddp = DDP(mlp(ember.float32))
            return ddp, ember.optim.SGD(ddp.parameters(), lr=0.1)

        ddp, opt = make()
        cfg = TrainConfig(epochs=2, checkpoint_dir=tmp, progress=False)
        h = Trainer(ddp, opt, config=cfg).fit(loader)
        losses = ember.tensor(h["train_loss"], dtype=ember.float64)
        assert gathered_max_diff([losses]) == 0  # the same (global) metrics on every rank
        ddp2, opt2 = make()
        t2 = Trainer(ddp2, opt2, config=TrainConfig(epochs=3, checkpoint_dir=tmp, progress=False))
        t2.fit(loader, resume_from="latest")  # every rank resumes from rank 0's file
        assert t2.epoch == 3 and t2.history["train_loss"][:2] == h["train_loss"]
        assert gathered_max_diff(list(ddp2.parameters())) == 0

    @check("destroy")
    def _():
        pass

    dist.destroy_process_group()
    assert not dist.is_initialized()
    expect_raises(
        RuntimeError, ["all_reduce", "init_process_group"], lambda: dist.all_reduce(ember.zeros(1))
    )
    print("CHECK done ok", flush=True)


if __name__ == "__main__":
    main()
