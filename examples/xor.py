"""Learn XOR with a tiny MLP (2-8-1) built from ember.nn and trained with ember.optim.

    python examples/xor.py [--steps 1000] [--lr 0.1] [--seed 0]

examples/xor_autograd.py does the same with raw tensors and autograd only.
Exits with status 1 if the trained network gets any of the four cases wrong.
"""

from __future__ import annotations

import argparse
import sys

import ember
from ember import nn


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    ember.manual_seed(args.seed)

    # the four XOR cases: inputs X (4, 2), targets Y (4, 1)
    X = ember.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])  # (4, 2)
    Y = ember.tensor([[0.0], [1.0], [1.0], [0.0]])  # (4, 1)

    model = nn.Sequential(
        nn.Linear(2, 8),  # (4, 2) -> (4, 8)
        nn.Tanh(),
        nn.Linear(8, 1),  # (4, 8) -> (4, 1) logits
    )
    loss_fn = nn.BCEWithLogitsLoss()  # sigmoid + binary cross-entropy, fused and stable
    opt = ember.optim.Adam(model.parameters(), lr=args.lr)
    print(model)

    for step in range(args.steps + 1):
        loss = loss_fn(model(X), Y)  # () scalar
        opt.zero_grad()
        loss.backward()  # fills .grad of every parameter
        opt.step()
        if step % 200 == 0:
            print(f"step {step:5d}  loss {loss.item():.4f}")

    with ember.no_grad():
        pred = ember.sigmoid(model(X))  # (4, 1) probabilities of "1"
    ok = True
    for x, y, q in zip(X.tolist(), Y.tolist(), pred.tolist()):
        right = (q[0] > 0.5) == (y[0] > 0.5)
        ok &= right
        print(
            f"{x[0]:.0f} xor {x[1]:.0f} = {y[0]:.0f}   predicted {q[0]:.4f}  {'ok' if right else 'WRONG'}"
        )
    if not ok:
        print("XOR was not learned: try more --steps or another --lr/--seed", file=sys.stderr)
        return 1
    print("learned XOR")
    return 0


if __name__ == "__main__":
    sys.exit(main())
