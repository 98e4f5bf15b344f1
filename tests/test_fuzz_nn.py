"""Robustness fuzzing of the CNN ops with hypothesis: convolutions (conv1d/2d, conv_transpose1d/2d,
unfold, fold), batch_norm, interpolate, the pooling family and the matching layers get random
shapes (rank 0..5, 0-size dims), all 8 dtypes, non-contiguous inputs and odd arguments (negative,
zero, huge, floats, bools, None, strings, tuples of the wrong length).

Every call must return a readable result or raise TypeError / ValueError / IndexError /
RuntimeError. For float32 inputs PyTorch is the reference: when ember returns a result, PyTorch
must accept the same call and return the same values (layers get ember's parameters copied in).
ember may refuse a call PyTorch accepts (it validates arguments even for empty inputs and lacks
bicubic/area interpolation), never the other way round.

Known, deliberate differences (skipped in the comparison):
  - a convolution over zero input channels: ember returns the (bias-filled) output with
    out_channels channels; PyTorch returns zero channels.
"""

import math
import os
import resource
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ember
import ember.nn as enn
import ember.nn.functional as EF
from conftest import requires_torch, torch

ALLOWED = (TypeError, ValueError, IndexError, RuntimeError)
pytestmark = pytest.mark.filterwarnings("ignore")
FUZZ = settings(
    max_examples=int(os.environ.get("EMBER_FUZZ_NN_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

DTYPES = ["float32", "float64", "float16", "bfloat16", "int32", "int64", "uint8", "bool"]
# fmt: off
WEIRD = [0, -1, -5, 2**31, 2**62, 10**12, 1.5, 0.0, True, False, None, "x", "same", "valid",
         (), (1,), (1, 2, 3), (2, -1), [1, 1], (1.0, 1), ((1,),)]
# fmt: on
CONV = ["conv1d", "conv2d", "Conv1d", "Conv2d"]
CONVT = ["conv_transpose1d", "conv_transpose2d", "ConvTranspose1d", "ConvTranspose2d"]
OTHER = ["unfold", "fold", "batch_norm", "BatchNorm2d", "interpolate", "Upsample"]
POOL = [
    "max_pool1d",
    "max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
]


class Spec:
    """A tensor to build: shape, dtype, data seed, non-contiguous (a transposed view), grad."""

    def __init__(self, shape, dtype, seed, noncontig, grad):
        self.shape, self.dtype, self.seed = tuple(shape), dtype, seed
        self.noncontig, self.grad = noncontig, grad

    def __repr__(self):
        return f"Spec({self.shape}, {self.dtype!r}, nc={self.noncontig}, grad={self.grad})"

    def array(self):
        a = np.random.default_rng(self.seed).standard_normal(self.shape).astype(np.float32)
        if self.dtype in ("int32", "int64", "uint8"):
            a = np.abs(np.round(a * 3))
        elif self.dtype == "bool":
            a = (a > 0).astype(np.float32)
        return a

    def ember(self):
        a, flip = self.array(), self.noncontig and len(self.shape) >= 2
        if flip:
            a = np.ascontiguousarray(np.swapaxes(a, 0, -1))
        t = ember.tensor(a).to(getattr(ember, self.dtype))
        if flip:
            t = t.transpose(0, -1)
        if self.grad and "float" in self.dtype:
            t.requires_grad_()
        return t

    def torch(self):
        return torch.from_numpy(self.array())


class Draw:
    """random.Random's interface on top of hypothesis draws (so cases shrink)."""

    def __init__(self, data):
        self.data = data

    def randint(self, a, b):
        return self.data.draw(st.integers(a, b))

    def choice(self, seq):
        return self.data.draw(st.sampled_from(seq))

    def random(self):
        return self.data.draw(st.floats(0, 1, exclude_max=True))

    def uniform(self, a, b):
        return self.data.draw(st.floats(a, b))


# ------------------------------------------------------------------------------ case generation
def size_arg(r, nsp, lo, hi):
    """An int, an nsp-tuple, or (sometimes) something weird."""
    if r.random() < 0.12:
        return r.choice(WEIRD)
    if r.random() < 0.5:
        return r.randint(lo, hi)
    return tuple(r.randint(lo, hi) for _ in range(nsp))


def tensor(r, shape, dtype="float32"):
    """Mostly the given shape and float32; sometimes a random rank/shape, a 0-size dim or dtype."""
    shape = list(shape)
    if r.random() < 0.15:
        shape = [r.randint(0, 5) for _ in range(r.randint(0, 5))]
    elif r.random() < 0.1 and shape:
        shape[r.randint(0, len(shape) - 1)] = 0
    if r.random() < 0.15:
        dtype = r.choice(DTYPES)
    return Spec(shape, dtype, r.randint(0, 2**31), r.random() < 0.3, r.random() < 0.3)


def maybe(r, value, p=0.08):
    return r.choice(WEIRD) if r.random() < p else value


def gen_case(op, r):
    """One call: {"fn", "args", "kw"} for a functional op or {"layer", "ctor", "x", "train"}."""
    nsp = 2 if "2d" in op.lower() else 1
    if op in OTHER:
        nsp = r.choice([1, 2])
    sp = [r.randint(1, 9) for _ in range(nsp)]
    groups = r.choice([1, 1, 2, 3])
    cpg, kpg = r.randint(1, 3), r.randint(1, 3)
    C, K = cpg * groups, kpg * groups
    N = r.randint(0, 3) if r.random() < 0.15 else r.randint(1, 3)
    batched = r.random() < 0.8
    xs = ([N] if batched else []) + [C] + sp
    if op in CONV or op in CONVT:
        ks = [r.randint(1, 4) for _ in range(nsp)]
        kw = dict(stride=size_arg(r, nsp, 1, 3), dilation=size_arg(r, nsp, 1, 2))
        if op in CONV:
            kw["padding"] = (
                r.choice(["same", "valid"]) if r.random() < 0.15 else size_arg(r, nsp, 0, 2)
            )
        else:
            kw["padding"] = size_arg(r, nsp, 0, 2)
            kw["output_padding"] = size_arg(r, nsp, 0, 2)
        if op[0].isupper():
            ctor = dict(
                in_channels=maybe(r, C),
                out_channels=maybe(r, K),
                kernel_size=maybe(r, tuple(ks)),
                groups=maybe(r, groups),
                bias=r.random() < 0.5,
                **kw,
            )
            if op in CONV:
                ctor["padding_mode"] = r.choice(
                    ["zeros"] * 4 + ["reflect", "replicate", "circular"]
                )
            return dict(layer=op, ctor=ctor, x=tensor(r, xs))
        wshape = [K, cpg] + ks if op in CONV else [C, kpg] + ks
        bias = tensor(r, [K]) if r.random() < 0.5 else None
        kw["groups"] = maybe(r, groups)
        return dict(fn=op, args=[tensor(r, xs), tensor(r, wshape), bias], kw=kw)
    if op == "unfold":
        kw = dict(
            kernel_size=size_arg(r, 2, 1, 4),
            dilation=size_arg(r, 2, 1, 2),
            padding=size_arg(r, 2, 0, 2),
            stride=size_arg(r, 2, 1, 3),
        )
        return dict(fn=op, args=[tensor(r, xs)], kw=kw)
    if op == "fold":
        k, osz = [r.randint(1, 3), r.randint(1, 3)], [r.randint(1, 8), r.randint(1, 8)]
        s, d, p = [r.randint(1, 2)] * 2, [r.randint(1, 2)] * 2, [r.randint(0, 1)] * 2
        L = math.prod(
            max((osz[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1, 0) for i in (0, 1)
        )
        if r.random() < 0.3:
            L = r.randint(0, 20)
        shape = ([N] if batched else []) + [C * k[0] * k[1], L]
        kw = dict(
            output_size=maybe(r, osz, 0.1),
            kernel_size=maybe(r, k, 0.1),
            dilation=maybe(r, d, 0.1),
            padding=maybe(r, p, 0.1),
            stride=maybe(r, s, 0.1),
        )
        return dict(fn=op, args=[tensor(r, shape)], kw=kw)
    if op in ("batch_norm", "BatchNorm2d"):
        training = r.random() < 0.5
        mom = r.choice([0.1, 0.0, 1.0, None, -1.0, 0.5]) if r.random() < 0.3 else 0.1
        eps = r.choice([1e-5, 0.0, -1.0, 1e-3, 1.0, float("nan")]) if r.random() < 0.3 else 1e-5
        if op == "BatchNorm2d":
            ctor = dict(
                num_features=maybe(r, C, 0.1),
                eps=eps,
                momentum=mom,
                affine=r.random() < 0.7,
                track_running_stats=r.random() < 0.7,
            )
            x = tensor(r, [N, C, r.randint(1, 4), r.randint(1, 4)])
            return dict(layer=op, ctor=ctor, x=x, train=training)
        args = [tensor(r, [N, C] + sp[: r.randint(0, 2)])]
        args += [tensor(r, [C]) if r.random() < 0.8 else None for _ in range(4)]
        kw = dict(training=training, momentum=0.1 if mom is None else mom, eps=eps)
        return dict(fn=op, args=args, kw=kw)
    if op in ("interpolate", "Upsample"):
        modes = ["nearest", "nearest-exact", "linear", "bilinear", "bicubic", "area", "bad"]
        mode = r.choice(modes) if r.random() < 0.5 else ("linear" if nsp == 1 else "bilinear")
        size = scale = None
        if r.random() < 0.5:
            # fmt: off
            scale = r.choice([r.uniform(0.1, 4.0), r.randint(1, 3), 0.5, 2.0, 1.0, (1.5, 2.5),
                              0.0, -1.0, 1e-9, 1e9, float("nan"), float("inf"), True, "2",
                              tuple(r.uniform(0.2, 3.0) for _ in range(nsp))])
        else:
            size = r.choice(
                [
                    r.randint(1, 12),
                    tuple(r.randint(1, 12) for _ in range(nsp)),
                    0,
                    -1,
                    (3,),
                    (2, 3, 4),
                    2**40,
                    1.5,
                    "x",
                    None,
                    True,
                ]
            )
            # fmt: on
        kw = dict(
            size=size,
            scale_factor=scale,
            mode=mode,
            align_corners=r.choice([None, None, True, False]),
            recompute_scale_factor=r.choice([None, None, True, False]),
        )
        x = tensor(r, [N, C] + sp)
        if op == "Upsample":
            return dict(layer=op, ctor=kw, x=x)
        return dict(fn=op, args=[x], kw=kw)
    if op.startswith(("max_pool", "avg_pool")):
        kw = dict(
            kernel_size=size_arg(r, nsp, 1, 4),
            stride=r.choice([None, size_arg(r, nsp, 1, 3)]),
            padding=size_arg(r, nsp, 0, 2),
            ceil_mode=r.random() < 0.3,
        )
        if op.startswith("max"):
            kw["dilation"] = size_arg(r, nsp, 1, 2)
            kw["return_indices"] = r.random() < 0.2
        else:
            kw["count_include_pad"] = r.random() < 0.5
            if nsp == 2 and r.random() < 0.2:
                kw["divisor_override"] = r.choice([1, 2, 0, -1, None, 3])
        return dict(fn=op, args=[tensor(r, xs)], kw=kw)
    assert op.startswith("adaptive")
    # fmt: off
    out = r.choice([r.randint(1, 10), tuple(r.randint(1, 10) for _ in range(nsp)), 0, -1, None,
                    (None, 3), (2, None), 1.5, (1, 2, 3), True])  # huge sizes: test_adaptive_pool_huge_output_size
    # fmt: on
    kw = dict(output_size=out)
    if "max" in op:
        kw["return_indices"] = r.random() < 0.2
    return dict(fn=op, args=[tensor(r, xs)], kw=kw)


# ------------------------------------------------------------------------------------ running
@contextmanager
def memory_cap(extra=2 << 30):
    """Caps the address space for the call, so a huge output fails to allocate (a clean
    RuntimeError) instead of paging in gigabytes. Not under ASan (scripts/sanitize.sh): its
    shadow memory cannot be mapped under an address-space limit."""
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        yield
        return
    try:
        with open("/proc/self/status") as f:
            vm = next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("VmSize:"))
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    except (OSError, StopIteration, ValueError):  # not Linux: no cap
        yield
        return
    cap = vm + extra if hard == resource.RLIM_INFINITY else min(vm + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def huge(v):
    if isinstance(v, dict):
        return any(huge(x) for x in v.values())
    if isinstance(v, (list, tuple)):
        return any(huge(x) for x in v)
    return isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) > 10**6


def specs(case):
    return [a for a in case.get("args", []) if isinstance(a, Spec)] + (
        [case["x"]] if "x" in case else []
    )


def run(lib, case):
    """(result, layer) from ember or torch; ember's exceptions propagate."""
    if lib == "ember":
        nn, F, conv = enn, EF, Spec.ember
    else:
        nn, F, conv = torch.nn, torch.nn.functional, Spec.torch
    if "fn" in case:
        args = [conv(a) if isinstance(a, Spec) else a for a in case["args"]]
        return getattr(F, case["fn"])(*args, **case["kw"]), None
    layer = getattr(nn, case["layer"])(**case["ctor"])
    if case.get("train") is not None:
        layer.train(case["train"])
    return layer, conv(case["x"])


def arrays(out):
    outs = out if isinstance(out, (tuple, list)) else (out,)
    res = []
    for o in outs:
        if isinstance(o, ember.Tensor):
            assert isinstance(o, ember.Tensor), f"unexpected result type {type(o)}"
            a = o.detach().to(ember.float64).numpy()
            assert a.shape == tuple(o.shape)
        else:
            a = o.detach().double().numpy()
        res.append(a)
    return res


def copy_state(src, dst):
    """ember layer parameters and buffers -> the torch layer (same names)."""
    with torch.no_grad():
        for name, t in list(src.named_parameters()) + list(src.named_buffers()):
            getattr(dst, name).copy_(torch.from_numpy(t.detach().to(ember.float64).numpy()))


def check(op, case):
    # ember: a result or an allowed exception
    try:
        with memory_cap():
            out, x = run("ember", case)
            layer = None
            if x is not None:
                layer, out = out, out(x)
            ours = arrays(out)
            first = out[0] if isinstance(out, (tuple, list)) else out
            if first.requires_grad and first.numel() > 0 and first.numel() < 10**6:
                first.float().sum().backward()
    except ALLOWED:
        return
    # torch on float32 cases with sane sizes
    if torch is None or huge(case) or not all(s.dtype == "float32" for s in specs(case)):
        return
    if op in CONV + CONVT and len(specs(case)[0].shape) >= 2:
        shp = specs(case)[0].shape
        if shp[-2 if op.endswith("1d") else -3] == 0:  # zero input channels: see module doc
            return
    try:
        with memory_cap():
            theirs, tx = run("torch", case)
            if tx is not None:
                copy_state(layer, theirs)
                theirs = theirs(tx)
    except Exception as e:  # noqa: BLE001 - any torch refusal counts
        raise AssertionError(f"ember accepted a call PyTorch refuses ({e!r}): {case}") from None
    theirs = arrays(theirs)
    assert [a.shape for a in ours] == [a.shape for a in theirs], case
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, equal_nan=True, err_msg=str(case))


@pytest.mark.parametrize("op", CONV + CONVT + OTHER + POOL)
@FUZZ
@given(data=st.data())
def test_fuzz_nn(op, data):
    check(op, gen_case(op, Draw(data)))


# ----------------------------------------------------------------- regression cases found by it
def _e(*shape, dtype=ember.float32):
    return ember.tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32)).to(
        dtype
    )


@requires_torch
def test_conv_same_padding_huge_dilation_does_not_overrun():
    # the 'same' padding exceeded the output row: im2col zero-filled past its buffer
    x, w = _e(1, 1, 5), _e(1, 1, 2)
    ref = torch.nn.functional.conv1d(
        torch.from_numpy(x.numpy()), torch.from_numpy(w.numpy()), padding="same", dilation=30
    )
    for _ in range(3):
        np.testing.assert_allclose(EF.conv1d(x, w, padding="same", dilation=30).numpy(), ref)
    y = EF.conv1d(_e(3, 5), _e(3, 1, 2), padding="same", dilation=2**31, groups=3)  # depthwise
    assert tuple(y.shape) == (3, 5)


@pytest.mark.parametrize(
    "call",
    [
        lambda: EF.conv1d(_e(1, 2, 5), _e(3, 2, 2), padding=2**63 - 1),
        lambda: EF.conv1d(_e(1, 2, 5), _e(3, 2, 2), dilation=2**62, padding="same"),
        lambda: EF.conv2d(_e(1, 2, 5, 5), _e(3, 2, 2, 2), dilation=2**62, padding=2**62),
        lambda: EF.conv_transpose1d(_e(1, 2, 5), _e(2, 3, 2), padding=2**63 - 1),
        lambda: EF.conv_transpose1d(_e(1, 2, 5), _e(2, 3, 2), stride=2**63 - 1),
        lambda: EF.unfold(_e(1, 2, 5, 5), 2, padding=2**63 - 1),
        lambda: EF.fold(_e(1, 4, 4), (3, 3), 2, padding=2**62),
        lambda: EF.conv1d(_e(1, 2, 5), _e(3, 2, 2), padding=2**64),
    ],
)
def test_conv_huge_arguments_raise(call):
    # int64 overflow used to give wrong sizes (a silently wrong result) or a segfault
    with pytest.raises(ValueError):
        call()


@pytest.mark.parametrize(
    "call",
    [
        lambda: EF.max_pool1d(_e(1, 2, 6), 2**62, dilation=2**62),
        lambda: EF.max_pool2d(_e(1, 2, 6, 6), (2, 2**62), dilation=(1, 2**62), ceil_mode=True),
        lambda: EF.avg_pool1d(_e(1, 2, 6), 2**63 - 1, stride=2**63 - 1, padding=2**62),
    ],
)
def test_pool_huge_arguments_raise(call):
    # the output size overflowed int64 (undefined behavior: UBSan under scripts/sanitize.sh)
    with pytest.raises(ValueError):
        call()


def test_pool_window_wider_than_int64_half():
    # kernel_size + 2 * padding overflows int64, yet the output size is fine: every window
    # covers the whole row
    x = _e(1, 2, 6)
    y = EF.max_pool1d(x, 2**63 - 1, stride=1, padding=2**62 - 1)
    want = np.broadcast_to(x.numpy().max(-1, keepdims=True), (1, 2, 6))
    np.testing.assert_array_equal(y.numpy(), want)


@pytest.mark.parametrize(
    "call, err",
    [
        (lambda: EF.conv2d(_e(1, 2, 3, 3), _e(0, 2, 1, 1)), ValueError),  # no output channels
        (lambda: EF.conv2d(_e(1, 3, 8, 0), _e(3, 3, 1, 1), padding=2), ValueError),
        (lambda: EF.conv_transpose2d(_e(1, 2, 3, 3), _e(2, 0, 1, 1)), ValueError),
        (lambda: EF.conv_transpose1d(_e(3, 1), _e(3, 2, 2), stride=3, padding=1), ValueError),
        (lambda: EF.conv2d(_e(1, 2, 3, 3), _e(2, 2, 1, 1), groups=True), TypeError),
        (lambda: EF.conv_transpose1d(_e(2, 0, 3), _e(0, 1, 4), groups=3), ValueError),
        (lambda: EF.unfold(_e(1, 1, 7, 0), 1), ValueError),
        (lambda: EF.unfold(_e(2, 2, 2), (2, 3), stride=(1,)), ValueError),
        (lambda: EF.fold(_e(1, 9, 24), (8, 4), (3, 1), stride=(1,)), ValueError),
        (lambda: EF.fold(_e(1, 0, 4), (3, 3), 2), ValueError),
        (lambda: enn.Conv2d(2, 2, 3, padding=False, padding_mode="reflect"), TypeError),
        (lambda: enn.Conv2d(2, 2, (3,)), ValueError),
        (lambda: enn.Conv1d(1, True, 3), TypeError),
        (lambda: enn.Conv2d(2, 2, 3, stride=(1, 2, 3)), ValueError),
    ],
)
def test_conv_refuses_what_torch_refuses(call, err):
    with pytest.raises(err):
        call()


def test_conv_layer_one_tuple_padding():
    # Conv2d(padding=(1,)) crashed in the constructor with a bare IndexError
    m = enn.Conv2d(2, 3, 3, padding=(1,))
    assert m.padding == (1, 1)
    assert tuple(m(_e(1, 2, 5, 5)).shape) == (1, 3, 5, 5)


@pytest.mark.parametrize("sf", [float("inf"), float("nan"), "2"])
def test_interpolate_bad_scale_factor(sf):
    # inf used to escape as OverflowError; a string was silently accepted
    with pytest.raises((ValueError, TypeError)):
        EF.interpolate(_e(1, 2, 3, 4), scale_factor=sf)
    if not isinstance(sf, str):  # Upsample floats its scale_factor first, like PyTorch
        with pytest.raises((ValueError, TypeError)):
            enn.Upsample(scale_factor=sf)(_e(1, 2, 3, 4))


@pytest.mark.parametrize(
    "kw",
    [
        dict(training=True, eps=0.0),
        dict(training=True, eps=-1.0),
        dict(training=False, eps=-1.0),
        dict(training=True, eps=float("nan")),
    ],
)
def test_batch_norm_bad_eps(kw):
    x, rm, rv = _e(2, 3, 4), _e(3), _e(3).abs()
    with pytest.raises(ValueError, match="eps"):
        EF.batch_norm(x, rm, rv, **kw)


@pytest.mark.parametrize("n, err", [(True, TypeError), (2.0, TypeError), (-1, ValueError)])
def test_batchnorm_layer_num_features(n, err):
    with pytest.raises(err, match="num_features"):
        enn.BatchNorm2d(n)


def test_batch_norm_running_stats_both_or_neither():
    with pytest.raises(ValueError, match="both"):
        EF.batch_norm(_e(2, 3, 4), None, _e(3).abs(), training=True)


def test_batch_norm_empty_batch_training():
    # PyTorch: an empty batch gives an empty output and leaves the running stats alone
    rm, rv = ember.zeros(3), ember.ones(3)
    x = ember.zeros(0, 3, 4).requires_grad_()
    w = ember.ones(3).requires_grad_()
    y = EF.batch_norm(x, rm, rv, w, None, training=True)
    assert tuple(y.shape) == (0, 3, 4)
    np.testing.assert_array_equal(rm.numpy(), 0)
    np.testing.assert_array_equal(rv.numpy(), 1)
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), 0)
    with pytest.raises(ValueError, match="more than 1 value"):
        EF.batch_norm(_e(1, 3), rm, rv, training=True)


def test_adaptive_pool_huge_output_size():
    if "libasan" in os.environ.get("LD_PRELOAD", ""):  # scripts/sanitize.sh
        pytest.skip("ASan aborts on a failed operator new instead of raising bad_alloc")
    for fn in (EF.adaptive_avg_pool1d, EF.adaptive_max_pool1d):
        with memory_cap(), pytest.raises(ALLOWED):
            fn(_e(1, 2, 6), 2**40)
    for fn in (EF.adaptive_avg_pool2d, EF.adaptive_max_pool2d):
        with memory_cap(), pytest.raises(ALLOWED):
            fn(_e(1, 2, 6, 6), 2**40)
