"""makemore: character-level models of names, from a bigram table to a transformer.

    EMBER_DATA_DIR=../shared/data python examples/makemore.py --type transformer [--steps 3000]
        [--batch-size 32] [--lr 5e-3] [--n-embd 64] [--n-embd2 64] [--n-layer 4] [--n-head 4]
        [--block-size 3] [--seed 42] [--samples 10]

Karpathy's makemore on names.txt (32k names), one model per ``--type``:

- ``bigram-counts`` / ``trigram-counts``: count next-character frequencies after the previous
  one (two) characters, add-one smoothing, no gradient descent;
- ``bigram``: the same bigram table as learned logits (B, T) -> (B, T, V);
- ``mlp``: Bengio et al. 2003, embeddings of the last ``--block-size`` characters -> tanh
  hidden layer -> logits; ``mlp-bn``: the hidden layer with BatchNorm1d;
- ``rnn`` / ``gru``: a recurrent cell (written here from nn.Linear) run over the name;
- ``transformer``: a small GPT (causal self-attention blocks).

Names are split 80/10/10 into train/val/test (``random.Random(seed)`` shuffle, seed 42 as in the
lectures). Every model reads a name as x = ``.name`` padded and predicts y = ``name.`` (positions
past the end are ignored), so the printed losses are all the mean negative log-likelihood per
character of the same test characters. Prints val loss while training, then the test loss and
sampled names.
"""

from __future__ import annotations

import argparse
import sys
import time

import ember
import ember.nn.functional as F
from ember import nn
from ember.data.datasets import Names

# ---------------------------------------------------------------------------- data


def encode_words(ds: Names, max_len: int):
    """Names -> x (N, T) and y (N, T) int64, T = max_len + 1: x = '.' + name + '.' padding,
    y = name + '.' then -1 (ignored by the loss)."""
    xs, ys = [], []
    for w in ds.words:
        ids = ds.encode(w)
        pad = max_len - len(ids)
        xs.append([0] + ids + [0] * pad)
        ys.append(ids + [0] + [-1] * pad)
    return ember.tensor(xs), ember.tensor(ys)


def shifted(idx, k: int):
    """``idx`` (B, T) moved right by ``k`` positions, '.' (0) coming in: the token k steps back."""
    if k == 0:
        return idx
    B, T = idx.shape
    pad = ember.zeros(B, min(k, T), dtype=idx.dtype)
    return ember.cat([pad, idx[:, : max(T - k, 0)]], dim=1)  # (B, T)


# ---------------------------------------------------------------------------- models
# Each maps idx (B, T) to next-character logits (B, T, V); position t sees idx[:, : t + 1].


class CountsNgram(nn.Module):
    """n-gram model from counts: P(next | previous n-1 chars), add-one smoothed."""

    def __init__(self, vocab_size: int, n: int) -> None:
        super().__init__()
        self.V, self.n = vocab_size, n
        self.register_buffer("log_probs", ember.zeros(vocab_size ** (n - 1), vocab_size))

    def context(self, idx):
        ctx = ember.zeros_like(idx)  # (B, T): previous n-1 chars as one base-V number
        for k in range(self.n - 1):
            ctx = ctx * self.V + shifted(idx, self.n - 2 - k)
        return ctx

    @ember.no_grad()
    def fit(self, x, y) -> None:
        keep = y.reshape(-1) >= 0  # (N*T,) real characters only
        rows = self.context(x).reshape(-1)[keep]  # (M,)
        cols = y.reshape(-1)[keep]  # (M,)
        counts = ember.ones(self.V ** (self.n - 1) * self.V)  # add-one smoothing
        counts.index_add_(0, rows * self.V + cols, ember.ones(rows.shape[0]))
        counts = counts.reshape(-1, self.V)  # (V^(n-1), V)
        self.log_probs.copy_((counts / counts.sum(1, keepdim=True)).log())

    def forward(self, idx):
        return self.log_probs[self.context(idx)]  # (B, T, V): log-probs are valid logits


