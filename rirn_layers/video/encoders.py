"""Which encoder and pixel format a video output gets, and with which options.

The container comes from the output's suffix. Each container has candidate encoders, in
order of preference (measured with the FFmpeg of PyAV 18.1: libx264 takes 8 and 10 bits,
libx265 8, 10 and 12 bits, libvpx-vp9 only 8 bits, libsvtav1 8 and 10 bits in 4:2:0):

========  ===================================  ===================================
suffix    default                              ``lossless=True``
========  ===================================  ===================================
.mp4      libx264, libx265 (12 bit)            libx264 ``qp=0``, libx265 ``lossless``
.mov      libx264, libx265 (12 bit)            libx264 ``qp=0``, libx265 ``lossless``
.mkv      libx264, libx265, libvpx-vp9         FFV1 (any depth, any size), libx264, ...
.webm     libvpx-vp9, libsvtav1 (10 bit)       libvpx-vp9 ``lossless=1`` (8 bit here)
========  ===================================  ===================================

Every (encoder, pixel format) pair is ranked by what it would lose of the source's layout
(:class:`~rirn_layers.video.planes.Layout`): bit depth first, then a change of family (RGB
stored as YUV), then coarser chroma, then needless extra depth, then the preference order,
then finer chroma. The best one wins; if it loses anything, one warning line says what.
libx264 and libx265 cannot store subsampled chroma for odd sizes, so a 175x143 4:2:0 source
goes to 4:4:4 with them (chroma repeated, nothing resampled or padded); VP9, AV1 and FFV1
store odd sizes in 4:2:0 as they are. libx265 runs without B-frames (its dts are broken
for short clips in this build; see ``_DTS_FROM_PTS``).
"""

from __future__ import annotations

import dataclasses
import io
import warnings
from pathlib import Path
from typing import Any

from rirn_layers._checks import check_float
from rirn_layers.video.planes import Layout, parse_canonical

__all__ = ["CONTAINERS", "EncoderChoice", "choose_encoder", "container_format"]

#: Output suffixes and their FFmpeg container (muxer) names.
CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
_CANDIDATES = {  # container -> (default encoders, lossless encoders), in order of preference
    "mp4": (("libx264", "libx265"), ("libx264", "libx265")),
    "mov": (("libx264", "libx265"), ("libx264", "libx265")),
    "matroska": (("libx264", "libx265", "libvpx-vp9"),
                 ("ffv1", "libx264", "libx265", "libvpx-vp9")),
    "webm": (("libvpx-vp9", "libsvtav1"), ("libvpx-vp9",)),
}
_NEEDS_EVEN = {"libx264", "libx265"}  # 4:2:x needs even sizes (measured)
# libx265 here returns garbage dts for clips shorter than its B-frame delay (measured: a
# 2-frame clip gets dts of -2e16): it runs without B-frames, so its dts are its pts.
_DTS_FROM_PTS = {"libx265"}
_DEFAULT_CRF = {"libx264": 18, "libx265": 18, "libvpx-vp9": 24, "libsvtav1": 24,
                "libaom-av1": 24}
_LOSSLESS = {
    "libx264": {"qp": "0"},
    "libx265": {"x265-params": "lossless=1:bframes=0:log-level=error"},
    "libvpx-vp9": {"lossless": "1", "row-mt": "1", "cpu-used": "4"},
    "ffv1": {"level": "3", "slicecrc": "1"},
}
_LOSSY = {
    "libx264": {"preset": "medium"},
    "libx265": {"x265-params": "bframes=0:log-level=error"},
    "libvpx-vp9": {"row-mt": "1", "cpu-used": "2", "deadline": "good"},
    "libsvtav1": {"preset": "8"},
}


@dataclasses.dataclass(frozen=True)
class EncoderChoice:
    """The encoder, the layout it stores, its options, and what is lost (empty: nothing).

    ``dts_from_pts``: the encoder's dts are not to be trusted; it is run without frame
    reordering and its packets' dts are set to their pts.
    """

    encoder: str
    layout: Layout
    options: dict[str, str]
    loss: str = ""

    @property
    def dts_from_pts(self) -> bool:
        return self.encoder in _DTS_FROM_PTS


def container_format(path: Path) -> str:
    """The FFmpeg muxer for ``path``'s suffix, or one line listing the suffixes we write."""
    try:
        return CONTAINERS[path.suffix.lower()]
    except KeyError:
        raise ValueError(
            f"output {path}: cannot tell the container from the suffix {path.suffix!r}; "
            f"expected one of {', '.join(CONTAINERS)}"
        ) from None


