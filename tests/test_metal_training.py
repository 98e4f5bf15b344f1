"""End to end on the emulated Metal device: an MLP trains 20 steps with the same losses as on the
CPU (within 1e-4) and no op ever falls back to a CPU kernel."""

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from metal_util import fallbacks, requires_metal, reset_fallbacks

pytestmark = requires_metal


def _train(device, opt_name):
    ember.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(13, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 5)
    )
    model.to(device)
    opt = (
        ember.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        if opt_name == "sgd"
        else ember.optim.Adam(model.parameters(), lr=1e-2)
    )
    rng = np.random.default_rng(1)
    x = ember.tensor(rng.standard_normal((24, 13)).astype(np.float32)).to(device)
    y = ember.tensor(rng.integers(0, 5, 24).astype(np.int64)).to(device)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return losses


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_mlp_trains_on_metal_like_cpu(opt_name):
    ref = _train("cpu", opt_name)
    reset_fallbacks()
    got = _train("metal", opt_name)
    assert fallbacks() == {}, f"ops fell back to the CPU: {fallbacks()}"
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
    assert got[-1] < got[0]
