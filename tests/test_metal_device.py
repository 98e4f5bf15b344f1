"""The device seam: transfers, creation on a device, autograd and optimizers keeping the device,
printing, mixed-device errors, out of memory, and the per-op CPU fallback with its counts.
Runs on Metal when the backend is present (Linux: the emulator build); the no-backend errors
run everywhere else."""

import numpy as np
import pytest

import ember
from conftest import METAL, metal_variants, requires_metal, to_np


def test_no_backend_says_how_to_get_it():
    if METAL:
        pytest.skip("the Metal backend is built in")
    assert ember.metal.is_available() is False and ember.backends.mps.is_available() is False
    for dev in ("metal", "metal:0", "mps"):
        with pytest.raises(RuntimeError, match="EMBER_METAL"):
            ember.zeros(2).to(dev)
    with pytest.raises(RuntimeError, match="Metal backend is not built"):
        ember.ones(3, device="mps")
    ember.metal.synchronize()  # a no-op without the backend


@requires_metal
def test_device_names_and_printing():
    x = ember.tensor([1.0, 2.0], device="mps")
    assert str(x.device) == "metal:0" and x.device == "mps" and x.device == "metal"
    assert x.device.type == "metal" and x.is_mps and not x.is_cpu
    assert repr(x) == "tensor([1., 2.], device='metal:0')"
    assert ember.backends.mps.is_built() and ember.backends.mps.is_available()
    assert ember.metal.is_available() and ember.mps.is_available()
    with pytest.raises(RuntimeError, match="metal:1"):
        ember.zeros(1, device="metal:1")


@requires_metal
def test_transfers_round_trip_every_dtype():
    for dt in (
        ember.float32,
        ember.float16,
        ember.bfloat16,
        ember.float64,
        ember.int32,
        ember.int64,
        ember.uint8,
        ember.bool,
    ):
        a = (ember.arange(12) % 5).to(dt).reshape(3, 4)
        m = a.to("metal")
        assert m.device == "metal" and m.dtype == dt
        back = m.cpu()
        assert back.device == "cpu"
        np.testing.assert_array_equal(to_np(back.float()), to_np(a.float()))
    # a strided source, .to(device, dtype), .numpy() and .item() synchronize first
    a = ember.arange(12.0).reshape(3, 4).t()
    m = a.to("metal", ember.float16)
    assert m.dtype == ember.float16 and m.shape == (4, 3)
    np.testing.assert_array_equal(m.numpy(), to_np(a).astype(np.float16))
    assert (m * 2)[1, 2].item() == 2 * a[1, 2].item()


@requires_metal
def test_creation_on_device():
    for t in (
        ember.zeros(2, 3, device="metal"),
        ember.ones(4, device="mps"),
        ember.empty(2, device="metal"),
        ember.full((2,), 7, device="metal"),
        ember.arange(5, device="metal"),
        ember.linspace(0, 1, 5, device="metal"),
        ember.eye(3, device="metal"),
        ember.rand(3, device="metal"),
        ember.randn(3, device="metal"),
        ember.randint(0, 9, (4,), device="metal"),
        ember.randperm(5, device="metal"),
        ember.tensor([1, 2], device="metal"),
        ember.as_tensor(np.ones(3), device="metal"),
    ):
        assert t.device == "metal", t
    x = ember.ones(2, 2, device="metal")
    for t in (
        ember.zeros_like(x),
        ember.ones_like(x),
        ember.full_like(x, 3),
        ember.empty_like(x),
        ember.rand_like(x),
        ember.randn_like(x),
        x.new_zeros(3),
        x.new_full((2,), 1.5),
        x.new_tensor([1.0]),
    ):
        assert t.device == "metal", t
    assert ember.zeros_like(x, device="cpu").device == "cpu"
    np.testing.assert_array_equal(to_np(ember.full((2,), 7, device="metal")), [7, 7])
    np.testing.assert_array_equal(to_np(ember.eye(2, device="metal")), np.eye(2, dtype=np.float32))
    # metal draws its own counter-based stream (tests/test_metal_random.py): a seed repeats it
    ember.manual_seed(3)
    a = ember.randn(5, device="metal")
    ember.manual_seed(3)
    np.testing.assert_array_equal(to_np(ember.randn(5, device="metal")), to_np(a))


