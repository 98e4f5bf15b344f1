"""Bernoulli distribution over {0, 1}."""

from __future__ import annotations

from .. import _C
from .._C import Tensor
from .._grad_mode import no_grad
from ..nn import functional as F
from . import constraints
from .distribution import Distribution, broadcast_all, lazy_property


def _clamp_probs(p: Tensor) -> Tensor:
    eps = 1.1920928955078125e-07 if p.dtype != _C.float64 else 2.220446049250313e-16
    return p.clamp(eps, 1 - eps)


class Bernoulli(Distribution):
    """Bernoulli distribution: 1 with probability ``probs``, else 0.

    Args:
        probs: probability of 1 (in [0, 1]), or
        logits: its log-odds (exactly one of the two).
        validate_args: see :class:`Distribution`.
    """

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_rsample = False

    def __init__(self, probs=None, logits=None, validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            (self.probs,) = broadcast_all(probs)
            param = self.probs
        else:
            (self.logits,) = broadcast_all(logits)
            param = self.logits
        self._param = param
        super().__init__(tuple(param.shape), validate_args=validate_args)

    @lazy_property
    def probs(self) -> Tensor:
        return _C.sigmoid(self.logits)

    @lazy_property
    def logits(self) -> Tensor:
        p = _clamp_probs(self.probs)
        return p.log() - (-p).log1p()

    @property
    def param_shape(self) -> tuple[int, ...]:
        return tuple(self._param.shape)

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        m = (self.probs >= 0.5).to(self.probs.dtype)
        return m.masked_fill(self.probs == 0.5, float("nan"))

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=(), generator=None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        with no_grad():
            return _C.bernoulli(self.probs.expand(*shape), generator=generator)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return -F.binary_cross_entropy_with_logits(logits, value.to(logits.dtype), reduction="none")

    def entropy(self) -> Tensor:
        return F.binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")
