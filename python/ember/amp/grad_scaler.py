"""``ember.amp.GradScaler``: dynamic loss scaling, step for step as ``torch.amp.GradScaler``."""

from __future__ import annotations

import math
import warnings

from .. import _C
from .._grad_mode import no_grad

_READY, _UNSCALED, _STEPPED = 0, 1, 2


class GradScaler:
    """Scale the loss so small float16/bfloat16 gradients do not flush to zero, unscale the
    gradients before the optimizer step, skip the step when a gradient is inf/NaN and adapt the
    scale: ``backoff_factor`` on an inf/NaN step, ``growth_factor`` after ``growth_interval``
    clean steps in a row.

    Example::

        scaler = ember.amp.GradScaler("cpu")
        with ember.autocast("cpu", dtype=ember.float16):
            loss = loss_fn(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)  # unscales, skips the step if a grad is inf/NaN
        scaler.update()

    Args:
        device: ``"cpu"`` or ``"mps"`` (``"cuda"`` warns and disables the scaler).
        init_scale, growth_factor, backoff_factor, growth_interval, enabled: as PyTorch.
    """

    def __init__(
        self,
        device: str = "cpu",
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ):
        self._device = str(device)
        if self._device == "cuda" and enabled:
            warnings.warn(
                "GradScaler: ember has no CUDA backend; disabling the scaler.", stacklevel=2
            )
            enabled = False
        self._enabled = bool(enabled)
        if self._enabled:
            if not growth_factor > 1.0:
                raise ValueError(f"GradScaler: growth_factor should be > 1, got {growth_factor}")
            if not backoff_factor < 1.0:
                raise ValueError(f"GradScaler: backoff_factor should be < 1, got {backoff_factor}")
            if growth_interval <= 0:
                raise ValueError(
                    f"GradScaler: growth_interval should be a positive int, got {growth_interval}"
                )
        self._init_scale = float(init_scale)
        self._scale = None  # a 0-d float32 tensor, made on first scale()
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._init_growth_tracker = 0
        self._growth_tracker = None
        self._per_optimizer_states = {}  # id(optimizer) -> {"stage", "found_inf"}

    def _lazy_init(self):
        self._scale = _C._full([], self._init_scale, _C.float32)
        self._growth_tracker = self._init_growth_tracker

    def _state(self, optimizer):
        return self._per_optimizer_states.setdefault(
            id(optimizer), {"stage": _READY, "found_inf": None}
        )

    def is_enabled(self) -> bool:
        return self._enabled

    def scale(self, outputs):
        """``outputs`` (a tensor or nested list/tuple of tensors) multiplied by the scale."""
        if not self._enabled:
            return outputs
        if self._scale is None:
            self._lazy_init()
        if isinstance(outputs, _C.Tensor):
            return outputs * self._scale
        if isinstance(outputs, (list, tuple)):
            scaled = [self.scale(o) for o in outputs]
            return type(outputs)(scaled) if isinstance(outputs, tuple) else scaled
        raise ValueError("GradScaler.scale: outputs must be a Tensor or an iterable of Tensors")

    def _grads(self, optimizer):
        grads = []
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.dtype == _C.float16:
                    raise ValueError("Attempting to unscale FP16 gradients.")
                grads.append(p.grad)
        return grads

    def unscale_(self, optimizer) -> None:
        """Divide the optimizer's gradients by the scale in place (once per step) and record
        whether any of them is inf/NaN."""
        if not self._enabled:
            return
        if self._scale is None:
            raise RuntimeError(
                "GradScaler.unscale_: scale() has not been called yet (no scale to unscale by)"
            )
        state = self._state(optimizer)
        if state["stage"] == _UNSCALED:
            raise RuntimeError(
                "unscale_() has already been called on this optimizer since the last update()."
            )
        if state["stage"] == _STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        # 1/scale rounded through float64 to float32, as PyTorch
        inv_scale = float(_C._full([], 1.0 / self._scale.item(), _C.float32).item())
        with no_grad():
            grads = self._grads(optimizer)
            # one fused pass: the 1-norm (accumulated in float64) is finite iff every element is
            found_inf = bool(grads) and not math.isfinite(_C._multi_tensor_norm(grads, 1.0))
            if grads:
                _C._multi_tensor_scale_(grads, inv_scale)
        state["found_inf"] = found_inf
        state["stage"] = _UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """Unscale (if ``unscale_`` was not called) and run ``optimizer.step(*args, **kwargs)``
        unless a gradient is inf/NaN; returns the step's return value (None when skipped)."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        state = self._state(optimizer)
        if state["stage"] == _STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] == _READY:
            self.unscale_(optimizer)
        retval = None
        if not state["found_inf"]:
            retval = optimizer.step(*args, **kwargs)
        state["stage"] = _STEPPED
        return retval

    def update(self, new_scale=None) -> None:
        """Back the scale off after an inf/NaN step, grow it after ``growth_interval`` clean
        steps (or set it to ``new_scale``); then reset the per-optimizer state."""
        if not self._enabled:
            return
        if self._scale is None:
            raise RuntimeError("GradScaler.update: scale() has not been called yet")
        if new_scale is not None:
            if isinstance(new_scale, _C.Tensor):
                if new_scale.numel() != 1 or new_scale.requires_grad:
                    raise ValueError(
                        "GradScaler.update: new_scale should be a 1-element tensor with requires_grad=False"
                    )
                new_scale = new_scale.item()
            self._scale = _C._full([], float(new_scale), _C.float32)
        else:
            found = [
                s["found_inf"]
                for s in self._per_optimizer_states.values()
                if s["found_inf"] is not None
            ]
            if not found:
                raise RuntimeError("No inf checks were recorded prior to update.")
            scale = self._scale.item()
            if any(found):
                scale *= self._backoff_factor
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    grown = _C._full([], scale * self._growth_factor, _C.float32).item()
                    if math.isfinite(grown):
                        scale = grown
                    self._growth_tracker = 0
            self._scale = _C._full([], scale, _C.float32)
        self._per_optimizer_states = {}

    def get_scale(self) -> float:
        """The current scale (1.0 when disabled)."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else self._scale.item()

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = int(new_interval)

    def _get_growth_tracker(self) -> int:
        if not self._enabled:
            return 0
        return self._init_growth_tracker if self._growth_tracker is None else self._growth_tracker

    def state_dict(self) -> dict:
        """scale, growth_factor, backoff_factor, growth_interval, _growth_tracker (empty when disabled)."""
        if not self._enabled:
            return {}
        return {
            "scale": self.get_scale(),
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": self._get_growth_tracker(),
        }

    def load_state_dict(self, state_dict: dict) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError(
                "The source state dict is empty, possibly because it was saved from a disabled instance of GradScaler."
            )
        self._init_scale = float(state_dict["scale"])
        if self._scale is not None:
            self._scale = _C._full([], self._init_scale, _C.float32)
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._init_growth_tracker = int(state_dict["_growth_tracker"])
        if self._growth_tracker is not None:
            self._growth_tracker = self._init_growth_tracker
