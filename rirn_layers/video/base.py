"""What every frame reader and writer shares: the source's description and the interfaces.

A reader yields ``(3, H, W)`` float32 RGB frames; a writer takes them back. Both sides
describe the source with a :class:`MediaInfo`, which is all a writer needs to write frames
the way the source stored them (size, rate, timestamps, colour tags, bit depth, streams).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import torch

__all__ = ["ColourTags", "FrameReader", "FrameWriter", "MediaInfo", "check_frame"]


@dataclasses.dataclass(frozen=True)
class ColourTags:
    """A video's colour tags as FFmpeg codes (``AVCOL_*``), as read; 2 (0 for range) = untagged.

    ``names()`` gives them as ffprobe spells them (``bt709``, ``smpte2084``, ``tv``, ...).
    """

    primaries: int = 2
    transfer: int = 2
    matrix: int = 2
    range: int = 0

    def names(self) -> dict[str, str]:
        """The tags by name; codes without a name are shown as numbers."""
        from rirn_layers.video.colour import (
            MATRIX_NAMES,
            PRIMARIES_NAMES,
            RANGE_NAMES,
            TRANSFER_NAMES,
        )

        return {"primaries": PRIMARIES_NAMES.get(self.primaries, str(self.primaries)),
                "transfer": TRANSFER_NAMES.get(self.transfer, str(self.transfer)),
                "matrix": MATRIX_NAMES.get(self.matrix, str(self.matrix)),
                "range": RANGE_NAMES.get(self.range, str(self.range))}


@dataclasses.dataclass(frozen=True)
class MediaInfo:
    """What a source is, for the writer and for messages.

    Attributes:
        kind: ``"video"`` (a file read with PyAV) or ``"folder"`` (images, natural order).
        path: the source.
        size: ``(H, W)`` of the (first) frame.
        fps: the average frame rate (None for folders, or when the file does not say).
        bit_depth: bits per sample of the (first) frame: 8, 10, 12 or 16.
        chroma: ``"4:2:0"``, ``"4:2:2"``, ``"4:4:4"``, ... for YUV, ``"4:0:0"`` gray,
            ``"rgb"`` for RGB (folders: ``"rgb"`` or ``"4:0:0"`` for gray images).
        pix_fmt: the decoder's pixel format (video), e.g. ``"yuv420p10le"``, else None.
        codec: the video codec (``"h264"``, ...), else None.
        time_base: the video stream's time base, in which the frames' pts are counted.
        colour: the colour tags as read (None for folders: images are taken as sRGB).
        yuv: how YUV is converted, e.g. ``"bt709 tv 10-bit"`` (the matrix assumed for
            untagged video, see :func:`rirn_layers.video.colour.default_matrix`), else None.
        rotation: the display rotation in degrees (phones' portrait video), kept on output.
        streams: the streams copied to the output, e.g. ``("audio:aac", "subtitle:mov_text")``.
        has_audio: whether ``streams`` has audio.
        alpha: whether the (first) frame has an alpha channel (kept for folders).
    """

    kind: Literal["video", "folder"]
    path: Path
    size: tuple[int, int]
    fps: Fraction | None = None
    bit_depth: int = 8
    chroma: str = "rgb"
    pix_fmt: str | None = None
    codec: str | None = None
    time_base: Fraction | None = None
    colour: ColourTags | None = None
    yuv: str | None = None
    rotation: int = 0
    streams: tuple[str, ...] = ()
    has_audio: bool = False
    alpha: bool = False


class FrameReader(abc.ABC):
    """Iterates over the frames of a video file or an image folder, in order.

    Frames are ``(3, H, W)`` float32 RGB: codes divided by ``2**depth - 1`` for images and
    RGB video, converted with the video's own matrix and range for YUV video (values may lie
    slightly outside ``[0, 1]`` where the YUV is outside the RGB gamut; they are kept so that
    writing them back restores the YUV exactly).
    """

    path: Path
    info: MediaInfo
    names: list[str]

    @abc.abstractmethod
    def __iter__(self) -> Iterator[torch.Tensor]:
        """The frames, decoded one at a time."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """The number of frames; 0 when the container does not say (iterate to know)."""

    @property
    def fps(self) -> Fraction | None:
        """The average frame rate (``info.fps``)."""
        return self.info.fps


class FrameWriter(abc.ABC):
    """Writes frames in order into the path it was opened on; see :func:`open_writer`."""

    path: Path
    count: int = 0

    @abc.abstractmethod
    def write(self, frame: torch.Tensor) -> None:
        """Write the next ``(3, H, W)`` RGB frame; out-of-range values are clipped to the
        output's legal codes (in RGB for images, in YUV for video)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Finish the output (flush the encoder, mux the rest); idempotent."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Close without caring about errors; the caller removes what was written."""

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def check_frame(frame: Any, size: tuple[int, int], *, index: int, where: Path) -> torch.Tensor:
    """``frame`` as a float ``(3, H, W)`` CPU tensor of ``size``, or one line saying why not."""
    if not isinstance(frame, torch.Tensor):
        raise TypeError(f"frame {index} for {where}: expected a torch.Tensor, got "
                        f"{type(frame).__name__}")
    expected = (3, *size)
    if tuple(frame.shape) != expected:
        raise ValueError(f"frame {index} for {where}: expected shape {expected} (the source's "
                         f"size), got {tuple(frame.shape)}")
    if not frame.is_floating_point():
        raise TypeError(f"frame {index} for {where}: expected a float tensor in [0, 1], got "
                        f"{frame.dtype}")
    return frame.detach().to("cpu", torch.float32)
