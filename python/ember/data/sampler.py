"""Samplers: which dataset indices a DataLoader visits, and in what order.

Random samplers draw from an ``ember.Generator``. Without one, each epoch seeds a fresh
generator from the default generator, so ``ember.manual_seed(s)`` makes the whole
shuffling sequence reproducible (PyTorch's rule). Permutations are drawn when iteration
starts; draws with replacement are made lazily, a block at a time, so ``num_samples`` can be
huge.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Generic, TypeVar

from .. import _C

T_co = TypeVar("T_co", covariant=True)

__all__ = [
    "BatchSampler",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
]


def _epoch_generator(generator):
    """The generator for one epoch: the given one, or a fresh one seeded from the default."""
    if generator is not None:
        return generator
    from .._creation import randint

    seed = int(randint(0, 2**62, (1,)).item())
    g = _C.Generator()
    g.manual_seed(seed)
    return g


def _check_generator(generator, who):
    if generator is not None and not isinstance(generator, _C.Generator):
        raise TypeError(
            f"{who}: generator must be an ember.Generator, got {type(generator).__name__}"
        )


class Sampler(Generic[T_co]):
    """Base class: subclasses define ``__iter__`` (yielding indices) and usually ``__len__``."""

    def __init__(self, data_source: Sized | None = None) -> None:  # noqa: B027
        pass

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")


class SequentialSampler(Sampler[int]):
    """Indices ``0, 1, ..., len(data_source) - 1`` in order."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler[int]):
    """A random permutation of the indices, or ``num_samples`` draws with replacement.

    Args:
        data_source: the dataset (only its length is used).
        replacement: draw with replacement.
        num_samples: how many indices per epoch (default ``len(data_source)``).
        generator: an ``ember.Generator`` (default: seeded from the default generator each epoch).
    """

    def __init__(
        self,
        data_source: Sized,
        replacement: bool = False,
        num_samples: int | None = None,
        generator=None,
    ):
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement should be a boolean, got {replacement!r}")
        _check_generator(generator, "RandomSampler")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if (
            not isinstance(self.num_samples, numbers.Integral)
            or isinstance(self.num_samples, bool)
            or self.num_samples <= 0
        ):
            raise ValueError(
                f"RandomSampler: num_samples should be a positive integer, got {self.num_samples!r}"
            )

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        # not a generator function: the random draw happens now, in the caller's thread
        from .._creation import randperm

        n = len(self.data_source)
        g = _epoch_generator(self.generator)
        if self.replacement:
            return self._draws(n, g)
        out: list[int] = []
        for _ in range(self.num_samples // n):
            out += randperm(n, generator=g).tolist()
        out += randperm(n, generator=g).tolist()[: self.num_samples % n]
        return iter(out)

    def _draws(self, n: int, g) -> Iterator[int]:
        from .._creation import randint

        left = self.num_samples
        while left > 0:
            k = min(left, self._BLOCK)
            yield from randint(0, n, (k,), generator=g).tolist()
            left -= k

    _BLOCK = 4096  # indices drawn per call with replacement

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler[int]):
    """The given indices in a random order (a fresh order each epoch)."""

    def __init__(self, indices: Sequence[int], generator=None) -> None:
        _check_generator(generator, "SubsetRandomSampler")
        self.indices = list(indices)
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        from .._creation import randperm

        perm = randperm(len(self.indices), generator=_epoch_generator(self.generator)).tolist()
        return iter([self.indices[i] for i in perm])

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler[int]):
    """``num_samples`` indices drawn with probabilities proportional to ``weights``."""

    def __init__(
        self, weights: Sequence[float], num_samples: int, replacement: bool = True, generator=None
    ):
        import numpy as np

        if (
            not isinstance(num_samples, numbers.Integral)
            or isinstance(num_samples, bool)
            or num_samples <= 0
        ):
            raise ValueError(
                f"WeightedRandomSampler: num_samples should be a positive integer, got {num_samples!r}"
            )
        _check_generator(generator, "WeightedRandomSampler")
        w = np.asarray(
            weights.tolist() if hasattr(weights, "tolist") else weights, dtype=np.float64
        ).reshape(-1)
        if w.size == 0 or np.any(w < 0) or not np.all(np.isfinite(w)) or w.sum() <= 0:
            raise ValueError(
                "WeightedRandomSampler: weights must be finite, non-negative and not all zero"
            )
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(
                "WeightedRandomSampler: num_samples exceeds the number of non-zero weights without replacement"
            )
        self.weights = w
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        from .._creation import rand

        g = _epoch_generator(self.generator)
        if self.replacement:
            import numpy as np

            cdf = np.cumsum(self.weights)
            u = rand(self.num_samples, dtype=_C.float64, generator=g).numpy() * cdf[-1]
            return iter(np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1).tolist())
        # without replacement: Gumbel-top-k over log weights (exponential-race form)
        import numpy as np

        u = rand(len(self.weights), dtype=_C.float64, generator=g).numpy()
        with np.errstate(divide="ignore"):
            keys = np.log(np.maximum(u, 1e-300)) / self.weights
        return iter(np.argsort(-keys, kind="stable")[: self.num_samples].tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler[list[int]]):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter
    unless ``drop_last``)."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        if (
            not isinstance(batch_size, numbers.Integral)
            or isinstance(batch_size, bool)
            or batch_size <= 0
        ):
            raise ValueError(
                f"BatchSampler: batch_size should be a positive integer, got {batch_size!r}"
            )
        if not isinstance(drop_last, bool):
            raise ValueError(f"BatchSampler: drop_last should be a boolean, got {drop_last!r}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        return self._batches(iter(self.sampler))  # iter() now: the sampler draws its order here

    def _batches(self, it):
        bs = self.batch_size
        batch: list[int] = []
        for i in it:
            batch.append(i)
            if len(batch) == bs:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return (
            n // self.batch_size if self.drop_last else (n + self.batch_size - 1) // self.batch_size
        )
