"""The whole deblur() pipeline with a model that returns its input: the footage comes back.

An identity StreamingDeblurModel with a padding multiple of 4 (so odd sizes are padded
inside and cropped back, as for every real model) deblurs test videos made here: odd size,
10-bit, BT.709 tags, variable frame rate and AAC audio at once, losslessly; and a 16-bit
PNG folder. Everything must come back as it went in.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

av = pytest.importorskip("av")

from test_fidelity import audio_packets, decode, encode, random_planes  # noqa: E402
from test_folders_io import load_wide, save_wide  # noqa: E402

from rirn_layers.model import StreamingDeblurModel  # noqa: E402
from rirn_layers.video import deblur, open_reader  # noqa: E402

BT709 = {"color_primaries": 1, "color_trc": 1, "colorspace": 1, "color_range": 1}


class Identity(StreamingDeblurModel):
    scale = 4  # frames are padded to a multiple of 4 and cropped back

    def advance(self, frame, state, **inputs):
        return frame, state


def test_odd_10_bit_bt709_vfr_video_with_audio_comes_back_unchanged(tmp_path):
    pts = [0, 3600, 5400, 12600, 14400, 25200]  # 1/90000 s, irregular
    frames = random_planes("yuv420p10le", 35, 27, len(pts))
    encode(tmp_path / "in.mkv", frames, "yuv420p10le", "ffv1", tags=BT709, pts=pts,
           time_base=Fraction(1, 90000), audio=True)
    summary = deblur(Identity(), tmp_path / "in.mkv", tmp_path / "out.mkv", lossless=True,
                     progress=False)
    assert (summary.frames, summary.size) == (len(pts), (27, 35))
    out, want = decode(tmp_path / "out.mkv"), decode(tmp_path / "in.mkv")
    assert out["size"] == (27, 35) and out["fmt"] == "yuv420p10le"
    assert out["tags"] == want["tags"] and out["pts"] == want["pts"]
    assert len(out["planes"]) == len(want["planes"])
    for got, expected in zip(out["planes"], want["planes"], strict=True):
        for plane, reference in zip(got, expected, strict=True):
            np.testing.assert_array_equal(plane, reference)
    assert audio_packets(tmp_path / "out.mkv") == audio_packets(tmp_path / "in.mkv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "out.mkv"]


def test_a_16_bit_png_folder_stays_16_bit(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    rng = np.random.default_rng(0)
    pixels = [rng.integers(0, 65536, (13, 17, 3), dtype=np.uint16) for _ in range(2)]
    for index, image in enumerate(pixels):
        save_wide(source / f"{index}.png", image)
    deblur(Identity(), source, tmp_path / "out", progress=False)
    for index, image in enumerate(pixels):
        np.testing.assert_array_equal(load_wide(tmp_path / "out" / f"{index}.png"), image)
    assert len(open_reader(tmp_path / "out")) == 2
