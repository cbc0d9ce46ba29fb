"""What IRM and ATB cost: per-frame latency of every baseline bare, +IRM, +ATB, +IRM+ATB.

    python benchmarks/overhead.py [--quick] [--update-docs] [--device cuda]

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

import torch

from rirn_layers.baselines import available_models, build_model
from rirn_layers.baselines.published import RIRN_TABLE_3
from rirn_layers.profile import count_macs

from _common import interleaved, parser, publish, stepper, table

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


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=available_models())
    args = p.parse_args()
    sizes = [(256, 256), (360, 640)]
    if args.device.startswith("cuda"):
        sizes.append((720, 1280))
    if args.quick:
        sizes, args.repeats = [(64, 64)], 3
    rows = []
    results: dict[tuple[str, str, str], dict[str, float]] = {}
    checks = []
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
                results[(f"{width}x{height}", name, mode)] = times
                for label in VARIANTS:
                    ratio = times[label] / times["bare"]
                    mac_ratio = macs[label] / macs["bare"]
                    rows.append([
                        f"{width}x{height}", name, mode, label, f"{times[label] * 1e3:.1f}",
                        f"{ratio:.2f}", f"{mac_ratio:.2f}",
                        f"{ratio / mac_ratio:.2f}",
                        paper_ratio(name) if label == "+IRM+ATB" else "",
                    ])
                    print(" | ".join(rows[-1]), flush=True)
                full = times["+IRM+ATB"] / times["bare"]
                bound = PARITY * macs["+IRM+ATB"] / macs["bare"]
                checks.append([f"{width}x{height}", name, mode, f"{full:.2f}", f"{bound:.2f}",
                               "yes" if full <= bound else "**no**"])
    body = (
        "Per-frame latency of the streaming step (inference mode, batch 1, steady state), "
        "medians of interleaved runs; ratios to the bare model of the same run.\n\n"
        + table(["size", "model", "precision", "variant", "ms / frame", "x bare",
                 "MACs x bare", "latency / MAC ratio", "RIRN t.3 x bare (GPU)"], rows)
        + "\n\nEfficiency parity (+IRM+ATB latency ratio <= 1.1 x its MAC ratio):\n\n"
        + table(["size", "model", "precision", "latency x bare", "bound (1.1 x MACs)",
                 "met"], checks)
    )
    publish("overhead", body, args, figure=plot(results))


def plot(results: dict[tuple[str, str, str], dict[str, float]]) -> object:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({(size, mode) for size, _, mode in results})
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.6), squeeze=False)
    for ax, (size, mode) in zip(axes[0], keys, strict=True):
        names = [n for s, n, m in results if s == size and m == mode]
        width = 0.25
        for i, label in enumerate(["+IRM", "+ATB", "+IRM+ATB"]):
            values = [results[(size, n, mode)][label] / results[(size, n, mode)]["bare"]
                      for n in names]
            ax.bar([j + (i - 1) * width for j in range(len(names))], values, width, label=label)
        ax.axhline(1.0, color="black", lw=0.8)
        ax.set_xticks(range(len(names)), names, rotation=30)
        ax.set_title(f"{size}, {mode}")
        ax.set_ylabel("latency x bare")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
