"""The example scripts' command lines work end to end on tiny settings."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("skimage")
pytest.importorskip("kornia")

from rirn_layers.train.loop import TrainConfig, train

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses in a script look up their module there
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
    dtb = load("train_gru_rirn").parse_args(["--dtb"])
    assert (dtb.irm, dtb.atb, dtb.dtb) == (True, False, True)  # --dtb implies --no-atb
    assert dtb.model_config() == {"name": "gru", "irm": True, "atb": False, "dtb": True}
    assert "dtb" not in config.model_config()  # old checkpoints' configs are unchanged
    with pytest.raises(ValueError, match="`dtb` applies to gru, lstm and strcnn"):
        TrainConfig(model="rdbn", dtb=True).resolved()


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
    load("ablate").main(["--steps", "1", "--crop", "32", "--batch-size", "1", "--val-clips", "1",
                         "--val-crop", "32", "--out", str(tmp_path), "--no-progress"])
    text = (tmp_path / "ablation.md").read_text()
    for label in ("| GRU |", "| GRU wide |", "| GRU + ATB |", "| GRU + IRM |",
                  "| GRU + IRM + ATB |", "blurry"):
        assert label in text
    assert len(list(tmp_path.glob("gru*/last.pt"))) == 5
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "ablation.png").stat().st_size > 0


def _untrained_checkpoints(root: Path) -> dict[str, Path]:
    from rirn_layers.baselines import build_model
    from rirn_layers.train import save_checkpoint

    variants = {"gru": {}, "gru_irm_dtb": {"irm": True, "dtb": True},
                "gru_irm_atb": {"irm": True, "atb": True}}
    paths = {}
    for seed, (tag, options) in enumerate(variants.items()):
        torch.manual_seed(seed)
        config = {"name": "gru", **options}
        paths[tag] = save_checkpoint(root / tag / "best.pt", model=build_model(**config),
                                     step=0, config=config)
    return paths


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_inspect_model_writes_the_figures_and_their_numbers(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    ckpt = _untrained_checkpoints(tmp_path)
    out = tmp_path / "figures"
    summary = load("inspect_model").main([
        "--checkpoint", str(ckpt["gru_irm_atb"]), "--baseline", str(ckpt["gru"]),
        "--dtb", str(ckpt["gru_irm_dtb"]), "--input", "synthetic", "--clips", "2",
        "--length", "3", "--crop", "32", "--out", str(out),
    ])
    figures = ["weight_sums.png", "state_maps.png", "blend_maps.png", "comparison.png"]
    assert summary["figures"] == figures
    assert all(_is_png(out / name) for name in figures)
    assert json.loads((out / "summary.json").read_text()) == summary
    models = summary["models"]
    assert list(models) == ["GRU", "GRU + IRM + DTB", "GRU + IRM + ATB"]
    assert all(np.isfinite(m["psnr"]) for m in models.values())
    dtb, atb = models["GRU + IRM + DTB"]["dtb"], models["GRU + IRM + ATB"]["atb"]
    assert abs(dtb["mean"] - 1) < 1e-6 and dtb["fraction_below_1"] == 0  # sum-to-one
    assert 0 <= atb["p05"] <= atb["median"] <= atb["p95"] <= 2  # two weights in [0, 1]
    assert atb["p95"] - atb["p05"] > 1e-3  # ATB's sum is free
    assert "atb" not in models["GRU"] and "dtb" not in models["GRU"]
    assert "wrote weight_sums.png, state_maps.png" in capsys.readouterr().out


def test_inspect_model_on_a_frame_folder_without_sharp_frames(tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image

    ckpt = _untrained_checkpoints(tmp_path)
    frames = tmp_path / "clip"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(
            frames / f"{i:03d}.png")
    summary = load("inspect_model").main([
        "--checkpoint", str(ckpt["gru_irm_atb"]), "--input", str(frames), "--crop", "32",
        "--out", str(tmp_path / "out"),
    ])
    # without sharp frames: no error maps, no PSNR, only the weight sums
    assert summary["figures"] == ["weight_sums.png"]
    assert summary["size"] == [32, 32] and summary["frames"] == 4
    assert "psnr" not in summary["models"]["GRU + IRM + ATB"]
    with pytest.raises(SystemExit, match="has no IRM, ATB or DTB"):
        load("inspect_model").main(["--checkpoint", str(ckpt["gru"]), "--input", str(frames),
                                    "--out", str(tmp_path / "bare")])


def test_inspection_figures_reuses_checkpoints_and_rewrites_the_docs_table(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    _untrained_checkpoints(tmp_path / "runs")
    script = load("inspection_figures")
    summary = script.main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "fig"),
                           "--clips", "1", "--show", "0", "--length", "3", "--size", "32"])
    text = capsys.readouterr().out
    assert text.count("reusing") == 3 and "training" not in text  # nothing was trained
    assert len(summary["figures"]) == 4
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- inspection:begin -->\nold\n<!-- inspection:end -->\nafter\n")
    table = script.table(summary, argparse.Namespace(steps=None, seed=0))
    script.update_page(table, page)
    content = page.read_text()
    assert "old" not in content and content.startswith("intro\n") and content.endswith("after\n")
    assert "| GRU + IRM + ATB |" in content and "| ATB |" in content
