"""count_macs: ESTRNN's published GMACs (tables 1, 4, 5), both counting conventions on a model
counted by hand, steady state, parameter counts, any registered model, errors."""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

import pytest
import torch
from torch import nn

from rirn_layers import Reconstructor, RecurrentDeblurNet, wrap_recurrent_cell
from rirn_layers.baselines import _REGISTRY, available_models, build_model
from rirn_layers.baselines.estrnn import build_estrnn
from rirn_layers.baselines.published import ESTRNN_TABLE_1, ESTRNN_TABLE_4, ESTRNN_TABLE_5
from rirn_layers.model import StreamingDeblurModel
from rirn_layers.profile import MacReport, count_macs

TABLE_1, TABLE_4, TABLE_5 = ESTRNN_TABLE_1, ESTRNN_TABLE_4, ESTRNN_TABLE_5
ROWS = [("table1-" + r[0], *r[1:]) for r in TABLE_1]
ROWS += [("table4-" + r[0], *r[1:]) for r in TABLE_4]
ROWS += [("table5-" + r[0], *r[1:]) for r in TABLE_5]


@pytest.mark.parametrize(
    ("blocks", "channels", "past", "future", "paper"),
    [r[1:] for r in ROWS],
    ids=[r[0] for r in ROWS],
)
def test_estrnn_reproduces_the_published_gmacs(blocks, channels, past, future, paper):
    model = build_estrnn(blocks=blocks, channels=channels, past=past, future=future, device="meta")
    report = count_macs(model)  # 1280 x 720, paper convention
    assert report.gmacs == pytest.approx(paper, rel=0.005)


def test_true_convention_is_below_the_paper_one_for_estrnn():
    model = build_estrnn(device="meta")
    paper, true = count_macs(model), count_macs(model, convention="true")
    # the reconstructor's two stride-2 transposed convs are counted 4x in the paper's way,
    # and GSA layer by layer (as published) instead of folded into one matrix
    assert 0.6 * paper.macs < true.macs < 0.8 * paper.macs
    folded = (5 * 80) ** 2 * 180 * 320  # one 400 x 400 matrix per pixel at 1/4 of 720p
    assert folded <= true.by_module["gsa"] < 1.01 * folded
    assert paper.by_module["gsa"] > 3.8 * true.by_module["gsa"]
    assert paper.by_module.keys() == true.by_module.keys() == {"wrapped", "gsa", "reconstructor"}
    assert sum(paper.by_module.values()) == paper.macs
    assert paper.by_module["reconstructor"] > 3 * true.by_module["reconstructor"]


# -- a model counted by hand ------------------------------------------------------------------
class ToyState(NamedTuple):
    frames: tuple[torch.Tensor, ...]
    hidden: torch.Tensor | None


class Toy(StreamingDeblurModel):
    """Window of 3 frames; its cell runs only once the window is full, and its ``mix`` conv
    only from the second cell call on, so the first output is *not* steady state."""

    scale = 2
    past = 1
    future = 1

    def __init__(self) -> None:
        super().__init__()
        self.encode = nn.Conv2d(9, 4, 3, stride=2, padding=1)
        self.mix = nn.Conv2d(8, 4, 1)
        self.gate = nn.Linear(4, 4)
        self.decode = nn.ConvTranspose2d(4, 3, 4, stride=2, padding=1)

    def advance(self, frame: torch.Tensor, state: Any) -> tuple[torch.Tensor | None, ToyState]:
        frames = (*(state.frames if state else ()), frame)[-3:]
        hidden = state.hidden if state else None
        if len(frames) < 3:
            return None, ToyState(frames, hidden)
        x = self.encode(torch.cat(frames, dim=1))
        if hidden is not None:
            x = self.mix(torch.cat((x, hidden), dim=1))
        x = x * torch.sigmoid(self.gate(x.mean(dim=(2, 3))))[:, :, None, None]
        return self.decode(x), ToyState(frames, x)


