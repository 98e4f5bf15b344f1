"""ember.save / ember.load (safetensors checkpoints) and ember.utils.load_torch_state_dict."""

from __future__ import annotations

import math
import os
import pickle

import numpy as np
import pytest
import safetensors.numpy  # noqa: E402

import ember
from ember import serialization

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

requires_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")


def bits(t: ember.Tensor) -> np.ndarray:
    """The exact stored values (bf16 as its float32 widening, which is exact)."""
    t = t.detach()
    if t.dtype == ember.bfloat16:
        t = t.float()
    return t.numpy().copy()


def assert_same(a, b):
    assert isinstance(b, ember.Tensor)
    assert a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape)
    x, y = bits(a), bits(b)
    assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), (x, y)


def sample_state_dict():
    ember.manual_seed(0)
    return {
        "fc.weight": ember.randn(4, 3),
        "fc.bias": ember.randn(4).double(),
        "emb.weight": ember.randn(5, 2).to(ember.bfloat16),
        "half": ember.randn(3).half(),
        "steps": ember.arange(6).int(),
        "count": ember.tensor(7),
        "mask": ember.tensor([True, False, True]),
        "pixels": ember.tensor([0, 128, 255], dtype=ember.uint8),
        "scalar": ember.tensor(2.5),
        "empty": ember.zeros(0, 4),
        "view": ember.randn(4, 6)[:, 1::2],  # non-contiguous
        "special": ember.tensor([math.nan, math.inf, -math.inf, -0.0]),
    }


def test_flat_round_trip_all_dtypes(tmp_path):
    sd = sample_state_dict()
    p = tmp_path / "m.safetensors"
    ember.save(sd, p)
    out = ember.load(p)
    assert list(out) == list(sd)  # same keys, same order
    for k in sd:
        assert_same(sd[k], out[k])
    # a plain safetensors file: other readers see the same names; bf16 is stored as its bits
    raw = safetensors.numpy.load_file(str(p))
    assert set(raw) == set(sd)
    assert raw["emb.weight"].dtype == np.uint16
    np.testing.assert_array_equal(raw["fc.weight"], sd["fc.weight"].numpy())


def test_bfloat16_bits_exact(tmp_path):
    # every bf16 bit pattern that is a finite number or inf survives bit for bit
    pats = np.arange(0, 2**16, 7, dtype=np.uint32)
    f = (pats << 16).view(np.float32)
    f = f[~np.isnan(f)]
    t = ember.from_numpy(f.copy()).to(ember.bfloat16)
    ember.save({"t": t}, tmp_path / "b.safetensors")
    back = ember.load(tmp_path / "b.safetensors")["t"]
    assert back.dtype == ember.bfloat16
    np.testing.assert_array_equal(back.float().numpy().view(np.uint32), f.view(np.uint32))


