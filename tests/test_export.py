"""Export of the streaming step (rirn_layers.export): exact start/step graphs for every model.

Every baseline, bare and with IRM + ATB, at 1 x 3 x 32 x 32: the eager ``start``/``step``
modules equal eager ``model.step``/``model.flush`` bit for bit, the ``torch.export`` programs
match within 1e-5 and the ONNX files in ONNX Runtime within 1e-4 (max abs error), over
6 frames plus the ``future`` flush frames.
"""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import torch
from torch import nn

from rirn_layers import StreamingDeblurModel
from rirn_layers.baselines import available_models, build_model
from rirn_layers.export import StreamingExport, export_streaming, load_onnx
from rirn_layers.state import Role, flatten_state

DOCS = Path(__file__).resolve().parents[1] / "docs"
FRAMES = 6
SHAPE = (1, 3, 32, 32)
# Small configurations (each case builds, exports and runs in well under a second or two).
SMALL: dict[str, dict[str, Any]] = {
    "ifirnn": {"num_blocks": 2},
    "strcnn": {"channels": 16, "hidden_channels": 8, "encoder_blocks": 1, "decoder_blocks": 1},
    "stfan": {"channels": (8, 8, 8), "fac_kernel_size": 3, "num_blocks": 1},
    "rdbn": {"blocks": 1, "channels": 20},
    "estrnn": {"blocks": 1, "channels": 20},
}
VARIANTS = {"bare": {}, "rirn": {"irm": True, "atb": True}}
CASES = [(name, variant) for name in available_models() for variant in VARIANTS]


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


def eager_video(model: StreamingDeblurModel, clip: torch.Tensor) -> torch.Tensor:
    """``model.step`` frame by frame, then ``model.flush`` (ends="pad")."""
    outs, state = [], None
    with torch.no_grad():
        for t in range(clip.shape[1]):
            out, state = model.step(clip[:, t], state)
            if out is not None:
                outs.append(out)
        assert state is not None
        rest, _ = model.flush(state)
    return torch.stack([*outs, *rest], dim=1)


@functools.cache
def case(name: str, variant: str) -> tuple[StreamingDeblurModel, StreamingExport, Any, Any]:
    torch.manual_seed(0)
    model = build_model(name, **VARIANTS[variant], **SMALL.get(name, {})).eval()
    clip = torch.rand(1, FRAMES, *SHAPE[1:])
    return model, export_streaming(model, clip[:, 0]), clip, eager_video(model, clip)


# -- torch.export --------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "variant"), CASES)
def test_torch_export_reproduces_eager_steps(name, variant):
    model, exported, clip, reference = case(name, variant)
    assert reference.shape == (1, FRAMES, *SHAPE[1:])
    assert exported.future == model.future and exported.start_frames == model.future + 1
    assert "last" not in exported.state_names  # only flush reads it; step on the last frame
    # the eager modules are the eager model: bit for bit, flush frames included
    assert torch.equal(exported.run(clip), reference)
    programs = exported.torch_export()
    start, step = programs.start.module(), programs.step.module()
    with torch.no_grad():
        out, *state = start(clip[:, : exported.start_frames].contiguous())
    assert [tuple(s.shape) for s in state] == [tuple(s) for s in exported.state_shapes]
    assert max_abs(out, reference[:, 0]) <= 1e-5
    assert max_abs(exported.run(clip, start, step), reference) <= 1e-5


def test_flush_is_step_on_the_last_frame():
    model, exported, clip, _ = case("estrnn", "rirn")
    frames = exported.start_frames
    with torch.no_grad():
        _, *state = exported.start(clip[:, :frames])
        eager = None
        for t in range(frames):
            _, eager = model.step(clip[:, t], eager)
        for t in range(frames, FRAMES):
            _, *state = exported.step(clip[:, t], *state)
            _, eager = model.step(clip[:, t], eager)
        flushed, _ = model.flush(eager)
        assert len(flushed) == model.future == 2
        for expected in flushed:
            out, *state = exported.step(clip[:, -1], *state)
            assert torch.equal(out, expected)


def carried_names(model: StreamingDeblurModel, clip: torch.Tensor) -> tuple[str, ...]:
    """The names of the carried state tensors after the start, from the declared roles."""
    state = None
    with torch.no_grad():
        for _ in range(model.future + 1):
            _, state = model.step(clip[:, 0], state)
    leaves, _ = flatten_state(state)
    return tuple(leaf.name.removeprefix("inner.") for leaf in leaves
                 if isinstance(leaf.value, torch.Tensor) and leaf.role == "carried")


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_the_state_tensors_are_those_of_carried_fields(name, variant):
    model, exported, clip, _ = case(name, variant)
    assert exported.state_names == carried_names(model, clip)
    assert "last" not in exported.state_names  # an "end" field: a constant of the graphs


