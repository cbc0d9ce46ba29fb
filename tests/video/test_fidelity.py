"""Video files written back faithfully: size, planes, colour tags, depth, pts, streams.

The "model" is the identity: every test reads a small clip made here with PyAV, writes
the frames back with :func:`open_writer`, and compares the decoded output with the source.
"""

from __future__ import annotations

import os
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

av = pytest.importorskip("av")

from rirn_layers.video.colour import YuvSpec, rgb_to_yuv, yuv_to_rgb  # noqa: E402
from rirn_layers.video.io import open_reader, open_writer  # noqa: E402

BT709 = {"color_primaries": 1, "color_trc": 1, "colorspace": 1, "color_range": 1}
X264_LOSSLESS = {"qp": "0"}


def plane_shapes(fmt: str, width: int, height: int) -> list[tuple[int, int]]:
    """``(rows, columns)`` of each plane; subsampled chroma rounds up for odd sizes."""
    described = av.VideoFormat(fmt)
    chroma = (described.chroma_height(height), described.chroma_width(width))
    count = len(av.VideoFrame(width, height, fmt).planes)
    return [(height, width)] + [chroma] * (count - 1)


def dtype_of(fmt: str) -> np.dtype:
    return np.dtype("<u2" if av.VideoFormat(fmt).components[0].bits > 8 else np.uint8)


def random_planes(fmt: str, width: int, height: int, count: int, seed: int = 0,
                  ) -> list[list[np.ndarray]]:
    """Random code planes (the whole code range: out-of-gamut YUV included)."""
    rng = np.random.default_rng(seed)
    top = 2 ** av.VideoFormat(fmt).components[0].bits
    return [[rng.integers(0, top, shape).astype(dtype_of(fmt))
             for shape in plane_shapes(fmt, width, height)] for _ in range(count)]


