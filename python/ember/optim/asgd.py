"""ASGD: averaged stochastic gradient descent (plain ember ops)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable

from .. import _C
from .._grad_mode import no_grad
from .optimizer import Optimizer, _check_hparams, _grads_of


class ASGD(Optimizer):
    """Averaged SGD (Polyak & Juditsky), PyTorch's variant::

        g = g + weight_decay * p;  p = p * (1 - lambd * eta) - eta * g
        ax = ax + mu * (p - ax)    (ax = p while mu == 1)
        eta = lr / (1 + lambd * lr * t)^alpha;  mu = 1 / max(1, t - t0)

    ``state[p]["ax"]`` is the averaged parameter.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-2).
        lambd: decay term (default 1e-4).
        alpha: power for the eta update (default 0.75).
        t0: step at which averaging starts (default 1e6).
        weight_decay: L2 penalty (default 0).
        maximize: ascend instead of descend.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0.0,
        foreach=None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        _check_hparams(learning_rate=lr, weight_decay_value=weight_decay)
        defaults = dict(
            lr=lr,
            lambd=lambd,
            alpha=alpha,
            t0=t0,
            weight_decay=weight_decay,
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
            lr, lambd, alpha, t0 = group["lr"], group["lambd"], group["alpha"], group["t0"]
            wd = group["weight_decay"]
            for p, g in _grads_of(group):
                state = self.state[p]
                if len(state) == 0:
                    # eta and mu are float32 scalar tensors, as in PyTorch's state
                    state["step"] = self._step_tensor()
                    state["eta"] = _C._full([], float(lr), _C.float32)
                    state["mu"] = _C._full([], 1.0, _C.float32)
                    state["ax"] = self._zeros_like(p)
                state["step"] += 1
                t = float(state["step"].item())
                if wd != 0:
                    g = g + wd * p
                eta = float(state["eta"].item())
                p.mul_(1 - lambd * eta)
                p.add_(-eta * g)
                if float(state["mu"].item()) != 1:
                    state["ax"] = state["ax"] + (p - state["ax"]) * float(state["mu"].item())
                else:
                    state["ax"] = p.clone()
                state["eta"] = _C._full([], lr / ((1 + lambd * lr * t) ** alpha), _C.float32)
                state["mu"] = _C._full([], 1 / max(1, t - t0), _C.float32)
        return loss
