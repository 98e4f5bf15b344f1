"""NAdam and RAdam (plain ember ops)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Callable

import numpy as np

from .. import _C
from .._grad_mode import no_grad
from .optimizer import Optimizer, _check_hparams, _grads_of


def _adam_defaults(lr, betas, eps, weight_decay, **extra) -> dict[str, Any]:
    _check_hparams(learning_rate=lr, epsilon_value=eps, weight_decay_value=weight_decay)
    for i, b in enumerate(betas):
        if not 0.0 <= b < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {b}")
    return dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, **extra)


def _decay(p, g, group):
    """L2 penalty into the gradient, or decoupled decay of the weights (AdamW-style)."""
    wd = group["weight_decay"]
    if wd == 0:
        return g
    if group["decoupled_weight_decay"]:
        p.mul_(1 - group["lr"] * wd)
        return g
    return g + wd * p


class NAdam(Optimizer):
    """NAdam (Dozat): Adam with Nesterov momentum and a momentum schedule::

        mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay))
        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g^2
        denom = sqrt(v / (1 - beta2^t)) + eps
        p -= lr * (1 - mu_t) / (1 - prod mu) * g / denom + lr * mu_{t+1} / (1 - prod mu * mu_{t+1}) * m / denom

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 2e-3).
        betas: (beta1, beta2) (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty, or decoupled decay with ``decoupled_weight_decay`` (default 0).
        momentum_decay: speed of the momentum schedule (default 4e-3).
        decoupled_weight_decay: decay the weights directly (NAdamW).
        maximize: ascend instead of descend.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach=None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_hparams(momentum_decay=momentum_decay)
        defaults = _adam_defaults(
            lr,
            betas,
            eps,
            weight_decay,
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
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
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            psi = group["momentum_decay"]
            for p, g in _grads_of(group):
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = self._step_tensor()
                    state["mu_product"] = _C._full([], 1.0, _C.float32)
                    state["exp_avg"] = self._zeros_like(p)
                    state["exp_avg_sq"] = self._zeros_like(p)
                state["step"] += 1
                t = float(state["step"].item())
                g = _decay(p, g, group)
                mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
                mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
                # the running product is a float32 scalar tensor, as in PyTorch's state
                mu_prod = float(np.float32(state["mu_product"].item()) * np.float32(mu))
                state["mu_product"] = _C._full([], mu_prod, _C.float32)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m = m + (1 - beta1) * (g - m)
                v = v * beta2 + (1 - beta2) * g * g
                state["exp_avg"], state["exp_avg_sq"] = m, v
                denom = (v / (1 - beta2**t)).sqrt() + eps
                p.sub_((lr * (1 - mu) / (1 - mu_prod)) * g / denom)
                p.sub_((lr * mu_next / (1 - mu_prod * mu_next)) * m / denom)
        return loss


class RAdam(Optimizer):
    """RAdam (Liu et al.): Adam whose adaptive term is switched on once the variance of the
    second-moment estimate is tractable (rho_t > 5), and rectified by ``r_t``::

        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g^2;  m_hat = m / (1 - beta1^t)
        rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t),  rho_inf = 2 / (1 - beta2) - 1
        p -= lr * m_hat * r_t * sqrt(1 - beta2^t) / (sqrt(v) + eps)   if rho_t > 5
        p -= lr * m_hat                                               otherwise

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-3).
        betas: (beta1, beta2) (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty, or decoupled decay with ``decoupled_weight_decay`` (default 0).
        decoupled_weight_decay: decay the weights directly (RAdamW).
        maximize: ascend instead of descend.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        *,
        foreach=None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        defaults = _adam_defaults(
            lr,
            betas,
            eps,
            weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
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
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            rho_inf = 2 / (1 - beta2) - 1
            for p, g in _grads_of(group):
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = self._step_tensor()
                    state["exp_avg"] = self._zeros_like(p)
                    state["exp_avg_sq"] = self._zeros_like(p)
                state["step"] += 1
                t = float(state["step"].item())
                g = _decay(p, g, group)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m = m + (1 - beta1) * (g - m)
                v = v * beta2 + (1 - beta2) * g * g
                state["exp_avg"], state["exp_avg_sq"] = m, v
                bc2 = 1 - beta2**t
                m_hat = m / (1 - beta1**t)
                rho_t = rho_inf - 2 * t * (beta2**t) / bc2
                if rho_t > 5.0:
                    rect = math.sqrt(
                        (rho_t - 4)
                        * (rho_t - 2)
                        * rho_inf
                        / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
                    )
                    adaptive = math.sqrt(bc2) / (v.sqrt() + eps)
                    p.add_(m_hat * lr * adaptive * rect * -1.0)
                else:
                    p.add_(m_hat * lr * -1.0)
        return loss
