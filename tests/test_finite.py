"""Input checks of the streaming step: non-finite frames, frames far outside value_range,
flushed states and states of the wrong type or model."""

from __future__ import annotations

import warnings

import pytest
import torch

from rirn_layers import StreamState
from rirn_layers.baselines import build_model


def frame(*shape: int) -> torch.Tensor:
    return torch.rand(*(shape or (1, 3, 16, 16)))


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_a_non_finite_frame_is_rejected_with_what_was_found(bad):
    model = build_model("gru").eval()
    x = frame()
    x[0, 1, 2, 3] = float(bad)
    nans, infs = (1, 0) if bad == "nan" else (0, 1)
    with torch.no_grad(), pytest.raises(ValueError) as info:
        model.step(x)
    message = str(info.value)
    assert f"`frame` holds {nans} NaN and {infs} inf values" in message
    assert "recurrent state" in message and "set_input_checks(finite=False)" in message
    with torch.no_grad(), pytest.raises(ValueError, match="1 NaN|1 inf"):  # later frames too
        _, state = model.step(frame())
        model.step(x, state)


def test_the_finite_check_can_be_switched_off():
    model = build_model("gru").eval().set_input_checks(finite=False)
    x = frame()
    x[..., 0, 0] = float("nan")
    with torch.no_grad():
        out, _ = model.step(x)
    assert not torch.isfinite(out).all()  # what the check protects against
    with pytest.raises(TypeError, match="`finite` must be True or False"):
        model.set_input_checks(finite=1)  # type: ignore[arg-type]


def test_frames_far_outside_value_range_warn_once_per_model():
    model = build_model("gru").eval()
    with torch.no_grad(), pytest.warns(UserWarning) as record:
        _, state = model.step(frame() * 255)
        model.step(frame() * 255, state)
    assert len(record) == 1
    message = str(record[0].message)
    assert "value_range (0.0, 1.0)" in message and "set_io(value_range=(0, 255))" in message
    assert record[0].filename == __file__  # points at the caller of step
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with torch.no_grad():  # within the range or slightly out of it: silent
            model2 = build_model("gru").eval()
            model2.step(frame() * 1.5 - 0.2)
            model2.set_io(value_range=(0, 255)).step(frame() * 255)
            build_model("gru").eval().set_input_checks(value_range=False).step(frame() * 255)


@pytest.mark.parametrize("name", ["estrnn", "strcnn"])
def test_a_flushed_state_is_rejected(name):
    model = build_model(name).eval()
    assert model.future > 0
    with torch.no_grad():
        out, state = model(torch.rand(1, 8, 3, 16, 16))
        assert out.shape[1] == 8 and state.flushed  # it was 10 outputs for 8 frames
        with pytest.raises(ValueError, match="`state` was flushed .*state=None"):
            model.step(frame(), state)
        with pytest.raises(ValueError, match="`state` was flushed"):
            model.flush(state)
        with pytest.raises(ValueError, match="`state` was flushed"):
            model(torch.rand(1, 2, 3, 16, 16), state)
        _, live = model.step(frame())
        assert not live.flushed
        assert not StreamState(live.inner, live.last, live.size).flushed  # old 3-field form
        model.step(frame(), StreamState(live.inner, live.last, live.size))


def test_a_state_of_the_wrong_type_is_a_type_error():
    model = build_model("gru").eval()
    with torch.no_grad():
        with pytest.raises(TypeError, match="`state` must be None or the StreamState returned "
                                            "by the previous step, got Tensor"):
            model.step(frame(), torch.rand(1))  # type: ignore[arg-type]
        _, state = model.step(frame())
        model.step(frame(), tuple(state))  # type: ignore[arg-type]  # a plain tuple still works


def test_a_state_of_another_model_is_a_type_error():
    gru, estrnn = build_model("gru").eval(), build_model("estrnn").eval()
    with torch.no_grad():
        _, of_estrnn = estrnn.step(frame())
        with pytest.raises(TypeError, match="RecurrentDeblurNet: `state.inner` .*ESTRNNState"):
            gru.step(frame(), of_estrnn)  # a fresh model: RecurrentDeblurNet's own check
        _, of_gru = gru.step(frame())
        with pytest.raises(TypeError, match="ESTRNN: .*RIRNState"):
            estrnn.step(frame(), of_gru)
        stfan = build_model("stfan").eval()
        stfan.step(frame())
        with pytest.raises(TypeError, match="STFAN: `state.inner` is RIRNState, but this "
                                            "model's steps carry STFANState"):
            stfan.step(frame(), of_gru)  # the generic check, once the model has stepped


def test_a_flush_that_changes_nothing_leaves_the_state_usable():
    model = build_model("gru").eval()  # future = 0: nothing pending at the end
    with torch.no_grad():
        _, state = model(torch.rand(1, 2, 3, 16, 16))
        assert not state.flushed
        model.step(frame(), state)
        _, state = build_model("estrnn").eval()(torch.rand(1, 4, 3, 16, 16), ends="drop")
        assert not state.flushed
