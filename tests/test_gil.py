"""Kernels release the GIL: Python threads overlap with ember compute (data loading, a second
model, an inference thread), and ember stays correct when several threads run ops, backward,
hooks and custom Functions at once."""

import hashlib
import os
import threading
import time

import numpy as np
import pytest

import ember
import ember.nn as nn


@pytest.fixture
def one_thread_each():
    """One pool thread: each Python thread computes on its own core, so overlap is measurable
    on a 2-core machine (a shared pool would let one thread's job use both cores)."""
    old = ember.get_num_threads()
    ember.set_num_threads(1)
    yield
    ember.set_num_threads(old)


def run_threads(fns, timeout=120.0):
    errors = []

    def wrap(f):
        try:
            f()
        except BaseException as e:  # reported below: a thread's failure must fail the test
            errors.append(e)

    ts = [threading.Thread(target=wrap, args=(f,), daemon=True) for f in fns]
    for t in ts:
        t.start()
    deadline = time.monotonic() + timeout
    for t in ts:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in ts), "threads did not finish (deadlock?)"
    if errors:
        raise errors[0]


def matmul_work(n=384, reps=12):
    a = ember.randn(n, n)
    b = ember.randn(n, n)

    def work():
        for _ in range(reps):
            ember.matmul(a, b)

    return work


def overlap_ratio(work, tries=3):
    """Best (time of two threads running `work` at once) / (time of running it twice)."""
    work()  # warm up (allocator, packing buffers)
    best = float("inf")
    for _ in range(tries):
        t0 = time.perf_counter()
        work()
        work()
        t1 = time.perf_counter()
        run_threads([work, work])
        best = min(best, (time.perf_counter() - t1) / (t1 - t0))
    return best


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 CPUs to overlap")
def test_two_threads_of_matmuls_overlap(one_thread_each):
    # calibrate: hashlib releases the GIL for big buffers; if even it cannot overlap, the
    # machine has no second core free right now and timing says nothing
    buf = b"x" * (8 << 20)
    work = matmul_work()
    # a busy shared machine can steal the second core for a moment: up to three rounds, each
    # calibrated on its own; one clean overlap shows the kernel released the GIL
    results = []
    for _ in range(3):
        baseline = overlap_ratio(lambda: [hashlib.sha256(buf).digest() for _ in range(4)])
        if baseline > 0.8:
            results.append(f"baseline {baseline:.2f}: no spare core")
            continue
        ratio = overlap_ratio(work)
        # a held GIL serializes the two threads (ratio ~1.0 or more); a busy machine leaves
        # some overlap even when the calibration passed, so only near-serial runs count
        if ratio < 0.92:
            return
        results.append(f"concurrent / sequential time = {ratio:.2f} (baseline {baseline:.2f})")
    if all("no spare core" in r for r in results):
        pytest.skip(f"no spare core to overlap on ({'; '.join(results)})")
    pytest.fail(f"two threads of matmuls did not overlap: GIL held? ({'; '.join(results)})")


def test_another_python_thread_runs_during_a_kernel(one_thread_each):
    # deterministic: a thread that wakes up during one long matmul can only run Python before
    # the matmul returns if the kernel gave the GIL away
    a = ember.randn(1100, 1100)
    ember.matmul(a, a)
    ran_inside = False
    for _ in range(3):
        stamp = []
        go = threading.Event()

        def other(go=go, stamp=stamp):
            go.wait(10)
            time.sleep(0.002)
            stamp.append(time.perf_counter())

        t = threading.Thread(target=other)
        t.start()
        go.set()
        t0 = time.perf_counter()
        ember.matmul(a, a)  # one kernel call, tens of ms
        t1 = time.perf_counter()
        t.join(10)
        if stamp and stamp[0] < t1 and t1 - t0 > 0.01:
            ran_inside = True
            break
    assert ran_inside


def make_model_and_data(seed):
    ember.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    x = ember.randn(256, 64)
    y = ember.randint(0, 10, (256,))
    return model, x, y


def train(model, x, y, steps=15):
    opt = ember.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()


def test_two_threads_training_match_sequential_runs():
    runs = {}
    for mode in ("sequential", "threads"):
        pairs = [make_model_and_data(s) for s in (1, 2)]
        if mode == "sequential":
            for m, x, y in pairs:
                train(m, x, y)
        else:
            run_threads([lambda p=p: train(*p) for p in pairs])
        runs[mode] = [[p.detach().numpy().copy() for p in m.parameters()] for m, _, _ in pairs]
    for a, b in zip(runs["sequential"], runs["threads"]):
        for pa, pb in zip(a, b):
            np.testing.assert_array_equal(pa, pb)


class Scale(ember.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 3.0

    @staticmethod
    def backward(ctx, g):
        return g * 3.0


def test_grad_mode_is_per_thread():
    seen = []
    inside = threading.Event()
    release = threading.Event()

    def other():
        inside.wait(10)
        x = ember.ones(2, requires_grad=True)
        seen.append((x * 2).requires_grad)
        release.set()

    t = threading.Thread(target=other)
    t.start()
    with ember.no_grad():
        inside.set()
        release.wait(10)
        assert not (ember.ones(2, requires_grad=True) * 2).requires_grad
    t.join(10)
    assert seen == [True]


def test_stress_concurrent_ops_backward_hooks(one_thread_each):
    ember.set_num_threads(2)  # the pool is shared: concurrent submitters must not deadlock
    hook_calls = []

    def worker(seed):
        def f():
            rng = np.random.default_rng(seed)
            for _ in range(30):
                n = int(rng.integers(1, 200))
                x = ember.tensor(
                    rng.standard_normal((n, 33)).astype(np.float32), requires_grad=True
                )
                w = ember.randn(33, 17, requires_grad=True)
                x.register_hook(lambda g: hook_calls.append(1) or g * 1.0)
                h = ember.relu(ember.matmul(x, w)) + ember.sigmoid(x).sum(1, keepdim=True)
                h = Scale.apply(h).softmax(-1)
                loss = (h * h).mean() + ember.nn.functional.cross_entropy(
                    h, ember.zeros(n, dtype=ember.int64)
                )
                loss.backward()
                assert x.grad.shape == x.shape and w.grad.shape == w.shape
                assert bool(ember.isfinite(w.grad).all())
                big = ember.randn(300, 300)
                (big @ big).sum().item()

        return f

    run_threads([worker(s) for s in range(4)], timeout=300)
    assert len(hook_calls) == 4 * 30
