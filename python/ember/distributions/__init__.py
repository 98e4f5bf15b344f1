"""ember.distributions: probability distributions with PyTorch's interface (sample, rsample,
log_prob, entropy, mean, variance, batch/event shapes, argument validation)."""

from . import constraints
from .bernoulli import Bernoulli
from .categorical import Categorical
from .distribution import Distribution
from .normal import Normal

__all__ = ["Bernoulli", "Categorical", "Distribution", "Normal", "constraints"]
