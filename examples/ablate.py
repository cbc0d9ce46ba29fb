"""Ablate RIRN on one model with statistics: bare, wide (equal cost), +ATB, +IRM, +IRM+ATB.

    python examples/ablate.py [--model gru] [--steps 900] [--seeds 3] [--out runs/ablate]
    python examples/ablate.py --budget time --seeds 3          # equal wall-clock time instead
    python examples/ablate.py --builder mymodels:build --builder-kwargs '{"width": 16}' \
        --wide-kwargs '{"width": 20}'
    python examples/ablate.py --checkpoint runs/mine/last.pt     # the model of a checkpoint

Trains every variant for every seed (``--seeds N``: seeds ``S .. S+N-1``, ``S`` from
``--seed``) with identical data, seed and schedule (the ``demo`` preset unless overridden;
the same seed gives every variant the same data order and initialisation stream), then
reports per variant the mean, standard deviation and Student-t 95 % interval of validation
PSNR and SSIM over the seeds, and the per-seed *paired* difference to the bare model with
its mean, 95 % interval and a verdict (significant when that interval excludes 0).

The *wide* variant is the bare model made as costly as the one with IRM and ATB: its MACs
per frame (:func:`rirn_layers.profile.count_macs` at 256 x 256) match within 3 %. For a zoo
model the widths (``channels``/``hidden_channels``, scaled by one factor) or, where those
come in too coarse steps, the depth (``blocks``) are searched automatically
(:mod:`rirn_layers.train.ablation`); if no setting gets within 3 % the table says so and
shows the ratio. For ``--builder`` (or a builder checkpoint) give the wide model's keyword
arguments with ``--wide-kwargs`` (merged over ``--builder-kwargs``); a ratio off by more
than 3 % is refused; without ``--wide-kwargs`` the wide variant is left out.

``--budget steps`` (default) trains each variant ``--steps`` steps; ``--budget time`` gives
each the same wall-clock time: a short calibration (``--warmup-steps`` then
``--calibration-steps``, each variant alone) measures seconds per step, and each variant
trains ``round(steps * s_per_step(bare) / s_per_step)`` steps. Timings depend on the
machine and on whatever else runs on it.

Writes ``OUT/ablation.md`` (the table, which says the budget), ``OUT/ablation.json``
(every per-seed number) and ``OUT/ablation.png`` (95 % intervals as error bars; needs
matplotlib). Runs go to ``OUT/<variant>`` (one seed) or ``OUT/<variant>/seed<S>``; an
existing output is refused unless ``--overwrite``.

The model is a zoo model (``--model``), your own (``--builder``, a function that takes
``irm`` and ``atb`` keywords, which each variant sets; see ``train_gru_rirn.py``), or the
model of an existing checkpoint (``--checkpoint``: its zoo options or its builder and
keyword arguments, with ``irm``/``atb`` set per variant). ``--dtb``/``--no-dtb`` is passed
through (e.g. ``--model strcnn --no-dtb``: STRCNN without its DTB, as RIRN ablates it).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from rirn_layers.baselines import available_models, build_model
from rirn_layers.train import CheckpointError, load_checkpoint
from rirn_layers.train.ablation import (
    MACS_SIZE,
    TOLERANCE,
    EqualCost,
    Summary,
    check_equal_cost,
    equal_cost_search,
    from_json,
    macs_per_frame,
    paired_differences,
    paired_summary,
    summarize,
    time_budget_steps,
    verdict,
    write_results,
)
from rirn_layers.train.builders import (
    build_from_config,
    json_kwargs,
    model_name,
    resolve_builder,
    zoo_options,
)
from rirn_layers.train.loop import TrainConfig, train

#: ``(suffix, irm, atb)`` of the variants; ``" wide"`` is the bare model at the cost of the last.
VARIANTS = [("", False, False), (" wide", False, False), (" + ATB", False, True),
            (" + IRM", True, False), (" + IRM + ATB", True, True)]
OUTPUTS = ("ablation.md", "ablation.json", "ablation.png")
#: The builder the wide variant of a zoo model is trained with (zoo configs take no widths).
ZOO_BUILDER = "rirn_layers.baselines:build_model"
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


@dataclasses.dataclass
class Variant:
    """One row of the table: its label, folder tag, training config and cost.

    ``config`` holds everything but the seed, steps and folder of a run; ``macs`` is its
    MACs per frame at :data:`~rirn_layers.train.ablation.MACS_SIZE`; ``note`` says how the
    wide variant was sized (or why it is not of equal cost).
    """

    label: str
    tag: str
    config: TrainConfig
    macs: int = 0
    note: str = ""
    equal_cost: bool | None = None  # the wide variant: within the tolerance?


def tag_of(label: str) -> str:
    """A folder name of a label: ``"GRU + IRM + ATB"`` -> ``"gru_irm_atb"``."""
    return label.lower().replace(" + ", "_").replace(" ", "_")


def shared_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig fields every variant shares (the command line's overrides)."""
    return {"steps": args.steps, "crop": args.crop, "batch_size": args.batch_size,
            "val_clips": args.val_clips, "val_crop": args.val_crop, "progress": args.progress,
            "overwrite": args.overwrite, "seed": args.seed, "out": args.out}


