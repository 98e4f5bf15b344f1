"""Map-style and iterable datasets, the way ``torch.utils.data`` defines them.

A map-style dataset has ``__getitem__(i)`` and ``__len__``. It may also define
``__getbatch__(indices)`` returning an already collated batch; the DataLoader then fetches a
whole batch with one call (a single ``index_select`` per tensor) instead of collating items.
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar

import numpy as np

from .. import _C
from .._C import Tensor

T_co = TypeVar("T_co", covariant=True)

__all__ = [
    "ConcatDataset",
    "Dataset",
    "IterableDataset",
    "Subset",
    "TensorDataset",
    "random_split",
]


class Dataset(Generic[T_co]):
    """Base class of map-style datasets: subclasses define ``__getitem__`` and ``__len__``.

    ``ds1 + ds2`` concatenates two datasets (a :class:`ConcatDataset`).
    """

    def __getitem__(self, index) -> T_co:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset[T_co]):
    """Base class of stream-style datasets: subclasses define ``__iter__``.

    The DataLoader groups consecutive items into batches; shuffling and samplers do not apply.
    """

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __add__(self, other):
        raise TypeError("IterableDataset does not support '+' (use itertools.chain)")


def _as_index_tensor(indices) -> Tensor:
    """A 1-d int64 index tensor from a list of ints (or a tensor)."""
    if isinstance(indices, Tensor):
        return indices if indices.dtype == _C.int64 else indices.long()
    from .._creation import from_numpy

    return from_numpy(np.asarray(indices, dtype=np.int64).reshape(-1))


class TensorDataset(Dataset):
    """Wraps tensors (or NumPy arrays) that share their first dimension; item ``i`` is the tuple
    ``(t[i] for t in tensors)``.

    Args:
        *tensors: ember tensors or NumPy arrays with the same size of dimension 0.

    Shape:
        item: ``tuple(t.shape[1:] for t in tensors)``; a batch of ``B`` indices gives
        ``tuple((B, *t.shape[1:]) for t in tensors)``.
    """

    def __init__(self, *tensors) -> None:
        if not tensors:
            raise ValueError("TensorDataset: needs at least one tensor")
        from .._creation import as_tensor

        ts = []
        for i, t in enumerate(tensors):
            if isinstance(t, np.ndarray):
                t = as_tensor(np.ascontiguousarray(t))
            if not isinstance(t, Tensor):
                raise TypeError(
                    f"TensorDataset: argument {i} is a {type(t).__name__}, expected a tensor or ndarray"
                )
            if t.ndim == 0:
                raise ValueError(
                    f"TensorDataset: argument {i} is a 0-d tensor; it needs a first (sample) dimension"
                )
            ts.append(t)
        n = ts[0].shape[0]
        bad = [tuple(t.shape) for t in ts if t.shape[0] != n]
        if bad:
            raise ValueError(
                f"TensorDataset: size mismatch between tensors: first dimensions "
                f"{[t.shape[0] for t in ts]} (shapes {[tuple(t.shape) for t in ts]})"
            )
        self.tensors = tuple(ts)

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __getbatch__(self, indices):
        idx = _as_index_tensor(indices)
        return tuple(t.index_select(0, idx) for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class Subset(Dataset[T_co]):
    """The items of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Dataset[T_co], indices: Sequence[int]) -> None:
        self.dataset = dataset
        if isinstance(indices, Tensor):
            indices = indices.tolist()
        self.indices = [int(i) for i in indices]

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list[int]) -> list:
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getattr__(self, name):
        # only called when normal lookup fails: forward __getbatch__ when the base has it
        if name == "__getbatch__" and hasattr(self.__dict__.get("dataset"), "__getbatch__"):
            base = self.dataset
            return lambda indices: base.__getbatch__([self.indices[i] for i in indices])
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")


class ConcatDataset(Dataset[T_co]):
    """The concatenation of several map-style datasets."""

    def __init__(self, datasets) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]).tolist())

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        n = len(self)
        if idx < 0:
            if -idx > n:
                raise IndexError(f"ConcatDataset: index {idx} out of range for length {n}")
            idx += n
        if idx >= n:
            raise IndexError(f"ConcatDataset: index {idx} out of range for length {n}")
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        start = 0 if d == 0 else self.cumulative_sizes[d - 1]
        return self.datasets[d][idx - start]


def random_split(dataset: Dataset, lengths: Sequence[int | float], generator=None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths.

    ``lengths`` may be counts summing to ``len(dataset)`` or fractions summing to 1 (the
    remainder after flooring goes round-robin to the first subsets, as in PyTorch).
    Use ``generator=ember.Generator().manual_seed(s)`` for a reproducible split.
    """
    from .._creation import randperm

    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths must not be empty")
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        if any(x < 0 or x > 1 for x in lengths):
            raise ValueError(f"random_split: fractions must be in [0, 1], got {lengths}")
        if not math.isclose(sum(lengths), 1.0, abs_tol=1e-6):
            raise ValueError(
                f"random_split: fractions must sum to 1, got {lengths} (sum {sum(lengths)})"
            )
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, c in enumerate(counts):
            if c == 0:
                warnings.warn(f"random_split: length of split at index {i} is 0", stacklevel=2)
        lengths = counts
    if any(int(x) != x or x < 0 for x in lengths):
        raise ValueError(
            f"random_split: lengths must be non-negative ints or fractions, got {lengths}"
        )
    lengths = [int(x) for x in lengths]
    if sum(lengths) != n:
        raise ValueError(
            f"random_split: sum of input lengths ({sum(lengths)}) does not equal the length of the dataset ({n})"
        )
    perm = randperm(n, generator=generator).tolist()
    out, offset = [], 0
    for length in lengths:
        out.append(Subset(dataset, perm[offset : offset + length]))
        offset += length
    return out
