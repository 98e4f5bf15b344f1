"""ember.nn: Module machinery, Parameter, layers and containers (vs PyTorch with identical
weights: outputs and gradients within 1e-5 in float32), nn.init distributions, clipping."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from conftest import requires_torch, torch

RTOL, ATOL = 1e-5, 1e-5


# ----------------------------------------------------------------------------------- helpers


def _np(t):
    if torch is not None and isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return t.detach().numpy()


def _close(a, b, rtol=RTOL, atol=ATOL, msg=""):
    np.testing.assert_allclose(_np(a), _np(b), rtol=rtol, atol=atol, err_msg=msg)


def _copy_to_torch(em, tm):
    """Load ember module em's state into torch module tm (same names)."""
    sd = {
        k: torch.from_numpy(np.ascontiguousarray(v.numpy()).copy())
        for k, v in em.state_dict().items()
    }
    tm.load_state_dict(sd, strict=True)


def _compare_module(
    em, tm, *inputs, rtol=RTOL, atol=ATOL, grad_inputs=True, out_index=None, train=True
):
    """Forward both modules on the same inputs, backward the same upstream grad, compare the
    outputs, input grads and every parameter grad."""
    _copy_to_torch(em, tm)
    em.train(train)
    tm.train(train)
    e_in, t_in = [], []
    for x in inputs:
        if isinstance(x, np.ndarray):
            rg = grad_inputs and x.dtype.kind == "f"
            e = ember.tensor(x)
            t = torch.from_numpy(x.copy())
            if rg:
                e.requires_grad_(True)
                t.requires_grad_(True)
            e_in.append(e)
            t_in.append(t)
        else:
            e_in.append(x)
            t_in.append(x)
    eo = em(*e_in)
    to = tm(*t_in)
    if out_index is not None:
        eo, to = eo[out_index], to[out_index]
    _close(eo, to, rtol, atol, "forward")
    g = np.random.default_rng(7).standard_normal(tuple(to.shape)).astype(np.float32)
    eo.backward(ember.tensor(g))
    to.backward(torch.from_numpy(g))
    for i, (e, t) in enumerate(zip(e_in, t_in)):
        if isinstance(e, ember.Tensor) and e.requires_grad:
            _close(e.grad, t.grad, rtol, atol, f"input {i} grad")
    tparams = dict(tm.named_parameters())
    for name, p in em.named_parameters():
        tp = tparams[name]
        if tp.grad is None:
            assert p.grad is None or np.abs(p.grad.numpy()).max() == 0, name
            continue
        _close(p.grad, tp.grad, rtol, atol, f"grad of {name}")
    return eo, to


def _randn(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


# ---------------------------------------------------------------------------------- Parameter


class TestParameter:
    def test_subclass_shares_storage(self):
        t = ember.randn(3, 4)
        p = nn.Parameter(t)
        assert isinstance(p, nn.Parameter) and isinstance(p, ember.Tensor)
        assert p.requires_grad and p.is_leaf and not t.requires_grad
        assert p._storage_ptr() == t._storage_ptr()
        with ember.no_grad():
            t.add_(1.0)
        np.testing.assert_array_equal(p.detach().numpy(), t.numpy())

    def test_ops_return_plain_tensors(self):
        p = nn.Parameter(ember.randn(2, 3))
        for out in (p * 2, p + p, p.sum(), p[0], p.detach(), p.t(), ember.relu(p)):
            assert type(out) is ember.Tensor
        (p * 3).sum().backward()
        np.testing.assert_allclose(p.grad.numpy(), np.full((2, 3), 3.0))
        assert type(p.grad) is ember.Tensor

    def test_requires_grad_false_and_default(self):
        p = nn.Parameter(ember.zeros(2), requires_grad=False)
        assert not p.requires_grad
        e = nn.Parameter()
        assert e.shape == (0,) and e.requires_grad

    def test_from_non_leaf_detaches(self):
        x = ember.randn(3, requires_grad=True)
        p = nn.Parameter(x * 2)
        assert p.is_leaf and p.grad_fn is None

    def test_integer_requires_grad_errors(self):
        with pytest.raises(RuntimeError, match="floating point"):
            nn.Parameter(ember.tensor([1, 2, 3]))
        p = nn.Parameter(ember.tensor([1, 2, 3]), requires_grad=False)
        assert p.dtype == ember.int64

    def test_not_a_tensor(self):
        with pytest.raises(TypeError):
            nn.Parameter([1.0, 2.0])

    def test_repr_deepcopy_pickle(self):
        p = nn.Parameter(ember.tensor([1.0, 2.0]))
        assert repr(p).startswith("Parameter containing:\ntensor([1., 2.], requires_grad=True)")
        q = copy.deepcopy(p)
        assert isinstance(q, nn.Parameter) and q.requires_grad
        assert q._storage_ptr() != p._storage_ptr()
        r = pickle.loads(pickle.dumps(p))
        assert isinstance(r, nn.Parameter)
        np.testing.assert_array_equal(r.detach().numpy(), [1.0, 2.0])

    def test_hashable_in_sets(self):
        a, b = nn.Parameter(ember.ones(2)), nn.Parameter(ember.ones(2))
        assert len({a, b, a}) == 2


# ------------------------------------------------------------------------------------ Module


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(8, 2)
        self.register_buffer("counter", ember.zeros(1))
        self.register_buffer("scratch", ember.zeros(3), persistent=False)
        self.scale = nn.Parameter(ember.ones(1))

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) * self.scale


