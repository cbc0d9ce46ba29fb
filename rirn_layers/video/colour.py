"""YUV <-> RGB in torch, exact enough that an identity model gives back the YUV planes.

FFmpeg's own conversion (swscale) rounds and clips in RGB, resamples chroma with filters
and guesses BT.601 for untagged video; a deblurring model then sees colours a little off
and the re-encoded video loses a level or two per round trip. Here:

- the matrix (BT.601, BT.709, BT.2020 non-constant luminance, FCC, SMPTE 240M) and the
  range (limited "tv" or full "pc") come from the video's tags (:func:`yuv_spec`);
- decoding (:func:`yuv_to_rgb`) is float arithmetic with **no clamping**: a YUV triple
  outside the RGB gamut gives values slightly outside ``[0, 1]`` instead of being clipped,
  so that encoding (:func:`rgb_to_yuv`) restores it; rounding and clipping happen only
  there, in the YUV domain, to the legal code range ``[0, 2**depth - 1]``;
- chroma is upsampled by repetition (each chroma sample covers its 2x2, 2x1, ... block)
  and downsampled by the mean of the block, so upsampling then downsampling is exact.

With float32 the round trip of every 8- to 16-bit YUV triple is bit-exact (the error is a
few hundredths of a code at 16 bits, far below the rounding step).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

__all__ = [
    "MATRIX_NAMES",
    "PRIMARIES_NAMES",
    "RANGE_NAMES",
    "TRANSFER_NAMES",
    "YuvSpec",
    "converts",
    "default_matrix",
    "downsample_chroma",
    "gray_to_rgb",
    "rgb_to_gray",
    "rgb_to_yuv",
    "to_codes",
    "upsample_chroma",
    "yuv_spec",
    "yuv_to_rgb",
]

# FFmpeg's AVColorSpace codes -> (Kr, Kb) of the luma equation Y' = Kr R + Kg G + Kb B.
_LUMA = {
    1: (0.2126, 0.0722),  # BT.709
    4: (0.30, 0.11),  # FCC
    5: (0.299, 0.114),  # BT.470BG (BT.601 625 lines)
    6: (0.299, 0.114),  # SMPTE 170M (BT.601 525 lines)
    7: (0.212, 0.087),  # SMPTE 240M
    9: (0.2627, 0.0593),  # BT.2020 non-constant luminance
}
# FFmpeg's names of the AVCOL_* codes (as ffprobe prints them; 2 is "unspecified").
PRIMARIES_NAMES = {1: "bt709", 2: "unspecified", 4: "bt470m", 5: "bt470bg", 6: "smpte170m",
                   7: "smpte240m", 8: "film", 9: "bt2020", 10: "smpte428", 11: "smpte431",
                   12: "smpte432", 22: "ebu3213"}
TRANSFER_NAMES = {1: "bt709", 2: "unspecified", 4: "gamma22", 5: "gamma28", 6: "smpte170m",
                  7: "smpte240m", 8: "linear", 9: "log100", 10: "log316", 11: "iec61966-2-4",
                  12: "bt1361e", 13: "iec61966-2-1", 14: "bt2020-10", 15: "bt2020-12",
                  16: "smpte2084", 17: "smpte428", 18: "arib-std-b67"}
MATRIX_NAMES = {0: "gbr", 1: "bt709", 2: "unspecified", 4: "fcc", 5: "bt470bg",
                6: "smpte170m", 7: "smpte240m", 8: "ycgco", 9: "bt2020nc", 10: "bt2020c",
                11: "smpte2085", 12: "chroma-derived-nc", 13: "chroma-derived-c", 14: "ictcp"}
RANGE_NAMES = {0: "unspecified", 1: "tv", 2: "pc"}
_MATRIX_NAMES = {code: MATRIX_NAMES[code] for code in _LUMA}
_UNSPECIFIED = 2
# Matrix implied by the primaries when only those are tagged (as mpv and browsers do).
_BY_PRIMARIES = {1: 1, 5: 5, 6: 6, 7: 7, 9: 9}


@dataclasses.dataclass(frozen=True)
class YuvSpec:
    """How YUV codes map to RGB: the luma coefficients, the range, the bit depth."""

    matrix: int
    full_range: bool
    depth: int

    @property
    def coefficients(self) -> tuple[float, float]:
        """``(Kr, Kb)`` of the matrix."""
        return _LUMA[self.matrix]

    @property
    def levels(self) -> tuple[float, float, float, float]:
        """``(luma offset, luma scale, chroma offset, chroma scale)`` in codes."""
        top = float(2**self.depth - 1)
        half = float(2 ** (self.depth - 1))
        if self.full_range:
            return 0.0, top, half, top
        step = float(2 ** (self.depth - 8))
        return 16 * step, 219 * step, half, 224 * step

    @property
    def name(self) -> str:
        """E.g. ``"bt709 tv 10-bit"``."""
        return f"{_MATRIX_NAMES[self.matrix]} {'pc' if self.full_range else 'tv'} {self.depth}-bit"


def default_matrix(primaries: int, width: int, height: int) -> int:
    """The matrix assumed for video without a matrix tag.

    The primaries' own matrix when they are tagged (BT.709, BT.2020, ...); otherwise by
    size, as players do (mpv, browsers, VLC): BT.709 for HD (width >= 1280 or height > 576),
    BT.601 (SMPTE 170M) for SD. FFmpeg's swscale assumes BT.601 for everything.
    """
    if primaries in _BY_PRIMARIES:
        return _BY_PRIMARIES[primaries]
    return 1 if width >= 1280 or height > 576 else 6


def converts(matrix: int) -> bool:
    """Whether this module converts the matrix with FFmpeg code ``matrix``."""
    return matrix in _LUMA


def yuv_spec(matrix: int, full_range: bool, depth: int, *, where: str) -> YuvSpec:
    """A :class:`YuvSpec`; ``matrix`` must be one this module converts (``where`` names it).

    BT.2020 constant luminance, YCgCo, ICtCp and the chromaticity-derived matrices are
    refused with one line naming the file.
    """
    if matrix not in _LUMA:
        raise ValueError(
            f"{where}: colour matrix code {matrix} is not supported (expected one of "
            f"{', '.join(_MATRIX_NAMES.values())})"
        )
    return YuvSpec(matrix, full_range, depth)


def upsample_chroma(plane: torch.Tensor, shift: tuple[int, int], size: tuple[int, int]
                    ) -> torch.Tensor:
    """Repeat each chroma sample over its ``2**shift`` block, cropped to ``size`` (H, W)."""
    shift_w, shift_h = shift
    plane = plane.repeat_interleave(2**shift_h, dim=-2).repeat_interleave(2**shift_w, dim=-1)
    return plane[..., : size[0], : size[1]]


def downsample_chroma(plane: torch.Tensor, shift: tuple[int, int]) -> torch.Tensor:
    """Mean over each ``2**shift`` block; blocks cut by an odd edge average what they hold."""
    shift_w, shift_h = shift
    if shift_w == 0 and shift_h == 0:
        return plane
    block_h, block_w = 2**shift_h, 2**shift_w
    height, width = plane.shape[-2:]
    pad_h, pad_w = -height % block_h, -width % block_w
    batch = plane.reshape(1, 1, height, width)
    if pad_h or pad_w:  # repeating the edge keeps each cut block's mean its own mean
        batch = F.pad(batch, (0, pad_w, 0, pad_h), mode="replicate")
    return F.avg_pool2d(batch, (block_h, block_w))[0, 0]


def yuv_to_rgb(y: torch.Tensor, cb: torch.Tensor, cr: torch.Tensor, spec: YuvSpec,
               shift: tuple[int, int]) -> torch.Tensor:
    """``(3, H, W)`` float32 RGB from Y, Cb, Cr code planes; not clamped (see module doc)."""
    kr, kb = spec.coefficients
    y_off, y_scale, c_off, c_scale = spec.levels
    size = (y.shape[-2], y.shape[-1])
    luma = (y.float() - y_off) / y_scale
    pb = (upsample_chroma(cb.float(), shift, size) - c_off) / c_scale
    pr = (upsample_chroma(cr.float(), shift, size) - c_off) / c_scale
    red_diff, blue_diff = 2 * (1 - kr) * pr, 2 * (1 - kb) * pb  # R - Y', B - Y'
    green = luma - (kr * red_diff + kb * blue_diff) / (1 - kr - kb)  # neutral chroma: G = Y'
    return torch.stack((luma + red_diff, green, luma + blue_diff))


def to_codes(values: torch.Tensor, offset: float, scale: float, depth: int) -> torch.Tensor:
    """``round(offset + scale * values)`` clipped to ``[0, 2**depth - 1]``, as int32."""
    codes = torch.nan_to_num(values.float(), nan=0.0) * scale + offset
    return codes.round_().clamp_(0, 2**depth - 1).to(torch.int32)


def rgb_to_yuv(rgb: torch.Tensor, spec: YuvSpec, shift: tuple[int, int]
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Y, Cb, Cr int32 code planes (chroma subsampled by ``shift``) from ``(3, H, W)`` RGB."""
    kr, kb = spec.coefficients
    y_off, y_scale, c_off, c_scale = spec.levels
    red, green, blue = rgb.float().unbind(0)
    luma = kr * red + (1 - kr - kb) * green + kb * blue
    pb = downsample_chroma((blue - luma) / (2 * (1 - kb)), shift)
    pr = downsample_chroma((red - luma) / (2 * (1 - kr)), shift)
    depth = spec.depth
    return (to_codes(luma, y_off, y_scale, depth), to_codes(pb, c_off, c_scale, depth),
            to_codes(pr, c_off, c_scale, depth))


def gray_to_rgb(gray: torch.Tensor, offset: float, scale: float) -> torch.Tensor:
    """``(3, H, W)`` RGB of three identical channels from a code plane."""
    return ((gray.float() - offset) / scale).expand(3, -1, -1).contiguous()


def rgb_to_gray(rgb: torch.Tensor) -> torch.Tensor:
    """Luma of ``(3, H, W)`` RGB with the BT.709 (sRGB) weights; a gray frame is unchanged."""
    red, green, blue = rgb.float().unbind(0)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue
