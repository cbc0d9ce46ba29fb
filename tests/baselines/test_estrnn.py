"""ESTRNN (ECCV 2020), its RDB cell and RIRN's RDBN: shapes, streaming, gradients, causality,
the look-ahead window, IRM/ATB placement, config errors, meta device."""

from __future__ import annotations

import doctest
import itertools

import pytest
import torch
from _contract import assert_pad_is_drop_on_edge_padded_clip, assert_state_dict_round_trip
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import rirn_layers.baselines.estrnn as estrnn_module
import rirn_layers.baselines.rdb as rdb_module
from rirn_layers import RecurrentDeblurNet, detach_state
from rirn_layers.baselines import build_model
from rirn_layers.baselines.estrnn import ESTRNN, ESTRNNState, build_estrnn
from rirn_layers.baselines.rdb import RDBCell, ResidualDenseBlock, build_rdbn

TINY = {"blocks": 2, "channels": 20}  # n = 4
N = TINY["channels"] // 5
FLAGS = [{"irm": irm, "atb": atb} for irm, atb in itertools.product((False, True), repeat=2)]
FLAG_IDS = [f"irm={f['irm']}-atb={f['atb']}" for f in FLAGS]
BUILDERS = {"estrnn": build_estrnn, "rdbn": build_rdbn}


