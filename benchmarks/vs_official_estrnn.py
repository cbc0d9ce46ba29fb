"""Our ESTRNN against the official ESTRNN code, side by side: outputs, speed and memory.

    python benchmarks/vs_official_estrnn.py --official /tmp/estrnn-official \\
        [--size H W] [--frames 12] [--repeats 5] [--compile] [--profile] [--threads N]
        [--memory-frames 8 16 32] [--out docs/perf]

The official code (Zhong et al., ECCV 2020, https://github.com/zzh-tech/ESTRNN) is NOT part
of this repository and nothing of it is copied here: the script imports its
``model/ESTRNN.py`` from the checkout that ``--official`` names. Get it with

    git clone https://github.com/zzh-tech/ESTRNN /tmp/estrnn-official

Its module-level ``from thop import profile`` (used only for its MAC count) is satisfied
with a stub when thop is not installed, and its hard-coded ``cuda`` device for the initial
hidden state is set to ``--device``; nothing else of it is touched.

What it does:

1. Builds the official model B9C80 (``n_features=16, n_blocks=9, past_frames=2,
   future_frames=2``, GELU, the code's defaults) and ours, ``build_model("estrnn")``, both
   fp32 in eval mode, and copies the official weights into ours, module by module (cell,
   GSA, reconstructor), where the parameters line up one to one in order and shape. Ours
   keeps its default I/O (``value_range=(0, 1)``, RGB), which hands the frames to the
   network unchanged, so both get the same tensor (a random clip in ``[-0.5, 0.5]``, the
   official convention) and must agree to float rounding; the max abs difference is
   reported. (``set_io(value_range=(-0.5, 0.5), channel_order="bgr")`` is how ours takes
   frames in the official convention with weights trained by ours; the network itself
   works on RGB in ``[0, 1]``, so with the official weights it would shift and flip their
   input.)
2. Times, on the same clip ``(1, T, 3, H, W)``, under ``torch.inference_mode``, in
   interleaved rounds after warm-up (``_common.interleaved``: median of the rounds): the
   official forward on the whole clip (NCHW); ours, ``model(clip, ends="drop")`` (the same
   ``T - 4`` outputs), with NCHW weights and clip (the official code's layout), as
   ``build_model`` returns it (channels_last weights, its default) fed the NCHW clip, and
   with channels_last weights and a clip whose frames are channels_last; ours with its
   cell, GSA and reconstructor under ``torch.compile`` (``--compile`` only). Reported:
   milliseconds per output frame (the median / (T - 4)) and the speed ratio
   official / variant (> 1: the variant is faster).
3. Peak memory growth with ``T`` (``--memory-frames``, default 8 16 32): one fresh
   subprocess per (implementation, T) builds the model, warms it up on a 5-frame clip,
   allocates the clip and reports the peak resident set size during the forward minus the
   resident set size just before it (CPU: ``VmHWM`` after resetting it through
   ``/proc/self/clear_refs``, else ``resource.getrusage``; glibc's mmap threshold is pinned
   so that freed tensors leave the RSS; CUDA: ``torch.cuda.max_memory_allocated``). The
   official forward keeps every frame's features until the end of the clip, ours keeps
   ``past + 1 + future`` of them; both return a ``(1, T - 4, 3, H, W)`` tensor, which is
   part of the growth (its size is listed).
4. ``--profile``: ``torch.profiler`` over 3 steady-state ``step`` calls of each of our
   three layouts: the top 10 ops by self time, by name and by name and input shapes.

Prints the tables and writes ``docs/perf/vs_official_estrnn.md`` and ``.png``
(``_common.publish``). Times describe the machine they come from; on a shared CPU, compare
the ratios.
"""

from __future__ import annotations

import argparse
import copy
import gc
import importlib
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rirn_layers.baselines import build_model
from rirn_layers.baselines.estrnn import ESTRNN

from _common import interleaved, parser, publish, table

NAME = "vs_official_estrnn"
PACKAGE = "_official_estrnn"  # the name the official model/ folder is imported under
CLONE = "git clone https://github.com/zzh-tech/ESTRNN /tmp/estrnn-official"
PARAMS = 1_763_387  # B9C80, both implementations
WINDOW = 5  # past + 1 + future
MiB = 2.0**20


# -- the official model --------------------------------------------------------------------
def _fail(message: str) -> SystemExit:
    return SystemExit(
        f"{NAME}: {message}\nThe official ESTRNN code is not part of this repository; get it "
        f"with\n    {CLONE}\nand pass --official /tmp/estrnn-official."
    )


