"""Small torchvision-style transforms for the built-in datasets (they operate on ember tensors).

Example::

    t = Compose([Normalize((0.1307,), (0.3081,)), Flatten()])
    MNIST(transform=t)  # items: (784,) standardized float32
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .. import _C
from .._C import Tensor

__all__ = ["Compose", "Flatten", "Lambda", "Normalize", "ToTensor"]


class Compose:
    """Apply transforms one after another."""

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"Compose({inner}\n)"


class Lambda:
    """Wrap a function as a transform."""

    def __init__(self, fn: Callable) -> None:
        if not callable(fn):
            raise TypeError(f"Lambda: argument should be callable, got {type(fn).__name__}")
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)

    def __repr__(self) -> str:
        return "Lambda()"


class ToTensor:
    """uint8 image (NumPy ``(H, W)`` / ``(H, W, C)`` array, or a uint8 tensor) -> float32 tensor
    ``(C, H, W)`` in [0, 1]. Float inputs are converted without rescaling."""

    def __call__(self, pic):
        from .._creation import tensor

        if isinstance(pic, np.ndarray):
            a = pic
            if a.ndim == 2:
                a = a[None]
            elif a.ndim == 3:
                a = a.transpose(2, 0, 1)
            else:
                raise ValueError(
                    f"ToTensor: expected a 2-d or 3-d image array, got shape {pic.shape}"
                )
            t = tensor(np.ascontiguousarray(a))
        elif isinstance(pic, Tensor):
            t = pic.unsqueeze(0) if pic.ndim == 2 else pic
        else:
            raise TypeError(f"ToTensor: expected an ndarray or tensor, got {type(pic).__name__}")
        if t.dtype == _C.uint8:
            return t.float() / 255.0
        return t.float() if not t.is_floating_point() else t

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """``(x - mean) / std`` per channel (dimension ``-3``, or the only dimension for flat input)."""

    def __init__(self, mean, std) -> None:
        self.mean = [float(m) for m in np.atleast_1d(mean)]
        self.std = [float(s) for s in np.atleast_1d(std)]
        if len(self.mean) != len(self.std):
            raise ValueError(
                f"Normalize: mean and std lengths differ ({len(self.mean)} vs {len(self.std)})"
            )
        if any(s == 0 for s in self.std):
            raise ValueError(
                f"Normalize: std evaluated to zero ({self.std}), leading to division by zero"
            )

    def __call__(self, x: Tensor) -> Tensor:
        from .._creation import tensor

        if len(self.mean) == 1:
            return (x - self.mean[0]) / self.std[0]
        if x.ndim < 3:
            raise ValueError(
                f"Normalize: per-channel stats need a (..., C, H, W) tensor, got shape {tuple(x.shape)}"
            )
        m = tensor(self.mean, dtype=x.dtype).reshape(-1, 1, 1)
        s = tensor(self.std, dtype=x.dtype).reshape(-1, 1, 1)
        return (x - m) / s

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class Flatten:
    """Flatten an item to 1-d (e.g. a ``(1, 28, 28)`` image to ``(784,)``)."""

    def __call__(self, x: Tensor) -> Tensor:
        return x.reshape(-1)

    def __repr__(self) -> str:
        return "Flatten()"
