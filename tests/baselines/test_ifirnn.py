"""IFI-RNN (CVPR 2019): what is particular to it.

Algorithm 1 (one and two cells, H iterations), the stochastic iteration gate and L_reg, the
reconstructor's inputs, the setups the shared contract does not build (two cells,
``decode_hidden``), bad configs and the cost of an iteration at 720p. The contract every
model keeps (shapes, gradients, streaming, causality, state_dict, MACs, export, dtypes) is
checked once for the whole zoo in tests/test_contract.py, with one cell and H = 2.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from _contract import assert_state_dict_round_trip
from torch.utils.flop_counter import FlopCounterMode

from rirn_layers import detach_state
from rirn_layers.baselines import build_model
from rirn_layers.baselines.ifirnn import (
    IFIRNN,
    IFIRNNCell,
    IterationGate,
    build_ifirnn,
    iteration_regularization,
)

TINY = {"channels": (4, 6, 8), "hidden_channels": 4, "num_blocks": 1, "gate_features": 4}
F, HC = 8 + 4, 4  # f_R channels (F_B's last width + hidden), hidden channels
FLAGS = [{"irm": irm, "atb": atb} for irm, atb in itertools.product((False, True), repeat=2)]
FLAG_IDS = [f"irm={f['irm']}-atb={f['atb']}" for f in FLAGS]


def tiny(seed: int = 0, **kwargs) -> IFIRNN:
    torch.manual_seed(seed)
    return build_ifirnn(**{**TINY, **kwargs})


def clip(b: int = 2, t: int = 3, h: int = 16, w: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.rand(b, t, 3, h, w, generator=torch.Generator().manual_seed(seed))


def force_gate(model: IFIRNN, on: bool) -> None:
    """Make the gate's logits (stop, iterate) so lopsided that Gumbel noise cannot flip it."""
    last = model.cell.gate.score[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([-60.0, 60.0] if on else [60.0, -60.0]))


