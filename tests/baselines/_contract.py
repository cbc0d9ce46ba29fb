"""Checks every baseline must pass, shared by the per-model test files."""

from __future__ import annotations

from collections.abc import Callable

import torch

from rirn_layers.model import StreamingDeblurModel


def assert_state_dict_round_trip(
    build: Callable[[int], StreamingDeblurModel],
    frames: torch.Tensor,
    prepare: Callable[[StreamingDeblurModel], StreamingDeblurModel] = lambda m: m.eval(),
) -> None:
    """Weights of one seed loaded into a model of another seed give identical outputs."""
    model = prepare(build(0))
    fresh = build(1).eval()
    before, _ = fresh(frames)
    fresh.load_state_dict(model.state_dict())
    after, _ = fresh(frames)
    expected, _ = model(frames)
    assert not torch.allclose(before, expected)  # the seeds really differed
    torch.testing.assert_close(after, expected, rtol=0, atol=0)


def assert_pad_is_drop_on_edge_padded_clip(
    model: StreamingDeblurModel, frames: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``ends="pad"`` gives every frame and equals ``"drop"`` on the edge-padded clip."""
    padded, _ = model(frames, ends="pad")
    dropped, _ = model(frames, ends="drop")
    b, t, _, h, w = frames.shape
    assert padded.shape == frames.shape
    assert dropped.shape == (b, max(0, t - model.past - model.future), 3, h, w)
    assert torch.isfinite(padded).all()
    edged = torch.cat(
        [frames[:, :1]] * model.past + [frames] + [frames[:, -1:]] * model.future, dim=1
    )
    torch.testing.assert_close(padded, model(edged, ends="drop")[0], rtol=0, atol=0)
    return padded, dropped
