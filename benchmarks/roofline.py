"""How close each model's step comes to this machine's convolution throughput.

    python benchmarks/roofline.py [--quick] [--update-docs] [--device cuda]
    python benchmarks/roofline.py --replot --update-docs   # re-render from docs/perf/roofline.md

First, in the same run, the machine's large 3x3 convolution throughput is measured (GFLOP/s,
2 FLOPs per multiply-accumulate) in fp32 with NCHW and ``channels_last`` layouts, and in the
fast path's precision (bf16 autocast, ``channels_last``): the best of a few wide convolutions
(64 to 128 channels at 128x128 to 256x256, batch 1), the ceiling a conv net can reach here.
Then every baseline's streaming step, bare and +IRM+ATB, at 256x256 is timed in both
precisions and its achieved GFLOP/s (true MACs from
:func:`~rirn_layers.profile.count_macs`) is reported as a fraction of that ceiling.
Elementwise work (activations, gates, blends) costs time but no counted FLOPs, so models
with many cheap layers sit lower.
"""

from __future__ import annotations

import contextlib
from functools import partial

import torch
import torch.nn.functional as F

from rirn_layers.baselines import available_models, build_model
from rirn_layers.profile import count_macs

from _common import interleaved, parser, publish, read_table, stepper, table

#: (channels, height, width) of the wide 3x3 convolutions that set the ceiling.
CEILING_SHAPES = [(64, 256, 256), (96, 192, 192), (128, 128, 128)]


def autocast(device: str, enabled: bool) -> contextlib.AbstractContextManager:
    if not enabled:
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if device == "cpu" or torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast(torch.device(device).type, dtype=dtype)


def conv_ceiling(device: str, repeats: int, quick: bool) -> dict[str, float]:
    """Best GFLOP/s of a wide 3x3 conv per layout/precision: 'fp32 NCHW', 'fp32 CL', 'fast'."""
    best = {"fp32 NCHW": 0.0, "fp32 channels_last": 0.0, "fast (bf16, channels_last)": 0.0}
    shapes = CEILING_SHAPES[-1:] if quick else CEILING_SHAPES
    for channels, height, width in shapes:
        torch.manual_seed(0)
        x = torch.randn(1, channels, height, width, device=device)
        w = torch.randn(channels, channels, 3, 3, device=device) / (3 * channels**0.5)
        b = torch.zeros(channels, device=device)
        cl = torch.channels_last
        x_cl, w_cl = x.contiguous(memory_format=cl), w.contiguous(memory_format=cl)

        def run(xx: torch.Tensor, ww: torch.Tensor, bias: torch.Tensor, fast: bool) -> object:
            with torch.inference_mode(), autocast(device, fast):
                return F.conv2d(xx, ww, bias, padding=1)

        times = interleaved({
            "fp32 NCHW": partial(run, x, w, b, False),
            "fp32 channels_last": partial(run, x_cl, w_cl, b, False),
            "fast (bf16, channels_last)": partial(run, x_cl, w_cl, b, True),
        }, repeats=repeats, device=device)
        flops = 2 * channels * channels * 9 * height * width
        for key, seconds in times.items():
            best[key] = max(best[key], flops / seconds / 1e9)
    return best


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=available_models())
    p.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"))
    p.add_argument("--replot", action="store_true",
                   help="no timing: re-render the summary and plot from OUT/roofline.md")
    args = p.parse_args()
    if args.replot:
        saved = (args.out / "roofline.md").read_text()
        rows = [list(r.values()) for r in read_table(saved, "model")]
        points = [(f"{r[0]}{'' if r[1] == 'bare' else '+'}", r[2], float(r[6])) for r in rows]
        body = saved.split("\n", 2)[2]  # the saved tables, under their machine line
        publish("roofline", body, args, figure=plot(points), summary=summary(body, rows),
                head=saved.splitlines()[0])
        return
    if args.quick:
        args.repeats, args.size = 3, (64, 64)
    ceiling = conv_ceiling(args.device, max(args.repeats, 5), args.quick)
    height, width = args.size
    rows, points = [], []
    frame = torch.rand(1, 3, height, width, device=args.device)
    for name in args.models:
        for label, rirn in (("bare", False), ("+IRM+ATB", True)):
            macs = count_macs(build_model(name, irm=rirn, atb=rirn), height, width,
                              convention="true").macs
            calls = {}
            for mode in ("fp32", "fast"):
                torch.manual_seed(0)
                model = build_model(name, irm=rirn, atb=rirn).to(args.device).eval()
                calls[mode] = stepper(model.set_fast_path() if mode == "fast" else model, frame)
            times = interleaved(calls, repeats=args.repeats, device=args.device)
            for mode, seconds in times.items():
                peak = ceiling["fp32 channels_last" if mode == "fp32"
                               else "fast (bf16, channels_last)"]
                achieved = 2 * macs / seconds / 1e9
                rows.append([name, label, mode, f"{macs / 1e9:.2f}", f"{seconds * 1e3:.1f}",
                             f"{achieved:.0f}", f"{achieved / peak:.2f}"])
                points.append((f"{name}{'' if label == 'bare' else '+'}", mode, achieved / peak))
                print(" | ".join(rows[-1]), flush=True)
    body = (
        "Ceiling: the best wide 3x3 convolution of this run (GFLOP/s, 2 FLOPs per MAC).\n\n"
        + table(["layout / precision", "GFLOP/s"],
                [[k, f"{v:.0f}"] for k, v in ceiling.items()])
        + f"\n\nModel steps at {width}x{height} (batch 1, inference mode, steady state; "
        "fraction of the fp32 channels_last ceiling for fp32, of the fast ceiling for fast):\n\n"
        + table(["model", "variant", "precision", "GMACs", "ms / frame", "GFLOP/s",
                 "fraction of ceiling"], rows)
    )
    publish("roofline", body, args, figure=plot(points), summary=summary(body, rows))


def summary(body: str, rows: list[list[str]]) -> str:
    """The ceilings, and each +IRM+ATB model's fraction of them."""
    ceilings = body.split("\n\nModel steps")[0]
    share = {(r[0], r[2]): r[6] for r in rows if r[1] == "+IRM+ATB"}
    names = list(dict.fromkeys(r[0] for r in rows))
    lines = [[n, share.get((n, "fp32"), "-"), share.get((n, "fast"), "-")] for n in names]
    return (ceilings.strip() + "\n\nEach +IRM+ATB model's step (batch 1, inference mode) "
            "as a fraction of the ceiling of its precision:\n\n"
            + table(["model", "fp32", "fast path"], lines))


def plot(points: list[tuple[str, str, float]]) -> object:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(name for name, _, _ in points))
    fig, ax = plt.subplots(figsize=(9, 4))
    for i, mode in enumerate(("fp32", "fast")):
        values = {name: v for name, m, v in points if m == mode}
        ax.bar([j + (i - 0.5) * 0.4 for j in range(len(labels))],
               [values[n] for n in labels], 0.4, label=mode)
    ax.axhline(0.5, color="gray", ls="--", lw=0.8)
    ax.set_xticks(range(len(labels)), labels, rotation=40, fontsize=9)
    ax.set_ylabel("fraction of conv ceiling")
    ax.set_title("achieved / large-conv throughput (+ = with IRM+ATB)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