def by_hand(model: IFIRNN, frames: torch.Tensor) -> torch.Tensor:
    """Algorithm 1 (single and dual cell) with the model's own submodules, eval mode."""
    cell = model.cell
    stage = cell.stages[-1]
    b, _, _, h, w = frames.shape
    hidden = torch.zeros(b, HC, h // 4, w // 4)
    outs = []
    for frame in frames.unbind(1):
        blur = stage.f_b(frame)  # F_B once
        if cell.cells == 2:
            first = cell.stages[0]
            hidden = first.f_h(first.f_r(torch.cat((first.f_b(frame), hidden), 1)))
        for _ in range(cell.iterations):  # F_R / F_h, H times
            reused = stage.f_r(torch.cat((blur, hidden), 1))
            hidden = stage.f_h(reused)
        outs.append(model.reconstructor(reused))  # F_L once, on f_R^H
    return torch.stack(outs, 1)


# -- Algorithm 1 ---------------------------------------------------------------------------
def test_c1h1_is_one_plain_cell_pass():
    model = tiny().eval()
    frames = clip()
    out, state = model(frames)
    # by hand, spelled out: F_B, one F_R / F_h, F_L, h_0 = 0
    stage = model.cell.stages[0]
    hidden = torch.zeros(2, HC, 4, 4)
    for t in range(3):
        reused = stage.f_r(torch.cat((stage.f_b(frames[:, t]), hidden), 1))
        hidden = stage.f_h(reused)
        torch.testing.assert_close(out[:, t], model.reconstructor.body(reused))
    torch.testing.assert_close(state.inner.rirn.hidden[0], hidden)
    assert len(model.cell.stages) == 1 and model.cell.gate is None


@pytest.mark.parametrize(("cells", "iterations"), [(1, 3), (2, 1), (2, 3)])
def test_algorithm_1(cells, iterations):
    model = tiny(cells=cells, iterations=iterations).eval()
    frames = clip()
    torch.testing.assert_close(model(frames)[0], by_hand(model, frames))
    assert len(model.cell.stages) == cells


def test_iterations_change_the_result_and_reuse_the_parameters():
    one, three = tiny(iterations=1).eval(), tiny(iterations=3).eval()
    assert sum(p.numel() for p in one.parameters()) == sum(p.numel() for p in three.parameters())
    three.load_state_dict(one.state_dict())
    frames = clip()
    assert not torch.allclose(one(frames)[0], three(frames)[0])


def test_widths_of_the_default_cell():
    cell = IFIRNNCell(cells=2)
    assert cell.feature_channels == 80 and cell.hidden_channels == 20
    stage = cell.stages[0]
    convs = [m for m in stage.f_b if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (3, 20, (5, 5), (1, 1)),
        (20, 40, (5, 5), (2, 2)),
        (40, 60, (5, 5), (2, 2)),
    ]
    assert len(stage.f_r) == 6
    # F_R: 6 ResBlocks at 80 ch; F_h: conv3x3 80->20, ResBlock(20), conv3x3 20->20
    resblock = lambda c: 2 * (c * c * 9 + c)  # noqa: E731
    assert sum(p.numel() for p in stage.f_r.parameters()) == 6 * resblock(80)
    f_h = (80 * 20 * 9 + 20) + resblock(20) + (20 * 20 * 9 + 20)
    assert sum(p.numel() for p in stage.f_h.parameters()) == f_h


# -- the iteration gate (sec. 3.3) ---------------------------------------------------------
def test_eval_is_deterministic_and_runs_every_iteration():
    model = tiny(iterations=3, stochastic=True).eval()
    frames = clip()
    a, state = model(frames)
    b, _ = model(frames)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(a, by_hand(model, frames))  # H iterations, gate unused
    assert state.inner.gates == ()
    assert state.inner.rirn.hidden[1].tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert model.regularization_loss(state).item() == 0.0


def test_gate_changes_iteration_counts_only_in_training():
    model = tiny(iterations=3, stochastic=True)
    frames = clip(b=8, t=3)
    torch.manual_seed(5)
    _, state = model.train()(frames)
    gates = torch.stack(state.inner.gates)  # (T, B, H - 1) effective gates
    counts = 1 + gates.sum(-1)
    assert set(gates.unique().tolist()) <= {0.0, 1.0}
    assert bool((gates[..., 1] <= gates[..., 0]).all())  # a stopped sample stays stopped
    assert counts.min() < 3 and counts.max() > 1  # the gate varies the count per sample
    _, state = model.eval()(frames)
    assert bool((state.inner.rirn.hidden[1] == 1).all()) and state.inner.gates == ()


@pytest.mark.parametrize("flags", [FLAGS[0], FLAGS[-1]], ids=["bare", "irm-atb"])
def test_gate_forced_on_or_off(flags):
    frames = clip()
    model = tiny(iterations=3, stochastic=True, **flags)
    force_gate(model, on=True)
    eval_out, _ = model.eval()(frames)
    train_on, state = model.train()(frames)
    torch.testing.assert_close(train_on, eval_out, rtol=0, atol=0)  # all H iterations
    assert all(bool((g == 1).all()) for g in state.inner.gates)
    force_gate(model, on=False)
    train_off, state = model.train()(frames)
    assert all(bool((g == 0).all()) for g in state.inner.gates)  # one iteration each
    single = tiny(iterations=1, **flags).eval()
    single.load_state_dict({k: v for k, v in model.state_dict().items() if ".gate." not in k})
    torch.testing.assert_close(train_off, single(frames)[0], rtol=0, atol=0)


def test_gate_is_a_hard_straight_through_sample():
    torch.manual_seed(0)
    gate = IterationGate(4, 3)
    hidden = torch.randn(64, 4, 2, 2)
    g = gate(hidden)
    assert set(g.unique().tolist()) <= {0.0, 1.0} and 0 < g.sum() < 64
    g.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in gate.parameters())
    # the sampling follows the logits: a strongly "iterate" gate almost always iterates
    with torch.no_grad():
        gate.score[-1].bias.copy_(torch.tensor([0.0, 4.0]))
        gate.score[-1].weight.zero_()
    assert gate(hidden).mean() > 0.9


