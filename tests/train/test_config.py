"""TrainConfig resolves to a frozen, concrete RunConfig; model options are the builders'."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("skimage")
pytest.importorskip("kornia")

import rirn_layers.train.loop as loop
from rirn_layers._checks import ArgumentTypeError
from rirn_layers.train.builders import check_zoo_option, zoo_model_config, zoo_options
from rirn_layers.train.config import PRESETS, RunConfig, TrainConfig


def tiny(out: Path, **overrides: Any) -> TrainConfig:
    values: dict[str, Any] = dict(out=str(out), steps=2, batch_size=1, clip_length=3, chunk=3,
                                  crop=32, val_every=2, val_clips=1, val_crop=32, lr=1e-3,
                                  progress=False, log_images=False)  # fmt: skip
    values.update(overrides)
    return TrainConfig(**values)


def test_resolved_is_a_frozen_run_config_with_the_same_fields():
    run = TrainConfig().resolved()
    assert isinstance(run, RunConfig)
    given = [f.name for f in dataclasses.fields(TrainConfig)]
    assert [f.name for f in dataclasses.fields(RunConfig)] == given  # config.json keys
    assert (run.steps, run.batch_size, run.checkpoint_every) == (900, 4, 300)
    assert run.milestones == (0.8,) and run.residual is True
    assert (run.irm, run.atb) == (True, True)  # a zoo model's defaults are spelled out
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.steps = 3  # type: ignore[misc]
    assert run.resolved() == run  # resolving again changes nothing
    paper = TrainConfig(preset="paper").resolved()
    assert (paper.val_crop, paper.synthetic_speed) == (PRESETS["paper"]["val_crop"], None)


def test_a_replaced_run_config_is_checked_again():
    run = TrainConfig().resolved()
    with pytest.raises(ValueError, match="TrainConfig: `steps` must be an int >= 1, got 0"):
        dataclasses.replace(run, steps=0).resolved()


@pytest.mark.parametrize(
    ("field", "value"),
    [("steps", 2.0), ("batch_size", True), ("chunk", "3"), ("lr", "fast"), ("irm", 1)],
)
def test_fields_of_the_wrong_type_are_refused(field, value):
    with pytest.raises(ArgumentTypeError, match=f"TrainConfig: `{field}` must be"):
        TrainConfig(**{field: value}).resolved()


def test_a_zoo_option_is_refused_by_a_model_whose_builder_does_not_take_it():
    with pytest.raises(ValueError, match=r"model 'rdbn' does not take `dtb`; `dtb` applies "
                                         r"to gru, lstm and strcnn"):  # fmt: skip
        TrainConfig(model="rdbn", dtb=True).resolved()
    check_zoo_option("TrainConfig", "rdbn", "dtb", None)  # not given: nothing to refuse
    assert zoo_options("strcnn")["dtb"] is True and "dtb" not in zoo_options("rdbn")


def test_the_preset_residual_goes_to_gru_and_lstm_only():
    assert TrainConfig(model="lstm").resolved().model_config()["residual"] is True
    assert "residual" not in TrainConfig(model="ifirnn").resolved().model_config()
    assert zoo_model_config("strcnn", irm=None, atb=None, dtb=None, residual=True) == {
        "name": "strcnn", "irm": True, "atb": True,
    }  # fmt: skip


class _Closable:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def test_logs_and_bar_are_closed_when_a_step_fails(tmp_path, monkeypatch):
    opened: list[_Closable] = []

    def fake(*args: object) -> _Closable:
        opened.append(_Closable())
        return opened[-1]

    def boom(*args: object, **kwargs: object) -> float:
        raise RuntimeError("boom")

    monkeypatch.setattr(loop, "_tensorboard", fake)
    monkeypatch.setattr(loop, "_progress", fake)
    monkeypatch.setattr(loop, "_train_step", boom)
    with pytest.raises(RuntimeError, match="boom"):
        loop.train(tiny(tmp_path, log_images=True, progress=True))
    assert len(opened) == 2 and all(c.closed for c in opened)
    assert not torch.distributed.is_initialized()


def test_the_validation_set_follows_val_seed_not_the_training_seed():
    """Seeds of an ablation must be validated on the same clips (a rendered set differs)."""
    assert TrainConfig(seed=3).resolved().val_seed == 3  # default: the training seed

    def first_val_clip(**fields: Any) -> torch.Tensor:
        _, val_set = loop._datasets(tiny(Path("unused"), **fields).resolved())
        return val_set[0]["blur"]

    same = first_val_clip(seed=1, val_seed=0), first_val_clip(seed=2, val_seed=0)
    assert torch.equal(*same)
    assert not torch.equal(first_val_clip(seed=1), first_val_clip(seed=2))
    with pytest.raises(ArgumentTypeError, match="`val_seed` must be an int"):
        TrainConfig(val_seed=1.5).resolved()  # type: ignore[arg-type]
