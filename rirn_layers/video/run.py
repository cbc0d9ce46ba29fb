"""Stream a video through a deblurring model, frame in, frame out."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import torch

from rirn_layers.model import StreamingDeblurModel
from rirn_layers.video.io import open_reader, open_writer

__all__ = ["deblur"]


@torch.inference_mode()
def deblur(
    model: StreamingDeblurModel,
    source: str | Path,
    target: str | Path,
    *,
    device: torch.device | str = "cpu",
    half: bool = False,
    progress: bool = True,
) -> int:
    """Deblur every frame of ``source`` into ``target``; returns the number of frames.

    ``source`` is a video file or a folder of images; ``target`` mirrors it (a video file,
    or a folder with the same file names). The model runs on ``device`` one frame at a time
    with its state carried through the whole video (``ends="pad"``: every frame gets an
    output, look-ahead models included), so memory stays constant whatever the length.
    ``half=True`` runs under fp16 autocast on CUDA. Nothing is written at ``target`` unless
    the whole video succeeds.
    """
    device = torch.device(device)
    model = model.to(device).eval()
    reader = open_reader(source)
    writer = open_writer(target, like=reader)
    names: deque[str] = deque(reader.names)
    bar = _bar(len(reader), progress)
    autocast = torch.autocast("cuda", dtype=torch.float16, enabled=half and device.type == "cuda")

    def emit(frame: torch.Tensor) -> None:
        writer.write(frame.float(), names.popleft() if names else None)
        if bar is not None:
            bar.update(1)

    try:
        state: Any = None
        for frame in reader:
            with autocast:
                out, state = model.step(frame.unsqueeze(0).to(device), state)
            if out is not None:
                emit(out[0])
        if state is None:
            raise ValueError(f"input {source} holds no frames")
        with autocast:
            rest, _ = model.flush(state)
        for out in rest:
            emit(out[0])
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        if bar is not None:
            bar.close()
    return writer.count


def _bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total or None, unit="frame", dynamic_ncols=True)
