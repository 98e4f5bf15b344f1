"""Custom differentiable ops in Python: subclass ``Function`` with static ``forward`` and
``backward``; ``Cls.apply(*args)`` runs forward without recording and wires a graph node whose
backward calls yours."""

from .. import _C
from .._C import Tensor
from .._grad_mode import no_grad


class FunctionCtx:
    """What ``forward`` passes to ``backward``: saved tensors and flags."""

    def __init__(self):
        self._saved = ()
        self._versions = ()
        self.needs_input_grad = ()
        self._non_differentiable = set()
        self.materialize_grads = True

    def save_for_backward(self, *tensors):
        self._saved = tuple(tensors)
        self._versions = tuple(t._version if isinstance(t, Tensor) else None for t in tensors)

    @property
    def saved_tensors(self):
        for i, (t, v) in enumerate(zip(self._saved, self._versions)):
            if isinstance(t, Tensor) and t._version != v:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: saved tensor {i} is at version {t._version}; expected version {v} instead."
                )
        return self._saved

    def mark_non_differentiable(self, *tensors):
        self._non_differentiable.update(id(t) for t in tensors)

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)


class Function:
    """Base class for custom autograd ops.

    Example::

        class Square(ember.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 2 * x * g

        y = Square.apply(x)
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("Function subclasses must implement forward(ctx, ...)")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("Function subclasses must implement backward(ctx, *grads)")

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            out = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(out, tuple)
        outs = (out,) if single else out
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        if not (_C.is_grad_enabled() and any(ctx.needs_input_grad)):
            return out
        tensor_outs = [o for o in outs if isinstance(o, Tensor)]
        nargs = len(args)

        def backward_fn(*grads):
            res = cls.backward(ctx, *grads)
            if not isinstance(res, tuple):
                res = (res,)
            if len(res) > nargs and all(r is None for r in res[nargs:]):
                res = res[:nargs]
            if len(res) != nargs:
                raise RuntimeError(
                    f"{cls.__name__}.backward returned {len(res)} gradients, expected {nargs} (one per forward input)"
                )
            return tuple(res[i] if ctx.needs_input_grad[i] else None for i in positions)

        diff = [id(o) not in ctx._non_differentiable for o in tensor_outs]
        wired = _C._function_apply(
            cls.__name__ + "Backward", backward_fn, [args[i] for i in positions], tensor_outs, diff
        )
        it = iter(wired)
        result = tuple(next(it) if isinstance(o, Tensor) else o for o in outs)
        return result[0] if single else result
