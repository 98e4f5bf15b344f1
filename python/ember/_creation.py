"""Tensor creation with PyTorch's signatures (``zeros(2, 3)``, ``zeros((2, 3))``, ``dtype=``,
``requires_grad=``), built on the raw ``_C`` constructors."""

import builtins
import numbers

import numpy as np

from . import _C
from ._C import Tensor
from ._device import check_device, device_str

_NP_TO_DTYPE = {
    np.dtype("bool"): _C.bool,
    np.dtype("uint8"): _C.uint8,
    np.dtype("int32"): _C.int32,
    np.dtype("int64"): _C.int64,
    np.dtype("float16"): _C.float16,
    np.dtype("float32"): _C.float32,
    np.dtype("float64"): _C.float64,
}
_DTYPE_TO_NP = {v: k for k, v in _NP_TO_DTYPE.items()}


def _size(size, op):
    if len(size) == 1 and not isinstance(size[0], numbers.Integral):
        size = size[0]
    if isinstance(size, numbers.Integral):
        size = (size,)
    try:
        return [builtins.int(s) for s in size]
    except TypeError:
        raise TypeError(f"{op}: size must be a tuple of ints, got {size!r}") from None


def _finish(t, requires_grad, device=None, like=None):
    # made on the host, then moved (unified memory on Metal: one copy)
    dev = device_str(device, like)
    if t.device.type != dev:
        t = _C._to_device(t, dev)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _default(dtype):
    return _C.get_default_dtype() if dtype is None else dtype


def _has_float(data):
    """Whether a nested Python list holds any float (so the default float dtype applies)."""
    if isinstance(data, builtins.float):
        return True
    if isinstance(data, (list, tuple)):
        return builtins.any(_has_float(x) for x in data)
    return False


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor copying ``data`` (nested lists/tuples, numbers, NumPy arrays, tensors).

    Python floats become the default dtype (float32), ints int64, bools bool; NumPy arrays keep
    their dtype. Ragged nested lists raise ValueError.
    """
    check_device(device)
    if isinstance(data, Tensor):
        t = data.detach().clone()
        if dtype is not None:
            t = t._to_dtype(dtype)
        return _finish(t, requires_grad, device, like=data)
    from_numpy_obj = isinstance(data, (np.ndarray, np.generic))
    if not from_numpy_obj and hasattr(data, "__dlpack__") and not isinstance(data, (list, tuple)):
        return _finish(tensor(from_dlpack(data), dtype=dtype), requires_grad, device)
    try:
        arr = np.asarray(data)
    except ValueError as e:
        raise ValueError(
            f"tensor: could not build a tensor from ragged nested sequences ({e})"
        ) from None
    if arr.dtype == object:
        raise ValueError(
            f"tensor: expected a (nested) sequence of numbers of equal lengths, got {data!r:.80}"
        )
    if arr.dtype.kind in "US":
        raise TypeError(f"tensor: can't build a tensor from strings ({data!r:.80})")
    if arr.dtype.kind == "c":
        raise TypeError("tensor: complex numbers are not supported")
    if dtype is not None and dtype in _DTYPE_TO_NP:
        arr = arr.astype(_DTYPE_TO_NP[dtype], copy=False)
    elif not from_numpy_obj:
        # Python numbers: floats -> default dtype, ints -> int64
        if arr.dtype.kind == "f" and dtype is None:
            arr = arr.astype(_DTYPE_TO_NP.get(_C.get_default_dtype(), np.float32))
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
    elif arr.dtype not in _NP_TO_DTYPE:
        kind = arr.dtype.kind
        arr = arr.astype(np.int64 if kind in "iu" else np.float64 if kind == "f" else arr.dtype)
    t = from_numpy(arr if arr.flags.c_contiguous else arr.copy()).clone()
    if dtype is not None:
        t = t._to_dtype(dtype)
    return _finish(t, requires_grad, device)


def as_tensor(data, dtype=None, device=None):
    """Like ``tensor`` but shares memory with a tensor or NumPy array when no conversion is needed."""
    check_device(device)
    if isinstance(data, Tensor):
        t = data if dtype is None else data._to_dtype(dtype)
        return t if device is None else _finish(t, False, device)
    if isinstance(data, np.ndarray) and data.dtype in _NP_TO_DTYPE:
        t = from_numpy(data) if all(s >= 0 for s in data.strides) else tensor(data)
        return _finish(t if dtype is None else t._to_dtype(dtype), False, device)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(ndarray):
    """A tensor sharing memory with a NumPy array (writes are visible both ways)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(ndarray).__name__}")
    if ndarray.dtype not in _NP_TO_DTYPE:
        raise TypeError(
            f"from_numpy: can't convert np.ndarray of type {ndarray.dtype}; supported: "
            "float64, float32, float16, int64, int32, uint8, bool"
        )
    if any(s < 0 for s in ndarray.strides):
        raise ValueError(
            "from_numpy: arrays with negative strides are not supported; pass np.ascontiguousarray(a)"
        )
    if any(s % ndarray.itemsize for s in ndarray.strides):
        raise ValueError("from_numpy: array strides must be multiples of the item size")
    if not ndarray.dtype.isnative:
        raise TypeError("from_numpy: byte-swapped (non-native) arrays are not supported")
    return _C._from_numpy(ndarray)


def from_dlpack(ext_tensor):
    """A tensor sharing memory with any object implementing the DLPack protocol."""
    return _C._from_dlpack(ext_tensor)


