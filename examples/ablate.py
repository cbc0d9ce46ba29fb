"""Ablate RIRN on one model: bare, +ATB, +IRM, +IRM+ATB with one seed and one budget.

    python examples/ablate.py [--model gru] [--steps 900] [--out runs/ablate]
    python examples/ablate.py --builder mymodels:build --builder-kwargs '{"width": 16}'
    python examples/ablate.py --checkpoint runs/mine/last.pt     # the model of a checkpoint

Trains the four variants one after the other with identical data, seed and schedule (the
``demo`` preset unless overridden), then prints a table in the shape of RIRN supplementary
table S6 (validation PSNR/SSIM, with the blurry input for reference) and writes it to
``OUT/ablation.md``, plus a bar plot ``OUT/ablation.png`` when matplotlib is installed.

The model is a zoo model (``--model``), your own (``--builder``, a function that takes
``irm`` and ``atb`` keywords, which each variant sets; see ``train_gru_rirn.py``), or the
model of an existing checkpoint (``--checkpoint``: its zoo options or its builder and
keyword arguments, with ``irm``/``atb`` set per variant). ``--dtb``/``--no-dtb`` is passed
through (e.g. ``--model strcnn --no-dtb``: STRCNN without its DTB, as RIRN ablates it).
"""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path
from typing import Any

from rirn_layers.baselines import available_models
from rirn_layers.train import CheckpointError, load_checkpoint
from rirn_layers.train.builders import json_kwargs, model_name, resolve_builder
from rirn_layers.train.loop import TrainConfig, train

VARIANTS = [("", False, False), (" + ATB", False, True), (" + IRM", True, False),
            (" + IRM + ATB", True, True)]
ZOO_FIELDS = ("name", "irm", "atb", "dtb", "residual")  # what TrainConfig can set


def zoo_fields(config: dict[str, Any], path: str) -> dict[str, Any]:
    """TrainConfig fields of a zoo model's checkpoint config."""
    options = sorted(set(config) - set(ZOO_FIELDS))
    if options:
        raise SystemExit(f"ablate: the model of {path} has options {options} that training "
                         "cannot set; train it with --builder to ablate it")
    fields: dict[str, Any] = {"model": config["name"], "dtb": config.get("dtb")}
    if config["name"] in ("gru", "lstm"):
        fields["residual"] = bool(config.get("residual", False))
    return fields


def checkpoint_fields(path: str) -> dict[str, Any]:
    """TrainConfig fields of the model stored in the checkpoint at ``path``."""
    try:
        config = dict(load_checkpoint(path, restore_rng=False)["config"])
    except (CheckpointError, FileNotFoundError) as err:
        raise SystemExit(f"ablate: {err}") from err
    if "builder" not in config:
        return zoo_fields(config, path)
    if config["builder"] is None:
        raise SystemExit(f"ablate: {path} holds a model instance trained without a builder; "
                         "ablate needs a zoo model or a builder to rebuild each variant")
    kwargs = dict(config.get("kwargs", {}))
    for name in ("irm", "atb"):
        kwargs.pop(name, None)
    return {"builder": config["builder"], "builder_kwargs": kwargs, "dtb": kwargs.pop("dtb", None)}


def model_fields(args: argparse.Namespace) -> dict[str, Any]:
    """TrainConfig fields of the model under study, ``dtb`` overridden by ``--dtb``."""
    if args.checkpoint is not None:
        fields = checkpoint_fields(args.checkpoint)
    elif args.builder is not None:
        fields = {"builder": args.builder, "builder_kwargs": args.builder_kwargs}
    else:
        fields = {"model": args.model}
    if args.dtb is not None:
        fields["dtb"] = args.dtb
    if fields.get("dtb") and fields.get("model") in ("gru", "lstm"):
        raise SystemExit(f"ablate: DTB takes ATB's place in {fields['model']}, so the ATB "
                         "variants cannot have it; ablate with --no-dtb")
    if "builder" in fields:
        check_builder(fields["builder"], fields["builder_kwargs"])
    return fields


def check_builder(spec: str, kwargs: dict[str, Any]) -> None:
    """The builder exists and takes ``irm`` and ``atb`` besides ``kwargs``."""
    given = sorted({"irm", "atb"} & set(kwargs))
    if given:
        raise SystemExit(f"ablate: --builder-kwargs sets {given}, which each variant sets; "
                         "leave them out")
    try:
        builder = resolve_builder(spec)
    except (TypeError, ValueError) as err:
        raise SystemExit(f"ablate: {err}") from err
    try:
        inspect.signature(builder).bind(**kwargs, irm=False, atb=False)
    except TypeError as err:
        raise SystemExit(f"ablate: builder {spec!r} must take the keywords `irm` and `atb` "
                         f"besides {sorted(kwargs)}, which each variant sets ({err})") from err
    except ValueError:  # no signature to check (a builtin): the call will tell
        pass