class TestModule:
    def test_registration_and_names(self):
        m = Net()
        names = [n for n, _ in m.named_parameters()]
        assert names == ["scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
        assert [n for n, _ in m.named_buffers()] == ["counter", "scratch"]
        assert [n for n, _ in m.named_children()] == ["fc1", "act", "fc2"]
        assert [n for n, _ in m.named_modules()] == ["", "fc1", "act", "fc2"]
        assert len(list(m.parameters())) == 5
        assert len(list(m.parameters(recurse=False))) == 1
        assert list(m.state_dict().keys()) == [
            "scale",
            "counter",
            "fc1.weight",
            "fc1.bias",
            "fc2.weight",
            "fc2.bias",
        ]

    @requires_torch
    def test_state_dict_order_matches_torch(self):
        class TNet(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = torch.nn.Linear(4, 8)
                self.act = torch.nn.ReLU()
                self.fc2 = torch.nn.Linear(8, 2)
                self.register_buffer("counter", torch.zeros(1))
                self.register_buffer("scratch", torch.zeros(3), persistent=False)
                self.scale = torch.nn.Parameter(torch.ones(1))

        assert list(Net().state_dict().keys()) == list(TNet().state_dict().keys())
        assert [n for n, _ in Net().named_parameters()] == [n for n, _ in TNet().named_parameters()]

    def test_shared_parameters_listed_once(self):
        lin = nn.Linear(3, 3)
        seq = nn.Sequential(lin, nn.ReLU(), lin)
        assert len(list(seq.parameters())) == 2
        assert [n for n, _ in seq.named_modules()] == ["", "0", "1"]
        assert len(list(seq.named_parameters(remove_duplicate=False))) == 4

    def test_setattr_rules(self):
        m = Net()
        with pytest.raises(TypeError, match="parameter 'scale'"):
            m.scale = ember.ones(1)
        m.scale = None
        assert m.scale is None and "scale" in m._parameters
        with pytest.raises(TypeError, match="child module"):
            m.fc1 = ember.ones(1)
        m.counter = ember.ones(1)  # a tensor assigned to a buffer name replaces the buffer
        assert "counter" in m._buffers and m.counter.numpy()[0] == 1
        m.plain = 3
        assert m.plain == 3 and "plain" not in m._parameters
        m.fc1 = nn.Identity()
        assert isinstance(m._modules["fc1"], nn.Identity)
        del m.fc2
        assert "fc2" not in m._modules
        with pytest.raises(AttributeError):
            _ = m.fc2

    def test_parameter_before_init(self):
        class Bad(nn.Module):
            def __init__(self):
                self.w = nn.Parameter(ember.ones(1))

        with pytest.raises(AttributeError, match="before Module.__init__"):
            Bad()

    def test_register_errors(self):
        m = nn.Module()
        with pytest.raises(KeyError):
            m.register_parameter("a.b", nn.Parameter(ember.ones(1)))
        with pytest.raises(TypeError):
            m.register_parameter("a", ember.ones(1))
        with pytest.raises(KeyError):
            m.register_buffer("", ember.ones(1))
        with pytest.raises(TypeError):
            m.register_buffer("b", 3)
        with pytest.raises(TypeError):
            m.add_module("c", 3)
        m.x = 1
        with pytest.raises(KeyError, match="already exists"):
            m.register_buffer("x", ember.ones(1))

    def test_buffer_marker(self):
        m = nn.Module()
        m.buf = nn.Buffer(ember.ones(2), persistent=False)
        assert "buf" in m._buffers and "buf" not in m.state_dict()
        assert type(m.buf) is ember.Tensor

    def test_get_submodule(self):
        m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Linear(2, 3)))
        assert isinstance(m.get_submodule("1.1"), nn.Linear)
        assert m.get_parameter("1.1.bias").shape == (3,)
        with pytest.raises(AttributeError):
            m.get_submodule("1.5")

    def test_train_eval(self):
        m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(), nn.BatchNorm1d(2)))
        assert all(x.training for x in m.modules())
        assert m.eval() is m
        assert not any(x.training for x in m.modules())
        m.train()
        assert all(x.training for x in m.modules())
        with pytest.raises(ValueError):
            m.train("yes")

    def test_zero_grad_and_requires_grad(self):
        m = Net()
        m(ember.randn(3, 4)).sum().backward()
        assert all(p.grad is not None for p in m.parameters())
        m.zero_grad(set_to_none=False)
        assert all(p.grad is not None and float(p.grad.abs().sum()) == 0 for p in m.parameters())
        m.zero_grad()
        assert all(p.grad is None for p in m.parameters())
        m.requires_grad_(False)
        assert not any(p.requires_grad for p in m.parameters())

    def test_apply(self):
        m = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1))
        seen = []

        def init_fn(mod):
            seen.append(type(mod).__name__)
            if isinstance(mod, nn.Linear):
                nn.init.zeros_(mod.weight)

        assert m.apply(init_fn) is m
        assert seen == ["Linear", "ReLU", "Linear", "Sequential"]
        assert float(m[0].weight.abs().sum()) == 0

    def test_to_dtype_keeps_identity(self):
        m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
        w = m[0].weight
        m(ember.randn(4, 3)).sum().backward()
        assert m.to(ember.float64) is m
        assert m[0].weight is w and w.dtype == ember.float64 and isinstance(w, nn.Parameter)
        assert w.grad.dtype == ember.float64
        assert m[1].running_mean.dtype == ember.float64
        assert m[1].num_batches_tracked.dtype == ember.int64  # integer buffers keep their dtype
        out = m(ember.randn(4, 3, dtype=ember.float64))
        assert out.dtype == ember.float64
        m.float()
        assert w.dtype == ember.float32
        m.half()
        assert w.dtype == ember.float16
        with pytest.raises(TypeError):
            m.to(ember.int64)

    def test_state_dict_roundtrip(self):
        a, b = Net(), Net()
        sd = a.state_dict()
        assert all(not v.requires_grad for v in sd.values())
        res = b.load_state_dict(sd)
        assert res.missing_keys == [] and res.unexpected_keys == []
        x = ember.randn(5, 4)
        np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())
        # values are copied, not aliased
        with ember.no_grad():
            a.fc1.weight.add_(1.0)
        assert not np.allclose(a.fc1.weight.detach().numpy(), b.fc1.weight.detach().numpy())
        kv = a.state_dict(keep_vars=True)
        assert kv["fc1.weight"] is a.fc1.weight

    def test_state_dict_shares_storage(self):
        m = nn.Linear(2, 2)
        sd = m.state_dict()
        assert sd["weight"]._storage_ptr() == m.weight._storage_ptr()

    def test_load_state_dict_lists_every_problem(self):
        m = Net()
        sd = dict(m.state_dict())
        del sd["fc1.bias"]
        del sd["counter"]
        sd["fc2.weight"] = ember.zeros(3, 3)
        sd["extra"] = ember.zeros(1)
        sd["fc1.extra"] = ember.zeros(1)
        with pytest.raises(RuntimeError) as info:
            m.load_state_dict(sd)
        msg = str(info.value)
        for key in ('"fc1.bias"', '"counter"', '"extra"', '"fc1.extra"', "fc2.weight"):
            assert key in msg, (key, msg)
        assert "Missing key(s)" in msg and "Unexpected key(s)" in msg and "size mismatch" in msg
        assert "(3, 3)" in msg and "(2, 8)" in msg

    def test_load_state_dict_non_strict(self):
        m = Net()
        sd = dict(m.state_dict())
        del sd["fc1.bias"]
        sd["extra"] = ember.zeros(1)
        res = Net().load_state_dict(sd, strict=False)
        assert res.missing_keys == ["fc1.bias"] and res.unexpected_keys == ["extra"]
        sd["fc2.bias"] = ember.zeros(5)
        with pytest.raises(RuntimeError, match="size mismatch for fc2.bias"):
            Net().load_state_dict(sd, strict=False)

    def test_load_state_dict_numpy_and_assign(self):
        m = nn.Linear(2, 3)
        sd = {"weight": np.ones((3, 2), np.float32), "bias": np.zeros(3, np.float32)}
        m.load_state_dict(sd)
        np.testing.assert_array_equal(m.weight.detach().numpy(), np.ones((3, 2)))
        w = ember.full((3, 2), 2.0)
        m.load_state_dict({"weight": w, "bias": ember.zeros(3)}, assign=True)
        assert isinstance(m.weight, nn.Parameter) and m.weight._storage_ptr() == w._storage_ptr()
        with pytest.raises(TypeError):
            m.load_state_dict([1, 2])

    @requires_torch
    def test_load_torch_state_dict(self):
        tm = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
        em = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
        em.load_state_dict(tm.state_dict())
        x = _randn(3, 4)
        _close(em(ember.tensor(x)), tm(torch.from_numpy(x)))

    def test_forward_hooks(self):
        m = nn.Linear(2, 2)
        calls = []
        h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
        h2 = m.register_forward_hook(lambda mod, args, out: calls.append(out.shape) or out + 1)
        out = m(ember.randn(3, 2))
        np.testing.assert_allclose(
            out.detach().numpy(), np.broadcast_to(m.bias.detach().numpy() + 1, (3, 2)), rtol=1e-6
        )
        assert calls == [(3, 2)]
        h1.remove()
        h2.remove()
        x = ember.randn(3, 2)
        np.testing.assert_allclose(
            m(x).detach().numpy(), (x @ m.weight.T + m.bias).detach().numpy(), rtol=1e-6
        )
        assert calls == [(3, 2)]

    def test_hooks_with_kwargs_and_prepend(self):
        class M(nn.Module):
            def forward(self, x, scale=1.0):
                return x * scale

        m = M()
        order = []
        m.register_forward_pre_hook(lambda mod, a, k: (a, {"scale": 3.0}), with_kwargs=True)
        m.register_forward_hook(lambda mod, a, out: order.append("second"))
        m.register_forward_hook(lambda mod, a, out: order.append("first"), prepend=True)
        m.register_forward_hook(lambda mod, a, k, out: out + k["scale"], with_kwargs=True)
        out = m(ember.ones(2), scale=2.0)
        np.testing.assert_array_equal(out.numpy(), [6.0, 6.0])
        assert order == ["first", "second"]

    def test_always_call_hook(self):
        class Boom(nn.Module):
            def forward(self, x):
                raise ValueError("boom")

        m = Boom()
        seen = []
        m.register_forward_hook(lambda mod, a, out: seen.append(out), always_call=True)
        with pytest.raises(ValueError, match="boom"):
            m(ember.ones(1))
        assert seen == [None]

    def test_missing_forward(self):
        with pytest.raises(NotImplementedError, match="forward"):
            nn.Module()(ember.ones(1))

    @requires_torch
    def test_repr_matches_torch(self):
        em = nn.Sequential(
            nn.Linear(784, 512),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(512, 10, bias=False),
            nn.LayerNorm(10),
            nn.Sequential(nn.GELU(approximate="tanh"), nn.LeakyReLU(0.2), nn.Softmax(dim=1)),
            nn.Embedding(10, 3, padding_idx=0),
            nn.BatchNorm1d(5),
            nn.GroupNorm(2, 4),
            nn.Flatten(),
            nn.Unflatten(1, (2, 5)),
            nn.ELU(alpha=0.5),
            nn.Softplus(beta=2.0),
            nn.LogSoftmax(dim=-1),
            nn.Identity(),
            nn.SiLU(),
            nn.Tanh(),
            nn.Sigmoid(),
            nn.RMSNorm(4),
            nn.MultiheadAttention(8, 2),
            nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.Linear(2, 2)]),
            nn.CrossEntropyLoss(),
            nn.MSELoss(),
        )
        tn = torch.nn
        tm = tn.Sequential(
            tn.Linear(784, 512),
            tn.ReLU(),
            tn.Dropout(0.2),
            tn.Linear(512, 10, bias=False),
            tn.LayerNorm(10),
            tn.Sequential(tn.GELU(approximate="tanh"), tn.LeakyReLU(0.2), tn.Softmax(dim=1)),
            tn.Embedding(10, 3, padding_idx=0),
            tn.BatchNorm1d(5),
            tn.GroupNorm(2, 4),
            tn.Flatten(),
            tn.Unflatten(1, (2, 5)),
            tn.ELU(alpha=0.5),
            tn.Softplus(beta=2.0),
            tn.LogSoftmax(dim=-1),
            tn.Identity(),
            tn.SiLU(),
            tn.Tanh(),
            tn.Sigmoid(),
            tn.RMSNorm(4),
            tn.MultiheadAttention(8, 2),
            tn.ModuleList([tn.ReLU(), tn.ReLU(), tn.Linear(2, 2)]),
            tn.CrossEntropyLoss(),
            tn.MSELoss(),
        )
        assert repr(em) == repr(tm)

    def test_extra_repr_custom(self):
        class M(nn.Module):
            def extra_repr(self):
                return "k=1"

        assert repr(M()) == "M(k=1)"

    def test_deepcopy_and_pickle(self):
        m = Net()
        c = copy.deepcopy(m)
        assert isinstance(c.fc1.weight, nn.Parameter)
        assert c.fc1.weight._storage_ptr() != m.fc1.weight._storage_ptr()
        x = ember.randn(2, 4)
        np.testing.assert_array_equal(c(x).detach().numpy(), m(x).detach().numpy())
        p = pickle.loads(pickle.dumps(m))
        np.testing.assert_array_equal(p(x).detach().numpy(), m(x).detach().numpy())

    def test_dir_lists_children(self):
        m = Net()
        assert "fc1" in dir(m) and "scale" in dir(m) and "counter" in dir(m)


