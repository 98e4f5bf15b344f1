"""Real datasets: MNIST, FashionMNIST, TinyShakespeare and makemore's Names.

Files are looked up, in this order, in

1. ``root`` (when given): ``root/<folder>/`` or ``root/`` itself,
2. ``$EMBER_DATA_DIR/<folder>/`` (or ``$EMBER_DATA_DIR/`` itself),
3. ``~/.cache/ember/<folder>/``,

where ``<folder>`` is ``mnist``, ``fashion-mnist``, ``tinyshakespeare`` or ``makemore`` (the
layout of the project's ``shared/data``). When they are missing and ``download=True``, they are
downloaded (``urllib``) into the first writable of those places and checked against their
SHA-256; offline, a ``FileNotFoundError`` says which files to put where.

Items are ember tensors. Images come as float32 in [0, 1] with shape ``(1, 28, 28)``
(``flatten=True``: ``(784,)``; ``normalize=True``: standardized with the training set's mean and
std), then ``transform`` is applied; labels are ints (``target_transform`` applied). ``.data``
(uint8 ``(N, 28, 28)``) and ``.targets`` (int64 ``(N,)``) give the raw whole-set tensors.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import random
import struct
import tempfile
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .. import _C
from .._C import Tensor
from .dataloader import default_collate
from .dataset import Dataset, _as_index_tensor

__all__ = ["MNIST", "FashionMNIST", "Names", "TinyShakespeare", "data_search_path"]

_DOWNLOAD_TIMEOUT_S = 20


# ---------------------------------------------------------------------------- file lookup


def _cache_dir() -> Path:
    return Path(os.path.expanduser("~")) / ".cache" / "ember"


def data_search_path(root: str | os.PathLike | None = None) -> list[Path]:
    """The base folders searched for dataset files, in order: ``root``, ``$EMBER_DATA_DIR``,
    ``~/.cache/ember``."""
    bases = []
    if root is not None:
        bases.append(Path(os.path.expanduser(os.fspath(root))))
    env = os.environ.get("EMBER_DATA_DIR")
    if env:
        bases.append(Path(os.path.expanduser(env)))
    bases.append(_cache_dir())
    return bases


def _existing(path: Path) -> Path | None:
    """``path`` or its uncompressed twin (``x.gz`` -> ``x``) if either is a file."""
    if path.is_file():
        return path
    if path.suffix == ".gz" and path.with_suffix("").is_file():
        return path.with_suffix("")
    return None


class _Resource:
    """A dataset's files: folder name, {file: sha256}, mirrors, where torchvision keeps them."""

    def __init__(
        self, name: str, folder: str, files: dict[str, str], mirrors: Sequence[str], extra_dirs=()
    ):
        self.name = name
        self.folder = folder
        self.files = files
        self.mirrors = list(mirrors)
        self.extra_dirs = list(extra_dirs)  # e.g. torchvision's "MNIST/raw"

    def candidates(self, root) -> list[Path]:
        out = []
        for i, base in enumerate(data_search_path(root)):
            out.append(base / self.folder)
            out.extend(base / d for d in self.extra_dirs)
            if (
                i < len(data_search_path(root)) - 1
            ):  # root and EMBER_DATA_DIR may point at the folder itself
                out.append(base)
        return out

    def locate(self, names: Sequence[str], root, download: bool) -> dict[str, Path]:
        """Paths of the files ``names``: found in the search path, else downloaded, else an error."""
        for d in self.candidates(root):
            found = {n: _existing(d / n) for n in names}
            if all(found.values()):
                return found  # type: ignore[return-value]
        reason = "download=False"
        if download:
            try:
                return self._download(names, root)
            except OSError as e:
                reason = f"download failed: {e}"
        raise FileNotFoundError(self._missing_message(names, root, reason))

    def _missing_message(self, names, root, reason) -> str:
        bases = data_search_path(root)
        where = [f"    {b / self.folder}/" for b in bases]
        if not os.environ.get("EMBER_DATA_DIR"):
            where.insert(
                1 if root is not None else 0,
                f"    $EMBER_DATA_DIR/{self.folder}/   (EMBER_DATA_DIR is not set)",
            )
        files = "\n".join(f"    {n}   (sha256 {self.files[n]})" for n in names)
        urls = ", ".join(self.mirrors)
        return (
            f"{self.name}: dataset files not found ({reason}).\n"
            f"Put these files:\n{files}\n"
            f"into one of these folders (searched in this order):\n" + "\n".join(where) + "\n"
            f"or pass root=... / set EMBER_DATA_DIR to a folder that holds '{self.folder}/'. "
            f"They can be downloaded from: {urls}"
        )

    def _download_dir(self, root) -> Path:
        last_error = None
        for base in data_search_path(root):
            d = base / self.folder
            try:
                d.mkdir(parents=True, exist_ok=True)
                if os.access(d, os.W_OK):
                    return d
            except OSError as e:
                last_error = e
        raise OSError(f"no writable folder to download into ({last_error})")

    def _download(self, names, root) -> dict[str, Path]:
        d = self._download_dir(root)
        out = {}
        for n in names:
            dest = d / n
            if _existing(dest):
                out[n] = _existing(dest)
                continue
            errors = []
            for mirror in self.mirrors:
                url = mirror + n if mirror.endswith("/") else mirror
                try:
                    _fetch(url, dest, self.files[n])
                    break
                except OSError as e:
                    errors.append(f"{url}: {e}")
            else:
                raise OSError("; ".join(errors))
            out[n] = dest
        return out


