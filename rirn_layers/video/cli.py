"""``rirn-deblur``: deblur a video file or a folder of frames with a trained checkpoint.

    rirn-deblur clip.mp4 out.mp4 --checkpoint best.pt
    rirn-deblur --input frames/ --output deblurred/ --checkpoint best.pt --fast

Installed by ``pip install 'rirn-layers[video]'``; ``examples/deblur_video.py`` is the same
command. Mistakes get one line on stderr and exit status 2 (``--debug`` shows the
traceback); Ctrl-C or SIGTERM stop it with nothing written (status 130/143).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

import torch

__all__ = ["main", "parser"]

PROG = "rirn-deblur"


class Interrupted(KeyboardInterrupt):
    """SIGTERM/SIGHUP, raised where the run is so it cleans up as on Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Defaults(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in ``--help``, unless its help says it in words."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, description=(__doc__ or "").splitlines()[0], formatter_class=_Defaults
    )
    io = p.add_argument_group("input and output")
    io.add_argument("input_path", nargs="?", metavar="INPUT", default=None,
                    help="video file or folder of frames (or --input; no default)")
    io.add_argument("output_path", nargs="?", metavar="OUTPUT", default=None,
                    help="video file (its suffix picks the container) or folder (or --output; "
                         "no default)")
    io.add_argument("--input", default=None, help="video file or folder of frames")
    io.add_argument("--output", default=None, help="video file or folder; mirrors the input")
    io.add_argument("--overwrite", action="store_true",
                    help="replace an existing output (a file, or an output folder of ours)")
    model = p.add_argument_group("model")
    model.add_argument("--checkpoint", required=True,
                       help="a last.pt/best.pt of training, zoo and builder models alike "
                            "(required, no default)")
    model.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1")
    speed = p.add_argument_group("speed and memory")
    speed.add_argument("--fast", action="store_true",
                       help="the device's fast path: channels_last, reduced precision only "
                            "where this device runs it faster")
    speed.add_argument("--tile", type=int, default=None,
                       help="process frames in tiles of this size (pixels) for large frames")
    speed.add_argument("--overlap", type=int, default=32, help="overlap of tiles (pixels)")
    encode = p.add_argument_group("encoding (video output)")
    encode.add_argument("--codec", default=None,
                        help="encoder instead of the container's default, e.g. libx265")
    encode.add_argument("--crf", type=int, default=None, help="the encoder's quality (CRF)")
    encode.add_argument("--lossless", action="store_true", help="lossless encoding (large)")
    show = p.add_argument_group("display")
    show.add_argument("--no-progress", dest="progress", action="store_false",
                      help="hide the progress bar (shown by default, with the ETA when the "
                           "frame count is known)")
    show.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return p


def _paths(p: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[str, str]:
    paths = []
    for name in ("input", "output"):
        positional, option = getattr(args, f"{name}_path"), getattr(args, name)
        if positional is not None and option is not None:
            p.error(f"give the {name} once: as {name.upper()} or as --{name}")
        if positional is None and option is None:
            p.error(f"the {name} is missing: give {name.upper()} or --{name}")
        paths.append(positional if positional is not None else option)
    return paths[0], paths[1]


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


def run(args: argparse.Namespace, source: str, target: str) -> str:
    from rirn_layers.train import model_from_checkpoint
    from rirn_layers.video import deblur

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model, _ = model_from_checkpoint(args.checkpoint)
    summary = deblur(model, source, target, device=device, fast=args.fast,
                     overwrite=args.overwrite, codec=args.codec, crf=args.crf,
                     lossless=args.lossless, tile=args.tile, overlap=args.overlap,
                     progress=args.progress)
    return str(summary)


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """Run the command; returns the exit status (0 done, 2 a mistake, 130/143 stopped)."""
    p = parser(prog)
    args = p.parse_args(argv)
    source, target = _paths(p, args)
    previous: dict[int, Any] = {}
    for signum in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if signum is not None:
            previous[signum] = signal.signal(signum, _on_signal)
    try:
        print(run(args, source, target), flush=True)
        return 0
    except KeyboardInterrupt as stop:
        print(f"{prog}: stopped ({stop.args[0] if stop.args else 'SIGINT'}); nothing was "
              f"written to {target}", file=sys.stderr)
        return 128 + getattr(stop, "signum", int(signal.SIGINT))
    except (ValueError, TypeError, OSError, ImportError) as err:
        if args.debug:
            raise
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def entry_point() -> None:
    """The console script: ``sys.exit(main())``."""
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
