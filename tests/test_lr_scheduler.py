"""Learning-rate schedulers: lr sequences (and OneCycleLR's momentum) match PyTorch's;
state_dict round trips; errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.optim as optim
from conftest import requires_torch, torch
from ember.optim import lr_scheduler as sched


def _ember_opt(name="SGD", groups=1, **kw):
    ps = [nn.Parameter(ember.ones(2)) for _ in range(groups)]
    spec = [{"params": [p], "lr": 0.1 * (i + 1)} for i, p in enumerate(ps)]
    return getattr(optim, name)(spec, **kw)


def _torch_opt(name="SGD", groups=1, **kw):
    ps = [torch.nn.Parameter(torch.ones(2)) for _ in range(groups)]
    spec = [{"params": [p], "lr": 0.1 * (i + 1)} for i, p in enumerate(ps)]
    return getattr(torch.optim, name)(spec, **kw)


def _run(opt, s, epochs, metrics=None):
    lrs = [list(s.get_last_lr())]
    for e in range(epochs):
        opt.step()
        if metrics is not None:
            s.step(metrics[e])
        else:
            s.step()
        lrs.append(list(s.get_last_lr()))
    return lrs


def _lambda(epoch):
    return 0.95**epoch


CASES = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=3, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    "LinearLR": lambda m, o: m.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=6),
    "LinearLR-default": lambda m, o: m.LinearLR(o),
    "ConstantLR": lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=4),
    "LambdaLR": lambda m, o: m.LambdaLR(o, lr_lambda=_lambda),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lr_lambda=lambda e: 0.9),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, max_lr=1.0, total_steps=25),
    "OneCycleLR-linear-3phase": lambda m, o: m.OneCycleLR(
        o,
        max_lr=[1.0, 2.0][: len(o.param_groups)] if len(o.param_groups) > 1 else 1.0,
        epochs=5,
        steps_per_epoch=5,
        anneal_strategy="linear",
        three_phase=True,
        pct_start=0.25,
    ),
    "SequentialLR": lambda m, o: m.SequentialLR(
        o,
        [m.LinearLR(o, start_factor=0.1, total_iters=4), m.CosineAnnealingLR(o, T_max=10)],
        milestones=[4],
    ),
    "SequentialLR-3": lambda m, o: m.SequentialLR(
        o,
        [m.ConstantLR(o, factor=0.3, total_iters=2), m.ExponentialLR(o, gamma=0.8), m.StepLR(o, 2)],
        milestones=[3, 8],
    ),
}


@requires_torch
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("name", list(CASES))
def test_lr_sequence_matches_torch(name, groups):
    opt_name = "SGD"
    kw = {"momentum": 0.9} if name.startswith("OneCycle") else {}
    eo, to = _ember_opt(opt_name, groups, **kw), _torch_opt(opt_name, groups, **kw)
    es, ts = CASES[name](sched, eo), CASES[name](torch.optim.lr_scheduler, to)
    n = 24 if name.startswith("OneCycle") else 20
    e_lrs, t_lrs = _run(eo, es, n), _run(to, ts, n)
    np.testing.assert_allclose(np.array(e_lrs), np.array(t_lrs), rtol=1e-12, atol=1e-15)
    if name.startswith("OneCycle"):
        assert eo.param_groups[0]["momentum"] == pytest.approx(
            to.param_groups[0]["momentum"], rel=1e-12
        )


@requires_torch
def test_one_cycle_adam_betas():
    eo, to = _ember_opt("Adam"), _torch_opt("Adam")
    es = sched.OneCycleLR(eo, max_lr=0.5, total_steps=12)
    ts = torch.optim.lr_scheduler.OneCycleLR(to, max_lr=0.5, total_steps=12)
    for _ in range(11):
        eo.step()
        to.step()
        es.step()
        ts.step()
        assert eo.param_groups[0]["betas"] == pytest.approx(to.param_groups[0]["betas"], rel=1e-12)
        assert es.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12)
    with pytest.raises(ValueError, match="Tried to step"):
        for _ in range(3):
            es.step()


@requires_torch
@pytest.mark.parametrize(
    "mode,threshold_mode", [("min", "rel"), ("max", "abs"), ("min", "abs"), ("max", "rel")]
)
def test_reduce_on_plateau_matches_torch(mode, threshold_mode):
    metrics = [
        1.0,
        0.9,
        0.95,
        0.95,
        0.95,
        0.89,
        0.9,
        0.9,
        0.9,
        0.9,
        0.9,
        0.8,
        0.85,
        0.85,
        0.85,
        0.85,
        0.85,
        0.85,
    ]
    if mode == "max":
        metrics = [-m for m in metrics]
    kw = dict(
        mode=mode,
        factor=0.5,
        patience=2,
        threshold=0.01,
        threshold_mode=threshold_mode,
        cooldown=1,
        min_lr=[0.01, 0.05],
    )
    eo, to = _ember_opt(groups=2), _torch_opt(groups=2)
    es = sched.ReduceLROnPlateau(eo, **kw)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(to, **kw)
    e_lrs = _run(eo, es, len(metrics), metrics)
    t_lrs = _run(to, ts, len(metrics), metrics)
    np.testing.assert_allclose(e_lrs, t_lrs, rtol=1e-12)
    assert e_lrs[-1] != e_lrs[0]
    assert es.num_bad_epochs == ts.num_bad_epochs and es.best == ts.best


def test_reduce_on_plateau_accepts_tensor_metric_and_state_dict():
    o = _ember_opt()
    s = sched.ReduceLROnPlateau(o, patience=0)
    s.step(ember.tensor(1.0))
    s.step(ember.tensor(2.0))
    assert o.param_groups[0]["lr"] == pytest.approx(0.01)
    sd = s.state_dict()
    assert "optimizer" not in sd
    s2 = sched.ReduceLROnPlateau(_ember_opt(), patience=0)
    s2.load_state_dict(sd)
    assert s2.best == 1.0 and s2.num_bad_epochs == s.num_bad_epochs
    with pytest.raises(ValueError):
        sched.ReduceLROnPlateau(o, factor=1.5)
    with pytest.raises(ValueError):
        sched.ReduceLROnPlateau(o, mode="median")


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    "name",
    [
        "StepLR",
        "MultiStepLR",
        "CosineAnnealingLR",
        "LinearLR",
        "OneCycleLR",
        "SequentialLR",
        "LambdaLR",
        "ExponentialLR",
    ],
)
def test_state_dict_round_trip(name):
    o1 = _ember_opt(momentum=0.9)
    s1 = CASES[name](sched, o1)
    for _ in range(6):
        o1.step()
        s1.step()
    sd_opt, sd_s = o1.state_dict(), s1.state_dict()
    assert "optimizer" not in sd_s
    o2 = _ember_opt(momentum=0.9)
    s2 = CASES[name](sched, o2)
    o2.load_state_dict(sd_opt)
    s2.load_state_dict(sd_s)
    for _ in range(6):
        o1.step()
        s1.step()
        o2.step()
        s2.step()
        assert s2.get_last_lr() == pytest.approx(s1.get_last_lr(), rel=1e-12)
        assert o2.param_groups[0]["lr"] == pytest.approx(o1.param_groups[0]["lr"], rel=1e-12)


def test_lambda_state_dict_skips_functions():
    class Fn:
        def __init__(self):
            self.k = 0.5

        def __call__(self, e):
            return self.k**e

    o = _ember_opt(groups=2)
    s = sched.LambdaLR(o, [lambda e: 1.0, Fn()])
    sd = s.state_dict()
    assert sd["lr_lambdas"][0] is None and sd["lr_lambdas"][1] == {"k": 0.5}
    sd["lr_lambdas"][1] = {"k": 0.25}
    s.load_state_dict(sd)
    assert s.lr_lambdas[1].k == 0.25


@requires_torch
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    "name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR"]
)
def test_closed_form_with_epoch(name):
    eo, to = _ember_opt(), _torch_opt()
    es, ts = CASES[name](sched, eo), CASES[name](torch.optim.lr_scheduler, to)
    for epoch in (3, 7, 4, 12):
        es.step(epoch)
        ts.step(epoch)
        assert es.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12)


def test_initial_lr_and_resume_errors():
    o = _ember_opt()
    sched.StepLR(o, 2)
    assert o.param_groups[0]["initial_lr"] == 0.1
    with pytest.raises(KeyError, match="initial_lr"):
        sched.StepLR(_ember_opt(), 2, last_epoch=3)
    with pytest.raises(TypeError):
        sched.StepLR(object(), 2)
    with pytest.raises(ValueError):
        sched.LinearLR(_ember_opt(), start_factor=0.0)
    with pytest.raises(ValueError):
        sched.OneCycleLR(_ember_opt(momentum=0.9), max_lr=1.0)
    with pytest.raises(ValueError, match="momentum"):
        sched.OneCycleLR(optim.Adagrad([nn.Parameter(ember.ones(1))]), max_lr=1.0, total_steps=5)
    o = _ember_opt()
    with pytest.raises(ValueError, match="milestone"):
        sched.SequentialLR(o, [sched.StepLR(o, 2), sched.StepLR(o, 3)], milestones=[])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        sched.SequentialLR(o, [sched.StepLR(o, 2), sched.ReduceLROnPlateau(o)], milestones=[2])


def test_warns_when_scheduler_steps_first():
    o = _ember_opt()
    s = sched.StepLR(o, 2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        s.step()
    o2 = _ember_opt()
    s2 = sched.StepLR(o2, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        o2.step()
        s2.step()


def test_cosine_values():
    o = _ember_opt()
    s = sched.CosineAnnealingLR(o, T_max=10, eta_min=0.0)
    lrs = _run(o, s, 10)
    expected = [0.1 * (1 + math.cos(math.pi * t / 10)) / 2 for t in range(11)]
    np.testing.assert_allclose([l[0] for l in lrs], expected, atol=1e-12)
