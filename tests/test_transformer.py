"""nn.Transformer / TransformerEncoder(Layer) / TransformerDecoder(Layer) and
nn.MultiheadAttention against PyTorch with copied weights: outputs, every gradient, masks,
state dicts both ways, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from conftest import requires_torch, torch
from ember import nn
from ember.nn import functional as F

pytestmark = requires_torch
F64 = ember.float64
RNG = np.random.default_rng(1)


def randn(*shape):
    return RNG.standard_normal(shape)


def E(a, grad=False):
    a = np.asarray(a)
    dt = ember.bool if a.dtype == bool else F64
    return ember.tensor(a, dtype=dt, requires_grad=grad)


def T(a, grad=False):
    a = np.asarray(a)
    if a.dtype == bool:
        return torch.tensor(a)
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def npy(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.numpy(force=True)


def close(a, b, tol=1e-9):
    np.testing.assert_allclose(npy(a), npy(b), rtol=tol, atol=tol)


def copy_weights(em, tm):
    assert list(em.state_dict()) == list(tm.state_dict())
    em.load_state_dict({k: E(v.numpy()) for k, v in tm.state_dict().items()})


def compare(em, tm, e_args, t_args, e_kw=None, t_kw=None, grads=True):
    """Forward both (float64), backward sum(out * g), compare outputs and all gradients."""
    eo = em(*e_args, **(e_kw or {}))
    to = tm(*t_args, **(t_kw or {}))
    close(eo, to)
    if not grads:
        return
    g = randn(*to.shape)
    (eo * E(g)).sum().backward()
    (to * T(g)).sum().backward()
    for (n, p), (_, q) in zip(em.named_parameters(), tm.named_parameters()):
        if q.grad is None:
            assert p.grad is None or np.all(npy(p.grad) == 0), n
        else:
            close(p.grad, q.grad)
    for a, b in zip(e_args, t_args):
        if b.requires_grad:
            close(a.grad, b.grad)


def twin_layers(name, *args, **kwargs):
    tm = getattr(torch.nn, name)(*args, **kwargs).double()
    em = getattr(nn, name)(*args, **kwargs, dtype=F64)
    copy_weights(em, tm)
    return em, tm


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer(norm_first, batch_first, activation):
    em, tm = twin_layers(
        "TransformerEncoderLayer",
        12,
        3,
        dim_feedforward=10,
        dropout=0.0,
        activation=activation,
        batch_first=batch_first,
        norm_first=norm_first,
    )
    S, N = 5, 2
    x = randn(N, S, 12) if batch_first else randn(S, N, 12)
    mask = np.triu(np.ones((S, S), bool), 1)
    kpm = np.zeros((N, S), bool)
    kpm[1, -2:] = True
    compare(em, tm, (E(x, True),), (T(x, True),))
    em.zero_grad()
    tm.zero_grad()
    compare(
        em,
        tm,
        (E(x, True),),
        (T(x, True),),
        {"src_mask": E(mask), "src_key_padding_mask": E(kpm)},
        {"src_mask": T(mask), "src_key_padding_mask": T(kpm)},
    )
    fmask = np.where(mask, -np.inf, 0.0) + randn(S, S) * 0.1
    compare(em, tm, (E(x),), (T(x),), {"src_mask": E(fmask)}, {"src_mask": T(fmask)}, grads=False)


def test_encoder_layer_callable_activation_no_bias_unbatched():
    em, tm = twin_layers(
        "TransformerEncoderLayer", 8, 2, dim_feedforward=6, dropout=0.0, bias=False
    )
    em.activation, tm.activation = F.silu, torch.nn.functional.silu
    assert not any("bias" in k for k in em.state_dict())
    x = randn(4, 8)
    compare(em, tm, (E(x, True),), (T(x, True),))
    layer = nn.TransformerEncoderLayer(8, 2, activation=F.gelu)
    assert layer.activation is F.gelu


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_decoder_layer(norm_first, batch_first):
    em, tm = twin_layers(
        "TransformerDecoderLayer",
        10,
        5,
        dim_feedforward=7,
        dropout=0.0,
        batch_first=batch_first,
        norm_first=norm_first,
    )
    Tn, S, N = 4, 6, 3
    tgt = randn(N, Tn, 10) if batch_first else randn(Tn, N, 10)
    mem = randn(N, S, 10) if batch_first else randn(S, N, 10)
    tmask = np.triu(np.ones((Tn, Tn), bool), 1)
    mkpm = np.zeros((N, S), bool)
    mkpm[0, -3:] = True
    mmask = randn(Tn, S) * 0.5
    ekw = {"tgt_mask": E(tmask), "memory_key_padding_mask": E(mkpm), "memory_mask": E(mmask)}
    tkw = {"tgt_mask": T(tmask), "memory_key_padding_mask": T(mkpm), "memory_mask": T(mmask)}
    compare(em, tm, (E(tgt, True), E(mem, True)), (T(tgt, True), T(mem, True)), ekw, tkw)


@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_full(batch_first):
    torch.manual_seed(0)
    tm = torch.nn.Transformer(
        8, 2, 2, 1, dim_feedforward=12, dropout=0.0, batch_first=batch_first
    ).double()
    em = nn.Transformer(
        8, 2, 2, 1, dim_feedforward=12, dropout=0.0, batch_first=batch_first, dtype=F64
    )
    copy_weights(em, tm)
    S, Tn, N = 5, 3, 2
    src = randn(N, S, 8) if batch_first else randn(S, N, 8)
    tgt = randn(N, Tn, 8) if batch_first else randn(Tn, N, 8)
    emask = nn.Transformer.generate_square_subsequent_mask(Tn, dtype=F64)
    tmask = torch.nn.Transformer.generate_square_subsequent_mask(Tn, dtype=torch.float64)
    close(emask, tmask)
    skpm = np.zeros((N, S), bool)
    skpm[1, -1] = True
    compare(
        em,
        tm,
        (E(src, True), E(tgt, True)),
        (T(src, True), T(tgt, True)),
        {
            "tgt_mask": emask,
            "src_key_padding_mask": E(skpm),
            "memory_key_padding_mask": E(skpm),
            "tgt_is_causal": True,
        },
        {
            "tgt_mask": tmask,
            "src_key_padding_mask": T(skpm),
            "memory_key_padding_mask": T(skpm),
            "tgt_is_causal": True,
        },
    )


def test_stack_copies_are_independent_and_norm():
    layer = nn.TransformerEncoderLayer(6, 2, dim_feedforward=4)
    enc = nn.TransformerEncoder(layer, 3, norm=nn.LayerNorm(6))
    assert len(enc.layers) == 3
    w0, w1 = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert w0 is not w1
    with ember.no_grad():
        w0.fill_(0.0)
    assert not np.all(w1.numpy(force=True) == 0)
    assert "norm.weight" in enc.state_dict()


def test_state_dict_round_trip_both_ways():
    em = nn.Transformer(8, 2, 1, 2, dim_feedforward=6, dropout=0.0)
    tm = torch.nn.Transformer(8, 2, 1, 2, dim_feedforward=6, dropout=0.0)
    tm.load_state_dict({k: torch.tensor(v.numpy(force=True)) for k, v in em.state_dict().items()})
    src = RNG.standard_normal((4, 1, 8)).astype(np.float32)
    tgt = RNG.standard_normal((3, 1, 8)).astype(np.float32)
    tm.eval()
    em.eval()
    np.testing.assert_allclose(
        em(ember.tensor(src), ember.tensor(tgt)).numpy(force=True),
        tm(torch.tensor(src), torch.tensor(tgt)).detach().numpy(),
        atol=1e-5,
    )
    em2 = nn.Transformer(8, 2, 1, 2, dim_feedforward=6, dropout=0.0)
    em2.load_state_dict({k: ember.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    np.testing.assert_allclose(
        em2(ember.tensor(src), ember.tensor(tgt)).numpy(force=True),
        tm(torch.tensor(src), torch.tensor(tgt)).detach().numpy(),
        atol=1e-5,
    )


def test_dropout_only_in_training():
    ember.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.5)
    x = ember.randn(3, 2, 8)
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(force=True), layer(x).numpy(force=True))
    layer.train()
    assert not np.allclose(layer(x).numpy(force=True), layer(x).numpy(force=True))


# ----------------------------------------------------------------------------- MultiheadAttention


@pytest.mark.parametrize("average", [True, False])
def test_mha_weights_kdim_vdim_bias_kv(average):
    kw = dict(kdim=5, vdim=3, add_bias_kv=True, batch_first=True)
    tm = torch.nn.MultiheadAttention(8, 2, **kw).double()
    em = nn.MultiheadAttention(8, 2, **kw, dtype=F64)
    copy_weights(em, tm)
    q, k, v = randn(2, 4, 8), randn(2, 6, 5), randn(2, 6, 3)
    kpm = np.zeros((2, 6), bool)
    kpm[0, 0] = True
    eo, ew = em(E(q), E(k), E(v), key_padding_mask=E(kpm), average_attn_weights=average)
    to, tw = tm(T(q), T(k), T(v), key_padding_mask=T(kpm), average_attn_weights=average)
    close(eo, to)
    close(ew, tw)


# ----------------------------------------------------------------------------- bad input


def test_bad_input():
    with pytest.raises(ValueError, match=r"embed_dim \(10\) must be divisible by num_heads \(3\)"):
        nn.TransformerEncoderLayer(10, 3)
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerDecoderLayer(8, 2, activation="tanh")
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=4)
    x = ember.randn(5, 2, 8)
    with pytest.raises(ValueError, match=r"attn_mask is \(4, 4\), but should be \(5, 5\)"):
        layer(x, src_mask=ember.zeros(4, 4))
    with pytest.raises(ValueError, match=r"key_padding_mask shape \(2, 4\) should be \(2, 5\)"):
        layer(x, src_key_padding_mask=ember.zeros(2, 4, dtype=ember.bool))
    with pytest.raises(
        ValueError, match=r"TransformerEncoderLayer: expected src of shape \[S, N, 8\]"
    ):
        layer(ember.randn(5, 2, 6))
    t = nn.Transformer(8, 2, 1, 1, dim_feedforward=4)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        t(ember.randn(5, 2, 8), ember.randn(3, 3, 8))
    with pytest.raises(RuntimeError, match="must be equal to d_model"):
        t(ember.randn(5, 2, 8), ember.randn(3, 2, 6))