def _supported(container: str) -> set[str]:
    import av

    with av.open(io.BytesIO(), "w", format=container) as probe:
        return set(probe.supported_codecs)


def _encoder(name: str, path: Path) -> Any:
    import av

    try:
        codec = av.Codec(name, "w")
    except Exception as err:  # av raises UnknownCodecError (a ValueError) or FFmpegError
        raise ValueError(f"output {path}: no encoder {name!r} in this FFmpeg ({err})") from None
    if codec.type != "video":
        raise ValueError(f"output {path}: {codec.name!r} is a {codec.type} encoder, expected "
                         "a video encoder")
    return codec


def _options(encoder: str, crf: float | None, lossless: bool, path: Path) -> dict[str, str]:
    if lossless:
        if crf is not None:
            raise ValueError(f"output {path}: crf= and lossless=True exclude each other")
        if encoder not in _LOSSLESS:
            raise ValueError(f"output {path}: {encoder} has no lossless mode here; expected "
                             f"one of {', '.join(_LOSSLESS)}")
        return dict(_LOSSLESS[encoder])
    options = dict(_LOSSY.get(encoder, {}))
    if encoder in _DEFAULT_CRF:
        options["crf"] = f"{_DEFAULT_CRF[encoder] if crf is None else crf:g}"
    elif crf is not None:
        raise ValueError(f"output {path}: crf= does not apply to {encoder}; it applies to "
                         f"{', '.join(_DEFAULT_CRF)}")
    return options


def _rank(source: Layout, target: Layout, size: tuple[int, int], encoder: str, order: int
          ) -> tuple[int, ...] | None:
    height, width = size
    if encoder in _NEEDS_EVEN and (width % 2 ** target.shift[0] or height % 2 ** target.shift[1]):
        return None
    family_loss = int(source.family != target.family)
    coarser = sum(max(0, t - s) for s, t in zip(source.shift, target.shift, strict=True))
    finer = sum(max(0, s - t) for s, t in zip(source.shift, target.shift, strict=True))
    return (max(0, source.depth - target.depth), family_loss, coarser,
            max(0, target.depth - source.depth), order, finer)


def _describe_loss(source: Layout, target: Layout) -> str:
    lost = []
    if target.depth < source.depth:
        lost.append(f"{source.depth}-bit -> {target.depth}-bit")
    if source.family != target.family:
        lost.append(f"{source.family} -> {target.family}")
    if any(t > s for s, t in zip(source.shift, target.shift, strict=True)):
        lost.append(f"chroma {source.chroma} -> {target.chroma}")
    return ", ".join(lost)


def choose_encoder(path: Path, source: Layout, size: tuple[int, int], *, codec: str | None,
                   crf: float | None, lossless: bool) -> EncoderChoice:
    """The best (encoder, layout) for ``source`` in ``path``'s container (module doc).

    ``codec`` (an encoder or codec name: ``"libx265"``, ``"hevc"``, ``"ffv1"``) restricts
    the choice to that encoder. Warns once when the choice loses depth, family or chroma.
    """
    if crf is not None:
        check_float("choose_encoder", "crf", crf)
    container = container_format(path)
    if source.family == "gray":  # a gray source is stored as 4:2:0 YUV: the model may add colour
        source = Layout("yuv", source.depth, (1, 1))
    supported = _supported(container)
    if codec is not None:
        encoder = _encoder(codec, path)
        if encoder.name not in supported:
            raise ValueError(f"output {path}: the {path.suffix} container cannot hold "
                             f"{encoder.name}; expected one of "
                             f"{', '.join(_CANDIDATES[container][int(lossless)])}")
        names: tuple[str, ...] = (encoder.name,)
    else:
        names = tuple(n for n in _CANDIDATES[container][int(lossless)] if n in supported)
    best: tuple[tuple[int, ...], str, Layout] | None = None
    for order, name in enumerate(names):
        for fmt in _encoder(name, path).video_formats or ():
            target = parse_canonical(fmt.name)
            rank = None if target is None else _rank(source, target, size, name, order)
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, name, target)
    if best is None:
        raise ValueError(f"output {path}: no encoder among {', '.join(names) or 'none'} can "
                         f"store {size[1]}x{size[0]} {source.name} frames")
    _, name, target = best
    choice = EncoderChoice(name, target, _options(name, crf, lossless, path),
                           _describe_loss(source, target))
    if choice.loss:
        warnings.warn(f"output {path}: {name} here cannot store the source's {source.name}; "
                      f"writing {target.name} ({choice.loss})", stacklevel=4)
    return choice
