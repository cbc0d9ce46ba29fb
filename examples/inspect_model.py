"""Look inside trained models: RIRN's figs. 3, 4, 6 and 7-9 for one clip, as PNG files.

    python examples/inspect_model.py --checkpoint runs/gru_rirn/best.pt --input synthetic
    python examples/inspect_model.py --checkpoint runs/gru_rirn/best.pt --input blurry/ \\
        --sharp sharp/ --baseline runs/gru/best.pt --dtb runs/gru_irm_dtb/best.pt --out inspect/

``--input`` is a folder of frames, a video file (``pip install '.[video]'``) or
``synthetic`` (a validation clip of the built-in synthetic set, sharp frames included).
``--checkpoint`` is the model under study (e.g. GRU + IRM + ATB); ``--baseline`` (the bare
model) and ``--dtb`` (the same model with DTB in ATB's place) are optional. Writes into
``--out`` whatever the checkpoints and data allow:

    weight_sums.png   fig. 4: histogram of w_prev + w_cur of every blend layer (ATB vs DTB)
    state_maps.png    fig. 3: h_{t-1}, IRM's h~_{t-1}, error of L_{t-1}, L_t (IRM + sharp)
    blend_maps.png    fig. 6: f_t, DTB's f~_t, ATB's f~_t at --frame (ATB model + --dtb)
    comparison.png    figs. 7-9: blur | baseline | models | sharp at --frame, PSNR on each
    summary.json      the numbers behind them (weight-sum statistics, PSNR per model)

With ``--input synthetic --clips N`` the PSNR and the weight-sum histogram cover N validation
clips; the maps and the grid show one of them (``--show``).

Needs the ``inspect`` extra (matplotlib), and ``train`` for ``--input synthetic``.
"""

from __future__ import annotations

import argparse
import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from rirn_layers import AdaptiveTemporalBlend, DynamicTemporalBlend, InnerRecurrence
from rirn_layers.inspect import (
    Recording,
    blend_maps,
    comparison_grid,
    record,
    state_maps,
    weight_sum_histogram,
    weight_sums,
)
from rirn_layers.train import model_from_checkpoint
from rirn_layers.train.builders import model_name
from rirn_layers.train.metrics import psnr

KINDS = ("hidden", "memory", "previous", "feature", "blended", "weights")


class Run:
    """One model run over a clip: its outputs and what its RIRN layers recorded."""

    def __init__(self, label: str, checkpoint: str, output: torch.Tensor,
                 recording: Recording, offset: int, layers: dict[str, str]) -> None:
        self.label = label
        self.checkpoint = checkpoint
        self.output = output  # (T, 3, H, W) on the CPU, clamped to [0, 1]
        self.recording = recording
        self.offset = offset  # entries recorded before frame 0 (look-ahead edge padding)
        self.layers = layers  # "irm" / "atb" / "dtb" -> qualified module name

    def entries(self, role: str, kind: str, frames: int) -> torch.Tensor:
        """``(T, C, H, W)``: the ``kind`` tensors of layer ``role`` for the clip's frames."""
        stacked = self.recording.stack(self.layers[role], kind)
        assert isinstance(stacked, torch.Tensor)
        return stacked[0, self.offset : self.offset + frames]


def model_label(config: dict[str, Any], found: dict[str, str]) -> str:
    """``"GRU + IRM + ATB"`` for a zoo model, ``"build + IRM + ATB"`` for a builder ``build``.

    A zoo model's layers are read from its config; a builder's from its keyword arguments,
    and where those leave one out (the builder's default), from the layers ``found`` in it.
    """
    parts = [model_name(config)]
    if "builder" in config:
        kwargs = config.get("kwargs", {})
        parts += [k.upper() for k in ("irm", "atb", "dtb") if kwargs.get(k, k in found)]
    else:
        parts += [k.upper() for k in ("irm", "atb", "dtb") if config.get(k)]
    return " + ".join(parts)


