"""nn.RNN / LSTM / GRU, their cells, the fused cell kernels and nn.utils.rnn packing, against
PyTorch with copied weights (outputs and every gradient) and float64 finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from conftest import requires_torch, torch
from ember import nn
from ember.nn.utils import rnn as rnn_utils
from ember.testing import gradcheck, gradgradcheck

pytestmark = requires_torch
F64 = ember.float64


def E(a, grad=False):
    return ember.tensor(np.asarray(a), dtype=F64, requires_grad=grad)


def T(a, grad=False):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=grad)


def npy(t):
    if isinstance(t, np.ndarray):
        return t
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.numpy(force=True)


def twins(name, *args, **kwargs):
    """The same layer in both libraries (float64), weights copied torch -> ember."""
    tm = getattr(torch.nn, name)(*args, **kwargs).double()
    em = getattr(nn, name)(*args, **kwargs, dtype=F64)
    assert list(em.state_dict()) == list(tm.state_dict())
    em.load_state_dict({k: E(v.numpy()) for k, v in tm.state_dict().items()})
    return em, tm


def close(a, b, tol=1e-9):
    np.testing.assert_allclose(npy(a), npy(b), rtol=tol, atol=tol)


def check_grads(em, tm, e_inputs, t_inputs):
    for p, q in zip(em.parameters(), tm.parameters()):
        close(p.grad, q.grad)
    for a, b in zip(e_inputs, t_inputs):
        close(a.grad, b.grad)


def run_both(em, tm, x, hx, seed_grad):
    """Forward both, backward sum(out * g) + sum of the final states; compare everything."""
    ex, tx = E(x, True), T(x, True)
    eh = tuple(E(h, True) for h in hx) if hx is not None else None
    th = tuple(T(h, True) for h in hx) if hx is not None else None
    eo, es = em(ex, None if eh is None else (eh if len(eh) == 2 else eh[0]))
    to, ts = tm(tx, None if th is None else (th if len(th) == 2 else th[0]))
    close(eo, to)
    es = es if isinstance(es, tuple) else (es,)
    ts = ts if isinstance(ts, tuple) else (ts,)
    for a, b in zip(es, ts):
        close(a, b)
    g = seed_grad(tuple(to.shape))
    loss_e = (eo * E(g)).sum() + sum(s.sum() for s in es)
    loss_t = (to * T(g)).sum() + sum(s.sum() for s in ts)
    loss_e.backward()
    loss_t.backward()
    check_grads(em, tm, [ex, *(eh or ())], [tx, *(th or ())])


RNG = np.random.default_rng(0)


def randn(*shape):
    return RNG.standard_normal(shape)


CONFIGS = [
    ("RNN", {}),
    ("RNN", {"nonlinearity": "relu"}),
    ("LSTM", {}),
    ("LSTM", {"proj_size": 3}),
    ("GRU", {}),
]


@pytest.mark.parametrize("name,extra", CONFIGS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_layers_match_torch(name, extra, bidirectional, batch_first):
    I, H, L, Tn, B = 5, 7, 2, 4, 3
    em, tm = twins(
        name, I, H, num_layers=L, bidirectional=bidirectional, batch_first=batch_first, **extra
    )
    x = randn(B, Tn, I) if batch_first else randn(Tn, B, I)
    D = 2 if bidirectional else 1
    H_out = extra.get("proj_size") or H
    hx = (randn(L * D, B, H_out),) + ((randn(L * D, B, H),) if name == "LSTM" else ())
    run_both(em, tm, x, hx, lambda s: randn(*s))
    em.zero_grad()
    tm.zero_grad()
    run_both(em, tm, x, None, lambda s: randn(*s))  # default zero states


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_no_bias_single_step_and_batch_one(name):
    em, tm = twins(name, 3, 2, bias=False)
    assert not any("bias" in k for k in em.state_dict())
    run_both(em, tm, randn(1, 1, 3), None, lambda s: randn(*s))


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_unbatched_input(name):
    em, tm = twins(name, 4, 6, num_layers=2, bidirectional=True)
    x = randn(5, 4)
    h = (randn(4, 6),) + ((randn(4, 6),) if name == "LSTM" else ())
    run_both(em, tm, x, h, lambda s: randn(*s))
    eo, _ = em(E(x))
    assert tuple(eo.shape) == (5, 12)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_packed_sequences(name, enforce_sorted, bidirectional):
    I, H = 3, 5
    lengths = [6, 4, 4, 1] if enforce_sorted else [2, 6, 1, 4]
    em, tm = twins(name, I, H, num_layers=2, bidirectional=bidirectional)
    x = randn(6, 4, I)
    D = 2 if bidirectional else 1
    hx = [randn(2 * D, 4, H) for _ in range(2 if name == "LSTM" else 1)]
    ex, tx = E(x, True), T(x, True)
    eh, th = [E(h, True) for h in hx], [T(h, True) for h in hx]
    ep = rnn_utils.pack_padded_sequence(ex, lengths, enforce_sorted=enforce_sorted)
    tp = torch.nn.utils.rnn.pack_padded_sequence(
        tx, torch.tensor(lengths), enforce_sorted=enforce_sorted
    )
    close(ep.data, tp.data)
    assert ep.batch_sizes.tolist() == tp.batch_sizes.tolist()
    eo, es = em(ep, tuple(eh) if name == "LSTM" else eh[0])
    to, ts = tm(tp, tuple(th) if name == "LSTM" else th[0])
    assert isinstance(eo, rnn_utils.PackedSequence)
    close(eo.data, to.data)
    epad, elens = rnn_utils.pad_packed_sequence(eo, total_length=7)
    tpad, tlens = torch.nn.utils.rnn.pad_packed_sequence(to, total_length=7)
    close(epad, tpad)
    assert elens.tolist() == tlens.tolist()
    es = es if isinstance(es, tuple) else (es,)
    ts = ts if isinstance(ts, tuple) else (ts,)
    for a, b in zip(es, ts):
        close(a, b)
    g = randn(*tpad.shape)
    ((epad * E(g)).sum() + sum(s.sum() for s in es)).backward()
    ((tpad * T(g)).sum() + sum(s.sum() for s in ts)).backward()
    check_grads(em, tm, [ex, *eh], [tx, *th])


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_torch(name, batched):
    em, tm = twins(name, 5, 7)
    x = randn(3, 5) if batched else randn(5)
    hs = [randn(*x.shape[:-1], 7) for _ in range(2 if name == "LSTMCell" else 1)]
    ex, tx = E(x, True), T(x, True)
    eh, th = [E(h, True) for h in hs], [T(h, True) for h in hs]
    eo = em(ex, tuple(eh) if name == "LSTMCell" else eh[0])
    to = tm(tx, tuple(th) if name == "LSTMCell" else th[0])
    eo = eo if isinstance(eo, tuple) else (eo,)
    to = to if isinstance(to, tuple) else (to,)
    for a, b in zip(eo, to):
        close(a, b)
    sum((o * (k + 1.5)).sum() for k, o in enumerate(eo)).backward()
    sum((o * (k + 1.5)).sum() for k, o in enumerate(to)).backward()
    check_grads(em, tm, [ex, *eh], [tx, *th])
    close(
        em(ex)[0] if name == "LSTMCell" else em(ex), tm(tx)[0] if name == "LSTMCell" else tm(tx)
    )  # zero state


def test_fused_cells_gradcheck():
    B, H = 3, 4
    gates = E(randn(B, 4 * H) * 2, True)
    c = E(randn(B, H), True)
    assert gradcheck(lambda g, c: ember._C._lstm_cell(g, c), (gates, c))
    gi, gh, h = E(randn(B, 3 * H) * 2, True), E(randn(B, 3 * H) * 2, True), E(randn(B, H), True)
    assert gradcheck(lambda a, b, h: ember._C._gru_cell(a, b, h), (gi, gh, h))


def test_fused_cells_double_backward():
    """create_graph runs the backward as ops: its gradients match the kernel's, and a second
    derivative matches finite differences of the first."""
    B, H = 2, 3
    g0, c0 = randn(B, 4 * H), randn(B, H)

    def first_grad(g, c):
        h, cn = ember._C._lstm_cell(g, c)
        (dg,) = ember.autograd.grad([(h * h).sum() + (cn * 0.5).sum()], [g], create_graph=True)
        return dg

    g, c = E(g0, True), E(c0, True)
    h, cn = ember._C._lstm_cell(g, c)
    (fast,) = ember.autograd.grad([(h * h).sum() + (cn * 0.5).sum()], [g])
    close(first_grad(g, c), fast)
    assert gradcheck(first_grad, (E(g0, True), E(c0, True)))

    def gru_first(a, b, hp):
        h = ember._C._gru_cell(a, b, hp)
        return ember.autograd.grad([(h * h).sum()], [a, b, hp], create_graph=True)

    args = (E(randn(B, 3 * H), True), E(randn(B, 3 * H), True), E(randn(B, H), True))
    assert gradcheck(gru_first, args)


def test_float32_matches_torch():
    tm = torch.nn.LSTM(8, 16, num_layers=2)
    em = nn.LSTM(8, 16, num_layers=2)
    em.load_state_dict({k: ember.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    x = RNG.standard_normal((9, 4, 8)).astype(np.float32)
    eo, (eh, ec) = em(ember.tensor(x))
    to, (th, tc) = tm(torch.tensor(x))
    np.testing.assert_allclose(eo.numpy(force=True), to.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ec.numpy(force=True), tc.detach().numpy(), rtol=1e-5, atol=1e-5)
    assert eo.dtype == ember.float32


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_state_dict_round_trip(name):
    kw = {"proj_size": 2} if name == "LSTM" else {}
    em = getattr(nn, name)(4, 5, num_layers=2, bidirectional=True, **kw)
    tm = getattr(torch.nn, name)(4, 5, num_layers=2, bidirectional=True, **kw)
    tm.load_state_dict({k: torch.tensor(v.numpy(force=True)) for k, v in em.state_dict().items()})
    x = RNG.standard_normal((3, 2, 4)).astype(np.float32)
    np.testing.assert_allclose(
        em(ember.tensor(x))[0].numpy(force=True), tm(torch.tensor(x))[0].detach().numpy(), atol=1e-5
    )
    # shapes and PyTorch's default init range U(-1/sqrt(H), 1/sqrt(H))
    for (k, v), (k2, v2) in zip(em.state_dict().items(), tm.state_dict().items()):
        assert k == k2 and tuple(v.shape) == tuple(v2.shape)
    bound = 1 / np.sqrt(5)
    fresh = getattr(nn, name)(4, 5, **kw)
    vals = np.concatenate([p.numpy(force=True).ravel() for p in fresh.parameters()])
    assert vals.min() >= -bound and vals.max() <= bound and vals.std() > bound / 3


def test_dropout_between_layers():
    ember.manual_seed(0)
    m = nn.LSTM(4, 6, num_layers=3, dropout=0.5)
    x = ember.randn(5, 2, 4)
    m.eval()
    a, b = m(x)[0], m(x)[0]
    np.testing.assert_array_equal(a.numpy(force=True), b.numpy(force=True))
    m.train()
    assert not np.allclose(m(x)[0].numpy(force=True), a.numpy(force=True))
    with pytest.warns(UserWarning, match="num_layers"):
        nn.GRU(3, 3, dropout=0.2)


def test_repr_and_attributes():
    m = nn.LSTM(10, 20, num_layers=2, batch_first=True, proj_size=5, bidirectional=True)
    assert (
        repr(m) == "LSTM(10, 20, proj_size=5, num_layers=2, batch_first=True, bidirectional=True)"
    )
    assert tuple(m.weight_hr_l1_reverse.shape) == (5, 20)
    assert tuple(m.weight_ih_l1.shape) == (80, 10)
    assert repr(nn.RNN(3, 4, nonlinearity="relu")) == "RNN(3, 4, nonlinearity='relu')"
    m.flatten_parameters()
    t = torch.nn.LSTM(10, 20, num_layers=2, batch_first=True, proj_size=5, bidirectional=True)
    assert [[tuple(w.shape) for w in ws] for ws in m.all_weights] == [
        [tuple(w.shape) for w in ws] for ws in t.all_weights
    ]


# ----------------------------------------------------------------------------- bad input


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="dropout"):
        nn.LSTM(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="proj_size"):
        nn.GRU(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="hidden_size"):
        nn.GRU(3, 0)


def test_bad_forward_inputs():
    m = nn.LSTM(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"LSTM: Expected input to be 2D or 3D, got 4D"):
        m(ember.randn(2, 2, 2, 3))
    with pytest.raises(
        RuntimeError, match=r"LSTM: input.size\(-1\) must be equal to input_size. Expected 3, got 5"
    ):
        m(ember.randn(2, 2, 5))
    with pytest.raises(
        RuntimeError, match=r"LSTM: Expected hidden\[0\] size \(2, 2, 4\), got \[1, 2, 4\]"
    ):
        m(ember.randn(5, 2, 3), (ember.randn(1, 2, 4), ember.randn(2, 2, 4)))
    with pytest.raises(RuntimeError, match=r"hidden\[1\] size \(2, 2, 4\), got \[2, 3, 4\]"):
        m(ember.randn(5, 2, 3), (ember.randn(2, 2, 4), ember.randn(2, 3, 4)))
    with pytest.raises(RuntimeError, match="GRU: Expected hidden size"):
        nn.GRU(3, 4)(ember.randn(5, 2, 3), ember.randn(1, 2, 5))
    with pytest.raises(RuntimeError, match="unbatched"):
        nn.GRU(3, 4)(ember.randn(5, 3), ember.randn(1, 2, 4))
    with pytest.raises(
        RuntimeError, match="LSTMCell: input has inconsistent input_size: got 2 expected 3"
    ):
        nn.LSTMCell(3, 4)(ember.randn(2, 2))
    with pytest.raises(
        RuntimeError, match=r"GRUCell: hidden state 0 has shape \(3, 4\), expected \(2, 4\)"
    ):
        nn.GRUCell(3, 4)(ember.randn(2, 3), ember.randn(3, 4))
    with pytest.raises(ValueError, match="lstm_cell: expected gates"):
        ember._C._lstm_cell(ember.randn(2, 8), ember.randn(2, 3))
    with pytest.raises(TypeError, match="gru_cell"):
        ember._C._gru_cell(
            ember.zeros(2, 6, dtype=ember.int64), ember.randn(2, 6), ember.randn(2, 2)
        )


# ----------------------------------------------------------------------------- nn.utils.rnn


def test_pad_and_pack_helpers_match_torch():
    seqs = [randn(n, 2) for n in (3, 5, 1)]
    for batch_first in (False, True):
        for side in ("right", "left"):
            e = rnn_utils.pad_sequence(
                [E(s) for s in seqs], batch_first=batch_first, padding_value=-1.0, padding_side=side
            )
            t = torch.nn.utils.rnn.pad_sequence(
                [T(s) for s in seqs], batch_first=batch_first, padding_value=-1.0, padding_side=side
            )
            close(e, t)
    ep = rnn_utils.pack_sequence([E(s) for s in seqs], enforce_sorted=False)
    tp = torch.nn.utils.rnn.pack_sequence([T(s) for s in seqs], enforce_sorted=False)
    close(ep.data, tp.data)
    assert ep.sorted_indices.tolist() == tp.sorted_indices.tolist()
    assert ep.unsorted_indices.tolist() == tp.unsorted_indices.tolist()
    for a, b in zip(rnn_utils.unpack_sequence(ep), seqs):
        close(a, b)
    padded, lens = rnn_utils.pad_packed_sequence(ep, batch_first=True, padding_value=9.0)
    tpad, tlens = torch.nn.utils.rnn.pad_packed_sequence(tp, batch_first=True, padding_value=9.0)
    close(padded, tpad)
    assert lens.tolist() == tlens.tolist() == [3, 5, 1]


def test_packing_errors():
    x = ember.randn(4, 3, 2)
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        rnn_utils.pack_padded_sequence(x, [2, 3, 1])
    with pytest.raises(RuntimeError, match="greater than 0"):
        rnn_utils.pack_padded_sequence(x, [3, 2, 0])
    with pytest.raises(RuntimeError, match=r"batch_size=3"):
        rnn_utils.pack_padded_sequence(x, [3, 2])
    p = rnn_utils.pack_padded_sequence(x, [4, 2, 1])
    with pytest.raises(ValueError, match="total_length=3"):
        rnn_utils.pad_packed_sequence(p, total_length=3)
    with pytest.raises(RuntimeError, match="pad_sequence"):
        rnn_utils.pad_sequence([ember.randn(2, 3), ember.randn(2, 4)])


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_partial_requires_grad_and_double_backward(name):
    """W_hh's gradient is one GEMM after the loop: still right when only some inputs require
    grad, and differentiable again under create_graph."""
    em, tm = twins(name, 3, 4, num_layers=2)
    for m in (em, tm):
        m.weight_ih_l0.requires_grad_(False)
    x = randn(5, 2, 3)
    eo, _ = em(E(x))
    to, _ = tm(T(x))
    (eo * eo).sum().backward()
    (to * to).sum().backward()
    close(em.weight_hh_l0.grad, tm.weight_hh_l0.grad)
    close(em.weight_hh_l1.grad, tm.weight_hh_l1.grad)
    assert em.weight_ih_l0.grad is None
    # second order: d/dx of |dL/dW_hh|^2
    ex, tx = E(x, True), T(x, True)
    (eg,) = ember.autograd.grad([(em(ex)[0] ** 2).sum()], [em.weight_hh_l0], create_graph=True)
    (tg,) = torch.autograd.grad((tm(tx)[0] ** 2).sum(), tm.weight_hh_l0, create_graph=True)
    close(eg, tg)
    (eg * eg).sum().backward()
    (tg * tg).sum().backward()
    close(ex.grad, tx.grad)


def test_no_grad_inference():
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    with ember.no_grad():
        out, (h, c) = m(ember.randn(6, 2, 3))
    assert not out.requires_grad and tuple(out.shape) == (6, 2, 8)


# ------------------------------------------------------------------ fused LSTM sequence op


def _seq_ref(xw, h0, c0, w, reverse):
    """The LSTM recurrence in NumPy (float64): xw [T, B, 4H] -> out, cs [T, B, H]."""
    T_, H = xw.shape[0], h0.shape[1]
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h, c = h0, c0
    out, cs = np.zeros((T_, *h0.shape)), np.zeros((T_, *h0.shape))
    for t in range(T_ - 1, -1, -1) if reverse else range(T_):
        g = xw[t] + h @ w.T
        i, f, gg, o = (
            sig(g[:, :H]),
            sig(g[:, H : 2 * H]),
            np.tanh(g[:, 2 * H : 3 * H]),
            sig(g[:, 3 * H :]),
        )
        c = f * c + i * gg
        h = o * np.tanh(c)
        out[t], cs[t] = h, c
    return out, cs


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 2, 5), (1, 4, 3), (6, 1, 2)])
def test_lstm_sequence_gradcheck(reverse, shape):
    """The fused sequence op (forward kernel, backward kernel) vs NumPy and float64 finite
    differences, including 1 step, batch 1 and hidden 1."""
    Tn, B, H = shape
    xw, h0, c0 = randn(Tn, B, 4 * H), randn(B, H), randn(B, H)
    w = randn(4 * H, H) * 0.7
    out, cs, hT, cT = ember._C._lstm_sequence(E(xw), E(h0), E(c0), E(w), reverse)
    ro, rc = _seq_ref(xw, h0, c0, w, reverse)
    close(out, ro, 1e-12)
    close(cs, rc, 1e-12)
    last = 0 if reverse else Tn - 1
    close(hT, ro[last], 1e-12)
    close(cT, rc[last], 1e-12)

    def fn(a, b, c, d):
        o, s, ht, ct = ember._C._lstm_sequence(a, b, c, d, reverse)
        return o, s * 0.5, ht * 2.0, ct  # every output's grad reaches the backward kernel

    assert gradcheck(fn, [E(xw, True), E(h0, True), E(c0, True), E(w, True)])


def _threads(n):
    old = ember.get_num_threads()
    ember.set_num_threads(n)
    return old


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_fused_lstm_split_over_threads_matches_torch(threads, bidirectional):
    """Sizes where the step loop is split by hidden units over the threads (uneven slices, odd
    H, a slice of more than 128 units): outputs, final states and every gradient vs PyTorch."""
    old = _threads(threads)
    try:
        for I, H, B, Tn in [(5, 67, 4, 3), (3, 131, 1, 2), (2, 300, 2, 2)]:
            em, tm = twins("LSTM", I, H, num_layers=2, bidirectional=bidirectional)
            D = 2 if bidirectional else 1
            hx = (randn(2 * D, B, H), randn(2 * D, B, H))
            run_both(em, tm, randn(Tn, B, I), hx, lambda s: randn(*s))
    finally:
        ember.set_num_threads(old)


def test_fused_lstm_matches_step_path_float32():
    """float32: the fused op and the per-step path (cells + GEMMs) agree on outputs and grads."""
    from ember.nn.modules import rnn as rnn_mod

    m = nn.LSTM(13, 37, num_layers=2, bidirectional=True, batch_first=True)
    x = ember.tensor(randn(3, 9, 13).astype(np.float32))
    g = ember.tensor(randn(3, 9, 74).astype(np.float32))
    results = []
    for fused in (True, False):
        rnn_mod._FUSED_LSTM = fused
        try:
            m.zero_grad()
            xi = x.detach().requires_grad_(True)
            out, (h, c) = m(xi)
            ((out * g).sum() + h.sum() + (c * 0.5).sum()).backward()
            results.append([out, h, c, xi.grad, *(p.grad for p in m.parameters())])
        finally:
            rnn_mod._FUSED_LSTM = True
    for a, b in zip(*results):
        np.testing.assert_allclose(npy(a), npy(b), rtol=2e-5, atol=2e-6)


def test_fused_lstm_packed_equal_lengths_and_no_grad():
    """A PackedSequence of equal lengths takes the fused op too; no_grad keeps no activations."""
    em, tm = twins("LSTM", 4, 6)
    x = randn(5, 3, 4)
    ep = rnn_utils.pack_padded_sequence(E(x, True), [5, 5, 5])
    tp = torch.nn.utils.rnn.pack_padded_sequence(T(x, True), [5, 5, 5])
    eo, (eh, ec) = em(ep)
    to, (th, tc) = tm(tp)
    close(eo.data, to.data)
    close(eh, th)
    close(ec, tc)
    with ember.no_grad():
        out, _ = em(E(x))
    assert not out.requires_grad
    close(out, tm(T(x))[0])


def test_lstm_sequence_bad_inputs():
    f = ember._C._lstm_sequence
    xw, h0, w = ember.zeros(3, 2, 8), ember.zeros(2, 2), ember.zeros(8, 2)
    with pytest.raises(
        ValueError, match=r"lstm: expected xw \[T >= 1, B, 4H\].*\[3, 2, 8\].*\[2, 3\]"
    ):
        f(xw, h0, ember.zeros(2, 3), w, False)
    with pytest.raises(ValueError, match="lstm: expected xw"):
        f(ember.zeros(0, 2, 8), h0, h0, w, False)
    with pytest.raises(TypeError, match="lstm: the fused sequence takes float32 or float64"):
        f(xw.to(ember.float16), h0, h0, w, False)


def test_fused_lstm_double_backward_bidirectional():
    """create_graph through both directions of the fused op (the backward written with ops, fed
    by the saved outputs) matches PyTorch's second-order gradients."""
    em, tm = twins("LSTM", 3, 4, bidirectional=True)
    x, h0, c0 = randn(4, 2, 3), randn(2, 2, 4), randn(2, 2, 4)
    ex, tx = E(x, True), T(x, True)
    eh, th = (E(h0, True), E(c0, True)), (T(h0, True), T(c0, True))
    eo, (ehn, ecn) = em(ex, eh)
    to, (thn, tcn) = tm(tx, th)
    e_loss = (eo**2).sum() + (ecn * ehn).sum()
    t_loss = (to**2).sum() + (tcn * thn).sum()
    ew = [em.weight_hh_l0_reverse, em.weight_hh_l0, eh[1]]
    tw = [tm.weight_hh_l0_reverse, tm.weight_hh_l0, th[1]]
    eg = ember.autograd.grad([e_loss], ew, create_graph=True)
    tg = torch.autograd.grad(t_loss, tw, create_graph=True)
    for a, b in zip(eg, tg):
        close(a, b)
    sum((g * g).sum() for g in eg).backward()
    sum((g * g).sum() for g in tg).backward()
    close(ex.grad, tx.grad)
    close(eh[0].grad, th[0].grad)
    close(em.weight_ih_l0_reverse.grad, tm.weight_ih_l0_reverse.grad)


@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_sequence_gradgradcheck(reverse):
    """Second-order gradients of the fused op (every output, every input) vs finite differences."""
    xw, h0, c0, w = randn(3, 2, 8), randn(2, 2), randn(2, 2), randn(8, 2) * 0.7

    def fn(a, b, c, d):
        return tuple(ember._C._lstm_sequence(a, b, c, d, reverse))

    assert gradgradcheck(fn, [E(xw, True), E(h0, True), E(c0, True), E(w, True)])
