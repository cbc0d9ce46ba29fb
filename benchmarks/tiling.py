"""Peak memory and time of tiled vs untiled streaming at one frame size.

    python benchmarks/tiling.py [--quick] [--size 540x960] [--tiles 128 256] [--overlap 32]
                                [--model gru+IRM+ATB] [--frames 3] [--threads 1]
                                [--device cuda] [--out docs/perf]

For the untiled model and for :class:`~rirn_layers.video.tiling.TiledStream` at each tile
size: the memory that streaming ``--frames`` frames through ``step`` (and ``flush``) adds
above the model and the input frame, each in a fresh process (this script with the hidden
``--worker`` option; CPU: peak RSS with glibc's ``MALLOC_MMAP_THRESHOLD_=65536`` so freed
buffers leave the resident set; CUDA: ``max_memory_allocated``); the median time per frame,
timed interleaved in one process; the largest ``|tiled - untiled|`` over the frames; and
the ratios tiled / untiled side by side. Every figure is printed with the CPU capability
torch dispatches to (``torch.backends.cpu.get_cpu_capability()``), which decides the CPU
kernels and therefore both the time and the workspace memory of the convolutions.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rirn_layers.baselines import build_model
from rirn_layers.model import StreamingDeblurModel
from rirn_layers.video.tiling import TiledState, TiledStream

from _common import interleaved, parser, publish, table

MODELS: dict[str, dict[str, Any]] = {
    "gru": {"name": "gru"},
    "gru+IRM+ATB": {"name": "gru", "irm": True, "atb": True},
    "estrnn": {"name": "estrnn"},
}
MIB = 2.0**20
CAPABILITY = torch.backends.cpu.get_cpu_capability()


def _size(text: str) -> tuple[int, int]:
    h, _, w = text.partition("x")
    return int(h), int(w or h)


def _runner(spec: dict[str, Any], device: torch.device) -> tuple[Any, StreamingDeblurModel]:
    torch.manual_seed(0)
    model = build_model(**MODELS[spec["model"]]).to(device).eval()
    tile = spec.get("tile")
    return (model if tile is None else TiledStream(model, tile, spec["overlap"])), model


def _frames(spec: dict[str, Any], device: torch.device) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    return torch.rand(spec["frames"], 1, 3, *spec["size"], generator=gen).to(device)


def _stream(runner: Any, frames: torch.Tensor, keep: bool = True) -> tuple[list[Any], Any]:
    """Every output of ``frames (T, B, C, H, W)`` (``keep=False``: ``None`` s) and the state."""
    state, outs = None, []
    for frame in frames:
        out, state = runner.step(frame, state)
        outs += [] if out is None else [out if keep else None]
    rest, state = runner.flush(state)
    return outs + (rest if keep else [None] * len(rest)), state


def _state_mib(state: Any) -> float:
    """MiB of all tensors in a (nested) state."""
    if isinstance(state, torch.Tensor):
        return state.nbytes / MIB
    if isinstance(state, dict):
        state = list(state.values())
    if isinstance(state, (tuple, list)):
        return sum(_state_mib(s) for s in state)
    return 0.0


def _memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() / MIB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _base_mib(device: torch.device) -> float:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated() / MIB
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no /proc/self/status: the CPU memory needs Linux")


def worker(spec: dict[str, Any]) -> None:
    """Memory of one variant (printed as JSON), or with ``spec["time"]`` the timings."""
    device = torch.device(spec["device"])
    torch.set_num_threads(spec["threads"])
    if spec.get("time"):
        print(json.dumps(_timings(spec, device)))
        return
    runner, _ = _runner(spec, device)
    frames = _frames(spec, device)
    with torch.inference_mode():
        base = _base_mib(device)
        outs, state = _stream(runner, frames, keep=False)
        peak = _memory_mib(device)
    assert len(outs) == len(frames)
    tiles = runner.grid(*spec["size"]).num_tiles if isinstance(runner, TiledStream) else 1
    if isinstance(state, TiledState):
        state = state.tiles  # not the grid's weights
    print(json.dumps({"growth": peak - base, "peak": peak, "tiles": tiles,
                      "state": _state_mib(state)}))


def _timings(spec: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Median seconds per frame of every variant, interleaved, and each one's max error."""
    model = _runner({**spec, "tile": None}, device)[1]
    frames = _frames(spec, device)
    runners = {"untiled": model, **{f"tile {t}": TiledStream(model, t, spec["overlap"])
                                    for t in spec["tiles"]}}
    with torch.inference_mode():
        outputs = {name: torch.stack(_stream(r, frames)[0]) for name, r in runners.items()}
        errors = {name: (out - outputs["untiled"]).abs().max().item()
                  for name, out in outputs.items()}
        del outputs
        times = interleaved({name: _call(r, frames) for name, r in runners.items()},
                            repeats=spec["repeats"], warmup=1, device=str(device))
    return {"seconds": {k: v / len(frames) for k, v in times.items()}, "errors": errors}


