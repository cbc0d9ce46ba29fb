"""Deblur your own footage with a trained checkpoint.

    python examples/deblur_video.py --checkpoint best.pt --input clip.mp4 --output out.mp4
    python examples/deblur_video.py --checkpoint best.pt --input frames/ --output deblurred/

IN is a video file (read with PyAV) or a folder of PNG/JPG frames (sorted by name); OUT
mirrors it: a video file, or a folder with the same file names. Any resolution (padded to
the model's multiple and cropped back), every frame out, constant memory whatever the
length (the recurrent state is carried through the whole video), CUDA if present
(``--half`` for fp16). Nothing is written unless the whole video succeeds.

Any checkpoint of ``train_gru_rirn.py`` opens with no flag naming the model, a zoo model's
or your own trained with ``--builder`` (whose module is then imported: only open checkpoints
whose builder module you trust).
"""

from __future__ import annotations

import argparse

import torch

from rirn_layers.train import model_from_checkpoint
from rirn_layers.video import deblur


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--input", required=True, help="video file or folder of frames")
    p.add_argument("--output", required=True, help="video file or folder (mirrors --input)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda")
    p.add_argument("--half", action="store_true", help="fp16 autocast on CUDA")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    args = p.parse_args(argv)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model, _ = model_from_checkpoint(args.checkpoint)
    count = deblur(model, args.input, args.output, device=device, half=args.half,
                   progress=args.progress)
    print(f"deblurred {count} frames -> {args.output}")


if __name__ == "__main__":
    main()
