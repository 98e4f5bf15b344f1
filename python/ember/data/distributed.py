"""DistributedSampler: each rank of a data-parallel job reads its own shard of the dataset."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Sized

from .. import _C
from .sampler import Sampler

__all__ = ["DistributedSampler"]


def _int_arg(name: str, v) -> int:
    if not isinstance(v, numbers.Integral) or isinstance(v, bool):
        raise TypeError(f"DistributedSampler: {name} must be an int, got {v!r}")
    return int(v)


class DistributedSampler(Sampler[int]):
    """The indices of one rank's shard: rank ``r`` of ``R`` takes every ``R``-th index of a
    (shuffled) order starting at ``r``, so the ranks together visit each sample once per epoch.

    The order is a permutation seeded with ``seed + epoch``, the same on every rank; call
    :meth:`set_epoch` at the start of each epoch for a new order (the Trainer does). When the
    dataset size is not a multiple of ``R``, the order is padded with its first indices so every
    rank gets the same number of samples (``drop_last=True`` drops the tail instead).

    Args:
        dataset: the dataset (only its length is used).
        num_replicas: number of ranks (default: ``ember.distributed.get_world_size()``).
        rank: this rank (default: ``ember.distributed.get_rank()``).
        shuffle: shuffle the indices each epoch.
        seed: base seed of the shuffle (must be the same on every rank).
        drop_last: drop the tail instead of padding.

    Example::

        sampler = DistributedSampler(train_set, shuffle=True, seed=0)
        loader = DataLoader(train_set, batch_size=64, sampler=sampler)
        for epoch in range(epochs):
            sampler.set_epoch(epoch)
            for x, y in loader: ...
    """

    def __init__(
        self,
        dataset: Sized,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if num_replicas is None or rank is None:
            from .. import distributed as dist

            if not dist.is_initialized():
                raise RuntimeError(
                    "DistributedSampler: pass num_replicas and rank, or call "
                    "ember.distributed.init_process_group() first"
                )
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        num_replicas, rank = _int_arg("num_replicas", num_replicas), _int_arg("rank", rank)
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(
                f"DistributedSampler: invalid rank {rank}, rank should be in the interval "
                f"[0, {num_replicas - 1}]"
            )
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.shuffle = bool(shuffle)
        self.seed = _int_arg("seed", seed)
        self.drop_last = bool(drop_last)
        n = len(dataset)
        if self.drop_last and n % num_replicas:
            self.num_samples = n // num_replicas
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            from .._creation import randperm

            g = _C.Generator()
            g.manual_seed(self.seed + self.epoch)
            indices = randperm(n, generator=g).tolist()
        else:
            indices = list(range(n))
        if self.total_size > n:  # pad with the first indices (repeated if the set is tiny)
            pad = self.total_size - n
            indices += (indices * math.ceil(pad / max(n, 1)))[:pad]
        else:
            indices = indices[: self.total_size]
        return iter(indices[self.rank : self.total_size : self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s order (call before iterating, with the same value on every rank)."""
        self.epoch = _int_arg("epoch", epoch)