class Bigram(nn.Module):
    """A (V, V) table of learned logits: the next character depends on the last one only."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(ember.zeros(vocab_size, vocab_size))

    def forward(self, idx):
        return self.logits[idx]  # (B, T, V)


class MLP(nn.Module):
    """Bengio et al. 2003: concatenated embeddings of the last block_size chars -> MLP."""

    def __init__(self, vocab_size, block_size, n_embd, n_hidden, batchnorm=False) -> None:
        super().__init__()
        self.block_size = block_size
        self.wte = nn.Embedding(vocab_size, n_embd)
        # with BatchNorm the Linear's bias is redundant (the norm's shift replaces it)
        self.fc = nn.Linear(block_size * n_embd, n_hidden, bias=not batchnorm)
        self.bn = nn.BatchNorm1d(n_hidden) if batchnorm else None
        self.out = nn.Linear(n_hidden, vocab_size)

    def forward(self, idx):
        B, T = idx.shape
        emb = [self.wte(shifted(idx, k)) for k in range(self.block_size)]  # block_size x (B, T, C)
        h = self.fc(ember.cat(emb, dim=-1).reshape(B * T, -1))  # (B*T, H)
        if self.bn is not None:
            h = self.bn(h)  # (B*T, H): normalized over the batch
        return self.out(h.tanh()).reshape(B, T, -1)  # (B, T, V)


class RNNCell(nn.Module):
    """Elman cell: h_t = tanh(W [x_t, h_{t-1}] + b)."""

    def __init__(self, n_embd: int, n_embd2: int) -> None:
        super().__init__()
        self.xh_to_h = nn.Linear(n_embd + n_embd2, n_embd2)

    def forward(self, xt, hprev):
        return self.xh_to_h(ember.cat([xt, hprev], dim=1)).tanh()  # (B, C2)


class GRUCell(nn.Module):
    """Gated cell: a reset gate picks what of h_{t-1} the candidate sees, an update gate
    blends the candidate into h."""

    def __init__(self, n_embd: int, n_embd2: int) -> None:
        super().__init__()
        self.xh_to_z = nn.Linear(n_embd + n_embd2, n_embd2)
        self.xh_to_r = nn.Linear(n_embd + n_embd2, n_embd2)
        self.xh_to_hbar = nn.Linear(n_embd + n_embd2, n_embd2)

    def forward(self, xt, hprev):
        xh = ember.cat([xt, hprev], dim=1)  # (B, C + C2)
        r = self.xh_to_r(xh).sigmoid()  # (B, C2) reset gate
        hbar = self.xh_to_hbar(ember.cat([xt, r * hprev], dim=1)).tanh()  # (B, C2) candidate
        z = self.xh_to_z(xh).sigmoid()  # (B, C2) update gate
        return (1 - z) * hprev + z * hbar  # (B, C2)


class RNN(nn.Module):
    """Run a cell over the sequence from a learned start state; a Linear reads each h_t."""

    def __init__(self, vocab_size, n_embd, n_embd2, cell: str) -> None:
        super().__init__()
        self.start = nn.Parameter(ember.zeros(1, n_embd2))
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.cell = RNNCell(n_embd, n_embd2) if cell == "rnn" else GRUCell(n_embd, n_embd2)
        self.lm_head = nn.Linear(n_embd2, vocab_size)

    def forward(self, idx):
        B, T = idx.shape
        emb = self.wte(idx)  # (B, T, C)
        h = self.start.expand(B, -1)  # (B, C2)
        hs = []
        for t in range(T):
            h = self.cell(emb[:, t, :], h)  # (B, C2)
            hs.append(h)
        return self.lm_head(ember.stack(hs, dim=1))  # (B, T, V)


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = nn.CausalSelfAttention(n_embd, n_head)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd)
        )

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))  # (B, T, C)
        return x + self.mlp(self.ln_2(x))  # (B, T, C)


class Transformer(nn.Module):
    """A small GPT: token + position embeddings, n_layer causal blocks, a final LayerNorm."""

    def __init__(self, vocab_size, block_size, n_embd, n_layer, n_head) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList([Block(n_embd, n_head) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size)

    def forward(self, idx):
        B, T = idx.shape
        x = self.wte(idx) + self.wpe(ember.arange(T))  # (B, T, C)
        for blk in self.h:
            x = blk(x)  # (B, T, C)
        return self.lm_head(self.ln_f(x))  # (B, T, V)


TYPES = ("bigram-counts", "trigram-counts", "bigram", "mlp", "mlp-bn", "rnn", "gru", "transformer")
# defaults per model: (steps, learning rate), tuned so each trains in a few minutes on 2 cores
DEFAULTS = {
    "bigram": (1000, 0.3),
    "mlp": (6000, 3e-3),
    "mlp-bn": (6000, 3e-3),
    "rnn": (3000, 3e-3),
    "gru": (3000, 3e-3),
    "transformer": (2000, 3e-3),
}


def build(args, vocab_size: int, T: int) -> nn.Module:
    t = args.type
    if t.endswith("-counts"):
        return CountsNgram(vocab_size, 2 if t == "bigram-counts" else 3)
    if t == "bigram":
        return Bigram(vocab_size)
    if t in ("mlp", "mlp-bn"):
        return MLP(
            vocab_size, args.block_size, args.n_embd, args.n_embd2 * 4, batchnorm=t == "mlp-bn"
        )
    if t in ("rnn", "gru"):
        return RNN(vocab_size, args.n_embd, args.n_embd2, t)
    return Transformer(vocab_size, T, args.n_embd, args.n_layer, args.n_head)


def loss_fn(model, x, y):
    logits = model(x)  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-1)


@ember.no_grad()
def evaluate(model, x, y, batch_size: int = 1024) -> float:
    """Mean loss per character over the whole split (eval mode: BatchNorm uses running stats)."""
    model.eval()
    total, count = 0.0, 0
    for i in range(0, x.shape[0], batch_size):
        xb, yb = x[i : i + batch_size], y[i : i + batch_size]
        n = int((yb >= 0).sum().item())
        total += loss_fn(model, xb, yb).item() * n
        count += n
    model.train()
    return total / count


@ember.no_grad()
def sample_names(model, ds: Names, n: int, max_len: int, temperature: float = 1.0) -> list[str]:
    """Draw ``n`` names: start from '.', sample one character at a time until '.'."""
    model.eval()
    idx = ember.zeros(n, 1, dtype=ember.int64)  # (n, 1) the start token
    for _ in range(max_len + 1):
        logits = model(idx)[:, -1, :] / temperature  # (n, V)
        idx = ember.cat([idx, ember.multinomial(F.softmax(logits, dim=-1), 1)], dim=1)  # (n, t + 1)
    model.train()
    return [ds.decode(row[1:]).split(".")[0] for row in idx.tolist()]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--type", choices=TYPES, default="transformer")
    ap.add_argument("--steps", type=int, default=None, help="default: per model (see DEFAULTS)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate (default per model)")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--n-embd", type=int, default=64, help="embedding width")
    ap.add_argument("--n-embd2", type=int, default=64, help="hidden width (MLP: 4x this)")
    ap.add_argument("--n-layer", type=int, default=4, help="transformer blocks")
    ap.add_argument("--n-head", type=int, default=4, help="attention heads")
    ap.add_argument("--block-size", type=int, default=3, help="MLP context length")
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=42, help="split and training seed")
    ap.add_argument("--samples", type=int, default=10, help="names sampled at the end")
    ap.add_argument("--data-dir", default=None, help="default: $EMBER_DATA_DIR, ~/.cache/ember")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    return ap.parse_args(argv)


def main(argv=None) -> dict:
    """Fit the model and return ``{"type", "train_loss", "val_loss", "test_loss", "seconds", "samples"}``."""
    args = parse_args(argv)
    if args.threads:
        ember.set_num_threads(args.threads)
    ember.manual_seed(args.seed)
    try:
        splits = {s: Names(args.data_dir, s, seed=args.seed) for s in ("train", "val", "test")}
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        raise SystemExit(2) from None
    ds = splits["train"]
    max_len = max(d.max_word_length for d in splits.values())
    data = {s: encode_words(d, max_len) for s, d in splits.items()}  # (N, T), (N, T)
    xtr, ytr = data["train"]
    V, T = ds.vocab_size, max_len + 1
    print(
        f"{len(ds.words)} train / {len(splits['val'].words)} val / {len(splits['test'].words)} test names, vocab {V}, T = {T}"
    )

    model = build(args, V, T)
    print(model)
    t0 = time.perf_counter()
    if isinstance(model, CountsNgram):
        model.fit(xtr, ytr)
    else:
        steps, lr = DEFAULTS[args.type]
        steps = args.steps if args.steps is not None else steps
        lr = args.lr if args.lr is not None else lr
        print(
            f"{sum(p.numel() for p in model.parameters()):,} parameters, {steps} steps at lr {lr}"
        )
        opt = ember.optim.AdamW(model.parameters(), lr=lr, weight_decay=args.weight_decay)
        # cosine decay to 10% of the peak: the last steps settle into the minimum
        sched = ember.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=max(steps, 1), eta_min=lr / 10
        )
        for step in range(1, steps + 1):
            ix = ember.randint(0, xtr.shape[0], (args.batch_size,))  # (B,)
            loss = loss_fn(model, xtr[ix], ytr[ix])  # ()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if step % args.eval_every == 0 or step == steps:
                val = evaluate(model, *data["val"])
                print(
                    f"step {step:5d}: batch loss {loss.item():.4f}, val loss {val:.4f}, {time.perf_counter() - t0:.0f}s"
                )
    seconds = time.perf_counter() - t0
    result = {"type": args.type, "seconds": seconds}
    for s in ("train", "val", "test"):
        result[f"{s}_loss"] = evaluate(model, *data[s])
    print(
        f"{args.type}: train {result['train_loss']:.4f}  val {result['val_loss']:.4f}  test {result['test_loss']:.4f}  ({seconds:.1f}s)"
    )
    names = sample_names(model, ds, args.samples, max_len)
    known = set(ds.words)
    print("samples (* = in the training set):")
    for name in names:
        print(f"  {name}{' *' if name in known else ''}")
    result["samples"] = names
    return result


if __name__ == "__main__":
    main()