def _fetch(url: str, dest: Path, sha256: str) -> None:
    """Download ``url`` to ``dest`` (atomically) and check its SHA-256."""
    h = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with (
            os.fdopen(fd, "wb") as f,
            urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as r,
        ):  # noqa: S310
            while chunk := r.read(1 << 20):
                h.update(chunk)
                f.write(chunk)
        if h.hexdigest() != sha256:
            raise OSError(f"checksum mismatch: got sha256 {h.hexdigest()}, expected {sha256}")
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ---------------------------------------------------------------------------- parsing (cached)

_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 8


def _cached(path: Path, parse: Callable[[Path], object]):
    """Parse ``path`` once per process (keyed by path, size and mtime): loading the train and test
    sets, or a dataset twice, does not decompress the same file again."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, parse.__name__)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    value = parse(path)
    _CACHE[key] = value
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return value


def _read_maybe_gzip(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise ValueError(
                f"{path}: corrupt gzip file ({e}); delete it and fetch it again"
            ) from None
    return raw


def _parse_idx(path: Path) -> np.ndarray:
    """An IDX file (big-endian header: magic 2051 images / 2049 labels) as a uint8 array."""
    buf = _read_maybe_gzip(path)
    if len(buf) < 8:
        raise ValueError(f"{path}: not an IDX file (only {len(buf)} bytes)")
    magic, count = struct.unpack(">II", buf[:8])
    if magic == 2049:
        shape, offset = (count,), 8
    elif magic == 2051:
        if len(buf) < 16:
            raise ValueError(f"{path}: truncated IDX image header")
        rows, cols = struct.unpack(">II", buf[8:16])
        shape, offset = (count, rows, cols), 16
    else:
        raise ValueError(f"{path}: not an IDX file (magic {magic}, expected 2049 or 2051)")
    need = offset + int(np.prod(shape))
    if len(buf) != need:
        raise ValueError(
            f"{path}: IDX payload has {len(buf)} bytes, the header {shape} needs {need}: file truncated or corrupt"
        )
    arr = np.frombuffer(buf, dtype=np.uint8, offset=offset).reshape(shape)
    arr.flags.writeable = False
    return arr


def _read_text(path: Path) -> str:
    return _read_maybe_gzip(path).decode("utf-8")


def _from_numpy(a: np.ndarray) -> Tensor:
    from .._creation import from_numpy

    return from_numpy(np.ascontiguousarray(a))


# ---------------------------------------------------------------------------- MNIST family

_MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
_MNIST = _Resource(
    "MNIST",
    "mnist",
    {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    _MNIST_MIRRORS,
    extra_dirs=["MNIST/raw"],
)
_FASHION = _Resource(
    "FashionMNIST",
    "fashion-mnist",
    {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    extra_dirs=["FashionMNIST/raw"],
)


class MNIST(Dataset):
    """The MNIST handwritten digits: 60,000 training and 10,000 test 28x28 greyscale images.

    Args:
        root: folder holding ``mnist/`` (or the files themselves); see the module docstring for
            the search order.
        train: the training split (else the test split).
        transform: applied to each image tensor (after ``normalize`` / ``flatten``).
        target_transform: applied to each label (an ``int``).
        download: download missing files (checked by SHA-256) when the network allows.
        normalize: ``True`` standardizes with the training set's mean/std (``MNIST.mean``,
            ``MNIST.std``); a ``(mean, std)`` pair uses those values; ``False`` keeps [0, 1].
        flatten: items of shape ``(784,)`` instead of ``(1, 28, 28)`` (for MLPs).
        dtype: floating dtype of the images (default float32).

    Shape:
        item: ``(image, label)`` with image ``(1, 28, 28)`` (or ``(784,)``) and label an int;
        a DataLoader batch: ``(B, 1, 28, 28)`` float and ``(B,)`` int64.
        ``.data``: uint8 ``(N, 28, 28)``; ``.targets``: int64 ``(N,)``.
    """

    _resource = _MNIST
    mean = 0.1307
    std = 0.3081
    classes = [
        "0 - zero",
        "1 - one",
        "2 - two",
        "3 - three",
        "4 - four",
        "5 - five",
        "6 - six",
        "7 - seven",
        "8 - eight",
        "9 - nine",
    ]

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        train: bool = True,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        download: bool = True,
        *,
        normalize: bool | tuple[float, float] = False,
        flatten: bool = False,
        dtype=None,
    ) -> None:
        self.root = root
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        self.flatten = flatten
        self.dtype = _C.float32 if dtype is None else dtype
        if normalize is True:
            self._norm = (self.mean, self.std)
        elif normalize is False or normalize is None:
            self._norm = None
        else:
            m, s = normalize
            if float(s) == 0:
                raise ValueError(
                    f"{type(self).__name__}: normalize std must be non-zero, got {normalize}"
                )
            self._norm = (float(m), float(s))
        prefix = "train" if train else "t10k"
        names = [f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"]
        paths = self._resource.locate(names, root, download)
        images = _cached(paths[names[0]], _parse_idx)
        labels = _cached(paths[names[1]], _parse_idx)
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"{type(self).__name__}: image file {paths[names[0]]} has shape {images.shape} but label file "
                f"{paths[names[1]]} has {labels.shape}: they must be an IDX image set and its labels"
            )
        self.files = paths
        self.data = _from_numpy(images)  # (N, 28, 28) uint8, read-only memory shared with the cache
        self._labels = labels.astype(np.int64)
        self.targets = _from_numpy(self._labels)  # (N,) int64

    def _convert(self, img: Tensor) -> Tensor:
        """uint8 (..., 28, 28) -> float in [0, 1] (optionally standardized / flattened)."""
        x = img._to_dtype(self.dtype) / 255.0  # as torchvision's ToTensor
        if self._norm is not None:
            x = (x - self._norm[0]) / self._norm[1]
        lead = tuple(img.shape[:-2])
        return x.reshape(*lead, -1) if self.flatten else x.reshape(*lead, 1, *img.shape[-2:])

    def __getitem__(self, index: int):
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"{type(self).__name__}: index {index} out of range for {n} items")
        img = self._convert(self.data[index])
        target = int(self._labels[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __getbatch__(self, indices):
        if self.transform is not None or self.target_transform is not None:
            return default_collate([self[i] for i in indices])
        idx = _as_index_tensor(indices)
        return self._convert(self.data.index_select(0, idx)), self.targets.index_select(0, idx)

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def as_tensors(self) -> tuple[Tensor, Tensor]:
        """The whole split as ``(images, targets)``: images converted like the items
        (``(N, 1, 28, 28)`` or ``(N, 784)`` float; ``transform`` is not applied), targets ``(N,)`` int64."""
        return self._convert(self.data), self.targets

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    def __repr__(self) -> str:
        split = "Train" if self.train else "Test"
        return (
            f"{type(self).__name__}(split={split}, n={len(self)}, normalize={self._norm is not None}, "
            f"flatten={self.flatten}, files={Path(next(iter(self.files.values()))).parent})"
        )


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 60,000 + 10,000 28x28 greyscale article images, 10 classes.

    Same interface as :class:`MNIST`; files are looked up in a ``fashion-mnist/`` folder.
    """

    _resource = _FASHION
    mean = 0.2860
    std = 0.3530
    classes = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]


