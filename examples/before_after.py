"""A before/after picture of a trained model: blurry | restored | sharp, with PSNRs.

    python examples/before_after.py --checkpoint runs/gru_rirn/best.pt \\
        --out docs/img/before_after.jpg [--frames 2] [--overwrite]

Takes clip ``--clip`` of the built-in synthetic validation set
(:func:`rirn_layers.data.build_dataset`), deblurs it from a fresh state, frame by frame as
a video runs, and draws its last ``--frames`` frames (the memory has seen the rest of the
clip by then) as rows of three tiles: the blurry input, the model's output and the sharp
frame, the first two labelled with their PSNR against the sharp one (8-bit, as
``examples/evaluate.py`` scores). The picture is about ``3 x --tile`` pixels wide (900 by
default). An existing file is only replaced with ``--overwrite``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from rirn_layers.data import build_dataset
from rirn_layers.train import model_from_checkpoint
from rirn_layers.train.metrics import psnr

GAP = 8  # pixels between tiles
LABEL = 30  # pixels of label band above each tile


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; ``--help`` shows every default."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    io = p.add_argument_group("input and output")
    io.add_argument("--checkpoint", required=True, help="a checkpoint of train_gru_rirn.py")
    io.add_argument("--out", "--output", dest="out", type=Path,
                    default=Path("docs/img/before_after.jpg"),
                    help="the picture to write: .jpg (quality 95, 4:4:4) or .png")
    io.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    clip = p.add_argument_group("the clip")
    clip.add_argument("--frames", type=int, default=2, choices=(1, 2),
                      help="rows: the clip's last N frames")
    clip.add_argument("--clip", type=int, default=0, help="index of the validation clip")
    clip.add_argument("--clip-length", type=int, default=8, help="frames run through the model")
    clip.add_argument("--crop", type=int, default=288, help="frame size (square) of the clip")
    clip.add_argument("--tile", type=int, default=300, help="width of one tile in pixels")
    clip.add_argument("--device", default="auto", help="cpu, cuda or auto")
    args = p.parse_args(argv)
    if args.clip_length < args.frames:
        p.error(f"--clip-length {args.clip_length} is shorter than --frames {args.frames}")
    return args


@torch.inference_mode()
def restore(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(blurry, restored, sharp)`` frames ``(N, 3, H, W)`` in ``[0, 1]``: the last N."""
    device = torch.device(args.device if args.device != "auto" else
                          ("cuda" if torch.cuda.is_available() else "cpu"))
    model, _ = model_from_checkpoint(args.checkpoint)
    model = model.to(device).eval()
    dataset = build_dataset("synthetic", split="val", clip_length=args.clip_length,
                            crop=args.crop)
    item = dataset[args.clip]
    blur, sharp = item["blur"], item["sharp"]
    out, _ = model(blur.unsqueeze(0).to(device))
    restored = out[0].float().cpu().clamp(0, 1)
    last = slice(-args.frames, None)
    return blur[last], restored[last], sharp[last]


def _font(size: int) -> Any:
    """PIL's built-in font at ``size`` pixels."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def _image(frame: torch.Tensor, width: int) -> Any:
    """A ``(3, H, W)`` frame as a PIL image ``width`` pixels wide."""
    from PIL import Image

    array = (frame.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    image = Image.fromarray(array)
    height = round(image.height * width / image.width)
    return image.resize((width, height), Image.Resampling.LANCZOS)


def draw(blur: torch.Tensor, restored: torch.Tensor, sharp: torch.Tensor, tile: int) -> Any:
    """The picture: one row per frame, tiles labelled with their PSNR against sharp."""
    from PIL import Image, ImageDraw

    scores = {"blurry": psnr(blur, sharp), "restored": psnr(restored, sharp)}
    rows = [[_image(f, tile) for f in frames] for frames in zip(blur, restored, sharp,
                                                                  strict=True)]
    tile_h = rows[0][0].height
    canvas = Image.new("RGB", (3 * tile + 2 * GAP, len(rows) * (tile_h + LABEL + GAP) - GAP),
                       "white")
    pen, font = ImageDraw.Draw(canvas), _font(18)
    for r, row in enumerate(rows):
        top = r * (tile_h + LABEL + GAP)
        labels = [f"blurry  {scores['blurry'][r]:.2f} dB",
                  f"restored  {scores['restored'][r]:.2f} dB", "sharp"]
        for c, (image, label) in enumerate(zip(row, labels, strict=True)):
            left = c * (tile + GAP)
            pen.text((left + 4, top + 5), label, fill="black", font=font)
            canvas.paste(image, (left, top + LABEL))
    return canvas


def main(argv: Sequence[str] | None = None) -> Path:
    args = parse_args(argv)
    if args.out.exists() and not args.overwrite:
        raise SystemExit(f"{args.out} exists: pass --overwrite to replace it")
    blur, restored, sharp = restore(args)
    picture = draw(blur, restored, sharp, args.tile)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix.lower() in (".jpg", ".jpeg"):  # a third of the PNG's size, no visible loss
        picture.save(args.out, quality=95, subsampling=0)
    else:
        picture.save(args.out)
    gain = (psnr(restored, sharp) - psnr(blur, sharp)).mean().item()
    print(f"wrote {args.out} ({picture.width}x{picture.height}); restored vs blurry: "
          f"{gain:+.2f} dB PSNR")
    return args.out


if __name__ == "__main__":
    main()