def test_state_names():
    assert case("gru", "bare")[1].state_names == ("hidden",)
    assert case("gru", "rirn")[1].state_names == ("hidden", "memory", "blended")
    assert case("lstm", "bare")[1].state_names == ("hidden.0", "hidden.1")
    assert case("ifirnn", "bare")[1].state_names[0] == "rirn.hidden.0"  # gate record: empty
    names = case("estrnn", "bare")[1].state_names
    assert names[-1] == "rirn.hidden" and "features.4" in names
    assert case("strcnn", "bare")[1].state_names[-2:] == ("rirn.hidden.0", "rirn.hidden.1")
    model, exported, clip, reference = case("estrnn", "bare")
    full = export_streaming(model, clip[:, 0], prune=False)
    assert "last" in full.state_names and set(exported.state_names) < set(full.state_names)
    assert torch.equal(full.run(clip), reference)


class ToyState(NamedTuple):
    added: torch.Tensor
    unread: tuple[torch.Tensor, ...]
    gate: torch.Tensor

    @classmethod
    def roles(cls) -> dict[str, Role]:
        return {"unread": "record"}


def test_declared_roles_choose_the_state_tensors():
    class Toy(StreamingDeblurModel):
        def advance(self, frame, state):
            if state is None:
                state = ToyState(torch.ones_like(frame), (frame,), frame.new_ones(()))
            out = frame.clone()
            out[:, :1].add_(state.added[:, :1])
            if state.gate.item() > 0:  # read by Python control flow: fine in eager modules
                out = out * 2
            return out, ToyState(out * 0.5, (state.unread[0] + frame,), state.gate * 0.5)

    model = Toy().eval()
    clip = torch.rand(2, 4, 3, 8, 8)
    exported = export_streaming(model, clip[:, 0])
    assert exported.state_names == ("added", "gate")  # a record field, all of it: constants
    assert torch.equal(exported.run(clip), eager_video(model, clip))
    full = export_streaming(model, clip[:, 0], prune=False)
    assert full.state_names == ("added", "unread.0", "gate", "last")
    assert torch.equal(full.run(clip), eager_video(model, clip))


def test_ends_drop_matches_the_papers_protocol():
    model, _, clip, _ = case("estrnn", "bare")
    exported = export_streaming(model, clip[:, 0], ends="drop")
    assert exported.start_frames == model.past + 1 + model.future
    with torch.no_grad():
        reference = model(clip, ends="drop")[0]
    assert reference.shape[1] == FRAMES - model.past - model.future
    assert torch.equal(exported.run(clip), reference)
    programs = exported.torch_export()
    assert max_abs(exported.run(clip, *(p.module() for p in programs)), reference) <= 1e-5


def test_odd_size_batch_and_io_conventions():
    torch.manual_seed(1)
    model = build_model("gru", irm=True, atb=True, value_range=(0.0, 255.0), channel_order="bgr")
    model = model.eval()
    clip = torch.rand(2, 4, 3, 30, 45) * 255
    exported = export_streaming(model, clip[:, 0])
    with torch.no_grad():
        reference = model(clip)[0]
    assert torch.equal(exported.run(clip), reference)
    programs = exported.torch_export()
    got = exported.run(clip, *(p.module() for p in programs))
    assert max_abs(got, reference) <= 1e-5 * 255


def test_ifirnn_stochastic_gate_is_deterministic_in_eval():
    torch.manual_seed(2)
    model = build_model("ifirnn", iterations=2, stochastic=True, num_blocks=1).eval()
    clip = torch.rand(1, 4, *SHAPE[1:])
    exported = export_streaming(model, clip[:, 0])
    reference = eager_video(model, clip)
    assert torch.equal(exported.run(clip), reference)
    programs = exported.torch_export()
    assert max_abs(exported.run(clip, *(p.module() for p in programs)), reference) <= 1e-5


# -- ONNX ----------------------------------------------------------------------------------
def need_onnx() -> None:
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")