# ------------------------------------------------------------------------------------ layers


@requires_torch
class TestLayersVsTorch:
    @pytest.mark.parametrize("bias", [True, False])
    @pytest.mark.parametrize("shape", [(5, 7), (2, 3, 7), (7,)])
    def test_linear(self, bias, shape):
        em, tm = nn.Linear(7, 4, bias=bias), torch.nn.Linear(7, 4, bias=bias)
        _compare_module(em, tm, _randn(*shape))

    def test_linear_bad_input(self):
        with pytest.raises((ValueError, RuntimeError), match=r"\(5, 6\)|5, 6"):
            nn.Linear(7, 4)(ember.randn(5, 6))

    def test_bilinear(self):
        em, tm = nn.Bilinear(3, 4, 5), torch.nn.Bilinear(3, 4, 5)
        _compare_module(em, tm, _randn(6, 3), _randn(6, 4, seed=1))

    def test_identity_flatten_unflatten(self):
        x = _randn(2, 3, 4, 5)
        _compare_module(nn.Identity(3, k=1), torch.nn.Identity(), x)
        _compare_module(nn.Flatten(), torch.nn.Flatten(), x)
        _compare_module(nn.Flatten(0, 2), torch.nn.Flatten(0, 2), x)
        _compare_module(nn.Unflatten(1, (3, 1)), torch.nn.Unflatten(1, (3, 1)), x)

    @pytest.mark.parametrize("padding_idx", [None, 0, -1])
    def test_embedding(self, padding_idx):
        em = nn.Embedding(10, 4, padding_idx=padding_idx)
        tm = torch.nn.Embedding(10, 4, padding_idx=padding_idx)
        idx = np.array([[0, 3, 9, 3], [1, 0, 9, 2]], dtype=np.int64)
        _compare_module(em, tm, idx)
        if padding_idx is not None:
            row = padding_idx % 10
            assert float(em.weight.grad[row].abs().sum()) == 0
            assert float(nn.Embedding(10, 4, padding_idx=padding_idx).weight[row].abs().sum()) == 0

    def test_embedding_max_norm(self):
        w = _randn(6, 3, scale=3.0)
        em, tm = nn.Embedding(6, 3, max_norm=1.0), torch.nn.Embedding(6, 3, max_norm=1.0)
        em.load_state_dict({"weight": w})
        tm.load_state_dict({"weight": torch.from_numpy(w.copy())})
        idx = np.array([1, 2, 2, 5])
        _close(em(ember.tensor(idx)), tm(torch.from_numpy(idx)))
        _close(em.weight, tm.weight)  # looked-up rows renormalized in place, like PyTorch

    def test_embedding_errors_and_pretrained(self):
        em = nn.Embedding(5, 2)
        with pytest.raises(IndexError):
            em(ember.tensor([5]))
        with pytest.raises(TypeError):
            em(ember.tensor([0.5]))
        with pytest.raises(ValueError):
            nn.Embedding(5, 2, padding_idx=5)
        w = ember.randn(4, 3)
        pre = nn.Embedding.from_pretrained(w)
        assert not pre.weight.requires_grad
        np.testing.assert_array_equal(pre(ember.tensor([2])).numpy(), w[2:3].numpy())

    @pytest.mark.parametrize("shape,norm", [((4, 6), (6,)), ((2, 3, 4, 5), (4, 5)), ((3, 5), 5)])
    @pytest.mark.parametrize("affine", [True, False])
    def test_layer_norm(self, shape, norm, affine):
        em = nn.LayerNorm(norm, elementwise_affine=affine)
        tm = torch.nn.LayerNorm(norm, elementwise_affine=affine)
        if affine:
            with ember.no_grad():
                em.weight.copy_(ember.tensor(_randn(*em.weight.shape, seed=3)))
                em.bias.copy_(ember.tensor(_randn(*em.bias.shape, seed=4)))
        _compare_module(em, tm, _randn(*shape, scale=3.0) + 1.5)

    def test_layer_norm_no_bias_and_errors(self):
        em, tm = nn.LayerNorm(6, bias=False), torch.nn.LayerNorm(6, bias=False)
        _compare_module(em, tm, _randn(3, 6))
        with pytest.raises(ValueError, match=r"\(3, 5\)"):
            em(ember.randn(3, 5))

    @pytest.mark.parametrize("eps", [None, 1e-6])
    def test_rms_norm(self, eps):
        em, tm = nn.RMSNorm((3, 4), eps=eps), torch.nn.RMSNorm((3, 4), eps=eps)
        with ember.no_grad():
            em.weight.copy_(ember.tensor(_randn(3, 4, seed=5)))
        _compare_module(em, tm, _randn(2, 3, 4))

    @pytest.mark.parametrize("shape", [(4, 6), (4, 6, 5), (2, 6, 3, 3)])
    def test_group_norm(self, shape):
        em, tm = nn.GroupNorm(3, 6), torch.nn.GroupNorm(3, 6)
        with ember.no_grad():
            em.weight.copy_(ember.tensor(_randn(6, seed=5)))
            em.bias.copy_(ember.tensor(_randn(6, seed=6)))
        _compare_module(em, tm, _randn(*shape, scale=2.0))

    def test_group_norm_errors(self):
        with pytest.raises(ValueError, match="divisible"):
            nn.GroupNorm(4, 6)
        with pytest.raises(ValueError):
            nn.GroupNorm(3, 6)(ember.randn(2, 5))

    @pytest.mark.parametrize("shape", [(8, 5), (4, 5, 3)])
    @pytest.mark.parametrize("momentum", [0.1, None, 0.5])
    def test_batch_norm_train_then_eval(self, shape, momentum):
        em, tm = nn.BatchNorm1d(5, momentum=momentum), torch.nn.BatchNorm1d(5, momentum=momentum)
        with ember.no_grad():
            em.weight.copy_(ember.tensor(_randn(5, seed=5)))
            em.bias.copy_(ember.tensor(_randn(5, seed=6)))
        _copy_to_torch(em, tm)
        for step in range(3):
            x = _randn(*shape, seed=10 + step, scale=2.0) + step
            e_x, t_x = ember.tensor(x).requires_grad_(), torch.from_numpy(x).requires_grad_()
            eo, to = em(e_x), tm(t_x)
            _close(eo, to)
            g = _randn(*shape, seed=20 + step)
            eo.backward(ember.tensor(g))
            to.backward(torch.from_numpy(g))
            _close(e_x.grad, t_x.grad)
            _close(em.weight.grad, tm.weight.grad, atol=1e-4)
            _close(em.bias.grad, tm.bias.grad, atol=1e-4)
            em.zero_grad()
            tm.zero_grad()
            _close(em.running_mean, tm.running_mean)
            _close(em.running_var, tm.running_var)
            assert int(em.num_batches_tracked.item()) == int(tm.num_batches_tracked.item())
        em.eval()
        tm.eval()
        x = _randn(*shape, seed=99)
        _close(em(ember.tensor(x)), tm(torch.from_numpy(x)))

    def test_batch_norm_no_running_stats_and_affine(self):
        em = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
        tm = torch.nn.BatchNorm1d(3, affine=False, track_running_stats=False)
        assert list(em.state_dict()) == list(tm.state_dict()) == []
        _compare_module(em, tm, _randn(6, 3))
        _compare_module(em, tm, _randn(6, 3), train=False)  # batch statistics in eval too

    def test_batch_norm_errors(self):
        bn = nn.BatchNorm1d(3)
        with pytest.raises(ValueError, match="2D or 3D"):
            bn(ember.randn(2, 3, 4, 5))
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            bn(ember.randn(1, 3))
        with pytest.raises(ValueError, match="channels"):
            bn(ember.randn(4, 2))

    def test_batch_norm_2d(self):
        em, tm = nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
        _compare_module(em, tm, _randn(2, 3, 4, 4))
        _close(em.running_var, tm.running_var)

    def test_batch_norm_state_dict_keys(self):
        assert list(nn.BatchNorm1d(3).state_dict()) == [
            "weight",
            "bias",
            "running_mean",
            "running_var",
            "num_batches_tracked",
        ]

    ACTIVATIONS = [
        ("ReLU", {}),
        ("ReLU6", {}),
        ("LeakyReLU", {}),
        ("LeakyReLU", {"negative_slope": 0.2}),
        ("GELU", {}),
        ("GELU", {"approximate": "tanh"}),
        ("SiLU", {}),
        ("Tanh", {}),
        ("Sigmoid", {}),
        ("ELU", {}),
        ("ELU", {"alpha": 0.5}),
        ("Softplus", {}),
        ("Softplus", {"beta": 2.0, "threshold": 5.0}),
        ("Softmax", {"dim": 1}),
        ("Softmax", {"dim": -1}),
        ("LogSoftmax", {"dim": 1}),
        ("LogSoftmax", {"dim": 0}),
        ("Mish", {}),
        ("SELU", {}),
        ("CELU", {"alpha": 1.5}),
        ("Hardtanh", {}),
        ("Hardsigmoid", {}),
        ("Hardswish", {}),
        ("LogSigmoid", {}),
        ("Softsign", {}),
        ("Tanhshrink", {}),
        ("Softmin", {"dim": 1}),
        ("GLU", {}),
        ("PReLU", {}),
        ("PReLU", {"num_parameters": 4}),
    ]

    @pytest.mark.parametrize("name,kwargs", ACTIVATIONS, ids=[f"{n}{k}" for n, k in ACTIVATIONS])
    def test_activation(self, name, kwargs):
        em, tm = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
        assert repr(em) == repr(tm)
        _compare_module(em, tm, _randn(3, 4, 6, scale=3.0))

    def test_softmax_default_dim(self):
        x = _randn(2, 3, 4)
        with pytest.warns(UserWarning):
            t = torch.nn.Softmax()(torch.from_numpy(x))
        _close(nn.Softmax()(ember.tensor(x)), t)

    def test_relu_inplace(self):
        x = ember.randn(3, 4)
        y = nn.ReLU(inplace=True)(x)
        assert float(x.min()) >= 0 and y._storage_ptr() == x._storage_ptr()

    def test_dropout(self):
        ember.manual_seed(0)
        d = nn.Dropout(0.3)
        x = ember.ones(200, 500)
        y = d(x).numpy()
        frac = (y == 0).mean()
        assert abs(frac - 0.3) < 0.01
        np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.7], rtol=1e-6)
        d.eval()
        assert d(x) is x
        ember.manual_seed(5)
        a = nn.Dropout(0.5)(x).numpy()
        ember.manual_seed(5)
        b = nn.Dropout(0.5)(x).numpy()
        np.testing.assert_array_equal(a, b)
        assert nn.Dropout(0.0)(x) is x
        assert float(nn.Dropout(1.0)(x).abs().sum()) == 0
        with pytest.raises(ValueError):
            nn.Dropout(1.5)
        with pytest.raises(ValueError):
            F.dropout(x, -0.1)

    def test_dropout_grad(self):
        ember.manual_seed(1)
        x = ember.randn(50, 40, requires_grad=True)
        y = F.dropout(x, 0.4)
        y.sum().backward()
        mask = (y.detach() != 0).numpy()
        np.testing.assert_allclose(x.grad.numpy(), mask / 0.6, rtol=1e-6)

    def test_dropout2d(self):
        ember.manual_seed(0)
        y = nn.Dropout2d(0.5)(ember.ones(8, 16, 3, 3)).numpy()
        per_channel = y.reshape(8, 16, 9)
        assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))


