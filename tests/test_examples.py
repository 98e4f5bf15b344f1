"""The language-model and autograd examples, run for a few steps at tiny sizes.

Each example exposes ``main(argv) -> dict``; the tests import the file and call it. They check
the results (losses finite and falling, resume continuing from the saved step, the dream's PNG,
VGG16's torchvision parameter layout), not speed.
"""

from __future__ import annotations

import importlib.util
import math
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import ember
from ember.data.datasets import data_search_path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses/pickling look modules up by name
    spec.loader.exec_module(mod)
    return mod


def have(folder: str, file: str) -> bool:
    return any((b / folder / file).is_file() or (b / file).is_file() for b in data_search_path())


needs_shakespeare = pytest.mark.skipif(
    not have("tinyshakespeare", "input.txt"), reason="tiny shakespeare not in $EMBER_DATA_DIR"
)
needs_names = pytest.mark.skipif(
    not have("makemore", "names.txt"), reason="names.txt not in $EMBER_DATA_DIR"
)


# ---------------------------------------------------------------------------- linear regression


def test_linear_regression_reaches_least_squares(capsys):
    lr = load_example("linear_regression")
    out = lr.main(["--steps", "150", "--print-every", "50"])
    assert out["losses"][-1] < out["losses"][0] / 10
    assert all(a >= b - 1e-6 for a, b in zip(out["losses"], out["losses"][1:]))  # monotone
    assert out["w"] == pytest.approx(out["w_lstsq"], abs=1e-3)
    assert out["b"] == pytest.approx(out["b_lstsq"], abs=1e-3)
    assert out["w"] == pytest.approx(2.0, abs=0.1) and out["b"] == pytest.approx(-1.0, abs=0.1)
    assert "fitted line" in capsys.readouterr().out


# ---------------------------------------------------------------------------- GPT

TINY_GPT = "--n-layer 1 --n-head 2 --n-embd 16 --block-size 16 --batch-size 4".split()
TINY_GPT += "--eval-every 3 --eval-iters 2 --sample-chars 20 --warmup 2 --no-progress".split()


@needs_shakespeare
def test_gpt_trains_checkpoints_and_resumes(tmp_path, capsys):
    gpt = load_example("gpt_shakespeare")
    out = tmp_path / "ckpt"
    first = gpt.main([*TINY_GPT, "--iters", "6", "--out", str(out)])
    assert first["step"] == 6
    assert math.isfinite(first["val_loss"]) and first["val_loss"] < math.log(65)
    assert len(first["sample"]) == 21  # the "\n" prompt + 20 sampled characters

    # the checkpoint holds what the run printed: reload it and evaluate the same batches
    ckpt = ember.load(out / "ckpt.safetensors")
    assert ckpt["step"] == 6
    data = gpt.TinyShakespeare(None, "val", block_size=16)
    model = gpt.GPT(data.vocab_size, 16, n_layer=1, n_head=2, n_embd=16)
    model.load_state_dict(ckpt["model"])
    assert model.lm_head.weight is model.wte.weight  # loading keeps the tie
    val = gpt.estimate_loss(model, {"val": data}, 2, 4)["val"]
    assert val == pytest.approx(ckpt["val_loss"], rel=1e-5)

    capsys.readouterr()
    second = gpt.main([*TINY_GPT, "--iters", "9", "--out", str(out), "--resume"])
    assert "resumed from" in capsys.readouterr().out
    assert second["step"] == 9
    assert ember.load(out / "ckpt.safetensors")["step"] == 9
    assert math.isfinite(second["val_loss"])


