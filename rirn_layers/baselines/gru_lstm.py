"""Convolutional GRU and LSTM video deblurring baselines of RIRN (tables S2 and S1).

Park, Nah and Lee, "Recurrence-in-Recurrence Networks for Video Deblurring", BMVC 2022,
table 3 and supplementary S2.1, figure S2, tables S1 (LSTM) and S2 (GRU). RIRN builds both
by adding gates to IFI-RNN C1H1 (Nah, Son and Lee, CVPR 2019): the same x4 encoder and
20-channel hidden state at ``h/4``, the same decoder.

GRU (table S2), ``x_t`` the encoder output, ``h_{t-1}`` the hidden state::

    x_t = F_B(B_t)                                   5x5 convs 3->20 /1, ->40 /2, ->60 /2
    z, r = sigmoid(conv5x5(cat(x_t, h_{t-1})))       80 -> 80, split 60 (update), 20 (reset)
    n_t = tanh(conv5x5(cat(x_t, r * h_{t-1})))       80 -> 60 (candidate)
    f_t = (1 - z) * x_t + z * n_t                    60
    h_t = conv3x3(ResBlock(conv3x3(f_t)))            60 -> 20 -> 20 -> 20

LSTM (table S1)::

    x_t = F_B(B_t)                                   as above
    a = conv5x5(cat(x_t, h_{t-1}))                   80 -> 80, split 4 x 20
    c_t = sigmoid(a_forget) * c_{t-1} + sigmoid(a_input) * tanh(a_candidate)
    h_t = sigmoid(a_output) * tanh(c_t)              20;  f_t = x_t (60)

Both models decode ``cat(f_t, h_t)`` (80 channels, RIRN eq. 2; plus ``f~_t`` and ``h~_t``
with ATB/IRM, sec. 3.4) with IFI-RNN's ``F_L``
(:class:`~rirn_layers.baselines._blocks.UpsamplingReconstructor`: two x2 transposed convs
``-> 40 -> 20`` and a 5x5 conv to RGB), and are
:class:`~rirn_layers.RecurrentDeblurNet` s around the
:func:`~rirn_layers.wrap_recurrent_cell`-wrapped cell; IRM tracks ``h_t`` (of the LSTM's
``(h_t, c_t)``), ATB blends ``f_t``.

Choices the tables leave open, and what we picked (figure S2 is not available as text; no
public implementation of RIRN exists):

- GRU update gate. It has 60 channels (the width of ``x_t`` and of the candidate), not the
  20 of ``h_t``, so it cannot blend ``h_{t-1}`` and the candidate as a textbook GRU does.
  We read it as the GRU interpolation in feature space: ``f_t = (1 - z) x_t + z n_t``
  between the frame's own feature and the recurrent candidate, and ``h_t`` computed from
  ``f_t`` by the table's ``conv3x3 / ResBlock / conv3x3`` tail (IFI-RNN's ``F_h``). The
  reset gate (20) multiplies ``h_{t-1}`` before the candidate convolution, as in a GRU.
- LSTM split. Table S1 names the four 20-channel slices "forget (sigmoid), input (tanh),
  output (sigmoid), reset (sigmoid)". A tanh slice is the LSTM's candidate and the
  remaining sigmoid the input gate, so we use: slice 0 forget gate, slice 1 candidate
  (tanh), slice 2 output gate, slice 3 input gate (the table's order of channels). The
  table lists no layer after the gates, so ``f_t`` (60) is the encoder output ``x_t``.
- Activations: a ReLU after each encoder convolution and after each transposed convolution
  of the decoder (the public IFI-RNN ports have none there); none elsewhere besides the
  gates' sigmoid/tanh and the ResBlock's inner ReLU. Every convolution has a bias.
- ``h_0 = c_0 = 0``; no residual connection from the input frame to the output (the
  IFI-RNN ports have none; ``residual=True`` adds one). Frames of any size are padded
  (replicate) to a multiple of 4 and the output cropped back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from rirn_layers._checks import check_bool, check_image, check_int, check_multiple, check_state
from rirn_layers.baselines._blocks import (
    PROBE_SIZE,
    UpsamplingReconstructor,
    check_channels,
    frame_encoder,
    hidden_head,
)
from rirn_layers.layers.common import conv
from rirn_layers.layers.dtb import DynamicTemporalBlend
from rirn_layers.model import RecurrentDeblurNet
from rirn_layers.wrap import wrap_recurrent_cell

__all__ = ["ConvGRUCell", "ConvLSTMCell", "build_gru", "build_lstm"]

LSTMHidden = tuple[torch.Tensor, torch.Tensor]


class _GatedCell(nn.Module):
    """Shared set-up of the two cells: encoder, channel bookkeeping, input checks."""

    scale = 4

    def __init__(
        self,
        owner: str,
        in_channels: int,
        channels: Sequence[int],
        hidden_channels: int,
        factory: dict[str, Any],
    ) -> None:
        super().__init__()
        check_int(owner, "in_channels", in_channels, 1)
        channels = check_channels(owner, "channels", channels)
        check_int(owner, "hidden_channels", hidden_channels, 1)
        self.owner = owner
        self.in_channels = in_channels
        self.channels = channels
        self.feature_channels = channels[-1]
        self.hidden_channels = hidden_channels
        self.encoder = frame_encoder(in_channels, channels, factory)

    def encode(self, frame: torch.Tensor) -> torch.Tensor:
        frame = check_image(self.owner, "frame", frame, self.in_channels)
        check_multiple(self.owner, "frame", frame, self.scale)
        return self.encoder(frame)

    def zeros(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[0], self.hidden_channels, *x.shape[-2:])

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, feature_channels={self.feature_channels}, "
            f"hidden_channels={self.hidden_channels}, scale={self.scale}"
        )


class ConvGRUCell(_GatedCell):
    """The GRU cell of RIRN supplementary table S2 (IFI-RNN C1H1 with GRU gates).

    See the module docstring for the equations and the choices the table leaves open.

    Args:
        in_channels: channels of the input frames.
        channels: widths of the three 5x5 encoder convolutions (strides 1, 2, 2); the last
            is the feature width ``C_f`` (table S2: ``(20, 40, 60)``).
        hidden_channels: channels ``C_h`` of the hidden state (table S2: 20).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - ``frame``: ``(B, in_channels, H, W)`` with ``H, W`` multiples of 4.
        - ``hidden``: ``None`` (first frame: zeros) or ``(B, C_h, H/4, W/4)``.
        - Output: ``f_t`` ``(B, C_f, H/4, W/4)`` and ``h_t`` ``(B, C_h, H/4, W/4)``.

    Example:
        >>> cell = ConvGRUCell()
        >>> f, h = cell(torch.rand(2, 3, 32, 32), None)
        >>> f, h = cell(torch.rand(2, 3, 32, 32), h)
        >>> f.shape, h.shape
        (torch.Size([2, 60, 8, 8]), torch.Size([2, 20, 8, 8]))
    """

    def __init__(
        self,
        in_channels: int = 3,
        *,
        channels: Sequence[int] = (20, 40, 60),
        hidden_channels: int = 20,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        super().__init__("ConvGRUCell", in_channels, channels, hidden_channels, factory)
        f, h = self.feature_channels, hidden_channels
        self.gates = conv(f + h, f + h, 5, **factory)  # update (f) and reset (h) gates
        self.candidate = conv(f + h, f, 5, **factory)
        self.hidden_head = hidden_head(f, h, factory)

    def forward(
        self, frame: torch.Tensor, hidden: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.encode(frame)
        if hidden is None:
            hidden = self.zeros(x)
        else:
            hidden = check_state(self.owner, "hidden", hidden, self.hidden_channels, x)
        gates = torch.sigmoid(self.gates(torch.cat((x, hidden), dim=1)))
        update, reset = gates.split([self.feature_channels, self.hidden_channels], dim=1)
        candidate = torch.tanh(self.candidate(torch.cat((x, reset * hidden), dim=1)))
        feature = torch.lerp(x, candidate, update)  # (1 - z) x + z n
        return feature, self.hidden_head(feature)


class ConvLSTMCell(_GatedCell):
    """The LSTM cell of RIRN supplementary table S1 (IFI-RNN C1H1 with LSTM gates).

    See the module docstring for the equations and how the table's gate slices are read.

    Args:
        in_channels: channels of the input frames.
        channels: widths of the three 5x5 encoder convolutions (strides 1, 2, 2); the last
            is the feature width ``C_f`` (table S1: ``(20, 40, 60)``).
        hidden_channels: channels ``C_h`` of ``h_t`` and of the cell state ``c_t``
            (table S1: 20).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - ``frame``: ``(B, in_channels, H, W)`` with ``H, W`` multiples of 4.
        - ``hidden``: ``None`` (first frame: zeros) or the tuple ``(h, c)``, each
          ``(B, C_h, H/4, W/4)``.
        - Output: ``f_t`` ``(B, C_f, H/4, W/4)`` and ``(h_t, c_t)``.

    Example:
        >>> cell = ConvLSTMCell()
        >>> f, (h, c) = cell(torch.rand(2, 3, 32, 32), None)
        >>> f, (h, c) = cell(torch.rand(2, 3, 32, 32), (h, c))
        >>> f.shape, h.shape, c.shape
        (torch.Size([2, 60, 8, 8]), torch.Size([2, 20, 8, 8]), torch.Size([2, 20, 8, 8]))
    """

    def __init__(
        self,
        in_channels: int = 3,
        *,
        channels: Sequence[int] = (20, 40, 60),
        hidden_channels: int = 20,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        super().__init__("ConvLSTMCell", in_channels, channels, hidden_channels, factory)
        # slices in table S1's order: forget, candidate (tanh), output, input
        self.gates = conv(
            self.feature_channels + hidden_channels, 4 * hidden_channels, 5, **factory
        )

    def forward(
        self, frame: torch.Tensor, hidden: LSTMHidden | None = None
    ) -> tuple[torch.Tensor, LSTMHidden]:
        x = self.encode(frame)
        if hidden is None:
            h = c = self.zeros(x)
        else:
            if not isinstance(hidden, (tuple, list)) or len(hidden) != 2:
                raise TypeError(
                    "ConvLSTMCell: `hidden` must be None or the tuple (h, c) returned by the "
                    f"previous call, got {type(hidden).__name__}"
                )
            h = check_state(self.owner, "hidden[0]", hidden[0], self.hidden_channels, x)
            c = check_state(self.owner, "hidden[1]", hidden[1], self.hidden_channels, x)
        forget, candidate, output, inp = self.gates(torch.cat((x, h), dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(forget) * c + torch.sigmoid(inp) * torch.tanh(candidate)
        h = torch.sigmoid(output) * torch.tanh(c)
        return x, (h, c)


def _build(
    owner: str,
    cell: _GatedCell,
    irm: object,
    atb: object,
    dtb: object,
    residual: object,
    device: torch.device | str | None,
    dtype: torch.dtype | None,
) -> RecurrentDeblurNet:
    check_bool(owner, "irm", irm)
    check_bool(owner, "atb", atb)
    check_bool(owner, "dtb", dtb)
    check_bool(owner, "residual", residual)
    if atb and dtb:
        raise ValueError(f"{owner}: `atb` and `dtb` fill the same slot; pass at most one")
    blend: bool | nn.Module = bool(atb)
    if dtb:  # RIRN's fig. 4 / 6 comparison: the sum-to-one blend in ATB's place
        blend = DynamicTemporalBlend(cell.feature_channels, device=device, dtype=dtype)
    wrapped = wrap_recurrent_cell(cell, irm=bool(irm), atb=blend, probe_size=PROBE_SIZE)
    reconstructor = UpsamplingReconstructor(
        wrapped.out_channels,
        cell.in_channels,
        widths=(cell.channels[1], cell.channels[0]),
        residual=bool(residual),
        device=device,
        dtype=dtype,
    )
    return RecurrentDeblurNet(wrapped, reconstructor)


def build_gru(
    *,
    irm: bool = False,
    atb: bool = False,
    dtb: bool = False,
    channels: Sequence[int] = (20, 40, 60),
    hidden_channels: int = 20,
    residual: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> RecurrentDeblurNet:
    """Build RIRN's GRU baseline (supplementary table S2), bare or with IRM/ATB.

    Args:
        irm: RIRN's inner recurrence over ``h_t``.
        atb: RIRN's adaptive temporal blend over ``f_t``.
        dtb: OVD's sum-to-one :class:`~rirn_layers.DynamicTemporalBlend` over ``f_t`` in
            ATB's place (the comparison of RIRN figs. 4 and 6); exclusive with ``atb``.
        channels: encoder widths ``(20, 40, 60)``; the decoder mirrors the first two.
        hidden_channels: channels of ``h_t`` (20).
        residual: add the input frame to the output (default no, as IFI-RNN's ports).
        device: device of the parameters (``"meta"`` to count MACs without memory).
        dtype: dtype of the parameters.

    Raises:
        ValueError: a value out of range or of the wrong type, naming the argument.

    Example:
        >>> model = build_gru(irm=True, atb=True)
        >>> restored, state = model(torch.rand(1, 3, 3, 30, 45))
        >>> restored.shape
        torch.Size([1, 3, 3, 30, 45])
    """
    factory: dict[str, Any] = {"device": device, "dtype": dtype}
    cell = ConvGRUCell(channels=channels, hidden_channels=hidden_channels, **factory)
    return _build("build_gru", cell, irm, atb, dtb, residual, device, dtype)


def build_lstm(
    *,
    irm: bool = False,
    atb: bool = False,
    dtb: bool = False,
    channels: Sequence[int] = (20, 40, 60),
    hidden_channels: int = 20,
    residual: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> RecurrentDeblurNet:
    """Build RIRN's LSTM baseline (supplementary table S1), bare or with IRM/ATB.

    IRM tracks ``h_t`` of the hidden state ``(h_t, c_t)``.

    Args:
        irm: RIRN's inner recurrence over ``h_t``.
        atb: RIRN's adaptive temporal blend over ``f_t`` (the encoder output).
        dtb: OVD's sum-to-one :class:`~rirn_layers.DynamicTemporalBlend` over ``f_t`` in
            ATB's place (the comparison of RIRN figs. 4 and 6); exclusive with ``atb``.
        channels: encoder widths ``(20, 40, 60)``; the decoder mirrors the first two.
        hidden_channels: channels of ``h_t`` and ``c_t`` (20).
        residual: add the input frame to the output (default no, as IFI-RNN's ports).
        device: device of the parameters (``"meta"`` to count MACs without memory).
        dtype: dtype of the parameters.

    Raises:
        ValueError: a value out of range or of the wrong type, naming the argument.

    Example:
        >>> model = build_lstm(irm=True)
        >>> restored, state = model(torch.rand(1, 3, 3, 32, 32))
        >>> restored.shape, state.inner.hidden[1].shape   # the cell state c_t at h/4
        (torch.Size([1, 3, 3, 32, 32]), torch.Size([1, 20, 8, 8]))
    """
    factory: dict[str, Any] = {"device": device, "dtype": dtype}
    cell = ConvLSTMCell(channels=channels, hidden_channels=hidden_channels, **factory)
    return _build("build_lstm", cell, irm, atb, dtb, residual, device, dtype)
