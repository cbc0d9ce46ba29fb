"""Full models: RecurrentDeblurNet, the streaming base class, reconstructor and padding."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from cells import TinyGRUCell
from hypothesis import given
from hypothesis import strategies as st

from rirn_layers import (
    Reconstructor,
    RecurrentDeblurNet,
    StreamingDeblurModel,
    crop_to,
    detach_state,
    pad_to_multiple,
    wrap_recurrent_cell,
)


def make_net(seed: int = 0, residual: bool = True) -> RecurrentDeblurNet:
    torch.manual_seed(seed)
    wrapped = wrap_recurrent_cell(TinyGRUCell())
    rec = Reconstructor(wrapped.out_channels, scale=2, mid_channels=8, num_blocks=1,
                        residual=residual)
    return RecurrentDeblurNet(wrapped, rec)


class WindowMean(StreamingDeblurModel):
    """Look-ahead toy model: output t = mean of frames t-past .. t+future, times a weight."""

    def __init__(self, past: int, future: int) -> None:
        super().__init__()
        self.past, self.future = past, future
        self.weight = torch.nn.Parameter(torch.ones(()))

    def advance(self, frame: torch.Tensor, state: Any):
        buffer = (state or ()) + (frame,)
        buffer = buffer[-(self.past + 1 + self.future):]
        if len(buffer) < self.past + 1 + self.future:
            return None, buffer
        return self.weight * torch.stack(buffer).mean(0), buffer


# -- RecurrentDeblurNet --------------------------------------------------------------------
@given(b=st.integers(1, 2), t=st.integers(1, 3), h=st.integers(1, 13), w=st.integers(1, 13))
def test_any_frame_size_gets_an_output_of_its_size(b, t, h, w):
    net = make_net()
    restored, _ = net(torch.rand(b, t, 3, h, w))
    assert restored.shape == (b, t, 3, h, w)


def test_step_equals_forward_and_chunks_equal_whole():
    net = make_net()
    clip = torch.rand(1, 5, 3, 10, 14)
    whole, _ = net(clip)
    state, outs = None, []
    for t in range(5):
        out, state = net.step(clip[:, t], state)
        outs.append(out)
    torch.testing.assert_close(torch.stack(outs, 1), whole)
    first, state = net(clip[:, :2])
    second, _ = net(clip[:, 2:], detach_state(state))
    torch.testing.assert_close(torch.cat((first, second), 1), whole)


def test_causal_and_gradients_reach_every_parameter():
    net = make_net()
    clip = torch.rand(1, 4, 3, 8, 8)
    changed = clip.clone()
    changed[:, 2:] = 0
    a, _ = net(clip)
    b, _ = net(changed)
    torch.testing.assert_close(a[:, :2], b[:, :2], rtol=0, atol=0)
    a.square().mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_residual_adds_the_input_frame():
    net = make_net(residual=True)
    plain = make_net(residual=False)
    clip = torch.rand(1, 2, 3, 8, 8)
    torch.testing.assert_close(net(clip)[0] - clip, plain(clip)[0])


def test_state_dict_round_trip():
    a, b = make_net(0), make_net(1)
    b.load_state_dict(a.state_dict())
    clip = torch.rand(1, 3, 3, 8, 8)
    torch.testing.assert_close(a(clip)[0], b(clip)[0])


def test_mismatched_reconstructor_and_state():
    torch.manual_seed(0)
    wrapped = wrap_recurrent_cell(TinyGRUCell())
    with pytest.raises(ValueError, match="takes 10 channels but `wrapped` gives 20"):
        RecurrentDeblurNet(wrapped, Reconstructor(10, scale=2))
    net = make_net()
    _, state = net(torch.rand(1, 2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"batch 1 and size \(8, 8\).*size \(9, 8\)"):
        net.step(torch.rand(1, 3, 9, 8), state)


# -- look-ahead models on the streaming base class --------------------------------------------
@pytest.mark.parametrize(("past", "future"), [(0, 0), (2, 2), (1, 3), (0, 2)])
@given(t=st.integers(1, 7))
def test_lookahead_lengths_and_values(past, future, t):
    model = WindowMean(past, future)
    clip = torch.rand(1, t, 3, 2, 2)
    padded, _ = model(clip, ends="pad")
    assert padded.shape[1] == t
    edge = torch.cat([clip[:, :1]] * past + [clip] + [clip[:, -1:]] * future, dim=1)
    for i in range(t):
        torch.testing.assert_close(padded[:, i], edge[:, i : i + past + 1 + future].mean(1))
    dropped, _ = model(clip, ends="drop")
    assert dropped.shape[1] == max(0, t - past - future)
    for i in range(dropped.shape[1]):
        torch.testing.assert_close(dropped[:, i], clip[:, i : i + past + 1 + future].mean(1))


@given(t=st.integers(2, 8), data=st.data())
def test_lookahead_chunked_equals_whole(t, data):
    model = WindowMean(2, 2)
    clip = torch.rand(1, t, 3, 2, 2)
    split = data.draw(st.integers(1, t - 1))
    for ends in ("pad", "drop"):
        whole, _ = model(clip, ends=ends)
        first, state = model(clip[:, :split], ends=ends, final=False)
        second, _ = model(clip[:, split:], state, ends=ends)
        torch.testing.assert_close(torch.cat((first, second), 1), whole)


def test_lookahead_output_depends_on_exactly_future_frames_ahead():
    model = WindowMean(1, 2)
    clip = torch.rand(1, 6, 3, 2, 2)
    changed = clip.clone()
    changed[:, 4] += 1
    a, _ = model(clip)
    b, _ = model(changed)
    differs = [(a[:, i] - b[:, i]).abs().max().item() > 0 for i in range(6)]
    assert differs == [False, False, True, True, True, True]  # t = 2, 3 see frame 4 ahead


def test_streaming_step_returns_none_until_the_window_is_full():
    model = WindowMean(2, 2)
    state, ready = None, []
    for _ in range(4):
        out, state = model.step(torch.rand(1, 3, 2, 2), state)
        ready.append(out is not None)
    assert ready == [False, False, True, True]
    rest, _ = model.flush(state)
    assert len(rest) == 2


def test_bad_ends():
    with pytest.raises(ValueError, match="'pad' or 'drop'"):
        WindowMean(1, 1)(torch.rand(1, 3, 3, 2, 2), ends="reflect")


# -- reconstructor and padding ----------------------------------------------------------------
@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_reconstructor_upsamples_by_scale(scale):
    rec = Reconstructor(12, scale=scale, mid_channels=16, num_blocks=1)
    assert rec(torch.randn(2, 12, 3, 5)).shape == (2, 3, 3 * scale, 5 * scale)


def test_reconstructor_errors():
    with pytest.raises(ValueError, match="power of two"):
        Reconstructor(8, scale=3)
    rec = Reconstructor(8, scale=2, mid_channels=8, residual=True)
    with pytest.raises(ValueError, match="`frame` is required"):
        rec(torch.randn(1, 8, 4, 4))
    with pytest.raises(ValueError, match=r"\(1, 3, 8, 8\).*got \(1, 3, 7, 8\).*pad_to_multiple"):
        rec(torch.randn(1, 8, 4, 4), torch.rand(1, 3, 7, 8))


@given(
    lead=st.lists(st.integers(1, 2), min_size=1, max_size=3),
    h=st.integers(1, 17),
    w=st.integers(1, 17),
    multiple=st.sampled_from([1, 2, 4, 8]),
)
def test_pad_to_multiple_round_trip(lead, h, w, multiple):
    x = torch.rand(*lead, h, w)
    padded, size = pad_to_multiple(x, multiple)
    assert size == (h, w)
    assert padded.shape[:-2] == x.shape[:-2]
    assert padded.shape[-2] % multiple == 0 and padded.shape[-1] % multiple == 0
    assert padded.shape[-2] - h < multiple and padded.shape[-1] - w < multiple
    torch.testing.assert_close(crop_to(padded, size), x)
    torch.testing.assert_close(padded[..., -1, :w], x[..., -1, :])  # replicate padding


@pytest.mark.parametrize("name", ["gru", "strcnn"])
def test_every_model_refuses_empty_frames_up_front(name):
    from rirn_layers.baselines import build_model

    model = build_model(name).eval()
    with pytest.raises(ValueError, match=r"`frames` must have a batch size B >= 1 and H, W >= 1"):
        model(torch.rand(0, 2, 3, 16, 16))
    with pytest.raises(ValueError, match=r"`frame` must have a batch size .*got \(1, 3, 0, 16\)"):
        model.step(torch.rand(1, 3, 0, 16))