def load_official(root: Path | None) -> types.ModuleType:
    """Import ``model/ESTRNN.py`` of the official checkout ``root`` (as a private package)."""
    if root is None:
        raise _fail("--official is required: the path of a checkout of zzh-tech/ESTRNN.")
    root = root.expanduser().resolve()
    source = root / "model" / "ESTRNN.py"
    if not source.is_file():
        raise _fail(f"--official {root}: no model/ESTRNN.py there, so it is not a checkout "
                    "of zzh-tech/ESTRNN.")
    if importlib.util.find_spec("thop") is None:  # imported at the top of ESTRNN.py, unused here
        stub = types.ModuleType("thop")

        def profile(*args: object, **kwargs: object) -> None:
            raise RuntimeError("thop is not installed (a stub from vs_official_estrnn.py)")

        stub.profile = profile  # type: ignore[attr-defined]
        sys.modules["thop"] = stub
    package = types.ModuleType(PACKAGE)
    package.__path__ = [str(root / "model")]
    sys.modules[PACKAGE] = package
    try:
        module = importlib.import_module(f"{PACKAGE}.ESTRNN")
    except Exception as error:
        raise _fail(f"--official {root}: importing model/ESTRNN.py failed: {error!r}") from error
    if not isinstance(getattr(module, "Model", None), type):
        raise _fail(f"--official {root}: model/ESTRNN.py defines no class Model.")
    return module


def build_official(module: types.ModuleType, device: str) -> nn.Module:
    """The official ESTRNN B9C80 (GELU, 2 past and 2 future frames), fp32, eval mode."""
    para = argparse.Namespace(n_features=16, n_blocks=9, past_frames=2, future_frames=2,
                              activation="gelu")
    try:
        model: nn.Module = module.Model(para)
    except Exception as error:
        raise _fail(f"the official Model(para) failed: {error!r}") from error
    model.device = torch.device(device)  # hard-coded to cuda for its initial hidden state
    return model.to(device).eval()


def build_ours(device: str) -> ESTRNN:
    model = build_model("estrnn")
    assert isinstance(model, ESTRNN)
    return model.to(device).eval()


def copy_weights(official: nn.Module, ours: ESTRNN) -> int:
    """Copy the official weights into ours module by module; returns the numbers copied."""
    pairs = [("cell", ours.wrapped.cell), ("fusion", ours.gsa), ("recons", ours.reconstructor)]
    copied = 0
    with torch.no_grad():
        for name, mine in pairs:
            theirs = list(getattr(official, name).named_parameters())
            own = list(mine.named_parameters())
            if len(theirs) != len(own):
                raise _fail(f"official {name} has {len(theirs)} parameter tensors, ours "
                            f"{len(own)}: not the model this script knows.")
            for (their_name, a), (own_name, b) in zip(theirs, own, strict=True):
                if a.shape != b.shape:
                    raise _fail(f"official {name}.{their_name} {tuple(a.shape)} does not line "
                                f"up with our {own_name} {tuple(b.shape)}.")
                b.copy_(a)
                copied += a.numel()
    total = sum(p.numel() for p in official.parameters())
    if copied != total or total != sum(p.numel() for p in ours.parameters()):
        raise _fail(f"copied {copied:,} of the official {total:,} parameters.")
    return copied


# -- helpers ---------------------------------------------------------------------------------
def is_channels_last(model: nn.Module) -> bool:
    """Whether the first 4-d weight of ``model`` is stored channels_last (and not NCHW)."""
    for p in model.parameters():
        if p.dim() == 4 and p.shape[1] > 1 and p.shape[2] * p.shape[3] > 1:
            return p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
    return False


def channels_last_clip(clip: torch.Tensor) -> torch.Tensor:
    """``clip`` (B, T, C, H, W) stored so that every frame ``clip[:, t]`` is channels_last."""
    return clip.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)