def variants(args: argparse.Namespace) -> list[tuple[str, TrainConfig]]:
    """``(label, config)`` of the four variants, every config checked."""
    fields = model_fields(args)
    spec = {"builder": fields["builder"]} if "builder" in fields else {"name": fields["model"]}
    base = model_name(spec)
    out = []
    for suffix, irm, atb in VARIANTS:
        label = base + suffix
        tag = label.lower().replace(" + ", "_").replace(" ", "")
        config = TrainConfig(**fields, irm=irm, atb=atb, out=str(Path(args.out) / tag),
                             seed=args.seed, steps=args.steps, crop=args.crop,
                             batch_size=args.batch_size, val_clips=args.val_clips,
                             val_crop=args.val_crop, progress=args.progress,
                             overwrite=args.overwrite)
        try:
            config.resolved()
        except (TypeError, ValueError) as err:
            raise SystemExit(f"ablate: {label}: {err}") from err
        out.append((label, config))
    return out


def run(args: argparse.Namespace) -> list[tuple[str, dict]]:
    rows = []
    for label, config in variants(args):
        print(f"== {label}", flush=True)
        rows.append((label, train(config).summary))
    return rows


def table(rows: list[tuple[str, dict]], steps: int | None) -> str:
    lines = [
        f"Validation on the synthetic set, one seed, {steps or 'demo-preset'} steps each.",
        "",
        "| Architecture | PSNR | SSIM |",
        "|---|---:|---:|",
        f"| blurry input | {rows[0][1]['blur_psnr']:.2f} | {rows[0][1]['blur_ssim']:.4f} |",
    ]
    lines += [f"| {label} | {s['val_psnr']:.2f} | {s['val_ssim']:.4f} |" for label, s in rows]
    return "\n".join(lines) + "\n"


def plot(rows: list[tuple[str, dict]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels = [label for label, _ in rows]
    ax.bar(labels, [s["val_psnr"] for _, s in rows], color="tab:blue")
    ax.axhline(rows[0][1]["blur_psnr"], color="gray", linestyle="--", label="blurry input")
    low = min(rows[0][1]["blur_psnr"], *(s["val_psnr"] for _, s in rows))
    ax.set_ylim(low - 0.5, None)
    ax.set_ylabel("validation PSNR (dB)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = p.add_mutually_exclusive_group()
    which.add_argument("--model", default="gru", choices=available_models(),
                       help="a model of the zoo (default: gru)")
    which.add_argument("--builder", default=None, metavar="MODULE:FUNCTION",
                       help="your own model: a function taking irm= and atb= keywords")
    which.add_argument("--checkpoint", default=None, metavar="CKPT",
                       help="ablate the model of this checkpoint (zoo or builder)")
    p.add_argument("--builder-kwargs", type=json_kwargs, default={}, metavar="JSON",
                   help="keyword arguments of --builder, a JSON object")
    p.add_argument("--dtb", action=argparse.BooleanOptionalAction, default=None,
                   help="DTB on or off in every variant (e.g. --model strcnn --no-dtb); "
                        "unset: the model's own")
    p.add_argument("--steps", type=int, default=None, help="override the demo preset")
    p.add_argument("--crop", type=int, default=None, help="override the demo preset")
    p.add_argument("--batch-size", type=int, default=None, help="override the demo preset")
    p.add_argument("--val-clips", type=int, default=None, help="override the demo preset")
    p.add_argument("--val-crop", type=int, default=None, help="override the demo preset")
    p.add_argument("--seed", type=int, default=0, help="one seed for every variant (default: 0)")
    p.add_argument("--out", "--output", dest="out", default="runs/ablate",
                   help="one folder per variant and the table (default: runs/ablate)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the variants' runs in --out (only their own run files; "
                        "default: refuse an existing run)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="hide the progress bar")
    args = p.parse_args(argv)
    if args.builder_kwargs and args.builder is None:
        p.error("--builder-kwargs needs --builder")
    rows = run(args)
    text = table(rows, args.steps)
    out = Path(args.out)
    (out / "ablation.md").write_text(text)
    print(text)
    if plot(rows, out / "ablation.png"):
        print(f"wrote {out / 'ablation.md'} and {out / 'ablation.png'}")


if __name__ == "__main__":
    main()
