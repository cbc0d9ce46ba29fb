"""STRCNN (OVD, ICCV 2017): what is particular to it.

The 2 + 1 + 2 frame window (the padded ends change the state), the wrapped cell's channel
layout, per-call BatchNorm statistics in training, DTB (placement, parameters, beta = 1),
the cell's fed-back hidden state, the setups the shared contract does not build (IRM or ATB
alone, with or without DTB; ``decode_hidden``; other windows), bad configs and DTB's MACs.
The contract every model keeps (shapes, gradients, streaming, causality, state_dict, MACs,
export, dtypes) is checked once for the whole zoo in tests/test_contract.py.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from _contract import assert_pad_is_drop_on_edge_padded_clip
from torch.utils.flop_counter import FlopCounterMode

from rirn_layers import DynamicTemporalBlend, detach_state
from rirn_layers.baselines import build_model
from rirn_layers.baselines.strcnn import STRCNN, STRCNNCell, build_strcnn

TINY = {"channels": 8, "hidden_channels": 4, "encoder_blocks": 1, "decoder_blocks": 1}
FLAGS = [
    {"irm": irm, "atb": atb, "dtb": dtb}
    for irm, atb, dtb in itertools.product((False, True), repeat=3)
]
FLAG_IDS = [f"irm={f['irm']}-atb={f['atb']}-dtb={f['dtb']}" for f in FLAGS]
#: the flags tests/test_contract.py does not build (it builds bare, IRM + ATB and no DTB)
UNBUILT = [
    (f, i) for f, i in zip(FLAGS, FLAG_IDS, strict=True)
    if (f["irm"], f["atb"], f["dtb"]) not in {(False, False, True), (True, True, True),
                                             (False, False, False)}
]


def tiny(seed: int = 0, **kwargs) -> STRCNN:
    torch.manual_seed(seed)
    return build_strcnn(**{**TINY, **kwargs})


def clip(b: int = 2, t: int = 6, h: int = 16, w: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.rand(b, t, 3, h, w, generator=torch.Generator().manual_seed(seed))


def warm_up(model: STRCNN) -> STRCNN:
    """Move the BatchNorm running statistics away from their defaults, then eval."""
    model.train()
    with torch.no_grad():
        model(clip(seed=7))
    return model.eval()


# -- the window's ends --------------------------------------------------------------------
@pytest.mark.parametrize("flags", FLAGS, ids=FLAG_IDS)
def test_the_extra_windows_at_the_ends_change_the_state(flags):
    model = tiny(**flags).eval()
    # (pad == drop on the edge-padded clip, also for the flags the contract does not build)
    padded, dropped = assert_pad_is_drop_on_edge_padded_clip(model, clip())
    assert not torch.allclose(padded[:, 2:-2], dropped)  # the extra windows change the state


def test_channel_layout_of_the_wrapped_cell():
    bare = tiny()
    assert bare.scale == 2 and bare.past == 2 and bare.future == 2
    assert bare.wrapped.in_channels == 15
    # OVD's decoder reads only its own feature d_n
    assert bare.reconstructor.in_channels == TINY["channels"]
    full = tiny(irm=True, atb=True)
    assert full.wrapped.atb.channels == TINY["channels"]  # ATB over the feature d_n
    assert full.wrapped.irm.channels == TINY["hidden_channels"]  # IRM over F_n
    assert full.reconstructor.in_channels == 2 * TINY["channels"] + TINY["hidden_channels"]
    letter = tiny(irm=True, atb=True, decode_hidden=True)
    assert letter.reconstructor.in_channels == letter.wrapped.out_channels


# -- gradients ---------------------------------------------------------------------------
def test_gradients_reach_every_parameter_with_decode_hidden():
    model = tiny(irm=True, atb=True, decode_hidden=True).train()
    restored, _ = model(clip(), ends="pad")
    (restored - clip(seed=3)).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


# -- streaming -----------------------------------------------------------------------------
# IRM or ATB alone, with or without DTB, and IRM + ATB without DTB (the others: the contract)
@pytest.mark.parametrize("flags", [f for f, _ in UNBUILT], ids=[i for _, i in UNBUILT])
@pytest.mark.parametrize("ends", ["pad", "drop"])
def test_streaming_equals_whole_clip_in_eval_mode(flags, ends):
    model = warm_up(tiny(**flags))
    frames = clip(t=7, h=14, w=18)
    whole, _ = model(frames, ends=ends)
    state, outs = None, []
    for frame in frames.unbind(1):
        out, state = model.step(frame, state, ends=ends)
        if out is not None:
            outs.append(out)
    rest, _ = model.flush(state, ends=ends)
    streamed = torch.stack(outs + rest, dim=1)
    torch.testing.assert_close(streamed, whole, rtol=0, atol=0)
    first, state = model(frames[:, :3], ends=ends, final=False)
    second, _ = model(frames[:, 3:], detach_state(state), ends=ends)
    torch.testing.assert_close(torch.cat((first, second), 1), whole, rtol=0, atol=0)


def test_train_mode_statistics_are_per_call():
    model = tiny().train()
    frames = clip()
    whole, _ = model(frames)
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    # one running-statistics update per cell call: 6 windows for 6 frames with ends="pad"
    assert int(bn.num_batches_tracked) == frames.shape[1]
    state, outs = None, []
    for frame in frames.unbind(1):
        out, state = model.step(frame, state)
        if out is not None:
            outs.append(out)
    outs += model.flush(state)[0]
    # statistics are those of each window, so stepping gives the same outputs
    torch.testing.assert_close(torch.stack(outs, 1), whole)
    # and a frame's output depends on the other batch items (batch statistics)
    alone, _ = model(frames[:1])
    assert not torch.allclose(alone, whole[:1])


# -- DTB -----------------------------------------------------------------------------------
def test_dtb_false_has_no_dtb_parameters():
    with_dtb, without = tiny(), tiny(dtb=False)
    assert not any(isinstance(m, DynamicTemporalBlend) for m in without.modules())
    assert not any("dtb" in name for name, _ in without.named_parameters())
    dtb = next(m for m in with_dtb.modules() if isinstance(m, DynamicTemporalBlend))
    n = sum(p.numel() for p in dtb.parameters())
    assert sum(p.numel() for p in with_dtb.parameters()) - n == sum(
        p.numel() for p in without.parameters()
    )


def test_dtb_sits_between_encoder_and_decoder_and_beta_one_removes_it():
    with_dtb = warm_up(tiny())
    without = tiny(dtb=False).eval()
    state = {k: v for k, v in with_dtb.state_dict().items() if ".dtb." not in k}
    without.load_state_dict(state)
    frames = clip()
    a, _ = with_dtb(frames)
    b, _ = without(frames)
    assert not torch.allclose(a[:, 1:], b[:, 1:])
    # the first output is the same: DTB's first blend is the identity
    torch.testing.assert_close(a[:, 0], b[:, 0])
    with torch.no_grad():
        with_dtb.wrapped.cell.dtb.beta.fill_(1.0)  # w = 1: h~_n = h_n
    a, _ = with_dtb(frames)
    torch.testing.assert_close(a, b)


def test_dtb_is_trained_and_padded():
    model = tiny().train()
    restored, _ = model(clip())
    restored.mean().backward()
    dtb = model.wrapped.cell.dtb
    assert dtb.beta in set(model.parameters()) and dtb.beta.grad is not None
    assert dtb.weight_conv.padding == (2, 2)


def test_cell_hidden_is_the_fed_back_feature():
    cell = STRCNNCell(**TINY).eval()
    window = torch.rand(2, 15, 16, 16)
    feature, hidden = cell(window, None)
    assert feature.shape == (2, 8, 8, 8)
    assert hidden[0].shape == (2, 4, 8, 8) and hidden[1].shape == (2, 8, 8, 8)
    again, _ = cell(window, hidden)
    assert not torch.allclose(again, feature)  # F_{n-1} and h~_{n-1} are used
    with pytest.raises(TypeError, match="hidden"):
        cell(window, hidden[:1])
    with pytest.raises(ValueError, match="even"):
        cell(torch.rand(1, 15, 15, 16), None)


# -- config --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"channels": 1}, "channels"),
        ({"channels": True}, "channels"),
        ({"hidden_channels": 8}, "hidden_channels"),
        ({"hidden_channels": 0}, "hidden_channels"),
        ({"encoder_blocks": -1}, "encoder_blocks"),
        ({"decoder_blocks": 1.5}, "decoder_blocks"),
        ({"past": -1}, "past"),
        ({"future": "2"}, "future"),
        ({"dtb": 1}, "dtb"),
        ({"batch_norm": 0}, "batch_norm"),
        ({"decode_hidden": "no"}, "decode_hidden"),
    ],
)
def test_bad_config_raises_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        build_strcnn(**{**TINY, **kwargs})


def test_other_windows_and_registry():
    model = tiny(past=1, future=0).eval()
    assert model.wrapped.in_channels == 6
    assert model(clip(t=4), ends="drop")[0].shape[1] == 3
    registered = build_model("strcnn", irm=True, atb=True, **TINY)
    assert isinstance(registered, STRCNN) and registered.wrapped.irm is not None
    no_bn = tiny(batch_norm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in no_bn.modules())


# -- meta device / MACs --------------------------------------------------------------------
def flops(model: STRCNN, h: int, w: int) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        out, _ = model(torch.empty(1, 1, 3, h, w, device="meta"))
    assert out.shape == (1, 1, 3, h, w) and out.device.type == "meta"
    return counter.get_total_flops()


@pytest.mark.parametrize("flags", [{}, {"irm": True, "atb": True, "dtb": False}])
def test_meta_device_flop_count(flags):
    h, w = 720, 1280
    c = 64
    model = build_strcnn(device="meta", **flags).eval()
    with_dtb = flops(model, h, w)
    assert with_dtb > 0
    if flags.get("dtb", True):
        # one cell call for a one-frame clip (ends="pad"); DTB's 5x5 conv 2C -> C at H/2
        without = flops(build_strcnn(device="meta", dtb=False).eval(), h, w)
        assert with_dtb - without == 2 * (2 * c) * c * 25 * (h // 2) * (w // 2)

