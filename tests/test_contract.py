"""The contract every streaming deblurring model keeps, checked once for the whole zoo.

Every model of :func:`rirn_layers.baselines.available_models`, bare and with IRM + ATB
(STRCNN also without its DTB), and a ConvGRU cell written as published code writes it,
wrapped with :func:`rirn_layers.wrap_recurrent_cell` (bare and with IRM + ATB) and turned
into a model with :class:`~rirn_layers.RecurrentDeblurNet` and a
:class:`~rirn_layers.Reconstructor`. Each test function is one clause of the contract:

- outputs of the frames' size at odd frame sizes, batch 1 and 2, ``ends="pad"``/``"drop"``;
- a gradient for every parameter in training mode;
- frame by frame (``step``/``flush``) == chunks (``final=False``) == the whole clip;
- causality: output ``t`` never depends on frames after ``t + model.future``, and the
  recurrent state carries frames that left the look-ahead window;
- ``ends="pad"`` == ``ends="drop"`` on the edge-padded clip;
- ``state_dict`` round trip; bad configs raise naming the argument;
- MACs on the meta device; the exported start/step graphs == eager;
- a dtype matrix (float32, float64, bfloat16) and ``torch.compile`` == eager (slow).

Model-specific behaviour (papers' equations, parameter counts, gates, windows) stays in
``tests/baselines/test_<model>.py``. Configurations are tiny (a few hundred to a few
thousand parameters) so that the whole matrix runs in well under a minute on one core.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from baselines._contract import (
    assert_pad_is_drop_on_edge_padded_clip,
    assert_state_dict_round_trip,
    assert_streaming_equals_whole_clip,
    stream,
    warm_up,
)
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from rirn_layers import (
    Reconstructor,
    RecurrentDeblurNet,
    StreamingDeblurModel,
    wrap_recurrent_cell,
    zero_state,
)
from rirn_layers.baselines import available_models, build_model
from rirn_layers.export import export_streaming
from rirn_layers.profile import count_macs


# -- a user cell, as published code writes it -----------------------------------------------
class PublishedConvGRUCell(nn.Module):
    """A ConvGRU cell in the style of the public ConvGRU implementations.

    It unpacks its hidden state at once (so it cannot start from ``None``) and returns only
    the new hidden state, which is also its output; a strided head encodes the frame at 1/2.
    """

    def __init__(self, input_dim: int = 3, hidden_dim: int = 6, kernel_size: int = 3) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        padding = kernel_size // 2
        self.head = nn.Sequential(nn.Conv2d(input_dim, 8, 3, stride=2, padding=1),
                                  nn.ReLU(inplace=True))
        self.conv_gates = nn.Conv2d(8 + hidden_dim, 2 * hidden_dim, kernel_size, padding=padding)
        self.conv_can = nn.Conv2d(8 + hidden_dim, hidden_dim, kernel_size, padding=padding)

    def forward(self, input_tensor: torch.Tensor, h_cur: torch.Tensor) -> torch.Tensor:
        x = self.head(input_tensor)
        combined = torch.cat([x, h_cur], dim=1)
        gamma, beta = torch.split(self.conv_gates(combined), self.hidden_dim, dim=1)
        reset_gate, update_gate = torch.sigmoid(gamma), torch.sigmoid(beta)
        cnm = torch.tanh(self.conv_can(torch.cat([x, reset_gate * h_cur], dim=1)))
        return (1 - update_gate) * h_cur + update_gate * cnm


def build_user_gru(*, irm: bool = False, atb: bool = False, hidden_dim: int = 6,
                   mid_channels: int = 8) -> RecurrentDeblurNet:
    """The documented wrap of such a cell: a zero first state, the state is the feature."""
    wrapped = wrap_recurrent_cell(
        PublishedConvGRUCell(hidden_dim=hidden_dim), irm=irm, atb=atb,
        init_hidden=zero_state(hidden_dim, scale=2), feature=(),
    )
    head = Reconstructor(wrapped.out_channels, scale=wrapped.stride, mid_channels=mid_channels,
                         num_blocks=1, residual=True)
    return RecurrentDeblurNet(wrapped, head)


# -- the matrix ---------------------------------------------------------------------------
#: Tiny configurations (those of tests/fixtures/make_golden_outputs.py); IFI-RNN with two
#: iterations and its stochastic gate, so that training mode samples the gate.
SMALL: dict[str, dict[str, Any]] = {
    "gru": {"channels": [4, 6, 8], "hidden_channels": 4},
    "lstm": {"channels": [4, 6, 8], "hidden_channels": 4},
    "ifirnn": {"channels": [4, 6, 8], "hidden_channels": 4, "num_blocks": 1,
               "iterations": 2, "stochastic": True, "gate_features": 4},
    "strcnn": {"channels": 8, "hidden_channels": 4, "encoder_blocks": 1, "decoder_blocks": 1},
    "stfan": {"channels": [4, 6, 8], "fac_kernel_size": 3, "num_blocks": 1},
    "rdbn": {"blocks": 1, "channels": 10},
    "estrnn": {"blocks": 1, "channels": 10, "past": 1, "future": 1},
}
VARIANTS: dict[str, dict[str, Any]] = {"bare": {}, "irm_atb": {"irm": True, "atb": True}}
USER = "user_gru"


@dataclass(frozen=True)
class Case:
    """One model of the matrix: ``family`` (zoo name or ``user_gru``) and its keywords."""

    family: str
    variant: str
    kwargs: dict[str, Any] = field(hash=False)

    @property
    def id(self) -> str:
        return f"{self.family}-{self.variant}"

    def build(self, seed: int = 0, **overrides: Any) -> StreamingDeblurModel:
        torch.manual_seed(seed)
        kwargs = {**self.kwargs, **overrides}
        if self.family == USER:
            return build_user_gru(**kwargs)
        return build_model(self.family, **kwargs)


CASES = [
    *(Case(name, variant, {**SMALL[name], **flags})
      for name in available_models() for variant, flags in VARIANTS.items()),
    Case("strcnn", "no_dtb", {**SMALL["strcnn"], "dtb": False}),
    *(Case(USER, variant, flags) for variant, flags in VARIANTS.items()),
]
BY_ID = {case.id: case for case in CASES}
FAMILIES = [*available_models(), USER]


def cases(*, variants: tuple[str, ...] | None = None) -> Any:
    chosen = [c for c in CASES if variants is None or c.variant in variants]
    return pytest.mark.parametrize("case", chosen, ids=[c.id for c in chosen])


def clip(b: int = 2, t: int = 5, h: int = 13, w: int = 18, seed: int = 1,
         dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Random frames in [0, 1]; 13 x 18 is a multiple of none of the models' scales."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(b, t, 3, h, w, generator=generator, dtype=torch.float64).to(dtype)


def model_of(case: Case, seed: int = 0) -> StreamingDeblurModel:
    """The case's model in eval mode, BatchNorm statistics moved off their defaults."""
    return warm_up(case.build(seed))


