"""PyTorch idioms real scripts use, each checked against PyTorch: the namespaces scripts query
(cuda, backends, accelerator), ``ember.utils.data``, legacy constructors, the optimizers and
schedulers, step and backward hooks, ``ember.save`` / ``ember.load`` forms and DataLoader
worker processes."""

from __future__ import annotations

import io
import json
import os
import struct
import time
import warnings

import numpy as np
import pytest

import ember
import ember.nn as enn
import ember.optim as eoptim
import ember.utils.data as edata

torch = pytest.importorskip("torch")  # installed in CI (README's test command)


def _np(t):
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


# ---------------------------------------------------------------------------- namespaces


@pytest.mark.parametrize(
    "expr",
    [
        "cuda.is_available()",
        "cuda.device_count()",
        "backends.cudnn.is_available()",
        "accelerator.is_available()",
        "accelerator.current_accelerator()",
    ],
)
def test_query_matches_cpu_only_torch(expr):
    # this torch is a CPU build on Linux: the same answers a port must give
    assert eval(f"ember.{expr}") == eval(f"torch.{expr}")


def test_mps_matches_the_build():
    # this torch has no MPS; ember has it when built with Metal (on Linux: the emulator)
    assert ember.backends.mps.is_built() is ember.metal.is_built()
    assert ember.backends.mps.is_available() is ember.metal.is_available()


def test_cuda_bf16_and_sync():
    assert ember.cuda.is_bf16_supported() is False
    assert ember.cuda.synchronize() is None and ember.cuda.empty_cache() is None
    with pytest.raises(RuntimeError, match="no CUDA"):
        ember.cuda.current_device()


@pytest.mark.parametrize("fn", ["manual_seed", "manual_seed_all"])
def test_cuda_manual_seed_seeds_ember(fn):
    getattr(ember.cuda, fn)(123)
    a = ember.randn(5).numpy().copy()
    ember.manual_seed(123)
    b = ember.randn(5).numpy()
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("flag", ["benchmark", "deterministic", "enabled", "allow_tf32"])
@pytest.mark.parametrize("value", [True, False])
def test_cudnn_flags_accepted(flag, value):
    old = getattr(ember.backends.cudnn, flag)
    try:
        setattr(ember.backends.cudnn, flag, value)
        setattr(torch.backends.cudnn, flag, value) if flag != "allow_tf32" else None
        assert getattr(ember.backends.cudnn, flag) is value
    finally:
        setattr(ember.backends.cudnn, flag, old)


def test_cudnn_flags_context_manager():
    with ember.backends.cudnn.flags(enabled=False, benchmark=True, deterministic=True):
        assert ember.backends.cudnn.benchmark is True and ember.backends.cudnn.enabled is False
    assert ember.backends.cudnn.benchmark is False and ember.backends.cudnn.enabled is True


@pytest.mark.parametrize("value", [True, False])
def test_cuda_matmul_allow_tf32(value):
    old = ember.backends.cuda.matmul.allow_tf32
    ember.backends.cuda.matmul.allow_tf32 = value
    try:
        assert ember.backends.cuda.matmul.allow_tf32 is value
        assert isinstance(torch.backends.cuda.matmul.allow_tf32, bool)
    finally:
        ember.backends.cuda.matmul.allow_tf32 = old


def test_cpu_capability_is_a_name():
    assert ember.backends.cpu.get_cpu_capability() == ember._C.cpu_isa()


@pytest.mark.parametrize("spec", ["cpu", "cpu:0"])
def test_device(spec):
    d, td = ember.device(spec), torch.device(spec)
    assert d.type == td.type and d.index == td.index and str(d) == str(td)
    assert ember.ones(2).device == "cpu"


@pytest.mark.parametrize("name", ["float64", "float32"])
def test_default_dtype(name):
    old = ember.get_default_dtype()
    try:
        ember.set_default_dtype(getattr(ember, name))
        assert ember.get_default_dtype() == getattr(ember, name)
        assert ember.tensor([1.5]).dtype == getattr(ember, name)
        assert ember.Tensor([1, 2]).dtype == getattr(ember, name)
    finally:
        ember.set_default_dtype(old)


# ---------------------------------------------------------------------------- ember.utils.data

_DATA_NAMES = [
    "Dataset",
    "IterableDataset",
    "DataLoader",
    "TensorDataset",
    "random_split",
    "Subset",
    "ConcatDataset",
    "Sampler",
    "SequentialSampler",
    "RandomSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
    "BatchSampler",
    "default_collate",
    "default_convert",
    "get_worker_info",
]


@pytest.mark.parametrize("name", _DATA_NAMES)
def test_utils_data_has_torch_names(name):
    import torch.utils.data as tdata

    assert hasattr(tdata, name)
    obj = getattr(edata, name)
    assert obj is getattr(ember.data, name)  # one place per concept


def test_utils_data_import_forms():
    from ember.utils.data import DataLoader, TensorDataset

    assert ember.utils.data.DataLoader is DataLoader is ember.data.DataLoader
    assert edata.get_worker_info() is None and TensorDataset is ember.data.TensorDataset


