"""DataLoader: batches from a dataset, with shuffling, samplers, collation and optional
worker processes (``_worker.py``)."""

from __future__ import annotations

import collections.abc
import numbers
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from .. import _C
from .._C import Tensor
from .dataset import Dataset, IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "default_collate", "default_convert"]

_NP_OK = {np.dtype(t) for t in ("bool", "uint8", "int32", "int64", "float16", "float32", "float64")}


def _np_to_tensor(a: np.ndarray) -> Tensor:
    from .._creation import from_numpy

    if a.dtype.kind in "USOVM":
        raise TypeError(
            f"default_collate: can't make a tensor from a NumPy array of dtype {a.dtype}"
        )
    if a.dtype not in _NP_OK:
        # ember has no int8/int16/uint16/uint32/...: widen to the nearest supported dtype
        if a.dtype.kind in "iu":
            a = a.astype(np.int64)
        elif a.dtype.kind == "f":
            a = a.astype(np.float64 if a.dtype.itemsize > 4 else np.float32)
        else:
            raise TypeError(f"default_collate: NumPy dtype {a.dtype} is not supported")
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return from_numpy(np.ascontiguousarray(a))


def default_convert(data: Any) -> Any:
    """What the DataLoader returns per item when batching is off (``batch_size=None``):
    NumPy arrays become tensors, containers are converted element-wise, the rest is unchanged."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return data if data.dtype.kind in "USOV" else _np_to_tensor(data)
    if isinstance(data, np.generic) and data.dtype.kind in "biuf":
        return _np_to_tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(default_convert(d) for d in data)
    return data


def _describe(x: Any) -> str:
    if isinstance(x, Tensor):
        return f"Tensor(shape={tuple(x.shape)}, dtype={x.dtype})"
    if isinstance(x, np.ndarray):
        return f"ndarray(shape={x.shape}, dtype={x.dtype})"
    return type(x).__name__


def default_collate(batch: list) -> Any:
    """Stack a list of samples into a batch, like PyTorch's ``default_collate``.

    - ember tensors -> ``ember.stack`` (new leading batch dimension); NumPy arrays and NumPy
      scalars -> stacked, then a tensor of the same dtype (ember has no int16/uint16: those widen)
    - Python floats -> float64 tensor, ints -> int64 tensor, bools -> bool tensor (PyTorch's rule)
    - str / bytes -> the list unchanged
    - dicts -> dict of collated values; tuples / lists / namedtuples -> the same container of
      collated fields (each sample must have the same length)

    Shape:
        a list of ``B`` samples whose tensors have shape ``S`` -> tensors of shape ``(B, *S)``.
    """
    if not isinstance(batch, (list, tuple)) or len(batch) == 0:
        raise ValueError("default_collate: expected a non-empty list of samples")
    elem = batch[0]
    if isinstance(elem, Tensor):
        shapes = {tuple(b.shape) if isinstance(b, Tensor) else None for b in batch}
        if len(shapes) != 1 or None in shapes:
            raise RuntimeError(
                "default_collate: stack expects each tensor to be equal size, got "
                + ", ".join(sorted({_describe(b) for b in batch}))
            )
        return _C.stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "USOV":
            raise TypeError(
                f"default_collate: batch of NumPy arrays of dtype {elem.dtype} (strings/objects) can't be collated"
            )
        try:
            return _np_to_tensor(np.stack(batch))
        except ValueError as e:
            raise RuntimeError(
                "default_collate: stack expects each array to be equal size, got "
                + ", ".join(sorted({_describe(b) for b in batch}))
            ) from e
    if isinstance(elem, np.generic):
        if elem.dtype.kind in "USOV":
            return list(batch)
        return _np_to_tensor(np.asarray(batch))
    if isinstance(elem, bool):
        return _np_to_tensor(np.asarray(batch, dtype=np.bool_))
    if isinstance(elem, numbers.Integral):
        return _np_to_tensor(np.asarray(batch, dtype=np.int64))
    if isinstance(elem, numbers.Real):
        return _np_to_tensor(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        keys = list(elem.keys())
        for i, b in enumerate(batch):
            if not isinstance(b, collections.abc.Mapping) or set(b.keys()) != set(keys):
                raise RuntimeError(
                    f"default_collate: sample {i} has keys {sorted(map(str, getattr(b, 'keys', lambda: [])()))}, "
                    f"expected {sorted(map(str, keys))} like sample 0"
                )
        return {k: default_collate([b[k] for b in batch]) for k in keys}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        n = len(elem)
        if any(len(b) != n for b in batch):
            raise RuntimeError(
                "default_collate: each element in list of batch should be of equal size"
            )
        fields = [default_collate(list(s)) for s in zip(*batch)]
        return tuple(fields) if isinstance(elem, tuple) else fields
    raise TypeError(
        f"default_collate: batch must contain tensors, NumPy arrays, numbers, dicts or lists; found {type(elem).__name__}"
    )


def _positive_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool) and x > 0


class DataLoader:
    """Iterates over a dataset in batches.

    Args:
        dataset: a map-style :class:`Dataset` (``__getitem__`` + ``__len__``) or an
            :class:`IterableDataset`.
        batch_size: samples per batch (a positive int), or ``None`` to return single samples.
        shuffle: visit the samples in a new random order every epoch.
        sampler: an iterable of indices (excludes ``shuffle``).
        batch_sampler: an iterable of index lists (excludes ``batch_size``, ``shuffle``,
            ``sampler``, ``drop_last``).
        num_workers: ``0`` loads in the calling process; ``> 0`` starts that many worker
            processes, which keep ``num_workers * prefetch_factor`` batches in flight. Batches
            come back in sampler order; worker ``i`` is seeded with ``base_seed + i``
            (:func:`get_worker_info` tells a worker who it is); an error in a worker is raised
            here, naming the worker.
        collate_fn: merges a list of samples into a batch (default :func:`default_collate`).
        drop_last: drop the last incomplete batch.
        generator: ``ember.Generator`` for the shuffle order. Without it each epoch draws a seed
            from the default generator, so ``ember.manual_seed`` makes runs repeatable.
        prefetch_factor: batches per worker kept in flight (default 2 when ``num_workers > 0``).
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker after seeding.
        persistent_workers: keep the worker processes alive between epochs.
        timeout: seconds to wait for a batch from the workers (0 = no limit).
        multiprocessing_context: ``"fork"``, ``"spawn"``, ``"forkserver"`` or a context
            (default fork where available: the workers share the dataset without pickling).
        pin_memory, pin_memory_device: accepted (CPU memory needs no pinning here).
        in_order: accepted; batches always come back in sampler order.

    Datasets with ``__getbatch__(indices)`` (TensorDataset, the built-in datasets) are fetched a
    whole batch at a time when the default collate_fn is used.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler | Iterable | None = None,
        batch_sampler: Sampler | Iterable | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[list], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        generator=None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        multiprocessing_context=None,
        pin_memory_device: str = "",
        in_order: bool = True,
    ) -> None:
        if batch_size is not None and not _positive_int(batch_size):
            raise ValueError(
                f"DataLoader: batch_size should be a positive integer or None, got {batch_size!r}"
            )
        if not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError(
                f"DataLoader: num_workers should be a non-negative integer, got {num_workers!r}"
            )
        if prefetch_factor is not None and (num_workers == 0 or not _positive_int(prefetch_factor)):
            raise ValueError(
                "DataLoader: prefetch_factor needs num_workers > 0 and must be a positive integer, "
                f"got prefetch_factor={prefetch_factor!r}, num_workers={num_workers}"
            )
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout should be non-negative, got {timeout!r}")
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        if generator is not None and not isinstance(generator, _C.Generator):
            raise TypeError(
                f"DataLoader: generator must be an ember.Generator, got {type(generator).__name__}"
            )

        self.dataset = dataset
        self.num_workers = int(num_workers)
        self.prefetch_factor = (
            prefetch_factor if prefetch_factor is not None else (2 if num_workers else None)
        )
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.persistent_workers = persistent_workers
        self.generator = generator
        self._iterable = isinstance(dataset, IterableDataset)

        if self._iterable:
            if shuffle:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified shuffle option, got shuffle=True"
                )
            if sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified sampler option"
                )
            if batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified batch_sampler option"
                )
        else:
            if not hasattr(dataset, "__getitem__"):
                raise TypeError(
                    f"DataLoader: dataset must be a Dataset (with __getitem__), got {type(dataset).__name__}"
                )
            if sampler is not None and shuffle:
                raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
            if batch_sampler is not None:
                if batch_size != 1 or shuffle or sampler is not None or drop_last:
                    raise ValueError(
                        "DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last"
                    )
                batch_size = None
                drop_last = False
            elif batch_size is None and drop_last:
                raise ValueError(
                    "DataLoader: batch_size=None option disables auto-batching and is mutually exclusive with drop_last"
                )
            if sampler is None:
                sampler = (
                    RandomSampler(dataset, generator=generator)
                    if shuffle
                    else SequentialSampler(dataset)
                )
            if batch_size is not None and batch_sampler is None:
                batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self._auto_collation = batch_sampler is not None or (
            self._iterable and batch_size is not None
        )
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.multiprocessing_context = multiprocessing_context
        self._fetcher = _Fetcher(
            dataset, collate_fn, self._auto_collation, batch_size, drop_last, self._iterable
        )
        self._persistent_iter = None

    # ------------------------------------------------------------------ iteration

    def _task_source(self):
        """What each batch is made from: index lists (auto-collation), single indices, or None
        for an IterableDataset. The shuffle order is drawn here, in the calling thread."""
        if self._fetcher.iterable:
            return None
        return iter(self.batch_sampler) if self._auto_collation else iter(self.sampler)

    def __iter__(self) -> Iterator[Any]:
        if self.num_workers == 0:
            if self._fetcher.iterable:
                return self._fetcher.stream()
            return map(self._fetcher.fetch, self._task_source())
        from ._worker import _MultiProcessIter

        it = self._persistent_iter
        if it is not None:
            if it.finished:
                return it.reset()
            it.close()  # left mid-epoch: start afresh
        return _MultiProcessIter(self)

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)  # TypeError if the IterableDataset has no __len__
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)

    def __repr__(self) -> str:
        return (
            f"DataLoader(dataset={type(self.dataset).__name__}(len={len(self.dataset) if hasattr(self.dataset, '__len__') else '?'}), "
            f"batch_size={self.batch_size}, drop_last={self.drop_last}, num_workers={self.num_workers})"
        )


class _Fetcher:
    """Turns what the sampler yields into batches; picklable, so worker processes get a copy."""

    def __init__(self, dataset, collate_fn, auto_collation, batch_size, drop_last, iterable):
        self.dataset = dataset
        self.collate_fn = collate_fn
        self.auto_collation = auto_collation
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.iterable = iterable

    def fetch(self, indices):
        ds, collate = self.dataset, self.collate_fn
        if not self.auto_collation:
            return collate(ds[indices])
        getbatch = getattr(ds, "__getbatch__", None) if collate is default_collate else None
        if getbatch is not None:
            return getbatch(indices)
        getitems = getattr(ds, "__getitems__", None)
        if getitems is not None:
            return collate(getitems(indices))
        return collate([ds[i] for i in indices])

    def stream(self):
        it = iter(self.dataset)
        if self.batch_size is None:
            for x in it:
                yield self.collate_fn(x)
            return
        buf = []
        for x in it:
            buf.append(x)
            if len(buf) == self.batch_size:
                yield self.collate_fn(buf)
                buf = []
        if buf and not self.drop_last:
            yield self.collate_fn(buf)
