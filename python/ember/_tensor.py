"""Tensor methods written in Python: printing, conversions, NumPy/DLPack protocols and the
small conveniences (``to``, ``float()``, ``new_zeros``, ``backward``, ...)."""

import builtins
import math

import numpy as np

from . import _C
from ._C import Tensor

_DTYPE_NAMES = {
    "float": _C.float32,
    "double": _C.float64,
    "half": _C.float16,
    "bfloat16": _C.bfloat16,
    "long": _C.int64,
    "int": _C.int32,
    "bool": _C.bool,
    "byte": _C.uint8,
}


# ---------------------------------------------------------------- printing

_THRESHOLD = 1000
_EDGE = 3
_LINEWIDTH = 80


def _np_values(t):
    t = t.detach()
    if t.device.type != "cpu":  # a host copy (synchronizes), not a device kernel
        t = _C._to_device(t, "cpu")
    if t.dtype == _C.bfloat16:
        t = t._to_dtype(_C.float32)
    return t.numpy()


class _Formatter:
    """Chooses one width and style for all printed values, like PyTorch's printer."""

    def __init__(self, values, dtype):
        self.floating = dtype.is_floating_point
        self.bool = dtype == _C.bool
        self.int_mode = True
        self.sci_mode = False
        if self.floating:
            finite = values[np.isfinite(values)]
            nz = np.abs(finite[finite != 0])
            if nz.size:
                self.int_mode = bool(np.all(nz == np.ceil(nz)))
                mx, mn = nz.max(), nz.min()
                if self.int_mode:
                    self.sci_mode = mx / mn > 1000.0 or mx > 1.0e8
                else:
                    self.sci_mode = mx / mn > 1000.0 or mx > 1.0e8 or mn < 1.0e-4
        self.width = builtins.max([len(self.raw(v)) for v in values.reshape(-1)] or [1])

    def raw(self, v):
        if self.bool:
            return str(builtins.bool(v))
        if not self.floating:
            return str(builtins.int(v))
        if not math.isfinite(v):
            return str(builtins.float(v)).replace("inf", "inf")
        if self.sci_mode:
            return f"{v:.4e}"
        if self.int_mode:
            return f"{v:.0f}."
        return f"{v:.4f}"

    def __call__(self, v):
        return self.raw(v).rjust(self.width)


def _summarize(arr):
    """Keep the first/last few entries of every dim of a large array (for the formatter)."""
    if arr.ndim == 0:
        return arr
    if arr.shape[0] > 2 * _EDGE:
        arr = np.concatenate([arr[:_EDGE], arr[-_EDGE:]])
    return np.stack([_summarize(a) for a in arr]) if arr.ndim > 1 else arr


