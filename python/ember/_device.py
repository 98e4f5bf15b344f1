"""``ember.device``: where a tensor lives: ``cpu``, or ``metal`` (Apple GPUs; ``"mps"``, PyTorch's
name, is an alias). A Metal tensor's ``device`` prints ``metal:0``; it compares equal to ``"mps"``,
``"mps:0"`` and ``"metal"``, so PyTorch scripts that test ``x.device == "mps"`` keep working.
"""

from . import _C

_ALIASES = {"mps": "metal"}


class device:
    """A device spec: ``ember.device("cpu")``, ``ember.device("metal")`` / ``("mps")``.

    Compares equal to its string forms (``"metal"``, ``"metal:0"``, ``"mps"``).
    """

    __slots__ = ("type", "index")

    def __init__(self, type="cpu", index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        type = str(type)
        if ":" in type:
            type, idx = type.split(":", 1)
            try:
                index = int(idx)
            except ValueError:
                raise ValueError(f"device: invalid device index in '{type}:{idx}'") from None
        type = _ALIASES.get(type, type)
        if type not in ("cpu", "metal"):
            raise ValueError(f"device: unknown device '{type}' (expected 'cpu', 'metal' or 'mps')")
        if index not in (None, 0):
            raise RuntimeError(
                f"device: {type}:{index} does not exist (ember has one {type} device)"
            )
        if type == "metal":
            _C._parse_device("metal")  # raises, saying how to get the backend, when it is absent
        self.type = type
        self.index = index if type == "cpu" else 0

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except (RuntimeError, ValueError):
                return False
        return isinstance(other, device) and other.type == self.type

    def __hash__(self):
        return hash(self.type)

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return (
            f"device(type='{self.type}')"
            if self.index is None
            else f"device(type='{self.type}', index={self.index})"
        )


def check_device(dev, op="tensor"):
    """Validate a ``device=`` argument (None, a string or a device)."""
    if dev is None:
        return
    device(dev)


def device_str(dev, like=None):
    """The core's name for a ``device=`` argument: ``"cpu"`` / ``"metal"``; None means ``like``'s
    device (a tensor) or the CPU."""
    if dev is None:
        return "cpu" if like is None else like.device.type
    return device(dev).type
