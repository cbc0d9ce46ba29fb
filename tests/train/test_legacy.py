"""Checkpoints written by rirn-layers 0.1.0 still load and still compute the same outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rirn_layers.train import load_checkpoint, model_from_checkpoint

FIXTURES = sorted((Path(__file__).parents[1] / "fixtures").glob("legacy_*.pt"))


def test_every_model_family_has_a_fixture():
    assert len(FIXTURES) == 6


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_legacy_checkpoint_rebuilds_and_reproduces_its_outputs(path):
    model, checkpoint = model_from_checkpoint(path)
    extra = checkpoint["extra"]
    with torch.no_grad():
        output, _ = model(extra["input"])
    torch.testing.assert_close(output, extra["output"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("path", FIXTURES[:1], ids=lambda p: p.stem)
def test_legacy_checkpoint_loads_into_a_model_built_today(path):
    from rirn_layers.baselines import build_model

    config = dict(load_checkpoint(path, restore_rng=False)["config"])
    model = build_model(**config)
    load_checkpoint(path, model=model, restore_rng=False, config=config)
