"""ember.nn.parallel: data-parallel training across MPI ranks (see ``ember.distributed``)."""

from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
