"""ember.data: datasets, samplers and the DataLoader (``torch.utils.data``'s API).

Example::

    from ember.data import DataLoader
    from ember.data.datasets import MNIST

    train = MNIST(train=True, normalize=True, flatten=True)  # looks in root, $EMBER_DATA_DIR, ~/.cache/ember
    loader = DataLoader(train, batch_size=128, shuffle=True, generator=ember.Generator().manual_seed(0))
    for x, y in loader:  # x: (128, 784) float32, y: (128,) int64
        ...
"""

from . import transforms
from ._worker import WorkerInfo, get_worker_info
from .dataloader import DataLoader, default_collate, default_convert
from .dataset import ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from .distributed import DistributedSampler
from .sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)


def __getattr__(name):
    # `datasets` reads files and knows download URLs: import it on first use only
    if name == "datasets":
        import importlib

        return importlib.import_module(".datasets", __name__)
    raise AttributeError(f"module 'ember.data' has no attribute '{name}'")


__all__ = [
    "BatchSampler",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "DistributedSampler",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "datasets",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "WorkerInfo",
    "random_split",
    "transforms",
]
