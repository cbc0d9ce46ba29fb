"""Train three small GRU models and draw the inspection figures of the docs from them.

    python examples/inspection_figures.py --update-docs   # the docs' figures (~1 h, 2-core CPU)
    python examples/inspection_figures.py --steps 1 --crop 32 --runs /tmp/r --out /tmp/f

Trains GRU, GRU + IRM + DTB and GRU + IRM + ATB on the built-in synthetic set with the same
data, seed and schedule (the ``demo`` preset unless overridden; a variant whose
``RUNS/<tag>/best.pt`` exists is reused, ``--retrain`` trains it again), then runs
``examples/inspect_model.py`` on the synthetic validation clips and writes into ``--out``
(default ``docs/inspection``) weight_sums.png (RIRN fig. 4), state_maps.png (fig. 3),
blend_maps.png (fig. 6), comparison.png (figs. 7-9) and summary.json. With ``--update-docs``
the table of numbers between ``<!-- inspection:begin -->`` and ``<!-- inspection:end -->``
in docs/inspection.md is rewritten from summary.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from rirn_layers.train.loop import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "inspection.md"
VARIANTS = {  # tag -> (irm, atb, dtb)
    "gru": (False, False, False),
    "gru_irm_dtb": (True, False, True),
    "gru_irm_atb": (True, True, False),
}


def load_inspect_model() -> ModuleType:  # examples/ is not a package
    spec = importlib.util.spec_from_file_location(
        "inspect_model", Path(__file__).with_name("inspect_model.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train_variants(args: argparse.Namespace) -> dict[str, Path]:
    checkpoints = {}
    for tag, (irm, atb, dtb) in VARIANTS.items():
        out = Path(args.runs) / tag
        checkpoints[tag] = out / "best.pt"
        if checkpoints[tag].is_file() and not args.retrain:
            print(f"== {tag}: reusing {checkpoints[tag]}", flush=True)
            continue
        print(f"== {tag}: training", flush=True)
        config = TrainConfig(model="gru", irm=irm, atb=atb, dtb=dtb, out=str(out),
                             seed=args.seed, steps=args.steps, crop=args.crop,
                             batch_size=args.batch_size, progress=args.progress,
                             overwrite=args.retrain)  # --retrain: replace the run explicitly
        summary = train(config).summary
        if summary:
            print(f"   validation PSNR {summary['val_psnr']:.2f} dB after {summary['step']} "
                  f"steps (blurry input {summary['blur_psnr']:.2f} dB)", flush=True)
    return checkpoints


def table(summary: dict[str, Any], args: argparse.Namespace) -> str:
    steps = "demo-preset (900)" if args.steps is None else str(args.steps)
    lines = [
        f"GRU variants trained for {steps} steps on the synthetic set (seed {args.seed}); "
        f"{summary['clips']} synthetic validation clips of {summary['frames']} frames, "
        f"{summary['size'][0]}x{summary['size'][1]}; the figures show clip {summary['shown']}, "
        f"frame {summary['frame']}. Machine: {platform.machine()}, "
        f"torch {torch.__version__}. Written by `python examples/inspection_figures.py "
        "--update-docs`.",
        "",
        "| model | PSNR (dB) | blend | mean of w_prev + w_cur | median | 5% - 95% | below 1 |",
        "|---|---|---|---|---|---|---|",
        f"| blurry input | {summary['blur_psnr']:.2f} | | | | | |",
    ]
    for label, entry in summary["models"].items():
        blends = [(role, entry[role]) for role in ("atb", "dtb") if role in entry] or [("", None)]
        for role, s in blends:
            stats = "| | | | |" if s is None else (
                f"| {s['mean']:.3f} | {s['median']:.3f} | {s['p05']:.3f} - {s['p95']:.3f} "
                f"| {100 * s['fraction_below_1']:.1f}% |"
            )
            lines.append(f"| {label} | {entry['psnr']:.2f} | {role.upper()} {stats}")
    return "\n".join(lines)


def update_page(text: str, page: Path = PAGE) -> None:
    begin, end = "<!-- inspection:begin -->", "<!-- inspection:end -->"
    content = page.read_text()
    if begin not in content or end not in content:
        raise SystemExit(f"inspection_figures: {page} lacks the {begin} / {end} markers")
    head, rest = content.split(begin, 1)
    _, tail = rest.split(end, 1)
    page.write_text(f"{head}{begin}\n{text}\n{end}{tail}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="runs/inspection", help="where the checkpoints go")
    p.add_argument("--out", "--output", dest="out", default=str(ROOT / "docs" / "inspection"))
    p.add_argument("--retrain", action="store_true", help="train even if best.pt exists")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="override the demo preset")
    p.add_argument("--crop", type=int, default=None, help="training crop (override)")
    p.add_argument("--batch-size", type=int, default=None, help="override the demo preset")
    p.add_argument("--clips", type=int, default=8, help="validation clips measured")
    p.add_argument("--show", type=int, default=2,
                   help="the clip the maps and grid show (2: coins, strongly blurred)")
    p.add_argument("--length", type=int, default=6, help="frames per clip")
    p.add_argument("--size", type=int, default=None, help="clip crop (default: 128)")
    p.add_argument("--update-docs", action="store_true", help="rewrite docs/inspection.md's table")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    args = p.parse_args(argv)

    checkpoints = train_variants(args)
    inspect_args = [
        "--checkpoint", str(checkpoints["gru_irm_atb"]), "--baseline", str(checkpoints["gru"]),
        "--dtb", str(checkpoints["gru_irm_dtb"]), "--input", "synthetic",
        "--clips", str(args.clips), "--show", str(args.show), "--length", str(args.length),
        "--out", args.out,
    ]
    if args.size is not None:
        inspect_args += ["--crop", str(args.size)]
    summary = load_inspect_model().main(inspect_args)
    text = table(summary, args)
    print(text, flush=True)
    if args.update_docs:
        update_page(text)
    return json.loads((Path(args.out) / "summary.json").read_text())


if __name__ == "__main__":
    main()
