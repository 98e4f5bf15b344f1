"""Argument checks shared by ``nn.functional``: a function given a non-tensor where it takes a
tensor raises ``TypeError`` naming the function and the argument (not an AttributeError from
deep inside). The check runs only when the call has already failed, so it costs nothing on
the normal path."""

from __future__ import annotations

import functools
import inspect

from .._C import Tensor


def _tensor_params(fn) -> list[tuple[str, int, bool]]:
    """(name, position, optional) of the parameters annotated as Tensor (or Tensor | None)."""
    out = []
    for i, p in enumerate(inspect.signature(fn).parameters.values()):
        ann = p.annotation
        ann = ann if isinstance(ann, str) else getattr(ann, "__name__", "")
        if ann.replace(" ", "") in ("Tensor", "Tensor|None", "Optional[Tensor]", "None|Tensor"):
            out.append((p.name, i, "None" in ann))
    return out


def _bad_tensor_arg(name: str, fn, params, args, kwargs) -> TypeError | None:
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except TypeError:
        return None  # a wrong call signature: Python's own message says it best
    for pname, pos, optional in params:
        if pname not in bound.arguments:
            continue
        v = bound.arguments[pname]
        if isinstance(v, Tensor) or (optional and v is None):
            continue
        return TypeError(
            f"{name}(): argument '{pname}' (position {pos + 1}) must be Tensor, not {type(v).__name__}"
        )
    return None


def checked(name: str, fn):
    """``fn`` wrapped so a failure caused by a non-tensor argument becomes a clear TypeError."""
    params = _tensor_params(fn)
    if not params:
        return fn

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (AttributeError, TypeError, RuntimeError, ValueError) as e:
            bad = _bad_tensor_arg(name, fn, params, args, kwargs)
            if bad is None:
                raise
            raise bad from e

    wrapper._ember_checked = True
    return wrapper


def check_tensor_args(namespace: dict, names) -> None:
    """Wraps, in place, the Python functions of ``namespace`` listed in ``names``."""
    for n in names:
        f = namespace.get(n)
        if inspect.isfunction(f) and not getattr(f, "_ember_checked", False):
            namespace[n] = checked(n, f)
