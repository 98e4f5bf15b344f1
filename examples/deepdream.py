"""DeepDream with VGG16: gradient ascent on an image to amplify what a layer responds to.

    python examples/deepdream.py --weights vgg16-397923af.pth [--image in.png] [--out dream.png]
        [--layer 22] [--octaves 4] [--octave-scale 1.4] [--iters 10] [--lr 0.02] [--jitter 16]
        [--size 224] [--seed 0]

The network is VGG16's convolutional part, laid out as torchvision's ``vgg16().features`` (same
module indices, so ``features.0.weight`` ... ``features.28.bias`` of torchvision's state dict
load directly; ``--weights`` takes the ``.pth`` file through ``ember.utils.load_torch_state_dict``,
the classifier's keys are ignored). Without ``--weights`` it says so and dreams with random
weights (textures, not dogs).

The image is processed from coarse to fine over ``--octaves`` sizes (F.interpolate); at each
size, ``--iters`` steps of: roll the image by a random offset (jitter, so the pattern does not
lock to the pixel grid), forward to ``--layer``, loss = mean squared activation, backward, step
along the gradient divided by its mean magnitude, roll back, clamp to the valid pixel range. The
detail added at one octave is carried up to the next. The result is written as a PNG (own
writer, standard library only). ``--image`` reads PNG/JPEG when Pillow is installed, binary PPM
(P6) always; without it the start is a smooth colour gradient plus noise.
"""

from __future__ import annotations

import argparse
import math
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

import ember
import ember.nn.functional as F
from ember import nn

# torchvision's VGG16 ("D") features: conv widths, "M" = 2x2 max-pool
VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
MEAN = (0.485, 0.456, 0.406)  # ImageNet statistics the weights were trained with
STD = (0.229, 0.224, 0.225)


class VGG(nn.Module):
    """VGG's feature extractor: 3x3 conv + ReLU stacks separated by max-pools.

    Args:
        cfg: conv output widths and ``"M"`` for pools (default: VGG16).
        width: multiplier on every width (a tiny network for tests: ``width=1 / 16``).

    Shape:
        ``features``: (N, 3, H, W) -> (N, C, H / 32, W / 32).
    """

    def __init__(self, cfg=VGG16, width: float = 1.0) -> None:
        super().__init__()
        layers, c_in = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                c_out = max(1, round(v * width))
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]
                c_in = c_out
        self.features = nn.Sequential(*layers)
        for m in self.features:  # torchvision's VGG init: activations keep their scale with depth
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x, layer: int | None = None):
        """Run ``features`` up to and including module ``layer`` (all when None)."""
        stop = len(self.features) if layer is None else layer + 1
        for i in range(stop):
            x = self.features[i](x)  # (N, C_i, H_i, W_i)
        return x


def load_weights(model: VGG, path) -> None:
    """Load torchvision VGG weights (``.pth`` or ``.safetensors``); the classifier is ignored."""
    sd = ember.utils.load_torch_state_dict(path)
    model.load_state_dict({k: v for k, v in sd.items() if k.startswith("features.")})


def dream(
    model,
    img,
    layer: int,
    octaves: int,
    octave_scale: float,
    iters: int,
    lr: float,
    jitter: int,
    log=print,
):
    """Deep-dream ``img`` (1, 3, H, W), normalized with MEAN/STD; returns the same shape."""
    mean = ember.tensor(MEAN).reshape(1, 3, 1, 1)
    std = ember.tensor(STD).reshape(1, 3, 1, 1)
    lo, hi = (0 - mean) / std, (1 - mean) / std  # (1, 3, 1, 1): the valid range, normalized
    H, W = img.shape[2:]
    sizes = [
        (max(1, round(H / octave_scale**k)), max(1, round(W / octave_scale**k)))
        for k in reversed(range(octaves))
    ]
    detail = ember.zeros(1, 3, *sizes[0])  # what the dreaming added, carried across octaves
    for o, size in enumerate(sizes):
        base = F.interpolate(img, size=size, mode="bilinear", align_corners=False)  # (1, 3, h, w)
        detail = F.interpolate(detail, size=size, mode="bilinear", align_corners=False)
        x = base + detail  # (1, 3, h, w)
        for _ in range(iters):
            dy, dx = (int(v) for v in ember.randint(-jitter, jitter + 1, (2,)).tolist())
            x = ember.roll(x, (dy, dx), (2, 3)).detach().requires_grad_(True)
            loss = model(x, layer).pow(2).mean()  # () mean squared activation
            loss.backward()
            with ember.no_grad():
                g = x.grad  # (1, 3, h, w)
                x = x + lr * g / (g.abs().mean() + 1e-8)  # normalized step: same size each iter
                x = ember.roll(x, (-dy, -dx), (2, 3))
                x = ember.maximum(ember.minimum(x, hi), lo)  # stay a displayable image
        log(f"octave {o + 1}/{octaves} {size[0]}x{size[1]}: loss {loss.item():.4g}")
        detail = x.detach() - base
    return x.detach()


# ---------------------------------------------------------------------------- image files


def write_png(path, rgb: np.ndarray) -> None:
    """Write ``rgb`` (H, W, 3) uint8 as an 8-bit RGB PNG (zlib from the standard library)."""
    h, w, _ = rgb.shape
    raw = np.concatenate(
        [np.zeros((h, 1), np.uint8), rgb.reshape(h, w * 3)], axis=1
    )  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8 bits, colour type 2 (RGB)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 9))
    )
    Path(path).write_bytes(png + chunk(b"IEND", b""))


