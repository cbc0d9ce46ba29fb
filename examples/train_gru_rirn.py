"""Train GRU + RIRN (or any baseline, bare or with IRM/ATB, or your own model) and see it deblur.

    python examples/train_gru_rirn.py                       # demo: ~5 min on a 2-core CPU
    python examples/train_gru_rirn.py --model rdbn --no-irm --dataset gopro --data-root GOPRO \\
        --preset paper --out runs/rdbn_atb
    python examples/train_gru_rirn.py --builder mymodels:build --builder-kwargs '{"width": 16}'
    torchrun --nproc-per-node 2 examples/train_gru_rirn.py   # DistributedDataParallel

With no arguments it trains on the built-in synthetic blur set (no download) and ends with a
one-line summary: validation PSNR/SSIM of the output against those of the blurry input.
Outputs in --out: metrics.jsonl, last.pt/best.pt checkpoints, config.json, tensorboard/ (if
installed). A folder that holds a run is refused unless --resume or --overwrite is given.
Ctrl-C (SIGINT), SIGTERM or SIGHUP finish the current step, save last.pt and exit with
128 + the signal's number; a second Ctrl-C aborts at once.

``--builder module:function`` trains your own model: a function returning a
``rirn_layers.StreamingDeblurModel``, in a module on the import path or a file in the current
directory, called with the keyword arguments of ``--builder-kwargs`` (and ``irm``, ``atb``,
``dtb`` when those flags are given). The checkpoints name it, so ``evaluate.py``,
``deblur_video.py``, ``inspect_model.py`` and ``ablate.py --checkpoint`` open them with no
extra flag (loading imports that module: only load checkpoints whose module you trust).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from rirn_layers.baselines import available_models
from rirn_layers.data import DATASETS
from rirn_layers.train.builders import json_kwargs
from rirn_layers.train.loop import PRESETS, TrainConfig, TrainingInterrupted, train


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Every option's default in ``--help``, unless its help already says it in words."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=HelpFormatter)
    model = p.add_argument_group("model")
    which = model.add_mutually_exclusive_group()
    which.add_argument("--model", default="gru", choices=available_models(),
                       help="a model of the zoo")
    which.add_argument("--builder", default=None, metavar="MODULE:FUNCTION",
                       help="your own model: a function returning a StreamingDeblurModel "
                            "(module on the import path or in the current directory)")
    model.add_argument("--builder-kwargs", type=json_kwargs, default={}, metavar="JSON",
                       help="keyword arguments of --builder, a JSON object")
    model.add_argument("--irm", action=argparse.BooleanOptionalAction, default=None,
                       help="RIRN's inner recurrence (IRM); default: on for zoo models; "
                            "passed to --builder only when given")
    model.add_argument("--atb", action=argparse.BooleanOptionalAction, default=None,
                       help="RIRN's adaptive temporal blend (ATB); default: on for zoo models "
                            "(off with --dtb on GRU/LSTM); passed to --builder only when given")
    model.add_argument("--dtb", action=argparse.BooleanOptionalAction, default=None,
                       help="OVD's dynamic temporal blend (DTB): on GRU/LSTM in ATB's place "
                            "(implies --no-atb), on STRCNN --no-dtb removes it; default: the "
                            "model's own (on in STRCNN only); passed to --builder only when "
                            "given")
    data = p.add_argument_group("data")
    data.add_argument("--dataset", default="synthetic", choices=sorted(DATASETS),
                      help="training and validation data")
    data.add_argument("--data-root", default=None, help="folder of the dataset (not synthetic)")
    data.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    training = p.add_argument_group("training")
    training.add_argument("--preset", default="demo", choices=sorted(PRESETS),
                          help="steps, batch, crop, learning rate, ... (docs/training.md)")
    training.add_argument("--steps", type=int, default=None,
                          help="override the preset (default: the preset's)")
    training.add_argument("--batch-size", type=int, default=None,
                          help="override the preset (default: the preset's)")
    training.add_argument("--crop", type=int, default=None,
                          help="override the preset (default: the preset's)")
    training.add_argument("--val-clips", type=int, default=None,
                          help="validation clips (default: the preset's)")
    training.add_argument("--val-crop", type=int, default=None,
                          help="centre crop of the validation clips (default: the preset's)")
    training.add_argument("--seed", type=int, default=0, help="model, data order, augmentation")
    training.add_argument("--device", default="auto",
                          help="auto (CUDA if present), cpu, cuda, cuda:1")
    training.add_argument("--compile", action="store_true", help="torch.compile the model")
    training.add_argument("--checkpointing", action="store_true",
                          help="activation checkpointing per frame: less training memory, ~1 "
                               "extra forward pass of compute")
    training.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    training.add_argument("--overwrite", action="store_true",
                          help="replace the run in OUT (removes only its last.pt, best.pt, "
                               "metrics.jsonl, config.json and tensorboard/)")
    training.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                          help="write OUT/last.pt every N steps (default: at each validation)")
    output = p.add_argument_group("output")
    output.add_argument("--out", "--output", dest="out", default="runs/gru_rirn",
                        help="metrics.jsonl, last.pt, best.pt, tensorboard/")
    output.add_argument("--no-progress", dest="progress", action="store_false",
                        help="hide the progress bar (default: shown)")
    return p


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    p = parser()
    a = p.parse_args(argv)
    if a.builder_kwargs and a.builder is None:
        p.error("--builder-kwargs needs --builder")
    config = TrainConfig(
        model=a.model, builder=a.builder, builder_kwargs=a.builder_kwargs, irm=a.irm,
        atb=a.atb, dtb=a.dtb, dataset=a.dataset, data_root=a.data_root,
        preset=a.preset, out=a.out, resume=a.resume, overwrite=a.overwrite, seed=a.seed,
        device=a.device,
        compile=a.compile, checkpointing=a.checkpointing, workers=a.workers, steps=a.steps,
        batch_size=a.batch_size, crop=a.crop, val_clips=a.val_clips, val_crop=a.val_crop,
        progress=a.progress, checkpoint_every=a.checkpoint_every,
    )
    if a.builder is None:  # spell out the zoo model's defaults (what its checkpoints store)
        irm, atb, _ = config.model_switches()
        config = dataclasses.replace(config, irm=irm, atb=atb)
    return config


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    tic = time.perf_counter()
    try:
        summary = train(config).summary
    except TrainingInterrupted as stopped:
        print(stopped.message(), file=sys.stderr, flush=True)
        raise SystemExit(128 + stopped.signum) from None
    if summary:
        print(
            f"validation after {summary['step']} steps ({time.perf_counter() - tic:.0f} s): "
            f"output PSNR {summary['val_psnr']:.2f} dB / SSIM {summary['val_ssim']:.4f} "
            f"vs blurry input {summary['blur_psnr']:.2f} dB / {summary['blur_ssim']:.4f}"
        )


if __name__ == "__main__":
    main()
