"""A non-finite training loss stops the run at that step, keeping last.pt as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("skimage")
pytest.importorskip("kornia")

from rirn_layers.baselines import build_model
from rirn_layers.train.loop import TrainConfig, train


def tiny(out: Path, **overrides: object) -> TrainConfig:
    values: dict[str, object] = dict(
        model="gru", out=str(out), steps=4, batch_size=1, clip_length=2, chunk=2, crop=16,
        val_every=2, val_clips=1, val_crop=16, lr=1e-3, progress=False, log_images=False,
    )  # fmt: skip
    values.update(overrides)
    return TrainConfig(**values)  # type: ignore[arg-type]


def test_a_nan_loss_stops_the_run_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    model = build_model("gru")
    calls = {"n": 0}
    forward = model.forward

    def poisoned(*args, **kwargs):
        out, state = forward(*args, **kwargs)
        calls["n"] += 1 if torch.is_grad_enabled() else 0
        return (out * float("nan") if calls["n"] == 3 else out), state  # at step 3

    monkeypatch.setattr(model, "forward", poisoned)
    with pytest.raises(FloatingPointError) as info:
        train(tiny(tmp_path / "run", overwrite=True), model)
    message = str(info.value)
    assert "training loss is nan at step 3" in message and "lower lr than 0.001" in message
    saved = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert saved["step"] == 2  # written at the validation of step 2, not over by step 3
    assert all(torch.isfinite(v).all() for v in saved["model"].values())
