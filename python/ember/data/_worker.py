"""DataLoader worker processes (``num_workers > 0``).

Each worker gets tasks ``(task id, indices)`` on its own queue and sends ``(task id, batch)``
back on a shared result queue. Tasks go to the workers in turn and batches are handed out in
task order, so the order never depends on which worker finishes first. Tensors travel as NumPy
arrays (one copy through the pipe) and become tensors again without a copy.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import queue
import random
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _C
from .._C import Tensor

__all__ = ["WorkerInfo", "get_worker_info"]


@dataclass(frozen=True)
class WorkerInfo:
    """What :func:`get_worker_info` returns inside a worker process."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker process: its ``id``, ``num_workers``, ``seed`` and its copy of
    the ``dataset`` (e.g. to split an IterableDataset between workers). None in the main
    process."""
    return _worker_info


# ------------------------------------------------------------------------------ transfer


class _TensorData:
    """A tensor on its way through a pipe: its values as a NumPy array, and its dtype."""

    __slots__ = ("array", "dtype")

    def __init__(self, t: Tensor) -> None:
        t = t.detach()
        self.dtype = str(t.dtype).rsplit(".", 1)[-1]
        if t.dtype == _C.bfloat16:
            t = t._to_dtype(_C.float32)  # NumPy has no bfloat16; the round trip is exact
        self.array = np.ascontiguousarray(t.contiguous().numpy())

    def __getstate__(self):
        return (self.array, self.dtype)

    def __setstate__(self, state):
        self.array, self.dtype = state

    def tensor(self) -> Tensor:
        t = _C._from_numpy(self.array)  # the unpickled array is ours: no copy
        return t._to_dtype(_C.bfloat16) if self.dtype == "bfloat16" else t


def _pack(x: Any) -> Any:
    if isinstance(x, Tensor):
        return _TensorData(x)
    if isinstance(x, dict):
        return {k: _pack(v) for k, v in x.items()}
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(_pack(v) for v in x))
    if isinstance(x, (list, tuple)):
        return type(x)(_pack(v) for v in x)
    return x


def _unpack(x: Any) -> Any:
    if isinstance(x, _TensorData):
        return x.tensor()
    if isinstance(x, dict):
        return {k: _unpack(v) for k, v in x.items()}
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(_unpack(v) for v in x))
    if isinstance(x, (list, tuple)):
        return type(x)(_unpack(v) for v in x)
    return x


class _WorkerError:
    """An exception raised in a worker, sent to the main process to be raised there."""

    def __init__(self, worker_id: int, exc: BaseException) -> None:
        self.worker_id = worker_id
        self.exc_type = type(exc)
        self.text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        try:  # the class must be importable in the main process to travel back
            import pickle

            pickle.dumps(self.exc_type)
        except Exception:  # noqa: BLE001
            self.exc_type = RuntimeError

    def reraise(self):
        msg = (
            f"Caught {self.exc_type.__name__} in DataLoader worker process {self.worker_id}.\n"
            f"Original {self.text}"
        )
        if self.exc_type is KeyError:  # KeyError's str() is the repr of its argument
            msg = _KeyErrorMessage(msg)
        try:
            exc = self.exc_type(msg)
        except Exception:  # noqa: BLE001 - a constructor that needs other arguments
            raise RuntimeError(msg) from None
        raise exc


class _KeyErrorMessage(str):
    def __repr__(self):
        return self


_EXHAUSTED = "__ember_worker_exhausted__"  # an IterableDataset worker has no more data


def _worker_loop(fetcher, init_fn, index_q, result_q, worker_id, num_workers, seed) -> None:
    global _worker_info
    try:
        from .._creation import manual_seed

        manual_seed(seed)
        random.seed(seed)
        _worker_info = WorkerInfo(worker_id, num_workers, seed, fetcher.dataset)
        if init_fn is not None:
            init_fn(worker_id)
        stream = fetcher.stream() if fetcher.iterable else None
    except BaseException as e:  # noqa: BLE001 - reported as the answer to the first task
        init_error = _WorkerError(worker_id, e)
    else:
        init_error = None
    while True:
        try:
            task = index_q.get()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if task is None:  # shutdown
            return
        task_id, indices = task
        if task_id == "reset":  # a persistent worker starts a new epoch of its IterableDataset
            stream = fetcher.stream() if fetcher.iterable else None
            continue
        if init_error is not None:
            result_q.put((task_id, init_error))
            continue
        try:
            if stream is not None:
                batch = next(stream, _EXHAUSTED)
            else:
                batch = fetcher.fetch(indices)
            out = batch if isinstance(batch, str) and batch == _EXHAUSTED else _pack(batch)
        except BaseException as e:  # noqa: BLE001
            out = _WorkerError(worker_id, e)
        result_q.put((task_id, out))


# ------------------------------------------------------------------------------ main side


class _MultiProcessIter:
    """The iterator ``DataLoader.__iter__`` returns when ``num_workers > 0``."""

    def __init__(self, loader) -> None:
        self._loader = loader
        ctx = loader.multiprocessing_context
        if ctx is None:
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        elif isinstance(ctx, str):
            ctx = mp.get_context(ctx)
        from .._creation import randint

        self._n = loader.num_workers
        self._depth = loader.prefetch_factor * self._n
        # one base seed per iterator; worker i is seeded with base + i (PyTorch's rule). Drawn
        # after the sampler's order, so the first epoch's order matches num_workers=0.
        self._tasks = loader._task_source()
        base = int(randint(0, 2**62, (1,), generator=loader.generator).item())
        self._result_q = ctx.Queue()
        self._index_qs = [ctx.Queue() for _ in range(self._n)]
        self._workers = []
        for i in range(self._n):
            w = ctx.Process(
                target=_worker_loop,
                args=(
                    loader._fetcher,
                    loader.worker_init_fn,
                    self._index_qs[i],
                    self._result_q,
                    i,
                    self._n,
                    base + i,
                ),
                name=f"ember-data-worker-{i}",
                daemon=True,
            )
            w.start()
            self._workers.append(w)
        self._shut = False
        self._start_epoch(first=True)
        if loader.persistent_workers:
            loader._persistent_iter = self

    def _start_epoch(self, first: bool = False) -> None:
        if not first:
            self._tasks = self._loader._task_source()
            if self._loader._fetcher.iterable:
                for q in self._index_qs:
                    q.put(("reset", None))
        self._active = list(range(self._n))  # workers that still have data
        self._cycle = itertools.cycle(range(self._n))
        self._sent = 0  # task ids handed out
        self._next = 0  # next task id to return
        self._owner: dict[int, int] = {}
        self._ready: dict[int, Any] = {}
        self._sampler_done = False
        self.finished = False
        for _ in range(self._depth):
            self._send()

    def _send(self) -> None:
        if self._sampler_done or not self._active:
            return
        if self._tasks is None:
            indices = None
        else:
            indices = next(self._tasks, None)
            if indices is None:
                self._sampler_done = True
                return
        w = next(self._cycle)
        while w not in self._active:
            w = next(self._cycle)
        self._owner[self._sent] = w
        self._index_qs[w].put((self._sent, indices))
        self._sent += 1

    def __iter__(self):
        return self

    def __next__(self):
        while True:
            if self._shut:
                raise StopIteration
            if self._next >= self._sent:  # everything sent was returned: the epoch is over
                self._end_epoch()
                raise StopIteration
            item = self._ready.pop(self._next, None)
            if item is None:
                item = self._wait_for(self._next)
            task_id = self._next
            self._next += 1
            self._send()
            if isinstance(item, _WorkerError):
                self.close()
                item.reraise()
            if isinstance(item, str) and item == _EXHAUSTED:
                w = self._owner.get(task_id)
                if w in self._active:
                    self._active.remove(w)
                continue
            self._owner.pop(task_id, None)
            return _unpack(item)

    def _wait_for(self, task_id: int):
        import time

        timeout = self._loader.timeout or None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
            try:
                got_id, item = self._result_q.get(timeout=wait)
            except queue.Empty:
                for i, w in enumerate(self._workers):
                    if not w.is_alive():
                        self.close()
                        raise RuntimeError(
                            f"DataLoader worker {i} (pid {w.pid}) exited unexpectedly with exit code "
                            f"{w.exitcode}"
                        ) from None
                if deadline is not None and time.monotonic() >= deadline:
                    self.close()
                    raise RuntimeError(
                        f"DataLoader timed out after {timeout} seconds waiting for a batch"
                    ) from None
                continue
            if got_id == task_id:
                return item
            self._ready[got_id] = item

    def _end_epoch(self) -> None:
        self.finished = True
        if not self._loader.persistent_workers:
            self.close()

    def reset(self) -> _MultiProcessIter:
        """Reuse these workers for the next epoch (``persistent_workers=True``)."""
        self._start_epoch()
        return self

    def close(self) -> None:
        """Stop the workers (also on ``del`` and when the loop is left early)."""
        if self._shut:
            return
        self._shut = True
        if getattr(self._loader, "_persistent_iter", None) is self:
            self._loader._persistent_iter = None
        for q in self._index_qs:
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
        for w in self._workers:
            w.join(timeout=5)
            if w.is_alive():
                w.terminate()
                w.join(timeout=1)
        for q in (*self._index_qs, self._result_q):
            q.cancel_join_thread()  # never block on a pipe a dead worker stopped reading
            q.close()

    def __del__(self) -> None:
        try:
            if os.getpid() == getattr(self._workers[0], "_parent_pid", os.getpid()):
                self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
