"""ember.autograd: reverse-mode differentiation.

The tape and engine are C++ (``csrc/autograd``); this module gives them PyTorch's Python API
(``backward``, ``grad``), JAX/MLX-style functional transforms (``ember.grad``,
``value_and_grad``) and ``Function`` for custom ops with a Python backward.
"""

from .. import _C
from .._C import Tensor
from .._grad_mode import enable_grad, no_grad, set_grad_enabled
from .anomaly_mode import (
    detect_anomaly,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    set_detect_anomaly,
)
from .function import Function, FunctionCtx

__all__ = [
    "backward",
    "grad",
    "value_and_grad",
    "Function",
    "FunctionCtx",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "detect_anomaly",
    "set_detect_anomaly",
    "is_anomaly_enabled",
    "is_anomaly_check_nan_enabled",
]


def _as_list(x):
    if x is None:
        return []
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate gradients of ``tensors`` into the ``.grad`` of the leaves they depend on.

    Args:
        tensors: a tensor or sequence of tensors to differentiate.
        grad_tensors: the gradient w.r.t. each tensor (may be None for scalars).
        retain_graph: keep the graph for another backward (defaults to ``create_graph``).
        create_graph: record the backward pass itself, for higher-order derivatives.
        inputs: only accumulate into these leaves.
    """
    roots = _as_list(tensors)
    grads = _as_list(grad_tensors) if grad_tensors is not None else [None] * len(roots)
    if len(grads) != len(roots):
        raise ValueError(f"backward: got {len(grads)} gradients for {len(roots)} tensors")
    grads = [
        g if g is None or isinstance(g, Tensor) else _C.Tensor(_to_tensor(g, r))
        for g, r in zip(grads, roots)
    ]
    if retain_graph is None:
        retain_graph = create_graph
    _C._backward(roots, grads, bool(retain_graph), bool(create_graph), _as_list(inputs))


def _to_tensor(g, like):
    from .._creation import tensor

    return tensor(g, dtype=like.dtype)


def grad(
    outputs,
    inputs,
    grad_outputs=None,
    retain_graph=None,
    create_graph=False,
    allow_unused=False,
    materialize_grads=False,
):
    """The gradients of ``outputs`` w.r.t. ``inputs``, returned (not accumulated into ``.grad``).

    Returns a tuple with one entry per input (None for unused inputs when ``allow_unused``).
    """
    outs = _as_list(outputs)
    ins = _as_list(inputs)
    gouts = _as_list(grad_outputs) if grad_outputs is not None else [None] * len(outs)
    if retain_graph is None:
        retain_graph = create_graph
    res = _C._grad(
        outs,
        ins,
        gouts,
        bool(retain_graph),
        bool(create_graph),
        bool(allow_unused or materialize_grads),
    )
    if materialize_grads:
        from .._creation import zeros_like

        res = tuple(zeros_like(i) if r is None else r for i, r in zip(ins, res))
    return res


def _prepare(args, argnums):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for n in nums:
        if n >= len(args) or not isinstance(args[n], Tensor):
            raise TypeError(
                f"grad: argument {n} must be a tensor to differentiate with respect to it"
            )
    args = list(args)
    for n in nums:
        args[n] = args[n].detach().requires_grad_(True)
    return args, nums


def value_and_grad(fn, argnums=0, has_aux=False):
    """``value_and_grad(f)(*args) -> (f(*args), df/dargs[argnums])`` for a scalar-valued ``f``.

    ``argnums`` is an int (one gradient) or a tuple (a tuple of gradients). With ``has_aux``,
    ``f`` returns ``(value, aux)`` and the result is ``((value, aux), grads)``.
    """

    def wrapped(*args, **kwargs):
        targs, nums = _prepare(args, argnums)
        with enable_grad():
            out = fn(*targs, **kwargs)
        value, aux = (out[0], out[1]) if has_aux else (out, None)
        if not isinstance(value, Tensor) or value.numel() != 1:
            raise ValueError("value_and_grad: the function must return a scalar tensor")
        if value.requires_grad:
            gs = grad(value, [targs[n] for n in nums], allow_unused=True, materialize_grads=True)
        else:
            from .._creation import zeros_like

            gs = tuple(zeros_like(targs[n]) for n in nums)
        g = gs[0] if isinstance(argnums, int) else tuple(gs)
        value = value.detach()
        return ((value, aux), g) if has_aux else (value, g)

    return wrapped


def grad_fn(fn, argnums=0, has_aux=False):
    """``ember.grad(f)``: a function returning the gradient of scalar ``f`` w.r.t. ``argnums``."""
    vg = value_and_grad(fn, argnums, has_aux)

    def wrapped(*args, **kwargs):
        out, g = vg(*args, **kwargs)
        return (g, out[1]) if has_aux else g

    return wrapped


def value_and_grad_public(fn, argnums=0, has_aux=False):
    return value_and_grad(fn, argnums, has_aux)
