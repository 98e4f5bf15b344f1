"""ember.data: datasets, samplers, collation, the DataLoader and the real datasets."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import threading
import time
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

import ember
from ember.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    random_split,
)
from ember.data import datasets as D

DATA = Path(os.environ.get("EMBER_DATA_DIR", "")) if os.environ.get("EMBER_DATA_DIR") else None


def have(folder: str, *files: str) -> bool:
    return DATA is not None and all((DATA / folder / f).is_file() for f in files)


needs_mnist = pytest.mark.skipif(
    not have("mnist", "t10k-images-idx3-ubyte.gz"), reason="MNIST not in $EMBER_DATA_DIR"
)
needs_fashion = pytest.mark.skipif(
    not have("fashion-mnist", "t10k-images-idx3-ubyte.gz"),
    reason="Fashion-MNIST not in $EMBER_DATA_DIR",
)
needs_shakespeare = pytest.mark.skipif(
    not have("tinyshakespeare", "input.txt"), reason="tiny shakespeare not in $EMBER_DATA_DIR"
)
needs_names = pytest.mark.skipif(
    not have("makemore", "names.txt"), reason="names.txt not in $EMBER_DATA_DIR"
)


def flat(batches):
    """All sample values in iteration order (first field of each batch)."""
    return [v for b in batches for v in (b[0] if isinstance(b, (tuple, list)) else b).tolist()]


class Squares(Dataset):
    """A plain map-style dataset (no __getbatch__): item i = (i, i*i) as numbers."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i, float(i * i)


# ---------------------------------------------------------------------------- datasets


def test_tensor_dataset_items_and_errors():
    x = ember.arange(12).reshape(6, 2)
    y = np.arange(6, dtype=np.float32)
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    a, b = ds[4]
    assert a.tolist() == [8, 9] and b.item() == 4.0
    assert isinstance(b, ember.Tensor)  # NumPy inputs become tensors
    with pytest.raises(ValueError, match="size mismatch"):
        TensorDataset(ember.zeros(3, 2), ember.zeros(4))
    with pytest.raises(ValueError):
        TensorDataset()
    with pytest.raises(TypeError):
        TensorDataset([1, 2, 3])


def test_subset_concat_and_random_split():
    ds = Squares(10)
    sub = Subset(ds, [7, 2, 5])
    assert len(sub) == 3 and sub[0] == (7, 49.0)
    cat = ConcatDataset([Squares(3), Squares(2)])
    assert len(cat) == 5 and cat[3] == (0, 0.0) and cat[-1] == (1, 1.0)
    with pytest.raises(IndexError):
        cat[5]
    assert len(Squares(2) + Squares(4)) == 6

    g = ember.Generator().manual_seed(3)
    a, b = random_split(ds, [7, 3], generator=g)
    assert len(a) == 7 and len(b) == 3
    assert sorted(a.indices + b.indices) == list(range(10))
    a2, _ = random_split(ds, [7, 3], generator=ember.Generator().manual_seed(3))
    assert a.indices == a2.indices
    parts = random_split(Squares(11), [0.5, 0.3, 0.2], generator=g)
    assert [len(p) for p in parts] == [6, 3, 2]  # floor, then the remainder round-robin
    with pytest.raises(ValueError, match="sum of input lengths"):
        random_split(ds, [3, 3])
    with pytest.raises(ValueError):
        random_split(ds, [0.5, 0.2])


def test_subset_of_tensor_dataset_keeps_fast_batches():
    ds = TensorDataset(ember.arange(10) * 10)
    sub = Subset(ds, [9, 1, 4])
    (xb,) = next(iter(DataLoader(sub, batch_size=3)))
    assert xb.tolist() == [90, 10, 40]


# ---------------------------------------------------------------------------- collate