def checked(label: str, config: TrainConfig) -> TrainConfig:
    """``config.resolved()``, its errors as the script's."""
    try:
        return config.resolved()
    except (TypeError, ValueError) as err:
        raise SystemExit(f"ablate: {label}: {err}") from err


def macs_of(model_config: dict[str, Any]) -> int:
    """MACs per frame of the model a checkpoint-style config builds (zoo: on the meta device)."""
    if "builder" in model_config:
        with torch.random.fork_rng(devices=[]):  # building leaves the runs' random numbers alone
            return macs_per_frame(build_from_config(model_config))
    return macs_per_frame(build_model(**model_config, device="meta"))


def wide_config(bare: TrainConfig, kwargs: dict[str, Any]) -> TrainConfig:
    """The bare variant's config with ``kwargs`` merged into its model's keywords.

    A zoo model's config cannot take widths, so the wide zoo model is trained through
    :func:`~rirn_layers.baselines.build_model` as a builder, with the bare model's stored
    options (``residual`` of the preset, ``dtb``) carried over.
    """
    if bare.builder is not None:
        return dataclasses.replace(bare, builder_kwargs={**bare.builder_kwargs, **kwargs})
    stored = {k: v for k, v in checked("wide", bare).model_config().items()
              if k not in ("irm", "atb")}
    return dataclasses.replace(bare, model="gru", builder=ZOO_BUILDER, dtb=None,
                               builder_kwargs={**stored, **kwargs})


def wide_variant(base: str, bare: Variant, target: int, args: argparse.Namespace) -> Variant:
    """The bare model at the cost ``target``: searched (zoo) or from ``--wide-kwargs``."""
    label = f"{base} wide"
    size = f"{MACS_SIZE[0]}x{MACS_SIZE[1]}"
    if args.wide_kwargs is not None:
        config = wide_config(bare.config, args.wide_kwargs)
        macs = macs_of(checked(label, config).model_config())
        try:
            ratio = check_equal_cost(macs, target, TOLERANCE)
        except ValueError as err:
            raise SystemExit(f"{err} (--wide-kwargs {json.dumps(args.wide_kwargs)}: "
                             f"{macs / 1e9:.3f} vs {target / 1e9:.3f} GMACs at {size})") from err
        note = f"--wide-kwargs {json.dumps(args.wide_kwargs)}: {ratio:.3f}x the target MACs"
        return Variant(label, tag_of(label), config, macs, note, True)
    stored = checked(label, bare.config).model_config()
    name = stored.pop("name")
    found: EqualCost | None = equal_cost_search(
        lambda kw: build_model(name, device="meta", **{**stored, **kw}), zoo_options(name), target
    )
    if found is None:
        return Variant(label, tag_of(label), bare.config, 0,
                       f"{name} has no width or depth option to widen", False)
    config = wide_config(bare.config, found.kwargs)
    shown = ", ".join(f"{k}={v}" for k, v in found.kwargs.items())
    note = f"{shown}: {found.ratio:.3f}x the target MACs"
    if not found.within:
        note += f" (no setting within {TOLERANCE:.0%}: NOT equal cost)"
    return Variant(label, tag_of(label), config, found.macs, note, found.within)


