"""``ember.device``: where a tensor lives (``cpu`` now; ``metal`` with the Metal backend)."""


class device:
    """A device spec: ``ember.device("cpu")``. Compares equal to its string form."""

    __slots__ = ("type", "index")

    def __init__(self, type="cpu", index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        type = str(type)
        if ":" in type:
            type, idx = type.split(":", 1)
            index = int(idx)
        if type in ("metal", "mps"):
            raise RuntimeError(
                f"device '{type}': the metal backend is not built into this ember; use device='cpu'"
            )
        if type != "cpu":
            raise ValueError(f"device: unknown device '{type}' (expected 'cpu' or 'metal')")
        self.type = type
        self.index = index

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
        return f"device(type='{self.type}')"


def check_device(dev, op="tensor"):
    """Validate a ``device=`` argument (None, a string or a device)."""
    if dev is None:
        return
    device(dev)
