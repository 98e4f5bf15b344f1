"""ember.utils: checkpoint helpers and PyTorch interop.

- :func:`save` / :func:`load` (also ``ember.save`` / ``ember.load``): safetensors checkpoints.
- :func:`load_torch_state_dict`: read a PyTorch ``state_dict`` (``.pt`` / ``.pth`` through
  ``torch.load(weights_only=True)``, or a torch-written ``.safetensors`` file) as ember tensors,
  ready for ``model.load_state_dict``.
- :func:`draw_graph`: the autograd tape or a compiled graph as DOT / SVG / PNG.
- :func:`summary`: a table of a model's layers (output shapes, parameters, FLOPs, time).
- ``ember.utils.data`` re-exports ``ember.data`` (so ``torch.utils.data`` imports port unchanged).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .. import _C
from ..serialization import load, save
from .graph import draw_graph
from .summary import summary

__all__ = ["draw_graph", "load", "load_torch_state_dict", "save", "summary", "to_torch_state_dict"]


def __getattr__(name):
    if name == "data":  # the torch.utils.data alias module, imported on first use
        import importlib

        return importlib.import_module(".data", __name__)
    raise AttributeError(f"module 'ember.utils' has no attribute '{name}'")


def _torch_to_ember(t) -> Any:
    import torch

    from .._creation import from_numpy

    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        return from_numpy(t.float().numpy().copy())._to_dtype(_C.bfloat16)
    if t.dtype.is_complex:
        raise TypeError(f"load_torch_state_dict: complex tensors ({t.dtype}) are not supported")
    if t.dtype not in (
        torch.float16,
        torch.float32,
        torch.float64,
        torch.int32,
        torch.int64,
        torch.uint8,
        torch.bool,
    ):
        t = (
            t.float() if t.dtype.is_floating_point else t.long()
        )  # int8/int16/uint16/float8...: widen
    return from_numpy(np.array(t.contiguous().numpy(), copy=True))


def _convert_tree(obj: Any) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        return _torch_to_ember(obj)
    if isinstance(obj, Mapping):
        return {k: _convert_tree(v) for k, v in obj.items()}  # OrderedDict -> dict, order kept
    if isinstance(obj, list):
        return [_convert_tree(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_convert_tree(v) for v in obj)
    return obj


def load_torch_state_dict(path: str | os.PathLike, *, key: str | None = None) -> dict[str, Any]:
    """A PyTorch checkpoint's tensors as ember tensors (same names, shapes and dtypes;
    bfloat16 kept), so ``ember_model.load_state_dict(load_torch_state_dict(p))`` loads a torch
    model's weights into the matching ember model.

    Args:
        path: a ``.pt`` / ``.pth`` / ``.bin`` file written by ``torch.save`` (read with
            ``torch.load(weights_only=True)``: no code runs; needs PyTorch installed), or a
            ``.safetensors`` file (needs only the ``safetensors`` package).
        key: for checkpoints that wrap the weights, e.g. ``{"model": state_dict, "epoch": 3}``,
            the entry to return (``key="model"``). Without it, a dict holding a single
            ``"state_dict"`` / ``"model"`` / ``"model_state_dict"`` entry is unwrapped.

    Raises:
        FileNotFoundError: no such file.
        ImportError: a pickle-based torch file and PyTorch is not installed.
        ValueError: the file is not a readable checkpoint.
    """
    p = Path(os.fspath(path))
    if not p.is_file():
        raise FileNotFoundError(f"load_torch_state_dict: no such file: {p}")
    with open(p, "rb") as fh:
        head = fh.read(16)
    is_zip_or_pickle = head[:4] == b"PK\x03\x04" or head[:1] == b"\x80"
    if p.suffix == ".safetensors" or not is_zip_or_pickle:
        try:
            sd = load(p)
        except ValueError:
            if p.suffix == ".safetensors":
                raise
            raise ValueError(
                f"load_torch_state_dict: {p} is neither a torch.save file nor a safetensors file"
            ) from None
    else:
        try:
            import torch
        except ImportError:
            raise ImportError(
                f"load_torch_state_dict: {p} is a pickle-based torch.save file; reading it needs PyTorch "
                "(pip install torch), or convert it once with safetensors.torch.save_file(state_dict, 'model.safetensors')"
            ) from None
        try:
            obj = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:  # UnpicklingError for disallowed globals, RuntimeError for bad zips
            raise ValueError(
                f"load_torch_state_dict: could not read {p} with torch.load(weights_only=True): {e}"
            ) from None
        sd = _convert_tree(obj)
    if key is not None:
        if not isinstance(sd, Mapping) or key not in sd:
            have = list(sd) if isinstance(sd, Mapping) else type(sd).__name__
            raise KeyError(f"load_torch_state_dict: no entry {key!r} in {p} (it has {have})")
        sd = sd[key]
    elif isinstance(sd, Mapping):
        for wrapper in ("state_dict", "model_state_dict", "model"):
            if (
                wrapper in sd
                and isinstance(sd[wrapper], Mapping)
                and not any(isinstance(v, _C.Tensor) for v in sd.values())
            ):
                sd = sd[wrapper]
                break
    return sd


def to_torch_state_dict(state_dict: Mapping[str, Any]):
    """The reverse direction: ember tensors -> torch tensors (needs PyTorch), e.g. to
    ``torch_model.load_state_dict(to_torch_state_dict(ember_model.state_dict()))``."""
    import torch

    out = {}
    for k, v in state_dict.items():
        if isinstance(v, _C.Tensor):
            v = v.detach()
            if v.dtype == _C.bfloat16:
                out[k] = torch.from_numpy(v._to_dtype(_C.float32).numpy().copy()).to(torch.bfloat16)
            else:
                out[k] = torch.from_numpy(np.array(v.numpy(), copy=True))
        else:
            out[k] = v
    return out
