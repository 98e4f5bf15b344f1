"""Learn XOR with a 2-8-1 MLP, using only ember tensors and autograd (no nn, no optim).

    python examples/xor_autograd.py [--steps 2000] [--lr 0.5] [--seed 0]

The same network with ember.nn and ember.optim is examples/xor.py; this version spells out
what they do: parameters are leaf tensors, backward fills .grad, the update runs under no_grad.

Exits with status 1 if the trained network gets any of the four cases wrong.
"""

from __future__ import annotations

import argparse
import sys

import ember


def param(*shape: int, scale: float) -> ember.Tensor:
    """A leaf parameter drawn from N(0, scale^2)."""
    p = ember.randn(*shape, requires_grad=True)
    with ember.no_grad():
        p.mul_(scale)  # scaled in place so p stays a leaf (its .grad gets filled)
    return p


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    ember.manual_seed(args.seed)

    # the four XOR cases: inputs X (4, 2), targets Y (4, 1)
    X = ember.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])  # (4, 2)
    Y = ember.tensor([[0.0], [1.0], [1.0], [0.0]])  # (4, 1)

    W1 = param(2, 8, scale=1.0)  # (2, 8)   input -> hidden
    b1 = param(8, scale=0.1)  # (8,)
    W2 = param(8, 1, scale=1.0 / 8**0.5)  # (8, 1)   hidden -> output
    b2 = param(1, scale=0.1)  # (1,)
    params = [W1, b1, W2, b2]

    def forward(x: ember.Tensor) -> ember.Tensor:
        h = ember.tanh(x @ W1 + b1)  # (4, 2) @ (2, 8) + (8,) -> (4, 8)
        z = h @ W2 + b2  # (4, 8) @ (8, 1) + (1,) -> (4, 1)
        return ember.sigmoid(z)  # (4, 1) probabilities of "1"

    eps = 1e-7  # keeps log() finite once the predictions saturate
    for step in range(args.steps + 1):
        p = forward(X).clamp(min=eps, max=1 - eps)  # (4, 1)
        # binary cross-entropy, averaged over the 4 cases
        loss = -(Y * ember.log(p) + (1 - Y) * ember.log(1 - p)).mean()  # () scalar

        loss.backward()  # fills W1.grad, b1.grad, W2.grad, b2.grad
        with ember.no_grad():  # the update itself must not be recorded on the tape
            for w in params:
                w -= args.lr * w.grad  # plain SGD, in place
                w.grad.zero_()  # backward accumulates: reset before the next step

        if step % 250 == 0:
            print(f"step {step:5d}  loss {loss.item():.4f}")

    with ember.no_grad():
        pred = forward(X)  # (4, 1)
    ok = True
    for x, y, q in zip(X.tolist(), Y.tolist(), pred.tolist()):
        right = (q[0] > 0.5) == (y[0] > 0.5)
        ok &= right
        print(
            f"{x[0]:.0f} xor {x[1]:.0f} = {y[0]:.0f}   predicted {q[0]:.4f}  {'ok' if right else 'WRONG'}"
        )
    if not ok:
        print("XOR was not learned: try more --steps or another --lr", file=sys.stderr)
        return 1
    print("learned XOR")
    return 0


if __name__ == "__main__":
    sys.exit(main())
