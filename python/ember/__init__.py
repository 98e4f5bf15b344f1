"""ember: a deep-learning framework with a C++20 core and a PyTorch-style API.

Tensors, the autograd tape and the kernels live in the C++ extension ``ember._C``; this package
re-exports them and adds the Python conveniences (``ember.tensor``, creation functions with
PyTorch's signatures, grad-mode context managers, ``nn``, ``optim``, ``data``).
"""

from . import (  # noqa: E402  (nn.functional, nn.init, optim.lr_scheduler)
    _C,
    _tensor,  # noqa: F401  (adds Python-side Tensor methods)
    autograd,
    nn,
    optim,
    return_types,
    testing,
)
from ._C import *  # noqa: F403  (ops, dtypes, Tensor, Generator, ...)
from ._C import Tensor, dtype
from ._creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_dlpack,
    from_numpy,
    full,
    full_like,
    get_rng_state,
    initial_seed,
    linspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    seed,
    set_rng_state,
    tensor,
    zeros,
    zeros_like,
)
from ._device import device
from ._grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .autograd import grad_fn as grad
from .autograd import value_and_grad

__version__ = "0.1.0"

# dtype aliases PyTorch users expect
float = float32  # noqa: A001, F405
double = float64  # noqa: F405
half = float16  # noqa: F405
long = int64  # noqa: F405
int = int32  # noqa: A001, F405
bool = _C.bool  # noqa: A001
cfloat = None
Size = tuple
# __init__ keeps the builtins `float`, `int`, `bool` shadowed only as module attributes
import builtins as _builtins  # noqa: E402


def is_tensor(obj) -> _builtins.bool:
    """True if ``obj`` is an ember Tensor."""
    return isinstance(obj, Tensor)


def is_floating_point(input: Tensor) -> _builtins.bool:
    return input.is_floating_point()


def numel(input: Tensor) -> _builtins.int:
    return input.numel()


def clone(input: Tensor) -> Tensor:
    return input.clone()


def detach(input: Tensor) -> Tensor:
    return input.detach()


def t(input: Tensor) -> Tensor:
    return input.t()


def swapaxes(input: Tensor, axis0: _builtins.int, axis1: _builtins.int) -> Tensor:
    return input.transpose(axis0, axis1)


swapdims = swapaxes
moveaxis = movedim  # noqa: F405

# data loading, checkpoints (safetensors) and the training loop
from . import data, distributions, train, utils  # noqa: E402
from .serialization import load, save  # noqa: E402

# isort: split
# what PyTorch scripts touch besides ops: torch.cuda / backends / accelerator queries and the
# legacy constructors (ember.Tensor([1, 2]), ember.FloatTensor(...))
from . import accelerator, backends, cuda  # noqa: E402
from ._legacy import (  # noqa: E402
    BFloat16Tensor,
    BoolTensor,
    ByteTensor,
    DoubleTensor,
    FloatTensor,
    HalfTensor,
    IntTensor,
    LongTensor,
)

# isort: split
# mixed precision (ember.amp), linear algebra (ember.linalg), einsum and the other parity ops;
# the names below also become Tensor methods, as in PyTorch
_PARITY_METHODS = ("outer", "ger", "kron", "diag", "diag_embed", "cross", "histc", "det", "inverse")
_PARITY_METHODS += ("logdet", "slogdet")

from . import amp, linalg  # noqa: E402
from ._einsum import einsum  # noqa: E402
from ._misc_ops import (  # noqa: E402
    bucketize,
    cartesian_prod,
    cdist,
    cross,
    diag,
    diag_embed,
    ger,
    histc,
    kron,
    meshgrid,
    outer,
    searchsorted,
    tensordot,
    tril_indices,
    triu_indices,
)
from .amp import autocast, get_autocast_dtype, is_autocast_enabled  # noqa: E402
from .linalg import det, inverse, logdet, slogdet  # noqa: E402

for _name in _PARITY_METHODS:
    setattr(Tensor, _name, globals()[_name])

from . import metal  # noqa: E402  (the Metal backend: ember.metal.is_available(), ...)

mps = metal  # PyTorch's torch.mps: synchronize(), is_available()
