"""ESTRNN: the RDB cell plus global spatio-temporal attention over past and future frames.

Zhong, Gao, Zheng and Zheng, "Efficient Spatio-Temporal Recurrent Neural Network for Video
Deblurring" (ESTRNN), ECCV 2020, sec. 3 (fig. 2): every frame goes through the causal
:class:`~rirn_layers.baselines.rdb.RDBCell`, ``f_t, h_t = Cell(I_t, h_{t-1})``; the
features of ``past`` frames before and ``future`` frames after frame ``t`` are fused with
:class:`~rirn_layers.GlobalSpatioTemporalAttention` (sec. 3.3, eq. 4-6),
``F_t = GSA(f_{t-P}, ..., f_{t+F})``, and the reconstructor upsamples ``F_t`` to the latent
frame ``O_t`` (:class:`~rirn_layers.baselines.rdb.ESTRNNReconstructor`). The paper's
defaults are ``B9C80`` with ``P = F = 2`` (tables 1, 4, 5 vary ``B#``, ``C#``, ``P`` and
``F``; ``C# = 5 n`` with ``n`` the code's ``n_features``).

Streaming. :class:`ESTRNN` is a look-ahead
:class:`~rirn_layers.model.StreamingDeblurModel`: :meth:`ESTRNN.advance` runs the cell on
each incoming frame and keeps the last ``past + 1 + future`` per-frame features in its
state; the output of frame ``t`` comes out when frame ``t + future`` is fed, ``None``
before the window is full. ``ends="drop"`` is the paper's protocol (the first ``past`` and
last ``future`` frames get no output, the hidden state starts at zeros at the first frame);
``ends="pad"`` (default) edge-pads the clip so every frame gets an output. The memory is
``O(past + future)`` frames of features, whatever the video length (the official code
keeps every frame's features until the end of the clip).

Choices the paper leaves open, and what we picked:

- Layer widths and the RDB cell: see :mod:`rirn_layers.baselines.rdb` (official code,
  zzh-tech/ESTRNN ``model/ESTRNN.py``).
- GSA activation: GELU (``activation=nn.GELU``, the official code's default; the paper's
  text says ReLU). The same activation is used in the dense layers of the cell.
- GSA layer sizes (channel gate 2C->4C->2C, projection 1x1 2C->4C->2C, condense 2C->C,
  the current feature last, fusion ``(P+1+F) C -> (P+1+F) C``): as the official code, see
  :class:`~rirn_layers.GlobalSpatioTemporalAttention`.
- Reconstructor input: ``F_t`` only (``(P+1+F) C`` channels); the hidden state ``h_t`` is
  not decoded (as the code).
- Cost: counted as the paper does (thop) with :func:`rirn_layers.profile.count_macs`
  (``convention="paper"``), this module gives table 1/4/5's GMACs to within 0.3 %.

IRM and ATB (``irm=True`` / ``atb=True``; RIRN did not run ESTRNN with them: its table 1
compares GSA *with* ATB as alternatives on RDBN). They go through
:func:`~rirn_layers.wrap_recurrent_cell` around the cell: IRM over ``h_t``, ATB over
``f_t``, both causal and run once per frame as the frame comes in. GSA fuses the cell
features ``f_{t-P} .. f_{t+F}`` exactly as without them; the add-ons' outputs of the
output frame ``t`` (``f~_t`` and/or ``h~_t``, computed when frame ``t`` came in) are
concatenated to ``F_t`` for the reconstructor: ``O_t = Rec(cat(F_t, f~_t, h~_t))``. So the
bare model is exactly ESTRNN, each add-on adds only its own layers and its own channels at
the reconstructor input (RIRN sec. 3.4: the reconstructor reads the add-ons' outputs next
to the features), and the GSA cost does not grow with them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from rirn_layers._checks import check_bool, check_int, shape_str
from rirn_layers.baselines._blocks import PROBE_SIZE
from rirn_layers.baselines.rdb import (
    Activation,
    ESTRNNReconstructor,
    RDBCell,
    check_activation,
    features_of,
)
from rirn_layers.contracts import FrameReconstructor
from rirn_layers.layers.gsa import GlobalSpatioTemporalAttention
from rirn_layers.model import StreamingDeblurModel, check_reconstructor
from rirn_layers.wrap import RecurrentCellWrapper, RIRNState, wrap_recurrent_cell

__all__ = ["ESTRNN", "ESTRNNState", "build_estrnn"]


class ESTRNNState(NamedTuple):
    """Inner state of :class:`ESTRNN` between frames.

    Attributes:
        frames: the padded input frames of the window, oldest first, carried only for a
            reconstructor that reads the input frame (one with ``residual=True``, or one
            that does not say); empty ``()`` for :class:`ESTRNNReconstructor`, which
            ignores it, so the built models carry no frames. The field stays so that code
            reading ``state.frames`` keeps working.
        features: the last (up to ``past + 1 + future``) cell features ``f_t``
            ``(B, C_f, H/4, W/4)``, oldest first.
        rirn: the wrapped cell's :class:`~rirn_layers.RIRNState`.
        addons: for the same frames, the add-ons' outputs ``cat(f~_t, h~_t)`` (those
            present); empty for the bare model.
    """

    frames: tuple[torch.Tensor, ...]
    features: tuple[torch.Tensor, ...]
    rirn: RIRNState | None
    addons: tuple[torch.Tensor, ...] = ()


def _has_addons(wrapped: RecurrentCellWrapper) -> bool:
    return wrapped.irm is not None or wrapped.atb is not None


class ESTRNN(StreamingDeblurModel):
    """ESTRNN (ECCV 2020): RDB cell, GSA over ``past + 1 + future`` frames, reconstructor.

    Declares ``in_channels``, ``out_channels`` (the reconstructor's), ``scale`` (the
    cell's padding multiple), ``past``/``future`` (GSA's) and ``state_type``
    (:class:`ESTRNNState`).

    Built by :func:`build_estrnn`. The output of frame ``t`` is ready once frame
    ``t + future`` came in; see :class:`~rirn_layers.model.StreamingDeblurModel` for
    ``step``/``flush``/``forward`` and the ``ends`` policy.

    Args:
        wrapped: an :class:`~rirn_layers.baselines.rdb.RDBCell` (or any cell with the same
            contract) wrapped by :func:`~rirn_layers.wrap_recurrent_cell`.
        gsa: a :class:`~rirn_layers.GlobalSpatioTemporalAttention` over
            ``wrapped.feature_channels`` channels; its ``past``/``future`` set the window.
        reconstructor: any :class:`~rirn_layers.contracts.FrameReconstructor` reading
            ``gsa.out_channels`` plus the add-ons' channels
            (``wrapped.channels("blended", "memory")``).

    Shape:
        - ``forward(frames)``: ``(B, T, C, H, W)`` -> ``(B, T, 3, H, W)`` (``ends="pad"``)
          or ``(B, T - past - future, 3, H, W)`` (``ends="drop"``).
        - ``step(frame, state)``: ``(B, C, H, W)`` -> ``(B, 3, H, W)`` or ``None``.

    Example:
        >>> model = build_estrnn(blocks=2, channels=20).eval()
        >>> clip = torch.rand(1, 6, 3, 30, 45)
        >>> model(clip)[0].shape, model(clip, ends="drop")[0].shape
        (torch.Size([1, 6, 3, 30, 45]), torch.Size([1, 2, 3, 30, 45]))
    """

    state_type = ESTRNNState

    def __init__(
        self,
        wrapped: RecurrentCellWrapper,
        gsa: GlobalSpatioTemporalAttention,
        reconstructor: FrameReconstructor,
    ) -> None:
        super().__init__()
        if gsa.channels != wrapped.feature_channels:
            raise ValueError(
                f"ESTRNN: `gsa` fuses {gsa.channels} channels but the cell feature has "
                f"{wrapped.feature_channels}"
            )
        extra = wrapped.channels("blended", "memory") if _has_addons(wrapped) else 0
        check_reconstructor("ESTRNN", reconstructor, gsa.out_channels + extra, wrapped)
        self.wrapped = wrapped
        self.gsa = gsa
        self.reconstructor = reconstructor
        self.in_channels = wrapped.in_channels
        self.out_channels = int(reconstructor.out_channels)
        self.scale = wrapped.pad_multiple
        self.past = gsa.past
        self.future = gsa.future
        #: Whether the reconstructor reads the input frame, so the state carries frames.
        self.reads_frame = bool(getattr(reconstructor, "residual", True))

    def advance(
        self, frame: torch.Tensor, state: ESTRNNState | None
    ) -> tuple[torch.Tensor | None, ESTRNNState]:
        if state is None:
            state = ESTRNNState((), (), None)
        elif not isinstance(state, ESTRNNState):
            raise TypeError(
                "ESTRNN: the inner state must be None or the ESTRNNState returned by the "
                f"previous call, got {type(state).__name__}"
            )
        elif state.features:
            self._check_size(frame, state.features[-1])
        outputs, rirn = self.wrapped(frame, state.rirn)
        window = self.past + 1 + self.future
        frames = (*state.frames, frame)[-window:] if self.reads_frame else ()
        features = (*state.features, outputs.feature)[-window:]
        addons = state.addons
        if _has_addons(self.wrapped):
            addons = (*addons, outputs.cat("blended", "memory"))[-window:]
        state = ESTRNNState(frames, features, rirn, addons)
        if len(features) < window:
            return None, state
        fused = self.gsa(torch.stack(features, dim=1))
        if addons:
            fused = torch.cat((fused, addons[self.past]), dim=1)
        return self.reconstructor(fused, frames[self.past] if frames else None), state

    def _check_size(self, frame: torch.Tensor, feature: torch.Tensor) -> None:
        """The frame must be of the batch and size of the frames the state was built on."""
        stride = self.wrapped.stride or 1
        size = tuple(s // stride for s in frame.shape[-2:])
        if frame.shape[0] != feature.shape[0] or size != tuple(feature.shape[-2:]):
            raise ValueError(
                f"ESTRNN: `frame` {shape_str(frame.shape)} does not match the frames in the "
                f"state (features {shape_str(feature.shape)} at 1/{stride})"
            )


def build_estrnn(
    *,
    irm: bool = False,
    atb: bool = False,
    blocks: int = 9,
    channels: int = 80,
    past: int = 2,
    future: int = 2,
    activation: Activation = nn.GELU,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> ESTRNN:
    """Build ESTRNN (ECCV 2020) with the paper's defaults (B9C80, 2 past and 2 future frames).

    Args:
        irm: RIRN's inner recurrence over the cell's hidden state ``h_t``.
        atb: RIRN's adaptive temporal blend over the cell feature ``f_t``.
        blocks: RDBs in the cell's middle network, the paper's ``B#`` (9), ``>= 1``.
        channels: the paper's ``C# = 5 n`` (80), a positive multiple of 5.
        past: past frames fused by GSA, the paper's ``P#`` (2), ``>= 0``.
        future: future frames fused by GSA, the paper's ``F#`` (2), ``>= 0``.
        activation: activation class in the dense layers and GSA's gate (``nn.GELU``).
        device: device of the parameters (``"meta"`` to count MACs without memory).
        dtype: dtype of the parameters.

    Frames of any size ``>= 1`` are accepted: the model pads them (replicate) to multiples
    of 4 (the cell's x4 downsampling, so at least ``4 x 4``) and crops the output back.

    Raises:
        ValueError: a value out of range or of the wrong type, naming the argument and
            what is allowed.

    Example:
        >>> model = build_estrnn(irm=True, atb=True, blocks=2, channels=20, past=1, future=1)
        >>> restored, state = model(torch.rand(2, 4, 3, 16, 20))
        >>> restored.shape
        torch.Size([2, 4, 3, 16, 20])
    """
    check_bool("build_estrnn", "irm", irm)
    check_bool("build_estrnn", "atb", atb)
    check_int("build_estrnn", "blocks", blocks, 1)
    n = features_of("build_estrnn", channels)
    check_int("build_estrnn", "past", past, 0)
    check_int("build_estrnn", "future", future, 0)
    check_activation("build_estrnn", activation)
    factory: dict[str, Any] = {"device": device, "dtype": dtype}
    cell = RDBCell(blocks=blocks, channels=channels, activation=activation, **factory)
    wrapped = wrap_recurrent_cell(cell, irm=irm, atb=atb, probe_size=PROBE_SIZE)
    gsa = GlobalSpatioTemporalAttention(
        channels, past, future, activation=activation, **factory
    )
    extra = wrapped.channels("blended", "memory") if _has_addons(wrapped) else 0
    head = ESTRNNReconstructor(gsa.out_channels + extra, features=n, **factory)
    return ESTRNN(wrapped, gsa, head)
