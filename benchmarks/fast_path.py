"""Is the fast path ever slower? ``set_fast_path()`` against full precision, side by side.

    python benchmarks/fast_path.py [--quick] [--update-docs] [--models gru estrnn] [--size H W]

For each model (+IRM+ATB, as a user deblurs with it) at 640x360 (``--size``), three variants
of the streaming step are timed side by side (:func:`_common.interleaved`):

- ``fp32``: the model as :func:`~rirn_layers.baselines.build_model` returns it
  (``channels_last``, full precision);
- ``fast``: after :meth:`~rirn_layers.StreamingDeblurModel.set_fast_path` with its default
  choice, which uses bfloat16 on a CPU only where a one-off measurement finds it faster
  (:func:`rirn_layers.fast_path.cpu_reduced_precision`);
- ``bf16 forced``: ``set_fast_path(dtype=torch.bfloat16)``, what the fast path did before it
  measured (on CPUs without bf16 units many times slower).

The verdict "never slower" holds when ``fast`` takes at most 1.05x the time of ``fp32``
(timing noise on a shared machine). The CPU's capability and extensions are printed with the
numbers: they decide the outcome.
"""

from __future__ import annotations

import torch

from rirn_layers.baselines import available_models, build_model
from rirn_layers.fast_path import cpu_reduced_precision

from _common import interleaved, parser, publish, stepper, table

NOISE = 1.05


def variant(name: str, device: str, mode: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(name, irm=True, atb=True).to(device).eval()
    if mode == "fast":
        model.set_fast_path()
    elif mode == "bf16 forced":
        model.set_fast_path(dtype=torch.bfloat16)
    return model


def plot(rows: list[list[object]], ratios: list[tuple[float, float]]) -> object:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 3.6))
    ax = figure.subplots()
    labels = [str(r[0]) for r in rows]
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], [f for f, _ in ratios], width=0.4, label="fast / fp32")
    ax.bar([x + 0.2 for x in xs], [b for _, b in ratios], width=0.4, label="bf16 forced / fp32")
    ax.axhline(1.0, color="gray", linestyle="--", linewidth=1)
    ax.set_xticks(list(xs), labels)
    ax.set_ylabel("time per frame vs fp32")
    ax.set_yscale("log")
    ax.legend(fontsize=9)
    ax.set_title(f"CPU capability {torch.backends.cpu.get_cpu_capability()}", fontsize=10)
    figure.tight_layout()
    return figure


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=available_models())
    p.add_argument("--size", type=int, nargs=2, default=(360, 640), metavar=("H", "W"))
    args = p.parse_args()
    size = (64, 64) if args.quick else tuple(args.size)
    repeats = 3 if args.quick else args.repeats
    chosen = cpu_reduced_precision() if args.device == "cpu" else None
    modes = ("fp32", "fast", "bf16 forced")
    rows, ratios = [], []
    for name in args.models:
        frame = torch.rand(1, 3, *size, device=args.device)
        calls = {mode: stepper(variant(name, args.device, mode), frame) for mode in modes}
        times = interleaved(calls, repeats=repeats, device=args.device)
        fast, forced = times["fast"] / times["fp32"], times["bf16 forced"] / times["fp32"]
        ratios.append((fast, forced))
        verdict = "yes" if fast <= NOISE else "**no**"
        rows.append([name, f"{1e3 * times['fp32']:.1f}", f"{1e3 * times['fast']:.1f}",
                     f"{1e3 * times['bf16 forced']:.1f}", f"{fast:.2f}", f"{forced:.2f}",
                     verdict])
        print(rows[-1], flush=True)
    precision = {torch.bfloat16: "bfloat16", None: "float32 (bf16 is not faster here)"}
    head = (f"{size[1]}x{size[0]}, batch 1, +IRM+ATB, ms per frame (medians of {repeats} "
            f"interleaved rounds). CPU capability: {torch.backends.cpu.get_cpu_capability()}; "
            f"the fast path chose {precision.get(chosen, str(chosen))} on this device.")
    body = head + "\n\n" + table(
        ["model", "fp32", "fast", "bf16 forced", "fast / fp32", "bf16 forced / fp32",
         "never slower"], rows)
    publish("fast_path", body, args, plot(rows, ratios))


if __name__ == "__main__":
    main()
