"""Train a character-level GPT on tiny-shakespeare (nanoGPT's "shakespeare_char", smaller).

    EMBER_DATA_DIR=../shared/data python examples/gpt_shakespeare.py [--iters 2500]
        [--n-layer 4] [--n-head 4] [--n-embd 128] [--block-size 128] [--batch-size 16]
        [--lr 2e-3] [--out checkpoints/gpt_shakespeare] [--resume] [--sample-chars 500]

A decoder-only transformer (token + position embeddings, pre-LayerNorm blocks of causal
self-attention and a GELU MLP, the output head tied to the token embedding) trained with AdamW
(weight decay on the 2-D weights only), a linear warm-up then cosine decay of the learning rate,
and gradient clipping. Every --eval-every steps it prints the mean train/val loss over
--eval-iters batches and writes a checkpoint (model, optimizer, step, RNG state; ember.save
replaces the file atomically), which --resume continues from. At the end it prints a sample.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import ember
import ember.nn.functional as F
from ember import nn
from ember.data.datasets import TinyShakespeare


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, n_embd: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = nn.CausalSelfAttention(n_embd, n_head, dropout=dropout)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd),
            nn.GELU(),
            nn.Linear(4 * n_embd, n_embd),
            nn.Dropout(dropout),
        )

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))  # (B, T, C)
        return x + self.mlp(self.ln_2(x))  # (B, T, C)


class GPT(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        block_size: int,
        n_layer: int = 4,
        n_head: int = 4,
        n_embd: int = 128,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.block_size = block_size
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList([Block(n_embd, n_head, dropout) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying: one (V, C) matrix, two uses
        for name, p in self.named_parameters():
            if name.endswith("weight") and p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(p)
        # GPT-2: scale the residual projections by 1/sqrt(2 * n_layer) so the stream stays O(1)
        for blk in self.h:
            for lin in (blk.attn.c_proj, blk.mlp[2]):
                nn.init.normal_(lin.weight, 0.0, 0.02 / math.sqrt(2 * n_layer))

    def forward(self, idx, targets=None):
        B, T = idx.shape  # idx: (B, T) int64
        pos = ember.arange(T)  # (T,)
        x = self.drop(self.wte(idx) + self.wpe(pos))  # (B, T, C)
        for blk in self.h:
            x = blk(x)  # (B, T, C)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(B * T))  # ()
        return logits, loss

    @ember.no_grad()
    def generate(
        self, idx, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None
    ):
        """Append ``max_new_tokens`` sampled tokens to ``idx`` (B, T)."""
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -self.block_size :])  # (B, T', V)
            logits = logits[:, -1, :] / temperature  # (B, V)
            if top_k is not None:
                kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]  # (B, 1)
                logits = logits.masked_fill(logits < kth, float("-inf"))
            probs = F.softmax(logits, dim=-1)  # (B, V)
            idx = ember.cat([idx, ember.multinomial(probs, 1)], dim=1)  # (B, T + 1)
        return idx


def configure_optimizer(model: nn.Module, lr: float, weight_decay: float):
    """AdamW with decay on matrices (linear and embedding weights), none on biases/norms."""
    params = dict(model.named_parameters())  # tied weights appear once
    decay = [p for p in params.values() if p.dim() >= 2]
    no_decay = [p for p in params.values() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return ember.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))


def lr_at(step: int, lr: float, warmup: int, iters: int, min_lr: float) -> float:
    """Linear warm-up for ``warmup`` steps, then cosine decay from ``lr`` to ``min_lr``."""
    if step < warmup:
        return lr * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, iters - warmup))
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * t)) * (lr - min_lr)


@ember.no_grad()
def estimate_loss(model, splits, eval_iters: int, batch_size: int) -> dict[str, float]:
    """Mean loss over ``eval_iters`` random batches of each split (eval mode); the batches are
    the same at every call (own generator), so successive evaluations compare like with like."""
    model.eval()
    out = {}
    for name, ds in splits.items():
        gen = ember.Generator().manual_seed(0)
        losses = [
            model(*ds.get_batch(batch_size, generator=gen))[1].item() for _ in range(eval_iters)
        ]
        out[name] = sum(losses) / len(losses)
    model.train()
    return out


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=2500, help="optimizer steps in total")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--block-size", type=int, default=128, help="context length")
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    ap.add_argument("--min-lr", type=float, default=2e-4, help="learning rate at the end")
    ap.add_argument("--warmup", type=int, default=100, help="warm-up steps")
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--grad-clip", type=float, default=1.0, help="max global gradient norm")
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--eval-iters", type=int, default=20)
    ap.add_argument("--sample-chars", type=int, default=500, help="characters sampled at the end")
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--top-k", type=int, default=None, help="sample from the k likeliest only")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--data-dir", default=None, help="default: $EMBER_DATA_DIR, ~/.cache/ember")
    ap.add_argument("--out", default="checkpoints/gpt_shakespeare", help="checkpoint folder")
    ap.add_argument("--resume", action="store_true", help="continue from --out/ckpt.safetensors")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    return ap.parse_args(argv)


def main(argv=None) -> dict:
    """Train (or continue) and return ``{"step", "train_loss", "val_loss", "seconds", "sample"}``."""
    args = parse_args(argv)
    if args.threads:
        ember.set_num_threads(args.threads)
    ember.manual_seed(args.seed)
    try:
        train = TinyShakespeare(args.data_dir, "train", block_size=args.block_size)
        val = TinyShakespeare(args.data_dir, "val", block_size=args.block_size)
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        raise SystemExit(2) from None
    print(f"{train}\n{val}")

    model = GPT(
        train.vocab_size, args.block_size, args.n_layer, args.n_head, args.n_embd, args.dropout
    )
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"GPT: {args.n_layer} layers, {args.n_head} heads, {args.n_embd} wide, {n_params:,} parameters"
    )
    opt = configure_optimizer(model, args.lr, args.weight_decay)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "ckpt.safetensors"
    step = 0
    if args.resume and ckpt_path.exists():
        ckpt = ember.load(ckpt_path)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        ember.set_rng_state(list(ckpt["rng"]))
        step = ckpt["step"]
        print(f"resumed from {ckpt_path} at step {step} (val loss {ckpt['val_loss']:.4f})")
    elif args.resume:
        print(f"no checkpoint at {ckpt_path}: starting from scratch")

    def save_checkpoint(val_loss: float) -> None:
        state = {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "step": step,
            "val_loss": val_loss,
            "rng": list(ember.get_rng_state()),
            "args": {k: v for k, v in vars(args).items() if v is not None},
        }
        ember.save(state, ckpt_path)  # temp file + rename: a crash never loses the old one

    losses = {"train": float("nan"), "val": float("nan")}
    bar = None
    if not args.no_progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=args.iters, initial=step, dynamic_ncols=True, file=sys.stdout)
        except ImportError:
            pass
    t0 = time.perf_counter()
    start_step = step
    while step < args.iters:
        lr = lr_at(step, args.lr, args.warmup, args.iters, args.min_lr)
        for g in opt.param_groups:
            g["lr"] = lr
        xb, yb = train.get_batch(args.batch_size)  # (B, T), (B, T)
        _, loss = model(xb, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        step += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.1e}")
        if step % args.eval_every == 0 or step == args.iters:
            losses = estimate_loss(
                model, {"train": train, "val": val}, args.eval_iters, args.batch_size
            )
            elapsed = time.perf_counter() - t0
            msg = f"step {step:5d}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}, {elapsed:.0f}s"
            (bar.write if bar is not None else print)(msg)
            save_checkpoint(losses["val"])
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - t0
    if step > start_step:
        print(
            f"{step - start_step} steps in {seconds:.1f}s ({(step - start_step) / seconds:.2f} steps/s)"
        )

    model.eval()
    prompt = ember.tensor([train.encode("\n")])  # (1, 1)
    text = train.decode(model.generate(prompt, args.sample_chars, args.temperature, args.top_k)[0])
    print("-" * 60 + f"\n{text}\n" + "-" * 60)
    return {
        "step": step,
        "train_loss": losses["train"],
        "val_loss": losses["val"],
        "seconds": seconds,
        "sample": text,
    }


if __name__ == "__main__":
    main()
