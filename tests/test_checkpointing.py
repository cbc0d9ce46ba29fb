"""StreamingDeblurModel.set_checkpointing: same outputs and gradients, less saved memory."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import rirn_layers.checkpointing as checkpointing_module
from rirn_layers.baselines import build_model
from rirn_layers.model import StreamingDeblurModel
from rirn_layers.wrap import detach_state

#: Small configs of baselines with different state kinds: a plain hidden state with IRM/ATB,
#: IFI-RNN's stochastic iteration gate (random numbers replayed in the recomputation), a
#: look-ahead model whose state is a cache of past + 1 + future frames (ends padded).
CONFIGS: dict[str, dict[str, Any]] = {
    "gru+irm+atb": {"name": "gru", "irm": True, "atb": True, "channels": (8, 12, 16),
                    "hidden_channels": 8},
    "lstm": {"name": "lstm", "channels": (8, 12, 16), "hidden_channels": 8},
    "ifirnn-stochastic+irm": {"name": "ifirnn", "irm": True, "iterations": 2,
                              "stochastic": True, "channels": (8, 12, 16),
                              "hidden_channels": 8, "num_blocks": 1},
    "estrnn": {"name": "estrnn", "blocks": 1, "channels": 20},
    "estrnn+irm+atb": {"name": "estrnn", "irm": True, "atb": True, "blocks": 1,
                       "channels": 20},
}


def make(key: str, checkpointing: bool) -> StreamingDeblurModel:
    torch.manual_seed(0)
    model = build_model(**CONFIGS[key])
    return model.set_checkpointing(checkpointing)


def loss_and_grads(
    model: StreamingDeblurModel, clip: torch.Tensor, chunk: int
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Truncated BPTT over ``clip`` as the training loop does it; outputs, loss, gradients."""
    torch.manual_seed(1)  # the same random gate decisions in both runs
    model.train()
    model.zero_grad(set_to_none=True)
    state, outs, total = None, [], torch.zeros(())
    frames = clip.shape[1]
    for start in range(0, frames, chunk):
        last = start + chunk >= frames
        out, state = model(clip[:, start : start + chunk], state, final=last)
        if out.shape[1] == 0:  # a look-ahead model's first chunk may have no output yet
            continue
        loss = (out - clip[:, : out.shape[1]].roll(1, -1)).abs().mean()
        if hasattr(model, "regularization_loss"):
            loss = loss + model.regularization_loss(state.inner)
        loss.backward()
        outs.append(out.detach())
        total = total + loss.detach()
        state = detach_state(state)
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return torch.cat(outs, 1), total, grads


@pytest.mark.parametrize("key", list(CONFIGS))
def test_outputs_and_gradients_are_unchanged(key):
    clip = torch.rand(2, 4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    out_a, loss_a, grads_a = loss_and_grads(make(key, False), clip, chunk=2)
    out_b, loss_b, grads_b = loss_and_grads(make(key, True), clip, chunk=2)
    assert torch.equal(out_a, out_b)
    assert torch.equal(loss_a, loss_b)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 0
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], rtol=0, atol=1e-6, msg=name)


def saved_bytes(model: StreamingDeblurModel, clip: torch.Tensor) -> int:
    """Bytes the autograd graph keeps for the backward pass outside checkpointed regions."""
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out, _ = model(clip)
    out.mean().backward()
    return total


@pytest.mark.parametrize("key", ["gru+irm+atb", "estrnn"])
def test_keeps_far_less_for_the_backward_pass(key):
    clip = torch.rand(1, 4, 3, 32, 32)
    plain = saved_bytes(make(key, False), clip)
    checkpointed = saved_bytes(make(key, True), clip)
    assert checkpointed < plain / 4, (checkpointed, plain)


def count_checkpoints(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = checkpointing_module.checkpoint

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(checkpointing_module, "checkpoint", counting)
    return calls


def test_acts_only_in_training_with_gradients(monkeypatch):
    calls = count_checkpoints(monkeypatch)
    model = make("estrnn", True)  # past = future = 2: 2 + 4 + 2 advances per clip
    clip = torch.rand(1, 4, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        reference, _ = model(clip)
    out, _ = model(clip)
    assert calls == [] and torch.equal(out, reference)
    model.train()
    with torch.no_grad():
        out, _ = model(clip)
    with torch.inference_mode():
        out_inference, _ = model(clip)
    assert calls == [] and torch.equal(out, reference) and torch.equal(out_inference, reference)
    out, _ = model(clip)
    assert len(calls) == 2 + 4 + 2
    assert torch.equal(out.detach(), reference)


def test_streaming_step_and_flush_are_checkpointed_too(monkeypatch):
    calls = count_checkpoints(monkeypatch)
    model = make("estrnn", True).train()
    clip = torch.rand(1, 3, 3, 32, 32)
    whole, _ = model(clip)
    state, outs = None, []
    for frame in clip.unbind(1):
        out, state = model.step(frame, state)
        if out is not None:
            outs.append(out)
    assert state is not None
    rest, _ = model.flush(state)
    assert len(calls) == 2 * (2 + 3 + 2)
    assert torch.equal(torch.stack([*outs, *rest], 1), whole)


def test_disabled_by_default_and_switchable():
    model = make("gru+irm+atb", False)
    assert model.checkpointing is False
    assert model.set_checkpointing() is model and model.checkpointing is True
    assert model.set_checkpointing(False).checkpointing is False


@pytest.mark.parametrize("value", [1, 0, "yes", None])
def test_non_bool_is_a_type_error(value):
    model = make("gru+irm+atb", False)
    with pytest.raises(TypeError, match="`enabled` must be True or False"):
        model.set_checkpointing(value)
    assert model.checkpointing is False
