"""Pixel formats as plane layouts, and PyAV frames <-> numpy code planes, copied exactly.

A :class:`Layout` is what the rest of the video code needs to know of a pixel format: the
family (``yuv``, ``gray`` or ``rgb``), the bit depth and the chroma subsampling. Each
layout has one *canonical* planar FFmpeg format (``yuv420p``, ``yuv444p10le``, ``gray12le``,
``gbrp16le``, ...); frames in another format of the same layout (``nv12``, ``p010le``,
``yuvj420p``, big-endian variants, packed RGB) are rearranged into it by swscale's
unscaled copy, which moves samples without changing them. Planes are returned in logical
order: Y, Cb, Cr / Y / R, G, B (FFmpeg stores planar RGB as G, B, R).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np

__all__ = ["Layout", "layout_of", "make_frame", "parse_canonical", "read_planes"]

Family = Literal["yuv", "gray", "rgb"]
_YUV_BASES = {(1, 1): "yuv420p", (1, 0): "yuv422p", (0, 0): "yuv444p", (0, 1): "yuv440p",
              (2, 0): "yuv411p", (2, 2): "yuv410p"}
_CHROMA_NAMES = {(1, 1): "4:2:0", (1, 0): "4:2:2", (0, 0): "4:4:4", (0, 1): "4:4:0",
                 (2, 0): "4:1:1", (2, 2): "4:1:0"}
_GBR_ORDER = (2, 0, 1)  # gbrp planes are G, B, R: logical R is plane 2, G plane 0, B plane 1


@dataclasses.dataclass(frozen=True)
class Layout:
    """Family, bit depth and log2 chroma subsampling ``(horizontal, vertical)``."""

    family: Family
    depth: int
    shift: tuple[int, int] = (0, 0)

    @property
    def name(self) -> str:
        """The canonical planar FFmpeg pixel format of this layout."""
        suffix = "" if self.depth == 8 else f"{self.depth}le"
        if self.family == "gray":
            return f"gray{suffix}"
        if self.family == "rgb":
            return f"gbrp{suffix}"
        return _YUV_BASES[self.shift] + suffix

    @property
    def chroma(self) -> str:
        """``"4:2:0"``, ``"4:4:4"``, ... for YUV, ``"4:0:0"`` for gray, ``"rgb"`` for RGB."""
        if self.family == "gray":
            return "4:0:0"
        return "rgb" if self.family == "rgb" else _CHROMA_NAMES[self.shift]

    @property
    def dtype(self) -> np.dtype:
        """uint8 up to 8 bits, little-endian uint16 above."""
        return np.dtype(np.uint8 if self.depth <= 8 else "<u2")

    def plane_sizes(self, width: int, height: int) -> list[tuple[int, int]]:
        """``(rows, columns)`` of each plane in memory order; chroma rounds up (odd sizes)."""
        if self.family != "yuv":
            return [(height, width)] * (1 if self.family == "gray" else 3)
        shift_w, shift_h = self.shift
        chroma = (-(-height >> shift_h), -(-width >> shift_w))
        return [(height, width), chroma, chroma]

    def exists(self) -> bool:
        """Whether FFmpeg knows the canonical format (``yuv411p10le`` does not exist)."""
        import av

        try:
            av.VideoFormat(self.name)
        except ValueError:
            return False
        return True


def _shift_of(fmt: Any) -> tuple[int, int]:
    probe = 1 << 12
    return ((probe // fmt.chroma_width(probe)).bit_length() - 1,
            (probe // fmt.chroma_height(probe)).bit_length() - 1)


def layout_of(fmt: Any) -> tuple[Layout, bool]:
    """The layout of a PyAV ``VideoFormat`` and whether it carries an alpha channel.

    Palette, bit-stream (1-bit) and Bayer formats read as 8-bit RGB; depths above 16 bits
    and float formats as 16 bits.
    """
    alpha = any(c.is_alpha for c in fmt.components)
    bayer = getattr(fmt, "is_bayer", fmt.name.startswith("bayer"))  # PyAV >= 14
    if fmt.has_palette or fmt.is_bit_stream or bayer:
        return Layout("rgb", 8), alpha
    colour = [c for c in fmt.components if not c.is_alpha]
    depth = min(max(c.bits for c in colour), 16)
    depth = depth if depth >= 8 else 8
    if fmt.is_rgb:
        layout = Layout("rgb", depth)
    elif len(colour) == 1:
        layout = Layout("gray", depth)
    else:
        layout = Layout("yuv", depth, _shift_of(fmt))
        if layout.shift not in _YUV_BASES or not layout.exists():
            layout = Layout("yuv", depth, (0, 0))  # e.g. yuv411p at 10 bits: no such format
    return layout, alpha


def parse_canonical(name: str) -> Layout | None:
    """The layout whose canonical format is ``name``, or None (``nv12``, ``yuva420p``, ...)."""
    import av

    try:
        fmt = av.VideoFormat(name)
    except ValueError:
        return None
    layout, alpha = layout_of(fmt)
    return layout if not alpha and layout.name == name else None


def _same_memory(frame_format: str, layout: Layout) -> bool:
    # yuvj420p is yuv420p tagged full range: same planes, and swscale would convert the range.
    return frame_format == layout.name or frame_format.replace("yuvj", "yuv", 1) == layout.name


def read_planes(frame: Any, layout: Layout) -> list[np.ndarray]:
    """The frame's code planes in logical order (Y, Cb, Cr / Y / R, G, B), as copies."""
    if not _same_memory(frame.format.name, layout):
        frame = frame.reformat(format=layout.name, src_color_range=frame.color_range or 1,
                               dst_color_range=frame.color_range or 1)
    planes = []
    sizes = layout.plane_sizes(frame.width, frame.height)
    for plane, (height, width) in zip(frame.planes, sizes, strict=False):
        rows = np.frombuffer(plane, dtype=layout.dtype).reshape(height, -1)
        planes.append(rows[:, :width].copy())
    if layout.family == "rgb":
        planes = [planes[i] for i in _GBR_ORDER]
    return planes


def make_frame(planes: list[np.ndarray], layout: Layout, width: int, height: int) -> Any:
    """A PyAV ``VideoFrame`` in the canonical format of ``layout`` holding ``planes``."""
    import av

    frame = av.VideoFrame(width, height, layout.name)
    if layout.family == "rgb":
        planes = [planes[1], planes[2], planes[0]]  # R, G, B -> G, B, R
    for plane, data in zip(frame.planes, planes, strict=True):
        rows = np.frombuffer(plane, dtype=layout.dtype).reshape(data.shape[0], -1)
        rows[:, : data.shape[1]] = data
    return frame
