"""Fit a line y = w x + b by hand-written gradient descent: autograd with no optimizer.

    python examples/linear_regression.py [--steps 200] [--lr 0.1] [--n 100] [--noise 0.3]
        [--true-w 2.0] [--true-b -1.0] [--seed 0]

The data are n noisy points on a known line. w and b are 0-d tensors with requires_grad=True;
each step computes the mean squared error, calls loss.backward() to fill w.grad and b.grad,
updates w and b under ember.no_grad() (so the update is not recorded as part of the graph)
and zeroes the gradients, which backward() would otherwise accumulate. At the end the fitted
line is printed next to the true one and the closed-form least-squares answer.
"""

from __future__ import annotations

import argparse

import ember


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--n", type=int, default=100, help="number of points")
    ap.add_argument("--noise", type=float, default=0.3, help="std of the noise on y")
    ap.add_argument("--true-w", type=float, default=2.0)
    ap.add_argument("--true-b", type=float, default=-1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--print-every", type=int, default=20)
    return ap.parse_args(argv)


def main(argv=None) -> dict:
    """Fit and return ``{"w", "b", "losses", "w_lstsq", "b_lstsq"}``."""
    args = parse_args(argv)
    ember.manual_seed(args.seed)
    x = ember.rand(args.n) * 4 - 2  # (n,) uniform in [-2, 2)
    y = args.true_w * x + args.true_b + args.noise * ember.randn(args.n)  # (n,)

    w = ember.tensor(0.0, requires_grad=True)  # () slope
    b = ember.tensor(0.0, requires_grad=True)  # () intercept
    losses = []
    for step in range(args.steps + 1):
        pred = w * x + b  # (n,): the 0-d tensors broadcast over the points
        loss = ((pred - y) ** 2).mean()  # ()
        losses.append(loss.item())
        if step % args.print_every == 0:
            print(f"step {step:4d}: loss {loss.item():.5f}  w {w.item():+.4f}  b {b.item():+.4f}")
        if step == args.steps:
            break
        loss.backward()  # d loss / d w -> w.grad, d loss / d b -> b.grad
        with ember.no_grad():
            w -= args.lr * w.grad  # in place: w stays the same leaf tensor
            b -= args.lr * b.grad
        w.grad.zero_()
        b.grad.zero_()

    # least squares in closed form, for comparison: w = cov(x, y) / var(x), b = mean(y) - w mean(x)
    xm, ym = x.mean(), y.mean()
    w_ls = ((x - xm) * (y - ym)).sum() / ((x - xm) ** 2).sum()
    b_ls = ym - w_ls * xm
    print(f"true line:     y = {args.true_w:+.4f} x {args.true_b:+.4f}")
    print(f"fitted line:   y = {w.item():+.4f} x {b.item():+.4f}")
    print(f"least squares: y = {w_ls.item():+.4f} x {b_ls.item():+.4f}")
    return {
        "w": w.item(),
        "b": b.item(),
        "losses": losses,
        "w_lstsq": w_ls.item(),
        "b_lstsq": b_ls.item(),
    }


if __name__ == "__main__":
    main()
