"""Folders of frames written back faithfully: names, formats, bit depths, gray, alpha.

The "model" is the identity (or a plain darkening, to see the alpha channel kept); the
frames are made here with numpy, Pillow and PyAV's png/tiff encoders.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

Image = pytest.importorskip("PIL.Image")
av = pytest.importorskip("av")

from rirn_layers.video.io import JPEG_QUALITY, open_reader, open_writer  # noqa: E402


def save_wide(path: Path, values: np.ndarray) -> None:
    """A 16-bit colour PNG or TIFF (Pillow cannot write one): via FFmpeg's encoders."""
    png = path.suffix == ".png"
    channels = values.shape[-1]
    fmt = {3: "rgb48", 4: "rgba64"}[channels] + ("be" if png else "le")
    frame = av.VideoFrame.from_ndarray(values.astype(np.uint16), format=fmt[:-2] + "le")
    frame = frame.reformat(format=fmt) if png else frame
    context = av.CodecContext.create("png" if png else "tiff", "w")
    context.width, context.height, context.pix_fmt = values.shape[1], values.shape[0], fmt
    context.time_base = Fraction(1, 1)
    path.write_bytes(b"".join(bytes(p) for p in [*context.encode(frame), *context.encode(None)]))


def load_wide(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    name = frame.format.name
    target = {"rgb48be": "rgb48le", "rgba64be": "rgba64le"}.get(name, name)
    return frame.reformat(format=target).to_ndarray()


def run_identity(source: Path, target: Path, change=None, **options) -> list[str]:
    """Write every frame of ``source`` (through ``change``) into the new folder ``target``."""
    target.mkdir()
    reader = open_reader(source)
    writer = open_writer(target, like=reader, **options)
    for frame in reader:
        writer.write(frame if change is None else change(frame))
    writer.close()
    assert writer.count == len(reader)
    return reader.names


def test_16_bit_png_and_tiff_stay_16_bit_and_exact(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "in").mkdir()
    colour = rng.integers(0, 65536, (9, 13, 3))
    save_wide(tmp_path / "in" / "a.png", colour)
    save_wide(tmp_path / "in" / "b.tif", colour[::-1])
    gray = np.full((9, 13), round(0.375 * 65535), np.uint16)  # used to come back as 1.0
    gray[0, :4] = [0, 1, 65534, 65535]
    Image.fromarray(gray).save(tmp_path / "in" / "c.png")
    Image.fromarray(gray).save(tmp_path / "in" / "d.tif")
    reader = open_reader(tmp_path / "in")
    assert reader.info.bit_depth == 16
    frames = list(reader)
    torch.testing.assert_close(frames[0], torch.from_numpy(colour / 65535).permute(2, 0, 1).float())
    assert abs(frames[2][:, 1:].mean().item() - 0.375) < 1e-4
    run_identity(tmp_path / "in", tmp_path / "out")
    np.testing.assert_array_equal(load_wide(tmp_path / "out" / "a.png"), colour)
    np.testing.assert_array_equal(load_wide(tmp_path / "out" / "b.tif"), colour[::-1])
    for name in ("c.png", "d.tif"):
        with Image.open(tmp_path / "out" / name) as image:
            assert image.mode == "I;16"
            np.testing.assert_array_equal(np.asarray(image), gray)


def test_jpeg_is_written_at_high_quality_without_subsampling(tmp_path):
    from PIL import JpegImagePlugin

    (tmp_path / "in").mkdir()
    y, x = np.mgrid[0:64, 0:96]
    smooth = np.stack([120 + 80 * np.sin(x / 7), 120 + 80 * np.cos(y / 5),
                       100 + 50 * np.sin((x + y) / 9)], axis=-1).round().astype(np.uint8)
    Image.fromarray(smooth).save(tmp_path / "in" / "f.jpg", quality=75)  # a typical source
    run_identity(tmp_path / "in", tmp_path / "out")
    with Image.open(tmp_path / "in" / "f.jpg") as source, \
            Image.open(tmp_path / "out" / "f.jpg") as written:
        assert written.format == "JPEG"
        assert JpegImagePlugin.get_sampling(written) == 0  # 4:4:4
        luma_table, source_table = written.quantization[0], source.quantization[0]
        assert luma_table[0] <= 2 and max(luma_table) <= 12  # quality 95 (75: 8 and 60)
        assert max(source_table) > 40
        error = np.asarray(written, np.float64) - np.asarray(source, np.float64)
        assert 10 * np.log10(255**2 / np.mean(error**2)) > 40
    assert JPEG_QUALITY == 95


def test_names_formats_and_natural_order_are_kept(tmp_path):
    (tmp_path / "in").mkdir()
    rng = np.random.default_rng(1)
    names = ["frame_9.png", "frame_10.bmp", "frame_11.tif", "frame_12.jpeg", "frame_100.PNG"]
    for name in names:
        pixels = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "in" / name)
    (tmp_path / "in" / ".hidden.png").write_bytes(b"not a frame")
    (tmp_path / "in" / "notes.txt").write_text("not a frame")
    assert run_identity(tmp_path / "in", tmp_path / "out") == names
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(names)
    for name in names:
        with Image.open(tmp_path / "in" / name) as source, \
                Image.open(tmp_path / "out" / name) as written:
            assert (written.format, written.mode, written.size) == (
                source.format, source.mode, source.size)
            if source.format != "JPEG":
                np.testing.assert_array_equal(np.asarray(written), np.asarray(source))