def empty(*size, dtype=None, device=None, requires_grad=False, **_):
    dev = device_str(device)
    return _finish(_C._empty(_size(size, "empty"), _default(dtype), dev), requires_grad, dev)


def zeros(*size, dtype=None, device=None, requires_grad=False, **_):
    dev = device_str(device)
    return _finish(_C._zeros(_size(size, "zeros"), _default(dtype), dev), requires_grad, dev)


def ones(*size, dtype=None, device=None, requires_grad=False, **_):
    dev = device_str(device)
    return _finish(_C._ones(_size(size, "ones"), _default(dtype), dev), requires_grad, dev)


def _infer_fill_dtype(value):
    if isinstance(value, builtins.bool):
        return _C.bool
    if isinstance(value, numbers.Integral):
        return _C.int64
    return _C.get_default_dtype()


def full(size, fill_value, dtype=None, device=None, requires_grad=False, **_):
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    dt = _infer_fill_dtype(fill_value) if dtype is None else dtype
    dev = device_str(device)
    return _finish(_C._full(_size((size,), "full"), fill_value, dt, dev), requires_grad, dev)


def _like(x, dtype):
    return x.dtype if dtype is None else dtype


def empty_like(input, dtype=None, device=None, requires_grad=False, **_):
    dev = device_str(device, input)
    return _finish(_C._empty(input.shape, _like(input, dtype), dev), requires_grad, dev)


def zeros_like(input, dtype=None, device=None, requires_grad=False, **_):
    dev = device_str(device, input)
    return _finish(_C._zeros(input.shape, _like(input, dtype), dev), requires_grad, dev)


def ones_like(input, dtype=None, device=None, requires_grad=False, **_):
    dev = device_str(device, input)
    return _finish(_C._ones(input.shape, _like(input, dtype), dev), requires_grad, dev)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False, **_):
    dev = device_str(device, input)
    return _finish(_C._full(input.shape, fill_value, _like(input, dtype), dev), requires_grad, dev)


def rand_like(input, dtype=None, device=None, requires_grad=False, generator=None, **_):
    dev = device_str(device, input)
    return _finish(_C._rand(input.shape, _like(input, dtype), generator, dev), requires_grad, dev)


def randn_like(input, dtype=None, device=None, requires_grad=False, generator=None, **_):
    dev = device_str(device, input)
    return _finish(_C._randn(input.shape, _like(input, dtype), generator, dev), requires_grad, dev)


def randint_like(input, low=0, high=None, dtype=None, device=None, generator=None, **_):
    if high is None:
        low, high = 0, low
    return _finish(
        _C._randint(low, high, input.shape, _like(input, dtype), generator), False, device, input
    )


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False, **_):
    """Values from ``start`` to ``end`` (exclusive) by ``step``; ``arange(n)`` is 0..n-1."""
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    return _finish(_C._arange(*vals, dtype), requires_grad, device)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False, **_):
    if not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"linspace: number of steps must be a non-negative int, got {steps!r}")
    return _finish(_C._linspace(start, end, steps, _default(dtype)), requires_grad, device)


def eye(n, m=None, dtype=None, device=None, requires_grad=False, **_):
    return _finish(_C._eye(n, m, _default(dtype)), requires_grad, device)


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False, **_):
    """Uniform samples in [0, 1).

    On ``metal`` the samples come from a counter-based Philox4x32-10 stream drawn on the GPU
    (one 64-bit key taken from the generator per call): ``manual_seed`` repeats them run after
    run, but they differ from the CPU's samples for the same seed (the CPU generator is a
    sequential xorshift128+ stream, which a GPU cannot split across threads).
    """
    dev = device_str(device)
    return _finish(
        _C._rand(_size(size, "rand"), _default(dtype), generator, dev), requires_grad, dev
    )


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False, **_):
    """Standard normal samples (Box-Muller). On ``metal``: see :func:`rand` for the stream."""
    dev = device_str(device)
    return _finish(
        _C._randn(_size(size, "randn"), _default(dtype), generator, dev), requires_grad, dev
    )


def randint(
    low=0,
    high=None,
    size=None,
    *,
    generator=None,
    dtype=None,
    device=None,
    requires_grad=False,
    **_,
):
    """Integers drawn uniformly from [low, high). ``randint(high, size)`` is also accepted."""
    if size is None:
        if high is None:
            raise TypeError("randint: missing the 'size' argument")
        low, high, size = 0, low, high
    if high is None:
        raise TypeError("randint: missing the 'high' argument")
    dt = _C.int64 if dtype is None else dtype
    return _finish(
        _C._randint(low, high, _size((size,), "randint"), dt, generator), requires_grad, device
    )


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False, **_):
    """A random permutation of 0..n-1."""
    dt = _C.int64 if dtype is None else dtype
    return _finish(_C._randperm(n, dt, generator), requires_grad, device)


def manual_seed(seed):
    """Seed the default generator (rand, randn, randint, randperm, dropout, init, ...)."""
    seed = builtins.int(seed)
    _C._manual_seed(seed & 0xFFFFFFFFFFFFFFFF)
    return _C.default_generator()


def seed():
    import random

    s = random.getrandbits(63)
    _C._manual_seed(s)
    return s


def initial_seed():
    return _C.default_generator().initial_seed()


def get_rng_state():
    """The default generator's state (a list of ints), for checkpoints."""
    return _C.default_generator().get_state()


def set_rng_state(state):
    _C.default_generator().set_state(list(state))