@functools.cache
def model_of_cached(case: Case) -> StreamingDeblurModel:
    """``model_of(case)`` built once, for the tests that only run it without gradients."""
    return model_of(case)


def test_the_matrix_covers_the_whole_zoo():
    assert {c.family for c in CASES} == {*available_models(), USER}
    assert len(BY_ID) == len(CASES) == 2 * len(FAMILIES) + 1
    assert isinstance(BY_ID["user_gru-irm_atb"].build().wrapped.irm, nn.Module)
    assert BY_ID["strcnn-no_dtb"].build().past == 2


# -- shapes -------------------------------------------------------------------------------
@pytest.mark.parametrize(("b", "h", "w"), [(1, 13, 18), (2, 7, 5)], ids=["b1-13x18", "b2-7x5"])
@cases()
def test_every_frame_gets_an_output_of_its_size(case, b, h, w):
    model = model_of(case)
    frames = clip(b=b, h=h, w=w)
    with torch.no_grad():
        padded, state = model(frames)
        dropped, _ = model(frames, ends="drop")
    assert padded.shape == frames.shape and padded.dtype == frames.dtype
    t_drop = max(0, frames.shape[1] - model.past - model.future)
    assert dropped.shape == (b, t_drop, 3, h, w)
    assert torch.isfinite(padded).all()
    assert state.flushed == (model.future > 0)


