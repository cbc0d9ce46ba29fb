"""One image file, read at its full depth and written back in its own format.

Shared by the dataset loaders (:mod:`rirn_layers.data`) and the video tools
(:mod:`rirn_layers.video`), so a frame reads the same everywhere: 16-bit PNG and TIFF as
16-bit codes, gray as gray, alpha kept apart.

Pillow reads and writes every 8-bit image and 16-bit gray; it has no 16-bit colour mode
(it would truncate a 48-bit PNG or TIFF to 8 bits), so 16-bit colour and 16-bit gray+alpha
PNG and TIFF go through FFmpeg's png and tiff codecs in PyAV instead (no extra dependency).

What is kept per file (:class:`ImageKind`): the format (PNG, JPEG, TIFF, BMP), gray or
colour, the bit depth (8 or 16), the alpha channel, the ICC profile, DPI, EXIF (JPEG), the
TIFF compression. Written back: PNG, TIFF and BMP losslessly; JPEG at quality
:data:`JPEG_QUALITY` with 4:4:4 chroma (no subsampling). Decided conversions, documented:

- bilevel (mode ``1``) images are written back as 8-bit gray;
- palette images (``P``) as RGB, or RGBA when they have transparency;
- CMYK, YCbCr and LAB images as RGB (without a CMYK or LAB ICC profile);
- 32-bit integer gray beyond 16 bits and float images are refused with one line.
"""

from __future__ import annotations

import dataclasses
import struct
import warnings
import zlib
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from rirn_layers._optional import require
from rirn_layers.io.names import IMAGE_SUFFIXES

__all__ = [
    "IMAGE_SUFFIXES",
    "JPEG_QUALITY",
    "ImageKind",
    "probe",
    "read_image",
    "write_image",
]


#: The quality frames of a JPEG folder are written back at (with 4:4:4 chroma).
JPEG_QUALITY = 95
_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "TIFF": "TIFF", "BMP": "BMP"}
_TIFF_COMPRESSION = {"raw": "raw", "packbits": "packbits", "tiff_lzw": "lzw",
                     "tiff_deflate": "deflate", "tiff_adobe_deflate": "deflate"}
_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N"}
_ALPHA_MODES = {"LA", "La", "RGBA", "RGBa", "PA"}


@dataclasses.dataclass(frozen=True)
class ImageKind:
    """How an image file stores its pixels, and what of it to keep when writing it back.

    ``wide``: 16-bit colour (or 16-bit gray+alpha), read and written with PyAV.
    ``params``: Pillow ``save`` parameters carried over (ICC profile, DPI, EXIF, ...).
    """

    format: str
    size: tuple[int, int]
    gray: bool
    depth: int
    alpha: bool
    wide: bool = False
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def channels(self) -> int:
        """Colour channels: 1 for gray, 3 for RGB (alpha not counted)."""
        return 1 if self.gray else 3


def _png_header(path: Path) -> tuple[int, int]:
    """``(bit depth, colour type)`` from a PNG's IHDR."""
    with open(path, "rb") as file:
        head = file.read(26)
    return head[24], head[25]


def _tiff_bits(image: Any) -> tuple[int, int, int]:
    """``(bits per sample, samples per pixel, sample format)`` of a TIFF."""
    bits = image.tag_v2.get(258, 8)
    bits = max(bits) if isinstance(bits, tuple) else int(bits)
    samples = int(image.tag_v2.get(277, 1))
    sample_format = image.tag_v2.get(339, 1)
    sample_format = sample_format[0] if isinstance(sample_format, tuple) else sample_format
    return bits, samples, int(sample_format)


def _save_params(image: Any, fmt: str) -> dict[str, Any]:
    info = image.info
    params = {k: info[k] for k in ("icc_profile", "dpi") if info.get(k)}
    if image.mode in ("CMYK", "LAB"):  # written as RGB: the source's profile would lie
        params.pop("icc_profile", None)
    if fmt == "JPEG":
        params.update(quality=JPEG_QUALITY, subsampling=0)
        params.update({k: info[k] for k in ("exif", "progressive") if info.get(k)})
    elif fmt == "TIFF":
        params["compression"] = info.get("compression", "raw")
    elif fmt == "PNG" and image.mode in ("L", "RGB") and "transparency" in info:
        params["transparency"] = info["transparency"]
    return params


def _kind(image: Any, path: Path) -> ImageKind:
    fmt = _FORMATS.get(image.format or "")
    if fmt is None:
        raise ValueError(f"frame {path} is {image.format}; expected PNG, JPEG, TIFF or BMP")
    mode, size = image.mode, (image.height, image.width)
    if mode == "F" or (fmt == "TIFF" and _tiff_bits(image)[2] == 3):
        raise ValueError(f"frame {path}: float images are not supported (expected 8 or 16 "
                         "bits per sample)")
    gray, alpha = mode in _GRAY_MODES, mode in _ALPHA_MODES
    alpha = alpha or (mode == "P" and "transparency" in image.info)
    depth = 16 if mode.startswith("I") else 8
    wide = False
    if fmt == "PNG":
        bits, colour_type = _png_header(path)
        if bits == 16 and colour_type in (2, 4, 6):
            gray, alpha, depth, wide = colour_type == 4, colour_type != 2, 16, True
    elif fmt == "TIFF":
        bits, samples, _ = _tiff_bits(image)
        if bits > 8 and not mode.startswith("I"):
            gray, alpha, depth, wide = samples <= 2, samples in (2, 4), 16, True
    return ImageKind(fmt, size, gray, depth, alpha, wide, _save_params(image, fmt))


def _pil() -> Any:
    """``PIL.Image``; Pillow comes with the ``video`` extra (and the ``train`` one)."""
    return require("PIL.Image", extra="video", purpose="Reading and writing image frames")


