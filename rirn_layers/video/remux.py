"""Copy a source's audio and subtitle streams into a video output, packets unchanged.

Packets are remuxed, never decoded: the same bytes, the same timestamps (rescaled by the
muxer only where the container imposes its own time base, e.g. Matroska's milliseconds).
They are muxed interleaved with the video as it is written (:meth:`StreamCopier.pump` up to
each frame's time), so players need not seek across the file. Matroska cannot store the
negative start of AAC priming copied from an .mp4 (about -21 ms): its muxer shifts every
stream by the same amount, so audio and video stay in sync.

Policy when the output container cannot hold a stream's codec (AAC or mov_text in .webm,
mov_text in .mkv, ...): :class:`StreamCopier` raises one ``ValueError`` naming the stream,
before anything is written, and suggests .mkv (which holds nearly every codec). Nothing
is silently re-encoded or dropped. Other streams (data such as timecodes, attachments,
further video streams and cover pictures) are not copied; a warning line says so.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

__all__ = ["StreamCopier", "copy_metadata", "copyable_streams"]

_STALE_KEYS = {"encoder", "duration", "number_of_frames", "number_of_bytes", "bps",
               "major_brand", "minor_version", "compatible_brands", "vendor_id",
               "_statistics_writing_app", "_statistics_writing_date_utc", "_statistics_tags"}


def copy_metadata(source: dict[str, str], target: dict[str, str]) -> None:
    """Copy tags (title, language, creation_time, ...) but not ones that describe the old
    encoding (encoder, brands, Matroska statistics such as ``DURATION-eng``)."""
    for key, value in source.items():
        if key.lower().split("-")[0] not in _STALE_KEYS:
            target[key] = value


def copyable_streams(container: Any, video_index: int) -> tuple[list[Any], list[Any]]:
    """The audio and subtitle streams of ``container``, and the others but the main video."""
    kept, left = [], []
    for stream in container.streams:
        if stream.index != video_index:
            (kept if stream.type in ("audio", "subtitle") else left).append(stream)
    return kept, left


def _warn_left(left: list[Any], where: Path) -> None:
    if left:
        shown = ", ".join(f"#{s.index} {s.type}" + (f" ({s.codec_context.name})"
                                                    if s.codec_context else "") for s in left)
        warnings.warn(f"output {where}: stream(s) {shown} of the source are not copied "
                      "(only the main video, audio and subtitles are)", stacklevel=5)


def _seconds(packet: Any) -> Fraction:
    stamp = packet.dts if packet.dts is not None else packet.pts
    return Fraction(stamp) * packet.time_base


class StreamCopier:
    """Remuxes the audio and subtitle packets of ``source`` into ``output`` (module doc).

    Creating it adds the output streams (raising ``ValueError`` if the container cannot hold
    one); :meth:`pump` muxes packets up to a time; :meth:`finish` muxes the rest.
    """

    def __init__(self, source: Path, output: Any, *, video_index: int, where: Path) -> None:
        import av

        self._input = av.open(str(source))
        self._output = output
        self._streams: dict[int, Any] = {}
        try:
            streams, left = copyable_streams(self._input, video_index)
            _warn_left(left, where)
            for stream in streams:
                self._streams[stream.index] = self._add(stream, where)
        except BaseException:
            self._input.close()
            raise
        self._packets: Iterator[Any] = self._input.demux(*streams) if streams else iter(())
        self._pending: Any = None

    def _add(self, stream: Any, where: Path) -> Any:
        try:
            copy = self._output.add_stream_from_template(stream)
        except ValueError:
            codec = stream.codec_context.name if stream.codec_context else stream.type
            raise ValueError(
                f"output {where}: the {where.suffix} container cannot hold {stream.type} "
                f"stream #{stream.index} ({codec}) of {self._input.name}; write .mkv (holds "
                "nearly every codec) or remove that stream from the source first"
            ) from None
        copy_metadata(dict(stream.metadata), copy.metadata)
        try:  # PyAV >= 14
            copy.disposition = getattr(stream.disposition, "value", stream.disposition)
        except AttributeError:
            pass
        return copy

    @property
    def source(self) -> Any:
        """The source, opened for reading (PyAV ``InputContainer``)."""
        return self._input

    @property
    def descriptions(self) -> tuple[str, ...]:
        """``("audio:aac", "subtitle:mov_text", ...)`` for the copied streams."""
        return tuple(f"{s.type}:{s.codec_context.name if s.codec_context else '?'}"
                     for s in self._streams.values())

    def _next(self) -> Any:
        if self._pending is not None:
            packet, self._pending = self._pending, None
            return packet
        for packet in self._packets:
            if packet.size and (packet.dts is not None or packet.pts is not None):
                return packet
        return None

    def pump(self, until: Fraction | None = None) -> None:
        """Mux the packets whose time is at most ``until`` seconds (all when None)."""
        while (packet := self._next()) is not None:
            if until is not None and _seconds(packet) > until:
                self._pending = packet
                return
            if packet.dts is None:  # audio and subtitles are not reordered: dts = pts
                packet.dts = packet.pts
            packet.stream = self._streams[packet.stream_index]
            self._output.mux(packet)

    def finish(self) -> None:
        """Mux every packet left, then close the source."""
        try:
            self.pump()
        finally:
            self.close()

    def close(self) -> None:
        """Close the source; idempotent."""
        self._input.close()