# ---------------------------------------------------------------------------- text datasets

_SHAKESPEARE = _Resource(
    "TinyShakespeare",
    "tinyshakespeare",
    {"input.txt": "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"},
    ["https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"],
)
_NAMES = _Resource(
    "Names",
    "makemore",
    {"names.txt": "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"},
    ["https://raw.githubusercontent.com/karpathy/makemore/master/names.txt"],
)


class _CharVocab:
    """Character vocabulary helpers shared by the text datasets."""

    itos: list[str]
    stoi: dict[str, int]

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, s: str) -> list[int]:
        """String -> token ids (raises KeyError naming an unknown character)."""
        try:
            return [self.stoi[c] for c in s]
        except KeyError as e:
            raise KeyError(
                f"{type(self).__name__}.encode: character {e.args[0]!r} is not in the vocabulary"
            ) from None

    def decode(self, ids) -> str:
        """Token ids (list or tensor) -> string."""
        if isinstance(ids, Tensor):
            ids = ids.reshape(-1).tolist()
        return "".join(self.itos[int(i)] for i in ids)


class TinyShakespeare(_CharVocab, Dataset):
    """Karpathy's tiny-shakespeare (1.1 MB of text) for character-level language models.

    The vocabulary is the sorted set of characters of the whole text (65); the first
    ``train_fraction`` of the text is the ``"train"`` split, the rest ``"val"``.

    Args:
        root: folder holding ``tinyshakespeare/input.txt`` (search order in the module docstring).
        split: ``"train"``, ``"val"`` (alias ``"test"``) or ``"all"``.
        block_size: context length of an item.
        train_fraction: fraction of the text in the train split.
        download: download the file when missing and the network allows.

    Shape:
        item ``i``: ``(x, y)``, both int64 ``(block_size,)``, with ``y`` = ``x`` shifted by one
        (``x = data[i : i + block_size]``). ``.data``: the split's token ids, int64 ``(T,)``.
    """

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        split: str = "train",
        block_size: int = 128,
        train_fraction: float = 0.9,
        download: bool = True,
    ) -> None:
        if split not in ("train", "val", "test", "all"):
            raise ValueError(
                f"TinyShakespeare: split must be 'train', 'val' or 'all', got {split!r}"
            )
        if not isinstance(block_size, int) or block_size <= 0:
            raise ValueError(
                f"TinyShakespeare: block_size must be a positive int, got {block_size!r}"
            )
        if not 0.0 < train_fraction <= 1.0:
            raise ValueError(
                f"TinyShakespeare: train_fraction must be in (0, 1], got {train_fraction}"
            )
        path = _SHAKESPEARE.locate(["input.txt"], root, download)["input.txt"]
        self.file = path
        text = _cached(path, _read_text)
        self.itos = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.itos)}
        table = np.zeros(max(map(ord, self.itos)) + 1, dtype=np.int64)
        table[[ord(c) for c in self.itos]] = np.arange(len(self.itos))
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        all_tokens = table[codes]
        n = int(len(all_tokens) * train_fraction)
        tokens = {
            "train": all_tokens[:n],
            "val": all_tokens[n:],
            "test": all_tokens[n:],
            "all": all_tokens,
        }[split]
        if len(tokens) <= block_size:
            raise ValueError(
                f"TinyShakespeare: split {split!r} has {len(tokens)} tokens, not more than block_size={block_size}"
            )
        self.split = split
        self.block_size = block_size
        self.text = text if split == "all" else (text[:n] if split == "train" else text[n:])
        self._tokens = np.ascontiguousarray(tokens)
        self.data = _from_numpy(self._tokens)  # (T,) int64

    def __len__(self) -> int:
        return len(self._tokens) - self.block_size

    def __getitem__(self, index: int):
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"TinyShakespeare: index {index} out of range for {n} items")
        index %= n
        chunk = self.data[index : index + self.block_size + 1]
        return chunk[:-1], chunk[1:]

    def __getbatch__(self, indices):
        starts = np.asarray(indices, dtype=np.int64).reshape(-1, 1)
        win = self._tokens[starts + np.arange(self.block_size + 1)]  # (B, block_size + 1)
        return _from_numpy(win[:, :-1]), _from_numpy(win[:, 1:])

    def get_batch(self, batch_size: int, generator=None) -> tuple[Tensor, Tensor]:
        """``batch_size`` windows at random offsets (nanoGPT's sampling): ``(B, T)`` and ``(B, T)``."""
        from .._creation import randint

        starts = randint(0, len(self), (batch_size,), generator=generator).tolist()
        return self.__getbatch__(starts)

    def __repr__(self) -> str:
        return f"TinyShakespeare(split={self.split!r}, tokens={len(self._tokens)}, vocab_size={self.vocab_size}, block_size={self.block_size})"