@requires_torch
class TestAttentionVsTorch:
    @pytest.mark.parametrize(
        "mask,is_causal", [(None, False), ("bool", False), ("float", False), (None, True)]
    )
    def test_sdpa(self, mask, is_causal):
        q, k, v = _randn(2, 3, 5, 8), _randn(2, 3, 7, 8, seed=1), _randn(2, 3, 7, 6, seed=2)
        L, S = 5, 7
        if is_causal:
            k, v = k[:, :, :L], v[:, :, :L]
            S = L
        m = None
        if mask == "bool":
            m = np.random.default_rng(3).random((L, S)) > 0.3
            m[:, 0] = True
        elif mask == "float":
            m = _randn(2, 1, L, S, seed=4)
        eq, ek, ev = (ember.tensor(a).requires_grad_() for a in (q, k, v))
        tq, tk, tv = (torch.from_numpy(a.copy()).requires_grad_() for a in (q, k, v))
        em = None if m is None else ember.tensor(m)
        tmask = None if m is None else torch.from_numpy(m.copy())
        eo = F.scaled_dot_product_attention(eq, ek, ev, attn_mask=em, is_causal=is_causal)
        to = torch.nn.functional.scaled_dot_product_attention(
            tq, tk, tv, attn_mask=tmask, is_causal=is_causal
        )
        _close(eo, to)
        g = _randn(*to.shape, seed=9)
        eo.backward(ember.tensor(g))
        to.backward(torch.from_numpy(g))
        for e, t in ((eq, tq), (ek, tk), (ev, tv)):
            _close(e.grad, t.grad)

    def test_sdpa_scale_gqa_and_errors(self):
        q, k, v = _randn(1, 4, 3, 8), _randn(1, 2, 5, 8, seed=1), _randn(1, 2, 5, 8, seed=2)
        eo = F.scaled_dot_product_attention(
            ember.tensor(q), ember.tensor(k), ember.tensor(v), scale=0.3, enable_gqa=True
        )
        to = torch.nn.functional.scaled_dot_product_attention(
            torch.from_numpy(q),
            torch.from_numpy(k),
            torch.from_numpy(v),
            scale=0.3,
            enable_gqa=True,
        )
        _close(eo, to)
        with pytest.raises(ValueError, match="either attn_mask or is_causal"):
            F.scaled_dot_product_attention(
                ember.tensor(q), ember.tensor(q), ember.tensor(q), ember.ones(3, 3), is_causal=True
            )
        with pytest.raises(ValueError, match=r"\(1, 2, 5, 7\)"):
            F.scaled_dot_product_attention(
                ember.tensor(q), ember.randn(1, 2, 5, 7), ember.tensor(v)
            )

    def test_sdpa_dropout(self):
        ember.manual_seed(0)
        q = ember.randn(2, 4, 8)
        out0 = F.scaled_dot_product_attention(q, q, q)
        out = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
        assert out.shape == out0.shape and not np.allclose(out.numpy(), out0.numpy())

    @pytest.mark.parametrize("batch_first", [True, False])
    @pytest.mark.parametrize("need_weights", [True, False])
    @pytest.mark.parametrize("masks", ["none", "kpm", "bool_attn", "float_attn", "both", "causal"])
    def test_mha(self, batch_first, need_weights, masks):
        E, H, N, L, S = 8, 2, 3, 4, 5
        em = nn.MultiheadAttention(E, H, batch_first=batch_first)
        tm = torch.nn.MultiheadAttention(E, H, batch_first=batch_first)
        q, k, v = _randn(N, L, E), _randn(N, S, E, seed=1), _randn(N, S, E, seed=2)
        if not batch_first:
            q, k, v = (a.transpose(1, 0, 2).copy() for a in (q, k, v))
        kw_e, kw_t = {"need_weights": need_weights}, {"need_weights": need_weights}
        if masks in ("kpm", "both"):
            kpm = np.zeros((N, S), bool)
            kpm[0, -2:] = True
            kpm[2, 0] = True
            kw_e["key_padding_mask"], kw_t["key_padding_mask"] = (
                ember.tensor(kpm),
                torch.from_numpy(kpm),
            )
        if masks in ("bool_attn", "both"):
            am = np.random.default_rng(5).random((L, S)) > 0.7
            am[:, 1] = False
            kw_e["attn_mask"], kw_t["attn_mask"] = ember.tensor(am), torch.from_numpy(am)
        if masks == "float_attn":
            am = _randn(N * H, L, S, seed=6)
            kw_e["attn_mask"], kw_t["attn_mask"] = ember.tensor(am), torch.from_numpy(am)
        if masks == "causal":
            k, v = ((a[:, :L] if batch_first else a[:L]).copy() for a in (k, v))
            cm = np.triu(np.ones((L, L), bool), 1)
            kw_e["attn_mask"], kw_t["attn_mask"] = ember.tensor(cm), torch.from_numpy(cm)
            kw_e["is_causal"] = kw_t["is_causal"] = True
        _copy_to_torch(em, tm)
        eo, ew = em(*(ember.tensor(a).requires_grad_() for a in (q, k, v)), **kw_e)
        to, tw = tm(*(torch.from_numpy(a.copy()).requires_grad_() for a in (q, k, v)), **kw_t)
        _close(eo, to)
        if need_weights:
            _close(ew, tw)
        else:
            assert ew is None and tw is None
        g = _randn(*to.shape, seed=11)
        eo.backward(ember.tensor(g))
        to.backward(torch.from_numpy(g))
        tparams = dict(tm.named_parameters())
        for name, p in em.named_parameters():
            _close(p.grad, tparams[name].grad, msg=name)

    def test_mha_options(self):
        E, H = 6, 3
        for kw in (
            {"kdim": 4, "vdim": 5},
            {"add_bias_kv": True},
            {"add_zero_attn": True},
            {"bias": False},
        ):
            torch.manual_seed(0)
            em = nn.MultiheadAttention(E, H, batch_first=True, **kw)
            tm = torch.nn.MultiheadAttention(E, H, batch_first=True, **kw)
            assert [n for n, _ in em.named_parameters()] == [n for n, _ in tm.named_parameters()]
            kd, vd = kw.get("kdim", E), kw.get("vdim", E)
            q, k, v = _randn(2, 3, E), _randn(2, 4, kd, seed=1), _randn(2, 4, vd, seed=2)
            kpm = np.zeros((2, 4), bool)
            kpm[1, 0] = True
            _copy_to_torch(em, tm)
            eo, ew = em(
                ember.tensor(q),
                ember.tensor(k),
                ember.tensor(v),
                key_padding_mask=ember.tensor(kpm),
                average_attn_weights=False,
            )
            to, tw = tm(
                torch.from_numpy(q),
                torch.from_numpy(k),
                torch.from_numpy(v),
                key_padding_mask=torch.from_numpy(kpm),
                average_attn_weights=False,
            )
            _close(eo, to, msg=str(kw))
            _close(ew, tw, msg=str(kw))

    def test_mha_unbatched_and_errors(self):
        em, tm = nn.MultiheadAttention(4, 2), torch.nn.MultiheadAttention(4, 2)
        _copy_to_torch(em, tm)
        q = _randn(3, 4)
        eo, ew = em(ember.tensor(q), ember.tensor(q), ember.tensor(q))
        to, tw = tm(*(torch.from_numpy(q),) * 3)
        _close(eo, to)
        _close(ew, tw)
        with pytest.raises(ValueError, match="divisible"):
            nn.MultiheadAttention(5, 2)
        with pytest.raises(ValueError):
            em(ember.randn(3, 2, 5), ember.randn(3, 2, 5), ember.randn(3, 2, 5))

    def test_mha_default_init_matches_torch_distribution(self):
        m = nn.MultiheadAttention(64, 4)
        bound = math.sqrt(6 / (64 + 192))
        w = m.in_proj_weight.detach().numpy()
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
        assert float(m.in_proj_bias.abs().sum()) == 0 and float(m.out_proj.bias.abs().sum()) == 0

    def test_causal_self_attention(self):
        E, H, N, T = 8, 2, 2, 5
        m = nn.CausalSelfAttention(E, H)
        x = _randn(N, T, E)
        ex = ember.tensor(x).requires_grad_()
        out = m(ex)
        assert out.shape == (N, T, E)
        # the same computation in torch with the same weights
        sd = {
            k: torch.from_numpy(v.numpy().copy()).requires_grad_()
            for k, v in m.state_dict().items()
        }
        tx = torch.from_numpy(x.copy()).requires_grad_()
        qkv = torch.nn.functional.linear(tx, sd["c_attn.weight"], sd["c_attn.bias"])
        q, k, v = (t.reshape(N, T, H, E // H).transpose(1, 2) for t in qkv.split(E, 2))
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = torch.nn.functional.linear(
            y.transpose(1, 2).reshape(N, T, E), sd["c_proj.weight"], sd["c_proj.bias"]
        )
        _close(out, y)
        g = _randn(N, T, E, seed=3)
        out.backward(ember.tensor(g))
        y.backward(torch.from_numpy(g))
        _close(ex.grad, tx.grad)
        for name, p in m.named_parameters():
            _close(p.grad, sd[name].grad, msg=name)
        # position t does not see positions > t
        x2 = x.copy()
        x2[:, -1] += 10
        np.testing.assert_allclose(
            m(ember.tensor(x2)).detach().numpy()[:, :-1],
            out.detach().numpy()[:, :-1],
            rtol=1e-5,
            atol=1e-5,
        )
        with pytest.raises(ValueError):
            m(ember.randn(2, 5, 7))


# ------------------------------------------------------------------------------- containers


class TestContainers:
    def test_sequential(self):
        a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
        s = nn.Sequential(a, b, c)
        assert len(s) == 3 and s[0] is a and s[-1] is c and list(s) == [a, b, c]
        sub = s[1:]
        assert isinstance(sub, nn.Sequential) and list(sub) == [b, c]
        assert list(sub._modules) == ["1", "2"]
        x = ember.randn(4, 2)
        np.testing.assert_allclose(s(x).detach().numpy(), c(b(a(x))).detach().numpy())
        s.append(nn.Sigmoid())
        assert len(s) == 4 and isinstance(s[3], nn.Sigmoid)
        del s[1]
        assert list(s._modules) == ["0", "1", "2"] and s[1] is c
        s.insert(1, nn.Tanh())
        assert isinstance(s[1], nn.Tanh) and len(s) == 4
        s[0] = nn.Linear(2, 3)
        assert s[0] is not a
        assert isinstance(s.pop(), nn.Sigmoid) and len(s) == 3
        assert len(s + nn.Sequential(nn.ReLU())) == 4
        with pytest.raises(IndexError):
            s[10]
        from collections import OrderedDict

        named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
        assert isinstance(named.fc, nn.Linear) and list(named.state_dict()) == [
            "fc.weight",
            "fc.bias",
        ]

    def test_module_list(self):
        ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
        assert len(ml) == 3 and len(list(ml.parameters())) == 6
        ml.append(nn.ReLU())
        ml.extend([nn.Tanh()])
        ml.insert(0, nn.Identity())
        assert isinstance(ml[0], nn.Identity) and len(ml) == 6
        assert isinstance(ml[1:3], nn.ModuleList) and len(ml[1:3]) == 2
        del ml[0]
        assert list(ml._modules) == [str(i) for i in range(5)]
        ml[-1] = nn.Sigmoid()
        assert isinstance(ml[4], nn.Sigmoid)
        with pytest.raises(IndexError):
            ml[5]
        with pytest.raises(TypeError):
            ml.extend(nn.ReLU())
        assert "(0-2): 3 x Linear(in_features=2, out_features=2, bias=True)" in repr(ml)

    def test_module_dict(self):
        md = nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.ReLU()})
        assert list(md.keys()) == ["a", "b"] and "a" in md and len(md) == 2
        md["c"] = nn.Tanh()
        assert list(md) == ["a", "b", "c"]
        assert isinstance(md.pop("b"), nn.ReLU) and "b" not in md
        md.update([("d", nn.Identity())])
        assert [k for k, _ in md.items()] == ["a", "c", "d"]
        assert list(md.state_dict()) == ["a.weight", "a.bias"]

    def test_parameter_list_dict(self):
        pl = nn.ParameterList([ember.ones(2), nn.Parameter(ember.zeros(3))])
        assert len(pl) == 2 and all(isinstance(p, nn.Parameter) for p in pl)
        m = nn.Module()
        m.pl = pl
        assert [n for n, _ in m.named_parameters()] == ["pl.0", "pl.1"]
        pd = nn.ParameterDict({"w": ember.ones(2)})
        assert isinstance(pd["w"], nn.Parameter) and list(pd.keys()) == ["w"]

    def test_parallel(self):
        a, b = nn.Linear(3, 2), nn.Linear(3, 4)
        x = ember.randn(5, 3)
        p = nn.Parallel(a, b)
        out = p(x)
        assert out.shape == (5, 6)
        np.testing.assert_allclose(
            out.detach().numpy(), np.concatenate([a(x).detach().numpy(), b(x).detach().numpy()], 1)
        )
        c = nn.Linear(3, 2)
        add = nn.Parallel([a, c], combine="add")
        np.testing.assert_allclose(
            add(x).detach().numpy(), (a(x) + c(x)).detach().numpy(), rtol=1e-6
        )
        mx = nn.Parallel(a, c, combine=lambda outs: ember.maximum(outs[0], outs[1]))
        np.testing.assert_allclose(
            mx(x).detach().numpy(), ember.maximum(a(x), c(x)).detach().numpy()
        )
        cat0 = nn.Parallel(a, c, dim=0)
        assert cat0(x).shape == (10, 2)
        assert len(list(p.parameters())) == 4 and len(p) == 2 and p[1] is b
        assert "combine='concat'" in repr(p)
        with pytest.raises(ValueError, match="different shapes"):
            nn.Parallel(a, b, combine="add")(x)
        with pytest.raises(ValueError):
            nn.Parallel(a, combine="mul")
        with pytest.raises(TypeError):
            nn.Parallel(a, 3)
        # gradients reach every branch
        p(x).sum().backward()
        assert a.weight.grad is not None and b.weight.grad is not None

    def test_residual(self):
        f = nn.Linear(4, 4)
        r = nn.Residual(f)
        x = ember.randn(3, 4, requires_grad=True)
        out = r(x)
        np.testing.assert_allclose(out.detach().numpy(), (x + f(x)).detach().numpy(), rtol=1e-6)
        out.sum().backward()
        np.testing.assert_allclose(
            x.grad.numpy(),
            1 + f.weight.detach().numpy().sum(0, keepdims=True).repeat(3, 0),
            rtol=1e-5,
        )
        with pytest.raises(ValueError, match=r"\(3, 2\).*\(3, 4\)"):
            nn.Residual(nn.Linear(4, 2))(x)
        with pytest.raises(TypeError):
            nn.Residual(lambda x: x)

    def test_projection_residual(self):
        f, proj = nn.Sequential(nn.Linear(4, 6), nn.ReLU()), nn.Linear(4, 6, bias=False)
        pr = nn.ProjectionResidual(f, proj)
        x = ember.randn(3, 4)
        np.testing.assert_allclose(
            pr(x).detach().numpy(), (proj(x) + f(x)).detach().numpy(), rtol=1e-6
        )
        assert list(pr.state_dict()) == ["module.0.weight", "module.0.bias", "projection.weight"]
        with pytest.raises(ValueError):
            nn.ProjectionResidual(f, nn.Linear(4, 5))(x)


