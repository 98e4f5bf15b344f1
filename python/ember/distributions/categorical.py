"""Categorical distribution over {0, ..., K - 1}."""

from __future__ import annotations

from .. import _C
from .._C import Tensor
from .._grad_mode import no_grad
from . import constraints
from .distribution import Distribution, _shape, lazy_property


class Categorical(Distribution):
    """Categorical distribution over K categories, parametrized along the last dim.

    Args:
        probs: [*, K] non-negative weights (normalized to sum to 1), or
        logits: [*, K] unnormalized log-probabilities (exactly one of the two).
        validate_args: see :class:`Distribution`.

    batch_shape is the parameter's shape without the last dim; samples are int64 indices.
    """

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    has_rsample = False

    def __init__(self, probs=None, logits=None, validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            if probs.ndim < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.probs = probs / probs.sum(-1, keepdim=True)
            param = self.probs
        else:
            if logits.ndim < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self.logits = logits - logits.logsumexp(-1, keepdim=True)
            param = self.logits
        self._param = param
        self._num_events = param.shape[-1]
        super().__init__(tuple(param.shape[:-1]), validate_args=validate_args)

    @lazy_property
    def probs(self) -> Tensor:
        return _C.softmax(self.logits, -1)

    @lazy_property
    def logits(self) -> Tensor:
        eps = 1.1920928955078125e-07 if self.probs.dtype != _C.float64 else 2.220446049250313e-16
        return self.probs.clamp(eps, 1 - eps).log()

    @property
    def support(self) -> constraints.Constraint:
        return constraints.integer_interval(0, self._num_events - 1)

    @property
    def param_shape(self) -> tuple[int, ...]:
        return tuple(self._param.shape)

    @property
    def mean(self) -> Tensor:
        return _C._full(list(self.batch_shape), float("nan"), self.probs.dtype)

    @property
    def mode(self) -> Tensor:
        return self.probs.argmax(-1)

    @property
    def variance(self) -> Tensor:
        return _C._full(list(self.batch_shape), float("nan"), self.probs.dtype)

    def sample(self, sample_shape=(), generator=None) -> Tensor:
        """int64 indices of shape sample_shape + batch_shape (ember.multinomial per batch row)."""
        sample_shape = _shape(sample_shape)
        n = 1
        for s in sample_shape:
            n *= s
        probs_2d = self.probs.reshape(-1, self._num_events)
        with no_grad():
            if n == 0 or probs_2d.shape[0] == 0:
                return _C._zeros(list(self._extended_shape(sample_shape)), _C.int64)
            draws = _C.multinomial(probs_2d, n, True, generator=generator)  # [rows, n]
        return draws.t().reshape(*self._extended_shape(sample_shape))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        value = value.long().unsqueeze(-1)
        value, log_pmf = _C.broadcast_tensors(value, self.logits)
        return log_pmf.gather(-1, value[..., :1]).squeeze(-1)

    def entropy(self) -> Tensor:
        # logits may be -inf where probs are 0: 0 * -inf must count as 0
        min_real = (
            -3.4028234663852886e38 if self.logits.dtype != _C.float64 else -1.7976931348623157e308
        )
        logits = self.logits.clamp(min=min_real)
        return -(logits * self.probs).sum(-1)