@pytest.mark.parametrize(
    ("name", "variant"),
    [
        pytest.param(name, variant, marks=[pytest.mark.slow] if variant == "rirn" else [])
        for name, variant in CASES
    ],
)
def test_onnx_runtime_reproduces_pytorch(name, variant, tmp_path):
    need_onnx()
    onnx = pytest.importorskip("onnx")
    model, exported, clip, reference = case(name, variant)
    start_path, step_path = exported.to_onnx(tmp_path)
    got = exported.run(clip, *load_onnx(tmp_path))
    # max abs error over all frames (inputs in [0, 1]). Measured: at most 1.2e-7 abs, which
    # is at most 1e-6 relative to the largest |output| of these untrained models (0.04-1.0)
    assert max_abs(got, reference) <= 1e-4
    # named, static-shape inputs and outputs; the protocol in the metadata
    step, start = onnx.load(str(step_path)), onnx.load(str(start_path))
    assert [i.name for i in step.graph.input] == list(exported.input_names)
    assert [o.name for o in step.graph.output] == list(exported.output_names)
    assert [i.name for i in start.graph.input] == ["frames"]
    assert [o.name for o in start.graph.output] == list(exported.output_names)
    dims = [d.dim_value for d in step.graph.input[0].type.tensor_type.shape.dim]
    assert dims == list(SHAPE)
    meta = {p.key: p.value for p in step.metadata_props}
    assert meta["rirn_layers.future"] == str(model.future)
    assert meta["rirn_layers.role"] == "step"


# -- errors --------------------------------------------------------------------------------
def test_rejects_a_model_that_is_not_a_streaming_model():
    with pytest.raises(TypeError, match="`model` must be a StreamingDeblurModel.*Conv2d"):
        export_streaming(nn.Conv2d(3, 3, 3), torch.rand(*SHAPE))  # type: ignore[arg-type]


def test_rejects_training_mode():
    model = build_model("gru")  # training mode after construction
    with pytest.raises(ValueError, match=r"eval mode.*model\.eval\(\)"):
        export_streaming(model, torch.rand(*SHAPE))


@pytest.mark.parametrize("shape", [(1, 4, 32, 32), (3, 32, 32), (1, 1, 3, 32, 32)])
def test_rejects_a_frame_of_the_wrong_shape(shape):
    model = case("gru", "bare")[0]
    expected = re.escape("(B, 3, H, W)") + ".*" + re.escape(str(shape).replace(",)", ")"))
    with pytest.raises(ValueError, match=f"`example_frame`.*{expected}"):
        export_streaming(model, torch.rand(*shape))


def test_rejects_bad_frames_and_options():
    model = case("gru", "bare")[0]
    with pytest.raises(TypeError, match="`example_frame` must be a torch.Tensor"):
        export_streaming(model, [[0.0]])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`example_frame` must have a floating dtype"):
        export_streaming(model, torch.zeros(*SHAPE, dtype=torch.uint8))
    with pytest.raises(ValueError, match="`ends` must be 'pad' or 'drop'"):
        export_streaming(model, torch.rand(*SHAPE), ends="wrap")


def test_modules_and_run_check_their_inputs():
    _, exported, clip, _ = case("estrnn", "bare")
    with pytest.raises(ValueError, match=re.escape("expected `frames` of shape (1, 3, 3, 32, 32)")):
        exported.start(clip[:, :2])
    _, *state = exported.start(clip[:, :3])
    with pytest.raises(ValueError, match=re.escape("(1, 3, 32, 32), got (1, 3, 16, 32)")):
        exported.step(clip[:, 3, :, :16], *state)
    n = len(exported.state_names)
    with pytest.raises(TypeError, match=f"expected {n} state tensors after `frame`, got {n - 1}"):
        exported.step(clip[:, 3], *state[:-1])
    with pytest.raises(ValueError, match=re.escape("(1, T >= 1, 3, 32, 32), got (1, 2, 3, 8, 8)")):
        exported.run(torch.rand(1, 2, 3, 8, 8))


def test_rejects_a_state_that_changes_layout_between_frames():
    class Growing(StreamingDeblurModel):  # keeps every frame: no fixed-size state
        def advance(self, frame, state):
            state = (*(state or ()), frame)
            return frame, state

    class Counting(StreamingDeblurModel):  # a Python counter would be frozen into the graph
        def advance(self, frame, state):
            count = 0 if state is None else state[1] + 1
            return frame, (frame, count)

    with pytest.raises(ValueError, match="changes structure from frame to frame"):
        export_streaming(Growing().eval(), torch.rand(*SHAPE))
    with pytest.raises(ValueError, match="non-tensor state entry '1' changes"):
        export_streaming(Counting().eval(), torch.rand(*SHAPE))


def test_missing_onnx_packages_name_the_extra(monkeypatch, tmp_path):
    _, exported, _, _ = case("gru", "bare")
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=re.escape("rirn-layers[export]")):
        exported.to_onnx(tmp_path)
    missing = r"load_onnx needs the optional package 'onnxruntime'.*rirn-layers\[export\]"
    with pytest.raises(ImportError, match=missing):
        load_onnx(tmp_path)


# -- docs ----------------------------------------------------------------------------------
def test_export_guide_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / "export.md").read_text(), flags=re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    for block in blocks:  # in order; the ONNX blocks need the export extra
        if "onnx" in block:
            need_onnx()
        exec(compile(block, "docs/export.md", "exec"), namespace)
