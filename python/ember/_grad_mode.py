"""Grad-mode switches: ``no_grad``, ``enable_grad``, ``set_grad_enabled`` (context managers and
decorators, with or without parentheses) and ``inference_mode`` (``no_grad`` here)."""

import functools

from . import _C


class _GradModeBase:
    """Sets grad mode to ``self._mode`` inside a ``with`` block or a decorated function."""

    _mode: bool = True

    def __new__(cls, *args, **kwargs):
        # `@ember.no_grad` without parentheses: wrap the function directly
        if cls is not set_grad_enabled and len(args) == 1 and callable(args[0]) and not kwargs:
            return cls()(args[0])
        return super().__new__(cls)

    def __enter__(self):
        self._prev = _C.is_grad_enabled()
        _C._set_grad_enabled(self._mode)
        return self

    def __exit__(self, *exc):
        _C._set_grad_enabled(self._prev)
        return False

    def clone(self):
        return self.__class__()

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.clone():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradModeBase):
    """Disable gradient recording inside a ``with`` block or a decorated function."""

    _mode = False


class enable_grad(_GradModeBase):
    """Enable gradient recording (e.g. inside a ``no_grad`` block)."""

    _mode = True


class inference_mode(_GradModeBase):
    """Like ``no_grad`` (ember has no separate inference tensors); ``inference_mode(False)`` is a no-op."""

    def __init__(self, mode: bool = True):
        self._enabled = bool(mode)
        self._mode = not mode if mode else _C.is_grad_enabled()

    def __enter__(self):
        if not self._enabled:
            self._mode = _C.is_grad_enabled()
        return super().__enter__()

    def clone(self):
        return inference_mode(self._enabled)


class set_grad_enabled(_GradModeBase):
    """Set grad mode to ``mode``: at once (like PyTorch), and restored after a ``with`` block."""

    def __init__(self, mode: bool):
        self._prev = _C.is_grad_enabled()
        self._mode = bool(mode)
        _C._set_grad_enabled(self._mode)

    def __enter__(self):
        return self

    def clone(self):
        return set_grad_enabled(self._mode)

    def __call__(self, fn):
        # used as a decorator: undo the immediate switch done by __init__
        _C._set_grad_enabled(self._prev)
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = _C.is_grad_enabled()
            _C._set_grad_enabled(mode)
            try:
                return fn(*args, **kwargs)
            finally:
                _C._set_grad_enabled(prev)

        return wrapper


def is_grad_enabled() -> bool:
    return _C.is_grad_enabled()
