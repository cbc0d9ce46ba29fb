"""examples/before_after.py draws blurry | restored | sharp of a checkpoint, with PSNRs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("skimage")
pytest.importorskip("kornia")
Image = pytest.importorskip("PIL.Image")

from rirn_layers.train.loop import TrainConfig, train  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "before_after.py"


def load():
    spec = importlib.util.spec_from_file_location("before_after", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GRU+IRM+ATB trained for two tiny steps."""
    out = tmp_path_factory.mktemp("run")
    train(TrainConfig(out=str(out), steps=2, batch_size=1, clip_length=3, chunk=3, crop=32,
                      val_every=2, val_clips=1, val_crop=32, progress=False, log_images=False))
    return out / "last.pt"


@pytest.mark.slow  # trains a checkpoint: about 15 s on 2 cores
@pytest.mark.parametrize("frames", [1, 2])
def test_writes_a_labelled_picture_about_900_px_wide(checkpoint, tmp_path, capsys, frames):
    out = tmp_path / "img" / "before_after.png"
    load().main(["--checkpoint", str(checkpoint), "--out", str(out), "--frames", str(frames),
                 "--clip-length", "3", "--crop", "48", "--device", "cpu"])
    with Image.open(out) as picture:
        width, height = picture.size
        left, middle, right = (picture.getpixel((x, 180)) for x in (150, 450, 750))
    assert 850 <= width <= 950
    assert height > frames * 250  # the tiles keep their aspect ratio
    assert len({left, middle, right}) > 1  # three different images
    text = capsys.readouterr().out
    assert f"wrote {out}" in text and "dB PSNR" in text


@pytest.mark.slow
def test_never_overwrites_without_the_flag(checkpoint, tmp_path):
    out = tmp_path / "before_after.png"
    out.write_bytes(b"keep")
    args = ["--checkpoint", str(checkpoint), "--out", str(out), "--frames", "1",
            "--clip-length", "2", "--crop", "32", "--device", "cpu"]
    with pytest.raises(SystemExit, match="--overwrite"):
        load().main(args)
    assert out.read_bytes() == b"keep"
    load().main([*args, "--overwrite"])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_psnr_labels_are_the_metric_of_the_frames():
    module = load()
    import torch

    sharp = torch.full((1, 3, 32, 32), 0.5)
    blur = sharp + 0.1
    picture = module.draw(blur, sharp.clone(), sharp, tile=100)
    assert picture.size == (3 * 100 + 2 * module.GAP, 100 + module.LABEL)
    with pytest.raises(SystemExit):
        module.parse_args(["--checkpoint", "x", "--frames", "3"])
