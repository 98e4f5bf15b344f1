"""ember.utils.summary: parameter and FLOP counts checked against hand counts.

FLOPs count a multiply-add as 2 (see the summary docstring for each layer's formula).
"""

import pytest

import ember
from conftest import requires_metal
from ember import nn
from ember.utils import summary


def quiet(model, **kw):
    return summary(model, verbose=False, **kw)


def rows(s):
    return {(r.name, r.repeat): r for r in s.layers}


def test_linear():
    s = quiet(nn.Linear(10, 5), input_size=(3, 10))
    assert (s.total_params, s.trainable_params, s.frozen_params) == (55, 55, 0)
    assert s.total_flops == 2 * 3 * 10 * 5 + 3 * 5
    assert s.layers[0].output_shapes == [(3, 5)]
    s = quiet(nn.Linear(10, 5, bias=False), input_size=(2, 7, 10))  # 14 rows
    assert (s.total_params, s.total_flops) == (50, 2 * 14 * 10 * 5)
    assert s.params_bytes == 50 * 4


def test_conv():
    s = quiet(nn.Conv2d(3, 8, 3, padding=1), input_size=(2, 3, 16, 16))
    assert s.total_params == 8 * 3 * 9 + 8
    assert s.total_flops == (2 * 8 * 16 * 16) * (2 * 3 * 9 + 1)
    s = quiet(nn.Conv2d(4, 8, 3, stride=2, groups=2, bias=False), input_size=(1, 4, 9, 9))
    assert s.layers[0].output_shapes == [(1, 8, 4, 4)]
    assert (s.total_params, s.total_flops) == (8 * 2 * 9, 8 * 16 * 2 * 2 * 9)
    s = quiet(nn.Conv1d(4, 6, 5), input_size=(2, 4, 20))
    assert s.total_flops == (2 * 6 * 16) * (2 * 4 * 5 + 1)


def test_mlp_rows_and_totals():
    B = 128
    model = nn.Sequential(
        nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)
    )
    s = quiet(model, input_size=(B, 784))
    assert s.total_params == 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10 == 669_706
    linears = 2 * B * (784 * 512 + 512 * 512 + 512 * 10) + B * (512 + 512 + 10)
    assert s.total_flops == linears + 2 * B * 512
    r = rows(s)
    assert [x.name for x in s.layers] == ["", "0", "1", "2", "3", "4"]
    second = r[("2", False)]
    assert second.trainable_params == 512 * 512 + 512 and second.output_shapes == [(B, 512)]
    assert r[("", False)].params == 0 and r[("", False)].flops is None  # all on the children
    assert all(x.time > 0 for x in s.layers) and s.total_time >= max(x.time for x in s.layers[1:])
    assert sum(x.params for x in s.layers) == s.total_params


def mnist_cnn():
    # examples/mnist_cnn.py's model
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128),
        nn.ReLU(),
        nn.Dropout(0.25),
        nn.Linear(128, 10),
    )


def test_cnn_hand_count(capsys):
    B = 2
    model = mnist_cnn()
    s = summary(model, input_size=(B, 1, 28, 28))
    assert (
        s.total_params
        == (32 * 9 + 32) + (64 * 32 * 9 + 64) + (3136 * 128 + 128) + (128 * 10 + 10)
        == 421_642
    )
    flops = [
        B * 32 * 28 * 28 * (2 * 1 * 9 + 1),  # conv1
        B * 32 * 28 * 28,  # relu
        B * 32 * 14 * 14 * 4,  # 2x2 max-pool
        B * 64 * 14 * 14 * (2 * 32 * 9 + 1),  # conv2
        B * 64 * 14 * 14,
        B * 64 * 7 * 7 * 4,
        None,  # flatten
        2 * B * 3136 * 128 + B * 128,
        B * 128,
        None,  # dropout
        2 * B * 128 * 10 + B * 10,
    ]
    assert [r.flops for r in s.layers[1:]] == flops
    assert s.total_flops == sum(f for f in flops if f)
    assert [r.output_shapes[0] for r in s.layers[1:]][:3] == [
        (B, 32, 28, 28),
        (B, 32, 28, 28),
        (B, 32, 14, 14),
    ]
    printed = capsys.readouterr().out
    assert printed.strip() == str(s).strip()
    assert (
        "Total params: 421,642" in printed
        and "Conv2d (3)" in printed
        and "[2, 64, 7, 7]" in printed
    )
    assert f"Total FLOPs: {s.total_flops:,}" in printed and "Forward time (ms)" in printed