def _format_block(arr, fmt, indent, summarize):
    if arr.ndim == 0:
        return fmt(arr.item())
    n = arr.shape[0]
    idx = list(range(n))
    if summarize and n > 2 * _EDGE:
        idx = list(range(_EDGE)) + [None] + list(range(n - _EDGE, n))
    if arr.ndim == 1:
        items = ["..." if i is None else fmt(arr[i].item()) for i in idx]
        per_line = builtins.max(1, (_LINEWIDTH - indent) // (fmt.width + 2))
        lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    sep = "," + "\n" * (arr.ndim - 1) + " " * (indent + 1)
    parts = ["..." if i is None else _format_block(arr[i], fmt, indent + 1, summarize) for i in idx]
    return "[" + sep.join(parts) + "]"


def _repr(self):
    prefix = "tensor("
    suffixes = []
    vals = _np_values(self)
    if vals.dtype == np.float16:
        vals = vals.astype(np.float32)
    summarize = self.numel() > _THRESHOLD
    if self.numel() == 0:
        body = "[]"
        if self.ndim != 1:
            suffixes.append(f"size={tuple(self.shape)}")
    else:
        fmt = _Formatter(_summarize(vals) if summarize else vals, self.dtype)
        body = _format_block(vals, fmt, len(prefix), summarize)
    if self.device.type != "cpu":
        suffixes.append(f"device='{self.device}'")
    default_float = self.dtype == _C.get_default_dtype()
    if not (default_float or self.dtype in (_C.int64, _C.bool)) or (
        self.numel() == 0 and not default_float
    ):
        suffixes.append(f"dtype={self.dtype!r}")
    if self.grad_fn is not None:
        suffixes.append(f"grad_fn=<{self.grad_fn.name()}>")
    elif self.requires_grad:
        suffixes.append("requires_grad=True")
    return prefix + body + "".join(", " + s for s in suffixes) + ")"


# ---------------------------------------------------------------- conversions


def _to(self, *args, **kwargs):
    """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``; ``copy=True`` forces a copy."""
    dtype = kwargs.pop("dtype", None)
    device = kwargs.pop("device", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    if kwargs:
        raise TypeError(f"to: unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, _C.dtype):
            dtype = a
        elif isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, str) or hasattr(a, "type"):
            device = a
        else:
            raise TypeError(f"to: unexpected argument {a!r}")
    if device is not None:
        from ._device import device_str

        dev = device_str(device)
        if dev != self.device.type:  # a transfer always copies (differentiable, as in PyTorch)
            return _C._to_device(self, dev, dtype, copy)
    if dtype is None:
        return self.clone() if copy else self
    return self._to_dtype(dtype, copy)


def _make_cast(dt):
    def cast(self):
        return self._to_dtype(dt)

    return cast


def _tolist(self):
    if self.dtype in (_C.bfloat16, _C.float16):
        return self.detach()._to_dtype(_C.float32).numpy().tolist()
    return self.detach().numpy().tolist()


def _array(self, dtype=None, copy=None):
    a = _np_values(self)
    if dtype is not None:
        a = a.astype(dtype, copy=False)
    return a.copy() if copy else a


def _dlpack(self, stream=None, max_version=None, dl_device=None, copy=None):
    kwargs = {}
    if max_version is not None:
        kwargs["max_version"] = max_version
    return self._array_view().__dlpack__(**kwargs)


def _len(self):
    if self.ndim == 0:
        raise TypeError("len() of a 0-d tensor")
    return self.shape[0]


def _iter(self):
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    return (self[i] for i in range(self.shape[0]))


def _bool(self):
    if self.numel() != 1:
        raise RuntimeError(
            f"Boolean value of Tensor with {self.numel()} values is ambiguous; use .any() or .all()"
        )
    return builtins.bool(self.item())


def _index(self):
    if self.numel() != 1 or self.dtype.is_floating_point:
        raise TypeError("only integer tensors of a single element can be converted to an index")
    return builtins.int(self.item())


def _format(self, spec):
    if self.ndim == 0:
        return format(self.item(), spec)
    return format(repr(self), spec)


def _backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(self)/d(leaf) into each leaf's ``.grad`` (see ``ember.autograd.backward``)."""
    from .autograd import backward

    backward(self, gradient, retain_graph, create_graph, inputs=inputs)


def _new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    from ._creation import tensor

    return tensor(
        data,
        dtype=self.dtype if dtype is None else dtype,
        device=self.device if device is None else device,
        requires_grad=requires_grad,
    )


def _new(maker):
    def new(self, *size, dtype=None, device=None, requires_grad=False, **kw):
        from . import _creation

        return getattr(_creation, maker)(
            *size,
            dtype=self.dtype if dtype is None else dtype,
            device=self.device if device is None else device,
            requires_grad=requires_grad,
        )

    return new


def _new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
    from ._creation import full

    return full(
        size,
        fill_value,
        dtype=self.dtype if dtype is None else dtype,
        device=self.device if device is None else device,
        requires_grad=requires_grad,
    )


def _type(self, dtype=None):
    if dtype is None:
        names = {
            _C.float32: "FloatTensor",
            _C.float64: "DoubleTensor",
            _C.float16: "HalfTensor",
            _C.bfloat16: "BFloat16Tensor",
            _C.int64: "LongTensor",
            _C.int32: "IntTensor",
            _C.uint8: "ByteTensor",
            _C.bool: "BoolTensor",
        }
        return "ember." + names[self.dtype]
    return self._to_dtype(dtype)


def _rebuild(array, dtype_name, requires_grad):
    from ._creation import tensor

    t = tensor(array)._to_dtype(getattr(_C, dtype_name))
    if requires_grad:
        t.requires_grad_(True)
    return t


def _reduce_ex(self, protocol):
    vals = _np_values(self).copy()
    return (_rebuild, (vals, repr(self.dtype).split(".")[-1], self.requires_grad and self.is_leaf))


def _deepcopy(self, memo):
    if id(self) in memo:
        return memo[id(self)]
    t = self.detach().clone()
    if self.requires_grad and self.is_leaf:
        t.requires_grad_(True)
    if type(self) is not Tensor:  # subclasses such as nn.Parameter
        t = (
            type(self)(t, self.requires_grad)
            if "requires_grad" in type(self).__init__.__code__.co_varnames
            else type(self)(t)
        )
    if self.grad is not None:
        t.grad = self.grad.clone()
    memo[id(self)] = t
    return t


def _contains(self, item):
    return builtins.bool((self == item).any().item())


def _getstate_error(self):
    raise TypeError("ember tensors are not picklable by state; use ember.save")


def _cuda(self, *a, **k):
    raise RuntimeError("cuda: ember has no CUDA backend (CPU, and Metal on Apple GPUs)")


_methods = {
    "__repr__": _repr,
    "__str__": _repr,
    "to": _to,
    "tolist": _tolist,
    "__array__": _array,
    "__dlpack__": _dlpack,
    "__dlpack_device__": lambda self: (1, 0),
    "__len__": _len,
    "__iter__": _iter,
    "__bool__": _bool,
    "__float__": lambda self: builtins.float(self.item()),
    "__int__": lambda self: builtins.int(self.item()),
    "__index__": _index,
    "__format__": _format,
    "__contains__": _contains,
    "__reduce_ex__": _reduce_ex,
    "__deepcopy__": _deepcopy,
    "__array_priority__": 1000,
    "backward": _backward,
    "new_tensor": _new_tensor,
    "new_zeros": _new("zeros"),
    "new_ones": _new("ones"),
    "new_empty": _new("empty"),
    "new_full": _new_full,
    "type": _type,
    "cpu": lambda self: self if self.device.type == "cpu" else _C._to_device(self, "cpu"),
    "mps": lambda self: _C._to_device(self, "metal"),
    "cuda": _cuda,
    "is_cuda": False,
    "is_mps": property(lambda self: self.device.type == "metal"),
    "is_metal": property(lambda self: self.device.type == "metal"),
    "is_sparse": False,
    "is_quantized": False,
    "type_as": lambda self, other: self._to_dtype(other.dtype),
    "apply_": None,
}
for _name, _fn in _DTYPE_NAMES.items():
    _methods[_name] = _make_cast(_fn)
_methods["short"] = _make_cast(_C.int32)
for _name, _fn in _methods.items():
    if _fn is not None:
        setattr(Tensor, _name, _fn)