# ------------------------------------------------------------------------------------- init


class TestInit:
    def test_calculate_gain(self):
        assert nn.init.calculate_gain("linear") == 1
        assert nn.init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
        assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)
        assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
        assert nn.init.calculate_gain("selu") == 0.75
        with pytest.raises(ValueError):
            nn.init.calculate_gain("bogus")
        if torch is not None:
            for nl, p in [
                ("sigmoid", None),
                ("conv2d", None),
                ("leaky_relu", None),
                ("leaky_relu", 0.3),
            ]:
                assert nn.init.calculate_gain(nl, p) == pytest.approx(
                    torch.nn.init.calculate_gain(nl, p)
                )

    @staticmethod
    def _big(*shape):
        return ember.empty(*shape)

    def test_uniform_normal_constant(self):
        t = self._big(400, 500)
        nn.init.uniform_(t, -2.0, 3.0)
        a = t.numpy()
        assert a.min() >= -2 and a.max() < 3 and abs(a.mean() - 0.5) < 0.02
        nn.init.normal_(t, 1.0, 2.0)
        a = t.numpy()
        assert abs(a.mean() - 1.0) < 0.02 and abs(a.std() - 2.0) < 0.02
        nn.init.constant_(t, 0.25)
        assert np.all(t.numpy() == 0.25)
        nn.init.ones_(t)
        assert np.all(t.numpy() == 1)
        nn.init.zeros_(t)
        assert np.all(t.numpy() == 0)
        e = ember.empty(3, 4)
        nn.init.eye_(e)
        np.testing.assert_array_equal(e.numpy(), np.eye(3, 4))

    def test_xavier(self):
        t = self._big(300, 700)
        nn.init.xavier_uniform_(t, gain=2.0)
        bound = 2.0 * math.sqrt(6 / 1000)
        a = t.numpy()
        assert (
            a.max() <= bound
            and a.max() > 0.99 * bound
            and abs(a.std() - bound / math.sqrt(3)) < 0.01 * bound
        )
        nn.init.xavier_normal_(t)
        assert abs(t.numpy().std() - math.sqrt(2 / 1000)) < 0.01 * math.sqrt(2 / 1000)

    @pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
    @pytest.mark.parametrize(
        "nonlinearity,a", [("relu", 0), ("leaky_relu", 0.1), ("linear", 0), ("tanh", 0)]
    )
    def test_kaiming(self, mode, nonlinearity, a):
        t = self._big(200, 100, 3)  # fan_in 300, fan_out 600
        fan = 300 if mode == "fan_in" else 600
        gain = nn.init.calculate_gain(nonlinearity, a)
        nn.init.kaiming_uniform_(t, a=a, mode=mode, nonlinearity=nonlinearity)
        bound = gain * math.sqrt(3 / fan)
        arr = t.numpy()
        assert arr.max() <= bound and arr.max() > 0.99 * bound
        nn.init.kaiming_normal_(t, a=a, mode=mode, nonlinearity=nonlinearity)
        assert abs(t.numpy().std() - gain / math.sqrt(fan)) < 0.02 * gain / math.sqrt(fan)

    def test_kaiming_errors(self):
        with pytest.raises(ValueError, match="fewer than 2"):
            nn.init.kaiming_uniform_(ember.empty(5))
        with pytest.raises(ValueError, match="Mode"):
            nn.init.kaiming_uniform_(ember.empty(5, 5), mode="fan_avg")
        with pytest.warns(UserWarning):
            nn.init.kaiming_uniform_(ember.empty(0, 3))

    def test_trunc_normal(self):
        t = self._big(300, 300)
        nn.init.trunc_normal_(t, mean=0.5, std=1.0, a=-1.0, b=1.5)
        a = t.numpy()
        assert a.min() >= -1.0 and a.max() <= 1.5
        # mean of N(0.5, 1) truncated to [-1, 1.5]
        from math import erf, exp, pi, sqrt

        alpha, beta = -1.5, 1.0
        phi = lambda z: exp(-z * z / 2) / sqrt(2 * pi)  # noqa: E731
        cdf = lambda z: 0.5 * (1 + erf(z / sqrt(2)))  # noqa: E731
        mean = 0.5 + (phi(alpha) - phi(beta)) / (cdf(beta) - cdf(alpha))
        assert abs(a.mean() - mean) < 0.01
        with pytest.raises(ValueError):
            nn.init.trunc_normal_(t, a=1.0, b=0.0)

    @pytest.mark.parametrize("shape", [(6, 10), (10, 6), (4, 3, 2)])
    def test_orthogonal(self, shape):
        t = ember.empty(*shape)
        nn.init.orthogonal_(t, gain=2.0)
        m = t.numpy().reshape(shape[0], -1)
        if m.shape[0] <= m.shape[1]:
            np.testing.assert_allclose(m @ m.T, 4 * np.eye(m.shape[0]), atol=1e-5)
        else:
            np.testing.assert_allclose(m.T @ m, 4 * np.eye(m.shape[1]), atol=1e-5)
        with pytest.raises(ValueError):
            nn.init.orthogonal_(ember.empty(3))

    def test_init_is_seeded_and_no_grad(self):
        p = nn.Parameter(ember.empty(3, 3))
        ember.manual_seed(3)
        nn.init.normal_(p)
        a = p.detach().numpy().copy()
        ember.manual_seed(3)
        nn.init.normal_(p)
        np.testing.assert_array_equal(a, p.detach().numpy())
        assert p.grad_fn is None and p.is_leaf
        g = ember.Generator() if hasattr(ember, "Generator") else None
        if g is not None:
            g.manual_seed(1)
            nn.init.uniform_(p, generator=g)

    def test_linear_default_init(self):
        m = nn.Linear(400, 300)
        bound = 1 / math.sqrt(
            400
        )  # kaiming_uniform(a=sqrt(5)) == U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
        assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound
        assert np.abs(b).max() <= bound and np.abs(b).max() > 0.9 * bound

    def test_embedding_default_init(self):
        w = nn.Embedding(1000, 100).weight.detach().numpy()
        assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01

    def test_norm_default_init(self):
        for m in (nn.LayerNorm(5), nn.GroupNorm(1, 5), nn.BatchNorm1d(5)):
            assert np.all(m.weight.detach().numpy() == 1) and np.all(m.bias.detach().numpy() == 0)