# -- L_reg ---------------------------------------------------------------------------------
def test_regularization_is_the_paper_formula():
    tau = 0.75
    # T = 2 steps, B = 3 samples, N = 2 gated iterations; any activations in [0, 1]
    gates = [
        torch.tensor([[1.0, 0.5], [0.2, 0.0], [0.9, 0.3]]),
        torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.6, 0.1]]),
    ]
    expected = 0.0
    for g in gates:  # (1/T) sum_t sum_i (E[g_t^i] - tau)^2, E = mean over the batch
        for i in range(2):
            mean = sum(float(g[b, i]) for b in range(3)) / 3
            expected += (mean - tau) ** 2
    expected /= len(gates)
    assert iteration_regularization(gates, tau).item() == pytest.approx(expected, rel=1e-6)
    assert iteration_regularization(gates, 0.5).item() != pytest.approx(expected)
    assert iteration_regularization([]).item() == 0.0


def test_model_regularization_reads_this_calls_record():
    model = tiny(iterations=3, stochastic=True, tau=0.6).train()
    frames = clip(b=4, t=3)
    torch.manual_seed(1)
    _, state = model(frames, final=False)
    gates = state.inner.gates
    assert len(gates) == 3 and all(g.shape == (4, 2) for g in gates)
    expected = sum(((g.mean(0) - 0.6) ** 2).sum() for g in gates) / 3
    torch.testing.assert_close(model.regularization_loss(state), expected)
    torch.testing.assert_close(model.regularization_loss(state.inner), expected)
    # the next chunk starts a fresh record (truncated BPTT)
    _, state = model(frames[:, :2], detach_state(state))
    assert len(state.inner.gates) == 2
    assert model.regularization_weight == 10.0
    # step() accumulates; clear_gate_record starts over
    _, stepped = model.step(frames[:, 0], state)
    assert len(stepped.inner.gates) == 3
    assert model.clear_gate_record(stepped.inner).gates == ()


def test_gradient_reaches_the_gate_in_training():
    model = tiny(iterations=3, stochastic=True).train()
    frames = clip(b=4)
    torch.manual_seed(2)
    restored, state = model(frames)
    content = (restored - clip(b=4, seed=3)).square().mean()
    content.backward(retain_graph=True)  # straight-through: the content loss reaches it
    for name, p in model.cell.gate.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    model.zero_grad()
    model.regularization_loss(state).backward()
    for name, p in model.cell.gate.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_gate_gets_no_gradient_in_eval():
    model = tiny(iterations=2, stochastic=True).eval()
    restored, _ = model(clip())
    restored.mean().backward()
    assert all(p.grad is None for p in model.cell.gate.parameters())


def test_training_with_the_gate_streams_like_the_whole_clip():
    model = tiny(iterations=3, stochastic=True).train()
    frames = clip()
    torch.manual_seed(4)
    whole, state = model(frames)
    torch.manual_seed(4)
    stepped, outs = None, []
    for frame in frames.unbind(1):
        out, stepped = model.step(frame, stepped)
        outs.append(out)
    torch.testing.assert_close(torch.stack(outs, 1), whole, rtol=0, atol=0)
    torch.testing.assert_close(model.regularization_loss(stepped), model.regularization_loss(state))


# -- the reconstructor's inputs ------------------------------------------------------------
def test_reconstructor_inputs():
    assert tiny().reconstructor.in_channels == F  # F_L(f_R), IFI-RNN
    full = tiny(irm=True, atb=True)
    assert full.wrapped.atb.channels == F and full.wrapped.irm.channels == HC
    assert full.reconstructor.in_channels == 2 * F + HC  # f_R, f~_t, h~_t
    letter = tiny(irm=True, atb=True, decode_hidden=True)
    assert letter.reconstructor.in_channels == letter.wrapped.out_channels == 2 * (F + HC)
    letter.eval()(clip())


# -- gradients in the setups the contract does not build -----------------------------------
@pytest.mark.parametrize(
    "config",
    [
        {"cells": 2, "iterations": 2},
        {"cells": 2, "iterations": 3, "stochastic": True, "irm": True, "atb": True},
        {"irm": True, "atb": True, "decode_hidden": True},
    ],
    ids=["c2h2", "c2h3-reg-irm-atb", "decode-hidden"],
)
def test_gradients_reach_every_parameter(config):
    model = tiny(**config).train()
    torch.manual_seed(0)
    restored, state = model(clip(b=4))
    loss = (restored - clip(b=4, seed=3)).square().mean()
    loss = loss + model.regularization_weight * model.regularization_loss(state)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


