"""rirn_layers.inspect: recording IRM, ATB and DTB during an unroll changes nothing."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rirn_layers import AdaptiveTemporalBlend, DynamicTemporalBlend, InnerRecurrence
from rirn_layers.baselines import build_model
from rirn_layers.inspect import DEFAULT_KINDS, KINDS, record

B, T, H, W = 1, 3, 32, 32


def hooked_modules(model: nn.Module) -> list[str]:
    return [
        name for name, m in model.named_modules()
        if m._forward_hooks or m._forward_hooks_with_kwargs or m._forward_pre_hooks
    ]


@pytest.fixture(scope="module")
def clip() -> torch.Tensor:
    return torch.rand(B, T, 3, H, W, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def gru() -> nn.Module:
    torch.manual_seed(0)
    return build_model("gru", irm=True, atb=True).eval()


@pytest.fixture(scope="module")
def strcnn() -> nn.Module:
    torch.manual_seed(0)
    model = build_model("strcnn", channels=16, hidden_channels=8).eval()
    with torch.no_grad():  # a non-zero beta, so the DTB weights are not plain |tanh|
        model.get_submodule("wrapped.cell.dtb").beta.fill_(0.1)
    return model


@pytest.fixture(scope="module")
def gru_run(gru, clip):
    with torch.no_grad():
        plain, _ = gru(clip)
        with record(gru, KINDS) as rec:
            recorded, _ = gru(clip)
    return plain, recorded, rec


@pytest.fixture(scope="module")
def strcnn_run(strcnn, clip):
    with torch.inference_mode():
        plain, _ = strcnn(clip)
        with record(strcnn, KINDS) as rec:
            recorded, _ = strcnn(clip)
    return plain, recorded, rec


def test_outputs_bit_identical(gru_run, strcnn_run):
    for plain, recorded, _ in (gru_run, strcnn_run):
        assert torch.equal(plain, recorded)


def test_estrnn_outputs_bit_identical(clip):
    torch.manual_seed(0)
    model = build_model("estrnn", irm=True, atb=True, blocks=1, channels=20).eval()
    with torch.no_grad():
        plain, _ = model(clip)
        with record(model, device="cpu") as rec:
            recorded, _ = model(clip)
    assert torch.equal(plain, recorded)
    assert rec.names() == ["wrapped", "wrapped.atb", "wrapped.irm"]


def test_names_counts_and_shapes(gru, gru_run):
    _, _, rec = gru_run
    assert rec.names() == ["wrapped", "wrapped.atb", "wrapped.irm"]
    c_h, c_f = gru.wrapped.hidden_channels, gru.wrapped.feature_channels
    for name, kind, channels in [
        ("wrapped", "hidden", c_h), ("wrapped", "feature", c_f),
        ("wrapped.irm", "hidden", c_h), ("wrapped.irm", "memory", c_h),
        ("wrapped.irm", "previous", c_h),
        ("wrapped.atb", "feature", c_f), ("wrapped.atb", "blended", c_f),
        ("wrapped.atb", "previous", c_f),
    ]:
        frames = rec.frames(name, kind)
        assert len(frames) == T
        stacked = rec.stack(name, kind)
        assert stacked.shape[:3] == (B, T, channels)
        assert torch.equal(stacked[:, 0], frames[0])
    w_prev, w_cur = rec.stack("wrapped.atb", "weights")
    assert w_prev.shape == w_cur.shape == rec.stack("wrapped.atb", "feature").shape
    # the wrapper's hidden state is IRM's input; IRM's previous is its last output
    assert torch.equal(rec.stack("wrapped", "hidden"), rec.stack("wrapped.irm", "hidden"))
    memory, previous = rec.stack("wrapped.irm", "memory"), rec.stack("wrapped.irm", "previous")
    assert torch.equal(previous[:, 1:], memory[:, :-1])
    assert not previous[:, 0].any()


def check_blend(rec, name):
    feature, blended = rec.stack(name, "feature"), rec.stack(name, "blended")
    previous = rec.stack(name, "previous")
    w_prev, w_cur = rec.stack(name, "weights")
    assert torch.equal(previous[:, 1:], blended[:, :-1])
    torch.testing.assert_close(w_prev * previous + w_cur * feature, blended, rtol=0, atol=0)
    assert ((w_prev >= 0) & (w_prev <= 1) & (w_cur >= 0) & (w_cur <= 1)).all()
    return w_prev + w_cur


def test_atb_weights_reproduce_blend_and_are_free(gru_run):
    sums = check_blend(gru_run[2], "wrapped.atb")
    assert not torch.allclose(sums, torch.ones(()))


def test_dtb_weights_reproduce_blend_and_sum_to_one(strcnn_run):
    _, _, rec = strcnn_run
    assert rec.names() == ["wrapped", "wrapped.cell.dtb"]
    # STRCNN looks 2 frames ahead and edge-pads the clip: one entry per processed frame
    counts = {len(rec.frames(n, k)) for n, k in rec.keys()}
    assert len(counts) == 1 and counts.pop() >= T
    sums = check_blend(rec, "wrapped.cell.dtb")
    torch.testing.assert_close(sums, torch.ones_like(sums), rtol=0, atol=1e-6)
    assert rec.frames("wrapped.cell.dtb", "weights")[0][0].is_inference()


def test_weights_match_return_weights():
    torch.manual_seed(0)
    f, prev = torch.randn(2, 1, 4, 6, 6).unbind(0)
    for layer in (AdaptiveTemporalBlend(4), DynamicTemporalBlend(4)):
        with record(layer, "weights") as rec:
            layer(f, blended=prev)  # keyword argument
            _, expected = layer(f, prev, return_weights=True)
        first, second = rec.frames("", "weights")
        for got in (first, second):
            assert all(torch.equal(g, e) for g, e in zip(got, expected, strict=True))


def test_only_requested_kinds(gru, clip):
    with torch.no_grad(), record(gru, ("memory",)) as rec:
        gru(clip)
    assert rec.keys() == [("wrapped.irm", "memory")]
    with torch.no_grad(), record(gru, "weights") as rec:
        gru(clip)
    assert rec.keys() == [("wrapped.atb", "weights")]
    assert DEFAULT_KINDS == ("hidden", "memory", "feature", "blended", "weights")


def test_nothing_recorded_or_hooked_outside(gru, clip):
    assert hooked_modules(gru) == []
    with torch.no_grad(), record(gru) as rec:
        assert hooked_modules(gru)
    assert hooked_modules(gru) == []
    with torch.no_grad():
        gru(clip)
    assert len(rec) == 0
    with pytest.raises(RuntimeError, match="boom"), record(gru):
        raise RuntimeError("boom")
    assert hooked_modules(gru) == []


def test_hooks_removed_after_error_in_forward(gru):
    with pytest.raises(ValueError), record(gru):
        gru(torch.rand(1, 2, 5, 32, 32))  # 5 channels: the model's own error
    assert hooked_modules(gru) == []


def test_unknown_kind_is_named():
    with pytest.raises(ValueError, match="'weight'.*hidden, memory, previous"):
        with record(InnerRecurrence(4), ("hidden", "weight")):
            pass


def test_model_without_layers():
    with pytest.raises(ValueError, match="Conv2d contains no RecurrentCellWrapper"):
        with record(nn.Conv2d(3, 3, 3)):
            pass


def test_missing_entry_is_a_clear_key_error(gru, clip):
    with torch.no_grad(), record(gru, "memory") as rec:
        gru(clip)
    with pytest.raises(KeyError, match="recorded:.*'wrapped.irm', 'memory'"):
        rec.frames("wrapped.atb", "weights")


def test_records_with_gradients_and_holds_no_graph():
    torch.manual_seed(0)
    irm = InnerRecurrence(4)
    h = torch.randn(1, 4, 6, 6, requires_grad=True)
    with record(irm, KINDS, device="cpu") as rec:
        memory = irm(h)
        irm(h, memory).sum().backward()
    assert h.grad is not None
    assert not any(t.requires_grad for t in rec.frames("", "memory"))
    assert torch.equal(rec.frames("", "memory")[0], memory.detach())
    assert torch.equal(rec.frames("", "previous")[1], memory.detach())
