"""Collectives on ember tensors. MPI reads and writes the tensors' own memory (raw buffers or
NumPy views of CPU storage), so nothing is copied except where noted: float16/bfloat16
reductions go through a float32 buffer (MPI has no half-precision sum), and the list forms of
all_gather / reduce_scatter pack into one buffer (use the ``*_tensor`` forms to avoid that
copy)."""

from __future__ import annotations

import enum

import numpy as np

from .. import _C
from . import _process_group
from ._process_group import Work, _mpi, current


class ReduceOp(enum.Enum):
    """How ``all_reduce`` / ``reduce_scatter`` combine the ranks' tensors."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    BAND = "band"
    BOR = "bor"
    BXOR = "bxor"

    def __repr__(self) -> str:
        return f"ReduceOp.{self.name}"

    # members are singletons: identity hashing is correct, and C-fast (Enum's hashes the name
    # in Python, on every call's op-table lookup)
    __hash__ = object.__hash__


_LOW_PRECISION = (_C.float16, _C.bfloat16)


_OP_CACHE: dict = {}
_IN_PLACE = _from_address = None  # mpi4py's, set with the first _OP_CACHE entry


def _mpi_op(name: str, op: ReduceOp, dtype):
    """The MPI op for (op, dtype), checked once per pair (this is on every call's path)."""
    try:
        return _OP_CACHE[op, dtype][0]
    except KeyError:
        return _op_entry(name, op, dtype)[0]


def _op_entry(name: str, op: ReduceOp, dtype):
    """(MPI op, MPI datatype or None for the half types, avg?) for (op, dtype), cached."""
    key = (op, dtype)
    if key not in _OP_CACHE:
        if not isinstance(op, ReduceOp):
            raise TypeError(f"{name}: op must be an ember.distributed.ReduceOp, got {op!r}")
        mop = _lookup_op(name, op, dtype)
        global _IN_PLACE, _from_address
        MPI = _mpi()
        _IN_PLACE, _from_address = MPI.IN_PLACE, MPI.buffer.fromaddress  # for _all_reduce_now
        mtype = {_C.bool: MPI.C_BOOL, _C.uint8: MPI.UINT8_T, _C.int32: MPI.INT32_T,
                 _C.int64: MPI.INT64_T, _C.float32: MPI.FLOAT, _C.float64: MPI.DOUBLE}.get(dtype)  # fmt: skip
        # the raw handles, for _C._mpi_allreduce (the C++ path)
        handles = (MPI._handleof(mtype), MPI._handleof(mop)) if mtype is not None else (0, 0)
        _OP_CACHE[key] = (mop, mtype, op == ReduceOp.AVG, *handles)
    return _OP_CACHE[key]


def _lookup_op(name: str, op: ReduceOp, dtype):
    MPI = _mpi()
    if dtype == _C.bool:
        # PyTorch's rule for bool: SUM/MAX are "any", PRODUCT/MIN are "all"
        table = {"sum": MPI.LOR, "max": MPI.LOR, "bor": MPI.LOR, "product": MPI.LAND,
                 "min": MPI.LAND, "band": MPI.LAND, "bxor": MPI.LXOR}  # fmt: skip
        if op.value not in table:
            raise ValueError(f"{name}: {op!r} is not defined for bool tensors")
        return table[op.value]
    if op in (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR) and dtype.is_floating_point:
        raise ValueError(f"{name}: {op!r} needs an integer tensor, got {dtype}")
    if op == ReduceOp.AVG and not dtype.is_floating_point:
        raise ValueError(f"{name}: ReduceOp.AVG needs a floating-point tensor, got {dtype}")
    return {"sum": MPI.SUM, "avg": MPI.SUM, "product": MPI.PROD, "min": MPI.MIN, "max": MPI.MAX,
            "band": MPI.BAND, "bor": MPI.BOR, "bxor": MPI.BXOR}[op.value]  # fmt: skip


def _check_group(name: str, group) -> None:
    if group is not None:
        raise ValueError(f"{name}: only the default group (group=None) is supported")


def _dense(name: str, t, what: str = "tensor"):
    if not isinstance(t, _C.Tensor):
        raise TypeError(f"{name}: {what} must be an ember Tensor, got {type(t).__name__}")
    if not t.is_cpu:
        raise ValueError(f"{name}: {what} is on {t.device}; MPI collectives need CPU tensors")
    if not t.is_contiguous():
        raise ValueError(
            f"{name}: {what} must be contiguous (shape {list(t.shape)}, strides {list(t.stride())}); "
            "call .contiguous() first"
        )
    return t


def _desc(t) -> str:
    return f"{str(t.dtype).replace('ember.', '')} {list(t.shape)}"


def _typed(t) -> np.ndarray:
    """A writable NumPy view of t's memory, typed for MPI reductions (not for half types)."""
    return (t.detach() if t.requires_grad else t).numpy()


def _bytes(t) -> np.ndarray:
    """A writable uint8 view of t's memory, for transfers of any dtype."""
    n = t.nbytes
    if n == 0:
        return np.empty(0, np.uint8)
    return np.frombuffer(_mpi().buffer.fromaddress(t.data_ptr(), n), dtype=np.uint8)


def all_reduce(tensor, op: ReduceOp = ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce ``tensor`` across all ranks, in place: afterwards every rank holds the result.

    Args:
        tensor: a contiguous CPU tensor, same shape and dtype on every rank.
        op: ``ReduceOp.SUM`` (default), ``AVG``, ``PRODUCT``, ``MIN``, ``MAX`` (or ``BAND`` /
            ``BOR`` / ``BXOR`` for integers).
        async_op: return a :class:`Work` handle instead of waiting.
    """
    # The common case (a synchronous call on a contiguous CPU tensor, nothing queued, no
    # cross-rank checks) is one C++ call straight into MPI: a small message pays no more Python
    # than mpi4py's own Allreduce does. It returns -1 where it does not apply.
    pg = _process_group._pg
    if pg is not None and not async_op and group is None:
        err = pg.gate.all_reduce(tensor, op)
        if err == 0:
            return None
        if err > 0:
            _mpi_failed(tensor, _mpi().Exception(err))
    name = "all_reduce"
    pg = pg or current(name)
    if group is not None:
        _check_group(name, group)
    t = tensor
    if type(t) is not _C.Tensor or not (t.is_cpu and t.is_contiguous()):
        t = _dense(name, t)  # raises, or passes a Tensor subclass
    try:
        entry = _OP_CACHE[op, t.dtype]
    except KeyError:
        entry = _op_entry(name, op, t.dtype)
    if entry[1] is not None and pg.handle is not None:
        pg.gate.add_op(op, t.dtype, entry[3], entry[4], entry[2])  # for the next call's C++ path
    if not async_op and entry[1] is not None and pg.claim_inline(name):
        try:
            if pg.checks:
                pg.verify_tensor(name, t, op)
            _all_reduce_now(pg, t, entry)
        finally:
            pg.release_inline()
        return None

    def fn():
        if pg.checks:
            pg.verify_tensor(name, t, op)
        if entry[1] is None:  # float16/bfloat16: MPI has no half-precision sum
            tmp = t.detach().float()
            _all_reduce_now(pg, tmp, _op_entry(name, op, tmp.dtype))
            t.detach().copy_(tmp)
        else:
            _all_reduce_now(pg, t, entry)

    return pg.run(name, fn, [tensor], async_op)


def _all_reduce_now(pg, t, entry) -> None:
    """MPI_Allreduce in place on t's own memory (entry: from ``_op_entry``)."""
    if pg.handle is not None:  # C++ straight into MPI: no Python buffer objects
        err = _C._mpi_allreduce(t, entry[3], entry[4], pg.handle)
        if err:
            _mpi_failed(t, _mpi().Exception(err))
    elif t.nbytes:
        try:
            # a raw buffer of t's memory: cheaper to make than a NumPy view, and no copy either
            pg.comm.Allreduce(
                _IN_PLACE, [_from_address(t.data_ptr(), t.nbytes), entry[1]], op=entry[0]
            )
        except _mpi().Exception as e:
            _mpi_failed(t, e)
    if entry[2]:  # AVG
        t.detach().div_(pg.size)


def _mpi_failed(t, e):
    raise RuntimeError(
        f"all_reduce of {_desc(t)}: {e} (did the ranks pass different shapes or dtypes? "
        "EMBER_DISTRIBUTED_CHECKS=1 compares them first)"
    ) from e


def broadcast(tensor, src: int, group=None, async_op: bool = False):
    """Copy ``tensor`` from rank ``src`` into ``tensor`` on every other rank."""
    name = "broadcast"
    pg = current(name)
    _check_group(name, group)
    t = _dense(name, tensor)
    _check_rank(name, "src", src, pg.size)

    def fn():
        if pg.checks:
            pg.verify(name, f"{_desc(t)} src={src}")
        if pg.handle is None:
            pg.comm.Bcast(_bytes(t), root=src)
        elif err := _C._mpi_bcast(t, src, _mpi()._handleof(_mpi().BYTE), pg.handle):
            raise RuntimeError(f"broadcast of {_desc(t)} from rank {src}: {_mpi().Exception(err)}")

    return pg.run(name, fn, [tensor], async_op)


def all_gather(tensor_list, tensor, group=None, async_op: bool = False):
    """Gather every rank's ``tensor`` into ``tensor_list`` (``world_size`` tensors of the same
    shape and dtype; entry ``i`` receives rank ``i``'s). Packs through one buffer; see
    :func:`all_gather_into_tensor` for the copy-free form."""
    name = "all_gather"
    pg = current(name)
    _check_group(name, group)
    t = _dense(name, tensor)
    outs = list(tensor_list)
    if len(outs) != pg.size:
        raise ValueError(f"{name}: tensor_list has {len(outs)} tensors, world size is {pg.size}")
    for i, o in enumerate(outs):
        _dense(name, o, f"tensor_list[{i}]")
        if tuple(o.shape) != tuple(t.shape) or o.dtype != t.dtype:
            raise ValueError(
                f"{name}: tensor_list[{i}] is {_desc(o)} but the input tensor is {_desc(t)}"
            )

    def fn():
        if pg.checks:
            pg.verify(name, _desc(t))
        buf = np.empty((pg.size, t.nbytes), np.uint8)
        pg.comm.Allgather(_bytes(t), buf)
        for i, o in enumerate(outs):
            _bytes(o)[...] = buf[i]

    return pg.run(name, fn, outs, async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op: bool = False):
    """Gather every rank's ``input_tensor`` into ``output_tensor``, rank ``i``'s at rows
    ``[i * n, (i + 1) * n)`` (``output_tensor`` has ``world_size`` times its elements)."""
    name = "all_gather_into_tensor"
    pg = current(name)
    _check_group(name, group)
    out = _dense(name, output_tensor, "output_tensor")
    t = _dense(name, input_tensor, "input_tensor")
    if out.dtype != t.dtype or out.numel() != pg.size * t.numel():
        raise ValueError(
            f"{name}: output_tensor is {_desc(out)}, expected {pg.size} x the input ({_desc(t)})"
        )

    def fn():
        if pg.checks:
            pg.verify(name, _desc(t))
        pg.comm.Allgather(_bytes(t), _bytes(out))

    return pg.run(name, fn, [output_tensor], async_op)


def reduce_scatter(output, input_list, op: ReduceOp = ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``input_list[i]`` across ranks into ``output`` on rank ``i``. Packs the inputs
    into one buffer; see :func:`reduce_scatter_tensor` for the copy-free form."""
    name = "reduce_scatter"
    pg = current(name)
    _check_group(name, group)
    out = _dense(name, output, "output")
    ins = list(input_list)
    if len(ins) != pg.size:
        raise ValueError(f"{name}: input_list has {len(ins)} tensors, world size is {pg.size}")
    for i, x in enumerate(ins):
        _dense(name, x, f"input_list[{i}]")
        if tuple(x.shape) != tuple(out.shape) or x.dtype != out.dtype:
            raise ValueError(f"{name}: input_list[{i}] is {_desc(x)} but output is {_desc(out)}")
    mop = _mpi_op(name, op, out.dtype)

    def fn():
        if pg.checks:
            pg.verify(name, f"{_desc(out)} {op.name}")
        low = out.dtype in _LOW_PRECISION
        packed = np.concatenate([_typed(x.float() if low else x).reshape(-1) for x in ins])
        _reduce_scatter(pg, packed, out, mop, op == ReduceOp.AVG)

    return pg.run(name, fn, [output], async_op)


def reduce_scatter_tensor(output, input, op: ReduceOp = ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``input`` (``world_size`` x ``output``'s elements) across ranks; rank ``i``
    receives the ``i``-th block of the result in ``output``."""
    name = "reduce_scatter_tensor"
    pg = current(name)
    _check_group(name, group)
    out = _dense(name, output, "output")
    x = _dense(name, input, "input")
    if x.dtype != out.dtype or x.numel() != pg.size * out.numel():
        raise ValueError(f"{name}: input is {_desc(x)}, expected {pg.size} x output ({_desc(out)})")
    mop = _mpi_op(name, op, out.dtype)

    def fn():
        if pg.checks:
            pg.verify(name, f"{_desc(out)} {op.name}")
        low = out.dtype in _LOW_PRECISION
        _reduce_scatter(
            pg, _typed(x.float() if low else x).reshape(-1), out, mop, op == ReduceOp.AVG
        )

    return pg.run(name, fn, [output], async_op)


def _reduce_scatter(pg, packed: np.ndarray, out, mop, avg: bool) -> None:
    if out.dtype in _LOW_PRECISION:
        tmp = out.detach().float()
        pg.comm.Reduce_scatter_block(packed, _typed(tmp), op=mop)
        if avg:
            _typed(tmp)[...] /= pg.size
        out.detach().copy_(tmp)
        return
    res = _typed(out).reshape(-1)
    pg.comm.Reduce_scatter_block(packed, res, op=mop)
    if avg:
        res /= pg.size


def send(tensor, dst: int, group=None, tag: int = 0) -> None:
    """Send ``tensor`` to rank ``dst`` (blocks until it may be reused)."""
    name = "send"
    pg = current(name)
    _check_group(name, group)
    t = _dense(name, tensor)
    _check_rank(name, "dst", dst, pg.size)
    pg.run(name, lambda: pg.comm.Send(_bytes(t), dest=dst, tag=tag))


def recv(tensor, src: int | None = None, group=None, tag: int = 0) -> int:
    """Receive into ``tensor`` from rank ``src`` (any rank when ``None``); returns the sender.
    A message whose size differs from ``tensor``'s raises, naming both."""
    MPI = _mpi()
    name = "recv"
    pg = current(name)
    _check_group(name, group)
    t = _dense(name, tensor)
    if src is not None:
        _check_rank(name, "src", src, pg.size)
    sender = []

    def fn():
        status = MPI.Status()
        pg.comm.Probe(source=MPI.ANY_SOURCE if src is None else src, tag=tag, status=status)
        got, who = status.Get_count(MPI.BYTE), status.Get_source()
        if got != t.nbytes:
            pg.comm.Recv(np.empty(got, np.uint8), source=who, tag=tag)  # consume it
            raise ValueError(
                f"{name}: rank {who} sent {got} bytes but the tensor ({_desc(t)}) has {t.nbytes}"
            )
        pg.comm.Recv(_bytes(t), source=who, tag=tag)
        sender.append(who)

    pg.run(name, fn)
    return sender[0]


def barrier(group=None, async_op: bool = False, device_ids=None):
    """Block until every rank has reached the barrier."""
    name = "barrier"
    pg = current(name)
    _check_group(name, group)
    return pg.run(name, lambda: pg.comm.Barrier(), None, async_op)


def _check_rank(name: str, what: str, r, size: int) -> None:
    if not isinstance(r, int) or isinstance(r, bool) or not 0 <= r < size:
        raise ValueError(f"{name}: {what}={r!r} is not a rank of a group of {size}")


__all__ = [
    "ReduceOp",
    "Work",
    "all_gather",
    "all_gather_into_tensor",
    "all_reduce",
    "barrier",
    "broadcast",
    "recv",
    "reduce_scatter",
    "reduce_scatter_tensor",
    "send",
]
