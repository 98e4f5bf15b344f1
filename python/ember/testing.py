"""Numerical testing utilities for ember: ``assert_close``, ``gradcheck`` and ``gradgradcheck``.

Everything here is pure Python written on top of the public ember API (tensor creation,
``.numpy()``, ``.detach()``, ``ember.autograd.grad``), so it can be used to test the C++ core.
"""

import numpy as np

import ember

__all__ = ["assert_close", "gradcheck", "gradgradcheck"]

# Default (rtol, atol) per dtype name, matching torch.testing.assert_close.
_TOLERANCES = {
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
}


def _is_tensor(x):
    cls = getattr(ember, "Tensor", None)
    if cls is not None:
        return isinstance(x, cls)
    return hasattr(x, "requires_grad") and hasattr(x, "numpy")


def _dtype_name(x):
    """Short dtype name ("float32", "int64", ...) of a tensor, array or python number."""
    if _is_tensor(x):
        return str(x.dtype).split(".")[-1]
    return np.asarray(x).dtype.name


def _is_float_tensor(t):
    return _dtype_name(t) in _TOLERANCES


def _to_numpy(x):
    """A fresh numpy copy of ``x``; floating tensors are widened to float64."""
    if _is_tensor(x):
        x = x.detach()
        if _is_float_tensor(x):
            x = x.to(ember.float64)
        return np.array(x.numpy(), copy=True)
    arr = np.array(x, copy=True)
    return arr.astype(np.float64) if arr.dtype.kind == "f" else arr


def assert_close(
    actual, expected, rtol=None, atol=None, check_dtype=True, equal_nan=False, msg=None
):
    r"""Asserts that ``actual`` and ``expected`` are close.

    Checks ``|actual - expected| <= atol + rtol * |expected|`` elementwise, after checking that
    the shapes match exactly (no broadcasting). Inputs may be ember tensors, numpy arrays or
    python numbers (and nested lists).

    Args:
        actual: the value to check.
        expected: the reference value.
        rtol (float, optional): relative tolerance. If omitted, chosen from the less precise of
            the two dtypes like :func:`torch.testing.assert_close` (``float32``: 1.3e-6,
            ``float64``: 1e-7, ``float16``: 1e-3, ``bfloat16``: 1.6e-2, integers: 0).
        atol (float, optional): absolute tolerance (``float32``/``float16``/``bfloat16``: 1e-5,
            ``float64``: 1e-7, integers: 0). ``rtol`` and ``atol`` must be given together.
        check_dtype (bool): if ``True`` and both values are tensors (or both numpy arrays), their
            dtypes must be equal.
        equal_nan (bool): if ``True``, NaNs in the same positions compare equal.
        msg (str, optional): extra text prepended to the error message.

    Raises:
        AssertionError: on a shape/dtype mismatch or if any element is out of tolerance; the
            message gives the number of mismatches and the worst element.
    """
    if (rtol is None) != (atol is None):
        raise ValueError("assert_close: rtol and atol must both be given or both omitted")
    prefix = f"{msg}\n" if msg else ""
    a_dt, e_dt = _dtype_name(actual), _dtype_name(expected)
    same_kind = (_is_tensor(actual) and _is_tensor(expected)) or (
        isinstance(actual, np.ndarray) and isinstance(expected, np.ndarray)
    )
    if check_dtype and same_kind and a_dt != e_dt:
        raise AssertionError(f"{prefix}dtype mismatch: actual {a_dt} vs expected {e_dt}")
    a, e = _to_numpy(actual), _to_numpy(expected)
    if a.shape != e.shape:
        raise AssertionError(
            f"{prefix}shape mismatch: actual {list(a.shape)} vs expected {list(e.shape)}"
        )
    if rtol is None:
        tols = [_TOLERANCES.get(d, (0.0, 0.0)) for d in (a_dt, e_dt)]
        rtol, atol = max(t[0] for t in tols), max(t[1] for t in tols)
    if a.size == 0:
        return
    if a.dtype == bool or e.dtype == bool:
        a, e = a.astype(np.int64), e.astype(np.int64)
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(a64 - e64)
        ok = diff <= atol + rtol * np.abs(e64)
        ok |= a64 == e64  # equal infinities
        if a.dtype.kind in "iu" and e.dtype.kind in "iu" and rtol == 0 and atol == 0:
            ok = a == e  # exact integer comparison without float rounding
        if equal_nan:
            ok |= np.isnan(a64) & np.isnan(e64)
    if not ok.all():
        bad = np.flatnonzero(~ok.reshape(-1))
        worst = bad[np.argmax(np.nan_to_num(diff.reshape(-1)[bad], nan=np.inf))]
        idx = tuple(int(i) for i in np.unravel_index(worst, a.shape))
        raise AssertionError(
            f"{prefix}Tensors are not close! Mismatched elements: {bad.size} / {a.size}\n"
            f"Greatest difference at index {idx}: actual {float(a64.flat[worst])!r} vs "
            f"expected {float(e64.flat[worst])!r} (abs diff {float(diff.flat[worst])!r}, rtol={rtol}, atol={atol})"
        )


