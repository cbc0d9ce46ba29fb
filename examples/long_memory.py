"""Long-memory probe: does IRM help frames far from the last sharp one? (bare vs +IRM).

    python examples/long_memory.py [--model gru] [--steps 300] [--seeds 3] [--atb]
        [--out runs/long_memory]

RIRN claims its inner recurrence (IRM) helps when abrupt motion blur weakens the relevance
of the neighbouring frames. The ``shaky`` set (:mod:`rirn_layers.data.shaky`) makes this
true by construction: sharp still stretches interrupted by sudden strong shakes of several
frames, so the best help for a shaken frame is the last sharp frame, several frames back.

For every seed (``--seeds N``: ``S .. S+N-1``, ``S`` from ``--seed``) the bare model and
the model with IRM (and with IRM and ATB, ``--atb``) are trained on it with the same data
and schedule, then every frame of held-out sequences (the validation photographs, a fixed
evaluation seed: the same frames for every run) is scored. PSNR is binned by the frames
since the last sharp frame (0, 1, 2, 3, 4+) and reported per variant as the mean over seeds
with a Student-t 95 % interval, with the per-seed *paired* difference to the bare model
(:mod:`rirn_layers.train.ablation`). If IRM carries long memory, its gain should grow with
the distance to the last sharp frame.

Writes ``OUT/long_memory.md``, ``OUT/long_memory.json`` (every per-seed number) and
``OUT/long_memory.png`` (PSNR vs frames since sharp, 95 % bands; needs matplotlib). Runs go
to ``OUT/<variant>/seed<S>``; an existing output is refused unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import torch

from rirn_layers.baselines import available_models
from rirn_layers.data.shaky import ShakyBlurDataset
from rirn_layers.train.ablation import (
    from_json,
    paired_summary,
    summarize,
    verdict,
    write_results,
)
from rirn_layers.train.loop import TrainConfig, train
from rirn_layers.train.metrics import psnr

BINS = ("0", "1", "2", "3", "4+")
OUTPUTS = ("long_memory.md", "long_memory.json", "long_memory.png")
RUN_FILES = ("last.pt", "best.pt", "metrics.jsonl")


def variants(args: argparse.Namespace) -> list[tuple[str, str, bool, bool]]:
    """``(label, tag, irm, atb)``: bare, + IRM and (``--atb``) + IRM + ATB."""
    name = args.model.upper()
    rows = [(name, args.model, False, False), (f"{name} + IRM", f"{args.model}_irm", True, False)]
    if args.atb:
        rows.append((f"{name} + IRM + ATB", f"{args.model}_irm_atb", True, True))
    return rows


def seeds_of(args: argparse.Namespace) -> list[int]:
    return list(range(args.seed, args.seed + args.seeds))


def config_of(args: argparse.Namespace, tag: str, irm: bool, atb: bool, seed: int) -> TrainConfig:
    """The training run of one variant and seed, on the shaky set."""
    config = TrainConfig(
        model=args.model, irm=irm, atb=atb, dtb=False if args.model in ("gru", "lstm") else None,
        dataset="shaky", seed=seed, steps=args.steps, batch_size=args.batch_size,
        clip_length=args.clip_length, chunk=args.chunk, crop=args.crop,
        val_clips=args.val_clips, val_crop=args.eval_crop, progress=args.progress,
        overwrite=args.overwrite, log_images=False,
        out=str(Path(args.out) / tag / f"seed{seed}"),
    )
    try:
        return config.resolved()
    except (TypeError, ValueError) as err:
        raise SystemExit(f"long_memory: {tag}: {err}") from err


def check_outputs(args: argparse.Namespace, configs: list[TrainConfig]) -> None:
    """Refuse, before anything trains, to write over an earlier probe."""
    if args.overwrite:
        return
    out = Path(args.out)
    taken = [str(out / n) for n in OUTPUTS if (out / n).exists()]
    taken += [c.out for c in configs if any((Path(c.out) / f).exists() for f in RUN_FILES)]
    if taken:
        raise SystemExit(f"long_memory: {out} already holds a probe ({', '.join(taken[:4])}"
                         f"{' ...' if len(taken) > 4 else ''}); pass --overwrite to replace it, "
                         "or choose another --out")


def eval_set(args: argparse.Namespace) -> ShakyBlurDataset:
    """The held-out sequences: validation photographs, a seed no training run uses."""
    return ShakyBlurDataset("val", length=args.eval_clips, clip_length=args.eval_length,
                            crop=args.eval_crop, seed=args.eval_seed)


def bin_of(since: int) -> int:
    """The bin index of ``since`` frames since the last sharp frame (4 and more: the last)."""
    return min(int(since), len(BINS) - 1)


@torch.inference_mode()
def per_bin_psnr(model: torch.nn.Module | None, dataset: ShakyBlurDataset) -> list[float]:
    """Mean per-frame PSNR in every bin over ``dataset`` (``model=None``: the blurry input).

    Each sequence is deblurred whole, from an empty state, as a video would be. A bin with
    no frame is NaN.
    """
    sums, counts = [0.0] * len(BINS), [0] * len(BINS)
    device = next(model.parameters()).device if model is not None else torch.device("cpu")
    if model is not None:
        model.eval()
    for index in range(len(dataset)):
        item = dataset[index]
        blur = item["blur"].unsqueeze(0).to(device)
        out = blur if model is None else model(blur)[0].float().clamp(0, 1)
        scores = psnr(out[0].cpu(), item["sharp"], max_db=100.0)
        for score, since in zip(scores.tolist(), item["since_sharp"].tolist(), strict=True):
            sums[bin_of(since)] += score
            counts[bin_of(since)] += 1
    return [s / c if c else math.nan for s, c in zip(sums, counts, strict=True)]


def bin_counts(dataset: ShakyBlurDataset) -> list[int]:
    """Frames per bin in ``dataset``."""
    counts = [0] * len(BINS)
    for index in range(len(dataset)):
        for since in dataset.render(index).since_sharp.tolist():
            counts[bin_of(since)] += 1
    return counts


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train and score every variant for every seed; returns the report."""
    rows = variants(args)
    seeds = seeds_of(args)
    configs = {(tag, s): config_of(args, tag, irm, atb, s) for _, tag, irm, atb in rows
               for s in seeds}
    check_outputs(args, list(configs.values()))
    held_out = eval_set(args)
    scores: dict[str, list[list[float]]] = {tag: [] for _, tag, _, _ in rows}
    for seed in seeds:
        for label, tag, _, _ in rows:
            print(f"== {label}, seed {seed}", flush=True)
            result = train(configs[tag, seed])
            scores[tag].append(per_bin_psnr(result.model, held_out))
    return report(rows, seeds, scores, per_bin_psnr(None, held_out), bin_counts(held_out), args)


