"""Stream a video through a deblurring model, frame in, frame out, nothing lost."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import torch

from rirn_layers.model import StreamingDeblurModel
from rirn_layers.video.base import FrameReader, FrameWriter
from rirn_layers.video.io import open_reader, open_writer
from rirn_layers.video.output import plan_output

__all__ = ["DeblurSummary", "deblur"]


@dataclasses.dataclass(frozen=True)
class DeblurSummary:
    """What :func:`deblur` did: frames written, their size, the time it took, where."""

    frames: int
    size: tuple[int, int]
    seconds: float
    output: Path

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")

    def __str__(self) -> str:
        height, width = self.size
        return (f"deblurred {self.frames} frames of {width}x{height} in {self.seconds:.1f} s "
                f"({self.frames_per_second:.2f} frames/s) -> {self.output}")


def _stepper(model: StreamingDeblurModel, tile: int | None, overlap: int) -> Any:
    if tile is None:
        return model
    from rirn_layers.video.tiling import TiledStream

    return TiledStream(model, tile=tile, overlap=overlap)


def _stream(
    stepper: Any, reader: FrameReader, writer: FrameWriter, device: torch.device, bar: Any
) -> tuple[int, int]:
    state: Any = None
    size = (0, 0)

    def emit(out: torch.Tensor) -> None:
        writer.write(out[0].float().cpu())
        if bar is not None:
            bar.update(1)

    for frame in reader:
        size = (int(frame.shape[-2]), int(frame.shape[-1]))
        out, state = stepper.step(frame.unsqueeze(0).to(device), state)
        if out is not None:
            emit(out)
    if state is None:
        raise ValueError(f"input {reader.path} holds no frames")
    rest, _ = stepper.flush(state)
    for out in rest:
        emit(out)
    return size


@torch.inference_mode()
def deblur(
    model: StreamingDeblurModel,
    source: str | os.PathLike,
    target: str | os.PathLike,
    *,
    device: torch.device | str = "cpu",
    fast: bool = False,
    overwrite: bool = False,
    codec: str | None = None,
    crf: int | None = None,
    lossless: bool = False,
    tile: int | None = None,
    overlap: int = 32,
    progress: bool = True,
) -> DeblurSummary:
    """Deblur every frame of ``source`` into ``target``; nothing of the user's is lost.

    Args:
        model: any :class:`~rirn_layers.StreamingDeblurModel` (a zoo model, your own
            ``RecurrentDeblurNet``, one from ``model_from_checkpoint``).
        source: a video file or a folder of frames.
        target: a video file (its suffix picks the container) for a video, a folder for a
            folder of frames. An existing output is refused unless ``overwrite=True``, and
            even then only a file or a previous output folder of ours is replaced
            (:mod:`rirn_layers.video.output`).
        device: where the model runs.
        fast: the device's fast path (:meth:`~rirn_layers.StreamingDeblurModel.set_fast_path`:
            reduced precision only where it is faster).
        overwrite: replace an existing output (see ``target``).
        codec: video encoder to use instead of the container's default (e.g. ``"libx265"``).
        crf: the encoder's constant rate factor instead of its default.
        lossless: encode losslessly (research use; large files).
        tile: process frames in tiles of this size (and ``overlap`` pixels of overlap),
            each with its own recurrent state, for frames too large for the device's memory
            (:mod:`rirn_layers.video.tiling`).
        overlap: overlap of neighbouring tiles in pixels.
        progress: show a progress bar (with the frame count and ETA when known).

    The model runs one frame at a time with its state carried through the whole video
    (``ends="pad"``: every frame gets an output, look-ahead models included), so memory does
    not grow with the length. Frames keep their size, rate, timestamps, colour tags and bit
    depth; audio and subtitles are copied (:mod:`rirn_layers.video.io`). Output goes to a
    temporary sibling of ``target`` that is moved into place only when every frame
    succeeded; on any failure, Ctrl-C included, it is removed and ``target`` is untouched.

    Returns:
        A :class:`DeblurSummary` (frames, size, seconds, output; ``str()`` is a one-line
        summary).
    """
    device = torch.device(device)
    plan = plan_output(target, source=source, overwrite=overwrite)
    start = time.perf_counter()
    try:
        reader = open_reader(source)
        model = model.to(device).eval()
        if fast:
            model.set_fast_path()
        writer = open_writer(plan.temp, like=reader, codec=codec, crf=crf, lossless=lossless)
        bar = _bar(len(reader), progress)
        try:
            size = _stream(_stepper(model, tile, overlap), reader, writer, device, bar)
            writer.close()
        except BaseException:
            writer.abort()
            raise
        finally:
            if bar is not None:
                bar.close()
        plan.commit(list(reader.names))
    except BaseException:
        plan.abort()
        raise
    return DeblurSummary(writer.count, size, time.perf_counter() - start, plan.target)


def _bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total or None, unit="frame", dynamic_ncols=True)