def _flat_outputs(out):
    """Floating-point tensors among the function outputs (non-float ones, e.g. indices, skipped)."""
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if _is_tensor(o) and _is_float_tensor(o)]


def _evaluate(fn, inputs, i, values):
    """Calls ``fn`` with input ``i`` replaced by a new float64 tensor holding ``values``."""
    args = list(inputs)
    args[i] = ember.tensor(values, dtype=ember.float64, requires_grad=inputs[i].requires_grad)
    outs = _flat_outputs(fn(*args))
    if not outs:
        return np.zeros(0)
    return np.concatenate([_to_numpy(o).reshape(-1) for o in outs])


def _float64_copies(inputs):
    """Float64 copies of the floating tensor inputs (keeping requires_grad), others unchanged."""
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    return tuple(
        x.detach().to(ember.float64).clone().requires_grad_(x.requires_grad)
        if _is_tensor(x) and _is_float_tensor(x)
        else x
        for x in inputs
    )


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    r"""Checks gradients computed by autograd against central finite differences.

    Floating-point tensor inputs are copied to ``float64`` (keeping ``requires_grad``); every
    input with ``requires_grad=True`` is perturbed element by element and the numeric Jacobian
    ``(f(x + eps) - f(x - eps)) / (2 * eps)`` is compared with the analytic one, built row by
    row from vector-Jacobian products with unit vectors (``ember.autograd.grad``). Non-floating
    outputs (e.g. indices returned by ``sort``) are ignored. Inputs are rebuilt as contiguous
    tensors: create non-contiguous views inside ``fn`` to test strided kernels.

    Args:
        fn (callable): function taking the inputs positionally and returning a tensor or a tuple
            of tensors.
        inputs (Tensor or tuple of Tensor): the inputs of ``fn``.
        eps (float): perturbation for finite differences.
        atol (float): absolute tolerance.
        rtol (float): relative tolerance.
        raise_exception (bool): raise ``AssertionError`` on failure instead of returning ``False``.

    Returns:
        ``True`` if all Jacobian entries satisfy ``|analytic - numeric| <= atol + rtol * |numeric|``.

    Raises:
        AssertionError: naming the input index, the worst output/input element index and the
            analytic and numeric values.
    """
    xs = _float64_copies(inputs)
    wrt = [i for i, x in enumerate(xs) if _is_tensor(x) and x.requires_grad]
    if not wrt:
        raise ValueError("gradcheck: no input has requires_grad=True")

    def fail(text):
        if raise_exception:
            raise AssertionError("gradcheck failed: " + text)
        return False

    outs = _flat_outputs(fn(*xs))
    n_out = sum(o.numel() for o in outs)
    diff_outs = [o for o in outs if o.requires_grad]
    analytic = {i: np.zeros((n_out, xs[i].numel())) for i in wrt}
    row = 0
    for o in outs:
        for k in range(o.numel()):
            if o.requires_grad:
                unit = np.zeros(o.numel())
                unit[k] = 1.0
                grad_outputs = [
                    ember.tensor(unit.reshape(tuple(o.shape)), dtype=o.dtype)
                    if q is o
                    else ember.zeros_like(q)
                    for q in diff_outs
                ]
                grads = ember.autograd.grad(
                    diff_outs,
                    [xs[i] for i in wrt],
                    grad_outputs=grad_outputs,
                    retain_graph=True,
                    allow_unused=True,
                )
                for i, g in zip(wrt, grads):
                    if g is None:
                        continue
                    if tuple(g.shape) != tuple(xs[i].shape):
                        return fail(
                            f"gradient for input {i} has shape {list(g.shape)}, "
                            f"expected {list(xs[i].shape)}"
                        )
                    analytic[i][row] = _to_numpy(g).reshape(-1)
            row += 1

    for i in wrt:
        base = _to_numpy(xs[i])
        numeric = np.zeros_like(analytic[i])
        for j in range(base.size):
            plus, minus = base.copy(), base.copy()
            plus.flat[j] += eps
            minus.flat[j] -= eps
            numeric[:, j] = (_evaluate(fn, xs, i, plus) - _evaluate(fn, xs, i, minus)) / (2 * eps)
        err = np.abs(analytic[i] - numeric) - (atol + rtol * np.abs(numeric))
        err = np.where(np.isnan(err), np.inf, err)
        if err.size and err.max() > 0:
            r, c = np.unravel_index(int(np.argmax(err)), err.shape)
            in_idx = tuple(int(v) for v in np.unravel_index(c, base.shape))
            return fail(
                f"Jacobian mismatch for input {i}, output element {int(r)}, input element "
                f"{in_idx}: analytic={float(analytic[i][r, c])!r} numeric={float(numeric[r, c])!r} "
                f"(atol={atol}, rtol={rtol})"
            )
    return True


