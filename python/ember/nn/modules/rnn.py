"""Recurrent layers: RNN, LSTM, GRU and their single-step cells (PyTorch's parameters, names,
initialization and input conventions, including PackedSequence inputs).

Each layer and direction projects the whole input sequence with one GEMM; each time step is one
GEMM for the recurrent gates plus one fused pointwise kernel (``_C._lstm_cell`` /
``_C._gru_cell``) that turns the gates into the new state. An LSTM without projection over
equal-length steps runs each layer direction as one op (``_C._lstm_sequence``: the step loop,
its backward and W_hh's gradient in C++, one autograd node).
"""

from __future__ import annotations

import math
import warnings

from ... import _C
from ..._C import Tensor
from ...autograd import Function
from .. import functional as F
from .. import init
from ..parameter import Parameter
from ..utils.rnn import PackedSequence
from .module import Module

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell", "RNNCellBase"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}
# LSTM layers use the fused sequence op where it applies (False: the per-step path; tests compare)
_FUSED_LSTM = True


def _empty(shape, dtype):
    return _C._empty(list(shape), _C.get_default_dtype() if dtype is None else dtype)


def _cell_step(mode: str, xw: Tensor, state, w_hh_t: Tensor, b_hh: Tensor | None, w_hr_t):
    """One time step. xw: [b, G*H] input projection (for LSTM/RNN both biases included);
    state: h [b, H_out] (LSTM: (h, c)). Returns the new state."""
    if mode == "LSTM":
        h, c = state
        h, c = _C._lstm_cell(_C.addmm(xw, h, w_hh_t), c)  # [b, H] each
        if w_hr_t is not None:
            h = _C.matmul(h, w_hr_t)  # [b, P]
        return h, c
    if mode == "GRU":
        gh = _C.matmul(state, w_hh_t) if b_hh is None else _C.addmm(b_hh, state, w_hh_t)
        return _C._gru_cell(xw, gh, state)
    pre = _C.addmm(xw, state, w_hh_t)
    return _C.tanh(pre) if mode == "RNN_TANH" else _C.relu(pre)


def _slice_state(state, lo: int, hi: int):
    if isinstance(state, tuple):
        return tuple(s[lo:hi] for s in state)
    return state[lo:hi]


def _cat_state(parts):
    if isinstance(parts[0], tuple):
        return tuple(_C.cat([p[k] for p in parts], 0) for k in range(len(parts[0])))
    return _C.cat(parts, 0)


class _SplitSteps(Function):
    """The time steps of the input projections as views, with one backward node for all of
    them (a slice per step would scatter each step's gradient into a full-size zero tensor).

    LSTM / RNN also route W_hh's gradient here: gates_t = xw_t + h_{t-1} W_hh^T, so
    d xw_t = d gates_t and dW_hh = sum_t d gates_t^T h_{t-1} is one GEMM over all steps (the
    steps multiply by a detached W_hh; the caller puts the h_{t-1} rows in ``h_in["h"]``)."""

    @staticmethod
    def forward(ctx, xw, w_hh, offsets, sizes, h_in):
        ctx.h_in = h_in
        return tuple(xw.narrow(0, o, n) for o, n in zip(offsets, sizes))

    @staticmethod
    def backward(ctx, *grads):
        g = _C.cat(list(grads), 0)  # [N, G*H]
        dw = _C.matmul(g.t(), ctx.h_in["h"]) if ctx.needs_input_grad[1] else None  # [G*H, H_out]
        return g, dw, None, None, None