def variants(args: argparse.Namespace) -> list[Variant]:
    """The five variants, every config checked, MACs counted; wide left out without a way to
    size it (a builder without ``--wide-kwargs``)."""
    fields = model_fields(args)
    spec = {"builder": fields["builder"]} if "builder" in fields else {"name": fields["model"]}
    base = model_name(spec)
    out: list[Variant] = []
    for suffix, irm, atb in VARIANTS:
        if suffix == " wide":
            continue
        label = base + suffix
        config = TrainConfig(**fields, irm=irm, atb=atb, **shared_fields(args))
        macs = macs_of(checked(label, config).model_config())
        out.append(Variant(label, tag_of(label), config, macs))
    if "builder" in fields and args.wide_kwargs is None:
        print(f"ablate: no wide variant of {base}: give its keyword arguments with "
              "--wide-kwargs JSON to compare at equal cost")
        return out
    out.insert(1, wide_variant(base, out[0], out[-1].macs, args))
    return out


def seeds_of(args: argparse.Namespace) -> list[int]:
    """``--seed .. --seed + --seeds - 1``."""
    return list(range(args.seed, args.seed + args.seeds))


def run_dir(out: Path, tag: str, seed: int, seeds: list[int]) -> Path:
    """``OUT/<tag>`` for one seed, ``OUT/<tag>/seed<S>`` for several."""
    return out / tag if len(seeds) == 1 else out / tag / f"seed{seed}"


def check_outputs(out: Path, rows: list[Variant], seeds: list[int], overwrite: bool) -> None:
    """Refuse, before anything trains, to write over earlier runs or tables."""
    if overwrite:
        return
    taken = [str(out / name) for name in OUTPUTS if (out / name).exists()]
    for row in rows:
        for seed in seeds:
            folder = run_dir(out, row.tag, seed, seeds)
            if any((folder / f).exists() for f in ("last.pt", "best.pt", "metrics.jsonl")):
                taken.append(str(folder))
    if taken:
        shown = ", ".join(taken[:4]) + (f" and {len(taken) - 4} more" if len(taken) > 4 else "")
        raise SystemExit(f"ablate: {out} already holds an ablation ({shown}); pass --overwrite "
                         "to replace it, or choose another --out")


def timed_train(config: TrainConfig) -> float:
    """Wall-clock seconds of one ``train(config)``."""
    tic = time.perf_counter()
    train(config)
    return time.perf_counter() - tic


def seconds_per_step(row: Variant, args: argparse.Namespace, folder: Path) -> float:
    """Seconds per training step of ``row``, measured alone.

    Two runs, ``warmup`` and ``warmup + steps`` steps long, are timed; their difference over
    ``steps`` cancels the start-up (model, data, one validation) and the warm-up steps.
    """
    warm, count = args.warmup_steps, args.calibration_steps
    config = dataclasses.replace(row.config, seed=args.seed, val_clips=1, progress=False,
                                 log_images=False, overwrite=True)
    short = timed_train(dataclasses.replace(config, steps=warm, out=str(folder / "short")))
    long = timed_train(dataclasses.replace(config, steps=warm + count, out=str(folder / "long")))
    return max((long - short) / count, 1e-6)


def calibrate(rows: list[Variant], args: argparse.Namespace) -> dict[str, float]:
    """Seconds per step of every variant (:func:`seconds_per_step`), in a temporary folder.

    Each variant is timed alone, one after the other, in this process: what else runs on
    the machine at the time (other people's jobs) lands in the numbers.
    """
    measured = {}
    with tempfile.TemporaryDirectory(prefix="ablate-calibration-") as tmp:
        # one throwaway run first: the process's one-time costs (imports, photo loading,
        # kernel selection) must not land in the first variant's short run
        seconds_per_step(rows[0], args, Path(tmp) / "throwaway")
        for row in rows:
            measured[row.tag] = seconds_per_step(row, args, Path(tmp) / row.tag)
            print(f"calibration: {row.label}: {measured[row.tag]:.3f} s/step", flush=True)
    return measured