@requires_metal
def test_mixed_devices_raise():
    a, b = ember.ones(3), ember.ones(3, device="metal")
    for f in (lambda: a + b, lambda: b * a, lambda: ember.where(b > 0, a, b), lambda: b.add_(a)):
        with pytest.raises(RuntimeError, match=r"(cpu and metal:0|metal:0 and cpu)"):
            f()
    with pytest.raises(RuntimeError, match="add"):
        b + a
    # a CPU 0-d tensor joins a device op (as in PyTorch), and so does a Python number
    np.testing.assert_array_equal(to_np(b + ember.tensor(2.0)), [3, 3, 3])
    np.testing.assert_array_equal(to_np(b * 2.5), [2.5, 2.5, 2.5])


@requires_metal
def test_out_of_memory_is_a_runtime_error():
    with pytest.raises(RuntimeError, match="out of memory"):
        ember.empty(2**50, dtype=ember.uint8, device="metal")
    assert float(ember.ones(2, device="metal").sum()) == 2.0  # still usable


@requires_metal
def test_autograd_keeps_the_device():
    x = ember.tensor([1.0, -2.0, 3.0], device="metal", requires_grad=True)
    y = ember.tensor([0.5, 0.5, 2.0], device="metal", requires_grad=True)
    (x * y + x.relu()).sum().backward()
    assert x.grad.device == "metal" and y.grad.device == "metal"
    np.testing.assert_allclose(to_np(x.grad), [1.5, 0.5, 3.0])
    np.testing.assert_allclose(to_np(y.grad), [1.0, -2.0, 3.0])
    # .to() is differentiable across devices
    c = ember.tensor([1.0, 2.0], requires_grad=True)
    (c.to("metal") * 3).sum().backward()
    assert c.grad.device == "cpu"
    np.testing.assert_allclose(to_np(c.grad), [3.0, 3.0])


@requires_metal
def test_module_and_optimizer_on_device():
    ember.manual_seed(0)
    model = ember.nn.Linear(3, 2)
    ref = ember.nn.Linear(3, 2)
    ref.load_state_dict(model.state_dict())
    model.to("mps")
    assert all(p.device == "metal" for p in model.parameters())
    x = ember.randn(4, 3)
    for m, inp in ((model, x.to("metal")), (ref, x)):
        opt = ember.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        for _ in range(2):
            opt.zero_grad()
            m(inp).pow(2).mean().backward()
            opt.step()
        if m is model:
            states = [
                t for s in opt.state.values() for t in s.values() if isinstance(t, ember.Tensor)
            ]
            assert states and all(t.device == "metal" for t in states if t.dim() > 0)
    for p, q in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(to_np(p.cpu()), to_np(q), rtol=1e-5, atol=1e-6)
    assert all(p.device == "cpu" for p in model.cpu().parameters())


@requires_metal
def test_per_op_fallback_is_counted():
    x = ember.tensor([0.1, -0.5, 2.0], device="metal")
    x64 = x.to(ember.float64)
    ember.metal.reset_fallback_counts()
    y = ember.erf(
        x64
    )  # the Metal unary kernel declines float64: the CPU kernel runs on the same buffer
    z = x.relu()  # ... but runs float32
    assert ember.metal.fallback_counts() == {"unary/erf": 1}
    np.testing.assert_allclose(to_np(y), to_np(ember.erf(x64.cpu())), rtol=1e-12)
    np.testing.assert_array_equal(to_np(z), np.float32([0.1, 0.0, 2.0]))
    x64.sum()
    assert set(ember.metal.fallback_counts()) >= {"unary/erf"}
    ember.metal.reset_fallback_counts()
    assert ember.metal.fallback_counts() == {}


@requires_metal
def test_elementwise_computation_has_no_fallbacks():
    def run():
        a = ember.tensor([[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]], device="metal")
        b = ember.full((3,), 2.0, device="metal")
        h = (a * b + 1.0).sigmoid() - a.abs() / 3
        m = ember.where(h > 0, h, ember.zeros_like(h))
        c = (m.half() * 2).float().clamp(0.0, 1.0)
        return c + ember.ones(2, 3, device="metal").to(ember.int32)

    ember.metal.reset_fallback_counts()
    out = metal_variants(run)
    assert ember.metal.fallback_counts() == {}
    a = ember.tensor([[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]])
    h = (a * 2.0 + 1.0).sigmoid() - a.abs() / 3
    ref = ember.where(h > 0, h, 0.0).half().mul(2).float().clamp(0.0, 1.0) + 1
    np.testing.assert_allclose(to_np(out), to_np(ref), rtol=1e-6)
