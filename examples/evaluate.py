"""Evaluate a checkpoint: per-sequence and mean PSNR/SSIM, optional PNG outputs.

    python examples/evaluate.py --checkpoint runs/gru_rirn/best.pt --dataset gopro \\
        --data-root GOPRO [--split val] [--ends pad|drop] [--save-dir out/]

Protocol: every sequence runs whole, from a fresh state, frame by frame (no state resets
inside a sequence). Metrics follow the papers: RGB, full frame, 8-bit rounded, PSNR per
frame then averaged, SSIM with an 11x11 Gaussian window (sigma 1.5). With ``--ends pad``
(default) every frame is scored; ``--ends drop`` drops the frames a look-ahead model lacks
context for (the first ``past`` and last ``future`` of each sequence: ESTRNN's protocol).
The table reports the mean over frames and the mean over sequences.

Any checkpoint of ``train_gru_rirn.py`` opens with no flag naming the model, a zoo model's
or your own trained with ``--builder`` (whose module is then imported: only open checkpoints
whose builder module you trust).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from rirn_layers.data import DATASETS, build_dataset
from rirn_layers.train import MetricTracker, model_from_checkpoint


def save_png(frame: torch.Tensor, path: Path) -> None:
    from PIL import Image

    array = (frame.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@torch.inference_mode()
def evaluate(args: argparse.Namespace) -> MetricTracker:
    device = torch.device(args.device if args.device != "auto" else
                          ("cuda" if torch.cuda.is_available() else "cpu"))
    model, _ = model_from_checkpoint(args.checkpoint)
    model = model.to(device).eval()
    synthetic = args.dataset == "synthetic"  # clips of --clip-length; folders: whole sequences
    dataset = build_dataset(args.dataset, args.data_root, split=args.split,
                            clip_length=args.clip_length if synthetic else None, crop=args.crop)
    tracker = MetricTracker()
    count = len(dataset) if args.limit is None else min(args.limit, len(dataset))
    for index in range(count):
        item = dataset[index]
        blur, sharp = item["blur"].unsqueeze(0).to(device), item["sharp"]
        out, _ = model(blur, ends=args.ends)
        out = out[0].float().cpu()
        offset = model.past if args.ends == "drop" else 0
        names = item["frames"][offset : offset + out.shape[0]]
        key = item["sequence"] if not synthetic else f"{item['sequence']}#{index}"
        tracker.update(key, out.clamp(0, 1), sharp[offset : offset + out.shape[0]],
                       start=offset)
        if args.save_dir is not None:
            for frame, name in zip(out, names, strict=True):
                stem = Path(str(name)).stem
                save_png(frame, Path(args.save_dir) / item["sequence"] / f"{stem}.png")
        print(f"{item['sequence']}: {out.shape[0]} frames", flush=True)
    return tracker


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--dataset", default="synthetic", choices=sorted(DATASETS))
    p.add_argument("--data-root", default=None)
    p.add_argument("--split", default="val")
    p.add_argument("--ends", default="pad", choices=("pad", "drop"))
    p.add_argument("--crop", type=int, default=None, help="centre crop (e.g. for quick checks)")
    p.add_argument("--save-dir", default=None, help="write deblurred frames as PNG here")
    p.add_argument("--device", default="auto")
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N sequences")
    p.add_argument("--clip-length", type=int, default=8, help="frames per synthetic clip")
    args = p.parse_args(argv)
    tracker = evaluate(args)
    print(tracker.table())
    means = tracker.means()
    print(f"mean over {tracker.num_frames} frames: PSNR {means['psnr']:.2f} dB, "
          f"SSIM {means['ssim']:.4f}")


if __name__ == "__main__":
    main()
