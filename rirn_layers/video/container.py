"""Video files read and written with PyAV, keeping what the source was.

:class:`VideoReader` decodes the main video stream (the first one that is not a cover
picture) and converts each frame with the video's own matrix, range and bit depth
(:mod:`rirn_layers.video.colour`); it records each frame's pts as it goes.
:class:`VideoWriter` encodes frames back with the same size (never rescaled or padded),
the same pts in the same time base (variable frame rate kept), the same average rate,
colour tags, bit depth where the encoder allows (:mod:`rirn_layers.video.encoders`),
sample aspect ratio, display rotation and metadata, and remuxes the audio and subtitle
streams unchanged (:mod:`rirn_layers.video.remux`).

Untagged video: the matrix is assumed from the primaries or the size
(:func:`~rirn_layers.video.colour.default_matrix`: BT.709 for HD, BT.601 for SD) and the
range is limited (tv) unless the pixel format is a full-range ``yuvj`` one. Tags are
written as they were read, so an untagged source gives an untagged output (same YUV, same
lack of tags: every player shows the output as it showed the source), and a ``yuvj``
source gives the planar format tagged full range.

Not kept: interlacing flags (frames are encoded progressive), HDR mastering-display and
content-light side data, an alpha channel (a warning says so), streams other than the
main video, audio and subtitles (a warning says so). Matroska stores times in
milliseconds, so sub-millisecond pts from an .mp4 source are rounded in .mkv.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rirn_layers._optional import require
from rirn_layers.video.base import (
    ColourTags,
    FrameReader,
    FrameWriter,
    MediaInfo,
    check_frame,
)
from rirn_layers.video.colour import (
    YuvSpec,
    converts,
    default_matrix,
    gray_to_rgb,
    rgb_to_gray,
    rgb_to_yuv,
    to_codes,
    yuv_spec,
    yuv_to_rgb,
)
from rirn_layers.video.encoders import EncoderChoice, choose_encoder, container_format
from rirn_layers.video.planes import Layout, layout_of, make_frame, read_planes
from rirn_layers.video.remux import StreamCopier, copy_metadata, copyable_streams

__all__ = ["VideoReader", "VideoWriter"]

_RGB_MATRIX = 1  # RGB sources stored as YUV (an encoder without RGB) use BT.709, tagged
_ATTACHED_PIC = 0x0400  # AV_DISPOSITION_ATTACHED_PIC: a cover picture, not the video


def _disposition(stream: Any) -> int:
    """The stream's AV_DISPOSITION_* flags (0 where PyAV < 14 does not expose them)."""
    try:
        flags = stream.disposition
    except AttributeError:
        return 0
    return int(getattr(flags, "value", flags))


def _main_video(container: Any, path: Path) -> Any:
    for stream in container.streams.video:
        if not _disposition(stream) & _ATTACHED_PIC:
            return stream
    raise ValueError(f"cannot read video {path}: it has no video stream")


def _colour_tags(frame: Any, context: Any) -> ColourTags:
    """The frame's tags, with the stream's where the frame leaves one unspecified.

    (PyAV before 18 has no primaries and transfer on frames: the stream's are used.)
    """
    def pick(name: str, unspecified: int) -> int:
        own = getattr(frame, name, unspecified)
        return own if own != unspecified else getattr(context, name)

    return ColourTags(primaries=pick("color_primaries", 2), transfer=pick("color_trc", 2),
                      matrix=pick("colorspace", 2), range=pick("color_range", 0))


