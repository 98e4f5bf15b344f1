"""Variable-length sequences for recurrent layers: padding and packing (PyTorch's
``torch.nn.utils.rnn``).

A PackedSequence stores the time steps of a batch of sequences sorted by decreasing length, one
step after the other: ``data[offset_t : offset_t + batch_sizes[t]]`` holds step t of the
``batch_sizes[t]`` sequences still running at t.
"""

from __future__ import annotations

from typing import NamedTuple

from ... import _C
from ..._C import Tensor
from ..._creation import tensor as _tensor

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pack_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpack_sequence",
    "unpad_sequence",
]


class PackedSequence(NamedTuple):
    """Packed steps of variable-length sequences (build it with :func:`pack_padded_sequence`
    or :func:`pack_sequence`, not directly).

    Attributes:
        data: [sum(lengths), *] the steps, batch-major within each time step.
        batch_sizes: int64 [max_len], how many sequences are still running at each step.
        sorted_indices: int64 [B] original index of each sorted sequence, or None when the
            input was already sorted.
        unsorted_indices: int64 [B] the inverse permutation, or None.
    """

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    def to(self, *args, **kwargs) -> PackedSequence:
        """Moves / casts ``data`` (the index tensors stay as they are)."""
        return self._replace(data=self.data.to(*args, **kwargs))

    def float(self) -> PackedSequence:
        return self._replace(data=self.data.float())

    def double(self) -> PackedSequence:
        return self._replace(data=self.data.double())

    @property
    def is_cuda(self) -> bool:
        return False


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse of an index permutation (None stays None)."""
    if permutation is None:
        return None
    inv = _C._zeros([permutation.numel()], _C.int64)
    inv[permutation] = _C._arange(0, permutation.numel(), 1, _C.int64)
    return inv


def _lengths_list(lengths, op: str) -> list[int]:
    if isinstance(lengths, Tensor):
        if lengths.ndim != 1:
            raise ValueError(
                f"{op}: lengths must be a 1-D tensor, got shape {tuple(lengths.shape)}"
            )
        return [int(v) for v in lengths.tolist()]
    return [int(v) for v in lengths]


def pack_padded_sequence(
    input: Tensor, lengths, batch_first: bool = False, enforce_sorted: bool = True
) -> PackedSequence:
    """Packs a padded batch of variable-length sequences.

    Args:
        input: [T, B, *] (or [B, T, *] with ``batch_first``) padded sequences.
        lengths: the B sequence lengths (a list or a 1-D int64 tensor).
        batch_first: input is [B, T, *].
        enforce_sorted: require lengths in decreasing order; when False the batch is sorted
            here and ``sorted_indices`` records the permutation.
    """
    op = "pack_padded_sequence"
    lens = _lengths_list(lengths, op)
    if input.ndim < 2:
        raise ValueError(
            f"{op}: expected input of at least 2 dims [T, B, *], got shape {tuple(input.shape)}"
        )
    if batch_first:
        input = input.transpose(0, 1)  # [T, B, *]
    T, B = input.shape[0], input.shape[1]
    if len(lens) != B:
        raise RuntimeError(
            f"{op}: Expected `len(lengths)` to be equal to batch_size, but got {len(lens)} (batch_size={B})"
        )
    if any(n <= 0 for n in lens):
        raise RuntimeError(
            f"{op}: Length of all samples has to be greater than 0, but found an element in 'lengths' that is <= 0: {lens}"
        )
    if max(lens) > T:
        raise RuntimeError(f"{op}: a length ({max(lens)}) exceeds the padded sequence length {T}")
    sorted_indices = None
    if enforce_sorted:
        if any(lens[i] < lens[i + 1] for i in range(B - 1)):
            raise RuntimeError(
                f"{op}: `lengths` array must be sorted in decreasing order when `enforce_sorted` is True, "
                f"got {lens}. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
                "pack_sequence to sidestep this requirement."
            )
    else:
        order = sorted(range(B), key=lambda i: -lens[i])  # stable: ties keep their order
        sorted_indices = _tensor(order, dtype=_C.int64)
        input = input.index_select(1, sorted_indices)
        lens = [lens[i] for i in order]
    batch_sizes = [sum(1 for n in lens if n > t) for t in range(lens[0])]
    data = _C.cat([input[t, :bs] for t, bs in enumerate(batch_sizes)], 0)
    return PackedSequence(
        data,
        _tensor(batch_sizes, dtype=_C.int64),
        sorted_indices,
        invert_permutation(sorted_indices),
    )


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Inverse of :func:`pack_padded_sequence`.

    Returns:
        (padded [T, B, *] or [B, T, *], lengths int64 [B]) in the original batch order;
        T = ``total_length`` when given, else the longest length.
    """
    data, batch_sizes = sequence.data, [int(v) for v in sequence.batch_sizes.tolist()]
    max_len, B = len(batch_sizes), batch_sizes[0]
    if total_length is not None:
        if total_length < max_len:
            raise ValueError(
                "pad_packed_sequence: Expected total_length to be at least the length of the longest "
                f"sequence in input, but got total_length={total_length} and max sequence length being {max_len}"
            )
        max_len_out = total_length
    else:
        max_len_out = max_len
    steps, offset = [], 0
    for bs in batch_sizes:
        step = data[offset : offset + bs]
        if bs < B:  # sequences already finished: padding
            pad = _C._full([B - bs, *data.shape[1:]], padding_value, data.dtype)
            step = _C.cat([step, pad], 0)
        steps.append(step)
        offset += bs
    for _ in range(max_len_out - max_len):
        steps.append(_C._full([B, *data.shape[1:]], padding_value, data.dtype))
    padded = _C.stack(steps, 0)  # [T, B, *]
    lengths = [sum(1 for bs in batch_sizes if bs > b) for b in range(B)]
    lengths = _tensor(lengths, dtype=_C.int64)
    if sequence.unsorted_indices is not None:
        padded = padded.index_select(1, sequence.unsorted_indices)
        lengths = lengths.index_select(0, sequence.unsorted_indices)
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, lengths


