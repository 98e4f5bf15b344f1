"""Anomaly mode: ember.autograd.detect_anomaly / set_detect_anomaly.

A NaN or inf returned by a backward node raises RuntimeError naming the node, with the Python
stack of the forward call that created it; off, nothing is checked or recorded.
"""

import math
import warnings

import numpy as np
import pytest

import ember
from ember.autograd import detect_anomaly, is_anomaly_enabled, set_detect_anomaly


@pytest.fixture(autouse=True)
def _quiet_and_off():
    # detect_anomaly() warns that it is slow; the tests check the mode is restored
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="anomaly detection is on")
        yield
    assert not is_anomaly_enabled()


def _raises_in_backward(build, match):
    with detect_anomaly():
        loss = build()
        with (
            pytest.raises(RuntimeError, match=match) as err,
            pytest.warns(UserWarning, match="forward call"),
        ):
            loss.backward()
    return str(err.value)


def test_sqrt_of_negative_names_node_and_forward_line():
    x = ember.tensor([-1.0, 4.0], requires_grad=True)

    def build():
        y = x.sqrt()  # the-sqrt-line
        return y.sum()

    msg = _raises_in_backward(
        build, r"Function 'SqrtBackward0' returned nan values in its 0th output\."
    )
    assert "the-sqrt-line" in msg  # the forward source line, from the recorded stack
    assert "test_anomaly.py" in msg and "in build" in msg


def test_log_of_zero_times_zero():
    x = ember.tensor([0.0, 1.0], requires_grad=True)

    def build():
        return (x.log() * 0).sum()  # log-times-zero

    msg = _raises_in_backward(
        build, r"Function 'LogBackward0' returned nan values in its 0th output"
    )
    assert "log-times-zero" in msg


def test_zero_over_zero_division():
    a = ember.tensor([0.0], requires_grad=True)
    b = ember.tensor([0.0], requires_grad=True)

    def build():
        return (a / b).sum()  # zero-over-zero

    # grad_a = 1/0 = inf is output 0, grad_b = -0/0 = nan is output 1: the first bad output is named
    msg = _raises_in_backward(
        build, r"Function 'DivBackward0' returned inf values in its 0th output"
    )
    assert "zero-over-zero" in msg


def test_inf_gradient():
    x = ember.tensor([0.0], dtype=ember.float64, requires_grad=True)
    _raises_in_backward(
        lambda: x.sqrt().sum(), r"Function 'SqrtBackward0' returned inf values in its 0th output"
    )


def test_nan_from_python_function_node():
    class Bad(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * math.nan

    x = ember.ones(3, requires_grad=True)
    msg = _raises_in_backward(
        lambda: Bad.apply(x).sum(), r"'Bad\w*' returned nan values in its 0th output"
    )
    assert "Bad.apply(x)" in msg


def test_off_nothing_raised_nothing_recorded():
    x = ember.tensor([-1.0, 4.0], requires_grad=True)
    y = x.sqrt()
    assert y.grad_fn._forward_trace is None
    y.sum().backward()
    g = x.grad.numpy()
    assert np.isnan(g[0]) and g[1] == pytest.approx(0.25)


def test_finite_gradients_unchanged():
    x = ember.tensor([1.0, 4.0, 9.0], requires_grad=True)
    with detect_anomaly():
        y = (x.sqrt() * x).sum()
        assert y.grad_fn._forward_trace is not None
        y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 1.5 * np.sqrt([1.0, 4.0, 9.0]), rtol=1e-6)


def test_check_nan_false_records_but_does_not_raise():
    x = ember.tensor([-1.0], requires_grad=True)
    with detect_anomaly(check_nan=False):
        y = x.sqrt()
        assert "x.sqrt()" in y.grad_fn._forward_trace
        y.sum().backward()
    assert np.isnan(x.grad.numpy()[0])


def test_node_created_before_mode_was_on():
    x = ember.tensor([-1.0], requires_grad=True)
    y = x.sqrt().sum()
    with detect_anomaly():
        with pytest.raises(RuntimeError, match="SqrtBackward0.*\n.*created before anomaly mode"):
            with pytest.warns(UserWarning, match="forward stack is unknown"):
                y.backward()


def test_other_backward_errors_warn_with_the_forward_stack():
    x = ember.ones(3, requires_grad=True)
    with detect_anomaly():
        y = x.exp()  # saved-output-line
        z = y.sum()
        y.mul_(2)  # invalidates the saved output of ExpBackward0
        with pytest.warns(
            UserWarning, match=r"ExpBackward0 failed in backward(.|\n)*saved-output-line"
        ):
            with pytest.raises(RuntimeError, match="modified by an inplace operation"):
                z.backward()


def test_nesting_restores_previous_mode():
    assert not is_anomaly_enabled()
    with detect_anomaly():
        assert is_anomaly_enabled() and ember.autograd.is_anomaly_check_nan_enabled()
        with set_detect_anomaly(False):
            assert not is_anomaly_enabled()
            with detect_anomaly(check_nan=False):
                assert is_anomaly_enabled() and not ember.autograd.is_anomaly_check_nan_enabled()
            assert not is_anomaly_enabled()
        assert is_anomaly_enabled() and ember.autograd.is_anomaly_check_nan_enabled()
    assert not is_anomaly_enabled()


def test_restored_after_an_exception():
    with pytest.raises(ValueError):
        with detect_anomaly():
            raise ValueError("boom")
    assert not is_anomaly_enabled()


def test_set_detect_anomaly_as_a_call_and_decorator_form():
    set_detect_anomaly(True)
    try:
        assert is_anomaly_enabled()
    finally:
        set_detect_anomaly(False)
    assert not is_anomaly_enabled()

    @detect_anomaly()
    def step():
        return is_anomaly_enabled()

    assert step() and not is_anomaly_enabled()


def test_double_backward_in_anomaly_mode():
    x = ember.tensor([2.0], dtype=ember.float64, requires_grad=True)
    with detect_anomaly():
        y = x**3
        (g,) = ember.autograd.grad(y.sum(), x, create_graph=True)
        (gg,) = ember.autograd.grad(g.sum(), x)
    assert g.item() == pytest.approx(12.0) and gg.item() == pytest.approx(12.0)


def test_top_level_names_as_pytorch():
    assert not ember.is_anomaly_enabled()
    ember.set_anomaly_enabled(True, check_nan=False)
    try:
        assert ember.is_anomaly_enabled() and not ember.is_anomaly_check_nan_enabled()
    finally:
        ember.set_anomaly_enabled(False)
    assert not ember.is_anomaly_enabled() and ember.is_anomaly_check_nan_enabled()


def test_nodes_made_by_a_backward_point_back_to_its_forward_line():
    x = ember.tensor([4.0], dtype=ember.float64, requires_grad=True)
    with detect_anomaly():
        y = x.sqrt()  # first-order-line
        (g,) = ember.autograd.grad(y.sum(), x, create_graph=True)
    trace = g.grad_fn._forward_trace
    assert "made by the backward of SqrtBackward0" in trace and "first-order-line" in trace