def tiny(name: str = "estrnn", seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    return BUILDERS[name](**{**TINY, **kwargs})


def clip(b: int = 2, t: int = 6, h: int = 16, w: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.rand(b, t, 3, h, w, generator=torch.Generator().manual_seed(seed))


def stream(model, frames: torch.Tensor, ends: str = "pad") -> torch.Tensor:
    state, outs = None, []
    for frame in frames.unbind(1):
        out, state = model.step(frame, state, ends=ends)
        if out is not None:
            outs.append(out)
    outs += model.flush(state, ends=ends)[0]
    return torch.stack(outs, dim=1)


# -- the RDB cell ------------------------------------------------------------------------------
def test_cell_contract_and_zero_initial_hidden():
    cell = RDBCell(**TINY).eval()
    assert (cell.in_channels, cell.feature_channels, cell.hidden_channels, cell.scale) == (
        3,
        20,
        N,
        4,
    )
    frame = torch.rand(2, 3, 16, 24)
    feature, hidden = cell(frame, None)
    assert feature.shape == (2, 20, 4, 6) and hidden.shape == (2, N, 4, 6)
    zeros, _ = cell(frame, torch.zeros(2, N, 4, 6))
    torch.testing.assert_close(feature, zeros, rtol=0, atol=0)  # h_0 = 0
    again, _ = cell(frame, hidden)
    assert not torch.allclose(again, feature)  # h_{t-1} is used
    with pytest.raises(ValueError, match="multiples of 4"):
        cell(torch.rand(1, 3, 18, 16), None)
    with pytest.raises(ValueError, match="hidden"):
        cell(frame, torch.zeros(2, N, 8, 6))


def test_cell_layout_follows_the_paper_naming():
    cell = RDBCell(blocks=3, channels=80)
    assert len(cell.middle) == 3  # B#
    assert cell.hidden_channels == 16  # C80 -> n = 16
    rdbs = [m for m in cell.modules() if isinstance(m, ResidualDenseBlock)]
    assert len(rdbs) == 2 + 3 + 1  # downsampling, middle, hidden-state generation
    # strided 5x5 convs: x4 downsampling 16 -> 32 -> 64 channels, concat with h -> 80
    strided = [m for m in cell.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert [(m.in_channels, m.out_channels, m.kernel_size) for m in strided] == [
        (16, 32, (5, 5)),
        (32, 64, (5, 5)),
    ]
    assert sum(isinstance(m, nn.GELU) for m in cell.modules()) == 3 * len(rdbs)
    relu = RDBCell(blocks=1, channels=10, activation=nn.ReLU)
    assert not any(isinstance(m, nn.GELU) for m in relu.modules())


def test_residual_dense_block_is_residual():
    block = ResidualDenseBlock(6, growth=3)
    with torch.no_grad():
        block.fuse.weight.zero_()
        block.fuse.bias.zero_()
    x = torch.randn(1, 6, 5, 5)
    torch.testing.assert_close(block(x), x)


# -- shapes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("flags", FLAGS, ids=FLAG_IDS)
def test_estrnn_pad_gives_every_frame_and_drop_gives_t_minus_window(flags):
    model = tiny(**flags).eval()
    _, dropped = assert_pad_is_drop_on_edge_padded_clip(model, clip())
    assert dropped.shape[1] == 6 - 4


@pytest.mark.parametrize("flags", FLAGS, ids=FLAG_IDS)
def test_rdbn_is_causal_and_gives_every_frame(flags):
    model = tiny("rdbn", **flags).eval()
    assert isinstance(model, RecurrentDeblurNet) and model.past == model.future == 0
    frames = clip()
    out, _ = model(frames)
    assert out.shape == frames.shape
    torch.testing.assert_close(model(frames, ends="drop")[0], out, rtol=0, atol=0)
    changed = frames.clone()
    changed[:, 3:] = torch.rand_like(changed[:, 3:])
    other, _ = model(changed)
    torch.testing.assert_close(other[:, :3], out[:, :3], rtol=0, atol=0)
    assert not torch.allclose(other[:, 3], out[:, 3])


@given(b=st.integers(1, 2), t=st.integers(1, 6), h=st.integers(1, 13), w=st.integers(1, 13))
def test_any_size_and_length(b, t, h, w):
    model = tiny(blocks=1, channels=5).eval()
    frames = torch.rand(b, t, 3, h, w)
    padded, _ = model(frames)
    dropped, _ = model(frames, ends="drop")
    assert padded.shape == (b, t, 3, h, w)
    assert dropped.shape == (b, max(t - 4, 0), 3, h, w)
    assert tiny("rdbn", blocks=1, channels=5)(frames)[0].shape == (b, t, 3, h, w)


@pytest.mark.parametrize(("past", "future"), [(0, 0), (1, 0), (3, 1), (0, 2)])
def test_other_windows(past, future):
    model = tiny(past=past, future=future).eval()
    assert (model.past, model.future) == (past, future)
    assert model.gsa.window == past + 1 + future
    frames = clip(b=1, t=6)
    assert model(frames, ends="drop")[0].shape[1] == 6 - past - future
    assert model(frames)[0].shape[1] == 6


def test_channel_layout():
    bare = tiny()
    assert bare.scale == 4 and bare.past == 2 and bare.future == 2
    assert bare.gsa.channels == 20 and isinstance(bare.gsa.gate[1], nn.GELU)
    assert bare.reconstructor.in_channels == 5 * 20  # F_t only, h_t not decoded
    full = tiny(irm=True, atb=True)
    assert full.gsa.channels == 20  # GSA fuses the cell features f_t only
    assert full.wrapped.atb.channels == 20 and full.wrapped.irm.channels == N
    assert full.reconstructor.in_channels == 5 * 20 + 20 + N  # cat(F_t, f~_t, h~_t)
    rdbn = tiny("rdbn")
    assert rdbn.reconstructor.in_channels == 20 + N  # cat(f_t, h_t), RIRN eq. (2)
    assert tiny("rdbn", irm=True, atb=True).reconstructor.in_channels == 2 * (20 + N)
    assert build_rdbn(device="meta").wrapped.cell.blocks == 15  # B15C80 default
    assert len(build_estrnn(device="meta").wrapped.cell.middle) == 9  # B9C80 default


# -- the look-ahead window -------------------------------------------------------------------
def test_advance_returns_none_until_the_window_is_full_and_keeps_a_bounded_buffer():
    model = tiny().eval()
    frames = clip(t=9).unbind(1)
    state = None
    for i, frame in enumerate(frames):
        out, state = model.step(frame, state, ends="drop")
        assert (out is None) == (i < 4)
        assert isinstance(state.inner, ESTRNNState)
        assert len(state.inner.features) == len(state.inner.frames) == min(i + 1, 5)
    assert model.flush(state, ends="drop")[0] == []
    assert len(model.flush(state, ends="pad")[0]) == 2


@pytest.mark.parametrize("flags", [{}, {"irm": True, "atb": True}], ids=["bare", "irm-atb"])
@pytest.mark.parametrize("k", [2, 3, 5])
def test_output_t_does_not_depend_on_frames_after_t_plus_future(flags, k):
    model = tiny(**flags).eval()
    frames = clip()
    changed = frames.clone()
    changed[:, k:] = torch.rand_like(changed[:, k:])
    a, _ = model(frames)
    b, _ = model(changed)
    torch.testing.assert_close(a[:, : k - 2], b[:, : k - 2], rtol=0, atol=0)
    assert not torch.allclose(a[:, k - 2], b[:, k - 2])  # ... but on frame t + 2


def test_output_depends_on_past_frames_through_the_hidden_state():
    # float64: the influence of frame 0 on the last output has decayed to ~1e-7 (float32
    # rounding) in this small untrained model
    model = tiny().double().eval()
    frames = clip(t=9).double()
    changed = frames.clone()
    changed[:, 0] = torch.rand_like(changed[:, 0])
    a, _ = model(frames, ends="drop")
    b, _ = model(changed, ends="drop")
    # frame 0 left the window long before the last output; it lives on in h_t
    assert (a[:, -1] - b[:, -1]).abs().max() > 1e-12


def test_addons_of_the_output_frame_reach_the_reconstructor():
    model = tiny(atb=True).eval()
    frames = clip()
    a, _ = model(frames)
    with torch.no_grad():  # silence f~_t: the output must change
        model.wrapped.atb.current[-2].weight.zero_()
        model.wrapped.atb.current[-2].bias.fill_(-1e4)
        model.wrapped.atb.previous[-2].weight.zero_()
        model.wrapped.atb.previous[-2].bias.fill_(-1e4)
    b, _ = model(frames)
    assert not torch.allclose(a, b)
    assert torch.isfinite(b).all()


# -- gradients --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["estrnn", "rdbn"])
@pytest.mark.parametrize("flags", [{}, {"irm": True, "atb": True}], ids=["bare", "irm-atb"])
def test_gradients_reach_every_parameter(name, flags):
    model = tiny(name, **flags).train()
    restored, _ = model(clip(t=6), ends="pad")
    (restored - clip(seed=3)).square().mean().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


# -- streaming --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["estrnn", "rdbn"])
@pytest.mark.parametrize("flags", FLAGS, ids=FLAG_IDS)
@pytest.mark.parametrize("ends", ["pad", "drop"])
def test_streaming_equals_whole_clip(name, flags, ends):
    model = tiny(name, **flags).eval()
    frames = clip(t=7, h=14, w=18)
    whole, _ = model(frames, ends=ends)
    torch.testing.assert_close(stream(model, frames, ends), whole, rtol=0, atol=0)
    first, state = model(frames[:, :3], ends=ends, final=False)
    second, _ = model(frames[:, 3:], detach_state(state), ends=ends)
    torch.testing.assert_close(torch.cat((first, second), 1), whole, rtol=0, atol=0)


# -- state_dict -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["estrnn", "rdbn"])
@pytest.mark.parametrize("flags", [{}, {"irm": True, "atb": True}], ids=["bare", "irm-atb"])
def test_state_dict_round_trip(name, flags):
    assert_state_dict_round_trip(lambda seed: tiny(name, seed=seed, **flags), clip())


# -- config -----------------------------------------------------------------------------------
BAD = [
    ({"blocks": 0}, "blocks", ">= 1"),
    ({"blocks": 2.0}, "blocks", ">= 1"),
    ({"blocks": True}, "blocks", ">= 1"),
    ({"channels": 82}, "channels", "multiple of 5"),
    ({"channels": 0}, "channels", "multiple of 5"),
    ({"channels": "80"}, "channels", "multiple of 5"),
    ({"irm": "yes"}, "irm", "True or False"),
    ({"atb": None}, "atb", "True or False"),
    ({"activation": "gelu"}, "activation", "nn.GELU"),
]


@pytest.mark.parametrize("name", ["estrnn", "rdbn"])
@pytest.mark.parametrize(("kwargs", "arg", "allowed"), BAD)
def test_bad_config_raises_naming_the_argument(name, kwargs, arg, allowed):
    with pytest.raises(ValueError, match=f"`{arg}`.*{allowed}"):
        BUILDERS[name](**{**TINY, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "arg"), [({"past": -1}, "past"), ({"future": "2"}, "future")]
)
def test_bad_window_raises(kwargs, arg):
    with pytest.raises(ValueError, match=f"`{arg}` must be an int >= 0"):
        build_estrnn(**{**TINY, **kwargs})


def test_unknown_option_is_rejected():
    with pytest.raises(TypeError):
        build_estrnn(num_blocks=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        build_rdbn(past=2)  # type: ignore[call-arg]


def test_registry_builds_both():
    estrnn = build_model("estrnn", irm=True, **TINY)
    assert isinstance(estrnn, ESTRNN) and estrnn.wrapped.irm is not None
    rdbn = build_model("rdbn", atb=True, **TINY)
    assert isinstance(rdbn.wrapped.cell, RDBCell) and rdbn.wrapped.atb is not None


# -- meta device ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["estrnn", "rdbn"])
def test_runs_on_the_meta_device_at_720p(name):
    model = BUILDERS[name](irm=True, atb=True, device="meta").eval()
    with torch.no_grad():
        out, _ = model(torch.empty(1, 5, 3, 720, 1280, device="meta"))
    assert out.shape == (1, 5, 3, 720, 1280) and out.device.type == "meta"


@pytest.mark.parametrize("module", [rdb_module, estrnn_module], ids=["rdb", "estrnn"])
def test_docstring_examples(module):
    result = doctest.testmod(
        module, extraglobs={"torch": torch, "nn": nn}, optionflags=doctest.ELLIPSIS
    )
    assert result.attempted > 0 and result.failed == 0
