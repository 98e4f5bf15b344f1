"""``ember.backends``: the backend flags PyTorch scripts set or query.

``mps.is_available()`` / ``is_built()`` say whether the Metal backend is in this build (not yet).
The cuDNN and CUDA matmul flags are accepted and kept (so ``torch.backends.cudnn.benchmark =
True`` ports), but change nothing: ember has no cuDNN or CUDA.
"""

from __future__ import annotations

from . import cpu, cuda, cudnn, mps

__all__ = ["cpu", "cuda", "cudnn", "mps"]
