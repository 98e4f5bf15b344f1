"""PyTorch's legacy tensor constructors: ``ember.Tensor([1, 2])`` / ``ember.Tensor(2, 3)`` and
the typed classes ``FloatTensor``, ``LongTensor``, ... (``isinstance(x, ember.FloatTensor)`` is a
dtype check, as in PyTorch)."""

from __future__ import annotations

import numbers

from . import _C
from ._C import Tensor

__all__ = [
    "BFloat16Tensor",
    "BoolTensor",
    "ByteTensor",
    "DoubleTensor",
    "FloatTensor",
    "HalfTensor",
    "IntTensor",
    "LongTensor",
]


def _is_sizes(args) -> bool:
    # ints are sizes; a list or tuple is data (ember.Size is a plain tuple, so (2, 3) is data)
    return all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in args)


def _legacy_new(dtype, args, kwargs, who: str) -> Tensor:
    """``Cls()`` empty; ``Cls(2, 3)`` uninitialized of that size; ``Cls(data)`` a copy of a
    list / tuple / array (a tensor of another dtype is converted) in ``dtype``."""
    from ._creation import empty, tensor
    from ._device import check_device

    device = kwargs.pop("device", None)
    if kwargs:
        raise TypeError(f"{who}: unexpected keyword arguments {sorted(kwargs)}")
    check_device(device, who)
    if not args:
        return empty(0, dtype=dtype)
    if _is_sizes(args):
        if any(int(s) < 0 for s in args):
            raise RuntimeError(f"{who}: negative size in {list(args)}")
        return empty(*[int(s) for s in args], dtype=dtype)
    if len(args) != 1:
        raise TypeError(
            f"{who}: expected sizes (ints) or one sequence / array / tensor of data, got {args!r}"
        )
    data = args[0]
    if isinstance(data, Tensor):
        return data.detach().clone()._to_dtype(dtype) if data.dtype != dtype else data.detach()
    return tensor(data, dtype=dtype)


def legacy_tensor(*args, **kwargs) -> Tensor:
    """``ember.Tensor(...)`` with anything but one tensor (the C++ constructor calls this)."""
    return _legacy_new(_C.get_default_dtype(), list(args), dict(kwargs), "ember.Tensor")


class _LegacyTensorType(type):
    """``isinstance(x, ember.FloatTensor)``: x is a tensor of that dtype."""

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype

    def __subclasscheck__(cls, sub) -> bool:
        return sub is cls


def _make(name: str, dtype) -> type:
    def __new__(cls, *args, **kwargs):
        return _legacy_new(dtype, list(args), dict(kwargs), f"ember.{name}")

    doc = (
        f"``ember.{name}(data)`` / ``ember.{name}(*sizes)``: a {dtype} tensor (legacy constructor)."
    )
    return _LegacyTensorType(name, (), {"__new__": __new__, "dtype": dtype, "__doc__": doc})


FloatTensor = _make("FloatTensor", _C.float32)
DoubleTensor = _make("DoubleTensor", _C.float64)
HalfTensor = _make("HalfTensor", _C.float16)
BFloat16Tensor = _make("BFloat16Tensor", _C.bfloat16)
LongTensor = _make("LongTensor", _C.int64)
IntTensor = _make("IntTensor", _C.int32)
ByteTensor = _make("ByteTensor", _C.uint8)
BoolTensor = _make("BoolTensor", _C.bool)