def _run_direction(mode, xw, batch_sizes, state0, w_hh, b_hh, w_hr_t, reverse):
    """Runs one layer direction over packed steps.

    xw: [sum(batch_sizes), G*H] input projections, step t at rows offsets[t] : + batch_sizes[t]
    (rows sorted by decreasing length); state0: the initial state for all B rows.
    Returns (outputs [sum(batch_sizes), H_out] in the same row order, final state for B rows).
    """
    T = len(batch_sizes)
    offsets = [0] * T
    for t in range(1, T):
        offsets[t] = offsets[t - 1] + batch_sizes[t - 1]
    outs, h_ins, h_in = [None] * T, [None] * T, {}
    fold = mode != "GRU"  # GRU's b_hh sits inside the reset product: W_hh keeps per-step grads
    steps = _SplitSteps.apply(xw, w_hh if fold else None, offsets, batch_sizes, h_in)
    if not isinstance(steps, tuple):
        steps = (steps,)
    w_hh_t = w_hh.detach().t() if fold else w_hh.t()
    if not reverse:
        state, finished = state0, []
        for t in range(T):
            bs = batch_sizes[t]
            rows = state[0].shape[0] if isinstance(state, tuple) else state.shape[0]
            if bs < rows:  # sequences ending here keep their last state
                finished.append(_slice_state(state, bs, rows))
                state = _slice_state(state, 0, bs)
            h_ins[t] = state[0] if isinstance(state, tuple) else state
            state = _cell_step(mode, steps[t], state, w_hh_t, b_hh, w_hr_t)
            outs[t] = state[0] if isinstance(state, tuple) else state
        final = _cat_state([state, *reversed(finished)]) if finished else state
    else:
        state = _slice_state(state0, 0, batch_sizes[-1])
        for t in range(T - 1, -1, -1):
            bs = batch_sizes[t]
            rows = state[0].shape[0] if isinstance(state, tuple) else state.shape[0]
            if bs > rows:  # sequences starting (from the end) here join with their initial state
                state = _cat_state([state, _slice_state(state0, rows, bs)])
            h_ins[t] = state[0] if isinstance(state, tuple) else state
            state = _cell_step(mode, steps[t], state, w_hh_t, b_hh, w_hr_t)
            outs[t] = state[0] if isinstance(state, tuple) else state
        final = state
    if fold and w_hh.requires_grad and _C.is_grad_enabled():
        h_in["h"] = _C.cat(h_ins, 0)  # [N, H_out]: the state each step multiplied by W_hh
    return _C.cat(outs, 0), final