def pad_sequence(
    sequences,
    batch_first: bool = False,
    padding_value: float = 0.0,
    padding_side: str = "right",
) -> Tensor:
    """Stacks tensors [L_i, *] into one padded tensor [T, B, *] (or [B, T, *] with
    ``batch_first``), T = max L_i; ``padding_side`` 'left' puts the padding first."""
    if padding_side not in ("left", "right"):
        raise ValueError(
            f"pad_sequence: padding_side must be 'left' or 'right', got {padding_side!r}"
        )
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("pad_sequence: received an empty list of sequences")
    trailing = tuple(sequences[0].shape[1:])
    for s in sequences:
        if s.ndim < 1 or tuple(s.shape[1:]) != trailing:
            raise RuntimeError(
                f"pad_sequence: every sequence must be [L, *{trailing}], got shapes "
                f"{[tuple(x.shape) for x in sequences]}"
            )
    T = max(s.shape[0] for s in sequences)
    rows = []
    for s in sequences:
        n = T - s.shape[0]
        if n:
            pad = _C._full([n, *trailing], padding_value, s.dtype)
            s = _C.cat([s, pad] if padding_side == "right" else [pad, s], 0)
        rows.append(s)
    return _C.stack(rows, 0 if batch_first else 1)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list[Tensor]:
    """Splits a padded batch back into its sequences (the inverse of :func:`pad_sequence`)."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    lens = _lengths_list(lengths, "unpad_sequence")
    return [padded_sequences[b, :n] for b, n in enumerate(lens)]


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Packs a list of tensors [L_i, *] (see :func:`pack_padded_sequence`)."""
    sequences = list(sequences)
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The list of sequences a PackedSequence holds (the inverse of :func:`pack_sequence`)."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
