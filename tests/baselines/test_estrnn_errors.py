"""ESTRNN refuses empty batches and empty frames up front, naming the argument and shape."""

from __future__ import annotations

import pytest
import torch

from rirn_layers.baselines.estrnn import build_estrnn
from rirn_layers.baselines.rdb import RDBCell


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_estrnn(blocks=1, channels=10)


@pytest.mark.parametrize("shape", [(0, 2, 3, 16, 16), (1, 2, 3, 0, 16), (1, 2, 3, 16, 0)])
def test_forward_rejects_empty_clips(model, shape):
    with pytest.raises(ValueError, match=r"ESTRNN: `frames` must have a batch size B >= 1 and "
                       r"H, W >= 1.*got \(" + ", ".join(map(str, shape))):
        model(torch.rand(*shape))


@pytest.mark.parametrize("shape", [(0, 3, 16, 16), (1, 3, 0, 16), (1, 3, 16, 0)])
def test_step_rejects_empty_frames(model, shape):
    with pytest.raises(ValueError, match=r"ESTRNN: `frame` must have a batch size B >= 1.*got \("
                       + ", ".join(map(str, shape))):
        model.step(torch.rand(*shape))


@pytest.mark.parametrize("shape", [(0, 3, 16, 16), (1, 3, 0, 16)])
def test_rdb_cell_rejects_empty_frames(shape):
    cell = build_estrnn(blocks=1, channels=10).wrapped.cell
    assert isinstance(cell, RDBCell)
    with pytest.raises(ValueError, match=r"RDBCell: `frame` must have a batch size B >= 1"):
        cell(torch.rand(*shape))


def test_valid_frames_still_run(model):
    out, _ = model(torch.rand(1, 3, 3, 16, 16))
    assert out.shape == (1, 3, 3, 16, 16)
