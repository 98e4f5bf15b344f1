"""``ember.save`` / ``ember.load``: checkpoints in the safetensors format.

A flat ``{name: tensor}`` dict (a ``state_dict``) is written as a plain safetensors file that any
safetensors reader (including ``safetensors.torch``) can open. Anything else - nested dicts,
lists, tuples, ints, floats, strings, None (an optimizer state, an epoch counter, RNG state) - is
kept too: tensors are stored under flattened keys (``"optimizer.state.0.exp_avg"``) and the
structure goes into the header metadata as JSON, so ``ember.load`` returns the same structure.

- bfloat16 tensors are stored as their raw 16-bit patterns (dtype ``U16``) and marked in the
  metadata, so they load back as bfloat16, bit for bit.
- Writes are atomic: a temporary file in the same folder, fsync, then ``os.replace``. A save
  that fails midway leaves the previous file untouched.
- Loading parses the header and raw bytes only (no pickle, no code execution); each tensor's
  CRC-32 is checked, so a truncated or corrupted file raises a ``ValueError`` that says so.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from . import _C
from ._C import Tensor

__all__ = ["load", "save"]

_META_KEY = "__ember__"  # JSON: {"format": 1, "tree": ..., "crc32": {...}, "dtypes": {...}}
_FORMAT = 1

# safetensors dtype strings -> NumPy dtypes (BF16 is handled separately)
_ST_TO_NP = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U64": np.uint64,
    "U32": np.uint32,
    "U16": np.uint16,
    "U8": np.uint8,
    "BOOL": np.bool_,
}
_EMBER_OK_NP = {
    np.dtype(t) for t in ("bool", "uint8", "int32", "int64", "float16", "float32", "float64")
}


def _require_safetensors():
    try:
        import safetensors  # noqa: F401
        import safetensors.numpy  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "ember.save/ember.load need the 'safetensors' package: pip install safetensors"
        ) from None
    return safetensors


# ------------------------------------------------------------------------------ conversions


def _contig(a: np.ndarray) -> np.ndarray:
    """C-contiguous, keeping 0-d arrays 0-d (np.ascontiguousarray makes them 1-d)."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else a.copy(order="C")


def _bf16_to_u16(t: Tensor) -> np.ndarray:
    f = _contig(t.detach()._to_dtype(_C.float32).numpy())
    return (f.view(np.uint32) >> 16).astype(np.uint16)  # bf16 -> f32 is exact: the low half is zero


def _u16_to_bf16(a: np.ndarray) -> Tensor:
    from ._creation import from_numpy

    f = (a.astype(np.uint32) << 16).view(np.float32)
    return from_numpy(_contig(f))._to_dtype(_C.bfloat16)


def _tensor_to_numpy(t: Tensor) -> tuple[np.ndarray, str | None]:
    """(array to store, special dtype tag or None)."""
    t = t.detach()
    if str(t.device) != "cpu":
        t = t.cpu()
    if t.dtype == _C.bfloat16:
        return _bf16_to_u16(t), "bfloat16"
    return _contig(t.numpy()), None


def _numpy_to_tensor(a: np.ndarray) -> Tensor:
    from ._creation import from_numpy

    if a.dtype not in _EMBER_OK_NP:
        a = a.astype(np.int64 if a.dtype.kind in "iu" else np.float32)
    # a copy the tensor owns: the array may view a buffer we are about to drop
    return from_numpy(np.array(a, copy=True, order="C"))


# ------------------------------------------------------------------------------ tree encoding