def _summary(values: list[float]) -> dict[str, Any]:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return {"n": 0, "mean": math.nan, "std": math.nan, "low": math.nan, "high": math.nan}
    return summarize(finite).as_dict()


def report(rows: list[tuple[str, str, bool, bool]], seeds: list[int],
           scores: dict[str, list[list[float]]], blurry: list[float], counts: list[int],
           args: argparse.Namespace) -> dict[str, Any]:
    """Every per-seed, per-bin number and the statistics, as ``long_memory.json`` holds them."""
    bare = scores[rows[0][1]]
    entries = []
    for label, tag, irm, atb in rows:
        mine = scores[tag]
        bins = []
        for b in range(len(BINS)):
            values = [seed_scores[b] for seed_scores in mine]
            reference = [seed_scores[b] for seed_scores in bare]
            paired = ([v - r for v, r in zip(values, reference, strict=True)]
                      if not any(math.isnan(v) for v in values + reference) else [])
            stats = paired_summary(values, reference) if paired else None
            bins.append({
                "bin": BINS[b], "psnr_per_seed": values, "psnr": _summary(values),
                "paired_per_seed": paired,
                "paired": stats.as_dict() if stats else None,
                "verdict": verdict(stats) if stats else "n/a (no frames)",
            })
        entries.append({"label": label, "tag": tag, "irm": irm, "atb": atb, "bins": bins})
    return {"model": args.model, "seeds": seeds, "steps": args.steps, "bins": list(BINS),
            "frames_per_bin": counts, "blurry_psnr": blurry, "eval_clips": args.eval_clips,
            "eval_length": args.eval_length, "eval_crop": args.eval_crop,
            "eval_seed": args.eval_seed, "confidence": 0.95, "variants": entries}


