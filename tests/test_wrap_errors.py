"""Every wrong use of wrap_recurrent_cell / RecurrentDeblurNet fails early, naming the cause."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from cells import MismatchedCell, TinyGRUCell
from torch import nn

from rirn_layers import (
    ExtraInput,
    Reconstructor,
    RecurrentDeblurNet,
    wrap_recurrent_cell,
    zero_state,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "retrofit.md"


@pytest.fixture(scope="module")
def docs() -> dict:
    namespace: dict = {}
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S):
        exec(compile(block, str(DOC), "exec"), namespace)
    return namespace


class SelfStateCell(nn.Module):
    """Keeps its hidden state on itself, as some published cells do."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3 + 4, 4, 3, padding=1)
        self.h = None

    def forward(self, frame, hidden):
        if self.h is None:
            self.h = frame.new_zeros(frame.shape[0], 4, *frame.shape[-2:])
        self.h = torch.tanh(self.conv(torch.cat((frame, self.h), 1)))
        return self.h, self.h


class GridCacheCell(nn.Module):
    """Caches a sampling grid per size: not state, allowed with cache_attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.grid = None

    def forward(self, frame, hidden):
        if self.grid is None or self.grid.shape[-2:] != frame.shape[-2:]:
            self.grid = torch.zeros(frame.shape[-2:], dtype=frame.dtype)
        feature = self.conv(frame) + self.grid
        return feature, feature if hidden is None else hidden + feature


class GrowingStateCell(nn.Module):
    """Appends to its state every frame: the structure changes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, frame, hidden):
        feature = self.conv(frame)
        return feature, [feature] if hidden is None else [*hidden, feature]


class NeedsFlowCell(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3 + 2, 4, 3, padding=1)

    def forward(self, frame, hidden, flow):
        feature = self.conv(torch.cat((frame, flow), 1))
        return feature, feature


# -- wrap time ---------------------------------------------------------------------------------
def test_a_cell_that_cannot_start_from_none_is_told_about_init_hidden(docs):
    pattern = (r"with hidden=None \(the first frame\) and it raised TypeError: .*NoneType.*"
               r"pass init_hidden=")
    with pytest.raises(TypeError, match=pattern):
        wrap_recurrent_cell(docs["ConvLSTMCell"](3, 8))


def test_a_cell_returning_only_h_c_is_told_about_feature(docs):
    pattern = (r"ran on the first frame but raised .* when given back the hidden state it "
               r"returned, tensor \(1, 8, 32, 32\).*pass feature=")
    with pytest.raises(TypeError, match=pattern):
        wrap_recurrent_cell(docs["ConvLSTMCell"](3, 8), init_hidden=zero_state((8, 8)))


def test_a_cell_returning_a_list_of_layer_states_is_told_about_feature(docs):
    with pytest.raises(TypeError, match="given back the hidden state.*pass feature="):
        wrap_recurrent_cell(docs["ConvGRU"]())


def test_a_cell_returning_one_tensor_is_told_about_feature():
    class OneTensor(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, frame, hidden):
            return self.conv(frame)

    with pytest.raises(TypeError, match=r"returned tensor \(1, 4, 32, 32\).*feature=\(\)"):
        wrap_recurrent_cell(OneTensor())


def test_init_hidden_that_raises_or_is_not_callable():
    def broken(frame):
        raise RuntimeError("no size")

    with pytest.raises(TypeError, match=r"`init_hidden` raised RuntimeError: no size"):
        wrap_recurrent_cell(TinyGRUCell(), init_hidden=broken)
    with pytest.raises(TypeError, match="`init_hidden` must be a callable"):
        wrap_recurrent_cell(TinyGRUCell(), init_hidden=3)  # type: ignore[arg-type]


def test_feature_and_hidden_of_different_sizes():
    with pytest.raises(ValueError, match="differ in spatial size.*resample one inside the cell"):
        wrap_recurrent_cell(MismatchedCell())


def test_a_cell_keeping_state_on_itself_is_refused_and_left_as_it_was():
    cell = SelfStateCell()
    with pytest.raises(TypeError, match=r"SelfStateCell stores tensors on itself during a step "
                                        r"\(h\).*return it as part of the hidden state"):
        wrap_recurrent_cell(cell)
    assert cell.h is None  # the dry run left no trace