@pytest.mark.parametrize(
    "sample",
    [
        (np.float32(1.5), 3),
        {"x": np.ones(3, np.float32), "y": 2},
        [np.arange(4), np.arange(4) * 2.0],
        (1.0, True),
    ],
)
def test_default_collate_like_torch(sample):
    import torch.utils.data as tdata

    batch = [sample, sample]
    got, want = edata.default_collate(batch), tdata.default_collate(batch)

    def cmp(g, w):
        if isinstance(w, torch.Tensor):
            assert str(g.dtype).split(".")[-1] == str(w.dtype).split(".")[-1]
            np.testing.assert_array_equal(_np(g), w.numpy())
        elif isinstance(w, dict):
            assert g.keys() == w.keys()
            for k in w:
                cmp(g[k], w[k])
        else:  # torch turns tuples of fields into lists; ember keeps the tuple
            assert isinstance(g, (list, tuple)) and len(g) == len(w)
            for a, b in zip(g, w):
                cmp(a, b)

    cmp(got, want)


# ---------------------------------------------------------------------------- legacy constructors

_LEGACY = [
    ("FloatTensor", [1, 2.5]),
    ("DoubleTensor", [[1.0, 2.0], [3.0, 4.0]]),
    ("LongTensor", [1, 2, 3]),
    ("IntTensor", [7, -2]),
    ("BoolTensor", [True, False, True]),
    ("ByteTensor", [0, 200, 255]),
    ("Tensor", [1, 2]),
    ("Tensor", [[0.5], [1.5]]),
    ("LongTensor", [2.7, -1.2]),
]


@pytest.mark.parametrize("cls,data", _LEGACY)
def test_legacy_constructor_data(cls, data):
    got, want = getattr(ember, cls)(data), getattr(torch, cls)(data)
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    np.testing.assert_array_equal(_np(got), want.numpy())


@pytest.mark.parametrize("cls", ["Tensor", "FloatTensor", "LongTensor", "DoubleTensor"])
@pytest.mark.parametrize("sizes", [(2, 3), (4,), (0, 5), ()])
def test_legacy_constructor_sizes(cls, sizes):
    got, want = getattr(ember, cls)(*sizes), getattr(torch, cls)(*sizes)
    assert tuple(got.shape) == tuple(want.shape)
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]


def test_legacy_tensor_of_tensor_and_numpy():
    x = ember.arange(3)
    t = ember.Tensor(x)  # shares, as torch.Tensor(t) does
    assert t.dtype == ember.int64 and t.tolist() == [0, 1, 2]
    a = np.array([1, 2], np.int64)
    assert str(ember.Tensor(a).dtype) == str(torch.Tensor(a).dtype).replace("torch", "ember")
    assert ember.FloatTensor(ember.arange(3)).dtype == ember.float32


@pytest.mark.parametrize(
    "cls,dtype",
    [
        ("FloatTensor", "float32"),
        ("DoubleTensor", "float64"),
        ("LongTensor", "int64"),
        ("IntTensor", "int32"),
        ("BoolTensor", "bool"),
        ("ByteTensor", "uint8"),
    ],
)
def test_legacy_isinstance(cls, dtype):
    x = ember.zeros(2, dtype=getattr(ember, dtype))
    tx = torch.zeros(2, dtype=getattr(torch, dtype))
    assert isinstance(x, getattr(ember, cls)) == isinstance(tx, getattr(torch, cls)) is True
    other = ember.zeros(2, dtype=ember.float16)
    assert not isinstance(other, getattr(ember, cls))
    assert isinstance(x, ember.Tensor) and x.type() == f"ember.{cls}"


def test_legacy_bad_input():
    with pytest.raises(TypeError, match="ember.FloatTensor"):
        ember.FloatTensor([1], [2])
    with pytest.raises(RuntimeError, match="negative size"):
        ember.Tensor(2, -1)
    assert isinstance(enn.Parameter(ember.ones(2)), ember.Tensor)


# ---------------------------------------------------------------------------- optimizers


def _quadratic_run(name, kw, steps, dtype, lib_kw=None):
    """Same init and data in both frameworks; returns (torch params, ember params, opts)."""
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 5)).astype(dtype)
    b0 = rng.standard_normal(5).astype(dtype)
    X = rng.standard_normal((8, 3)).astype(dtype)
    tp = [torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)]
    ep = [ember.tensor(w0, requires_grad=True), ember.tensor(b0, requires_grad=True)]
    topt, eopt = getattr(torch.optim, name)(tp, **kw), getattr(eoptim, name)(ep, **kw)
    tX, eX = torch.tensor(X), ember.tensor(X)
    for _ in range(steps):
        tl = ((tX @ tp[0] + tp[1]).tanh() ** 2).sum()
        topt.zero_grad()
        tl.backward()
        topt.step()
        el = ((eX @ ep[0] + ep[1]).tanh() ** 2).sum()
        eopt.zero_grad()
        el.backward()
        eopt.step()
    return tp, ep, topt, eopt


