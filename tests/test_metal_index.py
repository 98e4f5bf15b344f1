"""Metal indexing (metal/index.metal) vs the CPU backend: index_select / embedding / gather
(any dtype), scatter and scatter_add / index_add (deterministic order), bounds errors."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from conftest import to_np
from metal_util import (
    FLOAT_DTYPES,
    across_schedules,
    assert_close_dtype,
    fallbacks,
    rand,
    requires_metal,
    reset_fallbacks,
)

pytestmark = requires_metal


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + ["int64", "int32", "bool"])
def test_index_select_and_gather(dtype):
    x = rand((7, 5), seed=1) * 4
    x = x.to(getattr(ember, dtype))
    idx = ember.tensor(np.array([6, 0, 3, 3], np.int64))
    gidx = ember.tensor(np.random.default_rng(2).integers(0, 7, (4, 5)).astype(np.int64))
    ref = [to_np(ember.index_select(x, 0, idx)), to_np(ember.gather(x, 0, gidx)), to_np(x[idx])]
    xm, im, gm = x.to("metal"), idx.to("metal"), gidx.to("metal")
    reset_fallbacks()
    got = across_schedules(lambda: (ember.index_select(xm, 0, im), ember.gather(xm, 0, gm), xm[im]))
    for a, r in zip(got, ref):
        np.testing.assert_array_equal(a, r)
    assert not any(k.startswith("index") for k in fallbacks()), fallbacks()


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_scatter_add_and_embedding_backward(dtype):
    # integer-valued sources: sums are exact in any order, so CPU and Metal agree bit for bit
    src = ember.round(rand((6, 5), seed=3) * 4).to(getattr(ember, dtype))
    idx = ember.tensor(np.array([[0, 1, 2, 0, 1]] * 6, np.int64) % 3)
    base = ember.zeros((3, 5), dtype=getattr(ember, dtype))
    tokens = ember.tensor(np.array([1, 4, 1, 0, 4, 4], np.int64))
    w = rand((5, 3), "float32", seed=4)

    def run(dev):
        out = ember.scatter_add(base.to(dev), 0, idx.to(dev), src.to(dev))
        wd = w.to(dev).detach().requires_grad_()
        F.embedding(tokens.to(dev), wd).sum().backward()
        return out, wd.grad

    ref = [to_np(a) for a in run("cpu")]
    reset_fallbacks()
    got = across_schedules(lambda: run("metal"))
    for a, r in zip(got, ref):
        assert_close_dtype(a, r, dtype)
    assert not any(k.startswith("index") for k in fallbacks()), fallbacks()


def test_scatter_last_write_wins():
    idx = ember.tensor(np.array([[0, 0, 1]], np.int64))
    src = ember.tensor([[1.0, 2.0, 3.0]])
    ref = to_np(ember.scatter(ember.zeros((1, 2)), 1, idx, src))
    (got,) = across_schedules(
        lambda: ember.scatter(
            ember.zeros((1, 2), device="metal"), 1, idx.to("metal"), src.to("metal")
        )
    )
    np.testing.assert_array_equal(got, ref)


def test_out_of_bounds_index_raises():
    x = rand((4, 3)).to("metal")
    with pytest.raises(IndexError, match="index 9 is out of bounds"):
        ember.index_select(x, 0, ember.tensor([1, 9, 2]).to("metal"))