def test_default_collate_types():
    b = default_collate([np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32)])
    assert isinstance(b, ember.Tensor) and tuple(b.shape) == (2, 2, 3) and b.dtype == ember.float32
    b = default_collate([ember.tensor([1, 2]), ember.tensor([3, 4])])
    assert b.tolist() == [[1, 2], [3, 4]] and b.dtype == ember.int64
    assert default_collate([1, 2, 3]).dtype == ember.int64
    assert default_collate([1.5, 2.0]).dtype == ember.float64  # PyTorch's rule for Python floats
    assert default_collate([True, False]).dtype == ember.bool
    assert default_collate([np.float32(1), np.float32(2)]).dtype == ember.float32
    assert default_collate(["a", "b"]) == ["a", "b"]
    assert default_collate([ember.tensor(1.0), ember.tensor(2.0)]).shape == (2,)
    # int16 has no ember dtype: widened to int64
    assert default_collate([np.array([1], np.int16), np.array([2], np.int16)]).dtype == ember.int64


def test_default_collate_containers():
    samples = [{"x": np.full(2, i, np.float32), "y": i, "meta": ("a", i)} for i in range(3)]
    b = default_collate(samples)
    assert set(b) == {"x", "y", "meta"}
    assert tuple(b["x"].shape) == (3, 2) and b["y"].tolist() == [0, 1, 2]
    assert b["meta"][0] == ["a", "a", "a"] and b["meta"][1].tolist() == [0, 1, 2]
    P = namedtuple("P", "a b")
    out = default_collate([P(1, 2.0), P(3, 4.0)])
    assert isinstance(out, P) and out.a.tolist() == [1, 3]
    out = default_collate([[1, 2], [3, 4]])
    assert isinstance(out, list) and out[0].tolist() == [1, 3]
    assert isinstance(default_collate([(1, 2), (3, 4)]), tuple)


def test_default_collate_errors():
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([ember.zeros(2), ember.zeros(3)])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([(1, 2), (3,)])
    with pytest.raises(RuntimeError, match="keys"):
        default_collate([{"a": 1}, {"b": 2}])
    with pytest.raises(TypeError, match="found object"):
        default_collate([object(), object()])


# ---------------------------------------------------------------------------- DataLoader


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "4"])
def test_bad_batch_size(bad):
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(Squares(4), batch_size=bad)


def test_option_conflicts():
    ds = Squares(4)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, sampler=SequentialSampler(ds), shuffle=True)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, batch_sampler=[[0, 1]], batch_size=2)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(TypeError, match="Generator"):
        DataLoader(ds, shuffle=True, generator=42)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=-1)


def test_sequential_batches_len_and_drop_last():
    ds = Squares(10)
    dl = DataLoader(ds, batch_size=4)
    batches = list(dl)
    assert len(dl) == 3 and [len(b[0]) for b in batches] == [4, 4, 2]
    assert flat(batches) == list(range(10))
    x, y = batches[0]
    assert (
        x.dtype == ember.int64 and y.dtype == ember.float64 and y.tolist() == [0.0, 1.0, 4.0, 9.0]
    )
    dl = DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dl) == 2 and [len(b[0]) for b in dl] == [4, 4]
    # batch_size=None: single samples, converted but not collated
    assert list(DataLoader(Squares(2), batch_size=None)) == [(0, 0.0), (1, 1.0)]


def test_shuffle_is_deterministic_under_a_seed():
    ds = TensorDataset(ember.arange(100))

    def order(**kw):
        return flat(DataLoader(ds, batch_size=7, shuffle=True, **kw))

    a = order(generator=ember.Generator().manual_seed(0))
    b = order(generator=ember.Generator().manual_seed(0))
    c = order(generator=ember.Generator().manual_seed(1))
    assert a == b and a != c
    assert sorted(a) == list(range(100)) and a != list(range(100))
    # without a generator: the default generator decides, so manual_seed makes it repeatable
    ember.manual_seed(123)
    d1 = order()
    ember.manual_seed(123)
    d2 = order()
    assert d1 == d2
    # a new order every epoch, the sequence of orders repeatable
    g = ember.Generator().manual_seed(5)
    dl = DataLoader(ds, batch_size=10, shuffle=True, generator=g)
    e1, e2 = flat(dl), flat(dl)
    assert e1 != e2 and sorted(e1) == sorted(e2)
    g.manual_seed(5)
    assert flat(dl) == e1