# --------------------------------------------------------------------------------- clipping


@requires_torch
class TestClipGrad:
    @pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
    @pytest.mark.parametrize("max_norm", [0.5, 100.0])
    def test_clip_grad_norm(self, norm_type, max_norm):
        shapes = [(30, 20), (20,), (1000, 70)]
        grads = [_randn(*s, seed=i) for i, s in enumerate(shapes)]
        eps = [nn.Parameter(ember.zeros(*s)) for s in shapes]
        tps = [torch.nn.Parameter(torch.zeros(*s)) for s in shapes]
        for e, t, g in zip(eps, tps, grads):
            e.grad = ember.tensor(g)
            t.grad = torch.from_numpy(g.copy())
        en = nn.utils.clip_grad_norm_(eps, max_norm, norm_type)
        tn = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type)
        assert float(en) == pytest.approx(float(tn), rel=1e-5)
        assert isinstance(en, ember.Tensor) and en.ndim == 0
        for e, t in zip(eps, tps):
            _close(e.grad, t.grad, rtol=1e-5, atol=1e-7)

    def test_clip_grad_value(self):
        g = _randn(50, 40, scale=3.0)
        e, t = nn.Parameter(ember.zeros(50, 40)), torch.nn.Parameter(torch.zeros(50, 40))
        e.grad, t.grad = ember.tensor(g), torch.from_numpy(g.copy())
        nn.utils.clip_grad_value_([e], 1.5)
        torch.nn.utils.clip_grad_value_([t], 1.5)
        _close(e.grad, t.grad)

    def test_clip_edge_cases(self):
        p = nn.Parameter(ember.ones(3))
        assert float(nn.utils.clip_grad_norm_([p], 1.0)) == 0.0  # no grads
        p.grad = ember.tensor([float("nan"), 1.0, 1.0])
        with pytest.raises(RuntimeError, match="non-finite"):
            nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
        # a non-contiguous grad is clipped in place too
        q = nn.Parameter(ember.zeros(4, 3))
        q.grad = ember.full((3, 4), 10.0).t()
        nn.utils.clip_grad_value_(q, 2.0)
        assert np.all(q.grad.numpy() == 2.0)
        nn.utils.clip_grad_norm_(q, 1.0)
        assert float(q.grad.norm()) == pytest.approx(1.0, rel=1e-5)

    def test_parameters_to_vector(self):
        m = nn.Linear(3, 2)
        v = nn.utils.parameters_to_vector(m.parameters())
        assert v.shape == (8,)
        nn.utils.vector_to_parameters(v * 0 + 1, m.parameters())
        assert np.all(m.weight.detach().numpy() == 1)
        with pytest.raises(ValueError):
            nn.utils.vector_to_parameters(ember.ones(3), m.parameters())


