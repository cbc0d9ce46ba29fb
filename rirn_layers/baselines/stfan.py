"""STFAN: the spatio-temporal filter adaptive network, bare or with IRM/ATB.

Zhou, Zhang, Pan, Xie, Zuo and Ren, "Spatio-Temporal Filter Adaptive Network for Video
Deblurring" (STFAN), ICCV 2019, sec. 3 (fig. 2), as used as a baseline in RIRN (Park, Nah
and Lee, BMVC 2022) table 3 ("STFAN [30]" and "STFAN + RIRN").

One step takes the blurry frame ``B_t``, the previous blurry frame ``B_{t-1}``, the
previous *restored* frame ``L_{t-1}`` and the previous fused feature ``F_{t-1}``, and
returns ``L_t`` and ``F_t`` (all convolutions 3x3 and followed by LeakyReLU(0.1) unless
said otherwise; ResBlock = ``x + conv(lrelu(conv(x)))``; ``c1, c2, c3 = 32, 64, 128``)::

    encoder (B_t):           conv(3 -> c1), 2 ResBlocks; conv stride 2 (c1 -> c2),
                             2 ResBlocks; conv stride 2 (c2 -> c3), 2 ResBlocks  -> E_t
    filter network (cat(B_t, B_{t-1}, L_{t-1}), 9 ch): the same three stages     -> K_t
    alignment filters:       conv(c3 -> c3), 2 ResBlocks, conv1x1(c3 -> 25 c3)   -> A_t
    deblurring filters:      D_t from cat(K_t, conv1x1(A_t, 25 c3 -> c3)) by
                             conv(2 c3 -> c3), 2 ResBlocks, conv1x1(c3 -> 25 c3)
    deblurred feature:       f_t = FAC(E_t, D_t)                          (c3, H/4)
    aligned feature:         h_t = FAC(conv(F_{t-1}, 2 c3 -> c3), A_t)    (c3, H/4)
    fused feature:           F_t = cat(f_t, h_t)                          (fed back)
    decoder:                 deconv4x4 stride 2 (2 c3 -> c2), 2 ResBlocks;
                             deconv4x4 stride 2 (c2 -> c1), 2 ResBlocks;
                             conv(c1 -> 3)                                -> + B_t = L_t

FAC is the filter adaptive convolution (:mod:`rirn_layers.baselines.fac`, 5x5 filters,
one per pixel and channel, replication padding), applied at 1/4 resolution on 128 channels
(3200 filter channels). Default parameters: 5,372,547, the official model's count.

How it maps onto the RIRN cell contract. STFAN feeds back its previous *output* frame,
which the decoder computes after the recurrent cell, so the cell cannot own it. The model
(:class:`STFAN`, a causal :class:`~rirn_layers.model.StreamingDeblurModel`) keeps
``B_{t-1}`` and ``L_{t-1}`` in its own state and feeds the cell the stacked input
``cat(B_t, B_{t-1}, L_{t-1})`` (9 channels), as STRCNN's model feeds its cell a stacked
window. :class:`STFANCell` is everything up to the two FAC outputs, with
``feature = f_t`` (the deblurred feature) and ``hidden = (h_t, f_t)`` (together ``F_t``,
what STFAN feeds back). The cell is wrapped by :func:`~rirn_layers.wrap_recurrent_cell`,
so RIRN's add-ons attach as in every other baseline: IRM over the aligned feature ``h_t``
(the recurrent state: it carries the previous frame's features, aligned to frame ``t``),
ATB over the deblurred feature ``f_t``. The wrapper outputs
``cat(f_t, h_t, f~_t, h~_t)`` (those present); bare, that is ``cat(f_t, h_t) = F_t``,
exactly STFAN's decoder input, so RIRN's reconstructor formula (sec. 3.4) and STFAN
coincide and the add-ons only widen the decoder's first layer (256 -> 384 or 512 input
channels). The cell's own recurrence is unchanged by the add-ons: it still feeds back
``F_t = cat(f_t, h_t)``.

Choices the paper leaves open, and what we picked (following the official code,
sczhou/STFAN ``models/DeblurNet.py``, ``models/submodules.py``, ``core/test.py``):

- LeakyReLU(0.1) after every convolution, also on the two predicted filter volumes, on the
  compression conv, on the feedback conv and on the decoder's last conv (so the residual
  added to ``B_t`` is ``lrelu(conv(.))``); none after the second conv of a ResBlock.
- First frame: ``B_{-1} = L_{-1} = B_0`` and ``F_{-1} = cat(E_0, E_0)`` (the current
  encoder feature, twice).
- Feedback: ``L_{t-1}`` is the previous output clamped to ``[0, 1]`` (``clamp_feedback``;
  frames are RGB in ``[0, 1]``). The official training also *detaches* ``L_{t-1}`` and
  ``F_{t-1}`` every frame (back-propagation through one step only); here gradients flow
  through the whole clip unless you call :func:`~rirn_layers.detach_state` on the state
  after every :meth:`~rirn_layers.model.StreamingDeblurModel.step` to train that way.
- Weights: Xavier-uniform, biases zero (the official initialisation), for STFAN's own
  layers; IRM and ATB keep their default initialisation.
- Sizes: ``H`` and ``W`` are padded (replicate) to multiples of 4 and the output cropped
  back (the base class); the official code needs multiples of 4.
- Cost: :class:`torch.utils.flop_counter.FlopCounterMode` counts the convolutions but not
  the two FACs (elementwise ops); add ``2 * fac_macs(...)`` for them (0.18 GMACs each at
  720p, :func:`~rirn_layers.baselines.fac.fac_macs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from rirn_layers._checks import (
    check_bool,
    check_float,
    check_image,
    check_int,
    check_ints,
    shape_str,
)
from rirn_layers.baselines._blocks import PROBE_SIZE
from rirn_layers.baselines.fac import FilterAdaptiveConv
from rirn_layers.contracts import FrameReconstructor
from rirn_layers.model import StreamingDeblurModel, check_reconstructor
from rirn_layers.wrap import RecurrentCellWrapper, RIRNState, wrap_recurrent_cell

__all__ = ["STFAN", "STFANCell", "STFANDecoder", "STFANState", "build_stfan"]

Hidden = tuple[torch.Tensor, torch.Tensor]


# -- validation ----------------------------------------------------------------------------
def _check_channels(owner: str, value: object, count: int = 3) -> tuple[int, ...]:
    what = "widths at full, 1/2 and 1/4 resolution, STFAN: (32, 64, 128)"
    if count == 2:
        what = "widths c1, c2 at full and 1/2 resolution, STFAN: (32, 64)"
    return check_ints(owner, "channels", value, count, what=what)


def _check_kernel(owner: str, value: object) -> int:
    if check_int(owner, "fac_kernel_size", value, 1) % 2 == 0:
        raise ValueError(f"{owner}: `fac_kernel_size` must be an odd int >= 1, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def _check_slope(owner: str, value: object) -> float:
    slope = check_float(owner, "negative_slope", value, 0.0)
    if slope >= 1.0:
        raise ValueError(f"{owner}: `negative_slope` must be a number in [0, 1), got {value!r}")
    return slope


# -- building blocks -----------------------------------------------------------------------
def _conv(
    in_channels: int, out_channels: int, kernel_size: int, slope: float, factory: dict,
    stride: int = 1,
) -> nn.Sequential:
    """Convolution ("same" padding) followed by LeakyReLU, STFAN's basic layer."""
    return nn.Sequential(
        nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride,
            padding=kernel_size // 2, **factory,
        ),
        nn.LeakyReLU(slope, inplace=True),
    )


