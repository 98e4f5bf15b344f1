"""Adadelta (plain ember ops)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable

from .._grad_mode import no_grad
from .optimizer import Optimizer, _check_hparams, _grads_of


class Adadelta(Optimizer):
    """Adadelta (Zeiler), PyTorch's update::

        g = g + weight_decay * p;  v = rho * v + (1 - rho) * g^2
        delta = sqrt(u + eps) / sqrt(v + eps) * g;  u = rho * u + (1 - rho) * delta^2
        p = p - lr * delta

    Args:
        params: parameters or parameter groups.
        lr: scale of the update (default 1.0).
        rho: decay of the running averages (default 0.9).
        eps: added inside the square roots (default 1e-6).
        weight_decay: L2 penalty (default 0).
        maximize: ascend instead of descend.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        foreach=None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_hparams(learning_rate=lr, epsilon_value=eps, weight_decay_value=weight_decay)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        defaults = dict(
            lr=lr,
            rho=rho,
            eps=eps,
            weight_decay=weight_decay,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)

    @no_grad()
    def step(self, closure: Callable[[], Any] | None = None):
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, rho, eps, wd = group["lr"], group["rho"], group["eps"], group["weight_decay"]
            for p, g in _grads_of(group):
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = self._step_tensor()
                    state["square_avg"] = self._zeros_like(p)
                    state["acc_delta"] = self._zeros_like(p)
                state["step"] += 1
                if wd != 0:
                    g = g + wd * p
                v = state["square_avg"] * rho + (1 - rho) * g * g
                delta = (state["acc_delta"] + eps).sqrt() / (v + eps).sqrt() * g
                state["square_avg"] = v
                state["acc_delta"] = state["acc_delta"] * rho + (1 - rho) * delta * delta
                p.sub_(lr * delta)
        return loss
