"""Smoke test of an installed ember (a freshly built wheel): run from outside the repo.

Checks that the package imports from site-packages (not the source tree), that the compiled
core works (a forward/backward step of a small model), and that the required dependencies came
with it (ember.save / ember.load need safetensors; the Trainer's progress bar needs tqdm).
"""

import io
import os
import sys

import ember
import ember.nn as nn
import ember.optim as optim

here = os.path.dirname(os.path.abspath(ember.__file__))
assert "site-packages" in here or "dist-packages" in here, f"ember imported from {here}"

ember.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
opt = optim.Adam(model.parameters(), lr=1e-2)
x, y = ember.randn(32, 4), ember.randn(32, 1)
losses = []
for _ in range(20):
    opt.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    losses.append(loss.item())
assert losses[-1] < losses[0], losses

buf = io.BytesIO()
ember.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": 20}, buf)
buf.seek(0)
ckpt = ember.load(buf)
assert ckpt["step"] == 20 and set(ckpt["model"]) == set(model.state_dict())

import tqdm  # noqa: E402,F401  (a declared dependency: the Trainer's progress bar)

print(
    f"wheel smoke test OK: ember {ember.__version__} from {here}, python {sys.version.split()[0]}"
)
