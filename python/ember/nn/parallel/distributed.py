"""DistributedDataParallel: one model replica per MPI rank, gradients averaged during backward.

How a step flows:
1. Construction: every rank checks it holds the same parameters (names, shapes, dtypes), then
   takes rank 0's parameters and buffers. Parameters are grouped into buckets of about
   ``bucket_cap_mb``, in reverse registration order (roughly the order backward produces them).
2. ``backward()``: a post-accumulate hook on each parameter copies its gradient into its
   bucket. When a bucket is full, its all-reduce is queued to the communication thread (in
   bucket order, identical on every rank) and backward goes on computing earlier layers while
   MPI sums the bucket; the thread does not hold the GIL while MPI runs.
3. At the end of ``backward()`` (an engine callback) every all-reduce is waited for and the
   averaged gradients are copied back into ``.grad``, ready for ``optimizer.step()``.
"""

from __future__ import annotations

import contextlib
import functools
import weakref

import numpy as np

from ... import _C
from ...distributed._collectives import _bytes, _typed
from ...distributed._process_group import current
from ..modules.module import Module

_LOW_PRECISION = (_C.float16, _C.bfloat16)


class _Bucket:
    def __init__(self, dtype, index: int):
        self.dtype = dtype
        self.index = index
        self.params: list[int] = []  # indices into the reducer's parameter list
        self.offsets: list[int] = []
        self.numel = 0
        self.flat: np.ndarray | None = None  # float32 for half types (MPI has no half sum)
        self.pending = 0
        self.work = None

    def add(self, i: int, numel: int) -> None:
        self.params.append(i)
        self.offsets.append(self.numel)
        self.numel += numel

    def allocate(self, np_dtype) -> None:
        self.flat = np.zeros(self.numel, dtype=np_dtype)


def _np_dtype(dtype):
    if dtype in _LOW_PRECISION:
        return np.float32
    from ..._creation import empty

    return empty(0, dtype=dtype).numpy().dtype


def _hook(ref, i, param) -> None:
    ddp = ref()
    if ddp is not None:
        ddp._grad_ready(i, param)