def test_nested_structure_round_trip(tmp_path):
    w = ember.randn(3, 2)
    ckpt = {
        "model": {"layer.weight": w, "layer.bias": ember.zeros(3)},
        "optimizer": {
            "state": {
                0: {"step": 12, "exp_avg": ember.ones(3, 2), "exp_avg_sq": ember.full((3, 2), 0.5)},
                1: {},
            },
            "param_groups": [
                {
                    "lr": 1e-3,
                    "betas": (0.9, 0.999),
                    "eps": 1e-8,
                    "weight_decay": 0.0,
                    "amsgrad": False,
                    "params": [0, 1],
                    "name": None,
                }
            ],
        },
        "scheduler": {"last_epoch": 4, "_last_lr": [0.001], "base_lrs": [0.01]},
        "epoch": 5,
        "loss": math.inf,
        "nan": math.nan,
        "rng": {"ember": ember.get_rng_state(), "python": (3, tuple(range(5)), None)},
        "np": np.arange(4, dtype=np.uint32),
        "dtype": ember.bfloat16,
        "notes": "trained on mnist",
        "a.b": ember.ones(1),  # collides with the flattened name of ["a"]["b"]
        "a": {"b": ember.zeros(1)},
        "__tensor__": 1,  # a key that looks like the format's markers
        (1, "x"): [1, 2],
        2.5: "float key",
        True: "bool key",
        "bf": [ember.randn(2).to(ember.bfloat16)],
    }
    p = tmp_path / "ckpt.safetensors"
    ember.save(ckpt, p)
    out = ember.load(p)
    assert set(map(repr, out)) == set(map(repr, ckpt))
    assert_same(w, out["model"]["layer.weight"])
    st = out["optimizer"]["state"]
    assert set(st) == {0, 1} and st[1] == {} and st[0]["step"] == 12
    assert_same(ckpt["optimizer"]["state"][0]["exp_avg_sq"], st[0]["exp_avg_sq"])
    assert out["optimizer"]["param_groups"] == ckpt["optimizer"]["param_groups"]
    assert isinstance(out["optimizer"]["param_groups"][0]["betas"], tuple)
    assert out["scheduler"] == ckpt["scheduler"] and out["epoch"] == 5
    assert out["loss"] == math.inf and math.isnan(out["nan"])
    assert (
        out["rng"]["ember"] == ckpt["rng"]["ember"]
        and out["rng"]["python"] == ckpt["rng"]["python"]
    )
    assert (
        isinstance(out["np"], np.ndarray)
        and out["np"].dtype == np.uint32
        and out["np"].tolist() == [0, 1, 2, 3]
    )
    assert out["dtype"] == ember.bfloat16 and out["notes"] == "trained on mnist"
    assert out["a.b"].tolist() == [1.0] and out["a"]["b"].tolist() == [0.0]
    assert (
        out["__tensor__"] == 1
        and out[(1, "x")] == [1, 2]
        and out[2.5] == "float key"
        and out[True] == "bool key"
    )
    assert_same(ckpt["bf"][0], out["bf"][0])
    # the state a restored RNG produces is the same
    ember.set_rng_state(out["rng"]["ember"])


def test_single_tensor_and_empty_dict(tmp_path):
    t = ember.randn(2, 2)
    ember.save(t, tmp_path / "t.safetensors")
    assert_same(t, ember.load(tmp_path / "t.safetensors"))
    ember.save({}, tmp_path / "e.safetensors")
    assert ember.load(tmp_path / "e.safetensors") == {}


def test_unsupported_values_are_refused_without_touching_the_file(tmp_path):
    p = tmp_path / "x.safetensors"
    ember.save({"w": ember.ones(2)}, p)
    before = p.read_bytes()
    with pytest.raises(TypeError, match="can't store a function at 'hook'"):
        ember.save({"w": ember.zeros(2), "hook": lambda: 0}, p)
    with pytest.raises(TypeError):
        ember.save({"s": {1, 2}}, p)
    assert p.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["x.safetensors"]


def test_interrupted_save_keeps_the_old_file(tmp_path, monkeypatch):
    p = tmp_path / "ckpt.safetensors"
    old = {"w": ember.ones(1000)}
    ember.save(old, p)
    before = p.read_bytes()

    def dies_midway(arrays, path, metadata):
        # the real writer, then the process "dies" with half of the new file on disk
        safetensors.numpy.save_file(arrays, path, metadata=metadata)
        data = open(path, "rb").read()
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
        raise KeyboardInterrupt("killed during save")

    monkeypatch.setattr(serialization, "_write_safetensors", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        ember.save({"w": ember.zeros(1000), "extra": ember.ones(5)}, p)
    assert p.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["ckpt.safetensors"]  # the temp file is gone
    assert_same(old["w"], ember.load(p)["w"])

    # a failure at the final rename leaves the old file too
    monkeypatch.undo()

    def no_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(serialization.os, "replace", no_replace)
    with pytest.raises(OSError, match="disk full"):
        ember.save({"w": ember.zeros(3)}, p)
    assert p.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["ckpt.safetensors"]


@pytest.mark.parametrize(
    "damage",
    [
        "truncate_end",
        "truncate_header",
        "empty",
        "flip_data_byte",
        "garbage",
        "bad_header_json",
        "crc_meta",
    ],
)
def test_corrupted_files_raise_clear_errors(tmp_path, damage):
    p = tmp_path / "c.safetensors"
    ember.save({"model": {"w": ember.randn(64, 64)}, "epoch": 3}, p)
    data = bytearray(p.read_bytes())
    if damage == "truncate_end":
        data = data[:-100]
    elif damage == "truncate_header":
        data = data[:20]
    elif damage == "empty":
        data = bytearray()
    elif damage == "flip_data_byte":
        data[-1000] ^= 0x40
    elif damage == "garbage":
        data = bytearray(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif damage == "bad_header_json":
        data[9] = ord("#")
    elif damage == "crc_meta":
        i = data.find(b"crc32")
        data[i : i + 5] = b"crc99"
    p.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"ember\.load: .*(corrupt|truncated)"):
        ember.load(p)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        ember.load(tmp_path / "nope.safetensors")


class _Exploit:
    def __reduce__(self):
        return (open, (os.environ["EMBER_TEST_MARKER"], "w"))


def test_loading_never_runs_code(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("EMBER_TEST_MARKER", str(marker))
    p = tmp_path / "evil.safetensors"
    p.write_bytes(pickle.dumps({"w": _Exploit()}, protocol=2))
    with pytest.raises(ValueError):
        ember.load(p)
    p2 = tmp_path / "evil.pt"
    p2.write_bytes(pickle.dumps({"w": _Exploit()}, protocol=2))
    if torch is not None:
        with pytest.raises(ValueError, match="weights_only"):
            ember.utils.load_torch_state_dict(p2)
    assert not marker.exists()


# ---------------------------------------------------------------------------- torch interop


def _torch_mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))


