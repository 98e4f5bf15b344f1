"""Train a 784-512-512-10 MLP on MNIST (>= 98% test accuracy in 10 epochs).

    EMBER_DATA_DIR=../shared/data python examples/mnist_mlp.py [--epochs 10] [--batch-size 128]
        [--lr 0.05] [--momentum 0.9] [--seed 0] [--out checkpoints/mnist_mlp] [--resume]

The data comes from ember.data.datasets.MNIST (looked up in --data-dir, $EMBER_DATA_DIR, then
~/.cache/ember). Training runs through ember.train.Trainer: a progress bar with loss and
samples/s, one line per epoch with test loss/accuracy, a checkpoint per epoch in --out
(model + optimizer + scheduler + RNG state; --resume continues from the newest), the final
weights in --out/mnist_mlp.safetensors and, when matplotlib is installed, the loss curve in
--out/loss_curve.png.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import ember
from ember import nn
from ember.data import DataLoader
from ember.data.datasets import MNIST
from ember.train import TrainConfig, Trainer


def build_model() -> nn.Module:
    return nn.Sequential(
        nn.Linear(784, 512),  # (B, 784) -> (B, 512)
        nn.ReLU(),
        nn.Linear(512, 512),  # (B, 512) -> (B, 512)
        nn.ReLU(),
        nn.Linear(512, 10),  # (B, 512) -> (B, 10) logits
    )


def plot(trainer: Trainer, history: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    steps = trainer.step_losses
    fig, ax = plt.subplots(figsize=(7, 4))
    if steps:
        first_epoch = (
            history["epoch"][-1] - len(history["epoch"]) + 1
        )  # a resumed run plots from there
        per_epoch = len(steps) / max(history["epoch"][-1] - first_epoch + 1, 1)
        ax.plot(
            [first_epoch - 1 + i / per_epoch for i in range(len(steps))],
            steps,
            lw=0.5,
            alpha=0.5,
            label="train (step)",
        )
    ax.plot(history["epoch"], history["train_loss"], "o-", label="train (epoch mean)")
    if "val_loss" in history:
        ax.plot(history["epoch"], history["val_loss"], "s-", label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss")
    ax.set_yscale("log")
    ax.set_title("MLP 784-512-512-10 on MNIST (ember)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--data-dir",
        default=None,
        help="folder holding mnist/ (default: $EMBER_DATA_DIR, ~/.cache/ember)",
    )
    ap.add_argument(
        "--out",
        default="checkpoints/mnist_mlp",
        help="checkpoints, final weights and the loss plot",
    )
    ap.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint in --out"
    )
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: all available)"
    )
    args = ap.parse_args()

    if args.threads:
        ember.set_num_threads(args.threads)
    ember.manual_seed(args.seed)
    try:
        train_set = MNIST(
            args.data_dir, train=True, normalize=True, flatten=True
        )  # items: (784,), int
        test_set = MNIST(args.data_dir, train=False, normalize=True, flatten=True)
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        return 2
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)  # (B, 784), (B,)
    test_loader = DataLoader(test_set, batch_size=1000)

    model = build_model()
    print(model)
    print(
        f"{sum(p.numel() for p in model.parameters()):,} parameters; {len(train_set):,} train / {len(test_set):,} test images"
    )
    opt = ember.optim.SGD(
        model.parameters(),
        lr=args.lr,
        momentum=args.momentum,
        nesterov=args.momentum > 0,
        weight_decay=args.weight_decay,
    )
    sched = ember.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=args.epochs
    )  # stepped once per epoch

    out = Path(args.out)
    cfg = TrainConfig(
        epochs=args.epochs, checkpoint_dir=out, keep_last=2, progress=not args.no_progress
    )
    trainer = Trainer(model, opt, loss_fn=nn.functional.cross_entropy, scheduler=sched, config=cfg)
    t0 = time.perf_counter()
    history = trainer.fit(train_loader, test_loader, resume_from="latest" if args.resume else None)
    wall = time.perf_counter() - t0

    final = trainer.evaluate(test_loader)
    ember.save(model.state_dict(), out / "mnist_mlp.safetensors")
    print(f"test accuracy {100 * final['accuracy']:.2f}%  test loss {final['loss']:.4f}")
    if history["time"]:
        ts = history["time"]
        print(
            f"epoch time: mean {sum(ts) / len(ts):.2f}s, min {min(ts):.2f}s ({len(ts)} epochs; {wall:.1f}s total with evaluation)"
        )
    print(f"weights: {out / 'mnist_mlp.safetensors'}; checkpoints: {out}/epoch_*.safetensors")
    if plot(trainer, history, out / "loss_curve.png"):
        print(f"loss curve: {out / 'loss_curve.png'}")
    else:  # matplotlib is an optional extra (pip install "ember[plot]")
        print("no loss curve: drawing it needs matplotlib (pip install matplotlib)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
