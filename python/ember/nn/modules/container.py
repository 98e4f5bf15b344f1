"""Containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict, and the
composition helpers Parallel, Residual and ProjectionResidual."""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import Any, Callable

from ... import _C
from ..._C import Tensor
from ..parameter import Parameter
from .module import Module, _addindent


def _index(idx: int, n: int, what: str) -> int:
    idx = operator.index(idx)
    if not -n <= idx < n:
        raise IndexError(f"index {idx} is out of range for {what} of length {n}")
    return idx + n if idx < 0 else idx


class Sequential(Module):
    """Modules applied one after the other: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Takes modules as arguments or one OrderedDict of named modules. Supports indexing,
    slicing (a new Sequential), ``len``, iteration, ``append``, ``insert``, ``extend``, ``pop``
    and ``+``.
    """

    def __init__(self, *args: Module) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return self.__class__(OrderedDict(list(self._modules.items())[idx]))
        return self._get_item_by_idx(self._modules.values(), idx)

    def _get_item_by_idx(self, iterator, idx):
        size = len(self)
        idx = _index(idx, size, type(self).__name__)
        return next(islice(iterator, idx, None))

    def __setitem__(self, idx: int, module: Module) -> None:
        key = self._get_item_by_idx(self._modules.keys(), idx)
        setattr(self, key, module)

    def __delitem__(self, idx) -> None:
        if isinstance(idx, slice):
            for key in list(self._modules.keys())[idx]:
                delattr(self, key)
        else:
            key = self._get_item_by_idx(self._modules.keys(), idx)
            delattr(self, key)
        # keep the numbering contiguous
        str_indices = [str(i) for i in range(len(self._modules))]
        self._modules = OrderedDict(list(zip(str_indices, self._modules.values())))

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(
                f"add operator supports only objects of Sequential class, but {type(other)} is given."
            )
        ret = Sequential()
        for layer in self:
            ret.append(layer)
        for layer in other:
            ret.append(layer)
        return ret

    def __iadd__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(
                f"add operator supports only objects of Sequential class, but {type(other)} is given."
            )
        for layer in other:
            self.append(layer)
        return self

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        n = len(self._modules)
        if not (-n <= index <= n):
            raise IndexError(f"Index out of range: {index}")
        if index < 0:
            index += n
        for i in range(n, index, -1):
            self._modules[str(i)] = self._modules[str(i - 1)]
        self._modules[str(index)] = module
        return self

    def extend(self, sequential: Iterable[Module]) -> Sequential:
        for layer in sequential:
            self.append(layer)
        return self

    def pop(self, key: int = -1) -> Module:
        v = self[key]
        del self[key]
        return v

    def forward(self, input):
        for module in self:
            input = module(input)
        return input


