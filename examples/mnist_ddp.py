"""Train the MNIST CNN of mnist_cnn.py data-parallel across MPI ranks (DistributedDataParallel).

    EMBER_DATA_DIR=../shared/data mpirun -n 2 python examples/mnist_ddp.py [--epochs 2]
        [--batch-size 64] [--lr 0.002] [--seed 0] [--out checkpoints/mnist_ddp] [--resume]

Each rank reads its own half (third, ...) of the training set through a DistributedSampler,
runs forward and backward on its batch of --batch-size images, and DistributedDataParallel
averages the gradients across ranks during backward, so every rank takes the same optimizer
step as one process would on the concatenated batch. Rank 0 prints progress and writes the
checkpoints; --resume restarts every rank from the newest one. Across machines:
mpirun -n 4 --hostfile hosts python examples/mnist_ddp.py (the same path and data on each).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import ember
import ember.distributed as dist
from ember import nn
from ember.data import DataLoader, DistributedSampler
from ember.data.datasets import MNIST
from ember.nn.parallel import DistributedDataParallel
from ember.train import TrainConfig, Trainer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_cnn import build_model  # noqa: E402  the same CNN


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64, help="images per rank per step")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=None, help="default: $EMBER_DATA_DIR, ~/.cache/ember")
    ap.add_argument("--out", default="checkpoints/mnist_ddp", help="checkpoints (rank 0 writes)")
    ap.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    ap.add_argument("--bucket-cap-mb", type=float, default=25)
    ap.add_argument("--threads", type=int, default=None, help="CPU threads per rank")
    args = ap.parse_args()

    dist.init_process_group(backend="mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.threads:
        ember.set_num_threads(args.threads)
    ember.manual_seed(args.seed + rank)  # dropout differs per rank; DDP copies rank 0's weights
    try:
        train_set = MNIST(args.data_dir, train=True, normalize=True)  # items: (1, 28, 28), int
        test_set = MNIST(args.data_dir, train=False, normalize=True)
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        return 2
    train_sampler = DistributedSampler(train_set, shuffle=True, seed=args.seed, drop_last=True)
    test_sampler = DistributedSampler(test_set, shuffle=False)
    train_loader = DataLoader(
        train_set, batch_size=args.batch_size, sampler=train_sampler, drop_last=True
    )
    test_loader = DataLoader(test_set, batch_size=1000, sampler=test_sampler)

    model = DistributedDataParallel(build_model(), bucket_cap_mb=args.bucket_cap_mb)
    if rank == 0:
        n_params = sum(p.numel() for p in model.parameters())
        print(
            f"{world} ranks x {args.batch_size} images per step; {n_params:,} parameters in "
            f"{len(model._buckets)} gradient buckets; {len(train_loader)} steps per epoch"
        )
    opt = ember.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    cfg = TrainConfig(epochs=args.epochs, checkpoint_dir=Path(args.out), keep_last=2)
    trainer = Trainer(model, opt, loss_fn=nn.functional.cross_entropy, config=cfg)
    t0 = time.perf_counter()
    trainer.fit(train_loader, test_loader, resume_from="latest" if args.resume else None)
    final = trainer.evaluate(test_loader)  # summed over every rank's shard
    if rank == 0:
        print(
            f"test accuracy {100 * final['accuracy']:.2f}%  test loss {final['loss']:.4f}  "
            f"({time.perf_counter() - t0:.1f}s)"
        )
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
