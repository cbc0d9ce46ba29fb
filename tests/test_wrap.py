"""wrap_recurrent_cell: any cell, shapes, causality, streaming, grads, errors, modes."""

from __future__ import annotations

import pytest
import torch
from cells import MismatchedCell, OpaqueCell, TinyGRUCell, TinyLSTMCell
from einops import rearrange
from hypothesis import given
from hypothesis import strategies as st

from rirn_layers import (
    AdaptiveTemporalBlend,
    DynamicTemporalBlend,
    InnerRecurrence,
    RIRNState,
    detach_state,
    wrap_recurrent_cell,
)

FLAGS = [(True, True), (True, False), (False, True), (False, False)]


def make(cell_cls=TinyGRUCell, seed=0, **kwargs):
    torch.manual_seed(seed)
    return wrap_recurrent_cell(cell_cls(), **kwargs)


# -- shapes and channel inference ----------------------------------------------------------
@pytest.mark.parametrize(("irm", "atb"), FLAGS)
@given(
    b=st.integers(1, 3),
    t=st.integers(1, 4),
    h=st.integers(1, 12),
    w=st.integers(1, 12),
)
def test_unroll_shapes(irm, atb, b, t, h, w):
    wrapped = make(irm=irm, atb=atb)
    outs, state = wrapped.unroll(torch.rand(b, t, 3, h, w))
    # TinyGRUCell: feature 6, hidden 4, stride 2 (odd sizes round up like the conv does)
    size = ((h + 1) // 2, (w + 1) // 2)
    assert wrapped.out_channels == 6 + 4 + 6 * atb + 4 * irm
    assert outs.cat().shape == (b, t, wrapped.out_channels, *size)
    assert outs.feature.shape == (b, t, 6, *size) and outs.hidden.shape == (b, t, 4, *size)
    assert (outs.blended is not None) == atb and (outs.memory is not None) == irm
    assert isinstance(state, RIRNState)
    assert (state.memory is not None) == irm and (state.blended is not None) == atb


def test_channels_inferred_and_optimizer_sees_every_parameter():
    wrapped = make(TinyLSTMCell)
    assert (wrapped.feature_channels, wrapped.hidden_channels) == (5, 3)
    optimizer = torch.optim.Adam(wrapped.parameters())
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    names = {name.split(".")[0] for name, _ in wrapped.named_parameters()}
    assert names == {"cell", "irm", "atb"}
    assert in_optimizer == {id(p) for p in wrapped.parameters()}
    assert not any(isinstance(p, torch.nn.parameter.UninitializedParameter)
                   for p in wrapped.parameters())


def test_channel_inference_keeps_training_mode_and_rng():
    cell = TinyGRUCell().train()
    torch.manual_seed(3)
    wrap_recurrent_cell(cell, irm=False, atb=False)  # the dry run alone: no new weights
    after = torch.rand(1)
    torch.manual_seed(3)
    assert cell.training and torch.equal(after, torch.rand(1))


def test_explicit_channels_are_checked_against_the_dry_run():
    wrapped = wrap_recurrent_cell(OpaqueCell(), in_channels=7, feature_channels=4,
                                  hidden_channels=2)
    outs, _ = wrapped.unroll(torch.rand(1, 2, 7, 5, 5))
    assert outs.cat().shape == (1, 2, 4 + 2 + 4 + 2, 5, 5)
    with pytest.raises(ValueError, match="`feature_channels` is 5 but the dry run found 4"):
        wrap_recurrent_cell(OpaqueCell(), in_channels=7, feature_channels=5)


def test_in_channels_keyword_lets_the_probe_run():
    wrapped = wrap_recurrent_cell(OpaqueCell(), in_channels=7)
    assert (wrapped.feature_channels, wrapped.hidden_channels) == (4, 2)
    with pytest.raises(ValueError, match=r"`frame`.*\(B, 7, H, W\).*\(1, 3, 5, 5\)"):
        wrapped(torch.rand(1, 3, 5, 5))


def test_failed_inference_says_what_to_pass():
    pattern = r"zero frame \(1, 3, 32, 32\) with hidden=None.*9 channels.*pass in_channels="
    with pytest.raises(TypeError, match=pattern):
        wrap_recurrent_cell(OpaqueCell())


def test_different_feature_and_hidden_channels_with_lstm_tuple():
    wrapped = make(TinyLSTMCell)
    outs, state = wrapped.unroll(torch.rand(2, 3, 3, 6, 6))
    assert outs.cat().shape == (2, 3, 5 + 3 + 5 + 3, 6, 6)
    h, _ = state.hidden
    assert torch.equal(outs.hidden[:, -1], h)  # IRM tracks the first tensor, h of (h, c)
    assert state.memory.shape == h.shape


def test_tracked_selects_the_lstm_cell_state():
    wrapped = make(TinyLSTMCell, tracked=1)
    outs, state = wrapped.unroll(torch.rand(1, 2, 3, 4, 4))
    assert torch.equal(outs.hidden[:, -1], state.hidden[1])
    with pytest.raises(ValueError, match=r"`tracked` step 2 does not exist.*\(tensor"):
        make(TinyLSTMCell, tracked=2)


def test_hidden_index_still_works_but_is_deprecated():
    with pytest.warns(DeprecationWarning, match="tracked="):
        wrapped = make(TinyLSTMCell, hidden_index=1)
    outs, state = wrapped.unroll(torch.rand(1, 2, 3, 4, 4))
    assert torch.equal(outs.hidden[:, -1], state.hidden[1])


def test_mismatched_spatial_sizes_are_rejected():
    pattern = r"feature \(1, 4, 16, 16\) and tracked hidden state \(1, 2, 32, 32\) differ"
    with pytest.raises(ValueError, match=pattern):
        wrap_recurrent_cell(MismatchedCell())


# -- the wrapper computes eq. 1-4 ---------------------------------------------------------
def test_output_is_f_h_blended_memory_in_order():
    wrapped = make()
    frames = torch.rand(1, 3, 3, 8, 8)
    outs, _ = wrapped.unroll(frames)
    hidden = memory = blended = None
    for t in range(3):
        f, hidden = wrapped.cell(frames[:, t], hidden)
        blended = wrapped.atb(f, blended)
        memory = wrapped.irm(hidden, memory)
        torch.testing.assert_close(outs.cat()[:, t], torch.cat((f, hidden, blended, memory), 1))
        for part, value in zip(outs, (f, hidden, blended, memory), strict=True):
            torch.testing.assert_close(part[:, t], value)


def test_bare_wrapper_is_the_cell_plus_concatenation():
    wrapped = make(irm=False, atb=False)
    assert wrapped.irm is None and wrapped.atb is None
    assert sum(p.numel() for p in wrapped.parameters()) == sum(
        p.numel() for p in wrapped.cell.parameters()
    )
    frames = torch.rand(2, 3, 3, 8, 8)
    outs, _ = wrapped.unroll(frames)
    hidden = None
    for t in range(3):
        f, hidden = wrapped.cell(frames[:, t], hidden)
        torch.testing.assert_close(outs.cat()[:, t], torch.cat((f, hidden), 1))


def test_custom_blend_and_memory_modules():
    wrapped = make(atb=DynamicTemporalBlend(6), irm=InnerRecurrence(4))
    assert isinstance(wrapped.atb, DynamicTemporalBlend)
    outs, _ = wrapped.unroll(torch.rand(1, 2, 3, 8, 8))
    assert outs.cat().shape[2] == wrapped.out_channels == 20
    with pytest.raises(TypeError, match="`atb` must be a bool or an nn.Module"):
        make(atb="dtb")


# -- causality, streaming, determinism ----------------------------------------------------
@pytest.mark.parametrize(("irm", "atb"), FLAGS)
def test_causal(irm, atb):
    wrapped = make(irm=irm, atb=atb)
    frames = torch.rand(1, 5, 3, 8, 8)
    changed = frames.clone()
    changed[:, 3:] = torch.rand(1, 2, 3, 8, 8)
    a, b = wrapped.unroll(frames)[0].cat(), wrapped.unroll(changed)[0].cat()
    torch.testing.assert_close(a[:, :3], b[:, :3], rtol=0, atol=0)
    assert not torch.allclose(a[:, 3:], b[:, 3:])


@pytest.mark.parametrize("cell_cls", [TinyGRUCell, TinyLSTMCell])
@given(t=st.integers(2, 6), data=st.data())
def test_chunked_unroll_equals_whole(cell_cls, t, data):
    wrapped = make(cell_cls)
    split = data.draw(st.integers(1, t - 1))
    frames = torch.rand(2, t, 3, 6, 6)
    whole, whole_state = wrapped.unroll(frames)
    first, state = wrapped.unroll(frames[:, :split])
    second, state = wrapped.unroll(frames[:, split:], state)
    torch.testing.assert_close(torch.cat((first.cat(), second.cat()), 1), whole.cat())
    torch.testing.assert_close(state.memory, whole_state.memory)


def test_frame_by_frame_equals_unroll():
    wrapped = make()
    frames = torch.rand(1, 4, 3, 8, 8)
    whole, _ = wrapped.unroll(frames)
    state = None
    for t in range(4):
        out, state = wrapped(frames[:, t], state)
        torch.testing.assert_close(out.cat(), whole.cat()[:, t])


def test_seeded_determinism():
    frames = torch.rand(1, 3, 3, 8, 8)
    a, b, c = (make(seed=s).unroll(frames)[0].cat() for s in (5, 5, 6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


# -- gradients and truncated BPTT -----------------------------------------------------------
@pytest.mark.parametrize("cell_cls", [TinyGRUCell, TinyLSTMCell])
def test_gradients_reach_every_parameter(cell_cls):
    wrapped = make(cell_cls)
    outs, _ = wrapped.unroll(torch.rand(2, 4, 3, 8, 8))
    outs.cat().square().mean().backward()
    for name, p in wrapped.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_detach_state_cuts_the_graph():
    wrapped = make(TinyLSTMCell)
    frames = torch.rand(1, 4, 3, 6, 6)
    _, state = wrapped.unroll(frames[:, :2])
    detached = detach_state(state)
    assert isinstance(detached, RIRNState) and isinstance(detached.hidden, tuple)
    assert all(not t.requires_grad for t in (*detached.hidden, detached.memory, detached.blended))
    outs, _ = wrapped.unroll(frames[:, 2:], detached)
    outs.cat().sum().backward()  # would fail twice through a freed graph without detaching
    first = {n: p.grad.clone() for n, p in wrapped.named_parameters()}
    wrapped.zero_grad()
    outs, _ = wrapped.unroll(frames[:, 2:], detached)
    outs.cat().sum().backward()
    for n, p in wrapped.named_parameters():
        torch.testing.assert_close(p.grad, first[n])


def test_detach_state_on_nested_containers():
    x = torch.ones(2, requires_grad=True) * 2
    out = detach_state({"a": [x, (x, None)], "b": 3})
    assert not out["a"][0].requires_grad and not out["a"][1][0].requires_grad
    assert out["a"][1][1] is None and out["b"] == 3
    assert detach_state(None) is None


# -- bad input ------------------------------------------------------------------------------
def test_state_from_another_batch_size():
    wrapped = make()
    _, state = wrapped(torch.rand(4, 3, 8, 8))
    pattern = r"`state.hidden` has batch size 4.*`frame` has batch size 2"
    with pytest.raises(ValueError, match=pattern):
        wrapped(torch.rand(2, 3, 8, 8), state)


def test_state_from_a_wrapper_with_other_layers():
    _, state = make(irm=False)(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="`state.memory` is missing"):
        make(irm=True)(torch.rand(1, 3, 8, 8), state)


def test_bad_state_type():
    with pytest.raises(TypeError, match="`state` must be None or the RIRNState"):
        make()(torch.rand(1, 3, 8, 8), torch.zeros(1))


@pytest.mark.parametrize(
    ("frames", "error", "pattern"),
    [
        (torch.rand(2, 3, 8, 8), ValueError, r"`frames`.*\(B, T, C, H, W\).*\(2, 3, 8, 8\)"),
        (torch.ones(1, 2, 3, 8, 8, dtype=torch.int64), TypeError, "floating"),
        (torch.rand(1, 0, 3, 8, 8), ValueError, "T >= 1"),
    ],
)
def test_bad_frames(frames, error, pattern):
    with pytest.raises(error, match=pattern):
        make().unroll(frames)


def test_frame_channels_checked_when_known():
    with pytest.raises(ValueError, match=r"`frame`.*\(B, 3, H, W\).*\(1, 4, 8, 8\)"):
        make(TinyLSTMCell)(torch.rand(1, 4, 8, 8))


def test_not_a_module():
    with pytest.raises(TypeError, match="`cell` must be an nn.Module"):
        wrap_recurrent_cell(lambda frame, hidden: (frame, hidden))


# -- dtypes, memory formats, modes, serialisation ------------------------------------------------
def test_float64():
    wrapped = make().double()
    outs, _ = wrapped.unroll(torch.rand(1, 2, 3, 8, 8, dtype=torch.float64))
    assert outs.cat().dtype == torch.float64


def test_layers_follow_the_cells_dtype():
    torch.manual_seed(0)
    wrapped = wrap_recurrent_cell(TinyGRUCell().double())
    assert all(p.dtype == torch.float64 for p in wrapped.parameters())


def test_bfloat16_autocast_close_to_float32():
    wrapped = make()
    frames = torch.rand(1, 3, 3, 16, 16)
    ref, _ = wrapped.unroll(frames)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = wrapped.unroll(frames)
    torch.testing.assert_close(out.cat().float(), ref.cat(), rtol=5e-2, atol=5e-2)


def test_channels_last_matches_contiguous():
    wrapped = make()
    frames = torch.rand(2, 3, 3, 10, 10)
    ref, _ = wrapped.unroll(frames)
    wrapped = wrapped.to(memory_format=torch.channels_last)
    state, outs = None, []
    for t in range(3):
        out, state = wrapped(frames[:, t].contiguous(memory_format=torch.channels_last), state)
        outs.append(out.cat())
    torch.testing.assert_close(torch.stack(outs, 1), ref.cat(), rtol=1e-4, atol=1e-5)


def test_inference_mode():
    wrapped = make()
    frames = torch.rand(1, 3, 3, 8, 8)
    ref, _ = wrapped.unroll(frames)
    with torch.inference_mode():
        out, _ = wrapped.unroll(frames)
    torch.testing.assert_close(out.cat(), ref.cat())


def test_state_dict_round_trip():
    a, b = make(TinyLSTMCell, seed=0), make(TinyLSTMCell, seed=1)
    b.load_state_dict(a.state_dict())
    frames = torch.rand(1, 3, 3, 6, 6)
    torch.testing.assert_close(a.unroll(frames)[0].cat(), b.unroll(frames)[0].cat())
    keys = set(a.state_dict())
    assert any(k.startswith("irm.") for k in keys) and any(k.startswith("atb.") for k in keys)


def test_atb_param_count_in_wrapper_matches_layer():
    wrapped = make()
    assert sum(p.numel() for p in wrapped.atb.parameters()) == sum(
        p.numel() for p in AdaptiveTemporalBlend(6).parameters()
    )


@pytest.mark.slow
def test_compiled_step_matches_eager():
    wrapped = make()
    frames = torch.rand(2, 3, 3, 16, 16)
    compiled = torch.compile(wrapped, fullgraph=True)  # no graph breaks
    state_e = state_c = None
    for t in range(3):
        out_e, state_e = wrapped(frames[:, t], state_e)
        out_c, state_c = compiled(frames[:, t], state_c)
        torch.testing.assert_close(out_c.cat(), out_e.cat(), rtol=1e-4, atol=1e-5)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fp16_autocast_and_channels_last_close_to_float32():
    wrapped = make().cuda().to(memory_format=torch.channels_last)
    frames = torch.rand(2, 3, 3, 32, 32, device="cuda")
    ref, _ = wrapped.unroll(frames)
    with torch.autocast("cuda", dtype=torch.float16):
        out, _ = wrapped.unroll(frames)
    torch.testing.assert_close(out.cat().float(), ref.cat(), rtol=1e-2, atol=1e-2)


class PixelGRUCell(torch.nn.Module):
    """A foreign cell: torch.nn.GRUCell run independently at every pixel (1x1 'conv GRU')."""

    in_channels = 3

    def __init__(self, hidden: int = 5) -> None:
        super().__init__()
        self.gru = torch.nn.GRUCell(3, hidden)

    def forward(self, frame: torch.Tensor, hidden: torch.Tensor | None):
        b, _, h, w = frame.shape
        pixels = rearrange(frame, "b c h w -> (b h w) c")
        flat = None if hidden is None else rearrange(hidden, "b c h w -> (b h w) c")
        new = rearrange(self.gru(pixels, flat), "(b h w) c -> b c h w", b=b, h=h, w=w)
        return new, new


def test_foreign_gru_cell_plugged_in():
    torch.manual_seed(0)
    wrapped = wrap_recurrent_cell(PixelGRUCell())
    assert (wrapped.feature_channels, wrapped.hidden_channels) == (5, 5)
    frames = torch.rand(2, 4, 3, 5, 6)
    outs, _ = wrapped.unroll(frames)
    assert outs.cat().shape == (2, 4, 20, 5, 6)
    # the cell's own output is untouched: the feature is the GRU's hidden state
    h = None
    for t in range(4):
        h, _ = wrapped.cell(frames[:, t], h)
    torch.testing.assert_close(outs.feature[:, -1], h)
