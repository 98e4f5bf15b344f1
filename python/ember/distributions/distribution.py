"""The Distribution base class: shapes, validation and the default sample()."""

from __future__ import annotations

from .. import _C
from .._C import Tensor
from .._creation import tensor as _tensor
from .._grad_mode import no_grad
from . import constraints


def _shape(s) -> tuple[int, ...]:
    if isinstance(s, int):
        return (s,)
    return tuple(int(v) for v in s)


def _as_tensor(v, like: Tensor | None = None) -> Tensor:
    if isinstance(v, Tensor):
        return v
    return _tensor(float(v), dtype=like.dtype if like is not None else None)


def broadcast_all(*values) -> tuple[Tensor, ...]:
    """Tensors (numbers become 0-d tensors of the tensors' dtype) broadcast to one shape."""
    like = next((v for v in values if isinstance(v, Tensor)), None)
    if like is None and not all(isinstance(v, (int, float)) for v in values):
        raise ValueError("Input arguments must all be instances of numbers.Number or ember.Tensor.")
    ts = [_as_tensor(v, like) for v in values]
    return tuple(_C.broadcast_tensors(*ts)) if len(ts) > 1 else (ts[0],)


class lazy_property:
    """A parameter computed from the other parametrization on first use, then cached on the
    instance (probs from logits or logits from probs)."""

    def __init__(self, fn) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__

    def __get__(self, obj, cls=None):
        if obj is None:
            return self
        value = self.fn(obj)
        obj.__dict__[self.fn.__name__] = value
        return value


class Distribution:
    """Base class: a batch of ``batch_shape`` independent distributions over values of
    ``event_shape``. Subclasses define ``arg_constraints``, ``support`` and the math.

    Args:
        batch_shape, event_shape: as above.
        validate_args: check parameters (here) and values given to ``log_prob``; default True
            (``Distribution.set_default_validate_args`` changes the default).
    """

    has_rsample = False
    _validate_args = True
    arg_constraints: dict[str, constraints.Constraint] = {}
    support: constraints.Constraint | None = None

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        if value not in (True, False):
            raise ValueError("set_default_validate_args: expected True or False")
        Distribution._validate_args = value

    def __init__(self, batch_shape=(), event_shape=(), validate_args: bool | None = None) -> None:
        self._batch_shape = _shape(batch_shape)
        self._event_shape = _shape(event_shape)
        if validate_args is not None:
            self._validate_args = validate_args
        if self._validate_args:
            for param, constraint in self.arg_constraints.items():
                if param not in self.__dict__ and isinstance(
                    getattr(type(self), param, None), lazy_property
                ):
                    continue  # the other parametrization (probs vs logits), computed lazily
                value = getattr(self, param)
                if not constraints._all(constraint.check(value)):
                    raise ValueError(
                        f"Expected parameter {param} ({type(value).__name__} of shape {tuple(value.shape)}) of "
                        f"distribution {self!r} to satisfy the constraint {constraint!r}, but found invalid values:\n{value}"
                    )

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self._batch_shape

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self._event_shape

    @property
    def mean(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement mean")

    @property
    def mode(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement mode")

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement variance")

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    def sample(self, sample_shape=()) -> Tensor:
        """Samples of shape sample_shape + batch_shape + event_shape (no gradient)."""
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=()) -> Tensor:
        raise NotImplementedError(
            f"{type(self).__name__} does not support rsample (not reparameterizable)"
        )

    def sample_n(self, n: int) -> Tensor:
        return self.sample((n,))

    def log_prob(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def entropy(self) -> Tensor:
        raise NotImplementedError

    def perplexity(self) -> Tensor:
        return self.entropy().exp()

    def _extended_shape(self, sample_shape=()) -> tuple[int, ...]:
        return _shape(sample_shape) + self._batch_shape + self._event_shape

    def _validate_sample(self, value: Tensor) -> None:
        """Raises ValueError when value is not a tensor, cannot broadcast, or is outside the support."""
        if not isinstance(value, Tensor):
            raise ValueError(
                f"The value argument to log_prob must be a Tensor, got {type(value).__name__}"
            )
        event_dim = len(self._event_shape)
        if tuple(value.shape[value.ndim - event_dim :]) != self._event_shape:
            raise ValueError(
                f"The right-most size of value must match event_shape: {tuple(value.shape)} vs {self._event_shape}."
            )
        actual = tuple(value.shape[: value.ndim - event_dim])
        expected = self._batch_shape
        for i, j in zip(reversed(actual), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(
                    f"Value is not broadcastable with batch_shape+event_shape: {tuple(value.shape)} vs "
                    f"{expected + self._event_shape}."
                )
        if self.support is not None and not constraints._all(self.support.check(value)):
            raise ValueError(
                f"Expected value argument ({type(value).__name__} of shape {tuple(value.shape)}) to be within the "
                f"support ({self.support!r}) of the distribution {self!r}, but found invalid values:\n{value}"
            )

    def __repr__(self) -> str:
        names = [k for k in self.arg_constraints if k in self.__dict__]
        args = ", ".join(
            f"{k}: {self.__dict__[k].item() if self.__dict__[k].numel() == 1 else tuple(self.__dict__[k].shape)}"
            for k in names
        )
        return f"{type(self).__name__}({args})"
