"""A small training loop: :class:`Trainer` + :class:`TrainConfig`.

Example::

    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10))
    opt = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    trainer = Trainer(model, opt, config=TrainConfig(epochs=5, checkpoint_dir="checkpoints"))
    history = trainer.fit(train_loader, val_loader)
    history["val_accuracy"][-1]

    # later, or after a crash: continue from the last checkpoint; the result is the same as
    # an uninterrupted run (model, optimizer, scheduler, RNG states and history are restored)
    Trainer(model, opt, config=TrainConfig(epochs=10, checkpoint_dir="checkpoints")).fit(
        train_loader, val_loader, resume_from="latest")

Batches are ``(inputs, targets)`` pairs (tuples, lists, or dicts with ``"input"``/``"target"``
keys); subclass and override :meth:`Trainer.compute_loss` for anything else.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import _C
from ._C import Tensor

__all__ = ["TrainConfig", "Trainer", "latest_checkpoint"]

_CKPT_RE = re.compile(r"^epoch_(\d+)\.safetensors$")


@dataclasses.dataclass
class TrainConfig:
    """Settings of :meth:`Trainer.fit`.

    Args:
        epochs: total number of epochs (a resumed run continues up to this number).
        grad_clip_norm: clip the global gradient norm to this value before each step.
        grad_clip_value: clip each gradient element to ``[-v, v]``.
        scheduler_interval: call ``scheduler.step()`` every ``"epoch"`` or every ``"step"``
            (OneCycleLR and warm-ups want ``"step"``). ReduceLROnPlateau gets the validation
            loss (the training loss without a validation loader).
        checkpoint_dir: where checkpoints go (``epoch_0003.safetensors``); ``None``: none.
        checkpoint_every: write a checkpoint every this many epochs (and after the last one).
        keep_last: keep only the newest this many checkpoints (``None``: keep all).
        seed: call ``ember.manual_seed(seed)`` (and seed Python's/NumPy's RNGs) before training
            (ignored when resuming: the checkpoint's RNG state is restored instead).
        progress: show a tqdm progress bar with loss and samples/s.
        log: print one summary line per epoch.
        accuracy: compute accuracy (argmax over the last dim vs integer targets).
    """

    epochs: int = 10
    grad_clip_norm: float | None = None
    grad_clip_value: float | None = None
    scheduler_interval: str = "epoch"
    checkpoint_dir: str | os.PathLike | None = None
    checkpoint_every: int = 1
    keep_last: int | None = None
    seed: int | None = None
    progress: bool = True
    log: bool = True
    accuracy: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or self.epochs < 0:
            raise ValueError(f"TrainConfig: epochs must be a non-negative int, got {self.epochs!r}")
        if self.scheduler_interval not in ("epoch", "step"):
            raise ValueError(
                f"TrainConfig: scheduler_interval must be 'epoch' or 'step', got {self.scheduler_interval!r}"
            )
        if self.checkpoint_every < 0:
            raise ValueError(
                f"TrainConfig: checkpoint_every must be >= 0, got {self.checkpoint_every}"
            )
        for name in ("grad_clip_norm", "grad_clip_value"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise ValueError(f"TrainConfig: {name} must be positive, got {v!r}")
        if self.keep_last is not None and self.keep_last < 1:
            raise ValueError(f"TrainConfig: keep_last must be >= 1 or None, got {self.keep_last}")


def latest_checkpoint(checkpoint_dir: str | os.PathLike) -> Path | None:
    """The newest ``epoch_NNNN.safetensors`` in ``checkpoint_dir`` (None if there is none)."""
    d = Path(checkpoint_dir)
    if not d.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in d.iterdir() if (m := _CKPT_RE.match(p.name))]
    return max(found)[1] if found else None


def _clip_grad_norm(params: list, max_norm: float) -> float:
    try:
        from .nn.utils import clip_grad_norm_
    except ImportError:
        clip_grad_norm_ = None
    if clip_grad_norm_ is not None:
        n = clip_grad_norm_(params, max_norm)
        return float(n.item() if isinstance(n, Tensor) else n)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    total = math.sqrt(sum(float((g.double() * g.double()).sum().item()) for g in grads))
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g.mul_(coef)
    return total


def _clip_grad_value(params: list, value: float) -> None:
    try:
        from .nn.utils import clip_grad_value_
    except ImportError:
        clip_grad_value_ = None
    if clip_grad_value_ is not None:
        clip_grad_value_(params, value)
        return
    for p in params:
        if p.grad is not None:
            p.grad.clamp_(-value, value)


def _batch_size(x: Any) -> int:
    if isinstance(x, Tensor):
        return int(x.shape[0]) if x.ndim else 1
    if isinstance(x, (list, tuple)) and x:
        return _batch_size(x[0])
    if isinstance(x, Mapping) and x:
        return _batch_size(next(iter(x.values())))
    return 1


def _loader_generator(loader: Any):
    """The ember.Generator a loader shuffles with, if it has its own."""
    for obj in (
        loader,
        getattr(loader, "sampler", None),
        getattr(getattr(loader, "batch_sampler", None), "sampler", None),
    ):
        g = getattr(obj, "generator", None)
        if isinstance(g, _C.Generator):
            return g
    return None


def _is_plateau(scheduler: Any) -> bool:
    return any(c.__name__ == "ReduceLROnPlateau" for c in type(scheduler).__mro__)


class Trainer:
    """Runs epochs of training and validation, with metrics, checkpoints and resume.

    Args:
        model: an ``ember.nn.Module`` (anything with ``parameters()``, ``train()``/``eval()``,
            ``state_dict()``/``load_state_dict()``).
        optimizer: an ``ember.optim`` optimizer.
        loss_fn: ``loss_fn(outputs, targets) -> scalar tensor`` (default
            ``ember.nn.functional.cross_entropy``).
        scheduler: optional learning-rate scheduler.
        config: a :class:`TrainConfig`; keyword arguments override its fields.
    """

    def __init__(
        self,
        model: Any,
        optimizer: Any,
        loss_fn: Callable[[Any, Any], Tensor] | None = None,
        scheduler: Any = None,
        config: TrainConfig | None = None,
        **overrides: Any,
    ) -> None:
        if loss_fn is None:
            from .nn import functional as F

            loss_fn = F.cross_entropy
        config = TrainConfig() if config is None else config
        if overrides:
            config = dataclasses.replace(config, **overrides)
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.scheduler = scheduler
        self.config = config
        self.epoch = 0  # epochs completed
        self.history: dict[str, list] = {}
        self.step_losses: list[float] = []  # every training step's loss in this process (for plots)
        self._train_loader = None

    # ------------------------------------------------------------------ one step

    @staticmethod
    def split_batch(batch: Any) -> tuple[Any, Any]:
        """``(inputs, targets)`` from a batch."""
        if isinstance(batch, Mapping):
            for xi, yi in (("input", "target"), ("inputs", "targets"), ("x", "y")):
                if xi in batch and yi in batch:
                    return batch[xi], batch[yi]
            raise ValueError(
                f"Trainer: dict batches need 'input'/'target' keys, got {sorted(batch)}"
            )
        if isinstance(batch, (tuple, list)) and len(batch) == 2:
            return batch[0], batch[1]
        raise ValueError(
            f"Trainer: expected (inputs, targets) batches, got a {type(batch).__name__}"
            + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "")
            + "; override Trainer.compute_loss for other layouts"
        )

    def compute_loss(self, batch: Any) -> tuple[Tensor, Any, Any]:
        """Forward pass: returns ``(loss, outputs, targets)`` (outputs/targets feed the metrics)."""
        x, y = self.split_batch(batch)
        out = self.model(x)
        return self.loss_fn(out, y), out, y

    @staticmethod
    def _correct(out: Any, y: Any) -> tuple[int, int] | None:
        """(correct, counted) for class-index targets, None when accuracy does not apply."""
        if not (isinstance(out, Tensor) and isinstance(y, Tensor)):
            return None
        if (
            y.is_floating_point()
            or y.dtype == _C.bool
            or out.ndim != y.ndim + 1
            or tuple(out.shape[:-1]) != tuple(y.shape)
        ):
            return None
        with _no_grad():
            return int((out.argmax(-1) == y).sum().item()), int(y.numel())

    # ------------------------------------------------------------------ loops

    def _params(self) -> list:
        return [p for p in self.model.parameters() if p.requires_grad]

    def train_epoch(self, loader: Iterable, epoch: int | None = None) -> dict[str, float]:
        """One pass over ``loader`` with updates; returns ``{"loss", "accuracy", "samples_per_s", "time"}``."""
        cfg = self.config
        self.model.train()
        params = self._params()
        total_loss, n_seen, correct, counted = 0.0, 0, 0, 0
        bar = self._bar(loader, epoch)
        t0 = time.perf_counter()
        step_sched = (
            self.scheduler is not None
            and cfg.scheduler_interval == "step"
            and not _is_plateau(self.scheduler)
        )
        for i, batch in enumerate(loader):
            loss, out, y = self.compute_loss(batch)
            if not math.isfinite(lv := float(loss.item())):
                raise FloatingPointError(
                    f"Trainer: loss is {lv} at epoch {epoch}, step {i}; lower the lr or clip gradients"
                )
            self.optimizer.zero_grad()
            loss.backward()
            if cfg.grad_clip_value is not None:
                _clip_grad_value(params, cfg.grad_clip_value)
            if cfg.grad_clip_norm is not None:
                _clip_grad_norm(params, cfg.grad_clip_norm)
            self.optimizer.step()
            if step_sched:
                self.scheduler.step()
            bs = _batch_size(y if y is not None else batch)
            total_loss += lv * bs
            n_seen += bs
            self.step_losses.append(lv)
            if cfg.accuracy and (c := self._correct(out, y)) is not None:
                correct += c[0]
                counted += c[1]
            if bar is not None:
                bar.update(1)
                if i % 10 == 0:
                    rate = n_seen / max(time.perf_counter() - t0, 1e-9)
                    bar.set_postfix(
                        loss=f"{total_loss / n_seen:.4f}", samples_s=f"{rate:,.0f}", refresh=False
                    )
        elapsed = time.perf_counter() - t0
        total_loss, n_seen, correct, counted = _sum_over_ranks(total_loss, n_seen, correct, counted)
        if bar is not None:
            bar.set_postfix(
                loss=f"{total_loss / max(n_seen, 1):.4f}",
                samples_s=f"{n_seen / max(elapsed, 1e-9):,.0f}",
            )
            bar.close()
        res = {
            "loss": total_loss / max(n_seen, 1),
            "time": elapsed,
            "samples_per_s": n_seen / max(elapsed, 1e-9),
        }
        if counted:
            res["accuracy"] = correct / counted
        return res

    def evaluate(self, loader: Iterable) -> dict[str, float]:
        """Loss and accuracy over ``loader`` (eval mode, no grad); the model's mode is restored."""
        was_training = getattr(self.model, "training", True)
        self.model.eval()
        total_loss, n_seen, correct, counted = 0.0, 0, 0, 0
        try:
            with _no_grad():
                for batch in loader:
                    loss, out, y = self.compute_loss(batch)
                    bs = _batch_size(y if y is not None else batch)
                    total_loss += float(loss.item()) * bs
                    n_seen += bs
                    if self.config.accuracy and (c := self._correct(out, y)) is not None:
                        correct += c[0]
                        counted += c[1]
        finally:
            self.model.train(was_training)
        total_loss, n_seen, correct, counted = _sum_over_ranks(total_loss, n_seen, correct, counted)
        res = {"loss": total_loss / max(n_seen, 1)}
        if counted:
            res["accuracy"] = correct / counted
        return res

    def fit(
        self,
        train_loader: Iterable,
        val_loader: Iterable | None = None,
        *,
        epochs: int | None = None,
        resume_from: str | os.PathLike | None = None,
    ) -> dict[str, list]:
        """Train for ``config.epochs`` epochs (or ``epochs``), validating after each one.

        Args:
            resume_from: a checkpoint path, or ``"latest"`` for the newest one in
                ``config.checkpoint_dir`` (starts fresh when there is none). Training continues
                after the checkpoint's epoch.

        Returns:
            the history: lists per epoch under ``"epoch"``, ``"train_loss"``,
            ``"train_accuracy"``, ``"val_loss"``, ``"val_accuracy"``, ``"lr"``, ``"time"``,
            ``"samples_per_s"`` (accuracy keys only where accuracy applies).
        """
        cfg = self.config
        total = cfg.epochs if epochs is None else epochs
        self._train_loader = train_loader
        path = None
        if resume_from is not None:
            path = resume_from
            if str(resume_from) == "latest":
                if cfg.checkpoint_dir is None:
                    raise ValueError(
                        "Trainer.fit: resume_from='latest' needs config.checkpoint_dir"
                    )
                path = latest_checkpoint(cfg.checkpoint_dir)  # None: nothing yet, start fresh
            if path is not None:
                self.load_checkpoint(path)
        if path is None and cfg.seed is not None:
            from ._creation import manual_seed

            manual_seed(cfg.seed)
            random.seed(cfg.seed)
            np.random.seed(cfg.seed % 2**32)
        rank, world = _rank_world()
        for epoch in range(self.epoch + 1, total + 1):
            sampler = getattr(train_loader, "sampler", None)
            if hasattr(sampler, "set_epoch"):  # DistributedSampler: a new shuffle each epoch
                sampler.set_epoch(epoch)
            tr = self.train_epoch(train_loader, epoch)
            va = self.evaluate(val_loader) if val_loader is not None else None
            if self.scheduler is not None and _is_plateau(self.scheduler):
                self.scheduler.step(va["loss"] if va else tr["loss"])
            elif self.scheduler is not None and cfg.scheduler_interval == "epoch":
                self.scheduler.step()
            self.epoch = epoch
            self._record(epoch, tr, va)
            if cfg.log and rank == 0:
                self._log_line(epoch, total, tr, va)
            if (
                cfg.checkpoint_dir is not None
                and cfg.checkpoint_every
                and (epoch % cfg.checkpoint_every == 0 or epoch == total)
            ):
                # data-parallel: replicas are identical, rank 0 writes; all may resume from it
                if rank == 0:
                    self.save_checkpoint(
                        Path(cfg.checkpoint_dir) / f"epoch_{epoch:04d}.safetensors"
                    )
                if world > 1:
                    from .distributed import barrier

                    barrier()
        return self.history

    def _record(self, epoch: int, tr: dict, va: dict | None) -> None:
        h = self.history
        row = {
            "epoch": epoch,
            "train_loss": tr["loss"],
            "lr": self._lr(),
            "time": tr["time"],
            "samples_per_s": tr["samples_per_s"],
        }
        if "accuracy" in tr:
            row["train_accuracy"] = tr["accuracy"]
        if va is not None:
            row["val_loss"] = va["loss"]
            if "accuracy" in va:
                row["val_accuracy"] = va["accuracy"]
        for k, v in row.items():
            h.setdefault(k, []).append(v)

    def _lr(self) -> float | None:
        groups = getattr(self.optimizer, "param_groups", None)
        return float(groups[0]["lr"]) if groups else None

    def _log_line(self, epoch: int, total: int, tr: dict, va: dict | None) -> None:
        parts = [f"epoch {epoch}/{total}", f"train loss {tr['loss']:.4f}"]
        if "accuracy" in tr:
            parts.append(f"acc {100 * tr['accuracy']:.2f}%")
        if va is not None:
            parts.append(f"val loss {va['loss']:.4f}")
            if "accuracy" in va:
                parts.append(f"acc {100 * va['accuracy']:.2f}%")
        parts.append(f"{tr['time']:.1f}s ({tr['samples_per_s']:,.0f} samples/s)")
        msg = " | ".join(parts)
        tqdm = _tqdm() if self.config.progress else None
        (tqdm.write if tqdm is not None else print)(msg)

    def _bar(self, loader: Iterable, epoch: int | None):
        if not self.config.progress or _rank_world()[0] != 0:
            return None
        tqdm = _tqdm()
        try:
            total = len(loader)  # type: ignore[arg-type]
        except TypeError:
            total = None
        desc = f"epoch {epoch}/{self.config.epochs}" if epoch is not None else "train"
        return tqdm(
            total=total, desc=desc, unit="batch", leave=False, file=sys.stderr, dynamic_ncols=True
        )

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training exactly: model, optimizer, scheduler, epoch,
        history and RNG states (ember's default generator, the train loader's generator, Python's
        ``random`` and NumPy's global RNG)."""
        from ._creation import get_rng_state

        np_state = np.random.get_state()
        rng: dict[str, Any] = {
            "ember": list(get_rng_state()),
            "python": random.getstate(),
            "numpy": [
                np_state[0],
                np.asarray(np_state[1]),
                int(np_state[2]),
                int(np_state[3]),
                float(np_state[4]),
            ],
        }
        g = _loader_generator(self._train_loader)
        if g is not None:
            rng["loader"] = list(g.get_state())
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "epoch": self.epoch,
            "history": self.history,
            "rng": rng,
            "config": {
                k: (os.fspath(v) if isinstance(v, os.PathLike) else v)
                for k, v in dataclasses.asdict(self.config).items()
            },
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        from ._creation import set_rng_state

        missing = [k for k in ("model", "optimizer", "epoch") if k not in state]
        if missing:
            raise ValueError(
                f"Trainer: checkpoint lacks {missing}; it was not written by Trainer.save_checkpoint"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            if state.get("scheduler") is None:
                raise ValueError(
                    "Trainer: the checkpoint has no scheduler state but this Trainer has a scheduler"
                )
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch = int(state["epoch"])
        self.history = {k: list(v) for k, v in (state.get("history") or {}).items()}
        rng = state.get("rng") or {}
        if "ember" in rng:
            set_rng_state(rng["ember"])
        if "python" in rng:
            v, s, gauss = rng["python"]
            random.setstate((v, tuple(s), gauss))
        if "numpy" in rng:
            name, keys, pos, has_gauss, cached = rng["numpy"]
            np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
        g = _loader_generator(self._train_loader)
        if g is not None and "loader" in rng:
            g.set_state(list(rng["loader"]))

    def save_checkpoint(self, path: str | os.PathLike) -> Path:
        """Write :meth:`state_dict` to ``path`` atomically (safetensors); prunes old ones per
        ``config.keep_last``."""
        from .serialization import save

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save(self.state_dict(), path)
        keep = self.config.keep_last
        if keep is not None:
            found = sorted(
                (int(m.group(1)), p) for p in path.parent.iterdir() if (m := _CKPT_RE.match(p.name))
            )
            for _, old in found[:-keep]:
                if old != path:
                    old.unlink(missing_ok=True)
        return path

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Restore model, optimizer, scheduler, RNG states, epoch and history from ``path``."""
        from .serialization import load

        self.load_state_dict(load(path))


def _rank_world() -> tuple[int, int]:
    """(rank, world size) under ember.distributed, (0, 1) otherwise."""
    dist = sys.modules.get("ember.distributed")  # never import mpi4py for a plain run
    if dist is None or not dist.is_initialized():
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def _sum_over_ranks(*values: float) -> list[float]:
    """Sum per-rank counters over all ranks (epoch metrics of a data-parallel run)."""
    if _rank_world()[1] == 1:
        return list(values)
    from . import distributed as dist
    from ._creation import tensor

    t = tensor(list(values), dtype=_C.float64)
    dist.all_reduce(t)
    return t.tolist()


def _no_grad():
    from ._grad_mode import no_grad

    return no_grad()


def _tqdm():
    # a dependency of ember; a clear message if an environment lost it (progress=True asked)
    try:
        from tqdm import tqdm
    except ImportError:
        raise ImportError(
            "ember.train: the progress bar needs the 'tqdm' package (a dependency of ember): "
            "pip install tqdm, or TrainConfig(progress=False)"
        ) from None
    return tqdm