def test_shared_module_and_tied_weights_counted_once():
    lin = nn.Linear(4, 4)
    s = quiet(nn.Sequential(lin, nn.ReLU(), lin), input_size=(3, 4))
    assert s.total_params == 20
    assert s.total_flops == 2 * (2 * 3 * 16 + 3 * 4) + 3 * 4  # the module runs twice
    assert [(r.name, r.repeat, r.params) for r in s.layers] == [
        ("", False, 0),
        ("0", False, 20),
        ("1", False, 0),
        ("0", True, 0),
    ]
    a, b = nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False)
    b.weight = a.weight
    s = quiet(nn.Sequential(a, b), input_size=(1, 4))
    assert s.total_params == 16 and sum(r.params for r in s.layers) == 16


def test_frozen_params():
    model = mnist_cnn()
    model[0].weight.requires_grad_(False)
    model[0].bias.requires_grad_(False)
    model[7].weight.requires_grad_(False)
    s = quiet(model, input_size=(1, 1, 28, 28))
    assert s.frozen_params == s.non_trainable_params == 320 + 3136 * 128
    assert s.trainable_params == 421_642 - s.frozen_params
    r = rows(s)
    assert (r[("0", False)].trainable_params, r[("0", False)].frozen_params) == (0, 320)
    assert (r[("7", False)].trainable_params, r[("7", False)].frozen_params) == (128, 3136 * 128)


def test_depth_rolls_up():
    model = nn.Sequential(nn.Sequential(nn.Linear(3, 4), nn.Tanh()), nn.Linear(4, 2))
    full = quiet(model, input_size=(5, 3))
    assert [r.name for r in full.layers] == ["", "0", "0.0", "0.1", "1"]
    one = quiet(model, input_size=(5, 3), depth=1)
    assert [r.name for r in one.layers] == ["", "0", "1"]
    r = rows(one)
    assert r[("0", False)].flops == 2 * 5 * 12 + 5 * 4 + 5 * 4 and r[("0", False)].params == 16
    top = quiet(model, input_size=(5, 3), depth=0)
    assert len(top.layers) == 1 and top.layers[0].flops == full.total_flops == top.total_flops
    assert top.layers[0].params == 26


def test_inputs_given_directly_and_int_dtypes():
    emb = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2))
    s = quiet(emb, input_size=(2, 3), dtypes=[ember.int64])
    assert (
        s.total_params == 10 * 4 + 4 * 2 + 2
        and s.layers[1].flops is None
        and s.total_flops == 2 * 6 * 8 + 6 * 2
    )
    s = quiet(
        nn.Linear(3, 2, dtype=ember.float64), input_size=(4, 3), dtypes=ember.float64, device="cpu"
    )
    assert s.total_params == 8 and s.params_bytes == 8 * 8 and s.total_flops == 2 * 4 * 6 + 4 * 2
    s = quiet(nn.Linear(3, 2), input_data=ember.randn(4, 3))
    assert s.input_shapes == [(4, 3)] and s.layers[0].output_shapes == [(4, 2)]

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, a, b):
            return self.lin(a) + b

    assert quiet(Two(), input_size=[(4, 3), (4, 2)]).layers[0].output_shapes == [(4, 2)]
    assert (
        quiet(Two(), input_data={"a": ember.randn(4, 3), "b": ember.randn(4, 2)}).total_params == 8
    )
    assert quiet(Two(), input_data=[ember.randn(1, 3), ember.randn(1, 2)]).total_flops == 2 * 6 + 2


def test_eval_mode_by_default_and_restored():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    model.train()
    before = model[1].running_mean.numpy().copy()
    s = quiet(model, input_size=(8, 3))
    assert model.training and model[1].training
    assert (model[1].running_mean.numpy() == before).all()  # eval: running stats untouched
    assert rows(s)[("1", False)].flops == 8 * 4 * (2 + 2)  # running stats: normalize + affine
    s = quiet(model, input_size=(8, 3), mode="train")
    assert rows(s)[("1", False)].flops == 8 * 4 * (3 + 2 + 2)


