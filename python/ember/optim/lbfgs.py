"""L-BFGS with an optional strong-Wolfe line search. The search direction works on one flat
vector of all parameters, so the algebra runs in NumPy on that vector (in the parameters' dtype)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Callable

import numpy as np

from .. import _C
from .._grad_mode import enable_grad, no_grad
from .optimizer import Optimizer


def _cubic_min(x1, f1, g1, x2, f2, g2, bounds=None) -> float:
    """Minimizer of the cubic through (x1, f1, slope g1) and (x2, f2, slope g2), clamped to
    ``bounds``; the midpoint when the cubic has no minimum."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(disc)
    if x1 <= x2:
        x = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        x = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(x, lo), hi)


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Line search along ``d`` from step ``t`` until the strong Wolfe conditions hold
    (Nocedal & Wright, algorithms 3.5/3.6: bracketing, then zoom by cubic interpolation).
    ``evaluate(t)`` returns (loss, flat grad) at x + t d. Returns (loss, grad, t, evaluations)."""
    d_norm = float(np.abs(d).max())
    f_new, g_new = evaluate(t)
    evals = 1
    gtd_new = float(g_new.dot(d))
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    it = 0
    # phase 1: grow the step until a bracket [t_prev, t] holds a point satisfying the conditions
    while it < max_ls:
        armijo_fails = f_new > f + c1 * t * gtd or (it > 1 and f_new >= f_prev)
        if not armijo_fails and abs(gtd_new) <= -c2 * gtd:
            br, br_f, br_g, br_gtd = [t], [f_new], [g_new], [gtd_new]
            done = True
            break
        if armijo_fails or gtd_new >= 0:  # a minimum lies between t_prev and t
            br = [t_prev, t]
            br_f, br_g, br_gtd = [f_prev, f_new], [g_prev, g_new], [gtd_prev, gtd_new]
            break
        lo_step, hi_step = t + 0.01 * (t - t_prev), t * 10
        t_next = _cubic_min(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, (lo_step, hi_step))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = t_next
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = float(g_new.dot(d))
        it += 1
    if it == max_ls:
        br, br_f, br_g, br_gtd = [0.0, t], [f, f_new], [g, g_new], [gtd, gtd_new]

    # phase 2: zoom into the bracket
    stalled = False
    low, high = (0, 1) if br_f[0] <= br_f[-1] else (1, 0)
    while not done and it < max_ls:
        if abs(br[1] - br[0]) * d_norm < tolerance_change:
            break
        t = _cubic_min(br[0], br_f[0], br_gtd[0], br[1], br_f[1], br_gtd[1])
        # keep away from the bracket's ends, or the search stops making progress
        margin = 0.1 * (max(br) - min(br))
        if min(max(br) - t, t - min(br)) < margin:
            if stalled or t >= max(br) or t <= min(br):
                t = max(br) - margin if abs(t - max(br)) < abs(t - min(br)) else min(br) + margin
                stalled = False
            else:
                stalled = True
        else:
            stalled = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = float(g_new.dot(d))
        it += 1
        if f_new > f + c1 * t * gtd or f_new >= br_f[low]:
            br[high], br_f[high], br_g[high], br_gtd[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if br_f[0] <= br_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (br[high] - br[low]) >= 0:
                br[high], br_f[high], br_g[high], br_gtd[high] = (
                    br[low],
                    br_f[low],
                    br_g[low],
                    br_gtd[low],
                )
            br[low], br_f[low], br_g[low], br_gtd[low] = t, f_new, g_new, gtd_new
    return br_f[low], br_g[low], br[low], evals


class LBFGS(Optimizer):
    """L-BFGS (Nocedal): a quasi-Newton method that keeps the last ``history_size`` steps and
    gradient changes to approximate the inverse Hessian. ``step(closure)`` needs a closure that
    zeroes the gradients, computes the loss, calls ``backward()`` and returns the loss; it runs
    up to ``max_iter`` iterations per call.

    Args:
        params: parameters (one group).
        lr: step length (default 1).
        max_iter: iterations per ``step`` (default 20).
        max_eval: closure evaluations per ``step`` (default ``max_iter * 5 // 4``).
        tolerance_grad: stop when the largest gradient entry is at most this (default 1e-7).
        tolerance_change: stop when the step or the loss changes less than this (default 1e-9).
        history_size: number of past updates kept (default 100).
        line_search_fn: ``None`` (fixed step ``lr``) or ``"strong_wolfe"``.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(
                f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}"
            )
        defaults = dict(
            lr=lr,
            max_iter=max_iter,
            max_eval=max_eval,
            tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change,
            history_size=history_size,
            line_search_fn=line_search_fn,
        )
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    # ------------------------------------------------------------------ flat views

    def _flat_grad(self) -> np.ndarray:
        parts = [
            np.zeros(p.numel(), _np_dtype(p)) if p.grad is None else p.grad.numpy().reshape(-1)
            for p in self._params
        ]
        return np.concatenate(parts) if parts else np.zeros(0)

    def _add(self, t: float, d: np.ndarray) -> None:
        offset = 0
        for p in self._params:
            n = p.numel()
            p.add_(
                _C._from_numpy(np.ascontiguousarray(t * d[offset : offset + n]).reshape(p.shape))
            )
            offset += n

    def _evaluate(self, closure) -> float:
        with enable_grad():
            loss = closure()
        return float(loss.item() if isinstance(loss, _C.Tensor) else loss)

    # ------------------------------------------------------------------ step

    @no_grad()
    def step(self, closure: Callable[[], Any]):  # type: ignore[override]
        """Run up to ``max_iter`` iterations; returns the loss of the first closure call."""
        if closure is None:
            raise RuntimeError("LBFGS.step needs a closure that re-evaluates the model")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]

        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss.item() if isinstance(orig_loss, _C.Tensor) else orig_loss)
        evals = 1
        state["func_evals"] += 1
        g = self._flat_grad()
        if g.size == 0 or np.abs(g).max() <= tol_grad:
            return orig_loss

        # (load_state_dict turns arrays into tensors; the algebra here is NumPy)
        d, t = _array(state.get("d")), _scalar(state.get("t"))
        old_dirs = [_array(v) for v in state.get("old_dirs") or []]
        old_stps = [_array(v) for v in state.get("old_stps") or []]
        ro = [_scalar(v) for v in state.get("ro") or []]
        h_diag, prev_g = _scalar(state.get("H_diag")), _array(state.get("prev_flat_grad"))
        prev_loss = _scalar(state.get("prev_loss"))
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -g
                old_dirs, old_stps, ro, h_diag = [], [], [], 1.0
            else:
                # update the curvature pairs, then the two-loop recursion for d = -H g
                y = g - prev_g
                s = d * t
                ys = float(y.dot(s))
                if ys > 1e-10:
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0), old_stps.pop(0), ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / float(y.dot(y))
                alphas = [0.0] * len(old_dirs)
                q = -g
                for i in range(len(old_dirs) - 1, -1, -1):
                    alphas[i] = float(old_stps[i].dot(q)) * ro[i]
                    q = q - alphas[i] * old_dirs[i]
                d = r = q * h_diag
                for i in range(len(old_dirs)):
                    beta = float(old_dirs[i].dot(r)) * ro[i]
                    r += (alphas[i] - beta) * old_stps[i]
            prev_g = g.copy()
            prev_loss = loss
            t = min(1.0, 1.0 / float(np.abs(g).sum())) * lr if state["n_iter"] == 1 else lr
            gtd = float(g.dot(d))
            if gtd > -tol_change:  # not a descent direction
                break

            ls_evals = 0
            if group["line_search_fn"] == "strong_wolfe":
                x0 = [p.clone() for p in self._params]

                def evaluate(step, x0=x0, d=d):
                    self._add(step, d)
                    f = self._evaluate(closure)
                    fg = self._flat_grad().copy()
                    for p, x in zip(self._params, x0):
                        p.copy_(x)
                    return f, fg

                loss, g, t, ls_evals = _strong_wolfe(
                    evaluate, t, d, loss, g, gtd, tolerance_change=tol_change
                )
                self._add(t, d)
            else:
                self._add(t, d)
                if n_iter != max_iter:  # re-evaluate, unless this is the last iteration
                    loss = self._evaluate(closure)
                    g = self._flat_grad()
                    ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals

            if n_iter == max_iter or evals >= max_eval:
                break
            if np.abs(g).max() <= tol_grad:
                break
            if float(np.abs(d * t).max()) <= tol_change or abs(loss - prev_loss) < tol_change:
                break

        state.update(
            d=d,
            t=t,
            old_dirs=old_dirs,
            old_stps=old_stps,
            ro=ro,
            H_diag=h_diag,
            prev_flat_grad=prev_g,
            prev_loss=prev_loss,
        )
        return orig_loss


def _np_dtype(p) -> np.dtype:
    return np.dtype(str(p.dtype).rsplit(".", 1)[-1])


def _array(v):
    return v.numpy() if isinstance(v, _C.Tensor) else v


def _scalar(v):
    return float(v.item()) if isinstance(v, _C.Tensor) else v