class VideoReader(FrameReader):
    """The frames of a video file's main video stream (see the module doc).

    ``timestamps`` and ``durations`` hold the pts and durations (in ``info.time_base``; a
    duration of 0 is unknown) of the frames yielded so far by the current iteration; a
    :class:`VideoWriter` writes its i-th frame with the i-th of them.
    """

    def __init__(self, path: Path) -> None:
        av = require("av", extra="video", purpose=f"Reading the video {path}")
        self.path = path
        self.names = []
        self.timestamps: list[int] = []
        self.durations: list[int] = []
        try:
            with av.open(str(path)) as container:
                stream = _main_video(container, path)
                first = next(container.decode(stream), None)
                if first is None:
                    raise ValueError(f"input {path} holds no frames (its video stream is empty)")
                self.video_index = stream.index
                self._frames = int(stream.frames or 0)
                self._describe(container, stream, first)
        except av.error.FFmpegError as err:
            raise ValueError(f"cannot read video {path}: {err}") from None

    def _describe(self, container: Any, stream: Any, first: Any) -> None:
        self.layout, alpha = layout_of(first.format)
        size = (first.height, first.width)
        tags = _colour_tags(first, stream.codec_context)
        self.full_range = tags.range == 2 or first.format.name.startswith("yuvj")
        matrix = tags.matrix
        if matrix == 2 or (self.layout.family == "gray" and not converts(matrix)):
            matrix = default_matrix(tags.primaries, first.width, first.height)
        self.spec: YuvSpec | None = None
        if self.layout.family != "rgb":
            self.spec = yuv_spec(matrix, self.full_range, self.layout.depth,
                                 where=str(self.path))
        time_base = stream.time_base or (1 / Fraction(stream.average_rate or 25))
        kept, _ = copyable_streams(container, stream.index)
        streams = tuple(f"{s.type}:{s.codec_context.name if s.codec_context else '?'}"
                        for s in kept)
        self.info = MediaInfo(
            kind="video", path=self.path, size=size,
            fps=Fraction(stream.average_rate) if stream.average_rate else None,
            bit_depth=self.layout.depth, chroma=self.layout.chroma, pix_fmt=first.format.name,
            codec=stream.codec_context.name, time_base=Fraction(time_base), colour=tags,
            yuv=self.spec.name if self.layout.family == "yuv" and self.spec else None,
            rotation=round(getattr(first, "rotation", 0) or 0), streams=streams,
            has_audio=any(s.startswith("audio:") for s in streams), alpha=alpha,
        )

    def __len__(self) -> int:
        return self._frames

    def __iter__(self) -> Iterator[torch.Tensor]:
        av = require("av", extra="video", purpose=f"Reading the video {self.path}")
        self.timestamps, self.durations = [], []
        with av.open(str(self.path)) as container:
            stream = container.streams[self.video_index]
            stream.thread_type = "AUTO"
            frames = container.decode(stream)
            while True:
                try:
                    frame = next(frames, None)
                except av.error.FFmpegError as err:
                    raise ValueError(f"cannot decode video {self.path}: {err}") from None
                if frame is None:
                    return
                yield self._convert(frame)

    def _next_pts(self, frame: Any) -> int:
        last = self.timestamps[-1] if self.timestamps else None
        if frame.pts is not None:
            pts = int(frame.pts)
        elif last is None:
            pts = 0
        else:
            fps = self.info.fps or Fraction(25)
            pts = last + max(1, round(1 / (fps * self.info.time_base)))
        return pts if last is None or pts > last else last + 1

    def _convert(self, frame: Any) -> torch.Tensor:
        index = len(self.timestamps)
        if (frame.height, frame.width) != self.info.size:
            raise ValueError(
                f"cannot read video {self.path}: frame {index} is {frame.width}x{frame.height}, "
                f"the stream started at {self.info.size[1]}x{self.info.size[0]} (size changes "
                "within a video are not supported)")
        self.timestamps.append(self._next_pts(frame))
        self.durations.append(int(getattr(frame, "duration", 0) or 0))  # PyAV >= 15
        planes = [torch.from_numpy(p.astype(np.float32)) for p in read_planes(frame, self.layout)]
        if self.layout.family == "yuv":
            assert self.spec is not None
            return yuv_to_rgb(*planes, self.spec, self.layout.shift)
        if self.layout.family == "gray":
            assert self.spec is not None
            offset, scale, _, _ = self.spec.levels
            return gray_to_rgb(planes[0], offset, scale)
        return torch.stack(planes) / float(2**self.layout.depth - 1)


