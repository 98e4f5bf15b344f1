"""The Optimizer base class: parameter groups, per-parameter state, state_dict in PyTorch's
format. Subclasses gather each group's tensors and make one fused C++ call per group."""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterable
from itertools import chain
from typing import Any, Callable

import numpy as np

from .. import _C
from .._C import Tensor
from .._grad_mode import enable_grad

__all__ = [
    "Optimizer",
    "register_optimizer_step_post_hook",
    "register_optimizer_step_pre_hook",
    "required",
]

# hooks run around every optimizer's step (``register_optimizer_step_pre_hook``)
_global_pre_hooks: dict[int, Callable] = {}
_global_post_hooks: dict[int, Callable] = {}


class _RequiredParameter:
    """Marks a hyperparameter a param group must give (no default)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _to_ember(value, what: str) -> Tensor:
    if isinstance(value, Tensor):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            return _C._from_numpy(value.float().numpy().copy())._to_dtype(_C.bfloat16)
        value = value.numpy()
    if isinstance(value, np.ndarray):
        return _C._from_numpy(np.ascontiguousarray(value).copy())
    raise TypeError(
        f"load_state_dict: state value {what} must be a tensor, got {type(value).__name__}"
    )


class Optimizer:
    """Base class of all optimizers.

    Args:
        params: an iterable of tensors, of ``(name, tensor)`` pairs, or of dicts (parameter
            groups: ``{"params": [...], "lr": ...}``, options not given take the defaults).
        defaults: the default hyperparameters of every group.

    ``state[p]`` holds each parameter's optimizer state (e.g. Adam's ``exp_avg``);
    ``state_dict()`` / ``load_state_dict()`` use PyTorch's format (params as integer ids).
    """

    def __init_subclass__(cls, **kwargs) -> None:
        # every subclass's own step() runs the step hooks around it (PyTorch does the same)
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_runs_step_hooks", False):
            cls.step = _with_step_hooks(step)

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self._step_pre_hooks: dict[int, Callable] = {}
        self._step_post_hooks: dict[int, Callable] = {}
        self.state: defaultdict[Tensor, Any] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, but got ember.Tensor"
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the ordering "
                "of tensors in sets will change between runs. Please use a list instead."
            )
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_step_pre_hooks", {})
        self.__dict__.setdefault("_step_post_hooks", {})

    def __repr__(self) -> str:
        s = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += "\n"
            s += f"Parameter Group {i}\n"
            for key in sorted(group.keys()):
                if key not in ("params", "param_names"):
                    s += f"    {key}: {group[key]}\n"
        return s + ")"

    # ------------------------------------------------------------------ groups

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (with its own hyperparameters) to optimize."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the ordering "
                "of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            param_group["params"] = list(params)
        extracted, names = [], []
        for p in param_group["params"]:
            if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str):
                names.append(p[0])
                extracted.append(p[1])
            else:
                extracted.append(p)
        if names and len(names) != len(extracted):
            raise ValueError("all optimizer params should be named or none of them")
        if names:
            param_group["param_names"] = names
        param_group["params"] = extracted
        for p in extracted:
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}"
                )
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
            if not p.is_floating_point():
                raise TypeError(
                    f"optimizer can only optimize floating point tensors, got {p.dtype!r}"
                )
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    f"parameter group didn't specify a value of required optimization parameter {name}"
                )
            param_group.setdefault(name, default)
        ids = {id(p) for p in extracted}
        if len(ids) != len(extracted):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        existing = set()
        for group in self.param_groups:
            existing.update(id(p) for p in group["params"])
        if existing & ids:
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ------------------------------------------------------------------ grads

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized parameters (to None by default)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    g = p.grad
                    if g.grad_fn is not None:
                        p.grad = g.detach().zero_()
                    else:
                        g.requires_grad_(False)
                        g.zero_()

    # ------------------------------------------------------------------ hooks

    def register_step_pre_hook(self, hook: Callable):
        """``hook(optimizer, args, kwargs)`` runs before each ``step``; it may return
        ``(new_args, new_kwargs)``. Returns a handle whose ``remove()`` unregisters it."""
        return _add_hook(self.__dict__.setdefault("_step_pre_hooks", {}), hook)

    def register_step_post_hook(self, hook: Callable):
        """``hook(optimizer, args, kwargs)`` runs after each ``step``."""
        return _add_hook(self.__dict__.setdefault("_step_post_hooks", {}), hook)

    def step(self, closure: Callable[[], Any] | None = None):
        raise NotImplementedError(f"{type(self).__name__} must implement step()")

    @staticmethod
    def _closure_loss(closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # ------------------------------------------------------------------ state dict

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}`` — PyTorch's
        format; parameters are numbered in group order. Tensors are the live state (not copies)."""
        param_mappings: dict[int, int] = {}
        start_index = 0

        def pack_group(group):
            nonlocal start_index
            packed = {k: v for k, v in group.items() if k != "params"}
            param_mappings.update(
                {
                    id(p): i
                    for i, p in enumerate(group["params"], start_index)
                    if id(p) not in param_mappings
                }
            )
            packed["params"] = [param_mappings[id(p)] for p in group["params"]]
            start_index += len(packed["params"])
            return packed

        param_groups = [pack_group(g) for g in self.param_groups]
        packed_state = {}
        for k, v in self.state.items():
            key = param_mappings[id(k)] if isinstance(k, Tensor) else k
            packed_state[key] = v
        return {"state": packed_state, "param_groups": param_groups}

    @staticmethod
    def _process_value_according_to_param_policy(param: Tensor, value, key) -> Any:
        if (
            isinstance(value, Tensor)
            or (hasattr(value, "detach") and hasattr(value, "numpy"))
            or isinstance(value, np.ndarray)
        ):
            v = _to_ember(value, repr(key))
            if key == "step":
                # step counts stay float32/64 scalars (as PyTorch keeps them)
                if not v.is_floating_point() or v.dtype in (_C.float16, _C.bfloat16):
                    v = v._to_dtype(_C.float32)
                return v.reshape([]).clone() if v.numel() == 1 else v.clone()
            if v.is_floating_point() and v.dtype != param.dtype:
                v = v._to_dtype(param.dtype)
            if tuple(v.shape) != tuple(param.shape) and v.numel() == param.numel():
                v = v.reshape(param.shape)
            return v.clone().contiguous()
        if key == "step" and isinstance(value, (int, float)):
            return _C._full([], float(value), _C.float32)
        return value

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load state and hyperparameters saved by ``state_dict()`` (from ember or PyTorch).

        Groups must match in number and size; tensors are copied and cast to the param dtype.
        """
        if (
            not isinstance(state_dict, dict)
            or "state" not in state_dict
            or "param_groups" not in state_dict
        ):
            raise ValueError("load_state_dict: expected a dict with 'state' and 'param_groups'")
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError(
                f"loaded state dict has a different number of parameter groups ({len(saved_groups)}) "
                f"than the optimizer ({len(groups)})"
            )
        param_lens = [len(g["params"]) for g in groups]
        saved_lens = [len(g["params"]) for g in saved_groups]
        if any(p_len != s_len for p_len, s_len in zip(param_lens, saved_lens)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of optimizer's group "
                f"(saved sizes {saved_lens}, optimizer sizes {param_lens})"
            )
        id_map = dict(
            zip(
                chain.from_iterable(g["params"] for g in saved_groups),
                chain.from_iterable(g["params"] for g in groups),
            )
        )

        def cast(param, value, key=None):
            if isinstance(value, dict):
                return {k: cast(param, v, key=k) for k, v in value.items()}
            if isinstance(value, (list, tuple)) and not isinstance(value, str):
                return type(value)(cast(param, v, key=key) for v in value)
            return Optimizer._process_value_according_to_param_policy(param, value, key)

        state: defaultdict[Any, Any] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            key = int(k) if isinstance(k, str) and k.lstrip("-").isdigit() else k
            if key in id_map:
                param = id_map[key]
                state[param] = cast(param, v)
            else:
                state[key] = v

        def update_group(group, new_group):
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            return new_group

        param_groups = [update_group(g, ng) for g, ng in zip(groups, saved_groups)]
        for g in param_groups:
            if "betas" in g and isinstance(g["betas"], list):
                g["betas"] = tuple(g["betas"])
        self.__setstate__({"state": state, "param_groups": param_groups})

    # ------------------------------------------------------------------ helpers for subclasses

    @staticmethod
    def _zeros_like(p: Tensor) -> Tensor:
        return _C._zeros(list(p.shape), p.dtype, p.device.type)  # state on the param's device

    @staticmethod
    def _step_tensor() -> Tensor:
        return _C._zeros([], _C.float32)


def _grads_of(group: dict[str, Any]) -> list[tuple[Tensor, Tensor]]:
    """(param, grad) for each parameter of ``group`` that has a gradient; the gradient is negated
    with ``maximize`` (the optimizers written with plain ember ops share this)."""
    out = []
    for p in group["params"]:
        g = p.grad
        if g is None:
            continue
        out.append((p, -g if group.get("maximize", False) else g))
    return out


def _check_hparams(**values: float) -> None:
    """ValueError naming the first negative hyperparameter (PyTorch's messages)."""
    for name, v in values.items():
        if not 0.0 <= v:
            raise ValueError(f"Invalid {name.replace('_', ' ')}: {v}")


def _add_hook(hooks: dict[int, Callable], hook: Callable):
    from ..nn.modules.module import RemovableHandle

    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    return handle


def register_optimizer_step_pre_hook(hook: Callable):
    """Register ``hook(optimizer, args, kwargs)`` to run before the step of every optimizer."""
    return _add_hook(_global_pre_hooks, hook)


def register_optimizer_step_post_hook(hook: Callable):
    """Register ``hook(optimizer, args, kwargs)`` to run after the step of every optimizer."""
    return _add_hook(_global_post_hooks, hook)


def _with_step_hooks(step: Callable) -> Callable:
    import functools

    @functools.wraps(step)
    def wrapper(*args, **kwargs):
        # hooks see (optimizer, args, kwargs) with the optimizer first in args, as in PyTorch
        self = args[0]
        own_pre = self.__dict__.get("_step_pre_hooks", {})
        own_post = self.__dict__.get("_step_post_hooks", {})
        nested = self.__dict__.get("_in_step", False)  # a subclass step calling super().step()
        if nested or not (own_pre or own_post or _global_pre_hooks or _global_post_hooks):
            return step(*args, **kwargs)
        for hook in chain(list(_global_pre_hooks.values()), list(own_pre.values())):
            res = hook(self, args, kwargs)
            if res is not None:
                if not (isinstance(res, tuple) and len(res) == 2):
                    raise RuntimeError(
                        f"{hook} must return None or a tuple of (new_args, new_kwargs), but got {res}."
                    )
                args, kwargs = res
        self._in_step = True
        try:
            out = step(*args, **kwargs)
        finally:
            self._in_step = False
        for hook in chain(list(own_post.values()), list(_global_post_hooks.values())):
            hook(self, args, kwargs)
        return out

    wrapper._runs_step_hooks = True
    return wrapper
