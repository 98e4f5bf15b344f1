"""Reference helpers shared by the elementwise and reduction tests: random inputs in several
layouts, conversion to NumPy, and `check` (shape, dtype and values against NumPy/PyTorch)."""

import numpy as np

import ember
from ember.testing import gradcheck

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

# ----------------------------------------------------------------------------- helpers
ALL = ["float32", "float64", "float16", "bfloat16", "int32", "int64", "uint8", "bool"]
FLOATS = ALL[:4]
INTS = ["int32", "int64", "uint8"]
TOL = {
    "float32": (1e-5, 1e-5),
    "float64": (1e-9, 1e-10),
    "float16": (1e-2, 1e-2),
    "bfloat16": (3e-2, 3e-2),
}
LIMS = {"uint8": (0, 9), "int32": (-9, 9), "int64": (-9, 9)}


def dname(dtype):
    """'float32', 'int64', ... for an ember (or torch) dtype."""
    for n in ALL:
        if dtype == getattr(ember, n):
            return n
    return str(dtype).split(".")[-1]


def to_np(t):
    """Copy of an ember/torch tensor as a numpy array (bfloat16 -> float32)."""
    t = t.detach()
    if dname(t.dtype) == "bfloat16":
        t = t.float()
    return np.array(t.numpy())


def ref(t):
    """Numpy reference input: float64 for float tensors, native otherwise."""
    a = to_np(t)
    return a.astype(np.float64) if dname(t.dtype) in FLOATS else a


def make(
    shape, dtype="float64", low=None, high=None, seed=0, layout="contig", nonzero=False, step=None
):
    """Random ember tensor. layout: 'contig', 'step' (x[..., ::2]) or 'T' (transposed view).
    nonzero: |x| >= 0.5 (floats) / x != 0 (ints); step: round floats to a multiple of step."""
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    base = {
        "contig": shape,
        "step": shape[:-1] + (2 * shape[-1],) if shape else shape,
        "T": shape[:-2] + shape[-2:][::-1],
    }[layout]
    if dtype == "bool":
        a = rng.random(base) < 0.5
    elif dtype in FLOATS:
        lo, hi = (-3.0, 3.0) if low is None else (low, high)
        a = rng.uniform(lo, hi, base)
        if nonzero:
            a = np.copysign(np.abs(a) + 0.5, a)
        if step:
            a = np.round(a / step) * step
    else:
        lo, hi = LIMS[dtype] if low is None else (low, high)
        a = rng.integers(lo, hi, base, endpoint=True)
        if nonzero:
            a = np.where(a == 0, 1, a)
    t = ember.tensor(np.asarray(a), dtype=getattr(ember, dtype))
    if layout == "step":
        t = t[..., ::2]
    elif layout == "T":
        t = t.transpose(-2, -1)
    return t


def check(out, expected, dtype=None, rtol=None, atol=None, tol=None):
    """ember `out` matches `expected` (numpy array / torch tensor) in shape, dtype, values.
    A torch `expected` also fixes the expected dtype."""
    if torch is not None and isinstance(expected, torch.Tensor):
        dtype = dtype or dname(expected.dtype)
        expected = to_np(expected)
    expected = np.asarray(expected)
    assert tuple(out.shape) == expected.shape, (tuple(out.shape), expected.shape)
    name = dname(out.dtype)
    if dtype is not None:
        assert name == dtype, f"result dtype {name}, expected {dtype}"
    got = to_np(out)
    tol = TOL if tol is None else tol
    if name in tol:
        r, a = tol[name]
        np.testing.assert_allclose(
            got.astype(np.float64),
            expected.astype(np.float64),
            rtol=rtol or r,
            atol=atol or a,
            equal_nan=True,
        )
    else:
        np.testing.assert_array_equal(got, expected)


def tt(t):
    """torch copy of an ember tensor (same values, same dtype); python scalars pass through."""
    if isinstance(t, (bool, int, float)):
        return t
    return torch.from_numpy(to_np(t)).to(getattr(torch, dname(t.dtype)))


def check_torch(out, fn, *args):
    """Compare ember `out` with fn(torch copies of args) when torch is installed."""
    if torch is not None:
        check(out, fn(*[tt(a) for a in args]))


def leaf(shape, low=-3.0, high=3.0, seed=0, away=()):
    """float64 leaf requiring grad; values kept >= 0.1 away from each point in `away`."""
    a = np.random.default_rng(seed).uniform(low, high, shape)
    for p in away:
        a = np.where(np.abs(a - p) < 0.1, a + 0.25, a)
    return ember.tensor(np.asarray(a), dtype=ember.float64, requires_grad=True)


def gcheck(fn, *inputs, seed=1):
    """gradcheck fn on float64 inputs, contracting the output with fixed random weights."""
    out = fn(*inputs)
    w = ember.tensor(
        np.asarray(np.random.default_rng(seed).standard_normal(tuple(out.shape))),
        dtype=ember.float64,
    )
    assert gradcheck(lambda *xs: (fn(*xs) * w).sum(), tuple(inputs))
