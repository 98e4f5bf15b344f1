"""Losses (functional and module forms) against PyTorch: values and input gradients within
1e-5 in float32, every reduction, the options, and bad-input errors."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from conftest import requires_torch, torch

pytestmark = requires_torch

RTOL, ATOL = 1e-5, 1e-5
REDUCTIONS = ["none", "mean", "sum"]


def _randn(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def _check(e_fn, t_fn, inputs, grad_idx=(0,), rtol=RTOL, atol=ATOL):
    """Run both losses on the same NumPy inputs; compare values and grads of inputs[grad_idx]."""
    e_in, t_in = [], []
    for i, a in enumerate(inputs):
        if a is None:
            e_in.append(None)
            t_in.append(None)
            continue
        e, t = ember.tensor(a), torch.from_numpy(np.array(a, copy=True))
        if i in grad_idx:
            e.requires_grad_(True)
            t.requires_grad_(True)
        e_in.append(e)
        t_in.append(t)
    eo, to = e_fn(*e_in), t_fn(*t_in)
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(3).standard_normal(tuple(to.shape)).astype(np.float32)
    eo.backward(ember.tensor(g))
    to.backward(torch.from_numpy(g))
    for i in grad_idx:
        np.testing.assert_allclose(
            e_in[i].grad.numpy(),
            t_in[i].grad.numpy(),
            rtol=rtol,
            atol=atol,
            err_msg=f"grad of input {i}",
        )
    return eo, to


TF = None if torch is None else torch.nn.functional


# ------------------------------------------------------------------------------ cross entropy


class TestCrossEntropy:
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    @pytest.mark.parametrize("weighted", [False, True])
    @pytest.mark.parametrize("smoothing", [0.0, 0.1])
    @pytest.mark.parametrize("ignore", [False, True])
    def test_class_indices(self, reduction, weighted, smoothing, ignore):
        x = _randn(8, 5, scale=3.0)
        y = np.random.default_rng(1).integers(0, 5, 8)
        if ignore:
            y[[1, 4]] = -100
        w = np.abs(_randn(5, seed=2)) + 0.1 if weighted else None
        kw = dict(reduction=reduction, label_smoothing=smoothing)
        _check(
            lambda x, y, w: F.cross_entropy(x, y, w, **kw),
            lambda x, y, w: TF.cross_entropy(x, y, w, **kw),
            [x, y, w],
        )

    @pytest.mark.parametrize("reduction", REDUCTIONS)
    def test_custom_ignore_index_and_module(self, reduction):
        x, y = _randn(6, 4), np.array([0, 3, 2, 2, 1, 3])
        em = nn.CrossEntropyLoss(ignore_index=2, reduction=reduction, label_smoothing=0.2)
        tm = torch.nn.CrossEntropyLoss(ignore_index=2, reduction=reduction, label_smoothing=0.2)
        _check(em, tm, [x, y])

    @pytest.mark.parametrize("shape", [(5,), (3, 4, 6), (2, 4, 3, 3)])
    def test_nd_and_unbatched(self, shape):
        x = _randn(*shape)
        cdim = 0 if len(shape) == 1 else 1
        tshape = shape[:cdim] + shape[cdim + 1 :]
        y = np.random.default_rng(1).integers(0, shape[cdim], tshape)
        for reduction in REDUCTIONS:
            _check(
                lambda x, y, r=reduction: F.cross_entropy(x, y, reduction=r),
                lambda x, y, r=reduction: TF.cross_entropy(x, y, reduction=r),
                [x, y],
            )

    @pytest.mark.parametrize("reduction", REDUCTIONS)
    @pytest.mark.parametrize("weighted", [False, True])
    @pytest.mark.parametrize("smoothing", [0.0, 0.3])
    def test_probabilities(self, reduction, weighted, smoothing):
        x = _randn(6, 4, scale=2.0)
        p = np.random.default_rng(1).random((6, 4)).astype(np.float32)
        p /= p.sum(1, keepdims=True)
        w = np.abs(_randn(4, seed=2)) + 0.1 if weighted else None
        kw = dict(reduction=reduction, label_smoothing=smoothing)
        _check(
            lambda x, p, w: F.cross_entropy(x, p, w, **kw),
            lambda x, p, w: TF.cross_entropy(x, p, w, **kw),
            [x, p, w],
            grad_idx=(0, 1),
        )

    def test_large_logits_stable(self):
        x = np.array([[1000.0, -1000.0, 0.0], [-500.0, 500.0, 499.0]], np.float32)
        _check(
            lambda x, y: F.cross_entropy(x, y),
            lambda x, y: TF.cross_entropy(x, y),
            [x, np.array([0, 2])],
        )

    def test_all_ignored_is_nan_like_torch(self):
        x, y = _randn(2, 3), np.array([-100, -100])
        e = F.cross_entropy(ember.tensor(x), ember.tensor(y))
        t = TF.cross_entropy(torch.from_numpy(x), torch.from_numpy(y))
        assert np.isnan(float(e)) and np.isnan(float(t))

    def test_float64(self):
        x = np.random.default_rng(0).standard_normal((4, 3))
        y = np.array([0, 1, 2, 1])
        _check(
            lambda x, y: F.cross_entropy(x, y),
            lambda x, y: TF.cross_entropy(x, y),
            [x, y],
            rtol=1e-12,
            atol=1e-12,
        )

    def test_errors(self):
        x = ember.randn(4, 3)
        with pytest.raises(ValueError, match=r"\(4, 3\).*\(5,\)"):
            F.cross_entropy(x, ember.tensor([0, 1, 2, 0, 1]))
        with pytest.raises(IndexError, match="out of bounds"):
            F.cross_entropy(x, ember.tensor([0, 1, 3, 0]))
        with pytest.raises(IndexError):
            F.cross_entropy(x, ember.tensor([0, -1, 2, 0]))
        with pytest.raises(ValueError, match=r"\(4, 3\).*\(4, 2\)"):
            F.cross_entropy(x, ember.rand(4, 2))
        with pytest.raises(ValueError, match="reduction"):
            F.cross_entropy(x, ember.tensor([0, 1, 2, 0]), reduction="avg")
        with pytest.raises(ValueError, match="label_smoothing"):
            F.cross_entropy(x, ember.tensor([0, 1, 2, 0]), label_smoothing=1.5)
        with pytest.raises(ValueError, match="weight"):
            F.cross_entropy(x, ember.tensor([0, 1, 2, 0]), weight=ember.ones(4))
        with pytest.raises(TypeError):
            F.cross_entropy(ember.tensor([[1, 2]]), ember.tensor([0]))
        with pytest.raises(ValueError):
            nn.CrossEntropyLoss(reduction="bogus")


class TestNLL:
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    @pytest.mark.parametrize("weighted", [False, True])
    def test_nll(self, reduction, weighted):
        logp = np.log(np.random.default_rng(0).dirichlet(np.ones(5), 7)).astype(np.float32)
        y = np.array([0, 4, 2, -100, 1, 1, 3])
        w = np.abs(_randn(5, seed=2)) + 0.1 if weighted else None
        _check(
            lambda x, y, w: F.nll_loss(x, y, w, reduction=reduction),
            lambda x, y, w: TF.nll_loss(x, y, w, reduction=reduction),
            [logp, y, w],
        )
        _check(nn.NLLLoss(reduction=reduction), torch.nn.NLLLoss(reduction=reduction), [logp, y])

    def test_nll_2d(self):
        logp = _randn(2, 3, 4, 4)
        y = np.random.default_rng(0).integers(0, 3, (2, 4, 4))
        _check(lambda x, y: F.nll_loss(x, y), lambda x, y: TF.nll_loss(x, y), [logp, y])

    def test_nll_errors(self):
        with pytest.raises(TypeError, match="integer"):
            F.nll_loss(ember.randn(3, 2), ember.rand(3))
        with pytest.raises(ValueError, match=r"\(3, 2\).*\(4,\)"):
            F.nll_loss(ember.randn(3, 2), ember.tensor([0, 1, 0, 1]))


# --------------------------------------------------------------------------------- binary


class TestBinary:
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    @pytest.mark.parametrize("weighted", [False, True])
    def test_bce(self, reduction, weighted):
        rng = np.random.default_rng(0)
        p = rng.uniform(0.02, 0.98, (6, 3)).astype(np.float32)
        t = rng.random((6, 3)).astype(np.float32)
        w = rng.random((6, 3)).astype(np.float32) if weighted else None
        _check(
            lambda p, t, w: F.binary_cross_entropy(p, t, w, reduction=reduction),
            lambda p, t, w: TF.binary_cross_entropy(p, t, w, reduction=reduction),
            [p, t, w],
            grad_idx=(0, 1),
        )
        _check(nn.BCELoss(reduction=reduction), torch.nn.BCELoss(reduction=reduction), [p, t])

    def test_bce_clamps_log(self):
        p = np.array([0.0, 1.0, 0.5], np.float32)
        t = np.array([1.0, 0.0, 1.0], np.float32)
        e = F.binary_cross_entropy(ember.tensor(p), ember.tensor(t), reduction="none")
        tt = TF.binary_cross_entropy(torch.from_numpy(p), torch.from_numpy(t), reduction="none")
        np.testing.assert_allclose(e.numpy(), tt.numpy(), rtol=1e-6)

    def test_bce_errors(self):
        with pytest.raises(ValueError, match="between 0 and 1"):
            F.binary_cross_entropy(ember.tensor([1.5, 0.2]), ember.tensor([1.0, 0.0]))
        with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
            F.binary_cross_entropy(ember.tensor([0.5, 0.2]), ember.tensor([1.0, 0.0, 1.0]))

    @pytest.mark.parametrize("reduction", REDUCTIONS)
    @pytest.mark.parametrize("weighted", [False, True])
    @pytest.mark.parametrize("pos_weight", [False, True])
    def test_bce_with_logits(self, reduction, weighted, pos_weight):
        rng = np.random.default_rng(0)
        x = _randn(5, 4, scale=4.0)
        t = rng.random((5, 4)).astype(np.float32)
        w = rng.random((5, 4)).astype(np.float32) if weighted else None
        pw = (rng.random(4) * 3).astype(np.float32) if pos_weight else None
        _check(
            lambda x, t, w, pw: F.binary_cross_entropy_with_logits(
                x, t, w, reduction=reduction, pos_weight=pw
            ),
            lambda x, t, w, pw: TF.binary_cross_entropy_with_logits(
                x, t, w, reduction=reduction, pos_weight=pw
            ),
            [x, t, w, pw],
            grad_idx=(0, 1),
        )

    def test_bce_with_logits_extreme_and_module(self):
        x = np.array([-200.0, -30.0, 0.0, 30.0, 200.0], np.float32)
        t = np.array([1.0, 0.0, 0.5, 1.0, 0.0], np.float32)
        eo, _ = _check(
            nn.BCEWithLogitsLoss(reduction="none"),
            torch.nn.BCEWithLogitsLoss(reduction="none"),
            [x, t],
        )
        assert np.all(np.isfinite(eo.detach().numpy()))
        pw = np.array([2.0, 1.0, 0.5, 3.0, 1.0], np.float32)
        _check(
            nn.BCEWithLogitsLoss(pos_weight=ember.tensor(pw)),
            torch.nn.BCEWithLogitsLoss(pos_weight=torch.from_numpy(pw)),
            [x, t],
        )

    def test_bce_with_logits_errors(self):
        with pytest.raises(ValueError, match=r"\(3, 2\).*\(3,\)"):
            F.binary_cross_entropy_with_logits(ember.randn(3, 2), ember.rand(3))


# ---------------------------------------------------------------------------- regression


class TestRegression:
    @pytest.mark.parametrize("reduction", REDUCTIONS)
    @pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
    def test_mse_l1(self, reduction, name):
        x, y = _randn(4, 5), _randn(4, 5, seed=1)
        y[0, 0] = x[0, 0] + 0.5  # keep away from the kink at 0 for l1
        _check(
            lambda x, y: getattr(F, name)(x, y, reduction=reduction),
            lambda x, y: getattr(TF, name)(x, y, reduction=reduction),
            [x, y],
            grad_idx=(0, 1),
        )

    @pytest.mark.parametrize("reduction", REDUCTIONS)
    @pytest.mark.parametrize("beta", [1.0, 0.5, 0.0])
    def test_smooth_l1(self, reduction, beta):
        x, y = _randn(6, 5, scale=1.5), _randn(6, 5, seed=1)
        _check(
            lambda x, y: F.smooth_l1_loss(x, y, reduction=reduction, beta=beta),
            lambda x, y: TF.smooth_l1_loss(x, y, reduction=reduction, beta=beta),
            [x, y],
            grad_idx=(0, 1),
        )
        _check(
            nn.SmoothL1Loss(reduction=reduction, beta=beta),
            torch.nn.SmoothL1Loss(reduction=reduction, beta=beta),
            [x, y],
        )

    @pytest.mark.parametrize("reduction", REDUCTIONS)
    @pytest.mark.parametrize("delta", [1.0, 0.3, 2.5])
    def test_huber(self, reduction, delta):
        x, y = _randn(6, 5, scale=2.0), _randn(6, 5, seed=1)
        _check(
            lambda x, y: F.huber_loss(x, y, reduction=reduction, delta=delta),
            lambda x, y: TF.huber_loss(x, y, reduction=reduction, delta=delta),
            [x, y],
            grad_idx=(0, 1),
        )
        _check(
            nn.HuberLoss(reduction=reduction, delta=delta),
            torch.nn.HuberLoss(reduction=reduction, delta=delta),
            [x, y],
        )

    def test_modules(self):
        x, y = _randn(3, 4), _randn(3, 4, seed=1)
        _check(nn.MSELoss(), torch.nn.MSELoss(), [x, y])
        _check(nn.L1Loss(reduction="sum"), torch.nn.L1Loss(reduction="sum"), [x, y])

    @pytest.mark.parametrize(
        "name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div"]
    )
    def test_shape_mismatch_names_both(self, name):
        with pytest.raises(ValueError, match=r"\(3, 4\).*\(4, 3\)"):
            getattr(F, name)(ember.randn(3, 4), ember.randn(4, 3))
        with pytest.raises(ValueError, match=r"\(3, 4\).*\(4,\)"):
            getattr(F, name)(ember.randn(3, 4), ember.randn(4))

    def test_bad_reduction_and_params(self):
        with pytest.raises(ValueError, match="reduction"):
            F.mse_loss(ember.randn(2), ember.randn(2), reduction="average")
        with pytest.raises(ValueError):
            F.smooth_l1_loss(ember.randn(2), ember.randn(2), beta=-1.0)
        with pytest.raises(ValueError):
            F.huber_loss(ember.randn(2), ember.randn(2), delta=0.0)
        with pytest.raises(TypeError):
            F.mse_loss(ember.randn(2), [1.0, 2.0])

    def test_legacy_size_average(self):
        x, y = ember.randn(3), ember.randn(3)
        np.testing.assert_allclose(
            float(F.mse_loss(x, y, size_average=False)),
            float(F.mse_loss(x, y, reduction="sum")),
            rtol=1e-6,
        )


@pytest.mark.filterwarnings("ignore:reduction. .mean.:UserWarning")
class TestKLDiv:
    @pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
    @pytest.mark.parametrize("log_target", [False, True])
    def test_kl_div(self, reduction, log_target):
        rng = np.random.default_rng(0)
        logp = np.log(rng.dirichlet(np.ones(5), 4)).astype(np.float32)
        q = rng.dirichlet(np.ones(5), 4).astype(np.float32)
        q[0, 1] = 0.0  # 0 * log 0 = 0
        t = np.log(q + 1e-3).astype(np.float32) if log_target else q
        # torch's target gradient is NaN where target == 0 (d/dt of xlogy); ember's is finite
        eo, _ = _check(
            lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
            lambda a, b: TF.kl_div(a, b, reduction=reduction, log_target=log_target),
            [logp, t],
            grad_idx=(0, 1) if log_target else (0,),
        )
        if not log_target:
            tt = ember.tensor(t).requires_grad_()
            F.kl_div(ember.tensor(logp), tt, reduction="sum").backward()
            assert np.all(np.isfinite(tt.grad.numpy()))
            mask = t > 0
            np.testing.assert_allclose(
                tt.grad.numpy()[mask], (np.log(t[mask]) + 1 - logp[mask]), rtol=1e-5
            )
        em = nn.KLDivLoss(reduction=reduction, log_target=log_target)
        tm = torch.nn.KLDivLoss(reduction=reduction, log_target=log_target)
        _check(em, tm, [logp, t])


def test_loss_module_reprs_and_buffers():
    w = ember.ones(3)
    m = nn.CrossEntropyLoss(weight=w)
    assert repr(m) == "CrossEntropyLoss()"
    assert "weight" in m._buffers and list(m.state_dict()) == ["weight"]
    assert list(nn.BCEWithLogitsLoss(pos_weight=ember.ones(2)).state_dict()) == ["pos_weight"]


def test_mlp_training_reduces_loss():
    """A small classifier trained with cross entropy learns a separable problem."""
    ember.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 2))
    opt = ember.optim.Adam(model.parameters(), lr=0.05)
    X, Y = ember.tensor(x), ember.tensor(y)
    first = None
    for _ in range(150):
        opt.zero_grad()
        loss = F.cross_entropy(model(X), Y)
        loss.backward()
        opt.step()
        first = first if first is not None else float(loss)
    acc = float((model(X).argmax(1) == Y).float().mean())
    assert float(loss) < 0.3 * first and acc > 0.95
