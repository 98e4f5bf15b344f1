"""ember.nn.functional: the functional forms of layers, activations and losses."""

from .. import _C
from .._C import Tensor

relu = _C.relu
relu_ = _C.Tensor.relu_
sigmoid = _C.sigmoid
tanh = _C.tanh
silu = _C.silu
mish = _C.mish
elu = _C.elu
softplus = _C.softplus
hardtanh = _C.hardtanh
logsigmoid = None


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    out = _C.leaky_relu(input, negative_slope)
    return input.copy_(out) if inplace else out


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    return _C.gelu(input, approximate)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return hardtanh(input, 0.0, 6.0)


def logsigmoid(input: Tensor) -> Tensor:  # noqa: F811
    return -_C.softplus(-input)


def _softmax_dim(ndim):
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim=None, dtype=None) -> Tensor:
    return _C.softmax(input, _softmax_dim(input.ndim) if dim is None else dim, dtype)


def log_softmax(input: Tensor, dim=None, dtype=None) -> Tensor:
    return _C.log_softmax(input, _softmax_dim(input.ndim) if dim is None else dim, dtype)


def softmin(input: Tensor, dim=None, dtype=None) -> Tensor:
    return softmax(-input, dim, dtype)


def pad(input: Tensor, pad, mode: str = "constant", value=None) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims: ``pad = (left, right, top, bottom, ...)``."""
    return _C._pad(input, list(pad), mode, 0.0 if value is None else float(value))


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    return _C._one_hot(tensor, num_classes)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    return input / _C.clamp(_C.norm(input, p, dim, True), min=eps)
