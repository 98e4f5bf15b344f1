"""ember.train: Trainer / TrainConfig (fit, metrics, clipping, schedulers, checkpoints, resume)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.optim
import ember.optim.lr_scheduler
from ember.data import DataLoader, TensorDataset
from ember.train import TrainConfig, Trainer, latest_checkpoint

TIMING = {"time", "samples_per_s"}


def toy_data(n=240, seed=0):
    """Three classes from two linear rules on 4 features (learnable by a small MLP)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] + x[:, 2] > 0.5).astype(np.int64)
    return TensorDataset(ember.from_numpy(x), ember.from_numpy(y))


def make(seed=1, opt="adam", sched=True, dropout=0.2):
    ember.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Dropout(dropout), nn.Linear(32, 3))
    if opt == "adam":
        optim = ember.optim.Adam(model.parameters(), lr=1e-2)
    else:
        optim = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = ember.optim.lr_scheduler.StepLR(optim, step_size=2, gamma=0.5) if sched else None
    return model, optim, scheduler


def params(model):
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def same_history(a, b):
    keys = set(a) - TIMING
    assert keys == set(b) - TIMING
    for k in keys:
        assert a[k] == b[k], k


def test_fit_learns_and_returns_history():
    ds = toy_data()
    model, opt, sched = make(opt="sgd")
    cfg = TrainConfig(epochs=6, progress=False, log=False, seed=0)
    h = Trainer(model, opt, scheduler=sched, config=cfg).fit(
        DataLoader(ds, batch_size=32, shuffle=True), DataLoader(ds, batch_size=100)
    )
    for k in (
        "epoch",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "time",
        "samples_per_s",
    ):
        assert len(h[k]) == 6, k
    assert h["epoch"] == [1, 2, 3, 4, 5, 6]
    assert h["train_loss"][-1] < h["train_loss"][0]
    assert h["val_accuracy"][-1] > 0.85
    assert h["lr"] == pytest.approx(
        [0.1, 0.05, 0.05, 0.025, 0.025, 0.0125]
    )  # StepLR stepped per epoch
    assert all(s > 0 for s in h["samples_per_s"])


@pytest.mark.parametrize("own_generator", [False, True])
def test_resume_equals_uninterrupted(tmp_path, own_generator):
    """Train 4 epochs straight vs 2 epochs + resume from the epoch-2 checkpoint (with dropout,
    shuffling, Adam state and a StepLR schedule in play): identical results, bit for bit."""
    ds = toy_data()

    def loader():
        g = ember.Generator().manual_seed(11) if own_generator else None
        return DataLoader(ds, batch_size=24, shuffle=True, generator=g)

    def trainer(model, opt, sched, d, epochs):
        return Trainer(
            model,
            opt,
            scheduler=sched,
            config=TrainConfig(epochs=epochs, checkpoint_dir=d, progress=False, log=False, seed=5),
        )

    m1, o1, s1 = make()
    h1 = trainer(m1, o1, s1, tmp_path / "a", 4).fit(loader(), DataLoader(ds, batch_size=80))

    m2, o2, s2 = make()
    trainer(m2, o2, s2, tmp_path / "b", 2).fit(loader(), DataLoader(ds, batch_size=80))
    ember.manual_seed(12345)  # the interruption: anything may happen to the RNG in between
    ember.randn(100)

    m3, o3, s3 = make(seed=99)  # a fresh process: different initial weights
    t3 = trainer(m3, o3, s3, tmp_path / "b", 4)
    h3 = t3.fit(loader(), DataLoader(ds, batch_size=80), resume_from="latest")

    p1, p3 = params(m1), params(m3)
    assert all(np.array_equal(p1[k], p3[k]) for k in p1)
    same_history(h1, h3)
    assert o1.param_groups[0]["lr"] == o3.param_groups[0]["lr"]
    st1, st3 = o1.state_dict()["state"], o3.state_dict()["state"]
    for i in st1:
        for k, v in st1[i].items():
            w = st3[i][k]
            if isinstance(v, ember.Tensor):
                assert np.array_equal(v.numpy(), w.numpy()), (i, k)
            else:
                assert v == w
    assert t3.epoch == 4


