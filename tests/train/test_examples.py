"""The example scripts' command lines work end to end on tiny settings."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("skimage")
pytest.importorskip("kornia")

from rirn_layers.train.loop import TrainConfig, train

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_cli_flags_reach_the_config():
    config = load("train_gru_rirn").parse_args(
        ["--model", "lstm", "--no-atb", "--steps", "7", "--crop", "48", "--out", "x"]
    )
    assert (config.model, config.irm, config.atb, config.steps, config.crop, config.out) == (
        "lstm", True, False, 7, 48, "x"
    )
    assert config.resolved().batch_size == 4  # the demo preset fills the rest


def test_evaluate_prints_a_table_and_writes_pngs(tmp_path, capsys):
    train(TrainConfig(out=str(tmp_path), steps=2, batch_size=1, clip_length=3, chunk=3,
                      crop=32, val_every=2, val_clips=1, val_crop=32, progress=False,
                      log_images=False))
    load("evaluate").main([
        "--checkpoint", str(tmp_path / "last.pt"), "--limit", "2", "--crop", "32",
        "--clip-length", "3", "--save-dir", str(tmp_path / "png"),
    ])
    text = capsys.readouterr().out
    assert "mean over 6 frames: PSNR" in text
    assert len(list((tmp_path / "png").rglob("*.png"))) == 6


def test_ablate_trains_four_variants_and_writes_the_table(tmp_path, capsys):
    load("ablate").main(["--steps", "1", "--crop", "32", "--batch-size", "1",
                         "--out", str(tmp_path), "--no-progress"])
    text = (tmp_path / "ablation.md").read_text()
    for label in ("| GRU |", "| GRU + ATB |", "| GRU + IRM |", "| GRU + IRM + ATB |", "blurry"):
        assert label in text
    assert len(list(tmp_path.glob("gru*/last.pt"))) == 4
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "ablation.png").stat().st_size > 0