# -- two cells (the contract builds one): shapes, streaming, state_dict --------------------
@pytest.mark.parametrize("flags", FLAGS, ids=FLAG_IDS)
def test_two_cells_stream_like_the_whole_clip(flags):
    model = tiny(cells=2, iterations=2, stochastic=True, **flags).eval()
    assert model.past == model.future == 0 and model.scale == 4
    frames = clip(t=4, h=14, w=18)
    whole, _ = model(frames)
    assert whole.shape == frames.shape
    torch.testing.assert_close(model(frames, ends="drop")[0], whole, rtol=0, atol=0)
    state, outs = None, []
    for frame in frames.unbind(1):
        out, state = model.step(frame, state)
        outs.append(out)
    assert model.flush(state)[0] == []
    torch.testing.assert_close(torch.stack(outs, 1), whole, rtol=0, atol=0)
    first, state = model(frames[:, :2], final=False)
    second, _ = model(frames[:, 2:], detach_state(state))
    torch.testing.assert_close(torch.cat((first, second), 1), whole, rtol=0, atol=0)


def test_two_cells_state_dict_round_trip():
    config = {"cells": 2, "iterations": 2, "stochastic": True, "irm": True, "atb": True}
    assert_state_dict_round_trip(lambda seed: tiny(seed=seed, **config), clip())


# -- config --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"cells": 3}, "cells"),
        ({"cells": 0}, "cells"),
        ({"iterations": 0}, "iterations"),
        ({"iterations": 2.0}, "iterations"),
        ({"stochastic": True}, "stochastic"),  # needs iterations >= 2
        ({"stochastic": 1, "iterations": 2}, "stochastic"),
        ({"channels": (4, 8)}, "channels"),
        ({"hidden_channels": 0}, "hidden_channels"),
        ({"num_blocks": -1}, "num_blocks"),
        ({"gate_features": 0}, "gate_features"),
        ({"tau": 1.5}, "tau"),
        ({"tau": "0.75"}, "tau"),
        ({"regularization_weight": -1.0}, "regularization_weight"),
        ({"decode_hidden": None}, "decode_hidden"),
        ({"residual": 0}, "residual"),
    ],
)
def test_bad_config_raises_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        build_ifirnn(**{**TINY, **kwargs})


def test_unknown_option_bad_inputs_and_registry():
    with pytest.raises(TypeError):
        build_ifirnn(dual_cell=True)  # type: ignore[call-arg]
    cell = tiny().cell
    with pytest.raises(ValueError, match="divisible by 4"):
        cell(torch.rand(1, 3, 16, 18))
    with pytest.raises(TypeError, match="hidden"):
        cell(torch.rand(1, 3, 16, 16), torch.zeros(1, HC, 4, 4))
    model = build_model("ifirnn", irm=True, cells=2, iterations=2, **TINY)
    assert isinstance(model, IFIRNN) and model.cell.cells == 2 and model.wrapped.irm is not None


# -- meta device / MACs --------------------------------------------------------------------
def flops(model: IFIRNN, h: int = 720, w: int = 1280) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        out, _ = model(torch.empty(1, 1, 3, h, w, device="meta"))
    assert out.shape == (1, 1, 3, h, w) and out.device.type == "meta"
    return counter.get_total_flops()


def test_each_extra_iteration_costs_f_r_plus_f_h_at_720p():
    q = (720 // 4) * (1280 // 4)
    f_r = 6 * 2 * 80 * 80 * 9 * q
    f_h = (80 * 20 + 3 * 20 * 20) * 9 * q  # conv3x3, ResBlock, conv3x3
    h1 = flops(build_ifirnn(device="meta").eval())
    h3 = flops(build_ifirnn(iterations=3, device="meta").eval())
    assert h3 - h1 == 2 * 2 * (f_r + f_h)
    # the gate is not used at inference: a "-reg" model costs the same
    reg = flops(build_ifirnn(iterations=3, stochastic=True, device="meta").eval())
    assert reg == h3
    # C2 adds one pass of the first cell: F_B + F_R + F_h
    f_b = (3 * 20 * 25 * 16 + 20 * 40 * 25 * 4 + 40 * 60 * 25) * q
    c2 = flops(build_ifirnn(cells=2, iterations=3, device="meta").eval())
    assert c2 - h3 == 2 * (f_b + f_r + f_h)