class DistributedDataParallel(Module):
    """Data parallelism across MPI ranks: wrap the model, run the same script on every rank
    with a different shard of the data, and gradients are averaged during ``backward()``.

    Args:
        module: the model (the same architecture on every rank).
        device_ids, output_device: must be ``None`` (CPU; kept for PyTorch's signature).
        dim: unused (kept for PyTorch's signature).
        broadcast_buffers: copy rank 0's buffers (e.g. BatchNorm running stats) to every rank
            at each forward.
        process_group: ``None`` (the default group).
        bucket_cap_mb: gradient bucket size in MiB (default 25; the first bucket, holding the
            last layers, at most 1 MiB). Smaller buckets start communicating earlier in
            backward; larger ones pay less per-message latency.
        find_unused_parameters: allow parameters that get no gradient in a backward (they
            count as zero on that rank). Without it such a parameter raises at the end of
            ``backward()``, naming it.

    Example::

        dist.init_process_group(backend="mpi")
        model = DistributedDataParallel(Net())
        opt = ember.optim.SGD(model.parameters(), lr=0.1)
        for x, y in loader:  # a DataLoader with a DistributedSampler
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()  # gradients averaged over ranks here
            opt.step()
    """

    def __init__(
        self,
        module: Module,
        device_ids=None,
        output_device=None,
        dim: int = 0,
        broadcast_buffers: bool = True,
        process_group=None,
        bucket_cap_mb: float | None = None,
        find_unused_parameters: bool = False,
        check_reduction: bool = False,
        gradient_as_bucket_view: bool = False,
        static_graph: bool = False,
    ) -> None:
        super().__init__()
        name = "DistributedDataParallel"
        pg = current(name)
        if not isinstance(module, Module):
            raise TypeError(f"{name}: module must be an nn.Module, got {type(module).__name__}")
        if device_ids not in (None, []) or output_device is not None:
            raise ValueError(f"{name}: device_ids/output_device must be None (CPU tensors)")
        if process_group is not None:
            raise ValueError(f"{name}: only the default process group (None) is supported")
        if bucket_cap_mb is None:
            bucket_cap_mb = 25
        if not bucket_cap_mb > 0:
            raise ValueError(f"{name}: bucket_cap_mb must be positive, got {bucket_cap_mb}")
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.bucket_cap_mb = bucket_cap_mb
        self.require_backward_grad_sync = True
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise ValueError(f"{name}: the module has no parameter that requires grad")
        self._names = [n for n, _ in named]
        self._params = [p for _, p in named]
        self._pg = pg
        self._sync_state(pg, name)
        self._build_buckets(int(bucket_cap_mb * 2**20))
        ref = weakref.ref(self)
        self._handles = [
            p.register_post_accumulate_grad_hook(functools.partial(_hook, ref, i))
            for i, p in enumerate(self._params)
        ]
        self._reset()

    # -- construction ---------------------------------------------------------------------
    def _sync_state(self, pg, name: str) -> None:
        """Check the replicas match, then give every rank rank 0's parameters and buffers."""
        desc = (
            ";".join(f"{n}:{p.dtype}{list(p.shape)}" for n, p in self.module.named_parameters())
            + "|"
            + ";".join(f"{n}:{b.dtype}{list(b.shape)}" for n, b in self._buffers_list())
        )

        def fn():
            try:
                pg.verify(name, desc)
            except ValueError:
                raise ValueError(
                    f"{name}: the model differs across ranks (parameter/buffer names, shapes or "
                    "dtypes); every rank must build the same model"
                ) from None
            for t in [p for p in self.module.parameters()] + [b for _, b in self._buffers_list()]:
                if t.nbytes:
                    pg.comm.Bcast(_bytes(t), root=0)

        pg.run(name, fn)

    def _buffers_list(self):
        return [(n, b) for n, b in self.module.named_buffers() if b is not None]

    def _build_buckets(self, cap_bytes: int) -> None:
        # reverse registration order: the last layers' gradients arrive first in backward. The
        # first bucket is at most 1 MiB, so communication starts early even for big caps.
        open_by_dtype: dict = {}
        self._buckets: list[_Bucket] = []
        self._bucket_of: list[tuple[int, int]] = [(0, 0)] * len(self._params)
        for i in reversed(range(len(self._params))):
            p = self._params[i]
            b = open_by_dtype.get(p.dtype)
            cap = min(cap_bytes, 2**20) if b is not None and b.index == 0 else cap_bytes
            if b is None or (b.numel and (b.numel + p.numel()) * p.element_size() > cap):
                b = _Bucket(p.dtype, len(self._buckets))
                self._buckets.append(b)
                open_by_dtype[p.dtype] = b
            self._bucket_of[i] = (b.index, len(b.params))
            b.add(i, p.numel())
        for b in self._buckets:
            b.allocate(_np_dtype(b.dtype))

    # -- per-iteration state --------------------------------------------------------------
    def _reset(self) -> None:
        self._ready = [False] * len(self._params)
        for b in self._buckets:
            b.pending = len(b.params)
            b.work = None
        self._next_bucket = 0
        self._active = False

    def _slice(self, i: int) -> np.ndarray:
        bi, k = self._bucket_of[i]
        b = self._buckets[bi]
        p = self._params[i]
        return b.flat[b.offsets[k] : b.offsets[k] + p.numel()].reshape(tuple(p.shape))

    def _grad_ready(self, i: int, param) -> None:
        """Post-accumulate hook of parameter i (main thread, during backward)."""
        if not self.require_backward_grad_sync or self._ready[i]:
            return
        if not self._active:
            self._active = True
            _C._queue_backward_callback(self._finish_backward)
        g = param.grad.detach()
        if g.dtype in _LOW_PRECISION:
            g = g.float()
        self._slice(i)[...] = g.numpy()
        self._mark_ready(i)

    def _mark_ready(self, i: int) -> None:
        self._ready[i] = True
        b = self._buckets[self._bucket_of[i][0]]
        b.pending -= 1
        # launch in bucket order, so every rank issues the same all-reduces in the same order
        while (
            self._next_bucket < len(self._buckets) and self._buckets[self._next_bucket].pending == 0
        ):
            self._launch(self._buckets[self._next_bucket])
            self._next_bucket += 1

    def _launch(self, b: _Bucket) -> None:
        from mpi4py import MPI

        comm, size, flat = self._pg.comm, self._pg.size, b.flat

        def fn():
            comm.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
            if flat.dtype.kind == "f":
                np.multiply(flat, 1.0 / size, out=flat)
            else:
                np.floor_divide(flat, size, out=flat)

        b.work = self._pg.run(f"DistributedDataParallel gradient bucket {b.index} all_reduce",
                              fn, None, async_op=True)  # fmt: skip

    def _finish_backward(self) -> None:
        """End of backward: wait for every bucket, then write the averages into ``.grad``."""
        try:
            missing = [i for i, r in enumerate(self._ready) if not r]
            used = None
            if missing and not self.find_unused_parameters:
                for b in self._buckets:
                    if b.work is not None:
                        b.work.wait()
                names = [self._names[i] for i in missing]
                raise RuntimeError(
                    "DistributedDataParallel: these parameters received no gradient in this "
                    f"backward: {names}. Make sure every parameter takes part in computing the "
                    "loss, or pass find_unused_parameters=True (they then count as zero on "
                    "this rank). Parameters that never train can be frozen with "
                    "requires_grad_(False) before wrapping the model."
                )
            if self.find_unused_parameters:
                used = np.array(self._ready, dtype=np.uint8)
                for i in missing:  # zero contribution from this rank
                    self._slice(i)[...] = 0
                    self._mark_ready(i)
                self._all_reduce_used(used)
            for b in self._buckets:
                b.work.wait()
            for i, p in enumerate(self._params):
                if used is not None and not used[i]:
                    continue  # no rank produced a gradient: leave .grad as it is
                self._write_grad(p, self._slice(i))
        finally:
            self._reset()

    def _all_reduce_used(self, used: np.ndarray) -> None:
        from mpi4py import MPI

        comm = self._pg.comm
        self._pg.run(
            "DistributedDataParallel unused-parameter all_reduce",
            lambda: comm.Allreduce(MPI.IN_PLACE, used, op=MPI.MAX),
        )

    @staticmethod
    def _write_grad(p, avg: np.ndarray) -> None:
        g = p.grad
        if g is None:
            from ..._creation import from_numpy

            p.grad = from_numpy(avg.copy()).to(p.dtype)
        elif g.dtype in _LOW_PRECISION:
            from ..._creation import from_numpy

            g.detach().copy_(from_numpy(avg))
        else:
            _typed(g)[...] = avg

    # -- public API -----------------------------------------------------------------------
    def forward(self, *inputs, **kwargs):
        if self._active:  # a backward that raised before its callback ran
            self._reset()
        if self.broadcast_buffers and self._pg.size > 1:
            bufs = [b for _, b in self._buffers_list() if b.nbytes]
            if bufs:
                pg = self._pg

                def fn():
                    for t in bufs:
                        pg.comm.Bcast(_bytes(t), root=0)

                pg.run("DistributedDataParallel buffer broadcast", fn)
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Inside this context, ``backward()`` only accumulates local gradients (no
        communication); the first ``backward()`` after it averages the accumulated sum.

        Example::

            with ddp.no_sync():
                for x, y in micro_batches[:-1]:
                    loss_fn(ddp(x), y).backward()
            loss_fn(ddp(micro_batches[-1][0]), micro_batches[-1][1]).backward()  # syncs
            opt.step()
        """
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def extra_repr(self) -> str:
        return (
            f"world_size={self._pg.size}, buckets={len(self._buckets)}, "
            f"bucket_cap_mb={self.bucket_cap_mb}"
        )
