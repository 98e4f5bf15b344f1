"""Flatten and Unflatten."""

from __future__ import annotations

from ..._C import Tensor
from .module import Module


class Flatten(Module):
    """Flatten dims ``start_dim..end_dim`` into one. Shape: [N, *dims] -> [N, prod(dims)] by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size``. Shape: [*, prod(sizes), *] -> [*, *sizes, *]."""

    def __init__(self, dim: int, unflattened_size) -> None:
        super().__init__()
        if isinstance(unflattened_size, int):
            raise TypeError("unflattened_size must be a tuple of ints")
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        return input.unflatten(self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
