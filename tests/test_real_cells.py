"""Cells written as published code writes them, wrapped with the documented keywords only.

The cells and their one-line wraps are the ones of docs/retrofit.md ("Cells as published
code writes them"): the page's code is executed here and every wrapped cell must stream
(frame by frame == chunks == whole clip), train (a gradient for every parameter), export
(start/step graphs == eager) and be recorded by rirn_layers.inspect.record.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import torch

from rirn_layers import Reconstructor, RecurrentCellWrapper, RecurrentDeblurNet
from rirn_layers.export import export_streaming
from rirn_layers.inspect import record

DOC = Path(__file__).resolve().parents[1] / "docs" / "retrofit.md"
PATTERNS = ["lstm", "stacked", "gru_stack", "dict_cell", "rdb", "prop", "motion", "feedback"]
B, T, H, W = 2, 4, 18, 22  # odd sizes: padded to the cell's stride and cropped back


@pytest.fixture(scope="module")
def docs() -> dict:
    namespace: dict = {}
    torch.manual_seed(0)
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S):
        exec(compile(block, str(DOC), "exec"), namespace)
    return namespace


def build(docs: dict, name: str) -> RecurrentDeblurNet:
    torch.manual_seed(1)
    wrapped = copy.deepcopy(docs[name])
    assert type(wrapped) is RecurrentCellWrapper  # the documented call, no subclass
    head = Reconstructor(wrapped.out_channels, scale=wrapped.stride, mid_channels=16,
                         num_blocks=1, residual=True)
    return RecurrentDeblurNet(wrapped, head).eval()


def given(model: RecurrentDeblurNet, b: int = B, t: int = T) -> dict[str, torch.Tensor]:
    """Random given inputs (a flow of a few pixels) for the cells that declare some."""
    generator = torch.Generator().manual_seed(2)
    specs = model.wrapped.extra_inputs.specs
    return {name: 2 * torch.randn(b, t, spec.channels, H, W, generator=generator)
            for name, spec in specs.items() if spec.source == "given"}


@pytest.fixture
def clip() -> torch.Tensor:
    return torch.rand(B, T, 3, H, W, generator=torch.Generator().manual_seed(3))


def test_the_page_defines_every_pattern(docs):
    assert all(isinstance(docs[name], RecurrentCellWrapper) for name in PATTERNS)
    assert docs["prop"].extra_inputs.names("given") == ["flow"]
    assert docs["motion"].extra_inputs.names("previous_frame") == ["previous"]
    assert docs["feedback"].extra_inputs.names("previous_output") == ["last"]


@pytest.mark.parametrize("name", PATTERNS)
def test_frame_by_frame_and_chunks_equal_the_whole_clip(docs, name, clip):
    model = build(docs, name)
    inputs = given(model)
    with torch.no_grad():
        whole, _ = model(clip, **inputs)
        first, state = model(clip[:, :1], final=False, **{k: v[:, :1] for k, v in inputs.items()})
        rest, _ = model(clip[:, 1:], state, **{k: v[:, 1:] for k, v in inputs.items()})
        state, steps = None, []
        for t in range(T):
            out, state = model.step(clip[:, t], state, **{k: v[:, t] for k, v in inputs.items()})
            steps.append(out)
    assert whole.shape == (B, T, 3, H, W)
    torch.testing.assert_close(torch.cat((first, rest), 1), whole, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.stack(steps, 1), whole, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", PATTERNS)
def test_causal_and_gradients_reach_every_parameter(docs, name, clip):
    model = build(docs, name).train()
    inputs = given(model)
    out, _ = model(clip, **inputs)
    out.square().mean().backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not dead
    changed = clip.clone()
    changed[:, 2:] = torch.rand_like(changed[:, 2:])
    with torch.no_grad():
        a, _ = model.eval()(clip, **inputs)
        b, _ = model(changed, **inputs)
    torch.testing.assert_close(a[:, :2], b[:, :2], rtol=0, atol=0)


@pytest.mark.parametrize("name", PATTERNS)
def test_export_start_and_step_equal_eager(docs, name, clip):
    model = build(docs, name)
    inputs = given(model)
    example = {k: v[:, 0] for k, v in inputs.items()}
    exported = export_streaming(model, clip[:, 0], example_inputs=example)
    assert exported.input_names[: 1 + len(inputs)] == ("frame", *inputs)
    with torch.no_grad():
        expected, _ = model(clip, **inputs)
    torch.testing.assert_close(exported.run(clip, **inputs), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", PATTERNS)
def test_torch_export_programs_equal_eager(docs, name, clip):
    model = build(docs, name)
    inputs = given(model)
    exported = export_streaming(model, clip[:, 0], example_inputs={k: v[:, 0]
                                                                   for k, v in inputs.items()})
    programs = exported.torch_export()
    with torch.no_grad():
        expected, _ = model(clip, **inputs)
    out = exported.run(clip, programs.start.module(), programs.step.module(), **inputs)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", PATTERNS)
def test_record_sees_the_cells_feature_and_state(docs, name, clip):
    model = build(docs, name)
    inputs = given(model)
    with torch.no_grad(), record(model) as recording:
        model(clip, **inputs)
    features = recording.stack("wrapped", "feature")
    hidden = recording.stack("wrapped", "hidden")
    stride = model.wrapped.stride
    size = (-(-H // stride), -(-W // stride))
    assert features.shape[:3] == (B, T, model.wrapped.feature_channels)
    assert hidden.shape == (B, T, model.wrapped.hidden_channels, *size)
    assert recording.stack("wrapped.irm", "memory").shape == hidden.shape
    w_prev, w_cur = recording.stack("wrapped.atb", "weights")
    assert w_prev.shape == w_cur.shape == features.shape


@pytest.mark.parametrize("name", ["prop", "feedback"])
def test_activation_checkpointing_keeps_outputs_and_gradients(docs, name, clip):
    grads = []
    for enabled in (False, True):
        model = build(docs, name).train().set_checkpointing(enabled)
        out, _ = model(clip, **given(model))
        out.square().mean().backward()
        grads.append([p.grad for p in model.parameters()])
    for plain, recomputed in zip(*grads, strict=True):
        torch.testing.assert_close(recomputed, plain, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_onnx_with_a_given_flow_equals_eager(docs, clip, tmp_path):
    pytest.importorskip("onnxruntime")
    from rirn_layers.export import load_onnx

    model = build(docs, "prop")
    inputs = given(model)
    exported = export_streaming(model, clip[:, 0], example_inputs={"flow": inputs["flow"][:, 0]})
    exported.to_onnx(tmp_path)
    start, step = load_onnx(tmp_path)
    with torch.no_grad():
        expected, _ = model(clip, **inputs)
    out = exported.run(clip, start, step, **inputs)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
