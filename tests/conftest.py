"""Shared pytest configuration and helpers for the ember test suite.

Helpers are plain module-level names, so test files can do
``from conftest import to_np, torch, DTYPES`` (pytest puts ``tests/`` on sys.path).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("EMBER_DATA_DIR", str(REPO_ROOT.parent / "shared" / "data"))

import ember  # noqa: E402  (EMBER_DATA_DIR must be set before the import)

try:  # PyTorch is an optional reference implementation.
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

requires_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")

# CI runs the property-based tests with a fixed seed so a run is reproducible; locally they
# explore new examples each time.
try:
    from hypothesis import settings as _hyp_settings

    _hyp_settings.register_profile("ci", derandomize=True, print_blob=True)
    if os.environ.get("CI"):
        _hyp_settings.load_profile("ci")
except ImportError:  # pragma: no cover
    pass


# --------------------------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DType:
    """One ember dtype with its NumPy / PyTorch equivalents (None where there is none)."""

    name: str
    ember: Any
    numpy: np.dtype | None
    torch: Any
    itemsize: int
    is_float: bool

    def __repr__(self) -> str:  # shows up in parametrize ids
        return self.name


def _torch_dtype(name: str):
    return None if torch is None else getattr(torch, name)


def _make(name: str, np_dtype, itemsize: int, is_float: bool) -> DType:
    return DType(
        name=name,
        ember=getattr(ember, name),
        numpy=None if np_dtype is None else np.dtype(np_dtype),
        torch=_torch_dtype(name),
        itemsize=itemsize,
        is_float=is_float,
    )


#: every dtype ember claims, in a fixed order
DTYPES: list[DType] = [
    _make("float32", np.float32, 4, True),
    _make("float64", np.float64, 8, True),
    _make("float16", np.float16, 2, True),
    _make("bfloat16", None, 2, True),  # NumPy has no bfloat16
    _make("int32", np.int32, 4, False),
    _make("int64", np.int64, 8, False),
    _make("uint8", np.uint8, 1, False),
    _make("bool", np.bool_, 1, False),
]
DTYPE_BY_NAME: dict[str, DType] = {d.name: d for d in DTYPES}
FLOAT_DTYPES = [d for d in DTYPES if d.is_float]
INT_DTYPES = [d for d in DTYPES if not d.is_float and d.name != "bool"]
#: dtypes that have a NumPy equivalent (everything but bfloat16)
NUMPY_DTYPES = [d for d in DTYPES if d.numpy is not None]

#: default (rtol, atol) per dtype name, like torch.testing
TOLERANCES = {
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
    "int32": (0, 0),
    "int64": (0, 0),
    "uint8": (0, 0),
    "bool": (0, 0),
}


def dtype_info(dtype) -> DType:
    """The DType record for an ember dtype object."""
    for d in DTYPES:
        if d.ember == dtype:
            return d
    raise KeyError(f"unknown ember dtype {dtype!r}")


# --------------------------------------------------------------------------------------------
# conversions and comparisons
# --------------------------------------------------------------------------------------------


def _is_ember_tensor(x) -> bool:
    return isinstance(x, ember.Tensor) if hasattr(ember, "Tensor") else hasattr(x, "detach")


def to_np(t) -> np.ndarray:
    """ember tensor (or number / ndarray / torch tensor) -> NumPy array.

    float16 and bfloat16 tensors are upcast to float32 first (bfloat16 has no NumPy dtype, and
    comparing half precision in float32 is what the tests want anyway).
    """
    if isinstance(t, np.ndarray):
        return t
    if torch is not None and isinstance(t, torch.Tensor):
        t = t.detach()
        if t.dtype in (torch.float16, torch.bfloat16):
            t = t.float()
        return t.numpy()
    if _is_ember_tensor(t):
        t = t.detach()
        if t.dtype in (ember.float16, ember.bfloat16):
            t = t.float()
        return t.numpy()
    return np.asarray(t)


def to_ember(a, dtype=None):
    """NumPy array / nested list -> ember tensor (a copy), optionally cast to an ember dtype."""
    t = ember.tensor(np.ascontiguousarray(a) if isinstance(a, np.ndarray) else a)
    return t if dtype is None else t.to(dtype)


def assert_close(actual, expected, rtol=None, atol=None, dtype=None, check_shape=True):
    """Compare an ember tensor (or anything to_np accepts) to a reference, NumPy style.

    Tolerances default to those of ``dtype`` (or of ``actual``'s dtype when it is a tensor).
    """
    if dtype is None and _is_ember_tensor(actual):
        dtype = actual.dtype
    name = dtype_info(dtype).name if dtype is not None else "float64"
    d_rtol, d_atol = TOLERANCES[name]
    rtol = d_rtol if rtol is None else rtol
    atol = d_atol if atol is None else atol
    a, e = to_np(actual), to_np(expected)
    if check_shape:
        assert a.shape == e.shape, f"shape {a.shape} != expected {e.shape}"
    if a.dtype == np.bool_ or e.dtype == np.bool_:
        np.testing.assert_array_equal(a, e)
    else:
        np.testing.assert_allclose(a.astype(np.float64), e.astype(np.float64), rtol=rtol, atol=atol)


def assert_equal(actual, expected):
    """Exact comparison (shape and values) after to_np."""
    a, e = to_np(actual), to_np(expected)
    assert a.shape == e.shape, f"shape {a.shape} != expected {e.shape}"
    np.testing.assert_array_equal(a, e)


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------


def _metal_available() -> bool:
    if os.environ.get("EMBER_TEST_NO_METAL"):  # macOS CI: a GPU without SIMD-group functions
        return False
    try:
        ember.zeros(1, device="metal")
    except Exception:
        return False
    return True


DEVICES = ["cpu"] + (["metal"] if _metal_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    """Every device this build can run on: "cpu", plus "metal" when present."""
    return request.param


@pytest.fixture
def torch_ref():
    """The torch module, or skip the test when PyTorch is not installed."""
    if torch is None:
        pytest.skip("PyTorch not installed")
    return torch


@pytest.fixture(autouse=True)
def _restore_default_dtype():
    """A test that changes the default dtype must not leak it into the next test."""
    saved = ember.get_default_dtype()
    yield
    ember.set_default_dtype(saved)


# --------------------------------------------------------------------------------------------
# Metal: race exposure and kernel coverage (tests/test_metal_*.py; on Linux, the emulator build)
# --------------------------------------------------------------------------------------------

METAL = "metal" in DEVICES
requires_metal = pytest.mark.skipif(
    not METAL, reason="no Metal backend (Linux: EMBER_METAL_EMULATOR=1 bash scripts/dev_build.sh)"
)

# (fiber schedule, seed, threadgroup-memory poison byte): forward, reverse and two random orders,
# NaN and huge poison. A race-free kernel gives bit-identical output under every one.
# run-ahead (3): each SIMD-group runs to its next barrier before the next starts (write-after-read).
METAL_VARIANTS = [(0, 1, 0xFF), (1, 1, 0x7F), (2, 7, 0xFF), (2, 11, 0x7F), (3, 3, 0xFF)]


def _bits(x):
    a = np.ascontiguousarray(to_np(x))
    return a.shape, a.dtype, a.tobytes()


def metal_variants(fn):
    """Run ``fn()`` (returning a tensor or a tuple of tensors) under every emulator variant and
    require bit-identical results; returns the first run's result. On a GPU it runs once."""
    if not ember.metal.is_emulated():
        return fn()
    results = []
    try:
        for schedule, seed, poison in METAL_VARIANTS:
            ember.metal._set_emulator_options(schedule, seed, poison)
            r = fn()
            rs = r if isinstance(r, tuple) else (r,)
            results.append((r, [_bits(t) for t in rs]))
    finally:
        ember.metal._set_emulator_options(0, 1, 0xFF)
    first = results[0][1]
    for (schedule, seed, poison), (_, bits) in zip(METAL_VARIANTS[1:], results[1:]):
        assert bits == first, (
            f"output differs under schedule={schedule} seed={seed} poison={poison:#x}: a race"
        )
    return results[0][0]


_metal_items: set[str] = set()
_metal_done: set[str] = set()


def pytest_collection_modifyitems(session, config, items):
    _metal_items.update(
        i.nodeid for i in items if Path(str(i.fspath)).name.startswith("test_metal_")
    )


def pytest_runtest_logreport(report):
    if report.nodeid in _metal_items and report.when == "call":
        _metal_done.add(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """Coverage: every registered Metal kernel (host name) ran at least once. Only enforced when
    every test_metal_*.py test was collected (no -k / -m / node selection) and ran."""
    if not METAL or exitstatus != 0:
        return
    opt = session.config.option
    files = {p.name for p in Path(__file__).parent.glob("test_metal_*.py")}
    collected = {n.split("::")[0].rsplit("/", 1)[-1] for n in _metal_items}
    selected = any("::" in str(a) for a in session.config.args) or opt.keyword or opt.markexpr
    if selected or collected != files or _metal_done != _metal_items:
        return
    missing = sorted(set(ember.metal._registered_kernels()) - ember.metal._executed_kernels())
    if missing:
        session.exitstatus = 1
        print(f"\nMetal kernel coverage: {len(missing)} registered kernel(s) never ran: {missing}")
