"""Training on Metal matches the CPU: a small MLP (Adam) and CNN (SGD with momentum), 20 steps each,
same losses (within 1e-4), and no op falls back to a CPU kernel."""

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from conftest import requires_metal

pytestmark = requires_metal


def _train(device, kind):
    ember.manual_seed(0)
    if kind == "mlp":
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
        x, y = ember.randn(12, 8), ember.randint(0, 4, (12,))  # (B, 8), (B,)
        opt = ember.optim.Adam(model.parameters(), lr=1e-2)
    else:
        model = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64, 3),
        )
        x, y = ember.randn(6, 1, 8, 8), ember.randint(0, 3, (6,))  # (B, 1, 8, 8), (B,)
        opt = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.to(device)
    x, y = x.to(device), y.to(device)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(p.device == device for p in model.parameters())
    return losses


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_training_matches_cpu(kind):
    ref = _train("cpu", kind)
    ember.metal.reset_fallback_counts()
    got = _train("metal", kind)
    counts = ember.metal.fallback_counts()
    assert counts == {}, f"ops fell back to the CPU: {counts}"
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4)
    assert ref[-1] < ref[0]