def _ci(s: dict[str, Any] | None, signed: bool = False) -> str:
    if not s or s["n"] < 2 or math.isnan(s["low"]):
        return "n/a"
    f = "{:+.2f}" if signed else "{:.2f}"
    return f"[{f.format(s['low'])}, {f.format(s['high'])}]"


def _mean(s: dict[str, Any] | None, signed: bool = False) -> str:
    if not s or math.isnan(s["mean"]):
        return "n/a"
    return f"{s['mean']:+.2f}" if signed else f"{s['mean']:.2f}"


def table(rep: dict[str, Any]) -> str:
    """The Markdown table of ``long_memory.md``: one row per bin."""
    bare, others = rep["variants"][0], rep["variants"][1:]
    head = ["frames since sharp", "frames", "blurry input", f"{bare['label']} (95% CI)"]
    for v in others:
        head += [f"{v['label']} (95% CI)", f"Δ {v['label']} - {bare['label']} (95% CI)",
                 "verdict (95%)"]
    lines = [
        f"Per-frame PSNR (dB) on {rep['eval_clips']} held-out shaky sequences of "
        f"{rep['eval_length']} frames ({rep['eval_crop']} px), binned by frames since the last "
        f"sharp frame; {len(rep['seeds'])} seeds ({', '.join(map(str, rep['seeds']))}), "
        f"{rep['steps']} training steps each (equal steps). Intervals: Student t, 95 %; Δ "
        "paired per seed (same data and initialisation).",
        "",
        "| " + " | ".join(head) + " |",
        "|---|" + "---:|" * (len(head) - 2) + ("---|" if others else "---:|"),
    ]
    for b, name in enumerate(rep["bins"]):
        cells = [name, str(rep["frames_per_bin"][b]), _num(rep["blurry_psnr"][b]),
                 f"{_mean(bare['bins'][b]['psnr'])} {_ci(bare['bins'][b]['psnr'])}"]
        for v in others:
            entry = v["bins"][b]
            cells += [f"{_mean(entry['psnr'])} {_ci(entry['psnr'])}",
                      f"{_mean(entry['paired'], True)} {_ci(entry['paired'], True)}",
                      entry["verdict"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _num(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def plot(rep: dict[str, Any], path: Path) -> bool:
    """Left: PSNR gain over the blurry input per bin and variant, with 95 % bands. Right:
    each variant's paired difference to the bare model per bin, with 95 % intervals."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    x = list(range(len(rep["bins"])))
    blurry = rep["blurry_psnr"]
    fig, (gain, delta) = plt.subplots(1, 2, figsize=(10, 3.8))  # 1200 px wide at 120 dpi
    for v in rep["variants"]:
        stats = [b["psnr"] for b in v["bins"]]
        line, = gain.plot(x, [s["mean"] - b for s, b in zip(stats, blurry, strict=True)],
                          marker="o", label=v["label"])
        if all(s["n"] >= 2 for s in stats):
            gain.fill_between(x, [s["low"] - b for s, b in zip(stats, blurry, strict=True)],
                              [s["high"] - b for s, b in zip(stats, blurry, strict=True)],
                              color=line.get_color(), alpha=0.2)
    for i, v in enumerate(rep["variants"][1:], start=1):
        paired = [b["paired"] for b in v["bins"]]
        ok = [p is not None and p["n"] >= 2 for p in paired]
        xs = [j + 0.12 * (i - 1) for j in x if ok[j]]
        means = [paired[j]["mean"] for j in x if ok[j]]
        errors = [[m - paired[j]["low"] for j, m in zip((j for j in x if ok[j]), means,
                                                         strict=True)],
                  [paired[j]["high"] - m for j, m in zip((j for j in x if ok[j]), means,
                                                         strict=True)]]
        delta.errorbar(xs, means, yerr=errors, fmt="o", capsize=4, color=f"C{i}",
                       label=f"{v['label']} - {rep['variants'][0]['label']}")
    delta.axhline(0.0, color="black", lw=0.8)
    gain.axhline(0.0, color="gray", lw=0.8, linestyle="--")
    for ax, ylabel in ((gain, "PSNR gain over the blurry input (dB)"),
                       (delta, "paired difference (dB)")):
        ax.set_xticks(x, rep["bins"])
        ax.set_xlabel("frames since the last sharp frame")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    fig.suptitle(f"{rep['model']}, {len(rep['seeds'])} seeds, {rep['steps']} steps; "
                 "bands and bars: 95% intervals", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def write_outputs(rep: dict[str, Any], out: Path) -> str:
    """Write ``long_memory.md``, ``long_memory.json`` and (with matplotlib) ``long_memory.png``."""
    text = table(rep)
    written = write_results(out, "long_memory", text, rep, plot)
    print(text)
    print("wrote " + ", ".join(str(path) for path in written))
    return text


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    model = p.add_argument_group("model")
    model.add_argument("--model", default="gru", choices=available_models(),
                       help="a model of the zoo")
    model.add_argument("--atb", action="store_true", help="also train + IRM + ATB")
    runs = p.add_argument_group("seeds and training (equal steps for every variant)")
    runs.add_argument("--seeds", type=positive, default=3, help="seeds: --seed, --seed + 1, ...")
    runs.add_argument("--seed", type=int, default=0, help="the first seed")
    runs.add_argument("--steps", type=positive, default=300, help="training steps")
    runs.add_argument("--batch-size", type=positive, default=4, help="clips per step")
    runs.add_argument("--clip-length", type=positive, default=10, help="frames per clip")
    runs.add_argument("--chunk", type=positive, default=5,
                      help="frames per back-propagation chunk")
    runs.add_argument("--crop", type=positive, default=64, help="training crop")
    runs.add_argument("--val-clips", type=positive, default=2,
                      help="validation clips of the training runs")
    ev = p.add_argument_group("evaluation (held-out shaky sequences)")
    ev.add_argument("--eval-clips", type=positive, default=8, help="sequences")
    ev.add_argument("--eval-length", type=positive, default=16, help="frames per sequence")
    ev.add_argument("--eval-crop", type=positive, default=64, help="frame size")
    ev.add_argument("--eval-seed", type=int, default=12345,
                    help="seed of the sequences (the same for every run)")
    output = p.add_argument_group("output")
    output.add_argument("--out", "--output", dest="out", default="runs/long_memory",
                        help="runs and the table")
    output.add_argument("--replot", action="store_true",
                        help="train nothing: re-render the table and plot from "
                             "OUT/long_memory.json")
    output.add_argument("--overwrite", action="store_true",
                        help="replace an earlier probe in --out (only its own files)")
    output.add_argument("--no-progress", dest="progress", action="store_false",
                        help="hide the progress bar")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    if args.replot:
        saved = Path(args.out) / "long_memory.json"
        if not saved.is_file():
            raise SystemExit(f"long_memory: --replot needs {saved}, which does not exist")
        rep = from_json(json.loads(saved.read_text()))
        write_outputs(rep, Path(args.out))
        return rep  # type: ignore[no-any-return]
    rep = run(args)
    write_outputs(rep, Path(args.out))
    return rep


if __name__ == "__main__":
    main()
