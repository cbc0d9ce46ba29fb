"""Training with ``checkpointing=True`` (``--checkpointing``) learns exactly the same weights."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

pytest.importorskip("skimage")
pytest.importorskip("kornia")

from rirn_layers.train.loop import TrainConfig, train

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def tiny(out: Path, **overrides: object) -> TrainConfig:
    values: dict[str, object] = dict(
        model="gru", irm=True, atb=True, out=str(out), steps=3, batch_size=2, clip_length=4,
        chunk=2, crop=32, val_every=3, val_clips=1, val_crop=32, lr=1e-3, progress=False,
        log_images=False,
    )
    values.update(overrides)
    return TrainConfig(**values)  # type: ignore[arg-type]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def test_checkpointing_is_off_by_default():
    assert TrainConfig().checkpointing is False
    assert TrainConfig(checkpointing=True).resolved().checkpointing is True


def test_checkpointed_training_gives_the_same_weights(tmp_path):
    plain = train(tiny(tmp_path / "plain"))
    checkpointed = train(tiny(tmp_path / "checkpointed", checkpointing=True))
    assert plain.model.checkpointing is False
    assert checkpointed.model.checkpointing is True
    a = weights(tmp_path / "plain" / "last.pt")
    b = weights(tmp_path / "checkpointed" / "last.pt")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=1e-6, msg=key)
    assert checkpointed.summary["val_psnr"] == pytest.approx(plain.summary["val_psnr"], abs=1e-6)


def load_train_cli():  # examples/ is not a package
    spec = importlib.util.spec_from_file_location("train_gru_rirn", EXAMPLES / "train_gru_rirn.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_flag_reaches_the_config():
    cli = load_train_cli()
    assert cli.parse_args([]).checkpointing is False
    assert cli.parse_args(["--checkpointing"]).checkpointing is True