class _Encoder:
    """Turns a nested structure into (JSON tree, {key: ndarray}, {key: dtype tag})."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.dtypes: dict[str, str] = {}

    def _key(self, path: list[str]) -> str:
        key = ".".join(path) if path else "tensor"
        if key in self.arrays:  # e.g. {"a.b": t1, "a": {"b": t2}}
            i = 1
            while f"{key}#{i}" in self.arrays:
                i += 1
            key = f"{key}#{i}"
        return key

    def leaf_key(self, k: Any) -> Any:
        """JSON form of a dict key: str, int, float, bool, None (tagged when not a str)."""
        if isinstance(k, str):
            return k
        if isinstance(k, bool) or k is None:
            return {"__key__": k}
        if isinstance(k, (int, np.integer)):
            return {"__key__": int(k)}
        if isinstance(k, (float, np.floating)):
            return {"__key__": self.scalar(float(k))}
        if isinstance(k, tuple):
            return {"__tuple__": [self.leaf_key(x) for x in k]}
        raise TypeError(
            f"ember.save: dict keys must be str, int, float, bool, None or tuples of those, got {type(k).__name__}"
        )

    @staticmethod
    def scalar(x: float) -> Any:
        if math.isfinite(x):
            return x
        return {"__float__": repr(x)}  # 'nan', 'inf', '-inf': strict JSON has no such numbers

    def encode(self, obj: Any, path: list[str]) -> Any:
        where = ".".join(path) or "<root>"
        if isinstance(obj, Tensor):
            arr, tag = _tensor_to_numpy(obj)
            key = self._key(path)
            self.arrays[key] = arr
            if tag:
                self.dtypes[key] = tag
            return {"__tensor__": key}
        if isinstance(obj, np.ndarray):
            if obj.dtype.kind not in "biuf" or obj.dtype.byteorder == ">":
                if obj.dtype.kind in "biuf":
                    obj = obj.astype(obj.dtype.newbyteorder("<"))
                else:
                    raise TypeError(
                        f"ember.save: NumPy array at '{where}' has dtype {obj.dtype}, which safetensors can't store"
                    )
            key = self._key(path)
            self.arrays[key] = _contig(obj)
            return {"__ndarray__": key}
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, (int, np.integer)):
            return int(obj)
        if isinstance(obj, (float, np.floating)):
            return self.scalar(float(obj))
        if isinstance(obj, Mapping):
            if all(isinstance(k, str) for k in obj) and not any(
                k.startswith("__") and k.endswith("__") for k in obj
            ):
                return {k: self.encode(v, path + [k]) for k, v in obj.items()}
            return {
                "__dict__": [
                    [self.leaf_key(k), self.encode(v, path + [str(k)])] for k, v in obj.items()
                ]
            }
        if isinstance(obj, tuple):
            return {"__tuple__": [self.encode(v, path + [str(i)]) for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [self.encode(v, path + [str(i)]) for i, v in enumerate(obj)]
        if isinstance(obj, _C.dtype):
            return {"__dtype__": str(obj)}
        raise TypeError(
            f"ember.save: can't store a {type(obj).__name__} at '{where}'; supported: tensors, NumPy arrays, "
            "dicts, lists, tuples, str, int, float, bool, None (no pickling)"
        )


def _decode(node: Any, tensors: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_decode(v, tensors) for v in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((tag, val),) = node.items()
        if tag == "__tensor__" or tag == "__ndarray__":
            if val not in tensors:
                raise ValueError(
                    f"ember.load: checkpoint structure refers to a missing tensor {val!r}: the file is corrupted"
                )
            return tensors[val]
        if tag == "__tuple__":
            return tuple(_decode(v, tensors) for v in val)
        if tag == "__dict__":
            return {_decode_key(k): _decode(v, tensors) for k, v in val}
        if tag == "__float__":
            return float(val)
        if tag == "__dtype__":
            return _dtype_from_name(val)
    return {k: _decode(v, tensors) for k, v in node.items()}


def _dtype_from_name(name: Any) -> Any:
    """``"ember.float32"`` / ``"float32"`` -> the dtype; anything else is a corrupted file (the
    name must never reach an arbitrary attribute of ``_C``)."""
    short = str(name).rsplit(".", 1)[-1]
    dt = getattr(_C, short, None) if short.isidentifier() else None
    if not isinstance(dt, _C.dtype):
        raise ValueError(f"'__dtype__' entry {name!r} is not a dtype name")
    return dt


def _decode_key(k: Any) -> Any:
    if isinstance(k, dict) and len(k) == 1:
        ((tag, val),) = k.items()
        if tag == "__key__":
            return float(val["__float__"]) if isinstance(val, dict) else val
        if tag == "__tuple__":
            return tuple(_decode_key(x) for x in val)
    return k


def _crc32(a: np.ndarray) -> int:
    """CRC-32 of an array's bytes (no copy for contiguous arrays)."""
    return zlib.crc32(_contig(a).reshape(-1).view(np.uint8)) if a.size else 0


# ------------------------------------------------------------------------------ save


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories can't be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_TMP_SUFFIX = ".tmp"


def _tmp_prefix(path: Path) -> str:
    # the writer's pid is in the name, so a later save can tell a killed save's leftover
    # from a file another live process is still writing
    return f".{path.name}.{os.getpid()}."