@cases()
def test_a_clip_shorter_than_the_window_gives_no_dropped_output(case):
    model = model_of(case)
    frames = clip(b=1, t=1)
    with torch.no_grad():
        padded, _ = model(frames)
        dropped, _ = model(frames, ends="drop")
    assert padded.shape == frames.shape
    assert dropped.shape[1] == (1 if model.past + model.future == 0 else 0)


@cases()
@given(b=st.integers(1, 2), t=st.integers(1, 6), h=st.integers(1, 13), w=st.integers(1, 13))
def test_any_frame_size_and_clip_length(case, b, t, h, w):
    model = model_of_cached(case)
    frames = torch.rand(b, t, 3, h, w)
    with torch.no_grad():
        padded, _ = model(frames)
        dropped, _ = model(frames, ends="drop")
    assert padded.shape == (b, t, 3, h, w)
    assert dropped.shape == (b, max(0, t - model.past - model.future), 3, h, w)


@cases()
@pytest.mark.parametrize("shape", [(0, 2, 3, 16, 16), (1, 2, 3, 0, 16), (1, 0, 3, 16, 16)],
                         ids=["B=0", "H=0", "T=0"])
def test_an_empty_clip_is_rejected_naming_the_argument(case, shape):
    model = model_of_cached(case)
    with pytest.raises(ValueError, match="`frames`"):
        model(torch.rand(*shape))
    if shape[1]:
        with pytest.raises(ValueError, match="`frame`"):
            model.step(torch.rand(*shape)[:, 0])


