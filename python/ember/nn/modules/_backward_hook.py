"""Full backward hooks of a Module: an identity autograd Function around the module's tensor
inputs and another around its outputs. The output node's backward sees ``grad_output`` (and
runs the pre-hooks); the input node's backward sees ``grad_input`` (and runs the hooks)."""

from __future__ import annotations

from typing import Any

from ..._C import Tensor
from ...autograd.function import Function


def _identity_node(name: str, on_backward):
    """A Function class whose forward passes its tensors through and whose backward hands the
    incoming gradients to ``on_backward`` (which may replace them)."""

    def forward(ctx, *tensors):
        outs = tuple(t.detach() for t in tensors)
        # an input that needs no gradient stays so (its grad_input entry is zeros, as in PyTorch)
        ctx.mark_non_differentiable(*[o for o, t in zip(outs, tensors) if not t.requires_grad])
        return outs

    def backward(ctx, *grads):
        res = on_backward(grads)
        return tuple(res)

    return type(
        name, (Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward)}
    )


def _check(res, expected: int, what: str, module) -> tuple:
    res = tuple(res) if isinstance(res, (tuple, list)) else (res,)
    if len(res) != expected:
        raise RuntimeError(
            f"backward hook of {type(module).__name__} returned {len(res)} {what}, expected {expected}"
        )
    return res


class BackwardHook:
    """Wires one call of ``module`` so its backward hooks run with PyTorch's arguments."""

    def __init__(self, module, hooks: list, pre_hooks: list) -> None:
        self.module = module
        self.hooks = hooks
        self.pre_hooks = pre_hooks
        self.n_inputs = 0
        self.inputs_wired = False
        self.grad_output: tuple | None = None

    def _run_hooks(self, grad_input: tuple) -> tuple:
        for hook in self.hooks:
            res = hook(self.module, grad_input, self.grad_output)
            if res is not None:
                grad_input = _check(res, len(grad_input), "grad_input values", self.module)
        return grad_input

    def _on_input_grads(self, grads: tuple) -> tuple:
        return self._run_hooks(tuple(grads))

    def _on_output_grads(self, grads: tuple) -> tuple:
        grads = tuple(grads)
        for hook in self.pre_hooks:
            res = hook(self.module, grads)
            if res is not None:
                grads = _check(res, len(grads), "grad_output values", self.module)
        self.grad_output = grads
        if not self.inputs_wired:  # no input needs a gradient: the hooks see grad_input of Nones
            self._run_hooks((None,) * self.n_inputs)
        return grads

    def setup_inputs(self, args: tuple) -> tuple:
        pos = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.n_inputs = len(pos)
        if not any(args[i].requires_grad for i in pos):
            return args
        fn = _identity_node("BackwardHookFunction", self._on_input_grads)
        wired = fn.apply(*(args[i] for i in pos))
        self.inputs_wired = True
        out = list(args)
        for i, t in zip(pos, wired):
            out[i] = t
        return tuple(out)

    def setup_outputs(self, result: Any) -> Any:
        single = isinstance(result, Tensor)
        outs = (result,) if single else result
        if not isinstance(outs, (tuple, list)):
            return result
        pos = [i for i, o in enumerate(outs) if isinstance(o, Tensor) and o.requires_grad]
        if not pos:
            return result
        fn = _identity_node("BackwardHookFunction", self._on_output_grads)
        wired = fn.apply(*(outs[i] for i in pos))
        new = list(outs)
        for i, t in zip(pos, wired):
            new[i] = t
        return new[0] if single else type(outs)(new)