def _remove_stale_temps(path: Path) -> None:
    """Delete temp files that a killed ``save`` of ``path`` left behind."""
    prefix = f".{path.name}."
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(_TMP_SUFFIX)):
            continue
        pid = name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid)):
            continue  # another process is saving this path right now
        try:
            os.unlink(path.parent / name)
        except OSError:
            pass


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # no signal 0 there: treat every writer as gone only by age
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: it exists, owned by someone else
        return True
    return True


def _write_safetensors(arrays: dict[str, np.ndarray], path: str, metadata: dict[str, str]) -> None:
    """The actual file write (a separate function so tests can make it fail midway)."""
    import safetensors.numpy

    safetensors.numpy.save_file(arrays, path, metadata=metadata)


def save(
    obj: Any, f: str | os.PathLike | IO[bytes], *, metadata: dict[str, str] | None = None, **kwargs
) -> None:
    """Save a ``state_dict`` (or any nesting of dicts / lists / tuples of tensors and plain
    values) to ``f`` in safetensors format, atomically.

    Args:
        obj: e.g. ``model.state_dict()`` or ``{"model": ..., "optimizer": ..., "epoch": 3}``.
            Tensors may be ember tensors (any dtype, bfloat16 included) or NumPy arrays.
        f: destination path (its folder must exist), or a binary file object such as
            ``io.BytesIO`` (written at its current position; not atomic).
        metadata: extra ``str -> str`` pairs for the safetensors header.

    PyTorch's ``pickle_module`` / ``pickle_protocol`` / ``_use_new_zipfile_serialization``
    arguments are accepted and ignored (nothing is pickled).
    """
    _require_safetensors()
    unknown = set(kwargs) - {"pickle_module", "pickle_protocol", "_use_new_zipfile_serialization"}
    if unknown:
        raise TypeError(f"ember.save: unexpected keyword arguments {sorted(unknown)}")
    arrays, meta = _encode(obj, metadata)
    if hasattr(f, "write") and not isinstance(f, (str, os.PathLike)):
        import safetensors.numpy

        f.write(safetensors.numpy.save(arrays, metadata=meta))
        return
    path = Path(os.fspath(f))
    if path.is_dir():
        raise IsADirectoryError(f"ember.save: {path} is a directory")
    if not path.parent.exists():
        raise FileNotFoundError(f"ember.save: folder {path.parent} does not exist")
    _remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_tmp_prefix(path), suffix=_TMP_SUFFIX)
    os.close(fd)
    try:
        _write_safetensors(arrays, tmp, meta)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        try:
            mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask()
            os.chmod(tmp, mode)
        except OSError:
            pass
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def _encode(obj: Any, metadata: dict[str, str] | None) -> tuple[dict[str, np.ndarray], dict]:
    """({key: array}, safetensors metadata with the structure as JSON)."""
    enc = _Encoder()
    # a flat state_dict's tensors keep their names as keys: any safetensors reader can use them
    tree = enc.encode(obj, [])
    meta = {} if metadata is None else {str(k): str(v) for k, v in metadata.items()}
    if _META_KEY in meta:
        raise ValueError(f"ember.save: metadata key {_META_KEY!r} is reserved")
    crc = {k: _crc32(a) for k, a in enc.arrays.items()}
    meta[_META_KEY] = json.dumps(
        {"format": _FORMAT, "tree": tree, "dtypes": enc.dtypes, "crc32": crc},
        separators=(",", ":"),
        allow_nan=False,
    )
    return enc.arrays, meta


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


# ------------------------------------------------------------------------------ load