class RNNBase(Module):
    """The shared machinery of RNN, LSTM and GRU (parameters, checks, the layer loop)."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        name = {"LSTM": "LSTM", "GRU": "GRU"}.get(mode, "RNN")
        if (
            not isinstance(dropout, (int, float))
            or isinstance(dropout, bool)
            or not 0 <= dropout <= 1
        ):
            raise ValueError(
                f"{name}: dropout should be a number in range [0, 1] representing the probability of an "
                f"element being zeroed, got {dropout}"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                stacklevel=2,
            )
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"{name}: hidden_size must be a positive integer, got {hidden_size}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be a positive integer, got {num_layers}")
        if proj_size < 0:
            raise ValueError(
                f"{name}: proj_size should be a positive integer or zero to disable projections"
            )
        if proj_size >= hidden_size:
            raise ValueError(
                f"{name}: proj_size ({proj_size}) has to be smaller than hidden_size ({hidden_size})"
            )
        if proj_size and mode != "LSTM":
            raise ValueError(
                f"{name}: proj_size argument is only supported for LSTM, not RNN or GRU"
            )
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        G, D = _GATES[mode], 2 if bidirectional else 1
        H_out = proj_size or hidden_size
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                in_size = input_size if layer == 0 else H_out * D
                shapes = [
                    (f"weight_ih{sfx}", (G * hidden_size, in_size)),
                    (f"weight_hh{sfx}", (G * hidden_size, H_out)),
                ]
                if bias:
                    shapes += [
                        (f"bias_ih{sfx}", (G * hidden_size,)),
                        (f"bias_hh{sfx}", (G * hidden_size,)),
                    ]
                if proj_size:
                    shapes.append((f"weight_hr{sfx}", (proj_size, hidden_size)))
                for n, s in shapes:
                    setattr(self, n, Parameter(_empty(s, dtype)))
                    self._flat_weights_names.append(n)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """Kept for PyTorch scripts: ember keeps each weight in its own tensor, so there is no
        flat buffer to rebuild."""

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters per layer and direction, in PyTorch's order."""
        per = len(self._flat_weights_names) // (self.num_layers * (2 if self.bidirectional else 1))
        ws = [getattr(self, n) for n in self._flat_weights_names]
        return [ws[i : i + per] for i in range(0, len(ws), per)]

    @property
    def _name(self) -> str:
        return type(self).__name__

    def _weights(self, layer: int, d: int):
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        get = lambda n: getattr(self, n + sfx, None)  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"), get("weight_hr")

    def _check_hidden(self, hx: Tensor, expected: tuple, what: str) -> None:
        if tuple(hx.shape) != expected:
            raise RuntimeError(
                f"{self._name}: Expected {what} size {expected}, got {list(hx.shape)}"
            )

    def forward(self, input, hx=None):
        name, is_lstm = self._name, self.mode == "LSTM"
        D = 2 if self.bidirectional else 1
        H_out = self.proj_size or self.hidden_size
        packed = isinstance(input, PackedSequence)
        if packed:
            data, sorted_indices, unsorted_indices = (
                input.data,
                input.sorted_indices,
                input.unsorted_indices,
            )
            batch_sizes = [int(b) for b in input.batch_sizes.tolist()]
            B, batched = batch_sizes[0], True
            if data.ndim != 2:
                raise ValueError(
                    f"{name}: packed input data should be 2-D [sum(lengths), input_size], got {tuple(data.shape)}"
                )
        else:
            if input.ndim not in (2, 3):
                raise ValueError(
                    f"{name}: Expected input to be 2D or 3D, got {input.ndim}D instead"
                )
            batched = input.ndim == 3
            x = input if batched else input.unsqueeze(1)  # [T, B, I] / [B, T, I]
            if batched and self.batch_first:
                x = x.transpose(0, 1)
            T, B = x.shape[0], x.shape[1]
            if T == 0:
                raise RuntimeError(
                    f"{name}: Expected a sequence of at least one step, got input shape {tuple(input.shape)}"
                )
            batch_sizes = [B] * T
            data = x.reshape(T * B, x.shape[2])
        if data.shape[-1] != self.input_size:
            raise RuntimeError(
                f"{name}: input.size(-1) must be equal to input_size. Expected {self.input_size}, got {data.shape[-1]}"
            )
        if not data.is_floating_point():
            raise TypeError(f"{name}: expected a floating point input, got {data.dtype!r}")
        dtype = data.dtype
        h_shape = (self.num_layers * D, B, H_out)
        c_shape = (self.num_layers * D, B, self.hidden_size)
        # initial states: [L * D, B, H_out] (LSTM also c: [L * D, B, H])
        if hx is None:
            dev = data.device.type
            h0 = _C._zeros(list(h_shape), dtype, dev)
            c0 = _C._zeros(list(c_shape), dtype, dev) if is_lstm else None
        else:
            if is_lstm:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise TypeError(f"{name}: hx should be a tuple (h_0, c_0)")
                h0, c0 = hx
            else:
                if not isinstance(hx, Tensor):
                    raise TypeError(f"{name}: hx should be a Tensor, got {type(hx).__name__}")
                h0, c0 = hx, None
            if not batched:
                if h0.ndim != 2 or (c0 is not None and c0.ndim != 2):
                    raise RuntimeError(
                        f"{name}: For unbatched 2-D input, hx should also be 2-D but got "
                        f"{h0.ndim}-D{'' if c0 is None else f' and {c0.ndim}-D'} tensor(s)"
                    )
                h0 = h0.unsqueeze(1)
                c0 = c0.unsqueeze(1) if c0 is not None else None
            elif h0.ndim != 3 or (c0 is not None and c0.ndim != 3):
                raise RuntimeError(
                    f"{name}: For batched 3-D input, hx should also be 3-D but got {h0.ndim}-D tensor(s)"
                )
            if packed and sorted_indices is not None:  # states follow the sorted batch order
                h0 = h0.index_select(1, sorted_indices)
                c0 = c0.index_select(1, sorted_indices) if c0 is not None else None
            self._check_hidden(h0, h_shape, "hidden[0]" if is_lstm else "hidden")
            if c0 is not None:
                self._check_hidden(c0, c_shape, "hidden[1]")
        h_n, c_n = [], []
        # LSTM without projection over equal-length steps: one fused op per layer direction
        T_steps = len(batch_sizes)
        fused = (
            _FUSED_LSTM
            and is_lstm
            and not self.proj_size
            and batch_sizes[-1] == B
            and data.device.type == "cpu"
            and dtype in (_C.float32, _C.float64)
        )
        layer_in = data  # [N, I]: N = sum(batch_sizes) rows
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, d)
                k = layer * D + d
                if self.mode == "GRU":  # b_hh stays inside the reset gate's product
                    xw = F.linear(layer_in, w_ih, b_ih)
                else:
                    xw = F.linear(layer_in, w_ih, None if b_ih is None else b_ih + b_hh)
                state0 = (h0[k], c0[k]) if is_lstm else h0[k]
                if fused:  # the whole direction in one op: [T, B, 4H] -> [T, B, H]
                    out, _, h_t, c_t = _C._lstm_sequence(
                        xw.reshape(T_steps, B, xw.shape[-1]), h0[k], c0[k], w_hh, d == 1
                    )
                    outs.append(out.reshape(T_steps * B, H_out))
                    h_n.append(h_t)
                    c_n.append(c_t)
                    continue
                out, final = _run_direction(
                    self.mode,
                    xw,
                    batch_sizes,
                    state0,
                    w_hh,
                    b_hh,
                    None if w_hr is None else w_hr.t(),
                    d == 1,
                )
                outs.append(out)
                if is_lstm:
                    h_n.append(final[0])
                    c_n.append(final[1])
                else:
                    h_n.append(final)
            layer_in = outs[0] if D == 1 else _C.cat(outs, 1)  # [N, D * H_out]
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_in = F.dropout(layer_in, self.dropout, True)
        h_n = _C.stack(h_n, 0)  # [L * D, B, H_out]
        c_n = _C.stack(c_n, 0) if is_lstm else None
        if packed:
            if unsorted_indices is not None:
                h_n = h_n.index_select(1, unsorted_indices)
                c_n = c_n.index_select(1, unsorted_indices) if c_n is not None else None
            output = PackedSequence(layer_in, input.batch_sizes, sorted_indices, unsorted_indices)
        else:
            output = layer_in.reshape(T, B, layer_in.shape[-1])  # [T, B, D * H_out]
            if not batched:
                output = output.squeeze(1)
                h_n = h_n.squeeze(1)
                c_n = c_n.squeeze(1) if c_n is not None else None
            elif self.batch_first:
                output = output.transpose(0, 1)
        return output, ((h_n, c_n) if is_lstm else h_n)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``, act tanh or relu.

    Args:
        input_size: features of x. hidden_size: features of h.
        num_layers: stacked layers (default 1). nonlinearity: 'tanh' (default) or 'relu'.
        bias: use b_ih, b_hh. batch_first: input/output [B, T, *] instead of [T, B, *].
        dropout: dropout on the outputs of every layer but the last (training only).
        bidirectional: also run each layer backwards in time, outputs concatenated.

    Shape:
        input [T, B, input_size] ([B, T, ...] with batch_first, [T, input_size] unbatched, or a
        PackedSequence); h_0 [num_layers * D, B, hidden_size]. Returns (output
        [T, B, D * hidden_size], h_n [num_layers * D, B, hidden_size]); D = 2 if bidirectional.
    """

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("RNN: proj_size argument is only supported for LSTM, not RNN or GRU")
        if (
            len(args) > 3
        ):  # PyTorch's positional order: input, hidden, num_layers, nonlinearity, ...
            args, nonlinearity = (*args[:3], *args[4:]), args[3]
        else:
            nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"RNN: Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", *args, **kwargs)


class LSTM(RNNBase):
    """Long short-term memory (gates i, f, g, o in PyTorch's order).

    Args: as :class:`RNN` (no nonlinearity), plus
        proj_size: > 0 adds a projection h_t = W_hr (o * tanh(c_t)) of that size.

    Shape:
        input as RNN; (h_0 [num_layers * D, B, H_out], c_0 [num_layers * D, B, hidden_size]),
        H_out = proj_size or hidden_size. Returns (output [T, B, D * H_out], (h_n, c_n)).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit (gates r, z, n in PyTorch's order;
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) * n + z * h``).

    Args and shapes: as :class:`RNN` (no nonlinearity).
    """

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("GRU: proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


# ----------------------------------------------------------------------------- cells


class RNNCellBase(Module):
    """Shared parameters and checks of the single-step cells."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        num_chunks: int,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if hidden_size <= 0:
            raise ValueError(
                f"{type(self).__name__}: hidden_size must be positive, got {hidden_size}"
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(_empty((num_chunks * hidden_size, input_size), dtype))
        self.weight_hh = Parameter(_empty((num_chunks * hidden_size, hidden_size), dtype))
        if bias:
            self.bias_ih = Parameter(_empty((num_chunks * hidden_size,), dtype))
            self.bias_hh = Parameter(_empty((num_chunks * hidden_size,), dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        nl = getattr(self, "nonlinearity", "tanh")
        if nl != "tanh":
            s += f", nonlinearity='{nl}'"
        return s

    def _prepare(self, input: Tensor, states):
        """Checks shapes; unbatched [I] becomes [1, I]. Returns (input, states, batched)."""
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        batched = input.ndim == 2
        if input.shape[-1] != self.input_size:
            raise RuntimeError(
                f"{name}: input has inconsistent input_size: got {input.shape[-1]} expected {self.input_size}"
            )
        x = input if batched else input.unsqueeze(0)
        out = []
        for i, s in enumerate(states):
            if s is None:
                s = _C._zeros([x.shape[0], self.hidden_size], x.dtype, x.device.type)
            else:
                if s.ndim != input.ndim:
                    raise RuntimeError(
                        f"{name}: hidden state {i} should be {input.ndim}-D like the input, got shape {tuple(s.shape)}"
                    )
                s = s if batched else s.unsqueeze(0)
                if tuple(s.shape) != (x.shape[0], self.hidden_size):
                    raise RuntimeError(
                        f"{name}: hidden state {i} has shape {tuple(s.shape)}, expected "
                        f"{(x.shape[0], self.hidden_size)} for input of shape {tuple(input.shape)}"
                    )
            out.append(s)
        return x, out, batched


class RNNCell(RNNCellBase):
    """One Elman RNN step: ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``.

    Shape: input [B, input_size] or [input_size]; hx like it with hidden_size (default zeros)
    -> h' [B, hidden_size] (or [hidden_size]).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device=None,
        dtype=None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, 1, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), batched = self._prepare(input, [hx])
        pre = F.linear(x, self.weight_ih, self.bias_ih) + F.linear(h, self.weight_hh, self.bias_hh)
        h = _C.tanh(pre) if self.nonlinearity == "tanh" else _C.relu(pre)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step (fused pointwise kernel).

    Shape: input [B, input_size] or [input_size]; hx = (h, c) each [B, hidden_size] (default
    zeros) -> (h', c').
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 4, dtype=dtype)

    def forward(self, input: Tensor, hx=None):
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError("LSTMCell: hx should be a tuple (h, c)")
        x, (h, c), batched = self._prepare(input, [None, None] if hx is None else list(hx))
        gates = F.linear(x, self.weight_ih, self.bias_ih) + F.linear(
            h, self.weight_hh, self.bias_hh
        )
        h, c = _C._lstm_cell(gates, c)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step (fused pointwise kernel).

    Shape: input [B, input_size] or [input_size]; hx [B, hidden_size] (default zeros) -> h'.
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 3, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), batched = self._prepare(input, [hx])
        h = _C._gru_cell(
            F.linear(x, self.weight_ih, self.bias_ih), F.linear(h, self.weight_hh, self.bias_hh), h
        )
        return h if batched else h.squeeze(0)
