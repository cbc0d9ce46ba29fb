"""Deblurring a user's footage: folders and video files, streaming, nothing partial."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

PIL = pytest.importorskip("PIL.Image")

from rirn_layers.baselines import build_model  # noqa: E402
from rirn_layers.video import deblur, open_reader  # noqa: E402
from rirn_layers.video.output import MANIFEST  # noqa: E402


def write_frames(folder: Path, count: int, size=(18, 22), start: int = 8) -> list[str]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"frame_{i}.png" for i in range(start, start + count)]  # natural order: 8, 9, 10
    for name in names:
        PIL.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(folder / name)
    return names


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("gru", irm=True, atb=True).eval()


def test_folder_in_folder_out_same_names_and_sizes(tmp_path, model):
    names = write_frames(tmp_path / "in", 4)
    assert deblur(model, tmp_path / "in", tmp_path / "out", progress=False).frames == 4
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([*names, MANIFEST])
    assert PIL.open(tmp_path / "out" / names[0]).size == (22, 18)


def test_streamed_frames_equal_the_whole_clip(tmp_path, model):
    write_frames(tmp_path / "in", 3)
    deblur(model, tmp_path / "in", tmp_path / "out", progress=False)
    reader = open_reader(tmp_path / "in")
    clip = torch.stack(list(reader)).unsqueeze(0)
    with torch.no_grad():
        whole, _ = model(clip)
    written = torch.stack(list(open_reader(tmp_path / "out")))
    expected = (whole[0].clamp(0, 1) * 255 + 0.5).floor() / 255
    torch.testing.assert_close(written, expected, atol=1.5 / 255, rtol=0)


def test_lookahead_model_gets_every_frame(tmp_path):
    torch.manual_seed(0)
    estrnn = build_model("estrnn", blocks=1, channels=10).eval()
    write_frames(tmp_path / "in", 3, size=(16, 16))
    assert deblur(estrnn, tmp_path / "in", tmp_path / "out", progress=False).frames == 3


def test_unreadable_frame_leaves_nothing(tmp_path, model):
    names = write_frames(tmp_path / "in", 3)
    (tmp_path / "in" / names[1]).write_bytes(b"not a png")
    with pytest.raises(ValueError, match=f"cannot read frame .*{names[1]}"):
        deblur(model, tmp_path / "in", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in"]  # no temporary left either


def test_empty_and_missing_inputs(tmp_path, model):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no frames"):
        deblur(model, tmp_path / "empty", tmp_path / "out", progress=False)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        deblur(model, tmp_path / "nope", tmp_path / "out", progress=False)


def test_video_file_round_trip(tmp_path, model):
    av = pytest.importorskip("av")
    source = tmp_path / "in.mp4"
    with av.open(str(source), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        rng = np.random.default_rng(0)
        for _ in range(5):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (24, 32, 3), np.uint8),
                                               format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    assert deblur(model, source, tmp_path / "out.mp4", progress=False).frames == 5
    frames = list(open_reader(tmp_path / "out.mp4"))
    assert len(frames) == 5 and frames[0].shape == (3, 24, 32)


def test_cli_rejects_a_checkpoint_of_nothing(tmp_path):
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "examples" / "deblur_video.py"
    spec = importlib.util.spec_from_file_location("deblur_video", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (tmp_path / "bad.pt").write_bytes(b"\x00" * 100)
    write_frames(tmp_path / "in", 2)
    args = ["--checkpoint", str(tmp_path / "bad.pt"), "--input", str(tmp_path / "in"),
            "--output", str(tmp_path / "out"), "--no-progress"]
    assert module.main(args) == 2  # one line on stderr
    with pytest.raises(ValueError, match="bad.pt"):
        module.main([*args, "--debug"])
    assert not (tmp_path / "out").exists()
