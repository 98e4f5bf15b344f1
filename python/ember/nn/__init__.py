"""ember.nn: modules, layers, containers and losses (see ember.nn.functional for the
functional forms, ember.nn.init for initializers, ember.nn.utils for gradient clipping)."""

from . import (
    functional,  # noqa: F401
    init,  # noqa: F401
    utils,  # noqa: F401
)
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _modules_all
from .parameter import Buffer, Parameter

__all__ = ["functional", "init", "utils", "Parameter", "Buffer", *_modules_all]


def __getattr__(name):
    # ember.nn.parallel (DistributedDataParallel) needs mpi4py only when used: import on demand
    if name == "parallel":
        import importlib

        return importlib.import_module(".parallel", __name__)
    raise AttributeError(f"module 'ember.nn' has no attribute '{name}'")
