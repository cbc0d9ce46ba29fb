"""Peak memory of streaming inference vs clip length, and what activation checkpointing buys.

    python benchmarks/memory.py [--quick] [--size 256] [--train-size 128] [--threads 1]
                                [--device cuda] [--out docs/perf] [--update-docs]

Two measurements, every data point in a fresh subprocess (this script with the hidden
``--worker`` option) so that one point's peak never hides another's:

- **Streaming inference**: ``T`` frames (default 8, 16, 32, 64) of ``size x size`` through
  ``model.step`` one at a time under ``torch.inference_mode()``, outputs discarded, then
  ``flush``; for a bare GRU, GRU + IRM + ATB, ESTRNN (whose state caches the features of
  ``past + 1 + future`` frames) and ESTRNN + IRM + ATB. For contrast, the whole-clip path
  ``model(clip)`` of GRU + IRM + ATB, which holds the clip and stacks every output, so its
  memory grows with ``T``. Streaming memory must not grow: the target is ``T = 64`` within 5%
  of ``T = 8``.
- **Training**: one forward and backward of an L1 loss through a whole clip (batch 2,
  ``train-size`` squared, ``T`` = 4, 8, 16), for GRU + IRM + ATB and a small ESTRNN, without
  and with :meth:`~rirn_layers.model.StreamingDeblurModel.set_checkpointing`; plus the time
  per clip of both, timed interleaved in one process.

Memory on CPU: the peak resident set size (``ru_maxrss``) minus the resident set measured
after the model is built, the input prepared and a warm-up is done (streaming: steps up to
the first output, so a look-ahead model has fused once; training: a forward/backward of a
one-frame clip, which also allocates the gradients): the
"growth", what running ``T`` frames adds; and the whole-process peak. On CUDA:
``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus the memory
allocated after the warm-up; and the peak itself.

The memory workers run with glibc's ``MALLOC_MMAP_THRESHOLD_=65536``: every buffer above
64 KiB gets its own mapping and goes back to the system when freed, so the resident set
follows the memory in use (otherwise glibc keeps freed blocks at will and the same run
varies by about 10 MiB from process to process; ``--glibc-default`` leaves it alone). The
timing runs keep the default allocator. Workers use one torch thread by default
(``--threads``): on a shared CPU, multi-threaded ops stall whenever another process holds
a core, which would swamp the time ratios.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.checkpoint import checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rirn_layers.baselines import build_model
from rirn_layers.model import StreamingDeblurModel

from _common import interleaved, parser, publish, table

#: Streaming variants: label -> (build_model arguments, whole-clip path instead of ``step``).
STREAM: dict[str, tuple[dict[str, Any], bool]] = {
    "gru": ({"name": "gru"}, False),
    "gru+IRM+ATB": ({"name": "gru", "irm": True, "atb": True}, False),
    "estrnn": ({"name": "estrnn"}, False),
    "estrnn+IRM+ATB": ({"name": "estrnn", "irm": True, "atb": True}, False),
    "gru+IRM+ATB, whole clip": ({"name": "gru", "irm": True, "atb": True}, True),
}
#: Training variants: label -> build_model arguments (``--quick`` shrinks ESTRNN further).
TRAIN: dict[str, dict[str, Any]] = {
    "gru+IRM+ATB": {"name": "gru", "irm": True, "atb": True},
    "estrnn B5C40": {"name": "estrnn", "blocks": 5, "channels": 40},
}
QUICK_TRAIN: dict[str, dict[str, Any]] = {
    "gru+IRM+ATB": {"name": "gru", "irm": True, "atb": True},
    "estrnn B1C20": {"name": "estrnn", "blocks": 1, "channels": 20},
}
TARGET = 0.05  # streaming memory at the longest T within 5% of the shortest
#: glibc's malloc serves every allocation above this many bytes with its own mmap and unmaps
#: it when freed, so the resident set follows the memory in use (see the module docstring).
MMAP_THRESHOLD = 65536
MIB = 2.0**20


# -- measuring, inside a worker process ------------------------------------------------------
def _rss_mib() -> float:
    """Resident set size now (Linux ``/proc``; elsewhere the peak so far, a safe upper bound)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _peak_rss_mib()


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / MIB if sys.platform == "darwin" else peak / 1024