def _deconv(in_channels: int, out_channels: int, slope: float, factory: dict) -> nn.Sequential:
    """x2 transposed convolution (4x4, stride 2) followed by LeakyReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, **factory),
        nn.LeakyReLU(slope, inplace=True),
    )


class _ResBlock(nn.Module):
    """``x + conv3x3(lrelu(conv3x3(x)))`` (no activation after the sum)."""

    def __init__(self, channels: int, slope: float, factory: dict) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, **factory),
            nn.LeakyReLU(slope, inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, **factory),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _stage(
    in_channels: int, out_channels: int, stride: int, blocks: int, slope: float, factory: dict,
) -> nn.Sequential:
    return nn.Sequential(
        _conv(in_channels, out_channels, 3, slope, factory, stride=stride),
        *(_ResBlock(out_channels, slope, factory) for _ in range(blocks)),
    )


def _encoder(
    in_channels: int, channels: tuple[int, int, int], blocks: int, slope: float, factory: dict,
) -> nn.Sequential:
    """Three stages at full, 1/2 and 1/4 resolution (STFAN's encoders)."""
    c1, c2, c3 = channels
    return nn.Sequential(
        _stage(in_channels, c1, 1, blocks, slope, factory),
        _stage(c1, c2, 2, blocks, slope, factory),
        _stage(c2, c3, 2, blocks, slope, factory),
    )


def _filter_head(
    in_channels: int, channels: int, k: int, blocks: int, slope: float, factory: dict,
) -> nn.Sequential:
    """conv3x3, ResBlocks, conv1x1 to ``channels * k * k`` filters (LeakyReLU on them too)."""
    return nn.Sequential(
        _stage(in_channels, channels, 1, blocks, slope, factory),
        _conv(channels, channels * k * k, 1, slope, factory),
    )


def _init_xavier(module: nn.Module) -> None:
    """The official initialisation: Xavier-uniform weights, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


# -- the cell ------------------------------------------------------------------------------
class STFANCell(nn.Module):
    """STFAN's encoder, filter-generating network and two FACs as a recurrent cell.

    Args:
        channels: widths ``(c1, c2, c3)`` at full, 1/2 and 1/4 resolution (STFAN:
            ``(32, 64, 128)``); the FACs work on ``c3`` channels.
        fac_kernel_size: size ``k`` of the predicted per-pixel filters (STFAN: 5).
        num_blocks: residual blocks per stage, in the encoders and the filter heads (2).
        negative_slope: of every LeakyReLU (0.1).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Attributes:
        in_channels: 9, the stacked ``cat(B_t, B_{t-1}, L_{t-1})``.
        feature_channels: ``c3``, of the deblurred feature ``f_t``.
        hidden_channels: ``c3``, of the aligned feature ``h_t`` (``hidden[0]``).
        scale: 4.

    Shape:
        - ``stacked``: ``(B, 9, H, W)``, ``cat(B_t, B_{t-1}, L_{t-1})``, ``H`` and ``W``
          multiples of 4.
        - ``hidden``: ``None`` at the first frame, else the ``(h, f)`` the previous call
          returned.
        - Output: ``f_t`` ``(B, c3, H/4, W/4)`` and ``hidden = (h_t, f_t)``, both
          ``(B, c3, H/4, W/4)``.

    Example:
        >>> cell = STFANCell(channels=(4, 8, 8), fac_kernel_size=3, num_blocks=1)
        >>> stacked = torch.rand(2, 9, 16, 16)
        >>> feature, hidden = cell(stacked, None)
        >>> feature, hidden = cell(stacked, hidden)
        >>> feature.shape, hidden[0].shape
        (torch.Size([2, 8, 4, 4]), torch.Size([2, 8, 4, 4]))
    """

    in_channels = 9
    scale = 4

    def __init__(
        self,
        *,
        channels: Sequence[int] = (32, 64, 128),
        fac_kernel_size: int = 5,
        num_blocks: int = 2,
        negative_slope: float = 0.1,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        chans = _check_channels("STFANCell", channels)
        k = _check_kernel("STFANCell", fac_kernel_size)
        blocks = check_int("STFANCell", "num_blocks", num_blocks, 0)
        slope = _check_slope("STFANCell", negative_slope)
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        c3 = chans[2]
        self.feature_channels = c3
        self.hidden_channels = c3
        self.fac_kernel_size = k
        # deblurring branch: encoder of B_t
        self.encoder = _encoder(3, chans, blocks, slope, factory)
        # filter-generating network over cat(B_t, B_{t-1}, L_{t-1})
        self.filter_encoder = _encoder(9, chans, blocks, slope, factory)
        self.align_filters = _filter_head(c3, c3, k, blocks, slope, factory)
        self.compress = _conv(c3 * k * k, c3, 1, slope, factory)
        self.deblur_filters = _filter_head(2 * c3, c3, k, blocks, slope, factory)
        # previous fused feature F_{t-1} (2 c3) -> the features FAC aligns
        self.feedback = _conv(2 * c3, c3, 3, slope, factory)
        self.fac = FilterAdaptiveConv(k)
        _init_xavier(self)

    def _previous(self, hidden: object, encoded: torch.Tensor) -> torch.Tensor:
        if hidden is None:
            return torch.cat((encoded, encoded), dim=1)
        if not isinstance(hidden, (tuple, list)) or len(hidden) != 2:
            raise TypeError(
                "STFANCell: `hidden` must be None or the (h, f) tuple returned by the "
                f"previous call, got {type(hidden).__name__}"
            )
        h, f = hidden
        for name, value in (("hidden[0]", h), ("hidden[1]", f)):
            value = check_image("STFANCell", name, value, self.hidden_channels)
            if value.shape != encoded.shape:
                raise ValueError(
                    f"STFANCell: `{name}` must have the shape of the encoded frame "
                    f"{shape_str(encoded.shape)}, got {shape_str(value.shape)}"
                )
        return torch.cat((f, h), dim=1)  # F_{t-1} = cat(f_{t-1}, h_{t-1}), as the decoder

    def forward(
        self, stacked: torch.Tensor, hidden: Hidden | None = None
    ) -> tuple[torch.Tensor, Hidden]:
        stacked = check_image("STFANCell", "stacked", stacked, self.in_channels)
        if stacked.shape[-2] % 4 or stacked.shape[-1] % 4:
            raise ValueError(
                f"STFANCell: `stacked` needs H and W multiples of 4, got "
                f"{shape_str(stacked.shape)}; pad frames first (rirn_layers.pad_to_multiple)"
            )
        encoded = self.encoder(stacked[:, :3])
        previous = self._previous(hidden, encoded)
        context = self.filter_encoder(stacked)
        align = self.align_filters(context)
        deblur = self.deblur_filters(torch.cat((context, self.compress(align)), dim=1))
        feature = self.fac(encoded, deblur)
        aligned = self.fac(self.feedback(previous), align)
        return feature, (aligned, feature)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, feature_channels={self.feature_channels}, "
            f"hidden_channels={self.hidden_channels}, scale={self.scale}"
        )


# -- the decoder ---------------------------------------------------------------------------
class STFANDecoder(nn.Module):
    """STFAN's reconstruction network: two x2 deconvolution stages, a conv, ``+ B_t``.

    ``lrelu(deconv4x4/2(in -> c2))``, ``num_blocks`` STFAN ResBlocks, ``lrelu(deconv4x4/2(c2
    -> c1))``, ``num_blocks`` ResBlocks, ``lrelu(conv3x3(c1 -> out))``, ``+ frame``. A
    :class:`~rirn_layers.contracts.FrameReconstructor` (``in_channels``, ``out_channels``,
    ``scale = 4``, ``forward(features, frame)``) that always reads ``frame``.

    Why not Reconstructor: this is STFAN's own decoder, not the shared IFI-RNN-style one.
    It has residual blocks *after* each x2 step (the core has them only before upsampling),
    STFAN's LeakyReLU ResBlocks, a LeakyReLU after every layer including the output conv
    (the residual added to ``B_t`` is ``lrelu(conv(.))``), each conv nested with its
    activation (``body.0.0.weight``, the checkpoint keys) and Xavier-uniform initialisation
    (sczhou/STFAN ``models/DeblurNet.py``). Expressing that with the core
    :class:`~rirn_layers.Reconstructor` would need options used by no other model and
    would rename every parameter.

    Args:
        in_channels: channels of the decoded features (bare STFAN: ``2 * c3 = 256``).
        channels: widths ``(c1, c2)`` at full and 1/2 resolution: the first x2
            deconvolution outputs ``c2``, the second ``c1`` (STFAN: ``(32, 64)``).
        num_blocks: residual blocks after each deconvolution (2).
        negative_slope: of every LeakyReLU (0.1), also after the last conv.
        out_channels: channels of the output frame (3).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - ``features``: ``(B, in_channels, h, w)``.
        - ``frame``: ``(B, out_channels, 4h, 4w)``, the blurry frame, added to the output.
        - Output: ``(B, out_channels, 4h, 4w)``.

    Example:
        >>> decoder = STFANDecoder(16, channels=(4, 8), num_blocks=1)
        >>> frame = torch.rand(1, 3, 16, 24)
        >>> decoder(torch.randn(1, 16, 4, 6), frame).shape
        torch.Size([1, 3, 16, 24])
    """

    scale = 4

    def __init__(
        self,
        in_channels: int,
        *,
        channels: Sequence[int] = (32, 64),
        num_blocks: int = 2,
        negative_slope: float = 0.1,
        out_channels: int = 3,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_int("STFANDecoder", "in_channels", in_channels, 1)
        check_int("STFANDecoder", "out_channels", out_channels, 1)
        c1, c2 = _check_channels("STFANDecoder", channels, 2)
        blocks = check_int("STFANDecoder", "num_blocks", num_blocks, 0)
        slope = _check_slope("STFANDecoder", negative_slope)
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.body = nn.Sequential(
            _deconv(in_channels, c2, slope, factory),
            *(_ResBlock(c2, slope, factory) for _ in range(blocks)),
            _deconv(c2, c1, slope, factory),
            *(_ResBlock(c1, slope, factory) for _ in range(blocks)),
            _conv(c1, out_channels, 3, slope, factory),
        )
        _init_xavier(self)

    def forward(self, features: torch.Tensor, frame: torch.Tensor | None = None) -> torch.Tensor:
        features = check_image("STFANDecoder", "features", features, self.in_channels)
        if frame is None:
            raise ValueError("STFANDecoder: `frame` is required (STFAN adds its output to B_t)")
        frame = check_image("STFANDecoder", "frame", frame, self.out_channels)
        out = self.body(features)
        if frame.shape != out.shape:
            raise ValueError(
                f"STFANDecoder: expected `frame` of shape {shape_str(out.shape)} (features "
                f"{shape_str(features.shape)} x 4), got {shape_str(frame.shape)}"
            )
        return out + frame


# -- the model -----------------------------------------------------------------------------
class STFANState(NamedTuple):
    """Inner state of :class:`STFAN` between frames.

    Attributes:
        previous_frame: ``B_{t-1}``, the last padded input frame ``(B, 3, H, W)``.
        previous_output: ``L_{t-1}``, the last output as fed back (clamped to ``[0, 1]``
            with ``clamp_feedback``), ``(B, 3, H, W)``.
        rirn: the wrapped cell's :class:`~rirn_layers.RIRNState` (``hidden = (h, f)``).
    """

    previous_frame: torch.Tensor
    previous_output: torch.Tensor
    rirn: RIRNState


class STFAN(StreamingDeblurModel):
    """STFAN (ICCV 2019): a causal model fed ``B_t``, ``B_{t-1}``, ``L_{t-1}`` and ``F_{t-1}``.

    Built by :func:`build_stfan`; see the module docstring for the architecture and for
    how IRM and ATB attach. Every frame gets its output as it comes in
    (``past = future = 0``). Declares ``in_channels = out_channels = 3``, ``scale`` and
    ``state_type`` (:class:`STFANState`); see
    :class:`~rirn_layers.model.StreamingDeblurModel` for ``step``/``flush``/``forward``.

    Args:
        wrapped: a :class:`STFANCell` wrapped by :func:`~rirn_layers.wrap_recurrent_cell`.
        reconstructor: a :class:`STFANDecoder` (or any
            :class:`~rirn_layers.contracts.FrameReconstructor`) reading
            ``wrapped.out_channels`` channels and returning 3.
        clamp_feedback: clamp ``L_{t-1}`` to ``[0, 1]`` before feeding it back (STFAN).

    Shape:
        - ``forward(frames)``: ``(B, T, 3, H, W)`` -> ``(B, T, 3, H, W)``.
        - ``step(frame, state)``: ``(B, 3, H, W)`` -> ``(B, 3, H, W)``.

    Example:
        >>> model = build_stfan(irm=True, atb=True, channels=(4, 8, 8), fac_kernel_size=3,
        ...                     num_blocks=1)
        >>> restored, state = model(torch.rand(1, 3, 3, 18, 21))
        >>> restored.shape
        torch.Size([1, 3, 3, 18, 21])
    """

    past = 0
    future = 0
    state_type = STFANState

    def __init__(
        self,
        wrapped: RecurrentCellWrapper,
        reconstructor: FrameReconstructor,
        *,
        clamp_feedback: bool = True,
    ) -> None:
        super().__init__()
        check_bool("STFAN", "clamp_feedback", clamp_feedback)
        if wrapped.in_channels != STFANCell.in_channels:
            raise ValueError(
                f"STFAN: `wrapped` must take the 9-channel cat(B_t, B_(t-1), L_(t-1)), "
                f"got in_channels={wrapped.in_channels}"
            )
        check_reconstructor("STFAN", reconstructor, wrapped.out_channels, wrapped)
        if reconstructor.out_channels != 3:
            raise ValueError(
                f"STFAN: `reconstructor` must output 3 channels (the frame it feeds back), "
                f"got {reconstructor.out_channels}"
            )
        self.wrapped = wrapped
        self.reconstructor = reconstructor
        self.in_channels = 3
        self.out_channels = int(reconstructor.out_channels)
        self.scale = wrapped.pad_multiple
        self.clamp_feedback = clamp_feedback

    def advance(
        self, frame: torch.Tensor, state: STFANState | None
    ) -> tuple[torch.Tensor, STFANState]:
        if state is None:
            previous_frame, previous_output, rirn = frame, frame, None
        else:
            previous_frame, previous_output, rirn = state
        stacked = torch.cat((frame, previous_frame, previous_output), dim=1)
        features, rirn = self.wrapped(stacked, rirn)
        out = self.reconstructor(features.cat(), frame)
        feedback = out.clamp(0.0, 1.0) if self.clamp_feedback else out
        return out, STFANState(frame, feedback, rirn)


def build_stfan(
    *,
    irm: bool = False,
    atb: bool = False,
    channels: Sequence[int] = (32, 64, 128),
    fac_kernel_size: int = 5,
    num_blocks: int = 2,
    negative_slope: float = 0.1,
    clamp_feedback: bool = True,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> STFAN:
    """Build STFAN (ICCV 2019) with the paper's defaults, bare or with IRM/ATB.

    Args:
        irm: RIRN's inner recurrence over the aligned feature ``h_t`` (``c3`` channels).
        atb: RIRN's adaptive temporal blend over the deblurred feature ``f_t``.
        channels: widths ``(c1, c2, c3)`` at full, 1/2 and 1/4 resolution
            (``(32, 64, 128)``).
        fac_kernel_size: size of the predicted per-pixel filters, odd (5).
        num_blocks: residual blocks per stage, everywhere (2).
        negative_slope: of every LeakyReLU, in ``[0, 1)`` (0.1).
        clamp_feedback: clamp the fed-back output ``L_{t-1}`` to ``[0, 1]`` (True).
        device: device of the parameters (``"meta"`` to count MACs without memory).
        dtype: dtype of the parameters.

    Raises:
        ValueError: a value out of range or of the wrong type, naming the argument.

    Example:
        >>> model = build_stfan()
        >>> sum(p.numel() for p in model.parameters())  # the official model's count
        5372547
    """
    check_bool("build_stfan", "irm", irm)
    check_bool("build_stfan", "atb", atb)
    chans = _check_channels("build_stfan", channels)
    _check_kernel("build_stfan", fac_kernel_size)
    check_int("build_stfan", "num_blocks", num_blocks, 0)
    _check_slope("build_stfan", negative_slope)
    check_bool("build_stfan", "clamp_feedback", clamp_feedback)
    factory: dict[str, Any] = {"device": device, "dtype": dtype}
    cell = STFANCell(
        channels=chans,
        fac_kernel_size=fac_kernel_size,
        num_blocks=num_blocks,
        negative_slope=negative_slope,
        **factory,
    )
    wrapped = wrap_recurrent_cell(cell, irm=irm, atb=atb, probe_size=PROBE_SIZE)
    decoder = STFANDecoder(
        wrapped.out_channels,
        channels=chans[:2],
        num_blocks=num_blocks,
        negative_slope=negative_slope,
        **factory,
    )
    return STFAN(wrapped, decoder, clamp_feedback=clamp_feedback)