def test_fast_batch_path_matches_item_path():
    x = ember.randn(23, 3)
    y = ember.arange(23)
    ds = TensorDataset(x, y)
    fast = list(
        DataLoader(ds, batch_size=5, shuffle=True, generator=ember.Generator().manual_seed(9))
    )
    slow = list(
        DataLoader(
            ds,
            batch_size=5,
            shuffle=True,
            generator=ember.Generator().manual_seed(9),
            collate_fn=lambda b: default_collate(b),
        )
    )
    assert len(fast) == len(slow) == 5
    for (xf, yf), (xs, ys) in zip(fast, slow):
        assert np.array_equal(xf.numpy(), xs.numpy()) and yf.tolist() == ys.tolist()


def test_samplers():
    ds = Squares(10)
    dl = DataLoader(ds, batch_sampler=BatchSampler(SequentialSampler(ds), 3, drop_last=False))
    assert [b[0].tolist() for b in dl] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    dl = DataLoader(ds, batch_size=4, sampler=[9, 8, 7, 1, 0])
    assert flat(dl) == [9, 8, 7, 1, 0]
    g = ember.Generator().manual_seed(0)
    draws = list(RandomSampler(ds, replacement=True, num_samples=50, generator=g))
    assert len(draws) == 50 and all(0 <= i < 10 for i in draws) and len(set(draws)) < 50
    assert len(list(RandomSampler(ds, num_samples=25, generator=g))) == 25
    assert sorted(SubsetRandomSampler([3, 5, 7], generator=g)) == [3, 5, 7]
    w = WeightedRandomSampler([0.0, 0.0, 1.0, 0.0], num_samples=20, generator=g)
    assert list(w) == [2] * 20
    w = WeightedRandomSampler([1.0, 0.0, 5.0, 2.0], num_samples=3, replacement=False, generator=g)
    assert sorted(w) == [0, 2, 3]
    with pytest.raises(ValueError):
        RandomSampler(ds, num_samples=0)
    with pytest.raises(ValueError):
        BatchSampler(SequentialSampler(ds), 0, False)