def random_clip(frames: int, size: Sequence[int], device: str, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    clip = torch.rand(1, frames, 3, size[0], size[1], generator=generator) - 0.5
    return clip.to(device)


def run_ours(model: ESTRNN, clip: torch.Tensor) -> torch.Tensor:
    return model(clip, ends="drop")[0]


def inference(fn: Callable[[], object]) -> Callable[[], object]:
    def call() -> object:
        with torch.inference_mode():
            return fn()
    return call


def compiled_copy(model: ESTRNN) -> ESTRNN:
    """A copy of ``model`` with its cell, GSA and reconstructor under ``torch.compile``."""
    twin = copy.deepcopy(model)
    for part in (twin.wrapped.cell, twin.gsa, twin.reconstructor):
        part.compile()
    return twin


def load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "n/a"


# -- memory: one subprocess per (implementation, T) ------------------------------------------
def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux >= 4.0: VmHWM = VmRSS
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def memory_child(args: argparse.Namespace) -> None:
    """Print the peak memory growth of one forward (JSON); runs in a fresh process."""
    impl, frames = args.child_impl, args.child_frames
    if impl == "official":
        official = build_official(load_official(args.official), args.device)

        def run(clip: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = official(clip)
            return out
    else:
        ours = build_ours(args.device)

        def run(clip: torch.Tensor) -> torch.Tensor:
            return run_ours(ours, clip)
    cuda = args.device.startswith("cuda")
    with torch.inference_mode():
        run(random_clip(WINDOW, args.size, args.device, seed=1))  # warm-up
        gc.collect()
        clip = random_clip(frames, args.size, args.device)
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
        else:
            exact = _reset_peak_rss()
            before = 1024 * (_status_kib("VmRSS") or 0)
        out = run(clip)
        if cuda:
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated()
            method = "torch.cuda.max_memory_allocated"
        elif exact:
            peak = 1024 * (_status_kib("VmHWM") or 0)
            method = "VmHWM"
        else:
            peak = 1024 * resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            method = "ru_maxrss"
    print(json.dumps({"growth": peak - before, "before": before, "method": method,
                      "output": out.numel() * out.element_size()}))


def measure_memory(args: argparse.Namespace, impl: str, frames: int) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--official", str(args.official),
               "--size", *map(str, args.size), "--device", args.device,
               "--threads", str(torch.get_num_threads()),
               "--child-impl", impl, "--child-frames", str(frames)]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="65536")
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise SystemExit(f"{NAME}: the memory run ({impl}, T={frames}) failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- profiler --------------------------------------------------------------------------------
def profile_steps(
    model: ESTRNN, frames: list[torch.Tensor], device: str, steps: int = 3
) -> tuple[list[list[object]], list[list[object]], float]:
    """Top-10 ops by self time over ``steps`` steady-state steps: by name, by name and shapes."""
    from torch.profiler import ProfilerActivity, profile

    cuda = device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    with torch.inference_mode():
        state = None
        for frame in frames[:-steps]:
            _, state = model.step(frame, state, ends="drop")
        with profile(activities=activities, record_shapes=True) as prof:
            for frame in frames[-steps:]:
                _, state = model.step(frame, state, ends="drop")
            if cuda:
                torch.cuda.synchronize()
    by_name = prof.key_averages()
    total = sum(getattr(e, key) for e in by_name) / 1e3 / steps  # ms per step

    def rows(events: Any, shapes: bool) -> list[list[object]]:
        top = sorted(events, key=lambda e: getattr(e, key), reverse=True)[:10]
        out: list[list[object]] = []
        for e in top:
            ms = getattr(e, key) / 1e3 / steps
            row: list[object] = [f"`{e.key}`"]
            if shapes:
                row.append(f"`{e.input_shapes}`".replace("|", "/"))
            row += [f"{ms:.2f}", f"{100 * ms / total:.1f}%", f"{e.count / steps:g}"]
            out.append(row)
        return out

    return rows(by_name, False), rows(prof.key_averages(group_by_input_shape=True), True), total


# -- main ------------------------------------------------------------------------------------
def arguments() -> argparse.Namespace:
    p = parser(__doc__.splitlines()[0])
    p.set_defaults(repeats=5)
    p.add_argument("--official", type=Path, default=None,
                   help="checkout of https://github.com/zzh-tech/ESTRNN (not part of this repo)")
    p.add_argument("--size", type=int, nargs=2, default=[256, 256], metavar=("H", "W"),
                   help="frame height and width (default 256 256)")
    p.add_argument("--frames", type=int, default=12,
                   help="frames T of the timed clip (default 12; T - 4 outputs)")
    p.add_argument("--compile", action="store_true",
                   help="also time ours with its cell, GSA and reconstructor under torch.compile")
    p.add_argument("--memory-frames", type=int, nargs="*", default=[8, 16, 32], metavar="T",
                   help="clip lengths of the memory runs (default 8 16 32; none: skip)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads (default: torch's default, OMP_NUM_THREADS)")
    p.add_argument("--profile", action="store_true",
                   help="profile 3 steady-state steps of ours (default and channels_last)")
    p.add_argument("--child-impl", choices=["official", "ours"], help=argparse.SUPPRESS)
    p.add_argument("--child-frames", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.threads is not None:
        if args.threads < 1:
            p.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    if args.frames < WINDOW or min(args.size) < 4 or any(s % 4 for s in args.size):
        p.error(f"needs --frames >= {WINDOW} and --size H W multiples of 4 (x4 downsampling)")
    if args.quick:
        args.repeats = min(args.repeats, 3)
        args.memory_frames = [t for t in args.memory_frames if t <= 16]
    return args


def main() -> None:
    args = arguments()
    if args.child_impl is not None:
        memory_child(args)
        return
    official_module = load_official(args.official)
    device = args.device
    load_start = load_average()
    official = build_official(official_module, device)
    ours = build_ours(device)
    copied = copy_weights(official, ours)
    if copied != PARAMS:
        print(f"note: {copied:,} parameters, not the {PARAMS:,} of B9C80")
    frames, (height, width) = args.frames, args.size
    outputs = frames - 2 * 2
    clip = random_clip(frames, args.size, device)
    clip_cl = channels_last_clip(clip)
    # build_model's default layout (channels_last weights since it became the default);
    # "NCHW" forces contiguous weights, the layout of the official code.
    default_format = "channels_last" if is_channels_last(ours) else "NCHW"
    ours_nchw = copy.deepcopy(ours).to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
    ours_cl = copy.deepcopy(ours).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    variants: dict[str, tuple[ESTRNN, torch.Tensor]] = {
        "ours, NCHW weights and clip": (ours_nchw, clip),
        f"ours, default ({default_format} weights), NCHW clip": (ours, clip),
        "ours, channels_last weights and clip": (ours_cl, clip_cl),
    }
    with torch.inference_mode():
        reference = official(clip)
        diffs = {name: (run_ours(model, x) - reference).abs().max().item()
                 for name, (model, x) in variants.items()}
    diff = max(diffs.values())
    scale = reference.abs().max().item()
    for name, d in diffs.items():
        print(f"max |official - {name}| = {d:.3g}", flush=True)
    print(f"outputs {tuple(reference.shape)}, max |official| = {scale:.3g}", flush=True)

    official_name = "official (NCHW)"
    fns: dict[str, Callable[[], object]] = {official_name: inference(lambda: official(clip))}
    for name, (model, x) in variants.items():
        fns[name] = inference(lambda model=model, x=x: run_ours(model, x))  # type: ignore[misc]
    notes = []
    if args.compile:
        ours_compiled = compiled_copy(ours)
        start = time.perf_counter()
        with torch.inference_mode():
            diff_c = (run_ours(ours_compiled, clip) - reference).abs().max().item()
        notes.append(f"torch.compile (cell, GSA and reconstructor of the default model): first "
                     f"call (compiling) {time.perf_counter() - start:.0f} s, "
                     f"max |official - compiled| = {diff_c:.2g}.")
        print(notes[-1], flush=True)
        fns["ours, default, torch.compile"] = inference(lambda: run_ours(ours_compiled, clip))
    seconds = interleaved(fns, repeats=args.repeats, warmup=2, device=device)
    base = seconds[official_name]
    speed_rows = [[name, f"{1e3 * s / outputs:.1f}", f"{base / s:.2f}x"]
                  for name, s in seconds.items()]
    speed = table(["variant", "ms / output frame", "speed vs official"], speed_rows)
    print(speed, flush=True)

    memory_rows: list[list[object]] = []
    growth: dict[str, list[float]] = {"official": [], "ours": []}
    method = ""
    for t in args.memory_frames:
        results = {impl: measure_memory(args, impl, t) for impl in growth}
        for impl, result in results.items():
            growth[impl].append(result["growth"] / MiB)
        method = results["ours"]["method"]
        memory_rows.append([t, f"{growth['official'][-1]:.0f}", f"{growth['ours'][-1]:.0f}",
                            f"{growth['ours'][-1] / growth['official'][-1]:.2f}",
                            f"{results['ours']['output'] / MiB:.0f}"])
        print(memory_rows[-1], flush=True)

    profiles = []
    if args.profile:
        stream = [random_clip(1, args.size, device, seed=10 + i)[:, 0] for i in range(10)]
        stream_cl = [f.contiguous(memory_format=torch.channels_last) for f in stream]
        for label, model, frames_in in (
            ("NCHW weights and frames", ours_nchw, stream),
            (f"default ({default_format} weights), NCHW frames", ours, stream),
            ("channels_last weights and frames", ours_cl, stream_cl),
        ):
            by_name, by_shape, total = profile_steps(model, frames_in, device)
            profiles.append((label, by_name, by_shape, total))

    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    load_end = load_average()
    if device == "cpu":
        threads_used = torch.get_num_threads()
        notes.append(
            f"{threads_used} threads; 1-minute load average {load_start} at the start and "
            f"{load_end} at the end, on {os.cpu_count()} cores (this run accounts for up to "
            f"{threads_used} of it; more means other processes shared the CPU, which inflates "
            "and scatters the times: compare the ratios)."
        )
    body = [
        f"# Our ESTRNN against the official code (zzh-tech/ESTRNN), {height}x{width}",
        "",
        f"Generated by `python benchmarks/{NAME}.py --official <checkout> --size {height} "
        f"{width} --frames {frames} --repeats {args.repeats}"
        f"{' --compile' if args.compile else ''}{' --profile' if args.profile else ''}"
        f"{f' --threads {args.threads}' if args.threads else ''}` "
        f"(OMP_NUM_THREADS {threads}). The official code is not part of this repository: "
        f"`{CLONE}`.",
        "",
        f"B9C80, 2 past + 2 future frames, GELU, fp32, eval mode, batch 1, a {frames}-frame "
        f"clip ({outputs} output frames), `torch.inference_mode`. Official weights copied "
        f"into ours ({copied:,} parameters): max |official - ours| = {diff:.2g} over the "
        f"variants below (outputs up to {scale:.2g}).",
        "",
        *notes,
        "",
        f"## Speed: median of {args.repeats} interleaved rounds after 2 warm-up rounds",
        "",
        speed,
    ]
    if memory_rows:
        slope = {impl: (g[-1] - g[0]) / (args.memory_frames[-1] - args.memory_frames[0])
                 if len(g) > 1 else float("nan") for impl, g in growth.items()}
        body += [
            "",
            f"## Peak memory growth of one forward of a T-frame clip ({method})",
            "",
            "Peak during the forward minus the memory just before it (model built and warmed "
            "up, clip allocated), one fresh process per cell; MiB. Both return the "
            "(1, T - 4, 3, H, W) output tensor, part of the growth.",
            "",
            table(["T", "official (MiB)", "ours (MiB)", "ours / official", "output (MiB)"],
                  memory_rows),
            "",
            f"From T = {args.memory_frames[0]} to T = {args.memory_frames[-1]} the peak grows by "
            f"{slope['official']:.2f} MiB per frame for the official code and "
            f"{slope['ours']:.2f} MiB for ours (the output frame itself is "
            f"{3 * height * width * 4 / MiB:.2f} MiB; the official forward also keeps every "
            f"frame's {80 * height * width // 16 * 4 / MiB:.2f} MiB feature until the end). "
            "At small T the peak is set by transient activations instead.",
        ]
    for label, by_name, by_shape, total in profiles:
        body += [
            "",
            f"## Profile of ours, {label}: top 10 ops by self time",
            "",
            f"3 steady-state `step` calls; {total:.1f} ms of self time per step.",
            "",
            table(["op", "ms / step", "share", "calls / step"], by_name),
            "",
            table(["op", "input shapes", "ms / step", "share", "calls / step"], by_shape),
        ]
    publish(NAME, "\n".join(body), args, figure=plot(seconds, outputs, args, growth))


def plot(seconds: dict[str, float], outputs: int, args: argparse.Namespace,
         growth: dict[str, list[float]]) -> object | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return None
    panels = 2 if args.memory_frames else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 3.8), squeeze=False)
    names = list(seconds)
    ms = [1e3 * seconds[n] / outputs for n in names]
    ax = axes[0][0]
    bars = ax.barh(names[::-1], ms[::-1], color=["C1" if "official" in n else "C0"
                                                   for n in names[::-1]])
    ax.bar_label(bars, fmt="%.0f")
    ax.set_xlabel("ms per output frame (lower is better)")
    ax.set_title(f"ESTRNN B9C80, {args.size[0]}x{args.size[1]}, T={args.frames}, fp32")
    if args.memory_frames:
        ax = axes[0][1]
        for impl, values in growth.items():
            ax.plot(args.memory_frames, values, "o-", label=impl,
                    color="C1" if impl == "official" else "C0")
        ax.set_xlabel("clip length T")
        ax.set_ylabel("peak memory growth (MiB)")
        ax.set_title("memory of one forward")
        ax.legend()
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