class ModuleList(Module):
    """A list of modules, registered as submodules (named "0", "1", ...)."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self += modules

    def _get_abs_string_index(self, idx) -> str:
        return str(_index(idx, len(self), type(self).__name__))

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return self.__class__(list(self._modules.values())[idx])
        return self._modules[self._get_abs_string_index(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, self._get_abs_string_index(idx), module)

    def __delitem__(self, idx) -> None:
        if isinstance(idx, slice):
            for k in range(len(self._modules))[idx]:
                delattr(self, str(k))
        else:
            delattr(self, self._get_abs_string_index(idx))
        str_indices = [str(i) for i in range(len(self._modules))]
        self._modules = OrderedDict(list(zip(str_indices, self._modules.values())))

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        combined = ModuleList()
        for i, module in enumerate(list(self) + list(other)):
            combined.add_module(str(i), module)
        return combined

    def insert(self, index: int, module: Module) -> None:
        n = len(self._modules)
        if index < 0:
            index = max(0, index + n)
        index = min(index, n)
        for i in range(n, index, -1):
            self._modules[str(i)] = self._modules[str(i - 1)]
        self._modules[str(index)] = module

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def pop(self, key: int = -1) -> Module:
        v = self[key]
        del self[key]
        return v

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        if isinstance(modules, (Tensor, str)) or not hasattr(modules, "__iter__"):
            raise TypeError(
                "ModuleList.extend should be called with an iterable, but got "
                + type(modules).__name__
            )
        offset = len(self)
        for i, module in enumerate(modules):
            self.add_module(str(offset + i), module)
        return self

    def __repr__(self) -> str:
        # like PyTorch: runs of identical module reprs are collapsed ("(0-3): 4 x Linear(...)")
        list_of_reprs = [repr(item) for item in self]
        if not list_of_reprs:
            return self._get_name() + "()"
        start_end_indices = [[0, 0]]
        repeated_blocks = [list_of_reprs[0]]
        for i, r in enumerate(list_of_reprs[1:], 1):
            if r == repeated_blocks[-1]:
                start_end_indices[-1][1] += 1
                continue
            start_end_indices.append([i, i])
            repeated_blocks.append(r)
        lines = []
        main_str = self._get_name() + "("
        for (start_id, end_id), b in zip(start_end_indices, repeated_blocks):
            local_repr = f"({start_id}): {b}"
            if start_id != end_id:
                n = end_id - start_id + 1
                local_repr = f"({start_id}-{end_id}): {n} x {b}"
            lines.append(_addindent(local_repr, 2))
        main_str += "\n  " + "\n  ".join(lines) + "\n"
        return main_str + ")"

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward: iterate over it and call the modules")


class ModuleDict(Module):
    """An ordered dict of modules, registered as submodules under their keys."""

    def __init__(
        self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None
    ) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def clear(self) -> None:
        self._modules.clear()

    def pop(self, key: str) -> Module:
        v = self[key]
        del self[key]
        return v

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def update(self, modules) -> None:
        if isinstance(modules, (OrderedDict, ModuleDict, Mapping)):
            for key, module in modules.items():
                self[key] = module
        else:
            for j, m in enumerate(modules):
                if not hasattr(m, "__len__") or len(m) != 2:
                    raise ValueError(
                        f"ModuleDict update sequence element #{j} should be a (name, module) pair"
                    )
                self[m[0]] = m[1]

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward: look modules up by key and call them")


class ParameterList(Module):
    """A list of Parameters registered on the module (tensors are wrapped as Parameters)."""

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        self._size = 0
        if values is not None:
            self += values

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return self.__class__([self[i] for i in range(len(self))[idx]])
        return getattr(self, str(_index(idx, len(self), "ParameterList")))

    def __setitem__(self, idx: int, param: Any) -> None:
        idx = _index(idx, len(self), "ParameterList")
        if isinstance(param, Tensor) and not isinstance(param, Parameter):
            param = Parameter(param)
        setattr(self, str(idx), param)

    def __len__(self) -> int:
        return self._size

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __iadd__(self, parameters: Iterable[Any]) -> ParameterList:
        return self.extend(parameters)

    def append(self, value: Any) -> ParameterList:
        new_idx = len(self)
        self._size += 1
        if isinstance(value, Tensor) and not isinstance(value, Parameter):
            value = Parameter(value)
        setattr(self, str(new_idx), value)
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        for value in values:
            self.append(value)
        return self

    def extra_repr(self) -> str:
        lines = []
        for k, p in enumerate(self):
            if isinstance(p, Tensor):
                size_str = "x".join(str(s) for s in p.shape)
                kind = "Parameter" if isinstance(p, Parameter) else "Tensor"
                lines.append(f"  ({k}): {kind} containing: [{p.dtype!r} of size {size_str}]")
            else:
                lines.append(f"  ({k}): Object of type: {type(p).__name__}")
        return "\n".join(lines)


class ParameterDict(Module):
    """An ordered dict of Parameters registered on the module."""

    def __init__(self, parameters: Any = None) -> None:
        super().__init__()
        self._keys: dict[str, None] = {}
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        self._keys[key] = None
        if isinstance(value, Tensor) and not isinstance(value, Parameter):
            value = Parameter(value)
        setattr(self, key, value)

    def __delitem__(self, key: str) -> None:
        del self._keys[key]
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def keys(self):
        return self._keys.keys()

    def items(self):
        return ((k, self[k]) for k in self._keys)

    def values(self):
        return (self[k] for k in self._keys)

    def pop(self, key: str) -> Any:
        v = self[key]
        del self[key]
        return v

    def update(self, parameters: Any) -> None:
        items = parameters.items() if hasattr(parameters, "items") else parameters
        for k, v in items:
            self[k] = v


# ------------------------------------------------------------------------- composition


_COMBINE_NAMES = ("concat", "add")


class Parallel(Module):
    """Apply several modules to the same input and combine their outputs.

    Args:
        *modules: the branches (or a single list / iterable of modules).
        combine: ``"concat"`` (concatenate along ``dim``), ``"add"`` (elementwise sum), or a
            callable taking the list of outputs.
        dim: the concatenation dim (default -1).

    Shape:
        input x -> concat: branch outputs joined along ``dim``; add: the common output shape.
    """

    def __init__(
        self, *modules: Module | Iterable[Module], combine: str | Callable = "concat", dim: int = -1
    ) -> None:
        super().__init__()
        if len(modules) == 1 and not isinstance(modules[0], Module):
            modules = tuple(modules[0])
        if not modules:
            raise ValueError("Parallel: needs at least one module")
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Parallel: branch {i} is a {type(m).__name__}, not an nn.Module")
            self.add_module(str(i), m)
        if not callable(combine) and combine not in _COMBINE_NAMES:
            raise ValueError(
                f"Parallel: combine must be 'concat', 'add' or a callable, got {combine!r}"
            )
        self.combine = combine
        self.dim = dim

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx: int) -> Module:
        return list(self._modules.values())[_index(idx, len(self), "Parallel")]

    def forward(self, *args, **kwargs):
        outputs = [m(*args, **kwargs) for m in self._modules.values()]
        if self.combine == "concat":
            return _C.cat(outputs, self.dim)
        if self.combine == "add":
            shapes = {tuple(o.shape) for o in outputs}
            if len(shapes) > 1:
                raise ValueError(
                    f"Parallel(combine='add'): branch outputs have different shapes {[tuple(o.shape) for o in outputs]}"
                )
            out = outputs[0]
            for o in outputs[1:]:
                out = out + o
            return out
        return self.combine(outputs)

    def extra_repr(self) -> str:
        name = (
            self.combine
            if isinstance(self.combine, str)
            else getattr(self.combine, "__name__", repr(self.combine))
        )
        s = f"combine={name!r}" if isinstance(self.combine, str) else f"combine={name}"
        if self.combine == "concat" and self.dim != -1:
            s += f", dim={self.dim}"
        return s


class Residual(Module):
    """``x + module(x)`` (a skip connection; the module must keep the shape).

    Shape: x [*] -> [*].
    """

    def __init__(self, module: Module) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"Residual: expected an nn.Module, got {type(module).__name__}")
        self.module = module

    def forward(self, x: Tensor, *args, **kwargs) -> Tensor:
        fx = self.module(x, *args, **kwargs)
        if tuple(fx.shape) != tuple(x.shape):
            raise ValueError(
                f"Residual: the module's output shape {tuple(fx.shape)} differs from its input shape {tuple(x.shape)}; "
                "use ProjectionResidual(module, projection) to change the shape"
            )
        return x + fx


class ProjectionResidual(Module):
    """``projection(x) + module(x)``: a skip connection whose shortcut changes the shape
    (e.g. a Linear when the width changes).

    Shape: x -> the shape both branches produce.
    """

    def __init__(self, module: Module, projection: Module) -> None:
        super().__init__()
        if not isinstance(module, Module) or not isinstance(projection, Module):
            raise TypeError("ProjectionResidual: module and projection must be nn.Modules")
        self.module = module
        self.projection = projection

    def forward(self, x: Tensor, *args, **kwargs) -> Tensor:
        fx = self.module(x, *args, **kwargs)
        px = self.projection(x)
        if tuple(fx.shape) != tuple(px.shape):
            raise ValueError(
                f"ProjectionResidual: the module's output shape {tuple(fx.shape)} differs from the projection's "
                f"output shape {tuple(px.shape)}"
            )
        return px + fx
