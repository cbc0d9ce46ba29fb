"""What IRM and ATB cost: per-frame latency of every baseline bare, +IRM, +ATB, +IRM+ATB.

    python benchmarks/overhead.py [--quick] [--update-docs] [--device cuda]
    python benchmarks/overhead.py --replot --update-docs   # re-render from docs/perf/overhead.md

For every model of :func:`rirn_layers.baselines.available_models` and every frame size
(256x256 and 640x360; 1280x720 as well on a GPU), the four variants are built with the
same seed and timed side by side (:func:`_common.interleaved`: warm-up, then rotated
rounds, medians) on the streaming step ``model.step(frame, state)`` in inference mode, in
the steady state. Two precisions:

- ``fp32``: the model as :func:`~rirn_layers.baselines.build_model` returns it
  (``channels_last`` weights, full precision);
- ``fast``: the same model after :meth:`~rirn_layers.StreamingDeblurModel.set_fast_path`
  (bf16 autocast on CPU, bf16/fp16 on CUDA).

Printed next to each latency ratio to bare: the ratio of true MACs
(:func:`~rirn_layers.profile.count_macs`) and, for +IRM+ATB, the ratio RIRN table 3 reports
on the authors' GPU (bare FPS / +RIRN FPS). "Efficiency parity" holds when the latency ratio
is at most 1.1x the MAC ratio, i.e. the added layers run at least about as efficiently as
the model they are added to.
"""

from __future__ import annotations

import argparse

import torch

from rirn_layers.baselines import available_models, build_model
from rirn_layers.baselines.published import RIRN_TABLE_3
from rirn_layers.profile import count_macs

from _common import interleaved, parser, publish, read_table, stepper, table

VARIANTS = {"bare": (False, False), "+IRM": (True, False), "+ATB": (False, True),
            "+IRM+ATB": (True, True)}
PARITY = 1.1


def build(name: str, irm: bool, atb: bool, device: str, fast: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(name, irm=irm, atb=atb).to(device).eval()
    return model.set_fast_path() if fast else model


def paper_ratio(name: str) -> str:
    if name not in RIRN_TABLE_3:
        return "-"
    bare, rirn = RIRN_TABLE_3[name]
    return f"{bare[3] / rirn[3]:.2f}"


HEADER = ["size", "model", "precision", "variant", "ms / frame", "x bare", "MACs x bare",
          "latency / MAC ratio", "RIRN t.3 x bare (GPU)"]


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=available_models())
    p.add_argument("--replot", action="store_true",
                   help="no timing: re-render the summary and plot from OUT/overhead.md")
    args = p.parse_args()
    if args.replot:
        saved = (args.out / "overhead.md").read_text()
        rows = [list(r.values()) for r in read_table(saved, "size")]
        render(rows, args, head=saved.splitlines()[0])
        return
    render(measure(args), args)


def measure(args: argparse.Namespace) -> list[list[str]]:
    """One row of :data:`HEADER` per size, model, precision and variant."""
    sizes = [(256, 256), (360, 640)]
    if args.device.startswith("cuda"):
        sizes.append((720, 1280))
    if args.quick:
        sizes, args.repeats = [(64, 64)], 3
    rows = []
    for height, width in sizes:
        for name in args.models:
            macs = {label: count_macs(build_model(name, irm=irm, atb=atb), height, width,
                                      convention="true").macs
                    for label, (irm, atb) in VARIANTS.items()}
            frame = torch.rand(1, 3, height, width, device=args.device)
            for mode in ("fp32", "fast"):
                calls = {label: stepper(build(name, irm, atb, args.device, mode == "fast"), frame)
                         for label, (irm, atb) in VARIANTS.items()}
                times = interleaved(calls, repeats=args.repeats, device=args.device)
                for label in VARIANTS:
                    ratio = times[label] / times["bare"]
                    mac_ratio = macs[label] / macs["bare"]
                    rows.append([
                        f"{width}x{height}", name, mode, label, f"{times[label] * 1e3:.1f}",
                        f"{ratio:.2f}", f"{mac_ratio:.2f}", f"{ratio / mac_ratio:.2f}",
                        paper_ratio(name) if label == "+IRM+ATB" else "",
                    ])
                    print(" | ".join(rows[-1]), flush=True)
    return rows


def parity(rows: list[list[str]]) -> list[list[str]]:
    """Per size, model and precision: is the +IRM+ATB latency ratio <= 1.1 x its MACs ratio?"""
    checks = []
    for row in rows:
        if row[3] == "+IRM+ATB":
            full, bound = float(row[5]), PARITY * float(row[6])
            checks.append([*row[:3], f"{full:.2f}", f"{bound:.2f}",
                           "yes" if full <= bound else "**no**"])
    return checks


def summary(rows: list[list[str]]) -> str:
    """One row per model: +IRM+ATB at the largest size measured, fp32 and fast."""
    size = rows[-1][0]
    full = {(r[1], r[2]): r for r in rows if r[0] == size and r[3] == "+IRM+ATB"}
    lines = []
    for name in dict.fromkeys(r[1] for r in rows):
        fp32, fast = full[(name, "fp32")], full[(name, "fast")]
        met = all(c[5] == "yes" for c in parity([fp32, fast]))
        lines.append([name, fp32[6], fp32[5], fast[5], fp32[8], "yes" if met else "**no**"])
    return (
        f"+IRM+ATB against the bare model, {size}, batch 1, streaming step (inference mode):\n\n"
        + table(["model", "MACs x bare", "latency x bare, fp32", "latency x bare, fast path",
                 "RIRN table 3 (GPU)", "latency <= 1.1 x MACs"], lines)
    )


def render(rows: list[list[str]], args: argparse.Namespace, head: str | None = None) -> None:
    body = (
        "Per-frame latency of the streaming step (inference mode, batch 1, steady state), "
        "medians of interleaved runs; ratios to the bare model of the same run.\n\n"
        + table(HEADER, rows)
        + "\n\nEfficiency parity (+IRM+ATB latency ratio <= 1.1 x its MAC ratio):\n\n"
        + table(["size", "model", "precision", "latency x bare", "bound (1.1 x MACs)", "met"],
                parity(rows))
    )
    publish("overhead", body, args, figure=plot(rows), summary=summary(rows), head=head)


def plot(rows: list[list[str]]) -> object:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(dict.fromkeys((r[0], r[2]) for r in rows))
    columns = 2 if len(keys) > 1 else 1
    grid = (len(keys) + columns - 1) // columns
    fig, axes = plt.subplots(grid, columns, figsize=(6.2 * columns, 3.6 * grid),
                             squeeze=False)
    for ax, (size, mode) in zip(axes.flat, keys, strict=False):
        names = list(dict.fromkeys(r[1] for r in rows if (r[0], r[2]) == (size, mode)))
        ratio = {(r[1], r[3]): float(r[5]) for r in rows if (r[0], r[2]) == (size, mode)}
        width = 0.27
        for i, label in enumerate(["+IRM", "+ATB", "+IRM+ATB"]):
            ax.bar([j + (i - 1) * width for j in range(len(names))],
                   [ratio[(n, label)] for n in names], width, label=label)
        ax.axhline(1.0, color="black", lw=0.8)
        ax.set_xticks(range(len(names)), names)
        ax.set_title(f"{size}, {mode}")
        ax.set_ylabel("latency x bare")
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    axes[0][0].legend(fontsize=9)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