def probe(path: Path) -> ImageKind:
    """The :class:`ImageKind` of ``path`` from its header (pixels are not decoded)."""
    with _pil().open(path) as image:
        return _kind(image, path)


def _pillow_arrays(image: Any, kind: ImageKind, path: Path) -> tuple[np.ndarray, Any]:
    if kind.depth == 16:  # 16-bit gray: I;16 variants, or I holding 16-bit values
        values = np.asarray(image)
        if values.min(initial=0) < 0 or values.max(initial=0) > 65535:
            raise ValueError(f"frame {path}: gray values beyond 16 bits are not supported")
        return values.astype(np.uint16)[..., None], None
    target = ("LA" if kind.alpha else "L") if kind.gray else ("RGBA" if kind.alpha else "RGB")
    values = np.asarray(image if image.mode == target else image.convert(target))
    if values.ndim == 2:
        values = values[..., None]
    if kind.alpha:
        return values[..., :-1], values[..., -1]
    return values, None


_WIDE_READ = {(False, False): "rgb48le", (False, True): "rgba64le", (True, False): "gray16le",
              (True, True): "ya16le"}


def _packed(frame: Any, channels: int) -> np.ndarray:
    plane = frame.planes[0]
    rows = np.frombuffer(plane, dtype="<u2").reshape(plane.height, -1)
    return rows[:, : frame.width * channels].reshape(frame.height, frame.width, channels).copy()


def _wide_arrays(path: Path, kind: ImageKind) -> tuple[np.ndarray, Any]:
    av = require("av", extra="video", purpose=f"Reading the 16-bit colour image {path}")

    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    target = _WIDE_READ[(kind.gray, kind.alpha)]
    if frame.format.name != target:
        frame = frame.reformat(format=target)
    values = _packed(frame, kind.channels + int(kind.alpha))
    if kind.alpha:
        return values[..., :-1], values[..., -1]
    return values, None


def read_image(path: Path) -> tuple[np.ndarray, np.ndarray | None, ImageKind]:
    """``(colour (H, W, 1 or 3), alpha (H, W) or None, kind)``, uint8 or uint16 codes."""
    with _pil().open(path) as image:
        kind = _kind(image, path)
        if kind.wide:
            colour, alpha = _wide_arrays(path, kind)
        else:
            colour, alpha = _pillow_arrays(image, kind, path)
    return colour, alpha, kind


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """``(type, whole chunk)`` of each chunk after the PNG signature."""
    chunks, at = [], 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        chunks.append((png[at + 4 : at + 8], png[at : at + 12 + length]))
        at += 12 + length
    return chunks


def _with_metadata(png: bytes, params: dict[str, Any]) -> bytes:
    """``png`` (from FFmpeg's encoder) with the source's ICC profile and DPI after IHDR.

    FFmpeg writes no iCCP, and a pHYs of the pixel aspect ratio instead of the DPI.
    """
    extra = []
    if params.get("icc_profile"):
        extra.append(_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(params["icc_profile"])))
    if params.get("dpi"):
        metres = [round(float(d) / 0.0254) for d in params["dpi"]]
        extra.append(_chunk(b"pHYs", struct.pack(">IIB", *metres, 1)))
    if not extra:
        return png
    kept = [c for kind, c in _chunks(png) if not (kind == b"pHYs" and params.get("dpi"))]
    return png[:8] + kept[0] + b"".join(extra) + b"".join(kept[1:])


def _write_wide(path: Path, values: np.ndarray, kind: ImageKind) -> None:
    av = require("av", extra="video", purpose=f"Writing the 16-bit colour image {path}")
    png = kind.format == "PNG"
    fmt = _WIDE_READ[(kind.gray, kind.alpha)]
    fmt = fmt.replace("le", "be") if png else fmt
    height, width, _ = values.shape
    frame = av.VideoFrame(width, height, fmt)
    rows = np.frombuffer(frame.planes[0], dtype=np.uint8).reshape(frame.planes[0].height, -1)
    data = np.ascontiguousarray(values, dtype=">u2" if png else "<u2").view(np.uint8)
    data = data.reshape(height, -1)
    rows[:, : data.shape[1]] = data
    context = av.CodecContext.create("png" if png else "tiff", "w")
    context.width, context.height, context.pix_fmt = width, height, fmt
    context.time_base = Fraction(1, 1)
    if not png:
        compression = kind.params.get("compression", "raw")
        context.options = {"compression_algo": _TIFF_COMPRESSION.get(compression, "deflate")}
        if kind.params.get("icc_profile"):
            warnings.warn("16-bit colour TIFF frames are written without their ICC profile",
                          stacklevel=4)
    data_out = b"".join(bytes(p) for p in [*context.encode(frame), *context.encode(None)])
    if png:
        data_out = _with_metadata(data_out, kind.params)
    with open(path, "wb") as file:  # a plain open: the user's umask applies
        file.write(data_out)


def write_image(path: Path, colour: np.ndarray, alpha: np.ndarray | None, kind: ImageKind
                ) -> None:
    """Write ``colour`` (H, W, channels) codes and ``alpha`` at ``path`` like ``kind``."""
    pil = _pil()
    values = colour if alpha is None else np.concatenate([colour, alpha[..., None]], axis=-1)
    if kind.wide:
        _write_wide(path, values, kind)
        return
    if kind.depth == 16:
        image = pil.fromarray(values[..., 0].astype(np.uint16))  # mode I;16
    else:  # L, LA, RGB or RGBA from the number of channels
        values = values.astype(np.uint8)
        image = pil.fromarray(values[..., 0] if values.shape[-1] == 1 else values)
    image.save(path, format=kind.format, **kind.params)
