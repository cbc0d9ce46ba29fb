"""Spatial tiling: one state per tile, invisible seams, the streaming contract, the errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rirn_layers.baselines import build_model
from rirn_layers.model import StreamingDeblurModel
from rirn_layers.padding import pad_to_multiple
from rirn_layers.video.tiling import TiledState, TiledStream

# Measured with the GRU below on CLIP (max |tiled - untiled|, output |max| 0.108, std 0.068):
# overlap 0: 5.0e-2, 8: 4.3e-3, 16: 1.1e-3, 32: 4.5e-4. The error comes from the receptive
# field cut at the tile borders (the float rounding of the blend is ~1e-8), so the bound is
# the measured 1.1e-3 with a 2x margin, not a rounding tolerance.
SEAM_TOLERANCE = 2e-3


def gru(seed: int = 0) -> StreamingDeblurModel:
    torch.manual_seed(seed)  # convolutions only: a local receptive field
    return build_model("gru", irm=True, atb=True, channels=(4, 6, 8), hidden_channels=4).eval()


def estrnn(seed: int = 0) -> StreamingDeblurModel:
    torch.manual_seed(seed)
    return build_model("estrnn", blocks=1, channels=10, past=1, future=1).eval()


def clip(b: int = 1, t: int = 6, h: int = 96, w: int = 128, seed: int = 1) -> torch.Tensor:
    return torch.rand(b, t, 3, h, w, generator=torch.Generator().manual_seed(seed))


class Pointwise(StreamingDeblurModel):
    """A per-pixel model on the x4 grid, recurrent and ``future`` frames ahead.

    Its output at a pixel depends only on the frames (and ``flow``, at ``1/flow_unit``) at
    the x4 grid point of that pixel, so tiling must reproduce it up to the blend's
    rounding for any tiles, as long as they are aligned to the grid.
    """

    scale = 4

    def __init__(self, future: int = 0, flow_unit: int | None = None) -> None:
        super().__init__()
        self.future, self.flow_unit = future, flow_unit
        self.mix = nn.Conv2d(3, 3, 1)

    def prepare_inputs(self, inputs, frame):
        if self.flow_unit is None or set(inputs) != {"flow"}:
            return super().prepare_inputs(inputs, frame)
        flow = inputs["flow"]
        assert flow.shape[-2:] == tuple(-(-s // self.flow_unit) for s in frame.shape[-2:])
        return {"flow": pad_to_multiple(flow, self.scale // self.flow_unit)[0]}

    def advance(self, frame, state, flow=None):
        x = frame[..., ::4, ::4]
        if flow is not None:
            step = 4 // self.flow_unit
            x = x + flow[..., ::step, ::step].mean(1, keepdim=True)
        hidden = x if state is None else 0.5 * (state[0] + x)
        queue = (() if state is None else state[1]) + (self.mix(hidden),)
        if len(queue) <= self.future:
            return None, (hidden, queue)
        out = queue[0].repeat_interleave(4, -2).repeat_interleave(4, -1)
        return out, (hidden, queue[1:])


def seam_band(state: TiledState, width: int = 2) -> torch.Tensor:
    """``(H, W)`` mask of the pixels within ``width`` of a tile border inside the frame."""
    grid, (h, w) = state.grid, state.size
    band = torch.zeros(grid.size, dtype=torch.bool)
    (th, tw) = grid.tile
    for edge in [*grid.rows[1:], *(r + th for r in grid.rows[:-1])]:
        band[max(edge - width, 0):edge + width] = True
    for edge in [*grid.cols[1:], *(c + tw for c in grid.cols[:-1])]:
        band[:, max(edge - width, 0):edge + width] = True
    return band[:h, :w]


# -- exactness ------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [gru, estrnn], ids=["gru", "estrnn"])
def test_a_frame_within_one_tile_is_the_untiled_model_bit_for_bit(make):
    model, frames = make(), clip(b=2, t=4, h=30, w=45)
    with torch.inference_mode():
        whole, _ = model(frames)
        tiled, state = TiledStream(model, tile=48, overlap=16)(frames)
    assert state.grid.num_tiles == 1
    assert torch.equal(tiled, whole)


@pytest.mark.parametrize("future", [0, 2])
def test_a_per_pixel_model_is_reproduced_by_any_aligned_tiles(future):
    model, frames = Pointwise(future), clip(b=2, t=4, h=37, w=53)
    with torch.inference_mode():
        whole, _ = model(frames)
        for tile, overlap in ((16, 4), ((12, 20), (8, 0)), (24, 12)):
            tiled, state = TiledStream(model, tile, overlap)(frames)
            assert state.grid.num_tiles > 1 and tiled.shape == whole.shape == (2, 4, 3, 37, 53)
            torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-6)


def test_extra_inputs_are_cropped_per_tile_at_full_and_reduced_resolution():
    frames = clip(t=3, h=37, w=53)
    for unit in (1, 2):
        model = Pointwise(flow_unit=unit)
        flows = torch.randn(1, 3, 2, -(-37 // unit), -(-53 // unit))
        with torch.inference_mode():
            whole, _ = model(frames, flow=flows)
            tiled, _ = TiledStream(model, 16, 8)(frames, flow=flows)
        torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-6)


def test_blend_weights_sum_to_one_and_frame_borders_are_not_ramped():
    tiler = TiledStream(gru(), tile=48, overlap=16, ramp="linear")
    grid = tiler.grid(96, 130)  # padded to 96 x 132
    assert grid.size == (96, 132) and grid.tile == (48, 48)
    total = torch.zeros(grid.size)
    for top, left, weight in grid.windows():
        total[top:top + 48, left:left + 48] += weight
    torch.testing.assert_close(total, torch.ones(grid.size), rtol=0, atol=1e-6)
    steps = [b - a for a, b in zip(grid.cols, grid.cols[1:], strict=False)]
    assert all(s <= 48 - 16 and s % 4 == 0 for s in steps)
    assert grid.rows[0] == grid.cols[0] == 0 and grid.cols[-1] + 48 == 132
    first, last = grid.col_weights[0], grid.col_weights[-1]
    assert first[0] == 1 and last[-1] == 1 and first[-1] < 0.1 and last[0] < 0.1
    assert grid.coverage == pytest.approx(grid.num_tiles * 48 * 48 / (96 * 132))


# -- seams ----------------------------------------------------------------------------------
def test_seams_are_invisible_and_vanish_with_the_overlap():
    model, frames = gru(), clip()
    with torch.inference_mode():
        whole, _ = model(frames)
        errors, ratios = {}, {}
        for overlap in (0, 16, 32):
            tiled, state = TiledStream(model, tile=48, overlap=overlap)(frames)
            error = (tiled - whole).abs()
            per_pixel, band = error.mean(dim=(0, 1, 2)), seam_band(state)
            errors[overlap] = error.max().item()
            ratios[overlap] = (per_pixel[band].mean() / per_pixel[~band].mean()).item()
    assert errors[16] < SEAM_TOLERANCE
    assert errors[32] < errors[16] < errors[0] / 10
    assert ratios[16] < 1.5 and ratios[32] < 1.5  # measured 0.91, 0.87
    assert ratios[0] > 5  # measured 17.7: butted tiles do show their seams


# -- streaming ------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [gru, estrnn], ids=["gru", "estrnn"])
def test_step_by_step_equals_chunks_with_the_carried_state(make):
    model, frames = make(), clip(t=5, h=40, w=56)
    tiler = TiledStream(model, tile=24, overlap=8)
    with torch.inference_mode():
        first, state = tiler(frames[:, :2], final=False)
        second, _ = tiler(frames[:, 2:], state)
        outs, state = [], None
        for frame in frames.unbind(1):
            out, state = tiler.step(frame, state)
            outs += [] if out is None else [out]
        outs += tiler.flush(state)[0]
    assert state.grid.num_tiles == 6 and len(state.tiles) == 6
    assert torch.equal(torch.cat((first, second), 1), torch.stack(outs, 1))


def test_a_look_ahead_model_gives_every_frame_an_output():
    model, frames = estrnn(), clip(b=2, t=4, h=40, w=56)
    tiler = TiledStream(model, tile=24, overlap=8)
    with torch.inference_mode():
        whole, _ = model(frames)
        state, ready = None, []
        for frame in frames.unbind(1):
            out, state = tiler.step(frame, state)
            ready.append(out is not None)
        rest, _ = tiler.flush(state)
        dropped, _ = tiler(frames, ends="drop")
    assert ready == [False, True, True, True] and len(rest) == 1
    assert rest[0].shape == whole[:, -1].shape == (2, 3, 40, 56)
    assert dropped.shape == model(frames, ends="drop")[0].shape == (2, 2, 3, 40, 56)


def test_gradients_flow_through_the_blend():
    model = gru()
    tiled, _ = TiledStream(model, tile=16, overlap=8)(clip(t=2, h=24, w=24))
    tiled.mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


# -- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"tile": 2.5}, TypeError, r"`tile` must be an int or an \(h, w\) pair of ints, got 2.5"),
    ({"tile": (8, 8, 8)}, TypeError, r"`tile` must be an int or an \(h, w\) pair"),
    ({"tile": True}, TypeError, "`tile` must be an int"),
    ({"tile": 0}, ValueError, "`tile` must be >= 1, got 0"),
    ({"overlap": (4, -1)}, ValueError, r"`overlap` must be >= 0, got \(4, -1\)"),
    ({"overlap": "8"}, TypeError, "`overlap` must be an int or an"),
    ({"tile": 32, "overlap": 32}, ValueError,
     r"`overlap` must be smaller than `tile` .* scale 4; got overlap=\(32, 32\) -> \(32, 32\), "
     r"tile=\(32, 32\) -> \(32, 32\)"),
    ({"tile": 30, "overlap": 29}, ValueError,
     r".*; got overlap=\(29, 29\) -> \(32, 32\), tile=\(30, 30\)"),
    ({"ramp": "gauss"}, ValueError, "`ramp` must be 'cosine' or 'linear', got 'gauss'"),
])
def test_arguments_are_checked(kwargs, error, match):
    with pytest.raises(error, match=f"^TiledStream: {match}"):
        TiledStream(gru(), **kwargs)


def test_tile_and_overlap_are_rounded_up_to_the_scale():
    tiler = TiledStream(gru(), tile=(30, 41), overlap=(5, 0))
    assert tiler.tile == (32, 44) and tiler.overlap == (8, 0)
    assert "tile=(32, 44), overlap=(8, 0)" in repr(tiler)
    with pytest.raises(TypeError, match="^TiledStream: `model` must be a StreamingDeblurModel, "
                                        "got Conv2d"):
        TiledStream(nn.Conv2d(3, 3, 1))  # type: ignore[arg-type]


def test_frames_and_states_are_checked():
    tiler, frame = TiledStream(gru(), tile=16, overlap=4), torch.rand(1, 3, 40, 40)
    with torch.inference_mode():
        _, state = tiler.step(frame)
        with pytest.raises(ValueError, match=r"^TiledStream: `state` belongs to frames of batch 1 "
                                             r"and size \(40, 40\), got `frame` of batch 1 and "
                                             r"size \(40, 44\)"):
            tiler.step(torch.rand(1, 3, 40, 44), state)
        with pytest.raises(ValueError, match="of batch 1 .* got `frame` of batch 2"):
            tiler.step(torch.rand(2, 3, 40, 40), state)
        with pytest.raises(ValueError, match=r"^TiledStream: `state` comes from another tiler: "
                                             r"tiles \(16, 16\) at rows \(0, 12, 24\) and "
                                             r"columns \(0, 12, 24\), this one's \(24, 24\) at "
                                             r"rows \(0, 16\)"):
            TiledStream(tiler.model, tile=24, overlap=4).step(frame, state)
        with pytest.raises(TypeError, match="^TiledStream: `state` must be None or the TiledState"
                                            " of the previous frame, got tuple"):
            tiler.step(frame, tuple(state.tiles))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="^TiledStream: `state` must be the TiledState of the "
                                            "last frame, got NoneType"):
            tiler.flush(None)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"^TiledStream: expected `frame` of shape "
                                             r"\(B, 3, H, W\), got \(1, 4, 40, 40\)"):
            tiler.step(torch.rand(1, 4, 40, 40))
        with pytest.raises(ValueError, match="`ends` must be 'pad' or 'drop', got 'wrap'"):
            tiler.step(frame, ends="wrap")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="`ends` must be 'pad' or 'drop'"):
            tiler.flush(state, ends="wrap")  # type: ignore[arg-type]


def test_clips_and_extra_inputs_are_checked():
    tiler, frame = TiledStream(Pointwise(flow_unit=2), tile=16, overlap=4), torch.rand(1, 3, 40, 40)
    with pytest.raises(ValueError, match=r"^TiledStream: extra input `flow` must be a per-pixel "
                                         r"map \(B, C, ceil\(H/k\), ceil\(W/k\)\) with k dividing "
                                         r"the model's scale 4, for `frame` \(1, 3, 40, 40\); got "
                                         r"\(1, 2, 30, 30\)"):
        tiler.step(frame, flow=torch.rand(1, 2, 30, 30))
    with pytest.raises(ValueError, match=r"got \(2, 2, 20, 20\)"):  # another batch
        tiler.step(frame, flow=torch.rand(2, 2, 20, 20))
    with pytest.raises(TypeError, match="^TiledStream: extra input `flow` must be a torch.Tensor, "
                                        "got list"):
        tiler.step(frame, flow=[0.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^TiledStream: `frames` needs T >= 1, got T = 0"):
        tiler(torch.rand(1, 0, 3, 40, 40))
    with pytest.raises(ValueError, match=r"extra input `flow` \(1, 3, 2, 20, 20\) must have the "
                                         r"batch and length of `frames` \(1, 2, 3, 40, 40\)"):
        tiler(torch.rand(1, 2, 3, 40, 40), flow=torch.rand(1, 3, 2, 20, 20))


class ContentDependent(Pointwise):
    """Has no output for a frame whose mean is above 0.5: not a model tiles can agree on."""

    def advance(self, frame, state, flow=None):
        out, state = super().advance(frame, state)
        return (None if frame.mean() > 0.5 else out), state


def test_tiles_that_disagree_on_having_an_output_are_an_error():
    frame = torch.zeros(1, 3, 16, 32)
    frame[..., 16:] = 1  # the right tile is bright
    tiler = TiledStream(ContentDependent(), tile=16, overlap=0)
    with pytest.raises(RuntimeError, match=r"^TiledStream: 1 of 2 tiles gave an output; the "
                                           "model's look-ahead must not depend on content"):
        tiler.step(frame)
    tiler = TiledStream(ContentDependent(future=1), tile=16, overlap=0)
    _, state = tiler.step(frame)
    with pytest.raises(RuntimeError, match="the tiles flushed 1 and 0 outputs"):
        tiler.flush(state)