# --------------------------------------------------------------------------- functional misc


@requires_torch
class TestFunctional:
    def test_linear_functional(self):
        x, w, b = _randn(4, 5), _randn(3, 5, seed=1), _randn(3, seed=2)
        _close(
            F.linear(ember.tensor(x), ember.tensor(w), ember.tensor(b)),
            torch.nn.functional.linear(*(torch.from_numpy(a) for a in (x, w, b))),
        )
        _close(
            F.linear(ember.tensor(x), ember.tensor(w)),
            torch.nn.functional.linear(torch.from_numpy(x), torch.from_numpy(w)),
        )

    def test_norms_functional(self):
        x = _randn(3, 4, 5)
        tx = torch.from_numpy(x)
        _close(F.layer_norm(ember.tensor(x), (4, 5)), torch.nn.functional.layer_norm(tx, (4, 5)))
        _close(F.group_norm(ember.tensor(x), 2), torch.nn.functional.group_norm(tx, 2))
        _close(F.rms_norm(ember.tensor(x), [5]), torch.nn.functional.rms_norm(tx, [5]))
        _close(F.normalize(ember.tensor(x)), torch.nn.functional.normalize(tx))
        _close(
            F.cosine_similarity(ember.tensor(x), ember.tensor(x * 2 + 1)),
            torch.nn.functional.cosine_similarity(tx, tx * 2 + 1),
        )

    def test_embedding_functional(self):
        w = _randn(6, 3)
        idx = np.array([1, 5, 5, 0])
        _close(
            F.embedding(ember.tensor(idx), ember.tensor(w)),
            torch.nn.functional.embedding(torch.from_numpy(idx), torch.from_numpy(w)),
        )

    def test_batch_norm_functional_eval(self):
        x, rm, rv = _randn(4, 3), _randn(3, seed=1), np.abs(_randn(3, seed=2)) + 0.5
        _close(
            F.batch_norm(ember.tensor(x), ember.tensor(rm), ember.tensor(rv)),
            torch.nn.functional.batch_norm(
                torch.from_numpy(x), torch.from_numpy(rm), torch.from_numpy(rv)
            ),
        )
        with pytest.raises(ValueError):
            F.batch_norm(ember.tensor(x), None, None)

    def test_float64_module(self):
        em = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.GELU()).double()
        tm = torch.nn.Sequential(
            torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.GELU()
        ).double()
        _copy_to_torch(em, tm)
        x = np.random.default_rng(0).standard_normal((5, 3))
        _close(em(ember.tensor(x)), tm(torch.from_numpy(x)), rtol=1e-12, atol=1e-12)


