"""Reference baselines from the papers RIRN builds on, each bare or with IRM/ATB.

Every row of RIRN table 3, plus ESTRNN itself:

======== ================================================================ =========
name     model                                                            looks ahead
======== ================================================================ =========
gru      GRU of RIRN supplementary table S2                               no
lstm     LSTM of RIRN supplementary table S1                              no
ifirnn   IFI-RNN (Nah et al., CVPR 2019), C1/C2, H iterations             no
strcnn   STRCNN with or without DTB (Kim et al., ICCV 2017)               2 frames
stfan    STFAN with filter adaptive convolution (Zhou et al., ICCV 2019)  no
rdbn     ESTRNN's RDB cell without GSA (RIRN's RDBN)                      no
estrnn   ESTRNN (Zhong et al., ECCV 2020), RDB cell + GSA                 ``future``
======== ================================================================ =========

``build_model(name, irm=..., atb=..., **config)`` returns a
:class:`~rirn_layers.model.StreamingDeblurModel`: ``model(clip)`` deblurs a whole
``(B, T, 3, H, W)`` clip in RGB ``[0, 1]``, ``model.step``/``model.flush`` stream a video of
any length in constant memory.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import torch

from rirn_layers.model import StreamingDeblurModel

__all__ = ["available_models", "build_model", "model_builder"]

_REGISTRY: dict[str, str] = {
    "gru": "rirn_layers.baselines.gru_lstm:build_gru",
    "lstm": "rirn_layers.baselines.gru_lstm:build_lstm",
    "ifirnn": "rirn_layers.baselines.ifirnn:build_ifirnn",
    "strcnn": "rirn_layers.baselines.strcnn:build_strcnn",
    "stfan": "rirn_layers.baselines.stfan:build_stfan",
    "rdbn": "rirn_layers.baselines.rdb:build_rdbn",
    "estrnn": "rirn_layers.baselines.estrnn:build_estrnn",
}


def available_models() -> list[str]:
    """Names accepted by :func:`build_model`, in RIRN table 3 order (ESTRNN last)."""
    return list(_REGISTRY)


def model_builder(name: str) -> Callable[..., StreamingDeblurModel]:
    """The ``build_<name>`` function behind ``build_model(name)``, e.g. to read its options.

    Example:
        >>> import inspect
        >>> "dtb" in inspect.signature(model_builder("strcnn")).parameters
        True
    """
    if name not in _REGISTRY:
        raise ValueError(
            f"build_model: unknown model {name!r}; available: {', '.join(_REGISTRY)}"
        )
    module_name, function = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module_name), function)  # type: ignore[no-any-return]


def build_model(
    name: str,
    *,
    irm: bool = False,
    atb: bool = False,
    value_range: tuple[float, float] = (0.0, 1.0),
    channel_order: str = "rgb",
    memory_format: torch.memory_format = torch.channels_last,
    **config: Any,
) -> StreamingDeblurModel:
    """Build baseline ``name`` bare (default) or with RIRN's IRM and/or ATB.

    Args:
        name: one of :func:`available_models`.
        irm: add the inner-recurrence module over the model's hidden state.
        atb: add adaptive temporal blending over the model's feature.
        value_range: range of the frames passed in and returned; the library's default is
            ``(0, 1)``. The official ESTRNN code uses ``(-0.5, 0.5)``, 8-bit data ``(0, 255)``.
        channel_order: ``"rgb"`` (default) or ``"bgr"`` (OpenCV, the official ESTRNN code).
        memory_format: layout of the convolution weights, which the activations follow.
            ``torch.channels_last`` (default) runs every baseline 1.1-1.7x faster than
            ``torch.contiguous_format`` on CPU (``benchmarks/options.py``); the outputs are
            the same up to float rounding and the ``state_dict`` is the same either way.
        **config: the model's own options (see each ``build_<name>``), with the papers'
            defaults.

    Example:
        >>> model = build_model("gru", irm=True, atb=True)
        >>> restored, state = model(torch.rand(1, 3, 3, 32, 32))
        >>> restored.shape
        torch.Size([1, 3, 3, 32, 32])
    """
    builder = model_builder(name)
    if memory_format not in (torch.channels_last, torch.contiguous_format):
        raise ValueError(
            "build_model: `memory_format` must be torch.channels_last or "
            f"torch.contiguous_format, got {memory_format}"
        )
    model: StreamingDeblurModel = builder(irm=irm, atb=atb, **config)
    model.to(memory_format=memory_format)
    return model.set_io(value_range=value_range, channel_order=channel_order)