def test_a_cache_attribute_is_allowed_when_named():
    with pytest.raises(TypeError, match=r"stores tensors on itself.*\(grid\)"):
        wrap_recurrent_cell(GridCacheCell())
    cell = GridCacheCell()
    wrapped = wrap_recurrent_cell(cell, cache_attributes=("grid",))
    assert cell.grid is None and wrapped.feature_channels == 4
    with pytest.raises(TypeError, match="`cache_attributes` must be a tuple"):
        wrap_recurrent_cell(GridCacheCell(), cache_attributes="grid")


def test_a_state_changing_structure_between_frames():
    with pytest.raises(TypeError, match=r"changes structure between frames.*\[tensor .*\]"):
        wrap_recurrent_cell(GrowingStateCell())


def test_selectors_that_miss_or_point_at_no_tensor(docs):
    lstm, start = docs["ConvLSTMCell"], zero_state((8, 8))
    with pytest.raises(ValueError, match=r"`feature` step 2 does not exist.*\(tensor"):
        wrap_recurrent_cell(lstm(3, 8), init_hidden=start, feature=2)
    with pytest.raises(ValueError, match="`tracked` step 'h' does not exist"):
        wrap_recurrent_cell(lstm(3, 8), init_hidden=start, feature=0, tracked="h")
    with pytest.raises(TypeError, match="`feature` must be None, an int, a str"):
        wrap_recurrent_cell(lstm(3, 8), init_hidden=start, feature=1.5)
    with pytest.raises(ValueError, match="the `tracked` callable raised TypeError: tuple indices"):
        wrap_recurrent_cell(lstm(3, 8), init_hidden=start, feature=0, tracked=lambda s: s["h"])
    with pytest.raises(TypeError, match=r"`tracked`=\(0,\) must point at a tensor"):
        wrap_recurrent_cell(docs["StackedConvLSTM"](), init_hidden=zero_state([[16, 16]] * 2),
                            feature=(-1, 0), tracked=(0,))


def test_declared_channels_that_disagree_with_the_dry_run():
    with pytest.raises(ValueError, match="`hidden_channels` is 5 but the dry run found 4"):
        wrap_recurrent_cell(TinyGRUCell(), hidden_channels=5)

    class Liar(TinyGRUCell):
        feature_channels = 7

    with pytest.raises(ValueError, match="the cell's `feature_channels` attribute is 7"):
        wrap_recurrent_cell(Liar())


