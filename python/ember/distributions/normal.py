"""Normal (Gaussian) distribution."""

from __future__ import annotations

import math

from .. import _C
from .._C import Tensor
from . import constraints
from .distribution import Distribution, broadcast_all


class Normal(Distribution):
    """Normal distribution N(loc, scale^2), reparameterizable.

    Args:
        loc: mean (tensor or number). scale: standard deviation (> 0).
        validate_args: see :class:`Distribution`.

    batch_shape is the broadcast shape of loc and scale; event_shape is ().
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args: bool | None = None) -> None:
        self.loc, self.scale = broadcast_all(loc, scale)
        super().__init__(tuple(self.loc.shape), validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def stddev(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        return self.scale * self.scale

    def rsample(self, sample_shape=(), generator=None) -> Tensor:
        """loc + scale * eps with eps ~ N(0, 1): differentiable in loc and scale."""
        shape = self._extended_shape(sample_shape)
        eps = _C._randn(list(shape), self.loc.dtype, generator, self.loc.device.type)
        return self.loc + eps * self.scale

    def sample(self, sample_shape=(), generator=None) -> Tensor:
        return self.rsample(sample_shape, generator).detach()

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        var = self.scale * self.scale
        return (
            -((value - self.loc) ** 2) / (2 * var)
            - self.scale.log()
            - math.log(math.sqrt(2 * math.pi))
        )

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 * (1 + _C.erf((value - self.loc) / (self.scale * math.sqrt(2))))

    def entropy(self) -> Tensor:
        return 0.5 + 0.5 * math.log(2 * math.pi) + self.scale.log()
