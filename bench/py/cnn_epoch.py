"""One training epoch of examples/mnist_cnn.py's model, ember vs PyTorch, in one process.

    EMBER_DATA_DIR=../shared/data python bench/py/cnn_epoch.py [--threads 2] [--batches N]

Both frameworks train the same architecture (same initial weights) with AdamW(lr=1e-3) on the
same shuffled MNIST batches of 128 held in memory, so the time is the model's forward, backward
and optimizer step (no data-loader work). Prints seconds per epoch and the ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import ember
from ember.data.datasets import MNIST

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None


def build(lib, params):
    nn = lib.nn
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128),
        nn.ReLU(),
        nn.Dropout(0.25),
        nn.Linear(128, 10),
    )
    with lib.no_grad():
        for p, v in zip(model.parameters(), params):
            p.copy_(lib.from_numpy(v))
    return model


def epoch(lib, params, xs, ys, batches):
    model = build(lib, params)
    opt = lib.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    t0 = time.perf_counter()
    for i in range(batches):
        x, y = lib.from_numpy(xs[i]), lib.from_numpy(ys[i])
        loss = lib.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - t0, float(loss.detach())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, default=None, help="default: a whole epoch (468)")
    ap.add_argument("--batch-size", type=int, default=128)
    args = ap.parse_args()
    ember.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)

    ds = MNIST(train=True, normalize=True)
    images, labels = (t.numpy() for t in ds.as_tensors())
    rng = np.random.default_rng(0)
    order = rng.permutation(len(labels))
    n = len(labels) // args.batch_size if args.batches is None else args.batches
    bs = args.batch_size
    xs = [np.ascontiguousarray(images[order[i * bs : (i + 1) * bs]]) for i in range(n)]
    ys = [np.ascontiguousarray(labels[order[i * bs : (i + 1) * bs]]) for i in range(n)]
    model = build(ember, [])  # ember's default init, shared by both frameworks
    params = [p.detach().numpy().copy() for p in model.parameters()]

    print(f"MNIST CNN, {n} batches of {bs}, {args.threads} threads")
    times = {}
    for name, lib in (("torch", torch), ("ember", ember)):
        if lib is None:
            continue
        secs, loss = epoch(lib, params, xs, ys, n)
        times[name] = secs
        print(f"{name:6s} {secs:7.2f} s  ({n * bs / secs:,.0f} samples/s, last loss {loss:.4f})")
    if len(times) == 2:
        print(f"ember/torch {times['ember'] / times['torch']:.2f}x")


if __name__ == "__main__":
    main()