_OPT_CASES = [
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-5}),
    ("Adadelta", {"weight_decay": 0.1}),
    ("Adadelta", {"maximize": True}),
    ("Adamax", {}),
    ("Adamax", {"lr": 0.01, "betas": (0.8, 0.99)}),
    ("Adamax", {"weight_decay": 0.1}),
    ("Adamax", {"maximize": True}),
    ("NAdam", {}),
    ("NAdam", {"momentum_decay": 0.01}),
    ("NAdam", {"weight_decay": 0.1}),
    ("NAdam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("NAdam", {"maximize": True}),
    ("RAdam", {}),
    ("RAdam", {"lr": 0.01, "betas": (0.9, 0.9)}),
    ("RAdam", {"weight_decay": 0.1}),
    ("RAdam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {"maximize": True}),
    ("ASGD", {}),
    ("ASGD", {"lr": 0.05, "lambd": 1e-3, "alpha": 0.5}),
    ("ASGD", {"t0": 5}),
    ("ASGD", {"weight_decay": 0.1, "t0": 3}),
    ("ASGD", {"maximize": True}),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,kw", _OPT_CASES)
def test_optimizer_matches_torch(name, kw, dtype):
    tp, ep, topt, eopt = _quadratic_run(name, kw, 40, dtype)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    for t, e in zip(tp, ep):
        np.testing.assert_allclose(_np(e), t.detach().numpy(), rtol=tol, atol=tol)
    # the state has PyTorch's keys (so state_dicts port)
    assert set(eopt.state_dict()["state"][0]) == set(topt.state_dict()["state"][0])
    if name == "ASGD":
        np.testing.assert_allclose(
            _np(eopt.state[ep[0]]["ax"]), topt.state[tp[0]]["ax"].numpy(), rtol=tol, atol=tol
        )


@pytest.mark.parametrize("name", ["Adadelta", "Adamax", "NAdam", "RAdam", "ASGD"])
def test_optimizer_defaults_like_torch(name):
    p = [ember.zeros(2, requires_grad=True)]
    ours = getattr(eoptim, name)(p).defaults
    theirs = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)]).defaults
    for k, v in theirs.items():
        if k in ("foreach", "fused", "capturable", "differentiable"):
            continue
        assert k in ours, k
        assert ours[k] == v, (k, ours[k], v)


@pytest.mark.parametrize("name", ["Adadelta", "Adamax", "NAdam", "RAdam", "ASGD"])
def test_optimizer_bad_hparams(name):
    with pytest.raises(ValueError, match="Invalid"):
        getattr(eoptim, name)([ember.zeros(2, requires_grad=True)], lr=-1.0)


def _rosen(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
@pytest.mark.parametrize("history_size", [100, 3])
@pytest.mark.parametrize("max_iter", [20, 4])
def test_lbfgs_matches_torch(line_search, history_size, max_iter):
    x0 = np.array([-1.5, 2.0, 0.5, -0.3])
    tx, ex = torch.tensor(x0, requires_grad=True), ember.tensor(x0, requires_grad=True)
    kw = dict(
        lr=1 if line_search else 0.1,
        history_size=history_size,
        line_search_fn=line_search,
        max_iter=max_iter,
    )
    topt, eopt = torch.optim.LBFGS([tx], **kw), eoptim.LBFGS([ex], **kw)

    def tclosure():
        topt.zero_grad()
        loss = _rosen(tx)
        loss.backward()
        return loss

    def eclosure():
        eopt.zero_grad()
        loss = _rosen(ex)
        loss.backward()
        return loss

    for _ in range(4):
        tl, el = topt.step(tclosure), eopt.step(eclosure)
        assert abs(tl.item() - el.item()) <= 1e-9 * max(1.0, abs(tl.item()))
    np.testing.assert_allclose(_np(ex), tx.detach().numpy(), rtol=1e-9, atol=1e-12)
    for k in ("func_evals", "n_iter"):
        assert eopt.state[ex][k] == topt.state[tx][k]


def test_lbfgs_state_dict_roundtrip():
    def make():
        x = ember.tensor([-1.2, 1.0], dtype=ember.float64, requires_grad=True)
        return x, eoptim.LBFGS([x], max_iter=3, history_size=2)

    def closure_for(x, opt):
        def closure():
            opt.zero_grad()
            loss = _rosen(x)
            loss.backward()
            return loss

        return closure

    x, opt = make()
    for _ in range(3):
        opt.step(closure_for(x, opt))
    buf = io.BytesIO()
    ember.save({"x": x.detach(), "opt": opt.state_dict()}, buf)
    buf.seek(0)
    ck = ember.load(buf)
    x2, opt2 = make()
    with ember.no_grad():
        x2.copy_(ck["x"])
    opt2.load_state_dict(ck["opt"])
    opt.step(closure_for(x, opt))
    opt2.step(closure_for(x2, opt2))
    np.testing.assert_allclose(_np(x2), _np(x), rtol=1e-12)


def test_lbfgs_converges_and_checks():
    x = ember.tensor([-1.2, 1.0], dtype=ember.float64, requires_grad=True)
    opt = eoptim.LBFGS([x], line_search_fn="strong_wolfe", max_iter=100)

    def closure():
        opt.zero_grad()
        loss = _rosen(x)
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    np.testing.assert_allclose(_np(x), [1.0, 1.0], atol=1e-4)
    with pytest.raises(ValueError, match="line_search_fn"):
        eoptim.LBFGS([x], line_search_fn="armijo")
    with pytest.raises(RuntimeError, match="closure"):
        opt.step(None)


# ---------------------------------------------------------------------------- schedulers


def _sched_pair(name, kw, opt="SGD", okw=None, lr=0.1):
    okw = okw or {}
    tp, ep = torch.zeros(2, requires_grad=True), ember.zeros(2, requires_grad=True)
    to = getattr(torch.optim, opt)([tp], lr=lr, **okw)
    eo = getattr(eoptim, opt)([ep], lr=lr, **okw)
    ts = getattr(torch.optim.lr_scheduler, name)(to, **kw)
    es = getattr(eoptim.lr_scheduler, name)(eo, **kw)
    return to, eo, ts, es


def _momentum(group):
    return group["betas"][0] if "betas" in group else group.get("momentum")


_SCHED_CASES = [
    ("CosineAnnealingWarmRestarts", {"T_0": 5}, "SGD", {}),
    ("CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2, "eta_min": 0.01}, "SGD", {}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4}, "SGD", {"momentum": 0.9}),
    (
        "CyclicLR",
        {
            "base_lr": 0.01,
            "max_lr": 0.1,
            "step_size_up": 3,
            "step_size_down": 5,
            "mode": "triangular2",
        },
        "SGD",
        {"momentum": 0.9},
    ),
    (
        "CyclicLR",
        {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3, "mode": "exp_range", "gamma": 0.9},
        "Adam",
        {},
    ),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "cycle_momentum": False}, "Adam", {}),
    (
        "CyclicLR",
        {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2, "scale_fn": lambda x: 0.5**x},
        "SGD",
        {"momentum": 0.5},
    ),
    ("PolynomialLR", {}, "SGD", {}),
    ("PolynomialLR", {"total_iters": 6, "power": 2.0}, "SGD", {}),
    ("PolynomialLR", {"total_iters": 10, "power": 0.5}, "Adam", {}),
]