class Names(_CharVocab, Dataset):
    """makemore's 32,033 names for character-level models (Karpathy's "Zero to Hero" setup).

    Vocabulary: ``'.'`` (id 0, start/end of a name) then ``a``..``z`` (ids 1..26). The names are
    shuffled with ``random.Random(seed)`` and split 80/10/10 into train/val/test. Each name gives
    ``len(name) + 1`` examples: the previous ``block_size`` characters (padded with ``'.'``)
    predict the next one (``'.'`` at the end).

    Args:
        root: folder holding ``makemore/names.txt`` (search order in the module docstring).
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"`` (unshuffled).
        block_size: context length.
        seed: shuffle seed for the split (42 reproduces the lectures' split).
        download: download the file when missing and the network allows.

    Shape:
        item: ``(context, next_char)``: int64 ``(block_size,)`` and an int64 scalar tensor.
        ``.data``: ``(N, block_size)`` int64; ``.targets``: ``(N,)`` int64; ``.words``: the names.
    """

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        split: str = "train",
        block_size: int = 3,
        seed: int = 42,
        download: bool = True,
    ) -> None:
        if split not in ("train", "val", "test", "all"):
            raise ValueError(f"Names: split must be 'train', 'val', 'test' or 'all', got {split!r}")
        if not isinstance(block_size, int) or block_size <= 0:
            raise ValueError(f"Names: block_size must be a positive int, got {block_size!r}")
        path = _NAMES.locate(["names.txt"], root, download)["names.txt"]
        self.file = path
        words = [w.strip() for w in _cached(path, _read_text).splitlines() if w.strip()]
        chars = sorted(set("".join(words)))
        if "." in chars or any(ord(c) > 127 for c in chars):
            raise ValueError(
                f"Names: {path} must hold ASCII names without '.', found {[c for c in chars if c == '.' or ord(c) > 127]}"
            )
        self.itos = ["."] + chars
        self.stoi = {c: i for i, c in enumerate(self.itos)}
        if split != "all":
            words = list(words)
            random.Random(seed).shuffle(words)
            n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))
            words = {"train": words[:n1], "val": words[n1:n2], "test": words[n2:]}[split]
        self.split = split
        self.block_size = block_size
        self.words = words
        # every name as "." * block_size + name + ".", one window per predicted character
        table = np.zeros(128, dtype=np.int64)
        table[[ord(c) for c in self.itos]] = np.arange(len(self.itos))
        seq = table[
            np.frombuffer(
                "".join("." * block_size + w + "." for w in words).encode("ascii"), np.uint8
            )
        ]
        lens = np.fromiter(
            (len(w) + 1 for w in words), dtype=np.int64, count=len(words)
        )  # windows per name
        seg_start = np.concatenate([[0], np.cumsum(lens + block_size)[:-1]]).astype(np.int64)
        first = np.repeat(seg_start - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
        starts = first + np.arange(int(lens.sum()), dtype=np.int64)
        self.data = _from_numpy(seq[starts[:, None] + np.arange(block_size)])  # (N, block_size)
        self.targets = _from_numpy(seq[starts + block_size])  # (N,)

    @property
    def max_word_length(self) -> int:
        return max(map(len, self.words), default=0)

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def __getitem__(self, index: int):
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"Names: index {index} out of range for {n} items")
        return self.data[index], self.targets[index]

    def __getbatch__(self, indices):
        idx = _as_index_tensor(indices)
        return self.data.index_select(0, idx), self.targets.index_select(0, idx)

    def __repr__(self) -> str:
        return f"Names(split={self.split!r}, words={len(self.words)}, examples={len(self)}, block_size={self.block_size})"
