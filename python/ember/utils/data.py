"""``ember.utils.data``: ``torch.utils.data``'s names, so ``from torch.utils.data import ...``
ports by changing ``torch`` to ``ember``. Everything lives in :mod:`ember.data`."""

from ..data import *  # noqa: F403
from ..data import __all__ as _data_all

__all__ = list(_data_all)
