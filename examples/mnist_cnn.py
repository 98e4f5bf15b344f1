"""Train a small CNN on MNIST (>= 99% test accuracy in 4 epochs).

    EMBER_DATA_DIR=../shared/data python examples/mnist_cnn.py [--epochs 4] [--batch-size 128]
        [--lr 0.002] [--seed 0] [--out checkpoints/mnist_cnn] [--resume]

Two 3x3 conv + ReLU + 2x2 max-pool stages and a two-layer classifier, trained with AdamW and a
one-cycle learning-rate schedule through ember.train.Trainer: a progress bar with loss and
samples/s, one line per epoch with test loss/accuracy, a checkpoint per epoch in --out (model +
optimizer + scheduler + RNG state; --resume continues from the newest) and the final weights in
--out/<name>.safetensors. examples/fashion_mnist_cnn.py reuses `run` with its own model.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import ember
from ember import nn
from ember.data import DataLoader
from ember.data.datasets import MNIST
from ember.train import TrainConfig, Trainer


def build_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),  # (B, 1, 28, 28) -> (B, 32, 28, 28)
        nn.ReLU(),
        nn.MaxPool2d(2),  # -> (B, 32, 14, 14)
        nn.Conv2d(32, 64, 3, padding=1),  # -> (B, 64, 14, 14)
        nn.ReLU(),
        nn.MaxPool2d(2),  # -> (B, 64, 7, 7)
        nn.Flatten(),  # -> (B, 3136)
        nn.Linear(64 * 7 * 7, 128),
        nn.ReLU(),
        nn.Dropout(0.25),
        nn.Linear(128, 10),  # -> (B, 10) logits
    )


def run(
    dataset: type,
    name: str,
    build: Callable[[], nn.Module],
    epochs: int,
    lr: float,
    weight_decay: float,
) -> int:
    """Parse the command line, then train and evaluate ``build()`` on ``dataset``."""
    ap = argparse.ArgumentParser(description=sys.modules["__main__"].__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=epochs)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=lr, help="peak learning rate (one-cycle)")
    ap.add_argument("--weight-decay", type=float, default=weight_decay)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=None, help="default: $EMBER_DATA_DIR, ~/.cache/ember")
    ap.add_argument("--out", default=f"checkpoints/{name}", help="checkpoints and final weights")
    ap.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    args = ap.parse_args()

    if args.threads:
        ember.set_num_threads(args.threads)
    ember.manual_seed(args.seed)
    try:
        train_set = dataset(args.data_dir, train=True, normalize=True)  # items: (1, 28, 28), int
        test_set = dataset(args.data_dir, train=False, normalize=True)
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        return 2
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=True)
    test_loader = DataLoader(test_set, batch_size=1000)

    model = build()
    print(model)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{n_params:,} parameters; {len(train_set):,} train / {len(test_set):,} test images")
    opt = ember.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = ember.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=len(train_loader)
    )
    out = Path(args.out)
    cfg = TrainConfig(
        epochs=args.epochs,
        checkpoint_dir=out,
        keep_last=2,
        progress=not args.no_progress,
        scheduler_interval="step",
    )
    trainer = Trainer(model, opt, loss_fn=nn.functional.cross_entropy, scheduler=sched, config=cfg)
    t0 = time.perf_counter()
    history = trainer.fit(train_loader, test_loader, resume_from="latest" if args.resume else None)
    wall = time.perf_counter() - t0

    final = trainer.evaluate(test_loader)
    ember.save(model.state_dict(), out / f"{name}.safetensors")
    print(f"test accuracy {100 * final['accuracy']:.2f}%  test loss {final['loss']:.4f}")
    if history["time"]:
        ts = history["time"]
        print(
            f"epoch time: mean {sum(ts) / len(ts):.2f}s, min {min(ts):.2f}s "
            f"({len(ts)} epochs; {wall:.1f}s total with evaluation)"
        )
    print(f"weights: {out / f'{name}.safetensors'}; checkpoints: {out}/epoch_*.safetensors")
    return 0


if __name__ == "__main__":
    sys.exit(run(MNIST, "mnist_cnn", build_model, epochs=4, lr=2e-3, weight_decay=1e-4))
