"""The GPU suite in one command: the CUDA tests, then 720p streaming speed of every zoo model.

    python benchmarks/gpu_suite.py [--quick] [--update-docs] [--require-cuda]

On a CUDA machine, in about 3 to 6 minutes on one GPU (the elapsed time of every part is
printed; ``--quick`` is a smoke run of about a minute):

1. **tests**: ``pytest -m cuda tests`` with ``RIRN_REQUIRE_CUDA=1``, so the CUDA tests
   (``tests/test_cuda.py``: AMP fp16 with ``GradScaler`` and bf16 training steps,
   ``channels_last``, ``torch.compile`` of the streaming step, the fast path's dtype; and
   every other test marked ``cuda``) fail instead of skipping if the GPU is not usable;
2. **timing**: the streaming step ``model.step(frame, state)`` at 1280x720 (batch 1,
   inference mode, steady state, :func:`_common.interleaved`: warm-up, then rotated rounds,
   CUDA-synchronised medians) of every model of
   :func:`rirn_layers.baselines.available_models`, bare and +IRM+ATB, in full precision
   (``fp32``; cuDNN/TF32 defaults) and on the fast path (``fast``:
   :meth:`~rirn_layers.StreamingDeblurModel.set_fast_path`, bf16 or fp16). Reported:
   frames/s of both and the +IRM+ATB / bare time ratio, next to the ratio RIRN table 3
   publishes (bare FPS / +RIRN FPS on the authors' GPU,
   :data:`rirn_layers.baselines.published.RIRN_TABLE_3`). The rounds of each model are
   sized to ``--timing-budget``;
3. **publish**: the tables go to ``<out>/gpu_suite.md`` (default ``docs/perf``) and, with
   ``--update-docs``, between ``<!-- gpu_suite:begin -->`` and ``<!-- gpu_suite:end -->``
   of ``docs/performance.md``.

Without CUDA it prints one line saying so and what it would run, and exits 0
(``--require-cuda``: exits 1). ``--device cpu`` runs the same code on the CPU, as a smoke
run of the script only (with ``--quick --size 64 64``; it needs ``--out`` and never
updates the page, whose numbers come from a GPU).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import torch

from rirn_layers.baselines import available_models, build_model
from rirn_layers.baselines.published import RIRN_TABLE_3

from _common import ROOT, interleaved, parser, publish, stepper, table

VARIANTS = {"bare": (False, False), "+IRM+ATB": (True, True)}
PRECISIONS = ("fp32", "fast")
SIZE = (720, 1280)
QUICK_REPEATS = 3


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; ``--help`` shows every default."""
    p = parser(__doc__.splitlines()[0])
    p.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    for action in p._actions:  # the shared options name their defaults: the formatter does
        action.help = re.sub(r" \(default[^)]*\)", "", action.help or "")
    p.set_defaults(device="cuda")
    run = p.add_argument_group("what runs")
    run.add_argument("--require-cuda", action="store_true",
                     help="exit 1 (not 0) when CUDA is not available")
    run.add_argument("--no-tests", action="store_true", help="skip part 1, the CUDA tests")
    run.add_argument("--no-timing", action="store_true", help="skip part 2, the timing")
    run.add_argument("--pytest-args", nargs=argparse.REMAINDER, default=[],
                     help="extra pytest arguments (last on the line), e.g. -x -k amp")
    timing = p.add_argument_group("timing")
    timing.add_argument("--models", nargs="+", default=available_models(),
                        choices=available_models(), metavar="NAME", help="zoo models to time")
    timing.add_argument("--precisions", nargs="+", default=list(PRECISIONS),
                        choices=PRECISIONS, help="fp32 and/or the fast path")
    timing.add_argument("--size", nargs=2, type=int, default=list(SIZE), metavar=("H", "W"),
                        help="frame size (the papers' 720p)")
    timing.add_argument("--warmup", type=int, default=3, help="untimed rounds per model")
    timing.add_argument("--timing-budget", type=float, default=180.0,
                        help="seconds for all timed rounds together (part 2); each model "
                             "and precision gets an equal share, at least 3 rounds")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup = min(args.repeats, QUICK_REPEATS), 1
        args.timing_budget = min(args.timing_budget, 30.0)
    return args


