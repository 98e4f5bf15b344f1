"""ember.nn: layers and losses (see ember.nn.functional for the functional forms)."""

from . import functional  # noqa: F401