def budget_steps(rows: list[Variant], args: argparse.Namespace) -> tuple[dict, dict | None]:
    """Steps per variant, and the measured s/step (``--budget time`` only)."""
    steps = int(checked(rows[0].label, rows[0].config).steps)  # type: ignore[arg-type]
    if args.budget == "steps":
        return {row.tag: steps for row in rows}, None
    measured = calibrate(rows, args)
    return time_budget_steps(steps, measured, rows[0].tag), measured


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train every variant for every seed; returns the report (see :func:`report`)."""
    rows = variants(args)
    seeds = seeds_of(args)
    out = Path(args.out)
    check_outputs(out, rows, seeds, args.overwrite)
    steps, measured = budget_steps(rows, args)
    runs: dict[str, list[dict[str, Any]]] = {row.tag: [] for row in rows}
    for seed in seeds:
        for row in rows:
            print(f"== {row.label}, seed {seed}, {steps[row.tag]} steps", flush=True)
            config = dataclasses.replace(row.config, seed=seed, val_seed=args.seed,
                                         steps=steps[row.tag],
                                         out=str(run_dir(out, row.tag, seed, seeds)))
            summary = train(config).summary
            runs[row.tag].append({"seed": seed, **summary})
    return report(rows, runs, steps, measured, args)


def _stats(values: list[float]) -> dict[str, Any]:
    return summarize(values).as_dict()


def report(rows: list[Variant], runs: dict[str, list[dict[str, Any]]], steps: dict[str, int],
           measured: dict[str, float] | None, args: argparse.Namespace) -> dict[str, Any]:
    """Every per-seed number and the statistics, as ``ablation.json`` holds them."""
    bare = runs[rows[0].tag]
    entries = []
    for row in rows:
        mine = runs[row.tag]
        entry: dict[str, Any] = {
            "label": row.label, "tag": row.tag, "macs": row.macs,
            "macs_ratio": row.macs / rows[0].macs, "steps": steps[row.tag],
            "seconds_per_step": None if measured is None else measured[row.tag],
            "note": row.note, "equal_cost": row.equal_cost, "runs": mine,
        }
        for metric in ("psnr", "ssim"):
            values = [r[f"val_{metric}"] for r in mine]
            entry[metric] = _stats(values)
            reference = [r[f"val_{metric}"] for r in bare]
            entry[f"paired_{metric}"] = paired_summary(values, reference).as_dict()
            entry[f"paired_{metric}_values"] = [v - r for v, r in zip(values, reference,
                                                                      strict=True)]
        entry["verdict"] = verdict(Summary(**entry["paired_psnr"]))
        entries.append(entry)
    blurry = {m: _stats([r[f"blur_{m}"] for r in bare]) for m in ("psnr", "ssim")}
    return {
        "budget": args.budget, "seeds": seeds_of(args), "steps": steps,
        "seconds_per_step": measured,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "macs_size": list(MACS_SIZE), "tolerance": TOLERANCE, "confidence": 0.95,
        "blurry": blurry, "variants": entries,
    }


def _num(value: float, digits: int) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _mean_std(s: dict[str, Any], digits: int) -> str:
    if s["n"] < 2:
        return _num(s["mean"], digits)
    return f"{_num(s['mean'], digits)} ± {_num(s['std'], digits)}"


def _interval(s: dict[str, Any], digits: int, signed: bool = False) -> str:
    if s["n"] < 2:
        return "n/a"
    fmt = f"{{:+.{digits}f}}" if signed else f"{{:.{digits}f}}"
    return f"[{fmt.format(s['low'])}, {fmt.format(s['high'])}]"


def budget_line(rep: dict[str, Any]) -> str:
    """One sentence: which budget, with the numbers behind it."""
    bare = rep["variants"][0]
    if rep["budget"] == "steps":
        return f"Budget: equal steps ({bare['steps']} training steps per variant)."
    seconds = bare["steps"] * bare["seconds_per_step"]
    return (f"Budget: equal wall-clock training time ({seconds:.1f} s per variant: "
            f"{bare['steps']} steps of the bare model at {bare['seconds_per_step']:.3f} s/step; "
            f"s/step measured alone, CPU capability {rep['cpu_capability']}).")


def table(rep: dict[str, Any]) -> str:
    """The Markdown table of ``ablation.md``."""
    seeds = rep["seeds"]
    budget = "equal steps" if rep["budget"] == "steps" else "equal time"
    timed = rep["budget"] == "time"
    size = "x".join(map(str, rep["macs_size"]))
    lines = [
        f"Validation on the synthetic set (the same clips for every seed), {len(seeds)} "
        f"seed{'s' * (len(seeds) > 1)} ({', '.join(map(str, seeds))}).",
        budget_line(rep),
        f"MACs per output frame at {size} (paper convention). Intervals: Student t, 95 %. "
        "ΔPSNR: paired per seed (same data and initialisation), variant - bare; "
        "significant when its interval excludes 0.",
        "",
        f"| Architecture | GMACs/frame | MACs x bare | steps ({budget})"
        + (" | s/step" if timed else "")
        + " | PSNR mean ± std | PSNR 95% CI | SSIM mean ± std | SSIM 95% CI"
        " | ΔPSNR vs bare | ΔPSNR 95% CI | verdict (95%) |",
        "|---|---:|---:|---:|" + ("---:|" if timed else "") + "---:|---:|---:|---:|---:|---:|---|",
        f"| blurry input | | | |{' |' if timed else ''} {_mean_std(rep['blurry']['psnr'], 2)} "
        f"| {_interval(rep['blurry']['psnr'], 2)} | {_mean_std(rep['blurry']['ssim'], 4)} "
        f"| {_interval(rep['blurry']['ssim'], 4)} | | | |",
    ]
    for i, v in enumerate(rep["variants"]):
        label = v["label"] if v["equal_cost"] is not False else f"{v['label']} (NOT equal cost)"
        delta = "—" if i == 0 else f"{v['paired_psnr']['mean']:+.2f}"
        ci = "—" if i == 0 else _interval(v["paired_psnr"], 2, signed=True)
        word = "(reference)" if i == 0 else v["verdict"]
        lines.append(
            f"| {label} | {v['macs'] / 1e9:.2f} | {v['macs_ratio']:.3f} | {v['steps']}"
            + (f" | {v['seconds_per_step']:.3f}" if timed else "")
            + f" | {_mean_std(v['psnr'], 2)} | {_interval(v['psnr'], 2)}"
            f" | {_mean_std(v['ssim'], 4)} | {_interval(v['ssim'], 4)} | {delta} | {ci}"
            f" | {word} |"
        )
    notes = [f"- {v['label']}: {v['note']}" for v in rep["variants"] if v["note"]]
    versus = equal_cost_line(rep)
    return "\n".join(lines + (["", *notes] if notes else []) + (["", versus] if versus else [])
                     ) + "\n"


def equal_cost_line(rep: dict[str, Any]) -> str:
    """The question the wide row is for: does +IRM+ATB beat the bare model widened to its
    cost? The paired difference per seed, +IRM+ATB - wide, with its 95 % interval."""
    full = next((v for v in rep["variants"] if v["tag"].endswith("_irm_atb")), None)
    wide = next((v for v in rep["variants"] if v["tag"].endswith("_wide")), None)
    if full is None or wide is None:
        return ""
    diffs = paired_differences([r["val_psnr"] for r in full["runs"]],
                               [r["val_psnr"] for r in wide["runs"]])
    stats = summarize(diffs)
    if stats.n < 2:
        return (f"Equal cost: {full['label']} - {wide['label']}: ΔPSNR {stats.mean:+.2f} dB "
                "(one seed: no interval).")
    return (f"Equal cost: {full['label']} - {wide['label']} (paired per seed): ΔPSNR "
            f"{stats.mean:+.2f} dB, 95% CI [{stats.low:+.2f}, {stats.high:+.2f}], "
            f"{verdict(stats)}.")


def plot(rep: dict[str, Any], path: Path) -> bool:
    """Bars of mean validation PSNR with 95 % intervals; ``False`` without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    entries = rep["variants"]
    means = [v["psnr"]["mean"] for v in entries]
    errors = [0.0 if v["psnr"]["n"] < 2 else v["psnr"]["high"] - v["psnr"]["mean"]
              for v in entries]
    fig, ax = plt.subplots(figsize=(7.5, 4.0))  # 900 px wide at 120 dpi
    ax.bar([v["label"] for v in entries], means, yerr=errors, capsize=6, color="tab:blue",
           ecolor="black")
    blur = rep["blurry"]["psnr"]["mean"]
    ax.axhline(blur, color="gray", linestyle="--", label="blurry input")
    low = min(blur, *(m - e for m, e in zip(means, errors, strict=True)))
    ax.set_ylim(low - 0.5, None)
    ax.set_ylabel("validation PSNR (dB)")
    budget = "equal steps" if rep["budget"] == "steps" else "equal training time"
    ax.set_title(f"{len(rep['seeds'])} seeds, {budget}; error bars: 95% interval", fontsize=10)
    ax.tick_params(axis="x", labelrotation=15, labelsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def write_outputs(rep: dict[str, Any], out: Path) -> str:
    """Write ``ablation.md``, ``ablation.json`` and (with matplotlib) ``ablation.png``."""
    text = table(rep)
    written = write_results(out, "ablation", text, rep, plot)
    print(text)
    print("wrote " + ", ".join(str(path) for path in written))
    return text


def positive(text: str) -> int:
    """argparse type: an int >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    model = p.add_argument_group("model")
    which = model.add_mutually_exclusive_group()
    which.add_argument("--model", default="gru", choices=available_models(),
                       help="a model of the zoo")
    which.add_argument("--builder", default=None, metavar="MODULE:FUNCTION",
                       help="your own model: a function taking irm= and atb= keywords")
    which.add_argument("--checkpoint", default=None, metavar="CKPT",
                       help="ablate the model of this checkpoint (zoo or builder)")
    model.add_argument("--builder-kwargs", type=json_kwargs, default={}, metavar="JSON",
                       help="keyword arguments of --builder, a JSON object")
    model.add_argument("--wide-kwargs", type=json_kwargs, default=None, metavar="JSON",
                       help="keyword arguments of the wide (equal-cost) model, merged over "
                            "the bare model's; its MACs must be within 3%% of +IRM+ATB's "
                            "(unset: searched for zoo models, no wide variant for builders)")
    model.add_argument("--dtb", action=argparse.BooleanOptionalAction, default=None,
                       help="DTB on or off in every variant (e.g. --model strcnn --no-dtb); "
                            "unset: the model's own")
    runs = p.add_argument_group("seeds and budget")
    runs.add_argument("--seeds", type=positive, default=1,
                      help="seeds per variant: --seed, --seed + 1, ...")
    runs.add_argument("--seed", type=int, default=0, help="the first seed")
    runs.add_argument("--budget", choices=("steps", "time"), default="steps",
                      help="equal training steps, or equal wall-clock time (steps of the "
                           "bare model; the others' from measured s/step)")
    runs.add_argument("--warmup-steps", type=positive, default=3,
                      help="--budget time: steps before the timed ones")
    runs.add_argument("--calibration-steps", type=positive, default=10,
                      help="--budget time: steps timed per variant")
    preset = p.add_argument_group("training (unset: the demo preset's)")
    preset.add_argument("--steps", type=positive, default=None, help="steps (of the bare model)")
    preset.add_argument("--crop", type=positive, default=None, help="training crop")
    preset.add_argument("--batch-size", type=positive, default=None, help="clips per step")
    preset.add_argument("--val-clips", type=positive, default=None, help="validation clips")
    preset.add_argument("--val-crop", type=positive, default=None, help="validation crop")
    output = p.add_argument_group("output")
    output.add_argument("--out", "--output", dest="out", default="runs/ablate",
                        help="one folder per variant (and seed) and the table")
    output.add_argument("--replot", action="store_true",
                        help="train nothing: re-render the table and plot from OUT/ablation.json")
    output.add_argument("--overwrite", action="store_true",
                        help="replace an earlier ablation in --out (only its own files)")
    output.add_argument("--no-progress", dest="progress", action="store_false",
                        help="hide the progress bar")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser()
    args = p.parse_args(argv)
    if args.builder_kwargs and args.builder is None:
        p.error("--builder-kwargs needs --builder")
    if args.replot:
        saved = Path(args.out) / "ablation.json"
        if not saved.is_file():
            raise SystemExit(f"ablate: --replot needs {saved}, which does not exist")
        rep = from_json(json.loads(saved.read_text()))
    else:
        rep = run(args)
    write_outputs(rep, Path(args.out))
    return rep


if __name__ == "__main__":
    main()
