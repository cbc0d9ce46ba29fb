"""RIRN's GRU and LSTM baselines (supp. tables S2, S1): what is particular to them.

The tables' parameter counts, shapes and FLOPs, the cells' equations, the reconstructor's
inputs, IRM over ``h`` (not ``c``), the residual option, DTB in ATB's place, the cells' input
checks, bad configs, and streaming with IRM alone and ATB alone. The contract every model
keeps (shapes, gradients, streaming, causality, state_dict, MACs, export, dtypes) is checked
once for the whole zoo in tests/test_contract.py.
"""

from __future__ import annotations

import pytest
import torch
from _contract import assert_state_dict_round_trip
from torch.utils.flop_counter import FlopCounterMode

from rirn_layers import RecurrentDeblurNet, detach_state
from rirn_layers.baselines import build_model
from rirn_layers.baselines.gru_lstm import ConvGRUCell, ConvLSTMCell, build_gru, build_lstm

TINY = {"channels": (4, 6, 8), "hidden_channels": 4}
BUILDERS = {"gru": build_gru, "lstm": build_lstm}
#: IRM alone and ATB alone: the contract (tests/test_contract.py) builds bare and IRM + ATB
PARTIAL = [{"irm": True, "atb": False}, {"irm": False, "atb": True}]
PARTIAL_IDS = ["irm-only", "atb-only"]


def tiny(name: str, seed: int = 0, **kwargs) -> RecurrentDeblurNet:
    torch.manual_seed(seed)
    return BUILDERS[name](**{**TINY, **kwargs})