class Count(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


def test_iterable_dataset():
    dl = DataLoader(Count(7), batch_size=3)
    assert [b.tolist() for b in dl] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(dl) == 3
    assert [b.tolist() for b in DataLoader(Count(7), batch_size=3, drop_last=True)] == [
        [0, 1, 2],
        [3, 4, 5],
    ]
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(Count(3), shuffle=True)


class Slow(Dataset):
    def __init__(self, n, fail_at=None):
        self.n, self.fail_at = n, fail_at

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.fail_at:
            raise KeyError(f"bad item {i}")
        return np.full(3, i, np.float32)


def test_background_prefetch():
    ds = Slow(50)
    ref = [
        b.numpy().copy()
        for b in DataLoader(
            ds, batch_size=8, shuffle=True, generator=ember.Generator().manual_seed(2)
        )
    ]
    got = [
        b.numpy().copy()
        for b in DataLoader(
            ds,
            batch_size=8,
            shuffle=True,
            num_workers=2,
            generator=ember.Generator().manual_seed(2),
        )
    ]
    assert len(ref) == len(got) == 7
    assert all(np.array_equal(a, b) for a, b in zip(ref, got))
    # errors in the loading thread reach the consumer
    with pytest.raises(KeyError, match="bad item 17"):
        list(DataLoader(Slow(50, fail_at=17), batch_size=8, num_workers=1))
    # leaving early stops the thread instead of hanging
    before = threading.active_count()
    it = iter(DataLoader(Slow(1000), batch_size=2, num_workers=1, prefetch_factor=2))
    next(it)
    it.close()
    deadline = time.time() + 5
    while threading.active_count() > before and time.time() < deadline:
        time.sleep(0.01)
    assert threading.active_count() <= before


# ---------------------------------------------------------------------------- real datasets


@needs_mnist
def test_mnist_from_shared_data():
    test = D.MNIST(train=False)
    assert len(test) == 10000
    assert tuple(test.data.shape) == (10000, 28, 28) and test.data.dtype == ember.uint8
    assert test.targets.dtype == ember.int64
    counts = np.bincount(test.targets.numpy(), minlength=10).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]  # from the data README
    img, label = test[0]
    assert tuple(img.shape) == (1, 28, 28) and img.dtype == ember.float32 and isinstance(label, int)
    a = img.numpy()
    assert a.min() == 0.0 and a.max() == 1.0
    assert np.array_equal(a[0] * 255, test.data[0].numpy().astype(np.float32))
    # normalize + flatten, and the batch path equals the item path
    n = D.MNIST(train=False, normalize=True, flatten=True)
    x, y = next(iter(DataLoader(n, batch_size=16)))
    assert tuple(x.shape) == (16, 784) and y.tolist() == test.targets[:16].tolist()
    np.testing.assert_allclose(x[3].numpy(), n[3][0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        x.numpy().mean(), (test.data[:16].numpy().mean() / 255 - 0.1307) / 0.3081, rtol=1e-4
    )
    # transforms apply per item
    t = D.MNIST(train=False, transform=lambda im: im * 2, target_transform=lambda c: c + 100)
    x, y = next(iter(DataLoader(t, batch_size=4)))
    assert y.tolist() == [c + 100 for c in test.targets[:4].tolist()]
    assert x.numpy().max() == 2.0
    images, labels = n.as_tensors()
    assert tuple(images.shape) == (10000, 784) and tuple(labels.shape) == (10000,)


@needs_mnist
def test_mnist_train_split():
    train = D.MNIST(train=True)
    assert len(train) == 60000 and train[0][1] == 5  # the first training digit is a 5
    counts = np.bincount(train.targets.numpy(), minlength=10).tolist()
    assert counts == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@needs_mnist
def test_explicit_root_wins_and_may_be_the_folder_itself(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        src = DATA / "mnist" / f
        if f.startswith("t10k-images"):
            # a tiny 3-image copy, so we can tell which file was read
            raw = gzip.decompress(src.read_bytes())
            raw = raw[:4] + (3).to_bytes(4, "big") + raw[8:16] + raw[16 : 16 + 3 * 784]
        else:
            raw = gzip.decompress(src.read_bytes())
            raw = raw[:4] + (3).to_bytes(4, "big") + raw[8:11]
        (folder / f).write_bytes(gzip.compress(raw))
    assert len(D.MNIST(root=tmp_path, train=False)) == 3
    assert len(D.MNIST(root=folder, train=False)) == 3


@needs_fashion
def test_fashion_mnist():
    ds = D.FashionMNIST(train=False, normalize=True)
    assert len(ds) == 10000 and np.bincount(ds.targets.numpy()).tolist() == [1000] * 10
    assert ds.classes[9] == "Ankle boot"
    x, _ = ds[0]
    assert tuple(x.shape) == (1, 28, 28)


@needs_shakespeare
def test_tiny_shakespeare():
    tr = D.TinyShakespeare(split="train", block_size=16)
    va = D.TinyShakespeare(split="val", block_size=16)
    assert tr.vocab_size == 65 and tr.itos == va.itos
    assert tr.text.startswith("First Citizen:")
    assert len(tr.data) + len(va.data) == 1115394
    assert len(tr.data) == int(0.9 * 1115394)
    x, y = tr[5]
    assert tuple(x.shape) == (16,) and x.dtype == ember.int64
    assert x[1:].tolist() == y[:-1].tolist()
    assert tr.decode(tr.encode("Hello, world")) == "Hello, world"
    xb, yb = next(iter(DataLoader(tr, batch_size=4)))
    assert (
        tuple(xb.shape) == (4, 16)
        and xb[2].tolist() == tr[2][0].tolist()
        and yb[3].tolist() == tr[3][1].tolist()
    )
    xb, yb = tr.get_batch(8, generator=ember.Generator().manual_seed(0))
    assert tuple(xb.shape) == (8, 16)
    with pytest.raises(KeyError, match="vocabulary"):
        tr.encode("€")


@needs_names
def test_names():
    ds = D.Names(split="all")
    assert len(ds.words) == 32033 and ds.words[:3] == ["emma", "olivia", "ava"]
    assert ds.vocab_size == 27 and ds.itos[0] == "." and ds.stoi["a"] == 1
    assert len(ds) == sum(len(w) + 1 for w in ds.words)
    x, y = ds[0]  # "..." -> "e"
    assert x.tolist() == [0, 0, 0] and y.item() == ds.stoi["e"]
    tr, va, te = (D.Names(split=s) for s in ("train", "val", "test"))
    assert len(tr.words) + len(va.words) + len(te.words) == 32033
    assert (len(tr), len(va), len(te)) == (182625, 22655, 22866)  # the makemore lectures' split
    xb, yb = next(iter(DataLoader(tr, batch_size=32)))
    assert tuple(xb.shape) == (32, 3) and tuple(yb.shape) == (32,)


# ---------------------------------------------------------------------------- missing files / download


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """No dataset anywhere: empty EMBER_DATA_DIR and HOME."""
    monkeypatch.setenv("EMBER_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_missing_files_error_says_what_to_put_where(no_data):
    with pytest.raises(FileNotFoundError) as e:
        D.MNIST(root=no_data / "root", train=True, download=False)
    msg = str(e.value)
    assert "train-images-idx3-ubyte.gz" in msg and "train-labels-idx1-ubyte.gz" in msg
    assert "t10k" not in msg  # only the files this split needs
    assert str(no_data / "root" / "mnist") in msg
    assert str(no_data / "env" / "mnist") in msg
    assert os.path.join(".cache", "ember", "mnist") in msg
    assert "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609" in msg  # its sha256
    with pytest.raises(FileNotFoundError, match="names.txt"):
        D.Names(download=False)


def test_download_failure_is_reported(no_data, monkeypatch):
    def offline(*a, **k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(D.urllib.request, "urlopen", offline)
    with pytest.raises(FileNotFoundError, match="download failed.*network is unreachable") as e:
        D.TinyShakespeare()
    assert "input.txt" in str(e.value)
    assert not list((no_data / "env").rglob("*.part"))  # no partial files left behind


def test_download_verifies_checksum(no_data, monkeypatch):
    good = b"anna\nbob\n"
    files = dict(D._NAMES.files)
    served = {"body": good}

    class Resp(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    monkeypatch.setattr(D.urllib.request, "urlopen", lambda url, timeout=None: Resp(served["body"]))
    monkeypatch.setitem(D._NAMES.files, "names.txt", hashlib.sha256(good).hexdigest())
    ds = D.Names(split="all")  # downloaded into $EMBER_DATA_DIR/makemore
    assert ds.words == ["anna", "bob"]
    assert (no_data / "env" / "makemore" / "names.txt").read_bytes() == good
    # a corrupted download is rejected and not kept
    monkeypatch.setitem(D._NAMES.files, "names.txt", files["names.txt"])
    (no_data / "env" / "makemore" / "names.txt").unlink()
    served["body"] = b"tampered\n"
    with pytest.raises(FileNotFoundError, match="checksum mismatch"):
        D.Names(split="all")
    assert not (no_data / "env" / "makemore" / "names.txt").exists()
    assert not list((no_data / "env").rglob("*.part"))


def test_corrupt_idx_file_is_a_clear_error(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(b"\x00\x00\x08\x03" + (5).to_bytes(4, "big") + b"\x00" * 20)
    )
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(ValueError, match="truncated|corrupt"):
        D.MNIST(root=tmp_path, train=False, download=False)