def test_extra_inputs_the_cell_needs_or_does_not_take():
    with pytest.raises(TypeError, match=r"also needs \['flow'\].*declare|extra_inputs="):
        wrap_recurrent_cell(NeedsFlowCell())
    with pytest.raises(TypeError, match=r"names \['flow'\], but TinyGRUCell.forward"):
        wrap_recurrent_cell(TinyGRUCell(), extra_inputs={"flow": ExtraInput.given(2)})
    with pytest.raises(TypeError, match=r"`extra_inputs\['flow'\]` must be 'previous_frame'"):
        wrap_recurrent_cell(NeedsFlowCell(), extra_inputs={"flow": "optical_flow"})
    with pytest.raises(TypeError, match="`extra_inputs` must be a dict"):
        wrap_recurrent_cell(NeedsFlowCell(), extra_inputs=["flow"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ExtraInput.given: `channels` must be an int >= 1"):
        ExtraInput.given(0)


def test_pad_multiple_and_probe_size_are_checked():
    with pytest.raises(ValueError, match="`pad_multiple`=3 must be a multiple of the cell's "
                                         "stride 2"):
        wrap_recurrent_cell(TinyGRUCell(), pad_multiple=3)
    with pytest.raises(TypeError, match="`probe_size` must be None or an int >= 1"):
        wrap_recurrent_cell(TinyGRUCell(), probe_size=0)
    assert wrap_recurrent_cell(TinyGRUCell(), pad_multiple=8).pad_multiple == 8


def test_hidden_index_and_tracked_together():
    with pytest.raises(TypeError, match="pass `tracked` or `hidden_index`, not both"), \
            pytest.warns(DeprecationWarning):
        wrap_recurrent_cell(TinyGRUCell(), tracked=0, hidden_index=1)


def test_add_on_modules_on_another_dtype():
    with pytest.raises(ValueError, match=r"`irm` has parameters of torch.float64"):
        wrap_recurrent_cell(TinyGRUCell(),
                            irm=nn.Conv2d(8, 4, 3, padding=1).double())


# -- construction of a model -----------------------------------------------------------------
def test_reconstructor_of_the_wrong_scale():
    wrapped = wrap_recurrent_cell(TinyGRUCell())  # features at 1/2
    with pytest.raises(ValueError, match=r"upsamples x4 but the cell's features are at 1/2.*"
                                         r"scale=2"):
        RecurrentDeblurNet(wrapped, Reconstructor(wrapped.out_channels, scale=4))


def test_reconstructor_of_another_dtype_or_without_the_contract():
    wrapped = wrap_recurrent_cell(TinyGRUCell())
    head = Reconstructor(wrapped.out_channels, scale=2, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"torch.float64 on cpu but the wrapped cell's are "
                                         r"torch.float32"):
        RecurrentDeblurNet(wrapped, head)
    with pytest.raises(TypeError, match="needs int attributes.*missing: scale"):
        RecurrentDeblurNet(wrapped, nn.Conv2d(20, 3, 1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`wrapped` must be a RecurrentCellWrapper"):
        RecurrentDeblurNet(TinyGRUCell(), head)  # type: ignore[arg-type]


def test_model_pad_multiple_must_keep_the_cells():
    wrapped = wrap_recurrent_cell(TinyGRUCell())
    head = Reconstructor(wrapped.out_channels, scale=2)
    with pytest.raises(ValueError, match="`pad_multiple` must be a multiple of the cell's "
                                         "pad_multiple 2, got 3"):
        RecurrentDeblurNet(wrapped, head, pad_multiple=3)
    assert RecurrentDeblurNet(wrapped, head, pad_multiple=8).scale == 8


def test_previous_output_needs_frame_shaped_outputs(docs):
    feedback = docs["feedback"]
    with pytest.raises(ValueError, match="previous output.*3 channels.*outputs 1 channels"):
        RecurrentDeblurNet(feedback, Reconstructor(feedback.out_channels, 1, scale=1))
    with pytest.raises(ValueError, match="unroll: the cell takes the previous output"):
        feedback.unroll(torch.rand(1, 2, 3, 8, 8))
    _, state = feedback(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="feed_output"):
        feedback(torch.rand(1, 3, 8, 8), state)


# -- at the first frame ----------------------------------------------------------------------
def test_frames_of_another_dtype_or_device():
    wrapped = wrap_recurrent_cell(TinyGRUCell())
    model = RecurrentDeblurNet(wrapped, Reconstructor(wrapped.out_channels, scale=2))
    clip = torch.rand(1, 2, 3, 8, 8, dtype=torch.float64)
    pattern = r"`frame` is torch.float64 but the model's parameters are torch.float32"
    with pytest.raises(TypeError, match=pattern):
        model(clip)
    with pytest.raises(TypeError, match=pattern):
        wrapped(clip[:, 0])
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast casts itself: allowed
        model(clip.float())
    meta = wrap_recurrent_cell(TinyGRUCell().to("meta"))
    with pytest.raises(ValueError, match="`frame` is on cpu but the model's parameters are on "
                                         "meta"):
        meta(torch.rand(1, 3, 8, 8))


def test_given_inputs_missing_unknown_or_misshapen(docs):
    prop = docs["prop"]
    model = RecurrentDeblurNet(prop, Reconstructor(prop.out_channels, scale=1))
    clip = torch.rand(1, 2, 3, 10, 12)
    with pytest.raises(TypeError, match=r"extra inputs missing \['flow'\]"):
        model(clip)
    flow = torch.zeros(1, 2, 2, 10, 12)
    with pytest.raises(TypeError, match=r"unknown \['flo'\] and missing \['flow'\]"):
        model(clip, flo=flow)
    with pytest.raises(ValueError, match=r"expected extra input `flow` of size \(10, 12\)"):
        model(clip, flow=torch.zeros(1, 2, 2, 8, 12))
    with pytest.raises(ValueError, match="`flow` .* must have the batch and length of `frames`"):
        model(clip, flow=torch.zeros(1, 3, 2, 10, 12))
    with pytest.raises(TypeError, match=r"unknown \['flow'\]; the cell's given inputs.*none"):
        from rirn_layers.baselines import build_model

        build_model("gru")(clip, flow=flow)
