"""What only a GPU can check: mixed-precision training, channels_last, torch.compile, fast path.

Every test is marked ``cuda`` and skips without a CUDA device, unless ``RIRN_REQUIRE_CUDA=1``
(set by ``benchmarks/gpu_suite.py``): then a missing GPU fails them. Run them with
``pytest -m cuda`` (all CUDA tests of the suite) or ``python benchmarks/gpu_suite.py``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import pytest
import torch

from rirn_layers.baselines import build_model

REQUIRED = os.environ.get("RIRN_REQUIRE_CUDA") == "1"
pytestmark = pytest.mark.cuda
CLIP = (2, 4, 3, 64, 64)  # (B, T, C, H, W)


@pytest.fixture(autouse=True)
def cuda() -> Iterator[None]:
    """Skip without CUDA (fail with RIRN_REQUIRE_CUDA=1); exact fp32 (no TF32) inside."""
    if not torch.cuda.is_available():
        if REQUIRED:
            pytest.fail("RIRN_REQUIRE_CUDA=1 but CUDA is not available", pytrace=False)
        pytest.skip("needs CUDA")
    flags = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags


def model_and_clip(train: bool = True) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """GRU+IRM+ATB on the GPU and a (blurry, sharp) clip pair of shape CLIP."""
    torch.manual_seed(0)
    model = build_model("gru", irm=True, atb=True).cuda().train(train)
    sharp = torch.rand(*CLIP, device="cuda")
    blur = (sharp + 0.05 * torch.randn_like(sharp)).clamp(0, 1)
    return model, blur, sharp


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def assert_finite_gradients(model: torch.nn.Module) -> None:
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"


def fp32_loss() -> float:
    model, blur, sharp = model_and_clip()
    out, _ = model(blur)
    return torch.nn.functional.l1_loss(out, sharp).item()


def test_amp_fp16_training_step_with_grad_scaler() -> None:
    model, blur, sharp = model_and_clip()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cuda", init_scale=2.0**10)
    before = [p.detach().clone() for p in model.parameters()]
    with torch.autocast("cuda", dtype=torch.float16):
        out, _ = model(blur)
        loss = torch.nn.functional.l1_loss(out.float(), sharp)
    assert out.dtype == torch.float32  # the frames come back in the input's dtype
    assert math.isfinite(loss.item())
    assert abs(loss.item() - fp32_loss()) < 2e-2 * fp32_loss() + 1e-3
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    assert_finite_gradients(model)
    assert all(p.grad.dtype == torch.float32 for p in model.parameters())  # fp32 master grads
    scaler.step(optimizer)
    scaler.update()
    assert scaler.get_scale() == 2.0**10  # no overflow found: the scale is kept
    assert scaler.state_dict()["_growth_tracker"] == 1
    changed = [not torch.equal(p, b) for p, b in zip(model.parameters(), before, strict=True)]
    assert any(changed), "the scaler skipped the optimizer step"


def test_bf16_autocast_training_step() -> None:
    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    model, blur, sharp = model_and_clip()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out, _ = model(blur)
        loss = torch.nn.functional.l1_loss(out.float(), sharp)
    assert math.isfinite(loss.item())
    assert abs(loss.item() - fp32_loss()) < 5e-2 * fp32_loss() + 1e-3
    loss.backward()
    assert_finite_gradients(model)
    optimizer.step()
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_channels_last_inputs_and_weights_match_contiguous() -> None:
    model, blur, _ = model_and_clip(train=False)
    with torch.inference_mode():
        model.to(memory_format=torch.contiguous_format)
        reference, _ = model(blur.contiguous())
        model.to(memory_format=torch.channels_last)
        weights = [p for p in model.parameters() if p.dim() == 4]
        assert weights and all(w.is_contiguous(memory_format=torch.channels_last)
                               for w in weights)
        frames = torch.stack([f.contiguous(memory_format=torch.channels_last)
                              for f in blur.unbind(1)], 1)
        state = None
        outs = []
        for frame in frames.unbind(1):  # streaming: each (B, C, H, W) frame channels_last
            assert frame.is_contiguous(memory_format=torch.channels_last)
            out, state = model.step(frame, state)
            outs.append(out)
        streamed = torch.stack(outs, 1)
    torch.testing.assert_close(streamed, reference, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_compiled_streaming_step_matches_eager() -> None:
    model, blur, _ = model_and_clip(train=False)
    compiled = torch.compile(model.step, fullgraph=True)
    with torch.inference_mode():
        _, state = model.step(blur[:, 0])
        eager, eager_state = model.step(blur[:, 1], state)
        out, out_state = compiled(blur[:, 1], state)
        again, _ = compiled(blur[:, 2], out_state)  # the compiled step carries its own state
        reference, _ = model.step(blur[:, 2], eager_state)
    torch.testing.assert_close(out, eager, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(again, reference, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("forced", [None, torch.float16, torch.bfloat16])
def test_fast_path_picks_bf16_or_fp16_on_cuda(forced: torch.dtype | None) -> None:
    if forced is torch.bfloat16 and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    expected = forced or (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    model, blur, _ = model_and_clip(train=False)
    with torch.inference_mode():
        reference, _ = model(blur)
        out, state = model.set_fast_path(dtype=forced)(blur)
    assert model.fast_path and model.fast_path_dtype is forced
    assert state.inner.memory.dtype == expected  # IRM's memory carries the reduced precision
    assert state.inner.blended.dtype == expected  # so does ATB's blended feature
    assert out.dtype == torch.float32
    assert 0 < rel_error(out, reference) < 2e-2
