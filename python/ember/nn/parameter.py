"""``nn.Parameter``: a tensor that a Module registers as one of its parameters."""

from __future__ import annotations

from .. import _C
from .._C import Tensor


class Parameter(Tensor):
    """A Tensor that is a module parameter: assigning one to a Module attribute registers it.

    ``Parameter(t)`` shares ``t``'s storage (no copy) and is a leaf with ``requires_grad=True``
    unless asked otherwise. Ops on parameters return plain Tensors.

    Args:
        data: the tensor to wrap (default: an empty float tensor).
        requires_grad: whether the parameter takes part in autograd.
    """

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            data = _C._empty([0], _C.get_default_dtype())
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter: expected a Tensor, got {type(data).__name__}")
        # a fresh leaf on the same storage (detach drops any history of `data`)
        super().__init__(data.detach())
        if requires_grad:
            if not self.is_floating_point():
                raise RuntimeError(
                    f"Parameter: only floating point tensors can require gradients, got {self.dtype!r}"
                )
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + Tensor.__repr__(self)

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self.detach(), self.requires_grad))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self.detach().clone(), self.requires_grad)
        if self.grad is not None:
            result.grad = self.grad.clone()
        memo[id(self)] = result
        return result


def _rebuild_parameter(data, requires_grad):
    return Parameter(data, requires_grad)


class Buffer(Tensor):
    """Marks a tensor as a buffer when assigned to a Module attribute (``persistent`` as in
    ``register_buffer``)."""

    def __init__(self, data: Tensor, *, persistent: bool = True):
        if not isinstance(data, Tensor):
            raise TypeError(f"Buffer: expected a Tensor, got {type(data).__name__}")
        super().__init__(data)
        self.persistent = persistent