def read_image(path) -> np.ndarray:
    """(H, W, 3) uint8 from a binary PPM, or from any format Pillow reads (when installed)."""
    data = Path(path).read_bytes()
    if data[:2] == b"P6":
        fields, pos = [], 2
        while len(fields) < 3:  # width, height, maxval, separated by whitespace/comments
            while data[pos : pos + 1].isspace():
                pos += 1
            if data[pos : pos + 1] == b"#":
                pos = data.index(b"\n", pos)
                continue
            end = pos
            while not data[end : end + 1].isspace():
                end += 1
            fields.append(int(data[pos:end]))
            pos = end
        w, h, maxval = fields
        if maxval != 255:
            raise ValueError(f"deepdream: {path}: only 8-bit PPM is supported (maxval {maxval})")
        return np.frombuffer(data, np.uint8, count=w * h * 3, offset=pos + 1).reshape(h, w, 3)
    try:
        from PIL import Image
    except ImportError:
        raise SystemExit(
            f"deepdream: reading {path} needs Pillow (pip install pillow), or give a .ppm"
        ) from None
    return np.asarray(Image.open(path).convert("RGB"))


def synthetic_image(size: int) -> np.ndarray:
    """A smooth colour gradient with a little noise: (size, size, 3) uint8."""
    t = np.linspace(0.0, 1.0, size, dtype=np.float32)
    yy, xx = np.meshgrid(t, t, indexing="ij")
    rgb = np.stack([0.3 + 0.4 * xx, 0.3 + 0.4 * yy, 0.5 - 0.2 * xx * yy], axis=-1)  # (H, W, 3)
    rgb += np.random.default_rng(0).normal(0.0, 0.04, rgb.shape).astype(np.float32)
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def to_tensor(rgb: np.ndarray):
    """(H, W, 3) uint8 -> normalized (1, 3, H, W) float32."""
    x = ember.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32) / 255.0)
    return (
        (x - ember.tensor(MEAN).reshape(3, 1, 1)) / ember.tensor(STD).reshape(3, 1, 1)
    ).unsqueeze(0)


def to_image(x) -> np.ndarray:
    """Normalized (1, 3, H, W) -> (H, W, 3) uint8."""
    x = x[0] * ember.tensor(STD).reshape(3, 1, 1) + ember.tensor(MEAN).reshape(3, 1, 1)  # (3, H, W)
    return (np.clip(x.numpy().transpose(1, 2, 0), 0, 1) * 255 + 0.5).astype(np.uint8)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--weights", default=None, help="torchvision VGG16 state dict (.pth or .safetensors)"
    )
    ap.add_argument("--image", default=None, help="start image (default: a synthetic gradient)")
    ap.add_argument("--size", type=int, default=224, help="side of the synthetic start image")
    ap.add_argument("--max-side", type=int, default=512, help="downscale larger inputs to this")
    ap.add_argument("--out", default="dream.png", help="output PNG")
    ap.add_argument("--layer", type=int, default=22, help="features index to excite (22: relu4_3)")
    ap.add_argument("--octaves", type=int, default=4)
    ap.add_argument("--octave-scale", type=float, default=1.4)
    ap.add_argument("--iters", type=int, default=10, help="ascent steps per octave")
    ap.add_argument("--lr", type=float, default=0.02, help="step size (gradient normalized)")
    ap.add_argument("--jitter", type=int, default=16, help="max random roll in pixels")
    ap.add_argument(
        "--width", type=float, default=1.0, help="channel multiplier (tests: tiny nets)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    return ap.parse_args(argv)


def main(argv=None) -> dict:
    """Dream and write ``--out``; return ``{"out", "shape", "pretrained"}``."""
    args = parse_args(argv)
    if args.threads:
        ember.set_num_threads(args.threads)
    ember.manual_seed(args.seed)
    model = VGG(width=args.width)
    if not 0 <= args.layer < len(model.features):
        raise SystemExit(
            f"deepdream: --layer must be in [0, {len(model.features) - 1}], got {args.layer}"
        )
    if args.weights:
        load_weights(model, args.weights)
        print(f"loaded VGG16 weights from {args.weights}")
    else:
        print(
            "no --weights given: dreaming with RANDOM weights (give torchvision's vgg16 .pth for real dreams)"
        )
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)  # only the image is optimized
    print(f"exciting features[{args.layer}] = {model.features[args.layer]}")

    rgb = read_image(args.image) if args.image else synthetic_image(args.size)  # (H, W, 3)
    img = to_tensor(rgb)  # (1, 3, H, W)
    if max(rgb.shape[:2]) > args.max_side:
        s = args.max_side / max(rgb.shape[:2])
        size = (max(1, math.floor(rgb.shape[0] * s)), max(1, math.floor(rgb.shape[1] * s)))
        img = F.interpolate(img, size=size, mode="bilinear", align_corners=False)
    print(f"image {tuple(img.shape)}")
    out = dream(
        model, img, args.layer, args.octaves, args.octave_scale, args.iters, args.lr, args.jitter
    )
    result = to_image(out)  # (H, W, 3) uint8
    write_png(args.out, result)
    print(f"wrote {args.out} ({result.shape[1]}x{result.shape[0]})")
    return {"out": args.out, "shape": result.shape, "pretrained": bool(args.weights)}


if __name__ == "__main__":
    sys.exit(main() and 0)