class VideoWriter(FrameWriter):
    """Encodes frames into ``path`` like the video ``like`` (see the module doc).

    Frames are ``(3, H, W)`` RGB of the source's size; they are converted with the source's
    matrix and range and rounded and clipped to the legal codes in the YUV domain only
    (so values slightly outside ``[0, 1]`` from :class:`VideoReader` come back exactly).
    The i-th frame gets the pts of the source's i-th frame (frames past the source's count
    continue at the source's average rate). Raises ``ValueError`` before anything is written
    when the container cannot hold the chosen encoder or a stream to copy.
    """

    def __init__(self, path: Path, like: VideoReader, *, codec: str | None, crf: float | None,
                 lossless: bool) -> None:
        av = require("av", extra="video", purpose=f"Writing the video {path}")
        self.path, self.like, self.count = path, like, 0
        self.choice = choose_encoder(path, like.layout, like.info.size, codec=codec, crf=crf,
                                     lossless=lossless)
        self._spec, self._tags = self._output_colour(like, self.choice.layout)
        if like.info.alpha:
            warnings.warn(f"output {path}: the alpha channel of {like.path} is not kept "
                          "(video outputs are written without alpha)", stacklevel=3)
        self._closed = False
        self._last_pts: int | None = None
        self._output = av.open(str(path), "w", format=container_format(path))
        self._copier: StreamCopier | None = None
        try:
            self._stream = self._add_video(self._output, like, self.choice)
            self._copier = StreamCopier(like.path, self._output, video_index=like.video_index,
                                        where=path)
            self._copy_source_properties(self._copier.source)
            self._open_encoder()
        except BaseException:
            self.abort()
            raise

    @staticmethod
    def _output_colour(like: VideoReader, layout: Layout) -> tuple[YuvSpec | None, ColourTags]:
        tags = like.info.colour or ColourTags()
        if layout.family == "rgb":
            return None, ColourTags(tags.primaries, tags.transfer, 0, 2)
        range_tag = 2 if like.full_range else tags.range
        if like.layout.family == "rgb":  # RGB source, YUV output: our matrix, so tag it
            spec = YuvSpec(_RGB_MATRIX, False, layout.depth)
            return spec, ColourTags(tags.primaries, tags.transfer, _RGB_MATRIX, 1)
        assert like.spec is not None
        spec = YuvSpec(like.spec.matrix, like.full_range, layout.depth)
        return spec, ColourTags(tags.primaries, tags.transfer, tags.matrix, range_tag)

    def _add_video(self, output: Any, like: VideoReader, choice: EncoderChoice) -> Any:
        info = like.info
        stream = output.add_stream(choice.encoder, rate=info.fps or Fraction(25))
        stream.height, stream.width = info.size
        stream.pix_fmt = choice.layout.name
        context = stream.codec_context
        context.time_base = info.time_base
        stream.time_base = info.time_base
        context.options = dict(choice.options)
        context.color_primaries = self._tags.primaries
        context.color_trc = self._tags.transfer
        context.colorspace = self._tags.matrix
        context.color_range = self._tags.range
        if info.rotation and hasattr(stream, "set_display_rotation"):
            stream.set_display_rotation(info.rotation)
        elif info.rotation:
            warnings.warn(f"output {self.path}: the source's display rotation "
                          f"({info.rotation} degrees) is not kept: it needs PyAV >= 18",
                          stacklevel=4)
        return stream

    def _copy_source_properties(self, source: Any) -> None:
        video = source.streams[self.like.video_index]
        if video.sample_aspect_ratio:
            self._stream.codec_context.sample_aspect_ratio = video.sample_aspect_ratio
        copy_metadata(dict(video.metadata), self._stream.metadata)
        copy_metadata(dict(source.metadata), self._output.metadata)

    def _open_encoder(self) -> None:
        import av

        try:
            self._stream.codec_context.open()
        except av.error.FFmpegError as err:
            height, width = self.like.info.size
            raise ValueError(f"output {self.path}: cannot open {self.choice.encoder} for "
                             f"{width}x{height} {self.choice.layout.name}: {err}") from None

    def _planes(self, rgb: torch.Tensor) -> list[np.ndarray]:
        layout = self.choice.layout
        top = 2**layout.depth - 1
        if layout.family == "rgb":
            codes = [to_codes(channel, 0.0, top, layout.depth) for channel in rgb]
        elif layout.family == "gray":
            assert self._spec is not None
            offset, scale, _, _ = self._spec.levels
            codes = [to_codes(rgb_to_gray(rgb), offset, scale, layout.depth)]
        else:
            assert self._spec is not None
            codes = list(rgb_to_yuv(rgb, self._spec, layout.shift))
        return [c.numpy().astype(layout.dtype) for c in codes]

    def _next_pts(self) -> int:
        stamps = self.like.timestamps
        if self.count < len(stamps):
            pts = stamps[self.count]
        elif self._last_pts is None:
            pts = 0
        else:
            step = 1 / ((self.like.info.fps or Fraction(25)) * self.like.info.time_base)
            pts = self._last_pts + max(1, round(step))
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # encoders need strictly increasing pts
        self._last_pts = pts
        return pts

    def _mux(self, packets: list[Any]) -> None:
        if self.choice.dts_from_pts:
            for packet in packets:
                packet.dts = packet.pts
        self._output.mux(packets)

    def _video_frame(self, rgb: torch.Tensor) -> Any:
        """The PyAV frame of ``rgb``: planes, the source frame's pts and duration, tags."""
        height, width = self.like.info.size
        video = make_frame(self._planes(rgb), self.choice.layout, width, height)
        video.pts, video.time_base = self._next_pts(), self.like.info.time_base
        if self.count < len(self.like.durations) and self.like.durations[self.count] > 0:
            video.duration = self.like.durations[self.count]  # only read when PyAV has it
        video.colorspace, video.color_range = self._tags.matrix, self._tags.range
        if hasattr(video, "color_primaries"):  # PyAV >= 18; the stream carries them anyway
            video.color_primaries, video.color_trc = self._tags.primaries, self._tags.transfer
        return video

    def write(self, frame: torch.Tensor) -> None:
        """Encode the next frame (see the class doc) and mux the copied streams up to it."""
        import av

        if self._closed:
            raise ValueError(f"output {self.path}: write() after close()")
        rgb = check_frame(frame, self.like.info.size, index=self.count, where=self.path)
        video = self._video_frame(rgb)
        try:
            self._mux(self._stream.encode(video))
            assert self._copier is not None
            self._copier.pump(until=video.pts * self.like.info.time_base)
        except av.error.FFmpegError as err:
            raise ValueError(f"output {self.path}: writing frame {self.count} failed: {err}"
                             ) from None
        self.count += 1

    def close(self) -> None:
        """Flush the encoder, mux the rest of the copied streams, finish the file.

        Raises ``ValueError`` if no frame was written (there would be no file at all).
        """
        import av

        if self._closed:
            return
        if self.count == 0:
            self.abort()
            raise ValueError(f"output {self.path}: no frames were written")
        self._closed = True
        try:
            self._mux(self._stream.encode(None))
            assert self._copier is not None
            self._copier.finish()
            self._output.close()
        except av.error.FFmpegError as err:
            self.abort()
            raise ValueError(f"output {self.path}: finishing the file failed: {err}") from None

    def abort(self) -> None:
        """Close the file and the source without caring about errors (the caller deletes)."""
        self._closed = True
        for closer in (getattr(self._copier, "close", None), self._output.close):
            if closer is None:
                continue
            try:
                closer()
            except Exception:  # a half-written container may fail to close; it is deleted
                pass