def test_gpt_weight_tying_and_decay_groups():
    gpt = load_example("gpt_shakespeare")
    model = gpt.GPT(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8)
    assert model.lm_head.weight is model.wte.weight
    names = [n for n, _ in model.named_parameters()]
    assert "lm_head.weight" not in names  # tied: counted once
    opt = gpt.configure_optimizer(model, lr=1e-3, weight_decay=0.1)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"])
    assert all(p.dim() == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(names)
    # warm-up rises linearly, cosine ends at min_lr
    assert gpt.lr_at(0, 1.0, 10, 100, 0.1) == pytest.approx(0.1)
    assert gpt.lr_at(9, 1.0, 10, 100, 0.1) == pytest.approx(1.0)
    assert gpt.lr_at(100, 1.0, 10, 100, 0.1) == pytest.approx(0.1)


# ---------------------------------------------------------------------------- makemore

TINY_MM = "--n-embd 8 --n-embd2 8 --n-layer 1 --n-head 2 --samples 3".split()


@needs_names
def test_makemore_counts_match_numpy():
    mm = load_example("makemore")
    out = mm.main(["--type", "bigram-counts", "--samples", "2"])
    # reference: add-one smoothed bigram NLL on the test names, with NumPy
    train = mm.Names(None, "train")
    test = mm.Names(None, "test")
    counts = np.ones((27, 27))
    for w in train.words:
        ids = [0, *train.encode(w), 0]
        np.add.at(counts, (ids[:-1], ids[1:]), 1)
    logp = np.log(counts / counts.sum(1, keepdims=True))
    nll = [
        -logp[a, b] for w in test.words for a, b in zip([0, *test.encode(w)], [*test.encode(w), 0])
    ]
    assert out["test_loss"] == pytest.approx(np.mean(nll), rel=1e-5)
    assert len(out["samples"]) == 2
    tri = mm.main(["--type", "trigram-counts", "--samples", "2"])
    assert tri["train_loss"] < out["train_loss"]  # more context fits the training set better


@needs_names
@pytest.mark.parametrize("kind", ["bigram", "mlp", "mlp-bn", "rnn", "gru", "transformer"])
def test_makemore_models_learn(kind):
    mm = load_example("makemore")
    steps, lr = ("30", "0.3") if kind == "bigram" else ("60", "0.01")
    out = mm.main(["--type", kind, "--steps", steps, "--lr", lr, "--eval-every", steps, *TINY_MM])
    assert math.isfinite(out["test_loss"])
    assert out["test_loss"] < math.log(27) - 0.25  # uniform guessing: ln 27 = 3.30
    assert len(out["samples"]) == 3 and all(
        set(s) <= set("abcdefghijklmnopqrstuvwxyz") for s in out["samples"]
    )


def test_makemore_models_are_causal():
    """Position t's logits must not change when later characters change."""
    mm = load_example("makemore")
    args = mm.parse_args(["--n-embd", "8", "--n-embd2", "8", "--n-layer", "1", "--n-head", "2"])
    ember.manual_seed(0)
    x = ember.randint(1, 27, (2, 7))
    y = x.clone()
    y[:, 4:] = 0
    for kind in ("bigram", "mlp", "rnn", "gru", "transformer"):
        args.type = kind
        model = mm.build(args, 27, 7).eval()
        with ember.no_grad():
            a, b = model(x), model(y)  # (2, 7, 27)
        np.testing.assert_allclose(
            a[:, :4].numpy(), b[:, :4].numpy(), rtol=1e-5, atol=1e-6, err_msg=kind
        )


# ---------------------------------------------------------------------------- deepdream

# torchvision.models.vgg16().features: conv layers sit at these indices of the Sequential
VGG16_CONV = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128), 10: (256, 128), 12: (256, 256),
              14: (256, 256), 17: (512, 256), 19: (512, 512), 21: (512, 512), 24: (512, 512),
              26: (512, 512), 28: (512, 512)}  # fmt: skip


def read_png(path: Path) -> tuple[int, int, np.ndarray]:
    """Parse an 8-bit RGB, filter-0 PNG (what write_png writes) with the standard library."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])[0] == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + n
    w, h, depth, ctype = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, ctype) == (8, 2) and b"IEND" in chunks
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(h, 1 + 3 * w)
    assert (raw[:, 0] == 0).all()
    return w, h, raw[:, 1:].reshape(h, w, 3)


def test_vgg16_matches_torchvision_layout():
    dd = load_example("deepdream")
    sd = dd.VGG().state_dict()
    expected = {}
    for i, (c_out, c_in) in VGG16_CONV.items():
        expected[f"features.{i}.weight"] = (c_out, c_in, 3, 3)
        expected[f"features.{i}.bias"] = (c_out,)
    assert {k: tuple(v.shape) for k, v in sd.items()} == expected
    assert len(dd.VGG().features) == 31


def test_deepdream_writes_png(tmp_path, capsys):
    dd = load_example("deepdream")
    out = tmp_path / "dream.png"
    res = dd.main(
        [
            "--width",
            "0.0625",
            "--size",
            "37",
            "--octaves",
            "2",
            "--iters",
            "2",
            "--lr",
            "0.3",
            "--out",
            str(out),
        ]
    )
    assert "RANDOM weights" in capsys.readouterr().out
    w, h, rgb = read_png(out)
    assert (w, h) == (37, 37) and res["shape"] == (37, 37, 3)
    assert np.abs(rgb.astype(int) - dd.synthetic_image(37).astype(int)).mean() > 2  # it dreamed

    # a PPM start image of another shape keeps its size
    ppm = tmp_path / "in.ppm"
    ppm.write_bytes(b"P6\n# comment\n23 17\n255\n" + dd.synthetic_image(23)[:17].tobytes())
    dd.main(
        [
            "--width",
            "0.0625",
            "--image",
            str(ppm),
            "--octaves",
            "1",
            "--iters",
            "1",
            "--out",
            str(out),
        ]
    )
    assert read_png(out)[:2] == (23, 17)


def test_deepdream_loads_torch_weights(tmp_path):
    torch = pytest.importorskip("torch")
    dd = load_example("deepdream")
    cfg = (4, "M", 8, 8, "M")
    layers, c = [], 3
    for v in cfg:
        layers += (
            [torch.nn.MaxPool2d(2, 2)]
            if v == "M"
            else [torch.nn.Conv2d(c, v, 3, padding=1), torch.nn.ReLU()]
        )
        c = c if v == "M" else v
    ref = torch.nn.Module()
    ref.features = torch.nn.Sequential(*layers)
    ref.classifier = torch.nn.Linear(8, 2)  # as in torchvision: ignored by the example
    path = tmp_path / "vgg.pth"
    torch.save(ref.state_dict(), path)

    model = dd.VGG(cfg)
    dd.load_weights(model, path)
    x = np.random.default_rng(0).normal(size=(1, 3, 12, 12)).astype(np.float32)
    want = ref.features(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(
        model(ember.from_numpy(x)).detach().numpy(), want, rtol=1e-4, atol=1e-5
    )