def _call(runner: Any, frames: torch.Tensor) -> Callable[[], object]:
    return lambda: _stream(runner, frames, keep=False)


def run_worker(spec: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """One measurement in a fresh Python process; its JSON result."""
    spec = {**spec, "device": args.device, "threads": args.threads}
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {spec} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def measure(args: argparse.Namespace) -> str:
    """Run every variant; the markdown table with the ratios to untiled."""
    base = {"model": args.model, "size": args.size, "frames": args.frames,
            "overlap": args.overlap}
    memory = {"untiled": run_worker(base, args)}
    for tile in args.tiles:
        memory[f"tile {tile}"] = run_worker({**base, "tile": tile}, args)
    for name, r in memory.items():
        print(f"  [{CAPABILITY}] {name:<10} growth {r['growth']:8.1f} MiB  "
              f"peak {r['peak']:8.1f} MiB  state {r['state']:6.1f} MiB", flush=True)
    timed = run_worker({**base, "time": True, "tiles": args.tiles, "repeats": args.repeats},
                       args)
    seconds, errors = timed["seconds"], timed["errors"]
    rows = []
    for name, r in memory.items():
        rows.append([name, r["tiles"], CAPABILITY, f"{r['growth']:.1f}",
                     f"{r['growth'] / memory['untiled']['growth']:.2f}x", f"{r['state']:.1f}",
                     f"{seconds[name] * 1e3:.0f}", f"{seconds[name] / seconds['untiled']:.2f}x",
                     f"{errors[name]:.1e}"])
        print(f"  [{CAPABILITY}] {name:<10} {seconds[name] * 1e3:8.0f} ms/frame  "
              f"max |tiled - untiled| {errors[name]:.1e}", flush=True)
    h, w = args.size
    what = "max_memory_allocated" if args.device.startswith("cuda") else "peak RSS"
    header = ["variant", "tiles", "CPU capability", "memory MiB", "memory / untiled", "state MiB",
              "ms/frame", "time / untiled", "max abs error"]
    return (f"### {args.model}, {h}x{w}, batch 1, overlap {args.overlap}, {args.frames} "
            f"frames, `inference_mode`\n\nMemory: {what} above the model and the input "
            f"frames (outputs dropped), one fresh process per row; it includes the state, "
            f"the tensors carried to the next frame. Time: median of {args.repeats} interleaved "
            f"rounds per frame. Error: against the untiled model (random weights).\n\n"
            + table(header, rows))


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--model", choices=list(MODELS), default="gru+IRM+ATB")
    p.add_argument("--size", type=_size, default=None, help="HxW (540x960; 96x128 --quick)")
    p.add_argument("--tiles", type=int, nargs="+", default=None,
                   help="tile sizes (128 256; 48 --quick)")
    p.add_argument("--overlap", type=int, default=None, help="overlap (32; 16 --quick)")
    p.add_argument("--frames", type=int, default=None, help="frames per run (3; 2 --quick)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of every worker")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return
    quick = {"size": (96, 128), "tiles": [48], "overlap": 16, "frames": 2, "repeats": 1}
    full = {"size": (540, 960), "tiles": [128, 256], "overlap": 32, "frames": 3}
    for name, value in (quick if args.quick else full).items():
        if name == "repeats" or getattr(args, name) is None:
            setattr(args, name, value)
    torch.set_num_threads(args.threads)
    publish("tiling", measure(args), args)


if __name__ == "__main__":
    main()