class TestGradcheck:
    """Float64 finite differences through composite layers."""

    @pytest.mark.parametrize("fn", ["layer_norm", "group_norm", "rms_norm", "sdpa", "batch_norm"])
    def test_gradcheck(self, fn):
        from ember.testing import gradcheck

        rng = np.random.default_rng(0)
        x = ember.tensor(rng.standard_normal((4, 6)), requires_grad=True)
        w = ember.tensor(rng.standard_normal(6), requires_grad=True)
        b = ember.tensor(rng.standard_normal(6), requires_grad=True)
        if fn == "layer_norm":
            assert gradcheck(lambda x, w, b: F.layer_norm(x, (6,), w, b), (x, w, b))
        elif fn == "group_norm":
            assert gradcheck(lambda x, w, b: F.group_norm(x, 3, w, b), (x, w, b))
        elif fn == "rms_norm":
            assert gradcheck(lambda x, w: F.rms_norm(x, (6,), w), (x, w))
        elif fn == "batch_norm":
            assert gradcheck(
                lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), (x, w, b)
            )
        else:
            q = ember.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
            k = ember.tensor(rng.standard_normal((2, 5, 4)), requires_grad=True)
            v = ember.tensor(rng.standard_normal((2, 5, 3)), requires_grad=True)
            assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v), (q, k, v))