def clip(b: int = 2, t: int = 3, h: int = 16, w: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.rand(b, t, 3, h, w, generator=torch.Generator().manual_seed(seed))


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv_params(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k * k + c_out  # weights + bias


# -- the tables ----------------------------------------------------------------------------
def test_gru_cell_parameter_count_is_table_s2():
    # table S2, layer by layer (5x5 / 3x3 convs with bias; ResBlock = two 3x3 convs)
    encoder = conv_params(3, 20, 5) + conv_params(20, 40, 5) + conv_params(40, 60, 5)
    gates = conv_params(60 + 20, 80, 5)  # concat(x 60, h 20) -> split 60 update, 20 reset
    candidate = conv_params(60 + 20, 60, 5)  # concat(x, r * h) -> 60, tanh
    tail = conv_params(60, 20, 3) + 2 * conv_params(20, 20, 3) + conv_params(20, 20, 3)
    expected = encoder + gates + candidate + tail
    assert expected == 1_520 + 20_040 + 60_060 + 160_080 + 120_060 + 10_820 + 7_240 + 3_620
    assert n_params(ConvGRUCell()) == expected == 383_440


def test_lstm_cell_parameter_count_is_table_s1():
    # table S1: the same encoder, then one 5x5 conv 80 -> 80 split into 4 x 20
    encoder = conv_params(3, 20, 5) + conv_params(20, 40, 5) + conv_params(40, 60, 5)
    gates = conv_params(60 + 20, 4 * 20, 5)
    assert n_params(ConvLSTMCell()) == encoder + gates == 241_700


def test_table_shapes_at_h_over_4():
    frame = torch.rand(1, 3, 32, 48)
    f, h = ConvGRUCell()(frame)
    assert f.shape == (1, 60, 8, 12) and h.shape == (1, 20, 8, 12)
    f, (h, c) = ConvLSTMCell()(frame)
    assert f.shape == (1, 60, 8, 12) and h.shape == c.shape == (1, 20, 8, 12)


def test_gru_cell_equations():
    torch.manual_seed(0)
    cell = ConvGRUCell(**TINY)
    frame = torch.rand(2, 3, 16, 16)
    h_prev = torch.randn(2, 4, 4, 4)
    feature, hidden = cell(frame, h_prev)
    x = cell.encoder(frame)
    z, r = torch.sigmoid(cell.gates(torch.cat((x, h_prev), 1))).split([8, 4], 1)
    n = torch.tanh(cell.candidate(torch.cat((x, r * h_prev), 1)))
    f = (1 - z) * x + z * n
    torch.testing.assert_close(feature, f)
    torch.testing.assert_close(hidden, cell.hidden_head(f))
    # the first frame starts from zeros
    torch.testing.assert_close(cell(frame)[1], cell(frame, torch.zeros_like(h_prev))[1])
    # the reset gate sees h_{t-1}: another h_{t-1} gives another feature
    assert not torch.allclose(cell(frame, torch.randn_like(h_prev))[0], feature)


def test_lstm_cell_equations():
    torch.manual_seed(0)
    cell = ConvLSTMCell(**TINY)
    frame = torch.rand(2, 3, 16, 16)
    h_prev, c_prev = torch.randn(2, 4, 4, 4), torch.randn(2, 4, 4, 4)
    feature, (h, c) = cell(frame, (h_prev, c_prev))
    x = cell.encoder(frame)
    forget, cand, out, inp = cell.gates(torch.cat((x, h_prev), 1)).split(4, 1)
    c_ref = torch.sigmoid(forget) * c_prev + torch.sigmoid(inp) * torch.tanh(cand)
    torch.testing.assert_close(feature, x)
    torch.testing.assert_close(c, c_ref)
    torch.testing.assert_close(h, torch.sigmoid(out) * torch.tanh(c_ref))
    assert bool((feature >= 0).all())  # ReLU after the encoder convolutions


@pytest.mark.parametrize("name", BUILDERS)
def test_reconstructor_reads_every_wrapped_feature(name):
    bare, full = tiny(name), tiny(name, irm=True, atb=True)
    assert bare.past == bare.future == 0 and bare.scale == 4
    assert bare.reconstructor.in_channels == 8 + 4  # cat(f_t, h_t), RIRN eq. 2
    assert full.reconstructor.in_channels == 2 * (8 + 4)  # + f~_t, h~_t
    assert full.wrapped.atb.channels == 8 and full.wrapped.irm.channels == 4
    assert build_gru().reconstructor.in_channels == 80  # 60 + 20, IFI-RNN's F_L width


def test_lstm_irm_tracks_h_not_c():
    model = tiny("lstm", irm=True).eval()
    frame = clip()[:, 0]
    _, state = model.step(frame)
    h, c = state.inner.hidden
    torch.testing.assert_close(state.inner.memory, model.wrapped.irm(h))
    assert not torch.allclose(model.wrapped.irm(c), state.inner.memory)


# -- streaming -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", BUILDERS)
@pytest.mark.parametrize("flags", PARTIAL, ids=PARTIAL_IDS)
def test_streaming_equals_whole_clip_with_irm_or_atb_alone(name, flags):
    model = tiny(name, **flags).eval()
    frames = clip(t=4, h=14, w=18)
    whole, _ = model(frames)
    assert whole.shape == frames.shape
    state, outs = None, []
    for frame in frames.unbind(1):
        out, state = model.step(frame, state)
        outs.append(out)
    rest, _ = model.flush(state)
    assert rest == []
    torch.testing.assert_close(torch.stack(outs, 1), whole, rtol=0, atol=0)
    first, state = model(frames[:, :1], final=False)
    second, _ = model(frames[:, 1:], detach_state(state))
    torch.testing.assert_close(torch.cat((first, second), 1), whole, rtol=0, atol=0)


# -- config --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", BUILDERS)
@pytest.mark.parametrize(
    ("kwargs", "arg"),
    [
        ({"channels": (4, 6)}, "channels"),
        ({"channels": (4, 0, 8)}, "channels"),
        ({"channels": "468"}, "channels"),
        ({"hidden_channels": 0}, "hidden_channels"),
        ({"hidden_channels": 2.0}, "hidden_channels"),
        ({"residual": "no"}, "residual"),
    ],
)
def test_bad_config_raises_naming_the_argument(name, kwargs, arg):
    with pytest.raises(ValueError, match=f"`{arg}`"):
        BUILDERS[name](**{**TINY, **kwargs})


@pytest.mark.parametrize("name", BUILDERS)
def test_cell_rejects_bad_inputs(name):
    cell = tiny(name).wrapped.cell
    with pytest.raises(ValueError, match="divisible by 4"):
        cell(torch.rand(1, 3, 18, 16))
    with pytest.raises(ValueError, match="hidden"):
        state = torch.zeros(1, 4, 2, 2)
        cell(torch.rand(1, 3, 16, 16), state if name == "gru" else (state, state))


def test_residual_option_adds_the_frame():
    plain = tiny("gru").eval()
    residual = tiny("gru", residual=True).eval()
    residual.load_state_dict(plain.state_dict())
    frames = clip()
    torch.testing.assert_close(residual(frames)[0], plain(frames)[0] + frames)


# -- meta device / MACs --------------------------------------------------------------------
def test_gru_cell_flops_at_720p_match_table_s2():
    h, w = 720, 1280
    hw, q = h * w, (h // 4) * (w // 4)
    macs = (
        3 * 20 * 25 * hw  # conv 5x5 stride 1
        + 20 * 40 * 25 * (hw // 4)  # conv 5x5 stride 2
        + 40 * 60 * 25 * q  # conv 5x5 stride 2
        + 80 * 80 * 25 * q  # gates
        + 80 * 60 * 25 * q  # candidate
        + (60 * 20 + 3 * 20 * 20) * 9 * q  # conv 3x3, ResBlock, conv 3x3
    )
    cell = ConvGRUCell(device="meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        f, hidden = cell(torch.empty(1, 3, h, w, device="meta"))
    assert f.device.type == "meta" and hidden.shape == (1, 20, h // 4, w // 4)
    assert counter.get_total_flops() == 2 * macs


# -- DTB in ATB's place (RIRN figs. 4 and 6) ---------------------------------------------------
@pytest.mark.parametrize("name", BUILDERS)
def test_dtb_takes_atbs_place(name):
    from rirn_layers import AdaptiveTemporalBlend, DynamicTemporalBlend

    model = tiny(name, irm=True, dtb=True)
    blend = model.wrapped.atb
    assert isinstance(blend, DynamicTemporalBlend) and blend.channels == TINY["channels"][-1]
    assert not any(isinstance(m, AdaptiveTemporalBlend) for m in model.modules())
    out, _ = model(clip())
    assert out.shape == clip().shape
    assert_state_dict_round_trip(lambda seed: tiny(name, seed, irm=True, dtb=True), clip())
    out.sum().backward()
    assert all(p.grad is not None for p in blend.parameters())
    with pytest.raises(ValueError, match="`atb` and `dtb` fill the same slot"):
        tiny(name, atb=True, dtb=True)
    with pytest.raises(ValueError, match="`dtb` must be True or False"):
        tiny(name, dtb="yes")
    assert isinstance(build_model(name, irm=True, dtb=True).wrapped.atb, DynamicTemporalBlend)
