"""ember.distributed: processes started by ``mpirun`` working together (``torch.distributed``'s
API on MPI through mpi4py).

Example (``mpirun -n 2 python script.py``)::

    import ember
    import ember.distributed as dist

    dist.init_process_group(backend="mpi")
    t = ember.ones(4) * dist.get_rank()
    dist.all_reduce(t)  # in place: every rank now holds 0 + 1 = [1, 1, 1, 1]

Collectives work on the tensors' own memory (no copies) and must be called in the same order,
with the same shapes and dtypes, on every rank. See ``ember.nn.parallel.DistributedDataParallel``
and ``ember.data.DistributedSampler`` for data-parallel training.
"""

from ._collectives import (
    ReduceOp,
    all_gather,
    all_gather_into_tensor,
    all_reduce,
    barrier,
    broadcast,
    recv,
    reduce_scatter,
    reduce_scatter_tensor,
    send,
)
from ._process_group import (
    Work,
    destroy_process_group,
    get_backend,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_initialized,
    is_mpi_available,
)

__all__ = [
    "ReduceOp",
    "Work",
    "all_gather",
    "all_gather_into_tensor",
    "all_reduce",
    "barrier",
    "broadcast",
    "destroy_process_group",
    "get_backend",
    "get_rank",
    "get_world_size",
    "init_process_group",
    "is_available",
    "is_initialized",
    "is_mpi_available",
    "recv",
    "reduce_scatter",
    "reduce_scatter_tensor",
    "send",
]
