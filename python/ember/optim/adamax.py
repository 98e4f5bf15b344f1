"""Adamax (plain ember ops)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable

from .. import _C
from .._grad_mode import no_grad
from .nadam import _adam_defaults
from .optimizer import Optimizer, _grads_of


class Adamax(Optimizer):
    """Adamax (Kingma & Ba): Adam with an infinity norm in the denominator::

        g = g + weight_decay * p;  m = lerp(m, g, 1 - beta1);  u = max(beta2 * u, |g| + eps)
        p = p - lr / (1 - beta1^t) * m / u

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 2e-3).
        betas: (beta1, beta2) (default (0.9, 0.999)).
        eps: added to |g| (default 1e-8).
        weight_decay: L2 penalty (default 0).
        maximize: ascend instead of descend.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        foreach=None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        defaults = _adam_defaults(
            lr,
            betas,
            eps,
            weight_decay,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            capturable=capturable,
        )
        super().__init__(params, defaults)

    @no_grad()
    def step(self, closure: Callable[[], Any] | None = None):
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, (beta1, beta2), eps, wd = (
                group["lr"],
                group["betas"],
                group["eps"],
                group["weight_decay"],
            )
            for p, g in _grads_of(group):
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = self._step_tensor()
                    state["exp_avg"] = self._zeros_like(p)
                    state["exp_inf"] = self._zeros_like(p)
                state["step"] += 1
                t = float(state["step"].item())
                if wd != 0:
                    g = g + wd * p
                m = state["exp_avg"]
                m = m + (1 - beta1) * (g - m)
                u = _C.maximum(state["exp_inf"] * beta2, g.abs() + eps)
                state["exp_avg"], state["exp_inf"] = m, u
                p.sub_((lr / (1 - beta1**t)) * m / u)
        return loss
