"""STRCNN: the spatio-temporal recurrent network of OVD, with or without DTB.

Kim, Lee, Schölkopf and Hirsch, "Online Video Deblurring via Dynamic Temporal Blending
Network" (OVD), ICCV 2017, sec. 3 (the spatio-temporal recurrent network, STRCNN, and the
dynamic temporal blending layer, DTB), as used as a baseline in RIRN (Park, Nah and Lee,
BMVC 2022) table 3 and supplementary S2.1 / table S6.

One step takes the ``2m + 1 = 5`` blurry frames ``B_{n-2} .. B_{n+2}`` stacked on the
channel axis and the decoder feature ``F_{n-1}`` of the previous step, and returns the
latent frame ``L_n`` and the new ``F_n``::

    encoder:  conv5x5(15 -> 64), ReLU, conv3x3 stride 2 (64 -> 32), ReLU
              concat with F_{n-1} (32)                               -> 64 @ H/2
              4 x ResBlock(64)                                       -> h_n
    DTB:      h~_n = DTB(h_n, h~_{n-1})   (dtb=True; dtb=False: h~_n = h_n)
    decoder:  4 x ResBlock(64)                                       -> d_n
              F_n = ReLU(conv3x3(d_n, 64 -> 32))                     (fed back)
              L_n = conv3x3(ReLU(deconv4x4 stride 2(d_n, 64 -> 64)), 64 -> 3)

ResBlock = ``relu(x + BN(conv3x3(relu(BN(conv3x3(x))))))``.

How it maps onto the RIRN cell contract. :class:`STRCNNCell` is everything up to ``d_n``
and ``F_n``: ``feature, hidden = cell(window, hidden)`` with the stacked window as input
(``in_channels = 15``), ``feature = d_n`` (64 ch, H/2) and ``hidden = (F_n, h~_n)``
(``(F_n,)`` without DTB); IRM tracks ``hidden[0] = F_n`` (32 ch, H/2), the state that OVD
feeds back. :class:`STRCNNReconstructor` is OVD's output head (deconv + conv), the core
:class:`~rirn_layers.Reconstructor` with one x2 step and a 3x3 output conv.
:class:`STRCNN` is a look-ahead :class:`~rirn_layers.model.StreamingDeblurModel`
(``past = future = 2``) whose :meth:`STRCNN.advance` keeps the last five frames and runs
the :func:`~rirn_layers.wrap_recurrent_cell`-wrapped cell once the window is full.

Choices the papers leave open, and what we picked:

- Layer sizes. The OVD text reachable here does not give every width; they follow the
  public re-implementation by the ESTRNN authors (zzh-tech/ESTRNN ``model/STRCNN.py``),
  which matches the description above: 64 channels, a 32-channel feedback ``F_n``, 4
  ResBlocks before and 4 after DTB, x2 down/upsampling, no residual connection from the
  input frame to the output, no activation on the output. All are ``build_strcnn`` options.
  Check: counted ESTRNN's way (thop: transposed convs over output pixels, biases included)
  the default model costs about 276.1 GMACs per 720p frame, ESTRNN table 1 lists 276.20
  for STRCNN; ``FlopCounterMode`` (transposed convs over input pixels) gives 230.4.
- ResBlock. BatchNorm after each 3x3 conv, ReLU between and after the sum (the original
  ResNet block), as in that port. ``batch_norm=False`` drops the BatchNorm layers.
- DTB. The core :class:`~rirn_layers.DynamicTemporalBlend` (5x5 weight conv over
  ``concat(h_n, h~_{n-1})``, ``w = clip(|tanh(.)| + beta, 0, 1)``, learned ``beta``). Two
  artefacts of the port are *not* reproduced: its weight conv is unpadded and the weight
  map zero-padded afterwards (so the 2-pixel border never takes the current feature), and
  its ``beta`` is a plain tensor outside the module's parameters (never trained). Here the
  conv is zero-padded ("same") and ``beta`` is a parameter. At the first step the port
  blends with a zero ``h~_0``; the core layer takes ``h~_{-1} = h_0`` (identity blend).
- First step. ``F_{-1}`` is zeros (as in the port). At the ends of a video the base class
  either edge-pads the clip (``ends="pad"``, every frame gets an output) or drops the
  first and last two frames (``ends="drop"``, the papers' protocol).
- Frames are stacked oldest first, each RGB in ``[0, 1]``: channels ``3k .. 3k + 2`` of the
  window are frame ``n - 2 + k``.

RIRN's IRM and ATB (``irm=True`` / ``atb=True``) go through
:func:`~rirn_layers.wrap_recurrent_cell`: IRM over ``F_n``, ATB over the feature ``d_n``.
RIRN writes the reconstructor input as ``cat(f_t, h_t, f~_t, h~_t)`` (sec. 3.4); OVD's
decoder reads only its own feature ``d_n``, from which ``F_n`` is computed. By default
(``decode_hidden=False``) the head reads ``cat(d_n, f~_t, h~_t)`` (those present), so the
bare model is exactly OVD's network and each add-on adds only its own output;
``decode_hidden=True`` also feeds ``F_n``, RIRN's formula to the letter.

DTB and ATB together. RIRN (S2.1) removed DTB from STRCNN to compare it with ATB, so its
"STRCNN + ATB / + IRM / + IRM + ATB" rows correspond to ``dtb=False`` (its bare "STRCNN"
row, 28.72 / 30.23 dB on GOPRO / REDS, repeats the with-DTB numbers of ESTRNN's table).
``atb=True`` with ``dtb=True`` is *allowed*: DTB blends the encoder output ``h_n`` inside
the cell, ATB the decoder feature ``d_n`` outside it, so the two act on different tensors
and compose without conflict (an ablation RIRN did not run). To reproduce RIRN's rows,
pass ``dtb=False`` with ``irm``/``atb``.

BatchNorm and streaming. :meth:`~rirn_layers.model.StreamingDeblurModel.forward` runs
:meth:`~rirn_layers.model.StreamingDeblurModel.step` frame by frame, so streaming and
whole-clip calls are identical in both modes. In eval mode BatchNorm uses its running
statistics and every output is a function of its own window and the carried state only.
In train mode the statistics are those of each call (one window: over the batch and the
``H/2 x W/2`` pixels of that step), the running statistics are updated once per cell call
(edge-padded frames included), and a step needs more than one value per channel
(``B * H/2 * W/2 > 1``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from rirn_layers._checks import check_bool, check_image, check_int, shape_str
from rirn_layers.baselines._blocks import PROBE_SIZE, decoded_parts
from rirn_layers.contracts import FrameReconstructor
from rirn_layers.layers.common import conv
from rirn_layers.layers.dtb import DynamicTemporalBlend
from rirn_layers.model import StreamingDeblurModel, check_reconstructor
from rirn_layers.reconstructor import Reconstructor
from rirn_layers.wrap import RecurrentCellWrapper, RIRNState, wrap_recurrent_cell

__all__ = ["STRCNN", "STRCNNCell", "STRCNNReconstructor", "STRCNNState", "build_strcnn"]

Hidden = tuple[torch.Tensor, ...]


class _ResBlock(nn.Module):
    """``relu(x + bn(conv(relu(bn(conv(x))))))``, 3x3 convs (BatchNorm optional)."""

    def __init__(self, channels: int, batch_norm: bool, factory: dict[str, Any]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(2):
            layers.append(conv(channels, channels, 3, **factory))
            if batch_norm:
                layers.append(nn.BatchNorm2d(channels, **factory))
            if i == 0:
                layers.append(nn.ReLU(inplace=True))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class STRCNNCell(nn.Module):
    """OVD's encoder, DTB and decoder body as a recurrent cell on a stacked frame window.

    Args:
        in_channels: channels of the stacked window (5 RGB frames: 15).
        channels: width of the residual stages (OVD: 64).
        hidden_channels: channels of the fed-back decoder feature ``F_n`` (OVD: 32); the
            strided encoder conv outputs ``channels - hidden_channels``.
        encoder_blocks: residual blocks before DTB (OVD: 4).
        decoder_blocks: residual blocks after DTB (OVD: 4).
        dtb: blend the encoder output with :class:`~rirn_layers.DynamicTemporalBlend`.
        batch_norm: BatchNorm inside the residual blocks (OVD: yes).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - ``window``: ``(B, in_channels, H, W)`` with even ``H`` and ``W``.
        - ``hidden``: ``None`` at the first step, else the tuple the previous call returned.
        - Output: ``feature`` ``(B, channels, H/2, W/2)`` and ``hidden = (F_n, h~_n)``
          (``(F_n,)`` with ``dtb=False``), ``F_n`` ``(B, hidden_channels, H/2, W/2)``,
          ``h~_n`` ``(B, channels, H/2, W/2)``.

    Example:
        >>> cell = STRCNNCell(channels=16, hidden_channels=8, encoder_blocks=1,
        ...                   decoder_blocks=1).eval()
        >>> feature, hidden = cell(torch.rand(2, 15, 32, 32), None)
        >>> feature, hidden = cell(torch.rand(2, 15, 32, 32), hidden)
        >>> feature.shape, [h.shape[1] for h in hidden]
        (torch.Size([2, 16, 16, 16]), [8, 16])
    """

    scale = 2

    def __init__(
        self,
        in_channels: int = 15,
        *,
        channels: int = 64,
        hidden_channels: int = 32,
        encoder_blocks: int = 4,
        decoder_blocks: int = 4,
        dtb: bool = True,
        batch_norm: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_int("STRCNNCell", "in_channels", in_channels, 1)
        check_int("STRCNNCell", "channels", channels, 2)
        check_int("STRCNNCell", "hidden_channels", hidden_channels, 1, channels - 1)
        check_int("STRCNNCell", "encoder_blocks", encoder_blocks, 0)
        check_int("STRCNNCell", "decoder_blocks", decoder_blocks, 0)
        check_bool("STRCNNCell", "dtb", dtb)
        check_bool("STRCNNCell", "batch_norm", batch_norm)
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.in_channels = in_channels
        self.feature_channels = channels
        self.hidden_channels = hidden_channels
        self.head = nn.Sequential(
            conv(in_channels, channels, 5, **factory),
            nn.ReLU(inplace=True),
            conv(channels, channels - hidden_channels, 3, stride=2, **factory),
            nn.ReLU(inplace=True),
        )
        self.encoder = nn.Sequential(
            *(_ResBlock(channels, batch_norm, factory) for _ in range(encoder_blocks))
        )
        self.dtb = DynamicTemporalBlend(channels, **factory) if dtb else None
        self.decoder = nn.Sequential(
            *(_ResBlock(channels, batch_norm, factory) for _ in range(decoder_blocks))
        )
        self.feedback = nn.Sequential(
            conv(channels, hidden_channels, 3, **factory), nn.ReLU(inplace=True)
        )

    def forward(
        self, window: torch.Tensor, hidden: Hidden | None = None
    ) -> tuple[torch.Tensor, Hidden]:
        window = check_image("STRCNNCell", "window", window, self.in_channels)
        if window.shape[-2] % 2 or window.shape[-1] % 2:
            raise ValueError(
                f"STRCNNCell: `window` needs even H and W (x2 downsampling), got "
                f"{shape_str(window.shape)}; pad frames first (rirn_layers.pad_to_multiple)"
            )
        x = self.head(window)
        if hidden is None:
            previous = x.new_zeros(x.shape[0], self.hidden_channels, *x.shape[-2:])
            blended = None
        else:
            expected = 1 if self.dtb is None else 2
            if not isinstance(hidden, (tuple, list)) or len(hidden) != expected:
                raise TypeError(
                    f"STRCNNCell: `hidden` must be None or the tuple of {expected} tensor(s) "
                    f"returned by the previous call, got {type(hidden).__name__}"
                )
            previous = check_image("STRCNNCell", "hidden[0]", hidden[0], self.hidden_channels)
            if previous.shape[0] != x.shape[0] or previous.shape[-2:] != x.shape[-2:]:
                raise ValueError(
                    f"STRCNNCell: `hidden[0]` {shape_str(previous.shape)} does not match the "
                    f"encoded window {shape_str(x.shape)} in batch or size"
                )
            blended = hidden[1] if self.dtb is not None else None
        h = self.encoder(torch.cat((x, previous), dim=1))
        if self.dtb is not None:
            h = self.dtb(h, blended)
        feature = self.decoder(h)
        feedback = self.feedback(feature)
        state: Hidden = (feedback, h) if self.dtb is not None else (feedback,)
        return feature, state

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, feature_channels={self.feature_channels}, "
            f"hidden_channels={self.hidden_channels}, scale={self.scale}"
        )


class STRCNNReconstructor(Reconstructor):
    """OVD's output head: ``conv3x3(relu(deconv4x4 stride 2(features)))`` to a frame.

    The core :class:`~rirn_layers.Reconstructor` with ``scale=2``, ``stem=False``,
    ``num_blocks=0``, ``widths=(mid_channels,)`` and ``out_kernel_size=3`` (same layers,
    same parameter names ``body.<i>``).

    Args:
        in_channels: channels of the features it decodes.
        out_channels: channels of the output frame.
        mid_channels: channels after the transposed convolution (OVD: 64).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - ``features``: ``(B, in_channels, h, w)``.
        - ``frame``: ignored (no residual connection to the input in OVD); accepted for
          the reconstructor interface ``forward(features, frame)``.
        - Output: ``(B, out_channels, 2h, 2w)``.

    Example:
        >>> head = STRCNNReconstructor(64)
        >>> head(torch.randn(1, 64, 8, 12)).shape
        torch.Size([1, 3, 16, 24])
    """

    scale = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 3,
        *,
        mid_channels: int = 64,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        check_int("STRCNNReconstructor", "mid_channels", mid_channels, 1)
        super().__init__(
            in_channels, out_channels, scale=2, num_blocks=0, stem=False,
            widths=(mid_channels,), out_kernel_size=3, device=device, dtype=dtype,
        )


class STRCNNState(NamedTuple):
    """Inner state of :class:`STRCNN` between frames.

    Attributes:
        frames: the last (up to ``past + 1 + future``) padded input frames, oldest first.
        rirn: the wrapped cell's :class:`~rirn_layers.RIRNState` (``None`` before the
            first full window).
    """

    frames: tuple[torch.Tensor, ...]
    rirn: RIRNState | None


class STRCNN(StreamingDeblurModel):
    """STRCNN (OVD, ICCV 2017): a window of ``past + 1 + future`` frames per step.

    Built by :func:`build_strcnn`. The output of frame ``n`` is ready once frame
    ``n + future`` came in; see :class:`~rirn_layers.model.StreamingDeblurModel` for
    ``step``/``flush``/``forward`` and the ``ends`` policy. Declares ``in_channels = 3``,
    ``out_channels`` (the reconstructor's), ``scale``, ``past``, ``future`` and
    ``state_type`` (:class:`STRCNNState`).

    Args:
        wrapped: a :class:`STRCNNCell` wrapped by :func:`~rirn_layers.wrap_recurrent_cell`
            (its ``in_channels`` must be ``3 * (past + 1 + future)``).
        reconstructor: a :class:`STRCNNReconstructor` (or any
            :class:`~rirn_layers.contracts.FrameReconstructor`) reading
            ``wrapped.channels("feature", "blended", "memory")`` channels, or
            ``wrapped.out_channels`` (``F_n`` too) with ``decode_hidden=True``.
        past: frames before the output frame in the window.
        future: frames after the output frame in the window.
        decode_hidden: feed the cell's hidden state ``F_n`` to the reconstructor too.

    Shape:
        - ``forward(frames)``: ``(B, T, 3, H, W)`` -> ``(B, T, 3, H, W)`` (``ends="pad"``)
          or ``(B, T - past - future, 3, H, W)`` (``ends="drop"``).
        - ``step(frame, state)``: ``(B, 3, H, W)`` -> ``(B, 3, H, W)`` or ``None``.

    Example:
        >>> model = build_strcnn(channels=16, hidden_channels=8, encoder_blocks=1,
        ...                      decoder_blocks=1).eval()
        >>> clip = torch.rand(1, 6, 3, 16, 20)
        >>> model(clip)[0].shape, model(clip, ends="drop")[0].shape
        (torch.Size([1, 6, 3, 16, 20]), torch.Size([1, 2, 3, 16, 20]))
    """

    state_type = STRCNNState

    def __init__(
        self,
        wrapped: RecurrentCellWrapper,
        reconstructor: FrameReconstructor,
        *,
        past: int = 2,
        future: int = 2,
        decode_hidden: bool = False,
    ) -> None:
        super().__init__()
        check_int("STRCNN", "past", past, 0)
        check_int("STRCNN", "future", future, 0)
        check_bool("STRCNN", "decode_hidden", decode_hidden)
        window = past + 1 + future
        if wrapped.in_channels != 3 * window:
            raise ValueError(
                f"STRCNN: `wrapped` takes {wrapped.in_channels} channels but a window of "
                f"{window} RGB frames (past={past}, future={future}) has {3 * window}"
            )
        self.parts = decoded_parts(decode_hidden)
        check_reconstructor("STRCNN", reconstructor, wrapped.channels(*self.parts), wrapped)
        self.wrapped = wrapped
        self.reconstructor = reconstructor
        self.in_channels = 3
        self.out_channels = int(reconstructor.out_channels)
        self.scale = wrapped.pad_multiple
        self.past = past
        self.future = future
        self.decode_hidden = decode_hidden

    def advance(
        self, frame: torch.Tensor, state: STRCNNState | None
    ) -> tuple[torch.Tensor | None, STRCNNState]:
        frames = () if state is None else tuple(state.frames)
        rirn = None if state is None else state.rirn
        window = self.past + 1 + self.future
        frames = (*frames, frame)[-window:]
        if len(frames) < window:
            return None, STRCNNState(frames, rirn)
        features, rirn = self.wrapped(torch.cat(frames, dim=1), rirn)
        out = self.reconstructor(features.cat(*self.parts), frames[self.past])
        return out, STRCNNState(frames, rirn)


def build_strcnn(
    *,
    irm: bool = False,
    atb: bool = False,
    dtb: bool = True,
    channels: int = 64,
    hidden_channels: int = 32,
    encoder_blocks: int = 4,
    decoder_blocks: int = 4,
    batch_norm: bool = True,
    past: int = 2,
    future: int = 2,
    decode_hidden: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> STRCNN:
    """Build STRCNN (OVD, ICCV 2017) with OVD's defaults, bare or with IRM/ATB.

    Args:
        irm: RIRN's inner recurrence over the fed-back decoder feature ``F_n``.
        atb: RIRN's adaptive temporal blend over the decoder feature ``d_n``.
        dtb: OVD's dynamic temporal blending between encoder and decoder (the original);
            ``False`` removes it, as RIRN did for its STRCNN + IRM/ATB rows (supp. S2.1).
            Allowed together with ``atb`` (they blend different tensors; see the module
            docstring).
        channels: width of the residual stages (64).
        hidden_channels: channels of ``F_n`` (32), ``1 .. channels - 1``.
        encoder_blocks: residual blocks before DTB (4).
        decoder_blocks: residual blocks after DTB (4).
        batch_norm: BatchNorm in the residual blocks (True, as OVD).
        past: frames before the output frame in each window (2).
        future: frames after the output frame in each window (2).
        decode_hidden: also feed ``F_n`` to the output head (RIRN sec. 3.4 to the letter;
            default ``False``, OVD's decoder).
        device: device of the parameters (``"meta"`` to count MACs without memory).
        dtype: dtype of the parameters.

    Raises:
        ValueError: a value out of range or of the wrong type, naming the argument.

    Example:
        >>> model = build_strcnn(irm=True, atb=True, dtb=False, channels=16,
        ...                      hidden_channels=8, encoder_blocks=1, decoder_blocks=1)
        >>> restored, state = model(torch.rand(2, 3, 3, 15, 17))
        >>> restored.shape
        torch.Size([2, 3, 3, 15, 17])
    """
    for name, value in (("irm", irm), ("atb", atb), ("dtb", dtb)):
        check_bool("build_strcnn", name, value)
    check_int("build_strcnn", "past", past, 0)
    check_int("build_strcnn", "future", future, 0)
    check_bool("build_strcnn", "decode_hidden", decode_hidden)
    cell = STRCNNCell(
        3 * (past + 1 + future),
        channels=channels,
        hidden_channels=hidden_channels,
        encoder_blocks=encoder_blocks,
        decoder_blocks=decoder_blocks,
        dtb=dtb,
        batch_norm=batch_norm,
        device=device,
        dtype=dtype,
    )
    wrapped = wrap_recurrent_cell(cell, irm=irm, atb=atb, probe_size=PROBE_SIZE)
    decoded = wrapped.channels(*decoded_parts(decode_hidden))
    reconstructor = STRCNNReconstructor(decoded, mid_channels=channels, device=device, dtype=dtype)
    return STRCNN(wrapped, reconstructor, past=past, future=future, decode_hidden=decode_hidden)
