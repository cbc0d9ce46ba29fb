"""STFAN (ICCV 2019): what is particular to it.

The wrapped cell's channel layout, gradients through the fed-back frames, the past reaching
later outputs through L_{t-1} and F_{t-1}, the clamped feedback, the first-frame convention,
the cell's input checks, the official parameter count, LeakyReLU and the initialisation, the
MACs of IRM and ATB at 720p, streaming with IRM alone and ATB alone, bad configs and
mismatched parts. The contract every model keeps (shapes, gradients, streaming, causality,
state_dict, MACs, export, dtypes) is checked once for the whole zoo in
tests/test_contract.py.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from rirn_layers import AdaptiveTemporalBlend, InnerRecurrence, detach_state
from rirn_layers.baselines.stfan import STFAN, STFANCell, STFANDecoder, build_stfan

TINY = {"channels": (4, 8, 8), "fac_kernel_size": 3, "num_blocks": 1}
#: IRM alone and ATB alone: the contract (tests/test_contract.py) builds bare and IRM + ATB
PARTIAL = [{"irm": True, "atb": False}, {"irm": False, "atb": True}]
PARTIAL_IDS = ["irm-only", "atb-only"]


def tiny(seed: int = 0, **kwargs) -> STFAN:
    torch.manual_seed(seed)
    return build_stfan(**{**TINY, **kwargs})


def clip(b: int = 2, t: int = 3, h: int = 32, w: int = 32, seed: int = 1) -> torch.Tensor:
    return torch.rand(b, t, 3, h, w, generator=torch.Generator().manual_seed(seed))


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# -- layout --------------------------------------------------------------------------------
def test_channel_layout_of_the_wrapped_cell():
    bare, full = tiny(), tiny(irm=True, atb=True)
    c3 = TINY["channels"][2]
    assert bare.past == bare.future == 0 and bare.scale == 4
    assert bare.wrapped.in_channels == 9
    assert bare.reconstructor.in_channels == 2 * c3  # STFAN's decoder reads cat(f_t, h_t)
    assert full.wrapped.irm.channels == c3  # IRM over the aligned feature h_t
    assert full.wrapped.atb.channels == c3  # ATB over the deblurred feature f_t
    assert full.reconstructor.in_channels == 4 * c3  # cat(f_t, h_t, f~_t, h~_t)
    assert tiny(irm=True).reconstructor.in_channels == 3 * c3
    # IRM reads the aligned feature h_t = hidden[0], ATB the deblurred feature f_t
    full.eval()
    stacked = torch.rand(1, 9, 16, 16)
    with torch.no_grad():
        out, state = full.wrapped(stacked, None)
        feature, (aligned, fed_back) = full.wrapped.cell(stacked, None)
        torch.testing.assert_close(state.memory, full.wrapped.irm(aligned), rtol=0, atol=0)
        torch.testing.assert_close(state.blended, full.wrapped.atb(feature), rtol=0, atol=0)
    expected = torch.cat((feature, aligned, state.blended, state.memory), 1)
    torch.testing.assert_close(out.cat(), expected)
    assert fed_back is feature and not torch.allclose(aligned, feature)


# -- gradients ---------------------------------------------------------------------------
def test_gradients_flow_through_the_feedback_unless_detached():
    model = tiny().train()
    frames = clip(t=2).requires_grad_()
    _, state = model.step(frames[:, 0])
    out, _ = model.step(frames[:, 1], state)
    (grad,) = torch.autograd.grad(out.sum(), frames)
    assert grad[:, 0].abs().sum() > 0  # through B_{t-1}, L_{t-1} and F_{t-1}
    _, state = model.step(frames[:, 0])
    out, _ = model.step(frames[:, 1], detach_state(state))  # the official 1-step training
    (grad,) = torch.autograd.grad(out.sum(), frames)
    assert grad[:, 0].abs().sum() == 0 and grad[:, 1].abs().sum() > 0


# -- streaming ---------------------------------------------------------------------------
@pytest.mark.parametrize("flags", PARTIAL, ids=PARTIAL_IDS)
def test_streaming_equals_whole_clip_with_irm_or_atb_alone(flags):
    model = tiny(**flags).eval()
    frames = clip(t=4, h=30, w=34)
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


# -- recurrence ---------------------------------------------------------------------------
def test_output_depends_on_the_past_through_the_state():
    # (the contract's check, output 1 against frame 0, would pass through B_{t-1} alone)
    model = tiny().eval()
    frames = clip(t=4)
    changed = frames.clone()
    changed[:, 0] = torch.rand_like(changed[:, 0])
    a, _ = model(frames)
    b, _ = model(changed)
    # frame 0 is B_{t-1} only for t = 1; later it lives on in L_{t-1} and F_{t-1}
    assert not torch.allclose(a[:, -1], b[:, -1])


@pytest.mark.parametrize("clamp", [True, False])
def test_previous_output_is_fed_back_clamped(clamp):
    model = tiny(clamp_feedback=clamp).eval()
    with torch.no_grad():  # push the output out of [0, 1] so the clamp matters
        model.reconstructor.body[-1][0].bias.fill_(0.8)
    frames = clip(t=2)
    out, state = model.step(frames[:, 0])
    assert out.max() > 1
    inner = state.inner
    torch.testing.assert_close(inner.previous_frame, frames[:, 0], rtol=0, atol=0)
    expected = out.clamp(0, 1) if clamp else out
    torch.testing.assert_close(inner.previous_output, expected, rtol=0, atol=0)
    # the fed-back frame is used: another L_{t-1} changes the next output
    second, _ = model.step(frames[:, 1], state)
    other = state._replace(inner=inner._replace(previous_output=torch.zeros_like(out)))
    assert not torch.allclose(second, model.step(frames[:, 1], other)[0])


def test_first_frame_convention():
    cell = STFANCell(**TINY).eval()
    stacked = torch.rand(2, 9, 16, 16)
    with torch.no_grad():
        first, (h, f) = cell(stacked, None)
        encoded = cell.encoder(stacked[:, :3])
        # F_{-1} = cat(E_0, E_0): the same as a state holding the encoder feature twice
        again, (h2, _) = cell(stacked, (encoded, encoded))
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    torch.testing.assert_close(h, h2, rtol=0, atol=0)
    assert f is first
    # and the model starts from B_{-1} = L_{-1} = B_0
    model = tiny().eval()
    frame = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        features, _ = model.wrapped(torch.cat((frame, frame, frame), 1), None)
        expected = model.reconstructor(features.cat(), frame)
    torch.testing.assert_close(model.step(frame)[0], expected, rtol=0, atol=0)


def test_cell_checks_its_inputs():
    cell = STFANCell(**TINY).eval()
    stacked = torch.rand(1, 9, 16, 16)
    _, hidden = cell(stacked, None)
    with pytest.raises(ValueError, match="multiples of 4"):
        cell(torch.rand(1, 9, 16, 18), None)
    with pytest.raises(ValueError, match="stacked"):
        cell(torch.rand(1, 3, 16, 16), None)
    with pytest.raises(TypeError, match="hidden"):
        cell(stacked, hidden[:1])
    with pytest.raises(ValueError, match=r"hidden\[0\]"):
        cell(stacked, (hidden[0][..., :2], hidden[1]))


# -- architecture ----------------------------------------------------------------------------
def test_default_size_is_the_official_count():
    # 5,372,547: the official sczhou/STFAN DeblurNet, counted layer by layer
    assert n_params(build_stfan(device="meta")) == 5_372_547
    irm = n_params(InnerRecurrence(128, device="meta"))
    atb = n_params(AdaptiveTemporalBlend(128, device="meta"))
    widen = 128 * 64 * 16  # 128 more input channels of the first 4x4 deconvolution
    assert n_params(build_stfan(irm=True, device="meta")) == 5_372_547 + irm + widen
    assert n_params(build_stfan(atb=True, device="meta")) == 5_372_547 + atb + widen
    both = n_params(build_stfan(irm=True, atb=True, device="meta"))
    assert both == 5_372_547 + irm + atb + 2 * widen


def test_leaky_relu_everywhere_and_xavier_init():
    model = tiny(negative_slope=0.2)
    slopes = {m.negative_slope for m in model.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.2}
    cell = model.wrapped.cell
    for head in (cell.align_filters, cell.deblur_filters):  # the predicted filters too
        assert isinstance(head[-1][-1], nn.LeakyReLU)
    assert isinstance(model.reconstructor.body[-1][-1], nn.LeakyReLU)
    convs = [m for m in cell.modules() if isinstance(m, nn.Conv2d)]
    assert all(torch.count_nonzero(m.bias) == 0 for m in convs)


@pytest.mark.parametrize("flags", [{}, {"atb": True}, {"irm": True}], ids=["bare", "atb", "irm"])
def test_meta_device_flop_count_at_720p(flags):
    h, w = 720, 1280

    def flops(model: STFAN) -> int:
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            out, _ = model(torch.empty(1, 1, 3, h, w, device="meta"))
        assert out.shape == (1, 1, 3, h, w) and out.device.type == "meta"
        return counter.get_total_flops()

    bare = flops(build_stfan(device="meta").eval())
    assert bare > 0
    if flags:
        extra = flops(build_stfan(device="meta", **flags).eval()) - bare
        px = (h // 4) * (w // 4)
        widen = 128 * 64 * 16  # per input pixel (FlopCounterMode's rule for deconvs)
        if flags.get("atb"):  # conv 3x3 256->256, per half: conv 3x3 and conv 1x1 128->128
            layers = 256 * 256 * 9 + 2 * (128 * 128 * 9 + 128 * 128)
        else:  # 3 conv 3x3 256->256, ResBlock(256), conv 256->128, ResBlock(128)
            layers = 5 * 256 * 256 * 9 + 256 * 128 * 9 + 2 * 128 * 128 * 9
        assert extra == 2 * px * (layers + widen)


# -- config --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"channels": (4, 8)}, "channels"),
        ({"channels": (4, 8, 0)}, "channels"),
        ({"channels": 8}, "channels"),
        ({"channels": (4, True, 8)}, "channels"),
        ({"fac_kernel_size": 4}, "fac_kernel_size"),
        ({"fac_kernel_size": 0}, "fac_kernel_size"),
        ({"num_blocks": -1}, "num_blocks"),
        ({"num_blocks": 1.0}, "num_blocks"),
        ({"negative_slope": 1.0}, "negative_slope"),
        ({"negative_slope": "0.1"}, "negative_slope"),
        ({"clamp_feedback": 1}, "clamp_feedback"),
    ],
)
def test_bad_config_raises_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        build_stfan(**{**TINY, **kwargs})


def test_mismatched_parts():
    model = tiny()
    with pytest.raises(ValueError, match="reconstructor"):
        STFAN(model.wrapped, STFANDecoder(5, channels=(4, 8), num_blocks=1))
    with pytest.raises(ValueError, match="channels"):
        STFANDecoder(16, channels=(4,))


def test_zero_blocks_and_a_1x1_fac_kernel():
    lean = tiny(num_blocks=0, fac_kernel_size=1)
    assert lean(clip(b=1, t=2))[0].shape == (1, 2, 3, 32, 32)