def cuda_ok(device: str) -> bool:
    return device.startswith("cuda") and torch.cuda.is_available()


def plan(args: argparse.Namespace) -> str:
    """What a run with these arguments does, in one line."""
    height, width = args.size
    parts = []
    if not args.no_tests:
        parts.append("`pytest -m cuda tests` (tests/test_cuda.py and every test marked cuda)")
    if not args.no_timing:
        parts.append(f"time the {width}x{height} streaming step of {', '.join(args.models)} "
                     f"bare and +IRM+ATB ({', '.join(args.precisions)}) against RIRN table 3")
    return " and ".join(parts) or "nothing (--no-tests --no-timing)"


def run_tests(args: argparse.Namespace) -> tuple[int, str]:
    """Part 1: ``pytest -m cuda`` in a subprocess; returns ``(exit code, summary line)``."""
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
               "-m", "cuda", "tests", *args.pytest_args]
    env = dict(os.environ)
    if args.device.startswith("cuda"):  # a missing or broken GPU fails the tests
        env["RIRN_REQUIRE_CUDA"] = "1"
    print("$ " + " ".join(command[2:]), flush=True)
    result = subprocess.run(command, cwd=ROOT, env=env, text=True, capture_output=True)
    print(result.stdout[-6000:], result.stderr[-3000:], sep="", flush=True)
    lines = [ln.strip("= ") for ln in result.stdout.splitlines() if re.search(r" in [\d.]+s", ln)]
    summary = lines[-1] if lines else f"pytest exited with {result.returncode}"
    return result.returncode, summary


def build(name: str, irm: bool, atb: bool, device: str, fast: bool) -> torch.nn.Module:
    """A zoo model (same seed for every variant), on ``device``, in eval mode."""
    torch.manual_seed(0)
    model = build_model(name, irm=irm, atb=atb).to(device).eval()
    return model.set_fast_path() if fast else model


def rounds(calls: dict[str, Callable[[], object]], budget: float, args: argparse.Namespace) -> int:
    """Timed rounds that fit ``budget`` seconds, from one timed round (at least 3)."""
    once = sum(interleaved(calls, repeats=1, warmup=args.warmup, device=args.device).values())
    return max(3, min(args.repeats, int(budget / max(once, 1e-9))))


def time_model(name: str, precision: str, budget: float,
               args: argparse.Namespace) -> dict[str, float]:
    """Median seconds per streaming step of ``name`` bare and +IRM+ATB."""
    height, width = args.size
    frame = torch.rand(1, 3, height, width, device=args.device)
    calls = {label: stepper(build(name, irm, atb, args.device, precision == "fast"), frame)
             for label, (irm, atb) in VARIANTS.items()}
    repeats = rounds(calls, budget, args)
    times = interleaved(calls, repeats=repeats, warmup=0, device=args.device)
    del calls
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
    return times


def fast_dtype(device: str) -> str:
    """The precision ``set_fast_path()`` picks on ``device`` (by running it once)."""
    model = build("gru", False, False, device, fast=True)
    with torch.inference_mode():
        _, state = model.step(torch.rand(1, 3, 16, 16, device=device))
    dtypes = {t.dtype for t in _tensors(state.inner) if t.is_floating_point()}
    return "/".join(sorted(str(d).removeprefix("torch.") for d in dtypes))


def _tensors(obj: object) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, dict):
        obj = list(obj.values())
    elif hasattr(obj, "__dict__") and not isinstance(obj, (list, tuple)):
        obj = list(vars(obj).values())
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in _tensors(item)]
    return []