@pytest.mark.parametrize("name,kw,opt,okw", _SCHED_CASES)
def test_scheduler_matches_torch(name, kw, opt, okw):
    to, eo, ts, es = _sched_pair(name, kw, opt, okw)
    assert es.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-15)
    for _ in range(25):
        to.step()
        eo.step()
        ts.step()
        es.step()
        assert es.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12, abs=1e-15)
        tm, em = _momentum(to.param_groups[0]), _momentum(eo.param_groups[0])
        assert em == pytest.approx(tm, rel=1e-12)


def test_warm_restarts_fractional_epochs():
    to, eo, ts, es = _sched_pair("CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2})
    for e in np.arange(0, 20, 0.3):
        ts.step(float(e))
        es.step(float(e))
        assert es.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12)
        assert es.last_epoch == ts.last_epoch
    with pytest.raises(ValueError, match="non-negative"):
        es.step(-1)


@pytest.mark.parametrize("kw", [{"T_0": 0}, {"T_0": 2, "T_mult": 0}, {"T_0": 1.5}])
def test_warm_restarts_bad_args(kw):
    eo = eoptim.SGD([ember.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError):
        eoptim.lr_scheduler.CosineAnnealingWarmRestarts(eo, **kw)


def test_cyclic_lr_errors_and_state_dict():
    eo = eoptim.Adagrad([ember.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="momentum"):
        eoptim.lr_scheduler.CyclicLR(eo, 0.01, 0.1)
    eo = eoptim.SGD([ember.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="mode"):
        eoptim.lr_scheduler.CyclicLR(eo, 0.01, 0.1, mode="nope")
    s = eoptim.lr_scheduler.CyclicLR(eo, 0.01, 0.1, step_size_up=3)
    for _ in range(4):
        eo.step()
        s.step()
    buf = io.BytesIO()
    ember.save(s.state_dict(), buf)
    buf.seek(0)
    eo2 = eoptim.SGD([ember.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    s2 = eoptim.lr_scheduler.CyclicLR(eo2, 0.01, 0.1, step_size_up=3)
    s2.load_state_dict(ember.load(buf))
    eo.step()
    s.step()
    eo2.step()
    s2.step()
    assert s2.get_last_lr() == pytest.approx(s.get_last_lr())


# ---------------------------------------------------------------------------- optimizer hooks


def _hook_log(lib, optim_mod):
    p = lib.zeros(2, requires_grad=True)
    opt = optim_mod.SGD([p], lr=0.1)
    log = []
    h1 = opt.register_step_pre_hook(lambda o, a, k: log.append(("pre", type(o).__name__, len(a))))
    h2 = opt.register_step_post_hook(lambda o, a, k: log.append(("post", type(o).__name__, len(a))))
    p.grad = lib.ones(2)
    opt.step()
    h1.remove()
    opt.step()
    h2.remove()
    opt.step()
    return log, _np(p)


def test_step_hooks_like_torch():
    tl, tp = _hook_log(torch, torch.optim)
    el, ep = _hook_log(ember, eoptim)
    assert el == tl
    np.testing.assert_allclose(ep, tp.numpy() if hasattr(tp, "numpy") else tp)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "ASGD"])
def test_global_step_hooks(name):
    from ember.optim.optimizer import (
        register_optimizer_step_post_hook,
        register_optimizer_step_pre_hook,
    )

    p = ember.zeros(2, requires_grad=True)
    opt = getattr(eoptim, name)([p], lr=0.1)
    seen = []
    own = opt.register_step_pre_hook(lambda o, a, k: seen.append("own-pre"))
    pre = register_optimizer_step_pre_hook(lambda o, a, k: seen.append("global-pre"))
    post = register_optimizer_step_post_hook(lambda o, a, k: seen.append("global-post"))
    try:
        p.grad = ember.ones(2)
        opt.step()
    finally:
        pre.remove()
        post.remove()
        own.remove()
    assert seen == ["global-pre", "own-pre", "global-post"]  # PyTorch's order
    opt.step()
    assert len(seen) == 3


def test_step_pre_hook_replaces_args():
    p = ember.zeros(1, requires_grad=True)
    opt = eoptim.SGD([p], lr=0.1)
    opt.register_step_pre_hook(lambda o, a, k: ((o,), {"closure": lambda: 7.0}))
    p.grad = ember.ones(1)
    assert opt.step() == 7.0
    opt.register_step_pre_hook(lambda o, a, k: "bad")
    with pytest.raises(RuntimeError, match="new_args, new_kwargs"):
        opt.step()


def test_step_hooks_survive_scheduler_wrapping():
    p = ember.zeros(1, requires_grad=True)
    opt = eoptim.SGD([p], lr=0.1)
    calls = []
    opt.register_step_post_hook(lambda o, a, k: calls.append(1))
    sched = eoptim.lr_scheduler.StepLR(opt, 1)
    p.grad = ember.ones(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
        sched.step()
    assert calls == [1]


# ---------------------------------------------------------------------------- backward hooks


class _Two:
    """A module with two inputs and two outputs, written for both frameworks."""

    @staticmethod
    def make(lib):
        nn = lib.nn

        class Two(nn.Module):
            def forward(self, a, b, scale=2.0):
                return a * b * scale, a + b

        return Two()


def _collect(lib, module, inputs, req, pre_scale=None, replace_input=False):
    log = []

    def hook(m, gi, go):
        log.append(
            (
                "hook",
                [None if g is None else _np(g).copy() for g in gi],
                [_np(g).copy() for g in go],
            )
        )
        if replace_input:
            return tuple(None if g is None else g * 3 for g in gi)
        return None

    def pre(m, go):
        log.append(("pre", [_np(g).copy() for g in go]))
        if pre_scale is not None:
            return tuple(g * pre_scale for g in go)
        return None

    module.register_full_backward_hook(hook)
    module.register_full_backward_pre_hook(pre)
    xs = [lib.tensor(v, requires_grad=r) for v, r in zip(inputs, req)]
    out = module(*xs)
    outs = out if isinstance(out, tuple) else (out,)
    loss = sum((o * o).sum() for o in outs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss.backward()
    grads = [None if x.grad is None else _np(x.grad) for x in xs]
    return log, grads


def _assert_same_logs(a, b):
    assert [e[0] for e in a] == [e[0] for e in b]
    for ea, eb in zip(a, b):
        for xa, xb in zip(ea[1:], eb[1:]):
            assert len(xa) == len(xb)
            for u, v in zip(xa, xb):
                assert (u is None) == (v is None)
                if u is not None:
                    np.testing.assert_allclose(v, u, rtol=1e-6)


@pytest.mark.parametrize("req", [(True,), (False,)])
@pytest.mark.parametrize("pre_scale", [None, 2.0])
@pytest.mark.parametrize("replace_input", [False, True])
def test_full_backward_hooks_linear(req, pre_scale, replace_input):
    w = np.arange(6, dtype=np.float32).reshape(2, 3) / 10
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    mods = []
    for lib in (torch, ember):
        m = lib.nn.Linear(3, 2)
        with lib.no_grad():
            m.weight.copy_(lib.tensor(w))
            m.bias.copy_(lib.tensor(np.array([0.1, -0.2], np.float32)))
        mods.append(m)
    tlog, tg = _collect(torch, mods[0], [x], req, pre_scale, replace_input)
    elog, eg = _collect(ember, mods[1], [x], req, pre_scale, replace_input)
    _assert_same_logs(tlog, elog)
    for a, b in zip(tg, eg):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(b, a, rtol=1e-6)
    np.testing.assert_allclose(_np(mods[1].weight.grad), mods[0].weight.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("req", [(True, True), (True, False), (False, True)])
def test_full_backward_hooks_multi_io(req):
    a = np.array([1.0, -2.0, 3.0], np.float32)
    b = np.array([0.5, 0.25, -1.0], np.float32)
    tlog, tg = _collect(torch, _Two.make(torch), [a, b], req, pre_scale=0.5)
    elog, eg = _collect(ember, _Two.make(ember), [a, b], req, pre_scale=0.5)
    _assert_same_logs(tlog, elog)
    for u, v in zip(tg, eg):
        assert (u is None) == (v is None)
        if u is not None:
            np.testing.assert_allclose(v, u, rtol=1e-6)


def test_full_backward_hook_remove_and_no_grad():
    m = enn.Linear(2, 2)
    calls = []
    h = m.register_full_backward_hook(lambda mod, gi, go: calls.append(1))
    with ember.no_grad():
        m(ember.ones(1, 2))  # no graph: nothing to hook
    m(ember.ones(1, 2, requires_grad=True)).sum().backward()
    h.remove()
    m(ember.ones(1, 2, requires_grad=True)).sum().backward()
    assert calls == [1]
    m.register_full_backward_hook(lambda mod, gi, go: (ember.ones(1), ember.ones(1)))
    with pytest.raises(RuntimeError, match="grad_input"):
        m(ember.ones(1, 2, requires_grad=True)).sum().backward()


def test_backward_hooks_on_sequential_children():
    order = []
    model = enn.Sequential(enn.Linear(3, 4), enn.ReLU(), enn.Linear(4, 1))
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    for i, (m, tm) in enumerate(zip(model, tmodel)):
        m.register_full_backward_hook(lambda mod, gi, go, i=i: order.append(("e", i)))
        tm.register_full_backward_hook(lambda mod, gi, go, i=i: order.append(("t", i)))
    model(ember.randn(2, 3, requires_grad=True)).sum().backward()
    tmodel(torch.randn(2, 3, requires_grad=True)).sum().backward()
    assert [i for k, i in order if k == "e"] == [i for k, i in order if k == "t"] == [2, 1, 0]


# ---------------------------------------------------------------------------- save / load


def _nested():
    return {
        "model": {"w": ember.randn(3, 2), "b": ember.zeros(2, dtype=ember.float64)},
        "list": [1, 2.5, "s", None, True, ember.arange(3)],
        "tuple": (ember.ones(1, dtype=ember.bfloat16), 4),
        "epoch": 7,
        "nan": float("nan"),
        "ints": {3: "three", (1, 2): [ember.tensor([True, False])]},
    }


def _same(a, b):
    if isinstance(a, ember.Tensor):
        assert (
            isinstance(b, ember.Tensor) and a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape)
        )
        np.testing.assert_array_equal(
            _np(a._to_dtype(ember.float32) if a.dtype == ember.bfloat16 else a),
            _np(b._to_dtype(ember.float32) if b.dtype == ember.bfloat16 else b),
        )
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float) and a != a:
        assert b != b
    else:
        assert a == b and type(a) is type(b)


@pytest.mark.parametrize("form", ["str", "path", "bytesio", "fileobj"])
def test_save_load_forms(tmp_path, form):
    obj = _nested()
    f = tmp_path / "ckpt.safetensors"
    if form == "bytesio":
        buf = io.BytesIO()
        ember.save(obj, buf)
        buf.seek(0)
        got = ember.load(buf)
    elif form == "fileobj":
        with open(f, "wb") as fh:
            ember.save(obj, fh)
        with open(f, "rb") as fh:
            got = ember.load(fh)
    else:
        target = str(f) if form == "str" else f
        ember.save(obj, target)
        got = ember.load(target)
    _same(obj, got)


@pytest.mark.parametrize(
    "kw",
    [
        {"map_location": "cpu"},
        {"map_location": ember.device("cpu")},
        {"map_location": lambda s, loc: s},
        {"weights_only": True},
        {"weights_only": False},
        {"mmap": False},
    ],
)
def test_load_accepts_torch_kwargs(tmp_path, kw):
    ember.save({"a": ember.ones(2)}, tmp_path / "x.st")
    assert ember.load(tmp_path / "x.st", **kw)["a"].tolist() == [1.0, 1.0]


def test_torch_load_positional_map_location(tmp_path):
    ember.save({"a": ember.ones(2)}, tmp_path / "x.st")
    assert ember.load(tmp_path / "x.st", "cpu")["a"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    "name",
    ["SGD", "Adam", "AdamW", "Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "RMSprop", "Adagrad"],
)
def test_optimizer_state_dict_roundtrip(name):
    kw = {"momentum": 0.9} if name == "SGD" else {}
    model = enn.Linear(3, 2)
    opt = getattr(eoptim, name)(model.parameters(), lr=0.01, **kw)
    for _ in range(3):
        opt.zero_grad()
        model(ember.randn(4, 3)).pow(2).sum().backward()
        opt.step()
    buf = io.BytesIO()
    ember.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 3}, buf)
    buf.seek(0)
    ck = ember.load(buf)
    model2 = enn.Linear(3, 2)
    model2.load_state_dict(ck["model"])
    opt2 = getattr(eoptim, name)(model2.parameters(), lr=0.01, **kw)
    opt2.load_state_dict(ck["optim"])
    x = ember.randn(4, 3)
    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        m(x).pow(2).sum().backward()
        o.step()
    np.testing.assert_allclose(_np(model2.weight), _np(model.weight), rtol=1e-6)
    assert ck["epoch"] == 3


def test_torch_optimizer_state_dict_loads_into_ember():
    tp = torch.nn.Parameter(torch.randn(3))
    topt = torch.optim.NAdam([tp], lr=0.01)
    tp.grad = torch.ones(3)
    topt.step()
    ep = ember.tensor(tp.detach().numpy(), requires_grad=True)
    eopt = eoptim.NAdam([ep], lr=0.01)
    eopt.load_state_dict(topt.state_dict())
    g = np.array([0.3, -0.1, 2.0], np.float32)
    tp.grad = torch.tensor(g)
    topt.step()
    ep.grad = ember.tensor(g)
    eopt.step()
    np.testing.assert_allclose(_np(ep), tp.detach().numpy(), rtol=1e-6)


def test_load_directory_says_so(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        ember.load(tmp_path)


def _raw_safetensors(header: dict, payload: bytes) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + payload


def test_load_rejects_non_dtype_names():
    meta = {"format": 1, "tree": {"d": {"__dtype__": "manual_seed"}}, "crc32": {}}
    data = _raw_safetensors({"__metadata__": {"__ember__": json.dumps(meta)}}, b"")
    with pytest.raises(ValueError, match="not a dtype name"):
        ember.load(io.BytesIO(data))
    meta["tree"]["d"]["__dtype__"] = "ember.float64"
    data = _raw_safetensors({"__metadata__": {"__ember__": json.dumps(meta)}}, b"")
    assert ember.load(io.BytesIO(data)) == {"d": ember.float64}


@pytest.mark.parametrize("nbytes", [12, 20, 0])
def test_load_checks_tensor_byte_size(nbytes):
    header = {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, nbytes]}}
    with pytest.raises(ValueError, match="corrupted"):
        ember.load(io.BytesIO(_raw_safetensors(header, b"\0" * nbytes)))


def test_killed_save_temp_is_cleaned(tmp_path):
    target = tmp_path / "model.safetensors"
    # what a save killed mid-write leaves: a temp named after a process that no longer exists
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    orphan = tmp_path / f".model.safetensors.{pid}.abc123.tmp"
    orphan.write_bytes(b"partial")
    live = tmp_path / f".model.safetensors.{os.getppid()}.xyz.tmp"  # a live writer: kept
    live.write_bytes(b"in progress")
    other = tmp_path / ".other.safetensors.1.a.tmp"
    other.write_bytes(b"x")
    ember.save({"a": ember.ones(1)}, target)
    assert not orphan.exists() and live.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".model")) == [live.name]


