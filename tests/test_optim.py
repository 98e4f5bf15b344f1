"""ember.optim: every optimizer's 20-step trajectory on a fixed problem matches torch.optim's
within 1e-5; param groups, state_dict (PyTorch format, round trips, resume), zero_grad,
the fused C++ kernels directly, and bad-input errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.optim as optim
from conftest import requires_torch, torch

RNG = np.random.default_rng(1234)
X = RNG.standard_normal((32, 6)).astype(np.float32)
Y = RNG.standard_normal((32, 3)).astype(np.float32)
W0 = (RNG.standard_normal((6, 3)) * 0.5).astype(np.float32)
B0 = (RNG.standard_normal(3) * 0.1).astype(np.float32)
V0 = (RNG.standard_normal((3, 3)) * 0.3).astype(np.float32)  # a second layer, in its own group


def _problem(lib, dtype=np.float32):
    T = (
        (lambda a: torch.tensor(a.astype(dtype)))
        if lib is torch
        else (lambda a: ember.tensor(a.astype(dtype)))
    )
    W, b, V = (T(a).requires_grad_() for a in (W0, B0, V0))
    x, y = T(X), T(Y)

    def loss_fn():
        h = (x @ W + b).tanh()
        return ((h @ V - y) ** 2).mean() + 0.01 * (W**2).sum()

    return [W, b, V], loss_fn


def _trajectory(
    lib, opt_name, kwargs, steps=20, groups=False, dtype=np.float32, sparse_grads=False
):
    params, loss_fn = _problem(lib, dtype)
    mod = torch.optim if lib is torch else optim
    if groups:
        spec = [{"params": params[:2]}, {"params": [params[2]], "lr": kwargs.get("lr", 1e-2) * 0.5}]
        opt = getattr(mod, opt_name)(spec, **kwargs)
    else:
        opt = getattr(mod, opt_name)(params, **kwargs)
    losses, traj = [], []
    for step in range(steps):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        if sparse_grads and step % 3 == 1:
            params[
                1
            ].grad = None  # a param without a grad this step is skipped (and its step count)
        opt.step()
        losses.append(float(loss.detach()))
        traj.append([p.detach().numpy().copy() for p in params])
    return losses, traj, opt


CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "maximize": True}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.1}),
    ("Adam", {}),
    ("Adam", {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6}),
    ("Adam", {"lr": 0.05, "amsgrad": True}),
    ("Adam", {"lr": 0.05, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.05, "maximize": True, "amsgrad": True, "weight_decay": 0.05}),
    ("Adam", {"lr": 0.05, "betas": (0.3, 0.9)}),  # beta1 < 0.5: the other branch of lerp
    ("AdamW", {}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.05, "amsgrad": True, "weight_decay": 0.3}),
    ("AdamW", {"lr": 0.05, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1, "alpha": 0.9}),
    ("RMSprop", {"lr": 0.01, "maximize": True, "eps": 1e-4}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05}),
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-6}),
    ("Adagrad", {"lr": 0.1, "maximize": True}),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in CASES]


@requires_torch
@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_trajectory_matches_torch(name, kwargs):
    e_losses, e_traj, _ = _trajectory(ember, name, kwargs)
    t_losses, t_traj, _ = _trajectory(torch, name, kwargs)
    for step, (es, ts) in enumerate(zip(e_traj, t_traj)):
        for i, (e, t) in enumerate(zip(es, ts)):
            np.testing.assert_allclose(e, t, rtol=1e-5, atol=1e-5, err_msg=f"step {step} param {i}")
    np.testing.assert_allclose(e_losses, t_losses, rtol=1e-5, atol=1e-6)
    if not kwargs.get("maximize"):
        assert e_losses[-1] < e_losses[0]


@requires_torch
@pytest.mark.parametrize(
    "name,kwargs",
    [CASES[1], CASES[8], CASES[13], CASES[19], CASES[23]],
    ids=[IDS[1], IDS[8], IDS[13], IDS[19], IDS[23]],
)
def test_trajectory_param_groups_and_missing_grads(name, kwargs):
    e = _trajectory(ember, name, kwargs, groups=True, sparse_grads=True)
    t = _trajectory(torch, name, kwargs, groups=True, sparse_grads=True)
    for es, ts in zip(e[1], t[1]):
        for a, b in zip(es, ts):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    # per-param step counts, PyTorch's state layout
    e_sd, t_sd = e[2].state_dict(), t[2].state_dict()
    assert sorted(e_sd["state"]) == sorted(t_sd["state"])
    for k in t_sd["state"]:
        assert sorted(e_sd["state"][k]) == sorted(t_sd["state"][k])
        for key, tv in t_sd["state"][k].items():
            ev = e_sd["state"][k][key]
            if tv is None:
                assert ev is None
            else:
                # optimizer state is more rounding-sensitive than the params (centered RMSprop's
                # sqrt(v - g_avg^2) cancels): 1e-4 relative
                np.testing.assert_allclose(
                    ev.numpy(), tv.numpy(), rtol=1e-4, atol=1e-6, err_msg=f"{k}/{key}"
                )
    for eg, tg in zip(e_sd["param_groups"], t_sd["param_groups"]):
        assert eg["params"] == tg["params"]
        for key in ("lr", "weight_decay", "maximize"):
            assert eg[key] == tg[key]


@requires_torch
@pytest.mark.parametrize(
    "name,kwargs",
    [CASES[2], CASES[9], CASES[14], CASES[19], CASES[22]],
    ids=[IDS[2], IDS[9], IDS[14], IDS[19], IDS[22]],
)
def test_float64_trajectory(name, kwargs):
    e = _trajectory(ember, name, kwargs, dtype=np.float64)
    t = _trajectory(torch, name, kwargs, dtype=np.float64)
    for es, ts in zip(e[1], t[1]):
        for a, b in zip(es, ts):
            assert a.dtype == np.float64
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@requires_torch
@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("SGD", {"lr": 0.01, "momentum": 0.9, "nesterov": True}),
        ("AdamW", {"lr": 0.01, "amsgrad": True}),
        ("Adam", {"weight_decay": 0.1}),
        ("RMSprop", {"momentum": 0.9, "centered": True}),
        ("Adagrad", {"lr_decay": 0.01}),
    ],
)
def test_large_tensors_threaded(name, kwargs):
    """Tensors bigger than one kernel chunk (the multi-threaded path) and odd sizes."""
    rng = np.random.default_rng(5)
    shapes = [(300, 700), (70001,), (3,), (1,)]
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(3)]
    results = []
    for lib, mod in ((ember, optim), (torch, torch.optim)):
        T = ember.tensor if lib is ember else torch.tensor
        ps = [T(a.copy()).requires_grad_() for a in init]
        opt = getattr(mod, name)(ps, **kwargs)
        for gs in grads:
            for p, g in zip(ps, gs):
                p.grad = T(g.copy())
            opt.step()
        results.append([p.detach().numpy() for p in ps])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------ state dict


def _model():
    ember.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))


def _steps(model, opt, n, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        x = ember.tensor(rng.standard_normal((16, 4)).astype(np.float32))
        y = ember.tensor(rng.standard_normal((16, 2)).astype(np.float32))
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("SGD", {"lr": 0.1, "momentum": 0.9}),
        ("Adam", {"amsgrad": True}),
        ("AdamW", {}),
        ("RMSprop", {"centered": True, "momentum": 0.5}),
        ("Adagrad", {}),
    ],
)
def test_state_dict_resume_equals_uninterrupted(name, kwargs):
    m1 = _model()
    o1 = getattr(optim, name)(m1.parameters(), **kwargs)
    _steps(m1, o1, 5)
    # checkpoint: copies of model and optimizer state
    msd = {k: v.clone() for k, v in m1.state_dict().items()}
    osd = copy.deepcopy(o1.state_dict())
    _steps(m1, o1, 5, seed=1)
    m2 = _model()
    m2.load_state_dict(msd)
    o2 = getattr(optim, name)(m2.parameters(), **kwargs)
    o2.load_state_dict(osd)
    _steps(m2, o2, 5, seed=1)
    for (n, a), (_, b) in zip(m1.state_dict().items(), m2.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=n)


def test_state_dict_format():
    m = _model()
    opt = optim.Adam(
        [{"params": m[0].parameters()}, {"params": m[2].parameters(), "lr": 0.01}], lr=0.1
    )
    _steps(m, opt, 2)
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2, 3]]
    assert sd["param_groups"][1]["lr"] == 0.01 and sd["param_groups"][0]["lr"] == 0.1
    assert sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert sorted(sd["state"]) == [0, 1, 2, 3]
    st = sd["state"][0]
    assert sorted(st) == ["exp_avg", "exp_avg_sq", "step"]
    assert st["step"].dtype == ember.float32 and st["step"].ndim == 0 and float(st["step"]) == 2.0
    assert st["exp_avg"].shape == (8, 4)


def test_load_state_dict_casts_and_copies():
    m = _model()
    opt = optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    _steps(m, opt, 1)
    sd = opt.state_dict()
    sd_np = {
        "state": {
            str(k): {"momentum_buffer": v["momentum_buffer"].numpy().astype(np.float64)}
            for k, v in sd["state"].items()
        },
        "param_groups": copy.deepcopy(sd["param_groups"]),
    }
    sd_np["param_groups"][0]["lr"] = 0.5
    opt2 = optim.SGD(_model().parameters(), lr=0.1, momentum=0.9)
    opt2.load_state_dict(sd_np)
    p0 = opt2.param_groups[0]["params"][0]
    buf = opt2.state[p0]["momentum_buffer"]
    assert buf.dtype == ember.float32
    np.testing.assert_allclose(buf.numpy(), sd["state"][0]["momentum_buffer"].numpy(), rtol=1e-6)
    assert opt2.param_groups[0]["lr"] == 0.5
    assert buf._storage_ptr() != sd["state"][0]["momentum_buffer"]._storage_ptr()


@requires_torch
def test_load_torch_optimizer_state_dict():
    """A torch.optim state_dict (torch tensors) loads into the ember optimizer and continues
    the same trajectory."""
    kwargs = {"lr": 0.05, "amsgrad": True}
    tp, tloss = _problem(torch)
    ep, eloss = _problem(ember)
    topt = torch.optim.Adam(tp, **kwargs)
    for _ in range(5):
        topt.zero_grad()
        tloss().backward()
        topt.step()
    with ember.no_grad():
        for e, t in zip(ep, tp):
            e.copy_(ember.tensor(t.detach().numpy()))
    eopt = optim.Adam(ep, **kwargs)
    eopt.load_state_dict(topt.state_dict())
    for _ in range(5):
        topt.zero_grad()
        tloss().backward()
        topt.step()
        eopt.zero_grad()
        eloss().backward()
        eopt.step()
    for e, t in zip(ep, tp):
        np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_load_state_dict_errors():
    m = _model()
    opt = optim.SGD(m.parameters(), lr=0.1)
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="number of parameter groups"):
        optim.SGD(
            [{"params": m[0].parameters()}, {"params": m[2].parameters()}], lr=0.1
        ).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.SGD(m[0].parameters(), lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError):
        opt.load_state_dict({"state": {}})


# ----------------------------------------------------------------------------- base class


def test_zero_grad():
    m = _model()
    opt = optim.SGD(m.parameters(), lr=0.1)
    m(ember.randn(2, 4)).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and float(p.grad.abs().sum()) == 0 for p in m.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_add_param_group_and_defaults():
    a, b = nn.Parameter(ember.ones(2)), nn.Parameter(ember.ones(3))
    opt = optim.Adam([a], lr=0.1, weight_decay=0.01)
    opt.add_param_group({"params": b, "lr": 0.5})
    assert len(opt.param_groups) == 2
    g = opt.param_groups[1]
    assert g["lr"] == 0.5 and g["weight_decay"] == 0.01 and g["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    assert "Parameter Group 1" in repr(opt) and "lr: 0.5" in repr(opt)


def test_named_params():
    m = _model()
    opt = optim.SGD(m.named_parameters(), lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    _steps(m, opt, 1)


def test_closure_and_skip_no_grad_params():
    p = nn.Parameter(ember.tensor([1.0, 2.0]))
    q = nn.Parameter(ember.tensor([5.0]))
    opt = optim.SGD([p, q], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss) == 5.0
    np.testing.assert_allclose(p.detach().numpy(), [0.0, 0.0])
    np.testing.assert_allclose(q.detach().numpy(), [5.0])
    assert q not in opt.state


def test_constructor_errors():
    p = nn.Parameter(ember.ones(2))
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD([p], lr=-1.0)
    with pytest.raises(ValueError, match="momentum"):
        optim.SGD([p], lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="epsilon"):
        optim.AdamW([p], eps=-1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        optim.RMSprop([p], weight_decay=-1.0)
    with pytest.raises(ValueError, match="lr_decay"):
        optim.Adagrad([p], lr_decay=-1.0)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError):
        optim.SGD([ember.tensor([1, 2])], lr=0.1)
    with pytest.raises(ValueError, match="duplicate"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(TypeError, match="ordered"):
        optim.SGD({p}, lr=0.1)


def test_step_bumps_version_and_keeps_identity():
    m = nn.Linear(3, 2)
    opt = optim.AdamW(m.parameters(), lr=0.1)
    w = m.weight
    v0 = w._version
    m(ember.randn(4, 3)).sum().backward()
    opt.step()
    assert m.weight is w and w._version > v0 and w.is_leaf and w.grad_fn is None


def test_step_refuses_inplace_use_of_saved_param():
    """Backward after an optimizer step that changed a tensor it saved: a clear error."""
    w = nn.Parameter(ember.randn(3, 3))
    opt = optim.SGD([w], lr=0.1)
    loss = (w * w).sum()
    w.grad = ember.ones(3, 3)
    opt.step()
    with pytest.raises(RuntimeError):
        loss.backward()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_params(dtype):
    dt = getattr(ember, dtype)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((40, 30)).astype(np.float32)
    g = rng.standard_normal((40, 30)).astype(np.float32) * 0.1
    ref = nn.Parameter(ember.tensor(a))
    half = nn.Parameter(ember.tensor(a).to(dt))
    ro, ho = optim.AdamW([ref], lr=0.01), optim.AdamW([half], lr=0.01)
    for _ in range(3):
        ref.grad = ember.tensor(g)
        half.grad = ember.tensor(g).to(dt)
        ro.step()
        ho.step()
    assert half.dtype == dt and ho.state[half]["exp_avg"].dtype == dt
    np.testing.assert_allclose(
        half.detach().float().numpy(), ref.detach().numpy(), atol=0.05, rtol=0.02
    )


# -------------------------------------------------------------------------- fused kernels


class TestFusedKernels:
    def test_adamw_kernel_direct(self):
        p = ember.ones(5)
        g = ember.full((5,), 0.5)
        m, v, step = ember.zeros(5), ember.zeros(5), ember.zeros([])
        ember._C._adamw_step(
            [p], [g], [m], [v], [], [step], 0.1, 0.9, 0.999, 1e-8, 0.01, False, False
        )
        assert float(step) == 1.0
        # first step: m_hat = g, v_hat = g^2 -> p = p*(1 - lr*wd) - lr * sign(g)
        np.testing.assert_allclose(p.numpy(), np.full(5, 1 * (1 - 0.001) - 0.1), rtol=1e-5)
        np.testing.assert_allclose(m.numpy(), np.full(5, 0.05), rtol=1e-6)
        np.testing.assert_allclose(v.numpy(), np.full(5, 0.00025), rtol=1e-5)

    def test_grad_non_contiguous_and_dtype_cast(self):
        p = ember.zeros(3, 4)
        g = ember.ones(4, 3).t()  # non-contiguous grad is fine (read only)
        ember._C._sgd_step([p], [g], [], [], 0.5, 0.0, 0.0, 0.0, False, False)
        np.testing.assert_allclose(p.numpy(), np.full((3, 4), -0.5))

    def test_errors(self):
        p = ember.zeros(3, 4)
        with pytest.raises(ValueError, match=r"grads\[0\] has shape \[4, 3\]"):
            ember._C._sgd_step([p], [ember.ones(4, 3)], [], [], 0.1, 0.0, 0.0, 0.0, False, False)
        with pytest.raises(ValueError, match="contiguous"):
            ember._C._sgd_step(
                [ember.zeros(4, 3).t()],
                [ember.ones(3, 4)],
                [],
                [],
                0.1,
                0.0,
                0.0,
                0.0,
                False,
                False,
            )
        with pytest.raises(ValueError, match="2 params but 1 grads"):
            ember._C._sgd_step([p, p], [ember.ones(3, 4)], [], [], 0.1, 0.0, 0.0, 0.0, False, False)
        with pytest.raises(ValueError, match="exp_avgs"):
            ember._C._adam_step(
                [p],
                [ember.ones(3, 4)],
                [],
                [],
                [],
                [ember.zeros([])],
                0.1,
                0.9,
                0.99,
                1e-8,
                0.0,
                False,
                False,
            )
        with pytest.raises(ValueError, match=r"exp_avg_sqs\[0\] has shape"):
            ember._C._adam_step(
                [p],
                [ember.ones(3, 4)],
                [ember.zeros(3, 4)],
                [ember.zeros(4)],
                [],
                [ember.zeros([])],
                0.1,
                0.9,
                0.99,
                1e-8,
                0.0,
                False,
                False,
            )
        with pytest.raises(TypeError, match="dtype"):
            ember._C._adam_step(
                [p],
                [ember.ones(3, 4)],
                [ember.zeros(3, 4, dtype=ember.float64)],
                [ember.zeros(3, 4)],
                [],
                [ember.zeros([])],
                0.1,
                0.9,
                0.99,
                1e-8,
                0.0,
                False,
                False,
            )
        with pytest.raises(TypeError, match="floating point"):
            ember._C._sgd_step(
                [ember.zeros(3, dtype=ember.int64)],
                [ember.ones(3)],
                [],
                [],
                0.1,
                0.0,
                0.0,
                0.0,
                False,
                False,
            )
        with pytest.raises(ValueError, match="momentum_buffers"):
            ember._C._sgd_step([p], [ember.ones(3, 4)], [], [], 0.1, 0.9, 0.0, 0.0, False, False)
        with pytest.raises(ValueError, match="state_steps"):
            ember._C._adagrad_step(
                [p],
                [ember.ones(3, 4)],
                [ember.zeros(3, 4)],
                [ember.zeros(2)],
                0.1,
                0.0,
                0.0,
                1e-10,
                False,
            )

    def test_multi_tensor_norm_scale_clamp(self):
        rng = np.random.default_rng(0)
        arrs = [rng.standard_normal(s).astype(np.float32) for s in [(100, 500), (7,), (1,)]]
        ts = [ember.tensor(a) for a in arrs]
        flat = np.concatenate([a.ravel() for a in arrs]).astype(np.float64)
        assert ember._C._multi_tensor_norm(ts, 2.0) == pytest.approx(np.linalg.norm(flat), rel=1e-9)
        assert ember._C._multi_tensor_norm(ts, 1.0) == pytest.approx(np.abs(flat).sum(), rel=1e-9)
        assert ember._C._multi_tensor_norm(ts, float("inf")) == pytest.approx(np.abs(flat).max())
        assert ember._C._multi_tensor_norm(ts, 3.0) == pytest.approx(
            (np.abs(flat) ** 3).sum() ** (1 / 3), rel=1e-9
        )
        assert ember._C._multi_tensor_norm([], 2.0) == 0.0
        v = ts[0]._version
        ember._C._multi_tensor_scale_(ts, 0.5)
        assert ts[0]._version > v
        np.testing.assert_allclose(ts[1].numpy(), arrs[1] * 0.5)
        ember._C._multi_tensor_clamp_(ts, -0.1, 0.2)
        np.testing.assert_allclose(ts[0].numpy(), np.clip(arrs[0] * 0.5, -0.1, 0.2))
        with pytest.raises(ValueError):
            ember._C._multi_tensor_norm(ts, -1.0)
