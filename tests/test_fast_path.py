"""The speed switches: channels_last by default, set_fast_path (autocast), their outputs."""

from __future__ import annotations

import pytest
import torch

from rirn_layers.baselines import available_models, build_model

SMALL = {"estrnn": {"blocks": 1, "channels": 20}, "rdbn": {"blocks": 1, "channels": 20},
         "stfan": {"channels": (8, 16, 32)}, "strcnn": {"channels": 16, "hidden_channels": 8}}


def make(name: str, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, irm=True, atb=True, **SMALL.get(name, {}), **kwargs).eval()


def conv_weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p for p in model.parameters() if p.dim() == 4 and p.shape[1] * p[0, 0].numel() > 1]


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("name", available_models())
def test_channels_last_is_the_default_and_changes_nothing_but_layout(name):
    fast = make(name)
    plain = make(name, memory_format=torch.contiguous_format)
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in conv_weights(fast))
    assert all(w.is_contiguous() for w in conv_weights(plain))
    clip = torch.rand(1, 3, 3, 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(fast(clip)[0], plain(clip)[0], rtol=1e-4, atol=1e-5)
    # same parameters, same names: checkpoints load either way
    plain.load_state_dict(fast.state_dict())


def test_build_model_rejects_other_memory_formats():
    with pytest.raises(ValueError, match="memory_format"):
        build_model("gru", memory_format=torch.channels_last_3d)


@pytest.mark.parametrize("name", available_models())
def test_fast_path_stays_within_1e_2_of_full_precision(name):
    model = make(name)
    clip = torch.rand(1, 4, 3, 32, 32)
    with torch.inference_mode():
        reference, _ = model(clip)
        model.set_fast_path(dtype=torch.bfloat16)
        out, _ = model(clip)
    assert out.dtype == torch.float32 and out.shape == reference.shape
    assert rel_error(out, reference) < 1e-2
    assert rel_error(out, reference) > 0  # it did run in reduced precision
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in conv_weights(model))


def test_fast_path_carries_reduced_precision_state_and_can_be_switched_off():
    model = make("gru")
    clip = torch.rand(2, 3, 3, 16, 16)
    with torch.inference_mode():
        reference, _ = model(clip)
        _, state = model.set_fast_path(dtype=torch.bfloat16)(clip)
        assert state.inner.memory.dtype == torch.bfloat16  # IRM's memory
        assert state.inner.blended.dtype == torch.bfloat16  # ATB's blended feature
        back, _ = model.set_fast_path(False)(clip)
    torch.testing.assert_close(back, reference, rtol=1e-4, atol=1e-5)


def test_fast_path_output_follows_the_input_dtype():
    model = make("gru").double()
    with torch.inference_mode():
        out, _ = model.set_fast_path().step(torch.rand(1, 3, 16, 16, dtype=torch.float64))
    assert out.dtype == torch.float64


def test_fast_path_trains():
    model = make("gru").train().set_fast_path()
    out, _ = model(torch.rand(1, 2, 3, 16, 16))
    out.mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert all(p.grad.dtype == torch.float32 for p in model.parameters())


def test_fast_path_does_not_change_the_mac_count():
    from rirn_layers.profile import count_macs

    model = make("gru")
    plain = count_macs(model, 32, 32).macs
    assert count_macs(model.set_fast_path(), 32, 32).macs == plain
    assert model.fast_path  # the count works on a copy


def test_fast_path_argument_errors():
    model = make("gru")
    with pytest.raises(TypeError, match="enabled"):
        model.set_fast_path("yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dtype"):
        model.set_fast_path(dtype=torch.float64)


@pytest.mark.slow
def test_fast_path_step_compiles_without_graph_breaks():
    model = make("gru").set_fast_path()
    frame = torch.rand(1, 3, 16, 16)
    with torch.inference_mode():
        _, state = model.step(frame)
        eager, _ = model.step(frame, state)
        # fullgraph=True raises at the first graph break
        compiled, _ = torch.compile(model.step, fullgraph=True)(frame, state)
    assert rel_error(compiled, eager) < 1e-2


@pytest.mark.parametrize("faster", [True, False])
def test_the_cpu_fast_path_uses_bf16_only_where_it_is_faster(monkeypatch, faster):
    from rirn_layers import fast_path

    fast_path._bf16_pays.cache_clear()
    times = {False: 1.0, True: 0.5 if faster else 14.0}  # bf16 vs fp32, seconds per conv
    monkeypatch.setattr(fast_path, "_best_time", lambda conv, x, bf16: times[bf16])
    try:
        model = make("gru").set_fast_path()
        assert model.cpu_fast_path_dtype == (torch.bfloat16 if faster else None)
        clip = torch.rand(1, 2, 3, 16, 16)
        with torch.inference_mode():
            _, state = model(clip)
        assert state.inner.memory.dtype == (torch.bfloat16 if faster else torch.float32)
        assert make("gru").set_fast_path(dtype=torch.bfloat16).fast_path_dtype == torch.bfloat16
    finally:
        fast_path._bf16_pays.cache_clear()


def test_the_measurement_needs_a_clear_margin(monkeypatch):
    from rirn_layers import fast_path

    fast_path._bf16_pays.cache_clear()
    monkeypatch.setattr(fast_path, "_best_time", lambda conv, x, bf16: 0.95 if bf16 else 1.0)
    try:
        assert fast_path.cpu_reduced_precision() is None  # 5% faster is noise, not a gain
    finally:
        fast_path._bf16_pays.cache_clear()