def test_save_rejects_unknown_kwargs(tmp_path):
    ember.save({"a": ember.ones(1)}, tmp_path / "a.st", pickle_protocol=2)
    with pytest.raises(TypeError, match="unexpected"):
        ember.save({"a": ember.ones(1)}, tmp_path / "a.st", compress=True)


# ---------------------------------------------------------------------------- data loading


class _Squares(edata.Dataset):
    def __init__(self, n=23):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i % 7 == 0:
            time.sleep(0.002)  # uneven work: workers finish out of order
        return np.array([i, i * i], np.float64), i


@pytest.mark.parametrize("num_workers", [1, 2, 3])
@pytest.mark.parametrize("shuffle", [False, True])
def test_workers_same_batches_as_main_process(num_workers, shuffle):
    def batches(nw):
        g = ember.Generator().manual_seed(5)
        dl = edata.DataLoader(
            _Squares(), batch_size=4, shuffle=shuffle, num_workers=nw, generator=g
        )
        return [(_np(x).copy(), _np(y).copy()) for x, y in dl]

    ref, got = batches(0), batches(num_workers)
    assert len(ref) == len(got) == 6
    for (a, b), (c, d) in zip(ref, got):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_workers_spawn_context():
    x = ember.arange(10.0).reshape(10, 1)._to_dtype(ember.bfloat16)
    dl = edata.DataLoader(
        edata.TensorDataset(x, ember.arange(10)),
        batch_size=4,
        num_workers=2,
        multiprocessing_context="spawn",
    )
    got = [(xb.dtype, yb.tolist()) for xb, yb in dl]
    assert got == [
        (ember.bfloat16, [0, 1, 2, 3]),
        (ember.bfloat16, [4, 5, 6, 7]),
        (ember.bfloat16, [8, 9]),
    ]