class _Meter:
    """Memory after set-up (the baseline) and the peak since; MiB of RSS or of CUDA memory."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def start(self) -> None:
        gc.collect()
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated() / MIB
        else:
            self.base = _rss_mib()
            self.peak_before = _peak_rss_mib()

    def result(self) -> dict[str, float]:
        if self.cuda:
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() / MIB
            return {"base": self.base, "peak": peak, "growth": peak - self.base}
        peak = _peak_rss_mib()
        return {"base": self.base, "peak": peak, "growth": peak - self.base,
                "warmup_peak": self.peak_before}


def _build(config: dict[str, Any], device: torch.device) -> StreamingDeblurModel:
    torch.manual_seed(0)
    return build_model(**config).to(device)


def _stream_worker(spec: dict[str, Any], device: torch.device) -> dict[str, float]:
    config, whole = STREAM[spec["variant"]]
    model = _build(config, device).eval()
    size, frames = spec["size"], spec["frames"]
    gen = torch.Generator().manual_seed(1)
    meter = _Meter(device)
    with torch.inference_mode():
        if whole:
            clip = torch.rand(1, frames, 3, size, size, generator=gen).to(device)
            model(clip[:, :1])  # warm-up
            meter.start()
            model(clip)  # the result (all T outputs, stacked) is dropped right away
        else:
            # a few distinct frames, cycled: a decoder hands over one frame at a time
            pool = torch.rand(4, 1, 3, size, size, generator=gen).to(device)
            out, warm = model.step(pool[0], None)  # warm-up: up to the first output, so a
            while out is None:  # look-ahead model has run its fusion once
                out, warm = model.step(pool[0], warm)
            del out, warm
            meter.start()
            state = None
            for t in range(frames):
                _, state = model.step(pool[t % len(pool)], state)
            assert state is not None
            model.flush(state)
    return meter.result()


def _train_clip(
    model: StreamingDeblurModel, clip: torch.Tensor, target: torch.Tensor
) -> None:
    """One forward and backward of the L1 loss through the whole clip (gradients accumulate)."""
    out, _ = model(clip)
    (out - target).abs().mean().backward()


def _train_inputs(spec: dict[str, Any], device: torch.device) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(1)
    shape = (spec["batch"], spec["frames"], 3, spec["size"], spec["size"])
    clip = torch.rand(shape, generator=gen).to(device)
    return clip, clip.roll(1, dims=-1)  # any target does


def _checkpoint_import_mib() -> float:
    """RSS that the first non-reentrant checkpoint adds: it imports torch._dynamo & co."""
    before = _rss_mib()
    x = torch.ones(1, requires_grad=True)
    checkpoint(torch.mul, x, x, use_reentrant=False).backward()
    gc.collect()
    return _rss_mib() - before


def _train_worker(spec: dict[str, Any], device: torch.device) -> dict[str, float]:
    extra = {"import": _checkpoint_import_mib()} if spec["checkpointing"] else {}
    model = _build(spec["config"], device).train().set_checkpointing(spec["checkpointing"])
    clip, target = _train_inputs(spec, device)
    _train_clip(model, clip[:, :1], target[:, :1])  # warm-up; allocates the gradients
    meter = _Meter(device)
    meter.start()
    _train_clip(model, clip, target)
    return {**meter.result(), **extra}


def _train_time_worker(spec: dict[str, Any], device: torch.device) -> dict[str, float]:
    model = _build(spec["config"], device).train()
    clip, target = _train_inputs(spec, device)

    def run(enabled: bool) -> None:
        model.set_checkpointing(enabled)
        model.zero_grad(set_to_none=False)
        _train_clip(model, clip, target)

    times = interleaved({"plain": lambda: run(False), "checkpointed": lambda: run(True)},
                        repeats=spec["repeats"], warmup=1, device=str(device))
    return times


def worker(spec: dict[str, Any]) -> None:
    """Measure one data point and print it as JSON on the last line of stdout."""
    device = torch.device(spec["device"])
    torch.set_num_threads(spec["threads"])
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)
    kind = spec["kind"]
    if kind == "stream":
        result = _stream_worker(spec, device)
    elif kind == "train":
        result = _train_worker(spec, device)
    elif kind == "train-time":
        result = _train_time_worker(spec, device)
    else:
        raise ValueError(f"unknown worker kind {kind!r}")
    print(json.dumps(result))


# -- the driver ---------------------------------------------------------------------------------
def run_worker(spec: dict[str, Any], args: argparse.Namespace) -> dict[str, float]:
    """Run one data point in a fresh Python process; its JSON result."""
    spec = {**spec, "device": args.device, "threads": args.threads}
    env = os.environ.copy()
    if spec["kind"] != "train-time" and not args.glibc_default:
        env["MALLOC_MMAP_THRESHOLD_"] = str(MMAP_THRESHOLD)
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {spec} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _ratio(values: dict[int, float]) -> float:
    ts = sorted(values)
    return values[ts[-1]] / values[ts[0]]


def streaming(args: argparse.Namespace, lengths: list[int]) -> tuple[str, dict[str, Any]]:
    growth: dict[str, dict[int, float]] = {}
    peak: dict[str, dict[int, float]] = {}
    for variant in STREAM:
        growth[variant], peak[variant] = {}, {}
        for t in lengths:
            r = run_worker({"kind": "stream", "variant": variant, "frames": t,
                            "size": args.size}, args)
            growth[variant][t], peak[variant][t] = r["growth"], r["peak"]
            print(f"  stream {variant:<24} T={t:<3} growth {r['growth']:8.1f} MiB  "
                  f"peak {r['peak']:8.1f} MiB", flush=True)
    first, last = lengths[0], lengths[-1]
    what = "max_memory_allocated" if args.device.startswith("cuda") else "peak RSS"
    header = ["variant", *(f"T={t}" for t in lengths), f"growth T={last} / T={first}",
              f"peak T={first}", f"peak T={last}", "peak ratio", f"within {TARGET:.0%}"]
    rows = []
    for variant in STREAM:
        ok = "n/a (grows by design)" if STREAM[variant][1] else ", ".join(
            f"{kind}: {'yes' if abs(_ratio(values[variant]) - 1) <= TARGET else '**no**'}"
            for kind, values in (("growth", growth), ("peak", peak)))
        rows.append([variant, *(f"{growth[variant][t]:.1f}" for t in lengths),
                     f"{_ratio(growth[variant]):.3f}", f"{peak[variant][first]:.1f}",
                     f"{peak[variant][last]:.1f}", f"{_ratio(peak[variant]):.3f}", ok])
    text = (
        f"### Streaming inference, {args.size}x{args.size}, batch 1, `inference_mode`\n\n"
        f"Memory growth in MiB ({what} minus the memory after model, input and one warm-up "
        f"step) for T frames through `model.step` (outputs discarded) and `flush`; the "
        f"whole-clip row is `model(clip)`. Whole-process peak in MiB. Target: T={last} within "
        f"{TARGET:.0%} of T={first}, for the growth and for the peak.\n\n"
        + table(header, rows)
    )
    return text, {"growth": growth, "peak": peak}


def training(args: argparse.Namespace, lengths: list[int]) -> tuple[str, dict[str, Any]]:
    variants = QUICK_TRAIN if args.quick else TRAIN
    growth: dict[str, dict[int, float]] = {}
    times: dict[str, dict[int, float]] = {}
    rows, imports, verdicts, ratios = [], [], [], []
    for variant, config in variants.items():
        for t in lengths:
            base = {"config": config, "frames": t, "size": args.train_size, "batch": 2}
            plain = run_worker({**base, "kind": "train", "checkpointing": False}, args)
            ckpt = run_worker({**base, "kind": "train", "checkpointing": True}, args)
            timed = run_worker({**base, "kind": "train-time", "repeats": args.train_repeats},
                               args)
            for label, r in (("", plain), (" +ckpt", ckpt)):
                growth.setdefault(variant + label, {})[t] = r["growth"]
            times.setdefault(variant, {})[t] = timed["plain"]
            times.setdefault(variant + " +ckpt", {})[t] = timed["checkpointed"]
            imports.append(ckpt["import"])
            saved = 1 - ckpt["growth"] / plain["growth"]
            slower = timed["checkpointed"] / timed["plain"]
            ratios.append(slower)
            if t == lengths[-1]:
                verdicts.append(f"{variant} keeps {saved:.0%} less ({plain['growth']:.0f} -> "
                                f"{ckpt['growth']:.0f} MiB) at {slower:.2f}x the time")
            rows.append([variant, t, f"{plain['growth']:.1f}", f"{ckpt['growth']:.1f}",
                         f"{saved:.0%}", f"{plain['peak']:.1f}", f"{ckpt['peak']:.1f}",
                         f"{timed['plain']:.2f}", f"{timed['checkpointed']:.2f}",
                         f"{slower:.2f}x"])
            print("  train " + " | ".join(str(c) for c in rows[-1]), flush=True)
    imported = "" if args.device.startswith("cuda") else (
        f" The checkpointed peaks include about {statistics.median(imports):.0f} MiB of "
        f"modules (torch._dynamo, sympy, ...) that the first non-reentrant "
        f"`torch.utils.checkpoint` call imports, once per process.")
    header = ["model", "T", "growth MiB", "growth MiB, ckpt", "saved", "peak MiB",
              "peak MiB, ckpt", "s/clip", "s/clip, ckpt", "time ckpt / plain"]
    text = (
        f"### Training, batch 2, {args.train_size}x{args.train_size}, one forward + backward "
        f"of an L1 loss through the clip\n\n"
        f"Growth: memory above the model, its gradients and the input (after a one-frame "
        f"warm-up forward/backward); peak: whole process. Time per clip: median of "
        f"{args.train_repeats} interleaved rounds in one process (plain and checkpointed "
        f"alternate).{imported}\n\n" + table(header, rows)
        + f"\n\nWith checkpointing, at T={lengths[-1]}: " + "; ".join(verdicts)
        + f". Time ratio over all points: {min(ratios):.2f}x to {max(ratios):.2f}x."
    )
    return text, {"growth": growth, "times": times}


def figure(stream: dict[str, Any], train: dict[str, Any], args: argparse.Namespace) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unit = "CUDA memory growth" if args.device.startswith("cuda") else "RSS growth"
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    panels = (
        (axes[0], stream["growth"], f"streaming inference {args.size}x{args.size}",
         f"{unit} (MiB)"),
        (axes[1], train["growth"], f"training, batch 2, {args.train_size}x{args.train_size}",
         f"{unit} (MiB)"),
        (axes[2], train["times"], "training time per clip", "seconds per clip"),
    )
    colors: dict[str, str] = {}
    for ax, series, title, ylabel in panels:
        for label, values in series.items():
            ts = sorted(values)
            model = label.removesuffix(" +ckpt").split(",")[0]  # one colour per model
            color = colors.setdefault(model, f"C{len(colors)}")
            ax.plot(ts, [values[t] for t in ts], marker="o", color=color,
                    linestyle="--" if "ckpt" in label or "whole" in label else "-",
                    label=label)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(next(iter(series.values()))))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("frames T")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=None,
                   help="streaming frame size (256; 64 with --quick)")
    p.add_argument("--train-size", type=int, default=None,
                   help="training crop size (128; 32 with --quick)")
    p.add_argument("--train-repeats", type=int, default=None,
                   help="interleaved timing rounds per training point (3; 1 with --quick)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads of every worker (1: on a shared CPU, multi-threaded "
                        "ops stall whenever another process holds a core; 0: torch's default)")
    p.add_argument("--glibc-default", action="store_true",
                   help=f"leave glibc's malloc as it is instead of MALLOC_MMAP_THRESHOLD_="
                        f"{MMAP_THRESHOLD} in the memory workers (RSS then varies by ~10 MiB "
                        f"from process to process)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return
    if args.threads <= 0:
        args.threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)  # so that machine() names the workers' thread count
    if args.quick:
        stream_lengths, train_lengths, defaults = [4, 8, 16], [2, 4], (64, 32, 1)
    else:
        stream_lengths, train_lengths, defaults = [8, 16, 32, 64], [4, 8, 16], (256, 128, 3)
    for name, default in zip(("size", "train_size", "train_repeats"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    tic = time.perf_counter()
    stream_text, stream = streaming(args, stream_lengths)
    train_text, train = training(args, train_lengths)
    body = (
        f"{stream_text}\n\n{train_text}\n\n"
        f"Each number is one fresh process; ran in {time.perf_counter() - tic:.0f} s"
        f"{' (--quick: a smoke run, not numbers to quote)' if args.quick else ''}."
    )
    publish("memory", body, args, figure(stream, train, args))


if __name__ == "__main__":
    main()