def test_norms_pools_activations():
    assert quiet(nn.LayerNorm(16), input_size=(4, 16)).total_flops == 64 * 7
    assert (
        quiet(nn.LayerNorm(16, elementwise_affine=False), input_size=(4, 16)).total_flops == 64 * 5
    )
    assert quiet(nn.GroupNorm(2, 4), input_size=(2, 4, 3, 3)).total_flops == 72 * 7
    assert quiet(nn.RMSNorm(8), input_size=(3, 8)).total_flops == 24 * 4
    assert quiet(nn.AvgPool2d(3, stride=2), input_size=(1, 2, 9, 9)).total_flops == 2 * 4 * 4 * 9
    assert quiet(nn.MaxPool1d(2), input_size=(1, 3, 10)).total_flops == 3 * 5 * 2
    assert quiet(nn.AdaptiveAvgPool2d(1), input_size=(2, 4, 5, 5)).total_flops == 200
    assert quiet(nn.Softmax(dim=-1), input_size=(2, 5)).total_flops == 30
    assert quiet(nn.GELU(), input_size=(2, 5)).total_flops == 10


def test_attention_and_recurrent():
    L, N, E, H = 5, 3, 8, 2
    s = quiet(nn.MultiheadAttention(E, H), input_data=[ember.randn(L, N, E)] * 3)
    proj = 2 * N * 3 * L * E * E + N * 3 * L * E
    core = 2 * 2 * N * L * L * E + 3 * N * H * L * L
    out_proj = 2 * N * L * E * E + N * L * E
    assert rows(s)[("", False)].flops == proj + core  # out_proj runs as a module: its own row
    assert rows(s)[("out_proj", False)].flops == out_proj
    assert quiet(
        nn.MultiheadAttention(E, H), input_data=[ember.randn(L, N, E)] * 3, depth=0
    ).layers[0].flops == (proj + core + out_proj)
    assert s.total_flops == proj + core + out_proj
    assert s.total_params == 3 * E * E + 3 * E + E * E + E

    B, T, C = 2, 6, 8
    s = quiet(nn.CausalSelfAttention(C, 2), input_size=(B, T, C))
    lin = 2 * B * T * C * 3 * C + B * T * 3 * C + 2 * B * T * C * C + B * T * C
    assert s.total_flops == lin + 4 * B * T * T * C + 3 * B * 2 * T * T

    steps_x_batch = 5 * 3
    s = quiet(nn.LSTM(10, 20), input_size=(5, 3, 10))
    assert s.total_flops == steps_x_batch * (2 * 4 * 20 * (10 + 20) + 2 * 4 * 20 + 13 * 20)
    assert s.layers[0].output_shapes == [(5, 3, 20), (1, 3, 20), (1, 3, 20)]
    s = quiet(
        nn.GRU(10, 20, num_layers=2, bidirectional=True, batch_first=True), input_size=(3, 5, 10)
    )
    layer0 = 2 * 3 * 20 * (10 + 20) + 2 * 3 * 20 + 12 * 20
    layer1 = 2 * 3 * 20 * (40 + 20) + 2 * 3 * 20 + 12 * 20
    assert s.total_flops == 2 * steps_x_batch * (layer0 + layer1)
    s = quiet(nn.RNNCell(10, 20), input_size=(4, 10))
    assert s.total_flops == 4 * (2 * 20 * 30 + 2 * 20 + 2 * 20)


def test_bad_arguments():
    with pytest.raises(ValueError, match="input_size"):
        quiet(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="mode"):
        quiet(nn.Linear(2, 2), input_size=(1, 2), mode="test")
    with pytest.raises(ValueError, match="input_size must be"):
        quiet(nn.Linear(2, 2), input_size=(1, -2))
    with pytest.raises(ValueError, match="2 dtypes for 1 input"):
        quiet(nn.Linear(2, 2), input_size=(1, 2), dtypes=[ember.float32, ember.float32])
    with pytest.raises(TypeError, match="input_data"):
        quiet(nn.Linear(2, 2), input_data=3)
    model = nn.Linear(2, 2)
    # the forward's own error propagates, and the hooks are removed after it
    with pytest.raises(ValueError, match="linear"):
        quiet(model, input_size=(1, 3))
    assert not model._forward_hooks and not model._forward_pre_hooks


@requires_metal
def test_metal_layers_are_timed_after_a_synchronize(monkeypatch):
    # metal kernels run asynchronously: each layer's time must end after its kernels finished
    events = []
    real = ember.metal.synchronize
    monkeypatch.setattr(ember.metal, "synchronize", lambda: (events.append("sync"), real())[1])
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2)).to("metal")
    s = quiet(model, input_size=(3, 6), device="metal")
    assert len(s.layers) == 4 and all(r.time > 0 for r in s.layers)
    assert events.count("sync") == 2 * 4  # before and after each of the 4 calls
    events.clear()
    quiet(nn.Linear(3, 2), input_size=(2, 3))  # CPU: never synchronizes metal
    assert events == []