def test_workers_match_torch_batches():
    import torch.utils.data as tdata

    ds = _Squares()
    tb = [x.numpy() for x, _ in tdata.DataLoader(ds, batch_size=5, num_workers=2)]
    eb = [_np(x) for x, _ in edata.DataLoader(ds, batch_size=5, num_workers=2)]
    assert len(tb) == len(eb)
    for a, b in zip(tb, eb):
        np.testing.assert_array_equal(a, b)


class _Shards(edata.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = edata.get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


class _TShards(torch.utils.data.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


@pytest.mark.parametrize("num_workers", [0, 2, 3])
@pytest.mark.parametrize("batch_size", [2, None])
def test_iterable_dataset_workers_like_torch(num_workers, batch_size):
    def values(loader):
        return [b.tolist() if hasattr(b, "tolist") else b for b in loader]

    e = values(edata.DataLoader(_Shards(11), batch_size=batch_size, num_workers=num_workers))
    t = values(
        torch.utils.data.DataLoader(_TShards(11), batch_size=batch_size, num_workers=num_workers)
    )
    assert e == t


class _WhoAmI(edata.Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        info = edata.get_worker_info()
        return np.array(
            [
                info.id,
                info.num_workers,
                info.seed % 1000003,
                int(ember.randint(0, 10**9, (1,)).item()),
            ]
        )


def test_worker_info_and_seeding():
    g = ember.Generator().manual_seed(1)
    rows = np.concatenate(
        [_np(b) for b in edata.DataLoader(_WhoAmI(), batch_size=1, num_workers=2, generator=g)]
    )
    assert rows[:, 0].tolist() == [0, 1, 0, 1, 0, 1] and set(rows[:, 1]) == {2}
    seeds = {int(r[0]): int(r[2]) for r in rows}
    assert (seeds[1] - seeds[0]) % 1000003 == 1  # worker i gets base_seed + i
    assert len(set(rows[:, 3])) == 6  # each worker's ember RNG is seeded differently
    g = ember.Generator().manual_seed(1)
    again = np.concatenate(
        [_np(b) for b in edata.DataLoader(_WhoAmI(), batch_size=1, num_workers=2, generator=g)]
    )
    np.testing.assert_array_equal(rows, again)  # and reproducibly


def _init_fn(worker_id):
    os.environ["EMBER_TEST_WORKER"] = str(worker_id * 10)


class _Env(edata.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return int(os.environ.get("EMBER_TEST_WORKER", "-1"))


def test_worker_init_fn_runs_in_each_worker():
    out = [
        int(b)
        for b in edata.DataLoader(_Env(), batch_size=None, num_workers=2, worker_init_fn=_init_fn)
    ]
    assert out == [0, 10, 0, 10]
    assert "EMBER_TEST_WORKER" not in os.environ


class _Fails(edata.Dataset):
    def __len__(self):
        return 20

    def __getitem__(self, i):
        if i == 13:
            raise KeyError(f"bad item {i}")
        return i


@pytest.mark.parametrize("num_workers", [1, 2])
def test_worker_error_names_worker(num_workers):
    with pytest.raises(KeyError, match=r"worker process \d") as info:
        list(edata.DataLoader(_Fails(), batch_size=2, num_workers=num_workers))
    assert "bad item 13" in str(info.value)


class _Dies(edata.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            os._exit(3)
        return i


def test_worker_killed_is_reported():
    with pytest.raises(RuntimeError, match="exited unexpectedly with exit code 3"):
        list(edata.DataLoader(_Dies(), batch_size=1, num_workers=2))


class _Slow(edata.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(2)
        return i


def test_worker_timeout():
    with pytest.raises(RuntimeError, match="timed out"):
        list(edata.DataLoader(_Slow(), batch_size=1, num_workers=1, timeout=0.2))


def test_persistent_workers_and_shutdown():
    import multiprocessing as mp

    dl = edata.DataLoader(
        _Squares(9),
        batch_size=4,
        num_workers=2,
        persistent_workers=True,
        prefetch_factor=3,
        pin_memory=True,
    )
    epochs = [[_np(y).tolist() for _, y in dl] for _ in range(3)]
    assert epochs[0] == epochs[1] == epochs[2] == [[0, 1, 2, 3], [4, 5, 6, 7], [8]]
    pids = {w.pid for w in dl._persistent_iter._workers}
    list(dl)
    assert {w.pid for w in dl._persistent_iter._workers} == pids  # the same processes
    it = iter(dl)
    next(it)  # leave mid-epoch, then start again: a fresh set of workers
    assert [_np(y).tolist() for _, y in dl][0] == [0, 1, 2, 3]
    dl._persistent_iter.close()
    deadline = time.time() + 10
    while mp.active_children() and time.time() < deadline:
        time.sleep(0.05)
    assert not [c for c in mp.active_children() if c.name.startswith("ember-data-worker")]


def test_break_early_stops_workers():
    import multiprocessing as mp

    it = iter(edata.DataLoader(_Squares(200), batch_size=2, num_workers=2))
    next(it)
    it.close()
    assert not [c for c in mp.active_children() if c.name.startswith("ember-data-worker")]


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"persistent_workers": True}, "persistent_workers"),
        ({"prefetch_factor": 2}, "prefetch_factor"),
        ({"num_workers": -1}, "num_workers"),
    ],
)
def test_worker_option_errors_like_torch(kw, match):
    with pytest.raises(ValueError, match=match):
        torch.utils.data.DataLoader(list(range(4)), **kw)
    with pytest.raises(ValueError, match=match):
        edata.DataLoader(list(range(4)), **kw)


def test_random_sampler_replacement_is_lazy():
    s = edata.RandomSampler(
        range(10), replacement=True, num_samples=10**15, generator=ember.Generator().manual_seed(0)
    )
    it = iter(s)
    first = [next(it) for _ in range(5000)]
    assert len(s) == 10**15 and all(0 <= i < 10 for i in first) and len(set(first)) == 10
    ts = torch.utils.data.RandomSampler(range(10), replacement=True, num_samples=10**15)
    assert len(ts) == len(s)


@pytest.mark.parametrize("replacement", [True, False])
@pytest.mark.parametrize("num_samples", [None, 7, 25])
def test_random_sampler_counts_like_torch(replacement, num_samples):
    kw = dict(replacement=replacement, num_samples=num_samples)
    e = list(edata.RandomSampler(range(10), **kw, generator=ember.Generator().manual_seed(0)))
    t = list(torch.utils.data.RandomSampler(range(10), **kw))
    assert len(e) == len(t)
    if not replacement:
        # without replacement: every full pass is a permutation, as in PyTorch
        assert (
            sorted(e[:10]) == sorted(t[:10]) == list(range(min(10, len(e))))[: len(e[:10])]
            or len(e) < 10
        )


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.SequentialSampler(range(7)),
        lambda m: m.BatchSampler(m.SequentialSampler(range(7)), 3, False),
        lambda m: m.BatchSampler(m.SequentialSampler(range(7)), 3, True),
    ],
)
def test_deterministic_samplers_like_torch(make):
    assert list(make(edata)) == list(make(torch.utils.data))
    assert len(make(edata)) == len(make(torch.utils.data))


def test_random_split_and_subset_like_torch():
    parts = edata.random_split(range(10), [0.3, 0.7], generator=ember.Generator().manual_seed(0))
    tparts = torch.utils.data.random_split(range(10), [0.3, 0.7])
    assert [len(p) for p in parts] == [len(p) for p in tparts]
    assert sorted(list(parts[0]) + list(parts[1])) == list(range(10))
    cat = edata.ConcatDataset([range(3), range(5)])
    tcat = torch.utils.data.ConcatDataset([range(3), range(5)])
    assert [cat[i] for i in range(len(cat))] == [tcat[i] for i in range(len(tcat))]