def encode(path: Path, frames: list[list[np.ndarray]], fmt: str, codec: str, *,
           rate: Fraction | int = 25, options: dict | None = None, tags: dict | None = None,
           pts: list[int] | None = None, time_base: Fraction | None = None,
           audio: bool = False) -> None:
    """Write ``frames`` (lists of code planes) as a clip; optionally with AAC stereo audio."""
    height, width = frames[0][0].shape
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, fmt
        context = stream.codec_context
        context.options = dict(options or {})
        if time_base is not None:
            context.time_base = stream.time_base = time_base
        for key, value in (tags or {}).items():
            setattr(context, key, value)
        sound = container.add_stream("aac", rate=48000) if audio else None
        for index, planes in enumerate(frames):
            frame = av.VideoFrame(width, height, fmt)
            for plane, data in zip(frame.planes, planes, strict=True):
                rows = np.frombuffer(plane, dtype=data.dtype).reshape(data.shape[0], -1)
                rows[:, : data.shape[1]] = data
            frame.pts = index if pts is None else pts[index]
            for key, value in (tags or {}).items():
                if hasattr(frame, key):  # PyAV < 18 frames have no primaries and transfer
                    setattr(frame, key, value)
            container.mux(stream.encode(frame))
        if sound is not None:
            seconds = np.arange(48000 * len(frames) // int(rate)) / 48000
            wave = np.stack([np.sin(2 * np.pi * 440 * seconds), np.sin(2 * np.pi * 660 * seconds)])
            chunk = av.AudioFrame.from_ndarray((0.3 * wave).astype(np.float32), format="fltp",
                                               layout="stereo")
            chunk.sample_rate, chunk.pts = 48000, 0
            container.mux(sound.encode(chunk))
            container.mux(sound.encode())
        container.mux(stream.encode())


def decode(path: Path) -> dict:
    """Planes, pts (seconds), pixel format, codec and colour tags of a clip's video."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        first = frames[0]
        return {
            "planes": [[np.frombuffer(p, dtype_of(f.format.name)).reshape(rows, -1)[:, :columns]
                        .copy() for p, (rows, columns) in zip(
                            f.planes, plane_shapes(f.format.name, f.width, f.height),
                            strict=True)] for f in frames],
            "pts": [f.pts * f.time_base for f in frames],
            "fmt": first.format.name,
            "codec": stream.codec_context.name,
            "size": (first.height, first.width),
            "tags": tuple(getattr(first, name, getattr(stream.codec_context, name))
                          for name in ("color_primaries", "color_trc", "colorspace",
                                       "color_range")),
            "rate": stream.average_rate,
        }


def audio_packets(path: Path) -> list[tuple[bytes, Fraction]]:
    with av.open(str(path)) as container:
        return [(bytes(p), p.pts * p.time_base) for p in container.demux(audio=0) if p.size]


def identity(source: Path, target: Path, **options) -> int:
    """Read ``source`` and write every frame unchanged to ``target``; the frame count."""
    reader = open_reader(source)
    writer = open_writer(target, like=reader, **options)
    try:
        for frame in reader:
            writer.write(frame)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return writer.count


def assert_planes_equal(got: list[list[np.ndarray]], want: list[list[np.ndarray]]) -> None:
    assert len(got) == len(want)
    for index, (planes, expected) in enumerate(zip(got, want, strict=True)):
        for plane, reference in zip(planes, expected, strict=True):
            np.testing.assert_array_equal(plane, reference, err_msg=f"frame {index}")


@pytest.mark.parametrize("shift, depth", [((1, 1), 8), ((0, 0), 10), ((1, 0), 16)])
@pytest.mark.parametrize("full_range", [False, True])
@pytest.mark.parametrize("matrix", [1, 6, 9])
def test_yuv_rgb_yuv_is_exact_for_every_code(shift, depth, full_range, matrix):
    spec = YuvSpec(matrix, full_range, depth)
    rng = np.random.default_rng(depth)
    height, width = 9, 11  # odd: cut chroma blocks at the edges
    luma = torch.from_numpy(rng.integers(0, 2**depth, (height, width)).astype(np.float32))
    chroma_shape = (-(-height // 2 ** shift[1]), -(-width // 2 ** shift[0]))
    cb, cr = (torch.from_numpy(rng.integers(0, 2**depth, chroma_shape).astype(np.float32))
              for _ in range(2))
    rgb = yuv_to_rgb(luma, cb, cr, spec, shift)
    for got, want in zip(rgb_to_yuv(rgb, spec, shift), (luma, cb, cr), strict=True):
        torch.testing.assert_close(got.float(), want, rtol=0, atol=0)


def test_odd_size_is_kept_without_resampling(tmp_path):
    width, height = 175, 143
    frames = random_planes("yuv420p", width, height, 3)
    for planes in frames:  # luma: columns alternating 16 / 235 (black / white)
        planes[0][:] = np.where(np.arange(width) % 2, 235, 16).astype(np.uint8)
    frames[0][1][:] = frames[0][2][:] = 128  # the first frame gray: RGB columns 0 / 1
    encode(tmp_path / "in.mkv", frames, "yuv420p", "ffv1")
    reader = open_reader(tmp_path / "in.mkv")
    first = next(iter(reader))
    assert first.shape == (3, height, width)
    assert torch.unique(first).tolist() == [0.0, 1.0]
    assert torch.equal(first[:, :, 1::2], torch.ones(3, height, width // 2))
    assert identity(tmp_path / "in.mkv", tmp_path / "out.mkv", lossless=True) == 3
    out = decode(tmp_path / "out.mkv")
    assert out["size"] == (height, width) and out["fmt"] == "yuv420p"
    assert_planes_equal(out["planes"], frames)
    # libx264 cannot store odd 4:2:0: 4:4:4, the chroma repeated, never resampled
    assert identity(tmp_path / "in.mkv", tmp_path / "out.mp4", lossless=True) == 3
    out = decode(tmp_path / "out.mp4")
    assert out["size"] == (height, width) and out["fmt"] == "yuv444p"
    for planes, source in zip(out["planes"], frames, strict=True):
        np.testing.assert_array_equal(planes[0], source[0])
        assert set(np.unique(planes[0])) == {16, 235}
        for plane, small in zip(planes[1:], source[1:], strict=True):
            repeated = small.repeat(2, axis=0).repeat(2, axis=1)[:height, :width]
            np.testing.assert_array_equal(plane, repeated)


def test_bt709_tags_kept_and_a_red_patch_round_trips(tmp_path):
    rgb = np.zeros((36, 64, 3), np.uint8)
    rgb[:] = (200, 30, 30)
    source = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
    planes = [np.frombuffer(p, np.uint8).reshape(p.height, -1)[:, : p.width].copy()
              for p in source.planes]
    encode(tmp_path / "in.mp4", [planes] * 3, "yuv420p", "libx264", options=X264_LOSSLESS,
           tags=BT709)
    reader = open_reader(tmp_path / "in.mp4")
    assert reader.info.colour.names() == {"primaries": "bt709", "transfer": "bt709",
                                          "matrix": "bt709", "range": "tv"}
    assert reader.info.yuv == "bt709 tv 8-bit"
    patch = next(iter(reader)).mean((1, 2)) * 255
    torch.testing.assert_close(patch, torch.tensor([200.0, 30.0, 30.0]), atol=1.0, rtol=0)
    identity(tmp_path / "in.mp4", tmp_path / "out.mp4", lossless=True)
    out, want = decode(tmp_path / "out.mp4"), decode(tmp_path / "in.mp4")
    assert out["tags"] == want["tags"] == (1, 1, 1, 1)
    assert_planes_equal(out["planes"], want["planes"])
    again = next(iter(open_reader(tmp_path / "out.mp4"))).mean((1, 2)) * 255
    torch.testing.assert_close(again, torch.tensor([200.0, 30.0, 30.0]), atol=1.0, rtol=0)


@pytest.mark.parametrize("codec, suffix, options", [
    ("libx264", ".mp4", X264_LOSSLESS),
    ("libx265", ".mkv", {"x265-params": "lossless=1:log-level=error"}),
])
def test_10_bit_stays_10_bit_and_bit_exact(tmp_path, codec, suffix, options):
    frames = random_planes("yuv420p10le", 48, 32, 3)
    encode(tmp_path / f"in{suffix}", frames, "yuv420p10le", codec, options=options)
    reader = open_reader(tmp_path / f"in{suffix}")
    assert reader.info.bit_depth == 10 and reader.info.chroma == "4:2:0"
    identity(tmp_path / f"in{suffix}", tmp_path / f"out{suffix}", lossless=True)
    out = decode(tmp_path / f"out{suffix}")
    assert out["fmt"] == "yuv420p10le"
    assert_planes_equal(out["planes"], decode(tmp_path / f"in{suffix}")["planes"])


@pytest.mark.parametrize("lossless", [True, False])
def test_variable_frame_rate_keeps_every_pts(tmp_path, lossless):
    pts = [0, 3000, 9000, 9900, 15000, 27000, 28500]  # 1/90000 s: irregular steps
    frames = random_planes("yuv420p", 32, 24, len(pts))
    encode(tmp_path / "in.mp4", frames, "yuv420p", "libx264", options=X264_LOSSLESS, pts=pts,
           time_base=Fraction(1, 90000))
    assert identity(tmp_path / "in.mp4", tmp_path / "out.mp4", lossless=lossless) == len(pts)
    out, want = decode(tmp_path / "out.mp4"), decode(tmp_path / "in.mp4")
    assert out["pts"] == want["pts"] == [Fraction(p, 90000) for p in pts]
    assert len(out["planes"]) == len(pts)


def test_aac_audio_packets_are_copied_unchanged(tmp_path):
    frames = random_planes("yuv420p", 32, 24, 10)
    encode(tmp_path / "in.mp4", frames, "yuv420p", "libx264", options=X264_LOSSLESS, audio=True)
    reader = open_reader(tmp_path / "in.mp4")
    assert reader.info.has_audio and reader.info.streams == ("audio:aac",)
    source = audio_packets(tmp_path / "in.mp4")
    assert len(source) > 5
    identity(tmp_path / "in.mp4", tmp_path / "out.mp4")
    assert audio_packets(tmp_path / "out.mp4") == source  # same bytes, same pts
    with av.open(str(tmp_path / "out.mp4")) as container:
        (sound,) = container.streams.audio
        assert (sound.codec_context.name, sound.codec_context.channels) == ("aac", 2)
    # Matroska cannot store AAC's negative priming time: the muxer shifts every stream
    identity(tmp_path / "in.mp4", tmp_path / "out.mkv")
    copied = audio_packets(tmp_path / "out.mkv")
    assert [data for data, _ in copied] == [data for data, _ in source]
    shift = copied[0][1] - source[0][1]
    video_shift = decode(tmp_path / "out.mkv")["pts"][0] - decode(tmp_path / "in.mp4")["pts"][0]
    assert abs(shift - video_shift) <= Fraction(1, 1000)  # audio and video stay in sync


def test_subtitles_are_copied_or_refused_plainly(tmp_path):
    if not hasattr(av.container.OutputContainer, "add_mux_stream"):
        pytest.skip("making a subtitle stream needs PyAV >= 18")
    with av.open(str(tmp_path / "in.mkv"), "w") as container:
        video = container.add_stream("ffv1", rate=25)
        video.width, video.height = 32, 24
        text = container.add_mux_stream("subrip")
        text.time_base = Fraction(1, 1000)
        for index in range(3):
            frame = av.VideoFrame(32, 24, "yuv420p")
            frame.pts = index
            container.mux(video.encode(frame))
        cue = av.Packet(b"Hello, world")
        cue.stream, cue.time_base, cue.pts, cue.dts, cue.duration = text, text.time_base, 40, 40, 80
        container.mux(cue)
        container.mux(video.encode())
    assert open_reader(tmp_path / "in.mkv").info.streams == ("subtitle:srt",)
    identity(tmp_path / "in.mkv", tmp_path / "out.mkv")
    with av.open(str(tmp_path / "out.mkv")) as container:
        cues = [(bytes(p), p.pts * p.time_base) for p in container.demux(subtitles=0) if p.size]
    assert cues == [(b"Hello, world", Fraction(40, 1000))]
    with pytest.raises(ValueError, match=r"\.mp4 container cannot hold subtitle stream #1 \(srt\)"):
        open_writer(tmp_path / "out.mp4", like=open_reader(tmp_path / "in.mkv"))


@pytest.mark.parametrize("fmt, codec, options, tags", [
    ("gbrp10le", "ffv1", {}, (2, 2, 0, 2)),  # RGB: stored as RGB, tagged so
    ("yuvj420p", "libx264", X264_LOSSLESS, (2, 2, 2, 2)),  # full range: yuv420p tagged pc
])
def test_rgb_and_full_range_sources_round_trip(tmp_path, fmt, codec, options, tags):
    frames = random_planes(fmt, 30, 20, 2)
    encode(tmp_path / "in.mkv", frames, fmt, codec, options=options)
    identity(tmp_path / "in.mkv", tmp_path / "out.mkv", lossless=True)
    out = decode(tmp_path / "out.mkv")
    assert out["fmt"] == fmt.replace("yuvj", "yuv") and out["tags"] == tags
    assert_planes_equal(out["planes"], frames)


def test_audio_the_container_cannot_hold_is_refused_before_writing(tmp_path):
    encode(tmp_path / "in.mp4", random_planes("yuv420p", 32, 24, 3), "yuv420p", "libx264",
           audio=True)
    reader = open_reader(tmp_path / "in.mp4")
    with pytest.raises(ValueError, match=r"out\.webm: the \.webm container cannot hold audio "
                                         r"stream #1 \(aac\) of .*in\.mp4; write \.mkv"):
        open_writer(tmp_path / "out.webm", like=reader)
    assert not (tmp_path / "out.webm").exists()


@pytest.mark.parametrize("suffix, codec, options", [
    (".mp4", "libx264", X264_LOSSLESS),
    (".mov", "libx264", X264_LOSSLESS),
    (".mkv", "ffv1", {}),
    (".webm", "libvpx-vp9", {"lossless": "1"}),
])
def test_each_container_round_trips_losslessly(tmp_path, suffix, codec, options):
    frames = random_planes("yuv420p", 32, 24, 4)
    encode(tmp_path / f"in{suffix}", frames, "yuv420p", codec, options=options,
           rate=Fraction(30000, 1001))
    old = os.umask(0o022)
    try:
        assert identity(tmp_path / f"in{suffix}", tmp_path / f"out{suffix}", lossless=True) == 4
    finally:
        os.umask(old)
    assert (tmp_path / f"out{suffix}").stat().st_mode & 0o777 == 0o644  # the umask, not 0600
    out, want = decode(tmp_path / f"out{suffix}"), decode(tmp_path / f"in{suffix}")
    assert out["codec"] == {".webm": "vp9", ".mkv": "ffv1"}.get(suffix, "h264")
    assert out["pts"] == want["pts"] and out["rate"] == want["rate"]
    assert_planes_equal(out["planes"], frames)


def smooth_clip(count: int, height: int = 48, width: int = 64) -> list[list[np.ndarray]]:
    """Moving gradients, as a camera would see them (random noise does not compress)."""
    y, x = np.mgrid[0:height, 0:width]
    frames = []
    for t in range(count):
        luma = 60 + 60 * np.sin((x + 2 * t) / 9.0) + 40 * np.cos(y / 7.0)
        cb = 128 + 30 * np.sin((x[::2, ::2] - t) / 11.0)
        cr = 128 + 30 * np.cos(y[::2, ::2] / 5.0)
        frames.append([a.round().clip(16, 240).astype(np.uint8) for a in (luma, cb, cr)])
    return frames


def psnr(got: np.ndarray, want: np.ndarray) -> float:
    error = np.mean((got.astype(np.float64) - want.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(error, 1e-12)))


def test_default_mode_is_close_and_keeps_tags_and_count(tmp_path):
    frames = smooth_clip(8)
    encode(tmp_path / "in.mp4", frames, "yuv420p", "libx264", options=X264_LOSSLESS,
           tags=BT709)
    assert identity(tmp_path / "in.mp4", tmp_path / "out.mp4") == 8
    out = decode(tmp_path / "out.mp4")
    assert out["codec"] == "h264" and out["fmt"] == "yuv420p" and out["tags"] == (1, 1, 1, 1)
    assert len(out["planes"]) == 8
    for planes, source in zip(out["planes"], frames, strict=True):
        assert psnr(planes[0], source[0]) > 40
        assert min(psnr(p, s) for p, s in zip(planes[1:], source[1:], strict=True)) > 40


def test_12_bit_goes_to_hevc_and_webm_10_bit_warns_of_its_fallback(tmp_path):
    frames = random_planes("yuv420p12le", 32, 24, 2)
    encode(tmp_path / "in.mkv", frames, "yuv420p12le", "ffv1")
    identity(tmp_path / "in.mkv", tmp_path / "out.mp4", lossless=True)
    out = decode(tmp_path / "out.mp4")
    assert (out["codec"], out["fmt"]) == ("hevc", "yuv420p12le")
    assert_planes_equal(out["planes"], frames)
    encode(tmp_path / "ten.mkv", random_planes("yuv420p10le", 32, 24, 2), "yuv420p10le",
           "ffv1")
    with pytest.warns(UserWarning, match=r"libvpx-vp9 here cannot store the source's "
                                         r"yuv420p10le; writing yuv420p \(10-bit -> 8-bit\)"):
        identity(tmp_path / "ten.mkv", tmp_path / "out.webm", lossless=True)
    assert decode(tmp_path / "out.webm")["fmt"] == "yuv420p"


def test_rotation_and_untagged_defaults(tmp_path):
    if not hasattr(av.video.stream.VideoStream, "set_display_rotation"):
        pytest.skip("rotation metadata needs PyAV >= 18")
    frames = random_planes("yuv420p", 32, 24, 2)
    path = tmp_path / "in.mp4"
    with av.open(str(path), "w") as container:  # a phone's portrait clip: rotation metadata
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height = 32, 24
        stream.set_display_rotation(90)
        for index in range(2):
            frame = av.VideoFrame(32, 24, "yuv420p")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    reader = open_reader(path)
    assert reader.info.rotation == 90
    assert reader.info.yuv == "smpte170m tv 8-bit"  # untagged SD: BT.601, limited range
    identity(path, tmp_path / "out.mkv")
    assert open_reader(tmp_path / "out.mkv").info.rotation == 90
    assert decode(tmp_path / "out.mkv")["tags"] == decode(path)["tags"]  # untagged stays so
    del frames


def test_writer_errors_are_one_line_and_write_nothing(tmp_path):
    encode(tmp_path / "in.mp4", random_planes("yuv420p", 32, 24, 2), "yuv420p", "libx264")
    reader = open_reader(tmp_path / "in.mp4")
    with pytest.raises(ValueError, match=r"suffix '\.avi'; expected one of \.mp4, \.mov"):
        open_writer(tmp_path / "out.avi", like=reader)
    with pytest.raises(ValueError, match=r"the \.webm container cannot hold libx264"):
        open_writer(tmp_path / "out.webm", like=reader, codec="libx264")
    with pytest.raises(ValueError, match="crf= and lossless=True exclude each other"):
        open_writer(tmp_path / "out.mp4", like=reader, crf=20, lossless=True)
    with pytest.raises(ValueError, match="cannot be written into the folder"):
        open_writer(tmp_path, like=reader)
    with pytest.raises(TypeError, match="like: expected a reader"):
        open_writer(tmp_path / "out.mp4", like="in.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]
    writer = open_writer(tmp_path / "out.mkv", like=reader, codec="libx265", crf=30)
    with pytest.raises(ValueError, match=r"expected shape \(3, 24, 32\) \(the source's size\), "
                                         r"got \(3, 24, 30\)"):
        writer.write(torch.zeros(3, 24, 30))
    writer.abort()
    writer.abort()
    with pytest.raises(ValueError, match=r"out\.mp4: no frames were written"):
        open_writer(tmp_path / "out.mp4", like=reader).close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_reader_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mp4 does not exist"):
        open_reader(tmp_path / "nope.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="cannot read video .*junk.mp4"):
        open_reader(tmp_path / "junk.mp4")


def test_close_is_idempotent_and_reading_twice_gives_the_same_frames(tmp_path):
    encode(tmp_path / "in.mkv", random_planes("yuv420p", 32, 24, 3), "yuv420p", "ffv1")
    reader = open_reader(tmp_path / "in.mkv")
    first, second = list(reader), list(reader)
    assert len(first) == 3 and all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    writer = open_writer(tmp_path / "out.mkv", like=reader, lossless=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for frame in first:
            writer.write(frame)
        writer.close()
        writer.close()
    assert writer.count == 3
    with pytest.raises(ValueError, match="write\\(\\) after close\\(\\)"):
        writer.write(first[0])