def published(name: str) -> list[str]:
    """RIRN table 3 for ``name``: bare FPS, +RIRN FPS and their ratio (time +RIRN / bare)."""
    if name not in RIRN_TABLE_3:
        return ["-", "-", "- (not in t.3)"]
    (*_, bare), (*_, rirn) = RIRN_TABLE_3[name]
    return [f"{bare:.2f}", f"{rirn:.2f}", f"{bare / rirn:.2f}"]


def run_timing(args: argparse.Namespace) -> str:
    """Part 2: the timing table (markdown)."""
    if args.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True  # one frame size: let cuDNN pick its kernels
    share = args.timing_budget / (len(args.models) * len(args.precisions))
    rows = []
    for name in args.models:
        for precision in args.precisions:
            start = time.perf_counter()
            times = time_model(name, precision, share, args)
            bare, full = times["bare"], times["+IRM+ATB"]
            rows.append([name, precision, f"{bare * 1e3:.1f}", f"{1 / bare:.1f}",
                         f"{full * 1e3:.1f}", f"{1 / full:.1f}", f"{full / bare:.2f}",
                         *published(name)])
            print(" | ".join(rows[-1]) + f"  ({time.perf_counter() - start:.0f} s)", flush=True)
    height, width = args.size
    sync_note = ", CUDA-synchronised" if args.device.startswith("cuda") else " (a CPU smoke run)"
    precision_note = ""
    if "fast" in args.precisions:
        precision_note = f" `fast`: `set_fast_path()`, which ran in {fast_dtype(args.device)}."
    return (
        f"Streaming step at {width}x{height}, batch 1, inference mode, steady state; medians "
        f"of interleaved rounds{sync_note}. `fp32`: the model as `build_model` "
        f"returns it (channels_last weights, cuDNN defaults).{precision_note} The last three "
        "columns are RIRN table 3 (FPS on the authors' GPU; ratio = bare FPS / +RIRN FPS, "
        "the +RIRN / bare time ratio).\n\n"
        + table(["model", "precision", "bare ms", "bare frames/s", "+IRM+ATB ms",
                 "+IRM+ATB frames/s", "+IRM+ATB / bare", "RIRN t.3 bare FPS",
                 "RIRN t.3 +RIRN FPS", "RIRN t.3 ratio"], rows)
    )


def check_outputs(args: argparse.Namespace, explicit_out: bool) -> None:
    """A CPU run is a smoke run: it writes only where told and never updates the page."""
    if args.device.startswith("cuda"):
        return
    if args.update_docs:
        raise SystemExit("gpu_suite: --update-docs needs a CUDA run (the page shows GPU numbers)")
    if not explicit_out:
        raise SystemExit("gpu_suite: a --device cpu run needs --out (docs/perf keeps GPU numbers)")


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.device.startswith("cuda") and not cuda_ok(args.device):
        print(f"gpu_suite: CUDA is not available, nothing run; on a GPU it would {plan(args)}.",
              file=sys.stderr if args.require_cuda else sys.stdout)
        return 1 if args.require_cuda else 0
    check_outputs(args, explicit_out=any(a == "--out" or a.startswith("--out=") for a in argv))
    started = time.perf_counter()
    sections, status = [], 0
    if not args.no_tests:
        start = time.perf_counter()
        status, summary = run_tests(args)
        sections.append(f"`pytest -m cuda tests`: {summary}.")
        print(f"[part 1, tests: {time.perf_counter() - start:.0f} s]", flush=True)
    if not args.no_timing:
        start = time.perf_counter()
        sections.append(run_timing(args))
        print(f"[part 2, timing: {time.perf_counter() - start:.0f} s]", flush=True)
    if args.quick:
        sections.append("A `--quick` smoke run: fewer rounds, not numbers to quote.")
    publish("gpu_suite", "\n\n".join(sections), args)
    print(f"[gpu_suite: {time.perf_counter() - started:.0f} s in all]", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