def load_clips(args: argparse.Namespace) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """``[(blur, sharp), ...]``, each ``(T, 3, H, W)`` in ``[0, 1]``; ``sharp`` may be ``None``."""
    if args.input == "synthetic":
        from rirn_layers.data import build_dataset

        dataset = build_dataset("synthetic", split="val", clip_length=args.length,
                                crop=args.crop, speed=tuple(args.speed))
        if args.index + args.clips > len(dataset):
            raise SystemExit(f"inspect_model: the synthetic validation set has {len(dataset)} "
                             f"clips, asked for {args.clips} from index {args.index}")
        items = [dataset[args.index + i] for i in range(args.clips)]
        return [(item["blur"], item["sharp"]) for item in items]
    if args.clips != 1:
        raise SystemExit("inspect_model: --clips > 1 needs --input synthetic")
    from rirn_layers.video import open_reader

    def frames(path: str) -> torch.Tensor:
        reader = iter(open_reader(path))
        clip = [frame for _, frame in zip(range(args.length), reader, strict=False)]
        if not clip:
            raise SystemExit(f"inspect_model: {path} holds no frames")
        return torch.stack(clip)

    blur = frames(args.input)
    sharp = frames(args.sharp) if args.sharp else None
    if sharp is not None and sharp.shape != blur.shape:
        raise SystemExit(f"inspect_model: --sharp frames {tuple(sharp.shape)} do not match "
                         f"--input frames {tuple(blur.shape)}")
    if args.crop is not None:
        top = max((blur.shape[-2] - args.crop) // 2, 0)
        left = max((blur.shape[-1] - args.crop) // 2, 0)
        window = (..., slice(top, top + args.crop), slice(left, left + args.crop))
        blur = blur[window]
        sharp = sharp[window] if sharp is not None else None
    return [(blur, sharp)]


@torch.inference_mode()
def run_model(
    path: str, clips: list[torch.Tensor], device: torch.device, *, layers_needed: bool = False
) -> list[Run]:
    """Load the checkpoint at ``path`` once and run it over each clip, recording."""
    model, checkpoint = model_from_checkpoint(path, map_location="cpu")
    model = model.to(device).eval()
    layers: dict[str, str] = {}
    for name, module in model.named_modules():
        for role, kind in (("irm", InnerRecurrence), ("atb", AdaptiveTemporalBlend),
                           ("dtb", DynamicTemporalBlend)):
            if isinstance(module, kind):
                layers.setdefault(role, name)
    if layers_needed and not layers:
        raise SystemExit(f"inspect_model: {path} has no IRM, ATB or DTB to inspect")
    runs = []
    for blur in clips:
        with record(model, KINDS, device="cpu") if layers else nullcontext(
            Recording(KINDS)
        ) as recording:
            output, _ = model(blur.unsqueeze(0).to(device))
        runs.append(Run(model_label(checkpoint["config"], layers), path,
                        output[0].float().cpu().clamp(0, 1), recording,
                        int(getattr(model, "past", 0)), layers))
    return runs


def blend_statistics(sums: torch.Tensor) -> dict[str, float]:
    s = sums.double()
    quantiles = torch.quantile(s[torch.randperm(s.numel())[:1_000_000]],
                               torch.tensor([0.05, 0.5, 0.95], dtype=torch.float64))
    return {"mean": float(s.mean()), "p05": float(quantiles[0]), "median": float(quantiles[1]),
            "p95": float(quantiles[2]), "fraction_below_1": float((s < 1 - 1e-6).double().mean())}


def inspect(args: argparse.Namespace) -> dict[str, Any]:
    torch.manual_seed(0)  # the quantile subsample of very large clips
    device = torch.device(args.device if args.device != "auto" else
                          ("cuda" if torch.cuda.is_available() else "cpu"))
    clips = load_clips(args)
    if not 0 <= args.show < len(clips):
        raise SystemExit(f"inspect_model: --show must be in [0, {len(clips)}), got {args.show}")
    blur, sharp = clips[args.show]  # the clip of the maps and the grid
    frames = blur.shape[0]
    t = frames // 2 if args.frame is None else args.frame
    if not 0 <= t < frames:
        raise SystemExit(f"inspect_model: --frame must be in [0, {frames}), got {t}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    blurs = [b for b, _ in clips]
    paths = {"baseline": args.baseline, "dtb": args.dtb, "main": args.checkpoint}
    runs_of = {key: run_model(path, blurs, device, layers_needed=key == "main")
               for key, path in paths.items() if path}
    main, dtb = runs_of["main"][args.show], runs_of.get("dtb", [None] * len(clips))[args.show]
    shown = [runs[args.show] for runs in runs_of.values()]
    summary: dict[str, Any] = {"input": args.input, "clips": len(clips), "frames": frames,
                               "shown": args.index + args.show, "frame": t,
                               "size": list(blur.shape[-2:]), "models": {}, "figures": []}
    scored = all(s is not None for _, s in clips)
    if scored:
        summary["blur_psnr"] = float(torch.cat([psnr(b, s) for b, s in clips]).mean())
    sums = {}
    for runs in runs_of.values():
        first = runs[0]
        entry: dict[str, Any] = {"checkpoint": first.checkpoint}
        if scored:
            entry["psnr"] = float(torch.cat(
                [psnr(run.output, s) for run, (_, s) in zip(runs, clips, strict=True)]).mean())
        # fig. 4: w_prev + w_cur of every blend layer, over all clips
        for role in ("atb", "dtb"):
            if role in first.layers:
                values = torch.cat([weight_sums(r.recording, first.layers[role]) for r in runs])
                sums[f"{role.upper()} ({first.label})"] = values
                entry[role] = blend_statistics(values)
        summary["models"][first.label] = entry
    if sums:
        weight_sum_histogram(sums, out / "weight_sums.png")
        summary["figures"].append("weight_sums.png")

    # fig. 3: h_{t-1}, h~_{t-1} (= IRM's second input at t), error of L_{t-1}, L_t
    if "irm" in main.layers and sharp is not None and frames >= 2:
        hidden = main.entries("irm", "hidden", frames)[:-1]
        memory = main.entries("irm", "previous", frames)[1:]
        error = (main.output[:-1] - sharp[:-1]).abs()
        state_maps(hidden, memory, error, main.output[1:], out / "state_maps.png", start=1)
        summary["figures"].append("state_maps.png")

    # fig. 6: f_t and f~_t under DTB and under ATB at frame t
    if "atb" in main.layers and dtb is not None and "dtb" in dtb.layers:
        blend_maps(main.entries("atb", "feature", frames)[t],
                   dtb.entries("dtb", "blended", frames)[t],
                   main.entries("atb", "blended", frames)[t], out / "blend_maps.png")
        summary["figures"].append("blend_maps.png")

    # figs. 7-9: blur | baseline | models | sharp with PSNR
    if sharp is not None:
        tiles = {"blur": blur[t], **{run.label: run.output[t] for run in shown},
                 "sharp": sharp[t]}
        comparison_grid(tiles, sharp[t], out / "comparison.png")
        summary["figures"].append("comparison.png")

    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def report(summary: dict[str, Any]) -> str:
    lines = [f"{summary['clips']} clip(s) of {summary['frames']} frames of {summary['input']}, "
             f"{summary['size'][0]}x{summary['size'][1]}"]
    if "blur_psnr" in summary:
        lines.append(f"  blurry input: PSNR {summary['blur_psnr']:.2f} dB")
    for label, entry in summary["models"].items():
        text = f"  {label}:"
        if "psnr" in entry:
            text += f" PSNR {entry['psnr']:.2f} dB"
        for role in ("atb", "dtb"):
            if role in entry:
                s = entry[role]
                text += (f"; {role.upper()} w_prev + w_cur mean {s['mean']:.3f}, median "
                         f"{s['median']:.3f}, {100 * s['fraction_below_1']:.1f}% below 1")
        lines.append(text)
    lines.append("  wrote " + ", ".join(summary["figures"]) + ", summary.json")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, help="the model under study")
    p.add_argument("--input", required=True,
                   help="frame folder, video file, or 'synthetic' (built-in validation clip)")
    p.add_argument("--sharp", default=None, help="sharp frames/video of --input")
    p.add_argument("--baseline", default=None, help="checkpoint of the bare model")
    p.add_argument("--dtb", default=None, help="checkpoint of the model with DTB instead of ATB")
    p.add_argument("--out", "--output", dest="out", default="inspect")
    p.add_argument("--length", type=int, default=6, help="frames of the clip")
    p.add_argument("--frame", type=int, default=None, help="frame of figs. 6-9 (default middle)")
    p.add_argument("--crop", type=int, default=None, help="central square crop")
    p.add_argument("--index", type=int, default=0, help="synthetic: first validation clip")
    p.add_argument("--clips", type=int, default=1,
                   help="synthetic: PSNR and weight sums over this many clips")
    p.add_argument("--show", type=int, default=0,
                   help="which of the --clips clips the maps and the grid show (0: the first)")
    p.add_argument("--speed", type=float, nargs=2, default=(6.0, 18.0),
                   help="synthetic: camera speed range in px/frame (the demo preset's)")
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    for name in ("length", "clips"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    summary = inspect(parse_args(argv))
    print(report(summary), flush=True)
    return summary


if __name__ == "__main__":
    main()