def gradgradcheck(
    fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True
):
    r"""Checks second-order gradients with finite differences of first-order gradients.

    Builds ``g(*inputs, *grad_outputs) = autograd.grad(fn(*inputs), inputs, grad_outputs,
    create_graph=True)`` and runs :func:`gradcheck` on it, so both the double-backward graph and
    its dependence on ``grad_outputs`` are verified.

    Args:
        fn (callable): function of the inputs returning a tensor or a tuple of tensors.
        inputs (Tensor or tuple of Tensor): the inputs of ``fn``.
        grad_outputs (Tensor or tuple of Tensor, optional): cotangents for the outputs of ``fn``;
            random (seeded) ``float64`` tensors if omitted.
        eps, atol, rtol, raise_exception: as in :func:`gradcheck`.

    Returns:
        ``True`` on success (or ``False`` if ``raise_exception=False`` and the check fails).
    """
    inputs = _float64_copies(inputs)
    n_in = len(inputs)
    wrt = [i for i, x in enumerate(inputs) if _is_tensor(x) and x.requires_grad]
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        outs = _flat_outputs(fn(*inputs))
        grad_outputs = tuple(
            ember.tensor(
                rng.standard_normal(tuple(o.shape)), dtype=ember.float64, requires_grad=True
            )
            for o in outs
        )
    else:
        grad_outputs = (
            tuple(grad_outputs) if isinstance(grad_outputs, (tuple, list)) else (grad_outputs,)
        )

    def first_grads(*args):
        xs, gos = args[:n_in], args[n_in:]
        outs = _flat_outputs(fn(*xs))
        grads = ember.autograd.grad(
            outs, [xs[i] for i in wrt], grad_outputs=list(gos), create_graph=True, allow_unused=True
        )
        return tuple(ember.zeros_like(xs[i]) if g is None else g for i, g in zip(wrt, grads))

    return gradcheck(
        first_grads,
        inputs + grad_outputs,
        eps=eps,
        atol=atol,
        rtol=rtol,
        raise_exception=raise_exception,
    )
