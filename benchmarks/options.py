"""Speed-ups of the switches a user can flip, each checked to give the same frames.

    python benchmarks/options.py [--models gru ...] [--no-compile] [--quick] [--update-docs]
    python benchmarks/options.py --replot --update-docs   # re-render from docs/perf/options.md

For each model (with IRM+ATB; all baselines by default, about 15 minutes on 2 cores), the
streaming step at 256x256 (``--size``) is timed side by side in one run under every option,
relative to the eager fp32 NCHW model (``build_model(...,
memory_format=torch.contiguous_format)``), the plain PyTorch default:

- ``channels_last``: the default of :func:`~rirn_layers.baselines.build_model`;
- ``compile``: ``torch.compile(model.step, fullgraph=True)`` of the channels_last model;
- ``bf16 autocast``: NCHW weights under ``torch.autocast`` (CPU) / ``fp16 autocast``,
  ``bf16 autocast`` on CUDA;
- ``fast path``: :meth:`~rirn_layers.StreamingDeblurModel.set_fast_path` (autocast +
  channels_last), and the same under ``torch.compile``;
- ``CUDA graphs`` (CUDA only): the fast path compiled with ``mode="reduce-overhead"``.

Every option runs the same 4-frame sequence first and its outputs are compared with the
reference: relative L2 error ``|out - ref| / |ref|`` over all frames (and max abs error, in
units of the [0, 1] frame range); fp32 options must stay within 1e-4, reduced precision
within 1e-2. A compile's one-time cost (tens of seconds on CPU) is excluded from the timing
and printed separately.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from rirn_layers.baselines import available_models, build_model

from _common import interleaved, parser, publish, read_table, table

FRAMES = 4


def make(name: str, device: str, *, channels_last: bool = True, fast: bool = False,
         dtype: torch.dtype | None = None) -> torch.nn.Module:
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = build_model(name, irm=True, atb=True, memory_format=fmt).to(device).eval()
    if fast or dtype is not None:
        model.set_fast_path(dtype=dtype)
        if not channels_last:
            model.to(memory_format=torch.contiguous_format)
    return model


def options(device: str, compile_: bool) -> dict[str, tuple[dict, str | None]]:
    """name -> (make() keyword arguments, torch.compile mode or None)."""
    cuda = device.startswith("cuda")
    opts: dict[str, tuple[dict, str | None]] = {
        "eager fp32 NCHW (reference)": ({"channels_last": False}, None),
        "channels_last (default)": ({}, None),
    }
    if cuda:
        opts["fp16 autocast NCHW"] = ({"channels_last": False, "dtype": torch.float16}, None)
        opts["bf16 autocast NCHW"] = ({"channels_last": False, "dtype": torch.bfloat16}, None)
        opts["fast path fp16"] = ({"dtype": torch.float16}, None)
    else:
        opts["bf16 autocast NCHW"] = ({"channels_last": False, "dtype": torch.bfloat16}, None)
    opts["fast path (set_fast_path)"] = ({"fast": True}, None)
    if compile_:
        opts["compile fp32 channels_last"] = ({}, "default")
        opts["compile fast path"] = ({"fast": True}, "default")
        if cuda:
            opts["CUDA graphs fast path"] = ({"fast": True}, "reduce-overhead")
    return opts


def run_clip(step: Callable, frames: torch.Tensor) -> tuple[list[torch.Tensor], object]:
    state, outs = None, []
    with torch.inference_mode():
        for frame in frames:
            out, state = step(frame, state)
            if out is not None:  # a look-ahead model's first frames wait for their future
                outs.append(out.float().clone())
    return outs, state


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=available_models())
    p.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"))
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile options")
    p.add_argument("--replot", action="store_true",
                   help="no timing: re-render the summary and plot from OUT/options.md")
    args = p.parse_args()
    if args.replot:
        saved = (args.out / "options.md").read_text()
        rows = [list(r.values()) for r in read_table(saved, "model")]
        body = saved.split("\n", 2)[2]  # the saved tables, under their machine line
        speedups = {(r[0].removesuffix("+IRM+ATB"), r[1].split(" (compile")[0]): float(r[3])
                    for r in rows}
        publish("options", body, args, figure=plot(speedups), summary=summary(rows),
                head=saved.splitlines()[0])
        return
    if args.quick:
        args.repeats, args.size = 3, (64, 64)
    height, width = args.size
    torch.manual_seed(1)
    frames = torch.rand(FRAMES, 1, 3, height, width, device=args.device)
    rows, speedups = [], {}
    for name in args.models:
        reference: list[torch.Tensor] = []
        calls: dict[str, Callable[[], object]] = {}
        errors: dict[str, tuple[float, float, float]] = {}
        compile_seconds: dict[str, float] = {}
        for option, (kwargs, mode) in options(args.device, not args.no_compile).items():
            model = make(name, args.device, **kwargs)
            step = model.step
            if mode is not None:
                torch.compiler.reset()
                step = torch.compile(model.step, fullgraph=True, mode=mode)
            start = time.perf_counter()
            outs, state = run_clip(step, frames)
            if mode is not None:
                compile_seconds[option] = time.perf_counter() - start
            if not reference:
                reference = outs
            ref, got = torch.stack(reference), torch.stack(outs)
            rel = float((got - ref).norm() / ref.norm())
            low = bool(kwargs.get("fast") or kwargs.get("dtype"))
            errors[option] = (rel, float((got - ref).abs().max()), 1e-2 if low else 1e-4)

            def call(step: Callable = step, state: object = state) -> object:
                with torch.inference_mode():
                    return step(frames[-1], state)[0]

            calls[option] = call
        times = interleaved(calls, repeats=args.repeats, device=args.device)
        base = times["eager fp32 NCHW (reference)"]
        for option, seconds in times.items():
            rel, worst, tol = errors[option]
            speedups[(name, option)] = base / seconds
            extra = ""
            if option in compile_seconds:
                extra = f" (compile {compile_seconds[option]:.0f} s)"
            rows.append([f"{name}+IRM+ATB", option + extra, f"{seconds * 1e3:.1f}",
                         f"{base / seconds:.2f}", f"{rel:.1e}", f"{worst:.1e}",
                         "yes" if rel <= tol else "**no**"])
            print(" | ".join(rows[-1]), flush=True)
    body = (
        f"Streaming step at {width}x{height}, batch 1, inference mode; speed-up over the eager "
        "fp32 NCHW model of the same run; errors against it over a 4-frame sequence "
        "(tolerance 1e-4 fp32, 1e-2 reduced precision).\n\n"
        + table(["model", "option", "ms / frame", "speed-up", "rel. L2 error", "max abs error",
                 "within tolerance"], rows)
    )
    publish("options", body, args, figure=plot(speedups), summary=summary(rows))


SUMMARY = {"channels_last (default)": "channels_last (default)",
           "fast path (set_fast_path)": "fast path", "compile fast path": "fast path + compile"}


def summary(rows: list[list[str]]) -> str:
    """Per model, the speed-up of the default, the fast path and the compiled fast path."""
    found: dict[str, dict[str, str]] = {}
    for row in rows:
        option = row[1].split(" (compile")[0]
        if option in SUMMARY:
            found.setdefault(row[0], {})[SUMMARY[option]] = f"{row[3]}x"
    columns = list(SUMMARY.values())
    lines = [[name, *(got.get(c, "-") for c in columns)] for name, got in found.items()]
    return ("Speed-up over the eager fp32 NCHW model (streaming step, batch 1, outputs "
            "checked against it):\n\n" + table(["model", *columns], lines))


def plot(speedups: dict[tuple[str, str], float]) -> object:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(n for n, _ in speedups))
    opts = list(dict.fromkeys(o for _, o in speedups))
    fig, ax = plt.subplots(figsize=(8, 1.5 + 0.1 * len(names) * len(opts)))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        ax.barh([j + i * width for j in range(len(opts))],
                [speedups.get((name, o), 0.0) for o in opts], width, label=f"{name}+IRM+ATB")
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_yticks([j + width * (len(names) - 1) / 2 for j in range(len(opts))], opts, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("speed-up over eager fp32 NCHW")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