def test_gray_is_read_as_three_channels_and_written_back_gray(tmp_path):
    (tmp_path / "in").mkdir()
    gray = np.random.default_rng(2).integers(0, 256, (7, 5), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "in" / "g.png")
    reader = open_reader(tmp_path / "in")
    assert reader.info.chroma == "4:0:0"
    (frame,) = list(reader)
    assert frame.shape == (3, 7, 5) and torch.equal(frame[0], frame[2])
    run_identity(tmp_path / "in", tmp_path / "out")
    with Image.open(tmp_path / "out" / "g.png") as written:
        assert written.mode == "L"
        np.testing.assert_array_equal(np.asarray(written), gray)


def test_alpha_is_copied_unchanged_and_palettes_become_rgb(tmp_path):
    (tmp_path / "in").mkdir()
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (6, 9, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "in" / "a.png")
    wide = rng.integers(0, 65536, (6, 9, 4))
    save_wide(tmp_path / "in" / "b.png", wide)
    Image.fromarray(rgba[..., :3]).convert("P").save(tmp_path / "in" / "c.png")
    reader = open_reader(tmp_path / "in")
    assert reader.info.alpha
    run_identity(tmp_path / "in", tmp_path / "out", change=lambda frame: frame * 0.5)
    with Image.open(tmp_path / "out" / "a.png") as written:
        assert written.mode == "RGBA"
        values = np.asarray(written)
    np.testing.assert_array_equal(values[..., 3], rgba[..., 3])
    np.testing.assert_array_equal(values[..., :3], np.round(rgba[..., :3] / 2))
    written_wide = load_wide(tmp_path / "out" / "b.png")
    np.testing.assert_array_equal(written_wide[..., 3], wide[..., 3])
    with Image.open(tmp_path / "out" / "c.png") as written:
        assert written.mode == "RGB"


def test_icc_profile_dpi_and_exif_are_kept(tmp_path):
    (tmp_path / "in").mkdir()
    icc = b"\x00" * 128 + b"not a real profile, carried as bytes"
    exif = Image.Exif()
    exif[0x010F] = "rirn test camera"  # Make
    pixels = np.random.default_rng(4).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "in" / "a.jpg", icc_profile=icc, dpi=(300, 300),
                                 exif=exif)
    Image.fromarray(pixels).save(tmp_path / "in" / "b.png", icc_profile=icc, dpi=(72, 72))
    run_identity(tmp_path / "in", tmp_path / "out")
    for name in ("a.jpg", "b.png"):
        with Image.open(tmp_path / "in" / name) as source, \
                Image.open(tmp_path / "out" / name) as written:
            assert written.info["icc_profile"] == icc
            assert written.info["dpi"] == pytest.approx(source.info["dpi"])
    with Image.open(tmp_path / "out" / "a.jpg") as written:
        assert written.getexif()[0x010F] == "rirn test camera"


def test_permissions_follow_the_umask(tmp_path):
    (tmp_path / "in").mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "in" / "x.png")
    save_wide(tmp_path / "in" / "y.png", np.zeros((4, 4, 3)))
    old = os.umask(0o027)
    try:
        run_identity(tmp_path / "in", tmp_path / "out")
    finally:
        os.umask(old)
    for name in ("x.png", "y.png"):
        assert (tmp_path / "out" / name).stat().st_mode & 0o777 == 0o640


def test_folder_writer_errors(tmp_path):
    (tmp_path / "in").mkdir()
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(tmp_path / "in" / "x.jpg")
    reader = open_reader(tmp_path / "in")
    with pytest.raises(ValueError, match=r"a folder of frames .* cannot be written as .*out\.mp4"):
        open_writer(tmp_path / "out.mp4", like=reader)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old.png").write_bytes(b"")
    with pytest.raises(ValueError, match="full is not empty"):
        open_writer(tmp_path / "full", like=reader)
    (tmp_path / "out").mkdir()
    with pytest.raises(ValueError, match="holds JPEG frames .*cannot be written losslessly"):
        open_writer(tmp_path / "out", like=reader, lossless=True)
    with pytest.raises(ValueError, match="codec= and crf= apply to video outputs"):
        open_writer(tmp_path / "out", like=reader, crf=18)
    writer = open_writer(tmp_path / "out", like=reader)
    with pytest.raises(ValueError, match=r"expected shape \(3, 4, 6\)"):
        writer.write(torch.zeros(3, 6, 4))
    writer.write(torch.zeros(3, 4, 6))
    with pytest.raises(ValueError, match="one more than the 1 frames"):
        writer.write(torch.zeros(3, 4, 6))
    writer.close()
    (tmp_path / "in" / "x.jpg").write_bytes(b"broken")
    with pytest.raises(ValueError, match=r"cannot read frame .*x\.jpg"):
        list(open_reader(tmp_path / "in"))