# -- gradients ----------------------------------------------------------------------------
@cases()
def test_gradients_reach_every_parameter(case):
    model = case.build().train()
    frames, target = clip(t=3), clip(t=3, seed=2)
    torch.manual_seed(3)  # IFI-RNN's gate samples in training: a fixed draw
    restored, state = model(frames)
    loss = (restored - target).square().mean()
    if hasattr(model, "regularization_loss"):  # IFI-RNN's L_reg trains the gate
        loss = loss + model.regularization_loss(state)
    loss.backward()
    missing = [name for name, p in model.named_parameters()
               if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient for {missing}"


# -- streaming ----------------------------------------------------------------------------
@pytest.mark.parametrize("ends", ["pad", "drop"])
@cases()
def test_step_and_chunks_equal_the_whole_clip(case, ends):
    model = model_of(case)
    with torch.no_grad():
        whole = assert_streaming_equals_whole_clip(model, clip(t=6), ends, splits=(1, 3))
    assert whole.shape[1] == (6 if ends == "pad" else 6 - model.past - model.future)


@cases()
def test_pad_is_drop_on_the_edge_padded_clip(case):
    model = model_of(case)
    with torch.no_grad():
        padded, dropped = assert_pad_is_drop_on_edge_padded_clip(model, clip(t=6))
    if model.past == model.future == 0:  # nothing to drop, nothing to pad
        torch.testing.assert_close(padded, dropped, rtol=0, atol=0)


# -- causality ----------------------------------------------------------------------------
@cases()
def test_output_t_depends_on_no_frame_after_t_plus_future(case):
    model = model_of(case)
    frames = clip(t=6)
    with torch.no_grad():
        reference, _ = model(frames)
        for k in range(1, frames.shape[1]):
            changed = frames.clone()
            changed[:, k:] = clip(t=6 - k, seed=10 + k)
            out, _ = model(changed)
            first_changed = max(0, k - model.future)  # the first output that sees frame k
            torch.testing.assert_close(out[:, :first_changed], reference[:, :first_changed],
                                       rtol=0, atol=0, msg=f"frames >= {k} changed")
            # ... and it does see it
            assert not torch.equal(out[:, first_changed], reference[:, first_changed]), k


@cases()
def test_the_state_carries_frames_that_left_the_window(case):
    # float64: in these small untrained models the influence of an old frame may decay
    # below float32 rounding
    model = model_of(case).double()
    frames = clip(t=model.past + 2, dtype=torch.float64)
    changed = frames.clone()
    changed[:, 0] = clip(t=1, seed=5, dtype=torch.float64)[:, 0]
    with torch.no_grad():
        a, _ = model(frames)
        b, _ = model(changed)
    # output past + 1 reads frames 1 ... past + 1 + future: frame 0 only through the state
    assert (a[:, model.past + 1] - b[:, model.past + 1]).abs().max() > 1e-12


# -- weights and configuration ------------------------------------------------------------
@cases()
def test_state_dict_round_trip(case):
    with torch.no_grad():
        assert_state_dict_round_trip(case.build, clip(), warm_up)


BAD_CONFIGS: dict[str, list[tuple[dict[str, Any], str]]] = {
    "gru": [({"hidden_channels": 0}, "hidden_channels"),
            ({"hidden_channels": 2.0}, "hidden_channels"),
            ({"channels": (4, True, 8)}, "channels")],
    "lstm": [({"hidden_channels": True}, "hidden_channels"),
             ({"channels": (4, 0, 8)}, "channels")],
    "ifirnn": [({"hidden_channels": True}, "hidden_channels"),
               ({"num_blocks": 1.0}, "num_blocks"),
               ({"iterations": 0}, "iterations")],
    "strcnn": [({"channels": True}, "channels"), ({"channels": 0}, "channels"),
               ({"decoder_blocks": 1.5}, "decoder_blocks")],
    "stfan": [({"channels": (4, 6, 0)}, "channels"), ({"num_blocks": 1.0}, "num_blocks"),
              ({"fac_kernel_size": True}, "fac_kernel_size")],
    "rdbn": [({"channels": 0}, "channels"), ({"blocks": True}, "blocks"),
             ({"blocks": 2.0}, "blocks")],
    "estrnn": [({"channels": 0}, "channels"), ({"past": 1.0}, "past"),
               ({"future": True}, "future")],
}
FLAG_ERRORS = [({"irm": "yes"}, "irm"), ({"atb": 1}, "atb")]  # every builder checks its flags


def _wrap_user_cell(**kwargs: Any) -> Any:
    cell = PublishedConvGRUCell()
    return wrap_recurrent_cell(cell, init_hidden=zero_state(6, scale=2), feature=(), **kwargs)


#: (id, the call, the argument its error must name)
BAD: list[tuple[str, Callable[[], Any], str]] = [
    *((f"{name}-{'-'.join(f'{k}={v!r}' for k, v in kwargs.items())}",
       functools.partial(build_model, name, **{**SMALL[name], **kwargs}), arg)
      for name, bad in BAD_CONFIGS.items() for kwargs, arg in [*bad, *FLAG_ERRORS]),
    (f"{USER}-irm='yes'", functools.partial(_wrap_user_cell, irm="yes"), "irm"),
    (f"{USER}-zero_state-scale=True", functools.partial(zero_state, 6, scale=True), "scale"),
    (f"{USER}-mid_channels=0", functools.partial(build_user_gru, mid_channels=0),
     "mid_channels"),
    (f"{USER}-mid_channels=2.0", functools.partial(build_user_gru, mid_channels=2.0),
     "mid_channels"),
    (f"{USER}-pad_multiple=3",
     lambda: RecurrentDeblurNet(w := _wrap_user_cell(), Reconstructor(w.out_channels, scale=2),
                                pad_multiple=3), "pad_multiple"),
]


@pytest.mark.parametrize(("build", "arg"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_config_raises_naming_the_argument(build, arg):
    with pytest.raises((ValueError, TypeError), match=f"`{arg}`"):
        build()


def test_every_builder_rejects_an_unknown_option():
    for name in available_models():
        with pytest.raises(TypeError):
            build_model(name, **SMALL[name], no_such_option=1)


# -- cost ---------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_macs_on_the_meta_device(family):
    bare, full = BY_ID[f"{family}-bare"].build(), BY_ID[f"{family}-irm_atb"].build()
    before = copy.deepcopy(bare.state_dict())
    reports = {tag: count_macs(model, 32, 48) for tag, model in (("bare", bare), ("irm_atb", full))}
    for tag, model in (("bare", bare), ("irm_atb", full)):
        report = reports[tag]
        assert report.macs > 0 and (report.height, report.width) == (32, 48)
        assert report.params == sum(p.numel() for p in model.parameters())
        assert 0 < count_macs(model, 32, 48, convention="true").macs
    assert reports["irm_atb"].macs > reports["bare"].macs  # IRM and ATB are not free
    assert reports["irm_atb"].params > reports["bare"].params
    # the model itself stayed where it was, weights untouched
    assert all(p.device.type == "cpu" for p in bare.parameters())
    for key, value in bare.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)


# -- export -------------------------------------------------------------------------------
@cases()
def test_exported_start_and_step_reproduce_the_eager_model(case):
    model = model_of(case)
    frames = clip(b=1, t=4)
    exported = export_streaming(model, frames[:, 0])
    assert exported.future == model.future
    assert exported.start_frames == model.future + 1
    with torch.no_grad():
        expected = stream(model, frames)
    # the start/step modules run the eager model's code: bit for bit, flush frames included
    torch.testing.assert_close(exported.run(frames), expected, rtol=0, atol=0)


@cases()
def test_torch_export_programs_reproduce_the_eager_model(case):
    model = model_of(case)
    frames = clip(b=1, t=4)
    exported = export_streaming(model, frames[:, 0])
    programs = exported.torch_export()
    with torch.no_grad():
        expected = stream(model, frames)
    got = exported.run(frames, programs.start.module(), programs.step.module())
    # the exported graphs decompose some ops (e.g. GELU, group norm): float32 rounding only
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


# -- dtypes -------------------------------------------------------------------------------
#: Tolerances against the float32 model with the same weights. float64: the float32
#: reference's own rounding (measured max abs error <= 1.2e-7 here). bfloat16 (8-bit
#: mantissa, eps 2^-7): measured max abs error <= 5.2e-3 (STFAN's FAC), 1.8e-3 elsewhere.
DTYPES = {
    torch.float64: {"rtol": 1e-5, "atol": 1e-6},
    torch.bfloat16: {"rtol": 0.0, "atol": 3e-2},
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16],
                         ids=["float32", "float64", "bfloat16"])
@cases()
def test_dtype_matrix(case, dtype):
    model = model_of(case)
    frames = clip(b=1, t=4)
    with torch.no_grad():
        reference, _ = model(frames)
        cast = copy.deepcopy(model).to(dtype)
        assert all(p.dtype == dtype for p in cast.parameters())
        out = assert_streaming_equals_whole_clip(cast, frames.to(dtype), splits=(2,))
    assert out.dtype == dtype and out.shape == reference.shape
    assert torch.isfinite(out).all()
    if dtype == torch.float32:
        torch.testing.assert_close(out, reference, rtol=0, atol=0)
    else:
        torch.testing.assert_close(out.float(), reference, **DTYPES[dtype])
    if dtype == torch.bfloat16:  # close, but really computed in bfloat16
        assert not torch.equal(out.float(), reference)


# -- torch.compile ------------------------------------------------------------------------
@pytest.mark.slow
@cases()
def test_compiled_step_equals_eager(case):
    model = model_of(case)
    warm = model.past + model.future + 1  # frames until the state has its final structure
    frames = clip(b=1, t=warm + 2)
    with torch.no_grad():
        expected = stream(model, frames)
        state, outs = None, []
        for frame in frames[:, :warm].unbind(1):  # eager up to the steady state ...
            out, state = model.step(frame, state)
            outs += [] if out is None else [out]
        torch.compiler.reset()  # a fresh cache: no recompile limit shared across cases
        # ... then the steady-state step compiled: one graph, no graph break (fullgraph)
        step = torch.compile(model.step, fullgraph=True, dynamic=False)
        for frame in frames[:, warm:].unbind(1):
            out, state = step(frame, state)
            outs.append(out)
        outs += model.flush(state)[0]
    # inductor fuses and reorders float32 arithmetic: equal up to rounding (~1e-7 measured)
    torch.testing.assert_close(torch.stack(outs, 1), expected, rtol=1e-5, atol=1e-5)
