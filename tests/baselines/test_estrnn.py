"""ESTRNN (ECCV 2020), its RDB cell and RIRN's RDBN: what is particular to them.

The RDB cell (zero first hidden state, the paper's layout, residual dense blocks), the
channel layout and IRM/ATB placement, the look-ahead window: its bounded buffers, other
windows, and at ESTRNN's default 2 + 1 + 2 window (the contract builds 1 + 1 + 1) the padded
ends, causality, the hidden state carrying frames that left the window and streaming;
streaming with IRM alone and ATB alone; config errors. The contract every model keeps
(shapes, gradients, streaming, causality, state_dict, MACs, export, dtypes) is checked once
for the whole zoo in tests/test_contract.py.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from _contract import assert_pad_is_drop_on_edge_padded_clip
from torch import nn

from rirn_layers import RecurrentDeblurNet, detach_state
from rirn_layers.baselines.estrnn import ESTRNN, ESTRNNState, build_estrnn
from rirn_layers.baselines.rdb import RDBCell, ResidualDenseBlock, build_rdbn

TINY = {"blocks": 2, "channels": 20}  # n = 4
N = TINY["channels"] // 5
FLAGS = [{"irm": irm, "atb": atb} for irm, atb in itertools.product((False, True), repeat=2)]
FLAG_IDS = [f"irm={f['irm']}-atb={f['atb']}" for f in FLAGS]
BUILDERS = {"estrnn": build_estrnn, "rdbn": build_rdbn}
RIRN_FLAGS = [{}, {"irm": True, "atb": True}]  # the flags the contract builds
RIRN_IDS = ["bare", "irm-atb"]


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
@pytest.mark.parametrize("flags", RIRN_FLAGS, ids=RIRN_IDS)
def test_estrnn_pad_gives_every_frame_and_drop_gives_t_minus_window(flags):
    # at the default window, past = future = 2
    model = tiny(**flags).eval()
    _, dropped = assert_pad_is_drop_on_edge_padded_clip(model, clip())
    assert dropped.shape[1] == 6 - 4


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
    assert isinstance(rdbn, RecurrentDeblurNet) and rdbn.past == rdbn.future == 0
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
        assert len(state.inner.features) == min(i + 1, 5)
        assert state.inner.frames == ()  # ESTRNNReconstructor ignores the input frame
    assert model.flush(state, ends="drop")[0] == []
    assert len(model.flush(state, ends="pad")[0]) == 2


def test_frames_are_carried_only_for_a_reconstructor_that_reads_them():
    from rirn_layers import Reconstructor

    bare = tiny().eval()
    head = Reconstructor(bare.reconstructor.in_channels, scale=4, mid_channels=8, num_blocks=0,
                         residual=True)
    model = ESTRNN(bare.wrapped, bare.gsa, head).eval()
    assert not bare.reads_frame and model.reads_frame
    frames = clip(t=6)
    state = None
    with torch.no_grad():
        for i, frame in enumerate(frames.unbind(1)):
            out, state = model.step(frame, state, ends="drop")
            assert len(state.inner.frames) == min(i + 1, 5)
        expected = head(bare.gsa(torch.stack(state.inner.features, 1)), frames[:, -3])
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


# at the default window (past = future = 2); the contract checks 1 + 1 + 1
@pytest.mark.parametrize("flags", RIRN_FLAGS, ids=RIRN_IDS)
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


# -- streaming --------------------------------------------------------------------------------
#: ESTRNN at its default window, all flags; RDBN (no window) with IRM alone and ATB alone
#: (the contract streams ESTRNN at 1 + 1 + 1 and RDBN bare and with IRM + ATB)
STREAMED = [("estrnn", f, i) for f, i in zip(FLAGS, FLAG_IDS, strict=True)] + [
    ("rdbn", f, i) for f, i in zip(FLAGS, FLAG_IDS, strict=True) if f["irm"] != f["atb"]
]


@pytest.mark.parametrize(("name", "flags"), [s[:2] for s in STREAMED],
                         ids=[f"{n}-{i}" for n, _, i in STREAMED])
@pytest.mark.parametrize("ends", ["pad", "drop"])
def test_streaming_equals_whole_clip(name, flags, ends):
    model = tiny(name, **flags).eval()
    frames = clip(t=7, h=14, w=18)
    whole, _ = model(frames, ends=ends)
    window = model.past + model.future
    assert whole.shape == (2, 7 - window * (ends == "drop"), 3, 14, 18)
    torch.testing.assert_close(stream(model, frames, ends), whole, rtol=0, atol=0)
    first, state = model(frames[:, :3], ends=ends, final=False)
    second, _ = model(frames[:, 3:], detach_state(state), ends=ends)
    torch.testing.assert_close(torch.cat((first, second), 1), whole, rtol=0, atol=0)


# -- config -----------------------------------------------------------------------------------
BAD = [
    ({"blocks": 0}, "blocks", ">= 1"),
    ({"blocks": 2.0}, "blocks", ">= 1"),
    ({"blocks": True}, "blocks", ">= 1"),
    ({"channels": 82}, "channels", "multiple of 5"),
    ({"channels": 0}, "channels", "multiple of 5"),
    ({"channels": "80"}, "channels", "multiple of 5"),
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

