"""RMSprop (fused multi-tensor C++ update)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable

from .. import _C
from .optimizer import Optimizer


class RMSprop(Optimizer):
    """RMSprop (Hinton), PyTorch's variant::

        g = g + weight_decay * p;  v = alpha * v + (1 - alpha) * g^2
        avg = sqrt(v - gavg^2) (centered, gavg = lerp(gavg, g, 1 - alpha)) or sqrt(v);  avg += eps
        buf = momentum * buf + g / avg;  p -= lr * buf   (or p -= lr * g / avg without momentum)

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-2).
        alpha: smoothing constant (default 0.99).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty (default 0).
        momentum: momentum factor (default 0).
        centered: normalize by the estimated variance of the gradient.
        maximize: ascend instead of descend.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        capturable: bool = False,
        foreach=None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            alpha=alpha,
            eps=eps,
            centered=centered,
            weight_decay=weight_decay,
            capturable=capturable,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("momentum", 0)
            group.setdefault("centered", False)
            group.setdefault("maximize", False)

    def step(self, closure: Callable[[], Any] | None = None):
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            momentum, centered = group["momentum"], group["centered"]
            params, grads, sqs, gavgs, bufs, steps = [], [], [], [], [], []
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = self._step_tensor()
                    state["square_avg"] = self._zeros_like(p)
                    if momentum > 0:
                        state["momentum_buffer"] = self._zeros_like(p)
                    if centered:
                        state["grad_avg"] = self._zeros_like(p)
                if momentum > 0 and "momentum_buffer" not in state:
                    state["momentum_buffer"] = self._zeros_like(p)
                if centered and "grad_avg" not in state:
                    state["grad_avg"] = self._zeros_like(p)
                params.append(p)
                grads.append(g)
                sqs.append(state["square_avg"])
                steps.append(state["step"])
                if momentum > 0:
                    bufs.append(state["momentum_buffer"])
                if centered:
                    gavgs.append(state["grad_avg"])
            if params:
                _C._rmsprop_step(
                    params,
                    grads,
                    sqs,
                    gavgs,
                    bufs,
                    steps,
                    group["lr"],
                    group["alpha"],
                    group["eps"],
                    group["weight_decay"],
                    momentum,
                    centered,
                    group["maximize"],
                )
        return loss
