"""Multiply-accumulates per output frame of any streaming model, counted on the meta device.

:func:`count_macs` copies a :class:`~rirn_layers.model.StreamingDeblurModel` to the meta
device (shapes only: no memory, no compute, so 720p costs nothing), feeds it frames with
:meth:`~rirn_layers.model.StreamingDeblurModel.step` until it is in its steady state (the
look-ahead window full and every recurrence past its first step), and counts exactly one
more step under :class:`torch.utils.flop_counter.FlopCounterMode`. The count covers every
operator that mode knows (convolutions, matrix products, attention); element-wise operations,
activations, pooling and normalisation are not counted, as in the papers.

Two conventions:

- ``"true"``: the multiply-accumulates the model performs, ``FlopCounterMode`` FLOPs / 2
  (a transposed convolution costs ``C_in x C_out/groups x k^2`` per *input* pixel; biases
  are not counted).
- ``"paper"``: the rules of thop, with which ESTRNN (ECCV 2020) and the works that copy its
  tables report "GMACs": a transposed convolution is counted like a convolution over its
  *output* pixels (``C_in/groups x k^2`` per output element, ``stride^2`` times the true
  cost for stride-2 upsampling), and a layer with a bias adds 1 MAC per output element.
  Layers the library computes in a cheaper but equivalent form are counted as the papers
  describe them (:class:`~rirn_layers.GlobalSpatioTemporalAttention` layer by layer, not
  folded into one matrix). With it, :func:`~rirn_layers.baselines.estrnn.build_estrnn`
  reproduces ESTRNN's tables 1, 4 and 5 within 0.3 % (B9C80: 163.6 GMACs).
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from math import prod
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from rirn_layers._checks import check_choice, check_int
from rirn_layers.layers.gsa import GlobalSpatioTemporalAttention
from rirn_layers.model import StreamingDeblurModel

__all__ = ["MacReport", "count_macs"]

Convention = Literal["paper", "true"]
_aten = torch.ops.aten


@dataclass(frozen=True)
class MacReport:
    """Cost of one output frame in the steady state, as counted by :func:`count_macs`.

    Attributes:
        macs: multiply-accumulates per output frame.
        params: number of parameters (shared ones once).
        trainable_params: parameters with ``requires_grad``.
        height: input frame height counted at.
        width: input frame width counted at.
        convention: ``"paper"`` (thop's rules) or ``"true"``.
        by_module: MACs per module the step calls directly (by attribute name, or class
            name where that is ambiguous), largest first.
    """

    macs: int
    params: int
    trainable_params: int
    height: int
    width: int
    convention: str
    by_module: dict[str, int] = field(default_factory=dict)

    @property
    def gmacs(self) -> float:
        """``macs / 1e9``, the unit of the papers' tables."""
        return self.macs / 1e9

    def __str__(self) -> str:
        lines = [
            f"{self.gmacs:.2f} GMACs per output frame at {self.width}x{self.height} "
            f"({self.convention} convention), {self.params / 1e6:.3f} M parameters "
            f"({self.trainable_params / 1e6:.3f} M trainable)"
        ]
        for name, macs in self.by_module.items():
            lines.append(f"  {name:<24} {macs / 1e9:10.2f} GMACs")
        return "\n".join(lines)


def _paper_conv(
    x_shape: list[int],
    w_shape: list[int],
    bias: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    transposed: bool,
    output_padding: Any = None,
    groups: int = 1,
    *args: Any,
    out_shape: list[int] | None = None,
    **kwargs: Any,
) -> int:
    """thop's convolution rule, in FLOPs (2 per MAC): every output element costs
    ``C_in / groups x k^2`` MACs, plus 1 with a bias, transposed or not."""
    assert out_shape is not None
    in_per_group = x_shape[1] // groups if transposed else w_shape[1]
    per_output = in_per_group * prod(w_shape[2:]) + (1 if bias is not None else 0)
    return 2 * prod(out_shape) * per_output


def _paper_addmm(
    bias_shape: list[int],
    a_shape: list[int],
    b_shape: list[int],
    *args: Any,
    out_shape: list[int] | None = None,
    **kwargs: Any,
) -> int:
    """A linear layer with a bias: the matrix product plus 1 MAC per output element."""
    m, k = a_shape
    n = b_shape[1]
    return 2 * m * n * (k + 1)


def _paper_mapping() -> dict[Any, Any]:
    return {
        _aten.convolution: _paper_conv,
        _aten._convolution: _paper_conv,
        _aten.addmm: _paper_addmm,
    }


def _meta_copy(model: StreamingDeblurModel) -> StreamingDeblurModel:
    """A deep copy of ``model`` on the meta device, in eval mode, without copying weights."""
    memo: dict[int, Any] = {}
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        empty = torch.empty_like(tensor, device="meta")
        if isinstance(tensor, nn.Parameter):
            empty = nn.Parameter(empty, requires_grad=tensor.requires_grad)
        memo[id(tensor)] = empty
    meta = copy.deepcopy(model, memo).to("meta").eval()
    meta.fast_path = False  # no autocast on the meta device; precision does not change MACs
    return meta


def _check_model(model: object) -> StreamingDeblurModel:
    if not isinstance(model, StreamingDeblurModel):
        raise TypeError(
            "count_macs: `model` must be a StreamingDeblurModel (e.g. from "
            f"rirn_layers.baselines.build_model), got {type(model).__name__}"
        )
    return model


def _top_level(counts: dict[str, dict[Any, int]], model: nn.Module) -> dict[str, int]:
    """FLOPs per module that ``step`` called directly, from ``get_flop_counts()``.

    ``FlopCounterMode`` names a module it has not seen inside a parent by its class name;
    those names are mapped back to the model's attribute names where that is unambiguous.
    """
    by_class: dict[str, list[str]] = {}
    for name, child in model.named_children():
        by_class.setdefault(type(child).__name__, []).append(name)
    totals: dict[str, int] = {}
    for name, ops in counts.items():
        if "." in name or name == "Global":
            continue
        owners = by_class.get(name, [])
        totals[owners[0] if len(owners) == 1 else name] = sum(ops.values())
    return totals


def count_macs(
    model: nn.Module,
    height: int = 720,
    width: int = 1280,
    *,
    convention: Convention = "paper",
    batch_size: int = 1,
    settle: int = 1,
) -> MacReport:
    """Multiply-accumulates of one steady-state output frame of ``model``.

    The model is copied to the meta device (the original is not touched and may live
    anywhere), put in eval mode, and fed ``(batch_size, C, height, width)`` frames with
    ``step(..., ends="drop")`` until its first output came out, then ``settle`` more
    frames; the next step, which must produce an output, is counted. Its cost is that of
    every later frame of a video.

    Args:
        model: any :class:`~rirn_layers.model.StreamingDeblurModel`.
        height: frame height (720 for the papers' tables).
        width: frame width (1280).
        convention: ``"paper"`` for thop's rules as in ESTRNN's tables (transposed convs
            over output pixels, biases counted) or ``"true"`` for the actual MACs.
        batch_size: frames per step (the cost scales linearly with it).
        settle: extra frames fed after the first output before counting (``>= 0``).

    Returns:
        A :class:`MacReport` with the MACs per output frame and the parameter counts.

    Example:
        >>> from rirn_layers.baselines import build_model
        >>> model = build_model("estrnn", blocks=1, channels=10)
        >>> report = count_macs(model, 64, 64)
        >>> true = count_macs(model, 64, 64, convention="true")
        >>> report.params == sum(p.numel() for p in model.parameters())
        True
        >>> report.macs > true.macs > 0
        True
    """
    model = _check_model(model)
    for name, value, low in (
        ("height", height, 1),
        ("width", width, 1),
        ("batch_size", batch_size, 1),
        ("settle", settle, 0),
    ):
        check_int("count_macs", name, value, low)
    check_choice("count_macs", "convention", convention, ("paper", "true"))
    unique = {id(p): p for p in model.parameters()}.values()
    params = sum(p.numel() for p in unique)
    trainable = sum(p.numel() for p in unique if p.requires_grad)

    meta = _meta_copy(model)
    if convention == "paper":  # the architecture as published, not our folded GSA
        for module in meta.modules():
            if isinstance(module, GlobalSpatioTemporalAttention):
                module.fused = False
    dtype = next((p.dtype for p in meta.parameters() if p.is_floating_point()), None)
    frame = torch.empty(
        batch_size,
        int(meta.in_channels or 3),
        height,
        width,
        device="meta",
        dtype=dtype or torch.get_default_dtype(),
    )
    limit = meta.past + meta.future + 1
    mapping = _paper_mapping() if convention == "paper" else {}
    with torch.no_grad():
        state = None
        fed = 0
        first = None
        while first is None:
            if fed >= limit:
                raise RuntimeError(
                    f"count_macs: {type(model).__name__} gave no output after {fed} frames "
                    f"(past={meta.past}, future={meta.future})"
                )
            first, state = meta.step(frame, state, ends="drop")
            fed += 1
        for _ in range(settle):
            _, state = meta.step(frame, state, ends="drop")
        counter = FlopCounterMode(display=False, custom_mapping=mapping)
        with counter:
            out, _ = meta.step(frame, state, ends="drop")
    if out is None:
        raise RuntimeError(f"count_macs: {type(model).__name__} gave no output in steady state")
    by_module = {
        name: flops // 2
        for name, flops in sorted(
            _top_level(counter.get_flop_counts(), meta).items(), key=lambda kv: -kv[1]
        )
    }
    return MacReport(
        macs=counter.get_total_flops() // 2,
        params=params,
        trainable_params=trainable,
        height=height,
        width=width,
        convention=convention,
        by_module=by_module,
    )
