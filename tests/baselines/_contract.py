"""Checks every baseline must pass, shared by the per-model test files."""

from __future__ import annotations

import itertools
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


def warm_up(
    model: StreamingDeblurModel, frames: torch.Tensor | None = None
) -> StreamingDeblurModel:
    """Move BatchNorm running statistics (if any) away from their defaults, then ``eval()``.

    One training-mode pass without gradients over ``frames`` (a fixed random clip by
    default), so that a check in eval mode also covers the buffers, not only the weights.
    """
    if frames is None:
        frames = torch.rand(2, 3, 3, 16, 16, generator=torch.Generator().manual_seed(7))
    model.train()
    with torch.no_grad():
        model(frames.to(next(model.parameters()).dtype))
    return model.eval()


def stream(model: StreamingDeblurModel, frames: torch.Tensor, ends: str = "pad") -> torch.Tensor:
    """``model.step`` frame by frame, then ``model.flush``: the outputs as one clip."""
    b, _, _, h, w = frames.shape
    state, outs = None, []
    for frame in frames.unbind(1):
        out, state = model.step(frame, state, ends=ends)
        if out is not None:
            outs.append(out)
    assert state is not None
    outs += model.flush(state, ends=ends)[0]
    if not outs:
        return frames.new_zeros(b, 0, model.out_channels, h, w)
    return torch.stack(outs, dim=1)


def assert_streaming_equals_whole_clip(
    model: StreamingDeblurModel, frames: torch.Tensor, ends: str = "pad",
    splits: tuple[int, ...] = (1, 3),
) -> torch.Tensor:
    """Frame by frame (``step``/``flush``) and in chunks (``final=False``) == the whole clip.

    ``splits`` are the frame indices where the chunks start; the comparison is exact (the
    same kernels run on the same tensors in the same order).
    """
    whole, _ = model(frames, ends=ends)
    torch.testing.assert_close(stream(model, frames, ends), whole, rtol=0, atol=0)
    bounds = [0, *splits, frames.shape[1]]
    state, chunks = None, []
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        out, state = model(frames[:, lo:hi], state, ends=ends, final=i == len(bounds) - 2)
        chunks.append(out)
    torch.testing.assert_close(torch.cat(chunks, dim=1), whole, rtol=0, atol=0)
    return whole
