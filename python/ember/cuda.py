"""``ember.cuda``: what PyTorch scripts ask about CUDA. ember has no CUDA backend, so nothing is
available; the seeding functions seed ember's generator so ``torch.cuda.manual_seed_all(s)``
lines keep their effect after a port."""

from __future__ import annotations

__all__ = [
    "current_device",
    "device_count",
    "empty_cache",
    "is_available",
    "is_bf16_supported",
    "is_initialized",
    "manual_seed",
    "manual_seed_all",
    "seed",
    "seed_all",
    "synchronize",
]


def is_available() -> bool:
    """False: this ember has no CUDA backend."""
    return False


def is_initialized() -> bool:
    return False


def device_count() -> int:
    """0: no CUDA devices."""
    return 0


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """False: there is no CUDA device to run bfloat16 on."""
    return False


def current_device() -> int:
    raise RuntimeError("ember.cuda.current_device: ember has no CUDA backend (no CUDA devices)")


def manual_seed(seed: int) -> None:
    """Seeds ember's default generator (the only one there is)."""
    from ._creation import manual_seed as _manual_seed

    _manual_seed(seed)


manual_seed_all = manual_seed


def seed() -> None:
    from ._creation import seed as _seed

    _seed()


seed_all = seed


def synchronize(device=None) -> None:
    """No-op: there is no CUDA stream to wait for."""


def empty_cache() -> None:
    """No-op: there is no CUDA memory cache."""