def toy_macs(h: int, w: int, paper: bool) -> int:
    """The toy's steady-state MACs at ``h x w`` (multiples of 2), by hand."""
    pixels = (h // 2) * (w // 2)
    bias = 1 if paper else 0
    encode = pixels * 4 * (9 * 3 * 3 + bias)
    mix = pixels * 4 * (8 + bias)
    gate = 4 * (4 + bias)
    if paper:  # thop: every output element of the transposed conv costs C_in k^2 (+ bias)
        decode = h * w * 3 * (4 * 4 * 4 + 1)
    else:  # true: every input pixel scatters C_in x C_out x k^2
        decode = pixels * 4 * 3 * 4 * 4
    return encode + mix + gate + decode


@pytest.mark.parametrize("convention", ["paper", "true"])
@pytest.mark.parametrize("settle", [0, 1, 4])
def test_both_conventions_on_a_model_counted_by_hand(convention, settle):
    report = count_macs(Toy(), 16, 24, convention=convention, settle=settle)
    assert report.macs == toy_macs(16, 24, convention == "paper")
    assert report.convention == convention and (report.height, report.width) == (16, 24)


def test_frames_are_padded_to_the_scale_and_the_batch_scales_linearly():
    assert count_macs(Toy(), 15, 23).macs == toy_macs(16, 24, True)
    assert count_macs(Toy(), 16, 24, batch_size=3).macs == 3 * toy_macs(16, 24, True)


# -- steady state and parameter counts --------------------------------------------------------
SMALL = {
    "estrnn": {"blocks": 2, "channels": 20},
    "rdbn": {"blocks": 2, "channels": 20},
    "strcnn": {"channels": 8, "hidden_channels": 4, "encoder_blocks": 1, "decoder_blocks": 1},
}


@pytest.mark.parametrize("flags", [{}, {"irm": True, "atb": True}], ids=["bare", "irm-atb"])
@pytest.mark.parametrize("name", list(SMALL))
def test_count_does_not_depend_on_the_frames_fed_before(name, flags):
    model = build_model(name, **SMALL[name], **flags)
    counts = {count_macs(model, 64, 96, settle=s).macs for s in (0, 1, 3)}
    assert len(counts) == 1 and counts.pop() > 0


def test_parameter_counts_and_the_original_model_is_untouched():
    torch.manual_seed(0)
    model = build_estrnn(blocks=1, channels=10).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = count_macs(model, 32, 32)
    assert isinstance(report, MacReport)
    assert report.params == report.trainable_params == sum(p.numel() for p in model.parameters())
    assert model.training and all(p.device.type == "cpu" for p in model.parameters())
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    model.gsa.requires_grad_(False)
    frozen = count_macs(model, 32, 32)
    gsa = sum(p.numel() for p in model.gsa.parameters())
    assert frozen.params == report.params and frozen.trainable_params == report.params - gsa
    assert frozen.macs == report.macs


def test_shared_parameters_are_counted_once():
    toy = Toy()
    n = sum(p.numel() for p in toy.parameters())
    toy.extra = toy.gate  # the same Linear twice in the module tree
    assert count_macs(toy, 8, 8).params == n


def test_report_reads_well():
    text = str(count_macs(build_estrnn(blocks=1, channels=10, device="meta"), 64, 64))
    assert "GMACs per output frame at 64x64 (paper convention)" in text
    assert "M parameters" in text and "gsa" in text and "reconstructor" in text


# -- any model --------------------------------------------------------------------------------
def test_a_core_recurrent_deblur_net():
    from cells import TinyGRUCell

    wrapped = wrap_recurrent_cell(TinyGRUCell())
    model = RecurrentDeblurNet(wrapped, Reconstructor(wrapped.out_channels, scale=2))
    paper, true = count_macs(model, 32, 32), count_macs(model, 32, 32, convention="true")
    assert paper.macs > true.macs > 0
    assert paper.params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", available_models())
def test_every_registered_model_at_its_defaults(name):
    module = _REGISTRY[name].split(":")[0]
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name == module:
            pytest.skip(f"{module} is not written yet")
        raise
    model = build_model(name, irm=True, atb=True)  # count_macs copies it to meta
    paper = count_macs(model, 64, 64)
    true = count_macs(model, 64, 64, convention="true")
    assert paper.macs >= true.macs > 0 and paper.params > 0


# -- errors -----------------------------------------------------------------------------------
class Silent(StreamingDeblurModel):
    future = 2

    def advance(self, frame: torch.Tensor, state: Any) -> tuple[None, Any]:
        return None, state


def test_errors():
    with pytest.raises(TypeError, match="StreamingDeblurModel"):
        count_macs(nn.Conv2d(3, 3, 3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`convention`"):
        count_macs(Toy(), convention="thop")  # type: ignore[arg-type]
    for kwargs, name in (({"height": 0}, "height"), ({"settle": -1}, "settle"),
                         ({"batch_size": 1.5}, "batch_size")):
        with pytest.raises(ValueError, match=f"`{name}`"):
            count_macs(Toy(), **kwargs)
    with pytest.raises(RuntimeError, match="no output"):
        count_macs(Silent(), 8, 8)
