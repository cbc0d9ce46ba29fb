"""Train GRU + RIRN (or any baseline, bare or with IRM/ATB) and see it deblur.

    python examples/train_gru_rirn.py                       # demo: ~5 min on a 2-core CPU
    python examples/train_gru_rirn.py --model rdbn --no-irm --dataset gopro --data-root GOPRO \\
        --preset paper --out runs/rdbn_atb
    torchrun --nproc-per-node 2 examples/train_gru_rirn.py   # DistributedDataParallel

With no arguments it trains on the built-in synthetic blur set (no download) and ends with a
one-line summary: validation PSNR/SSIM of the output against those of the blurry input.
Outputs in --out: metrics.jsonl, last.pt/best.pt checkpoints, tensorboard/ (if installed).
"""

from __future__ import annotations

import argparse
import time

from rirn_layers.baselines import available_models
from rirn_layers.data import DATASETS
from rirn_layers.train.loop import PRESETS, TrainConfig, train


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="gru", choices=available_models())
    p.add_argument("--irm", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--atb", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--dtb", action="store_true",
                   help="GRU/LSTM: OVD's sum-to-one DTB in ATB's place (implies --no-atb)")
    p.add_argument("--dataset", default="synthetic", choices=sorted(DATASETS))
    p.add_argument("--data-root", default=None)
    p.add_argument("--preset", default="demo", choices=sorted(PRESETS))
    p.add_argument("--out", default="runs/gru_rirn")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--checkpointing", action="store_true",
                   help="activation checkpointing per frame: less training memory, ~1 extra "
                        "forward pass of compute")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--steps", type=int, default=None, help="override the preset")
    p.add_argument("--batch-size", type=int, default=None, help="override the preset")
    p.add_argument("--crop", type=int, default=None, help="override the preset")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    a = p.parse_args(argv)
    return TrainConfig(
        model=a.model, irm=a.irm, atb=a.atb and not a.dtb, dtb=a.dtb, dataset=a.dataset,
        data_root=a.data_root,
        preset=a.preset, out=a.out, resume=a.resume, seed=a.seed, device=a.device,
        compile=a.compile, checkpointing=a.checkpointing, workers=a.workers, steps=a.steps,
        batch_size=a.batch_size, crop=a.crop, progress=a.progress,
    )


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    tic = time.perf_counter()
    summary = train(config).summary
    if summary:
        print(
            f"validation after {summary['step']} steps ({time.perf_counter() - tic:.0f} s): "
            f"output PSNR {summary['val_psnr']:.2f} dB / SSIM {summary['val_ssim']:.4f} "
            f"vs blurry input {summary['blur_psnr']:.2f} dB / {summary['blur_ssim']:.4f}"
        )


if __name__ == "__main__":
    main()
