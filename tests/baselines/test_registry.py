"""build_model: names, errors, and the value range / colour order options."""

from __future__ import annotations

import pytest
import torch

from rirn_layers.baselines import available_models, build_model


def test_available_models_are_the_papers_rows():
    assert available_models() == ["gru", "lstm", "ifirnn", "strcnn", "stfan", "rdbn", "estrnn"]


def test_unknown_name_lists_what_is_allowed():
    with pytest.raises(ValueError, match="unknown model 'resnet'; available: gru, lstm, ifirnn"):
        build_model("resnet")


def test_value_range_and_channel_order_map_in_and_out():
    torch.manual_seed(0)
    rgb01 = build_model("gru", irm=True).eval()
    torch.manual_seed(0)
    bgr = build_model("gru", irm=True, value_range=(-0.5, 0.5), channel_order="bgr").eval()
    clip = torch.rand(1, 3, 3, 16, 16)
    with torch.no_grad():
        ref, _ = rgb01(clip)
        out, _ = bgr(clip.flip(2) - 0.5)
    torch.testing.assert_close(out, ref.flip(2) - 0.5)
    eight_bit = build_model("gru").set_io(value_range=(0, 255))
    assert eight_bit.value_range == (0.0, 255.0)


def test_bad_io_options():
    with pytest.raises(ValueError, match="value_range"):
        build_model("gru", value_range=(1, 0))
    with pytest.raises(ValueError, match="channel_order"):
        build_model("gru", channel_order="yuv")


def _int_options(name: str) -> list[tuple[str, object]]:
    import importlib
    import inspect

    from rirn_layers.baselines import _REGISTRY

    module, function = _REGISTRY[name].split(":")
    builder = getattr(importlib.import_module(module), function)
    params = inspect.signature(builder).parameters.values()
    return [(p.name, p.default) for p in params if type(p.default) is int]


@pytest.mark.parametrize("name", available_models())
def test_every_int_option_rejects_bools_and_floats(name):
    from rirn_layers._checks import ArgumentTypeError

    options = _int_options(name)
    assert options
    for option, default in options:
        for bad in (True, float(default)):
            with pytest.raises(ArgumentTypeError, match=f"`{option}`"):
                build_model(name, device="meta", **{option: bad})