def _ember_mlp_forward(sd, x):
    """The same MLP written with ember ops, from a state_dict."""
    h = ember.relu(x @ sd["0.weight"].t() + sd["0.bias"])
    return h @ sd["2.weight"].t() + sd["2.bias"]


@requires_torch
@pytest.mark.parametrize("fmt", ["pt", "safetensors"])
def test_load_torch_state_dict_reproduces_torch(tmp_path, fmt):
    net = _torch_mlp()
    p = tmp_path / f"net.{fmt}"
    if fmt == "pt":
        torch.save(net.state_dict(), p)
    else:
        import safetensors.torch

        safetensors.torch.save_file(net.state_dict(), str(p))
    sd = ember.utils.load_torch_state_dict(p)
    assert set(sd) == set(net.state_dict())
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    expected = net(torch.from_numpy(x)).detach().numpy()
    got = _ember_mlp_forward(sd, ember.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)

    nn = getattr(ember, "nn", None)
    if nn is not None and hasattr(nn, "Sequential") and hasattr(nn, "Linear"):
        model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
        model.load_state_dict(sd)
        np.testing.assert_allclose(
            model(ember.from_numpy(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-6
        )


@requires_torch
def test_load_torch_checkpoint_wrappers_and_dtypes(tmp_path):
    net = _torch_mlp()
    p = tmp_path / "ckpt.pth"
    torch.save(
        {"model": net.state_dict(), "epoch": 3, "extra": torch.arange(3, dtype=torch.int16)}, p
    )
    full = ember.utils.load_torch_state_dict(p, key=None)
    assert full["epoch"] == 3 and full["extra"].dtype == ember.int64  # int16 widened
    sd = ember.utils.load_torch_state_dict(p, key="model")
    assert set(sd) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    torch.save({"state_dict": net.state_dict()}, p)
    assert set(ember.utils.load_torch_state_dict(p)) == set(sd)  # unwrapped automatically
    with pytest.raises(KeyError, match="nope"):
        ember.utils.load_torch_state_dict(p, key="nope")
    # bf16 both ways
    w = torch.randn(7, dtype=torch.bfloat16)
    torch.save({"w": w}, p)
    got = ember.utils.load_torch_state_dict(p)["w"]
    assert got.dtype == ember.bfloat16 and np.array_equal(got.float().numpy(), w.float().numpy())
    import safetensors.torch

    safetensors.torch.save_file({"w": w}, str(tmp_path / "w.safetensors"))
    got = ember.load(tmp_path / "w.safetensors")["w"]
    assert got.dtype == ember.bfloat16 and np.array_equal(got.float().numpy(), w.float().numpy())
    back = ember.utils.to_torch_state_dict({"w": got})["w"]
    assert back.dtype == torch.bfloat16 and torch.equal(back, w)


def test_load_torch_state_dict_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        ember.utils.load_torch_state_dict(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError):
        ember.utils.load_torch_state_dict(bad)