def test_checkpoint_files_and_contents(tmp_path):
    ds = toy_data(60)
    model, opt, sched = make()
    cfg = TrainConfig(
        epochs=5, checkpoint_dir=tmp_path, checkpoint_every=2, progress=False, log=False
    )
    Trainer(model, opt, scheduler=sched, config=cfg).fit(
        DataLoader(ds, batch_size=20, shuffle=True)
    )
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "epoch_0002.safetensors",
        "epoch_0004.safetensors",
        "epoch_0005.safetensors",
    ]  # every 2 + the last
    assert latest_checkpoint(tmp_path).name == "epoch_0005.safetensors"
    ck = ember.load(latest_checkpoint(tmp_path))
    assert ck["epoch"] == 5
    assert set(ck["model"]) == set(model.state_dict())
    assert set(ck["optimizer"]) >= {"state", "param_groups"}
    assert ck["scheduler"] is not None
    assert ck["rng"]["ember"] == ember.get_rng_state()
    assert len(ck["history"]["train_loss"]) == 5

    m2, o2, s2 = make(seed=3)
    Trainer(
        m2,
        o2,
        scheduler=s2,
        config=TrainConfig(
            epochs=6, progress=False, log=False, checkpoint_dir=tmp_path, keep_last=2
        ),
    ).fit(DataLoader(ds, batch_size=20), resume_from=tmp_path / "epoch_0005.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "epoch_0005.safetensors",
        "epoch_0006.safetensors",
    ]


def test_grad_clipping_bounds_the_step():
    ds = toy_data(64)
    ember.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    before = params(model)
    opt = ember.optim.SGD(model.parameters(), lr=1.0)
    # a loss with huge gradients; one step of plain SGD with lr=1 moves the weights by exactly the clipped gradient
    tr = Trainer(
        model,
        opt,
        loss_fn=lambda out, y: 1e4 * nn.functional.cross_entropy(out, y),
        config=TrainConfig(epochs=1, grad_clip_norm=0.5, progress=False, log=False),
    )
    tr.fit(DataLoader(ds, batch_size=64))
    after = params(model)
    step = math.sqrt(
        sum(float(((after[k] - before[k]).astype(np.float64) ** 2).sum()) for k in before)
    )
    assert step == pytest.approx(0.5, rel=1e-3)


def test_evaluate_restores_mode_and_progress_bar(capsys):
    pytest.importorskip("tqdm")
    ds = toy_data(50)
    model, opt, _ = make()
    tr = Trainer(model, opt, config=TrainConfig(epochs=1, progress=True, log=True))
    h = tr.fit(DataLoader(ds, batch_size=10))
    err = capsys.readouterr()
    assert "epoch 1/1" in err.out + err.err and "samples/s" in err.out + err.err
    model.train()
    res = tr.evaluate(DataLoader(ds, batch_size=25))
    assert model.training and set(res) == {"loss", "accuracy"}
    model.eval()
    tr.evaluate(DataLoader(ds, batch_size=25))
    assert not model.training
    assert h["train_loss"][0] > 0


def test_plateau_scheduler_and_dict_batches():
    class DictDS(ember.data.Dataset):
        def __init__(self, base):
            self.base = base

        def __len__(self):
            return len(self.base)

        def __getitem__(self, i):
            x, y = self.base[i]
            return {"input": x, "target": y}

    model, opt, _ = make(opt="sgd", sched=False)
    sched = ember.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    h = Trainer(
        model, opt, scheduler=sched, config=TrainConfig(epochs=2, progress=False, log=False)
    ).fit(
        DataLoader(DictDS(toy_data(40)), batch_size=10),
        DataLoader(DictDS(toy_data(40)), batch_size=40),
    )
    assert len(h["val_loss"]) == 2


def test_bad_config_and_batches():
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=-1)
    with pytest.raises(ValueError, match="scheduler_interval"):
        TrainConfig(scheduler_interval="batch")
    with pytest.raises(ValueError, match="grad_clip_norm"):
        TrainConfig(grad_clip_norm=0)
    model, opt, _ = make()
    tr = Trainer(model, opt, config=TrainConfig(epochs=1, progress=False, log=False))
    with pytest.raises(ValueError, match=r"\(inputs, targets\)"):
        tr.fit([(ember.zeros(2, 4),)])
    with pytest.raises(ValueError, match="checkpoint_dir"):
        tr.fit([], resume_from="latest")


def test_resume_latest_without_checkpoints_starts_fresh(tmp_path):
    ds = toy_data(48)

    def run(**kw):
        model, opt, sched = make()
        cfg = TrainConfig(
            epochs=2, progress=False, log=False, seed=3, checkpoint_dir=tmp_path / "ck"
        )
        Trainer(model, opt, scheduler=sched, config=cfg).fit(
            DataLoader(ds, batch_size=16, shuffle=True), **kw
        )
        return params(model)

    a = run(resume_from="latest")  # nothing to resume: a seeded fresh run
    for f in (tmp_path / "ck").iterdir():
        f.unlink()
    b = run()
    assert all(np.array_equal(a[k], b[k]) for k in a)