def _header_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors header (8-byte little-endian length + JSON)."""
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict):
        raise ValueError("__metadata__ is not a JSON object")
    return meta


def _read_entries(data: bytes, where: str) -> tuple[dict[str, np.ndarray], dict[str, str], dict]:
    """({key: ndarray}, {key: safetensors dtype}, metadata) — arrays as stored (BF16 as uint16)."""
    safetensors = _require_safetensors()
    try:
        entries = safetensors.deserialize(data)
        metadata = _header_metadata(data)
    except Exception as e:  # SafetensorError and friends: report, don't crash
        raise ValueError(
            f"ember.load: {where} is not a valid safetensors file ({len(data)} bytes): {e}. "
            "The file is truncated or corrupted (or was not written by ember.save / safetensors)."
        ) from None
    arrays, st_dtypes = {}, {}
    for name, info in entries:
        st = info["dtype"]
        shape = tuple(info["shape"])
        raw = info["data"]
        if st == "BF16":
            np_dtype = np.dtype(np.uint16)
        elif st in _ST_TO_NP:
            np_dtype = np.dtype(_ST_TO_NP[st])
        else:
            raise ValueError(
                f"ember.load: tensor {name!r} in {where} has dtype {st}, which ember can't load"
            )
        expected = np_dtype.itemsize * math.prod(shape)
        if len(raw) != expected:
            raise ValueError(
                f"ember.load: tensor {name!r} in {where} has {len(raw)} bytes, but dtype {st} and "
                f"shape {list(shape)} need {expected}: the file is corrupted"
            )
        arrays[name] = np.frombuffer(raw, dtype=np_dtype.newbyteorder("<")).reshape(shape)
        st_dtypes[name] = st
    return arrays, st_dtypes, metadata


def load(
    f: str | os.PathLike | IO[bytes],
    map_location: Any = None,
    *,
    weights_only: bool = True,
    mmap: Any = None,
    **kwargs,
) -> Any:
    """Load what :func:`save` wrote: the same structure, with ember tensors (NumPy arrays where
    NumPy arrays were saved). A safetensors file from another writer gives a flat
    ``{name: ember tensor}`` dict (BF16 included).

    ``f`` is a path or a binary file object (``io.BytesIO``, ``open(..., "rb")``), read from
    its current position. ``map_location``, ``weights_only`` and ``mmap`` are accepted for
    PyTorch compatibility (loading never runs code, and everything is loaded to the CPU).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is truncated, corrupted or not a safetensors file.
    """
    if kwargs.keys() - {"pickle_module", "encoding"}:
        raise TypeError(f"ember.load: unexpected keyword arguments {sorted(kwargs)}")
    if hasattr(f, "read") and not isinstance(f, (str, os.PathLike)):
        data = f.read()
        path = getattr(f, "name", None) or f"<{type(f).__name__}>"
    else:
        path = Path(os.fspath(f))
        if path.is_dir():
            raise IsADirectoryError(
                f"ember.load: {path} is a directory, not a checkpoint file (pass the file inside it)"
            )
        if not path.is_file():
            raise FileNotFoundError(f"ember.load: no such file: {path}")
        data = path.read_bytes()
    arrays, st_dtypes, metadata = _read_entries(data, str(path))
    info = None
    if _META_KEY in metadata:
        try:
            info = json.loads(metadata[_META_KEY])
            if not isinstance(info, dict) or not isinstance(info.get("crc32"), dict):
                raise ValueError("missing fields")
        except (ValueError, RecursionError) as e:
            raise ValueError(
                f"ember.load: {path}: the ember metadata in the header is corrupted ({e})"
            ) from None
        if info.get("format", 0) > _FORMAT:
            raise ValueError(
                f"ember.load: {path} was written by a newer ember (format {info['format']})"
            )
        crc = info["crc32"]
        if set(crc) != set(arrays):
            raise ValueError(
                f"ember.load: {path}: tensors in the file {sorted(arrays)[:5]}... do not match the header's list: file corrupted"
            )
        for k, a in arrays.items():
            got = _crc32(a)
            if got != crc[k]:
                raise ValueError(
                    f"ember.load: {path}: checksum mismatch in tensor {k!r} (crc32 {got:08x}, expected {crc[k]:08x}): "
                    "the file is corrupted"
                )
    dtypes = info.get("dtypes", {}) if info else {}
    ndarray_keys = set()
    tree = info.get("tree") if info else None
    if tree is not None:
        ndarray_keys = _ndarray_keys(tree)
    out: dict[str, Any] = {}
    for k, a in arrays.items():
        if st_dtypes[k] == "BF16" or dtypes.get(k) == "bfloat16":
            out[k] = _u16_to_bf16(a)
        elif k in ndarray_keys:
            out[k] = np.array(a, copy=True)
        else:
            out[k] = _numpy_to_tensor(a)
    if info is None:
        return out
    try:
        return _decode(tree, out)
    except (TypeError, AttributeError, KeyError, ValueError, RecursionError) as e:
        raise ValueError(
            f"ember.load: {path}: the structure in the header is corrupted ({e})"
        ) from None


def _ndarray_keys(node: Any) -> set[str]:
    out: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, list):
            stack.extend(n)
        elif isinstance(n, dict):
            if len(n) == 1 and "__ndarray__" in n:
                out.add(n["__ndarray__"])
            else:
                stack.extend(n.values())
    return out
