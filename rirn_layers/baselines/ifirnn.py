"""IFI-RNN: recurrent video deblurring with intra-frame iterations, C1/C2, H iterations.

Nah, Son and Lee, "Recurrent Neural Networks with Intra-Frame Iterations for Video
Deblurring", CVPR 2019: sec. 3.1 (the cell ``F_B, F_R, F_h, F_L``, fig. 2), sec. 3.2 and
Algorithm 1 (intra-frame iterations, single cell C1 and dual cell C2), sec. 3.3 (stochastic
training with an iteration gate and the regulariser ``L_reg``). RIRN (Park, Nah and Lee,
BMVC 2022) uses C1H1 as its "IFI-RNN" baseline (table 3, supplementary S2.1 and table S6).

One time step (Algorithm 1; ``H`` iterations, ``F_B`` and ``F_L`` run once)::

    C1:  f_B = F_B(B_t);  h^0 = h_{t-1}
    C2:  f_B = F_B2(B_t); h^0 = F_h1(F_R1(cat(F_B1(B_t), h_{t-1})))
    for i = 1 .. H:   f_R^i = F_R(cat(f_B, h^{i-1}));  h^i = F_h(f_R^i)     (cell 2 for C2)
    h_t = h^H;  L_t = F_L(f_R^H)

with (widths of zzh-tech/ESTRNN ``model/IFIRNN.py``, which agree with RIRN's tables S1/S2)
``F_B`` = 5x5 convs ``3 -> 20`` (stride 1), ``-> 40`` (stride 2), ``-> 60`` (stride 2);
``F_R`` = 6 ResBlocks at ``60 + 20 = 80`` channels; ``F_h`` = 3x3 conv ``80 -> 20``,
ResBlock(20), 3x3 conv ``20 -> 20``; ``F_L`` = two x2 transposed convs ``-> 40 -> 20`` and a
5x5 conv to RGB (:class:`~rirn_layers.baselines._blocks.UpsamplingReconstructor`).

Stochastic training (sec. 3.3, ``stochastic=True``, needs ``H >= 2``). A gate
``g(h^i) in {0, 1}`` (:class:`IterationGate`: global average pooling, FC, ReLU, FC to two
logits, hard Gumbel-softmax sample with a straight-through gradient) decides after
iteration ``i`` whether iteration ``i + 1`` runs; once off, a sample stops. Per sample the
effective gate is ``e^i = g^1 * ... * g^i`` and iteration ``i + 1`` is applied as
``h^{i+1} = e^i * new + (1 - e^i) * h^i`` (likewise ``f_R``): no data-dependent control
flow, so it traces and counts like the deterministic model. The regulariser is

    L_reg = (1/T) sum_t sum_{i=1}^{H-1} (E_batch[e_t^i] - tau)^2,    tau = 0.75,

added as ``L_total = L_content + lambda * L_reg`` with ``lambda = 10``
(:attr:`IFIRNN.regularization_weight`). The gate runs in training mode only: in eval mode
(and with ``stochastic=False``) every step runs all ``H`` iterations and the gate is unused.

Where ``L_reg`` lives (explicit state, nothing global): in training mode with the gate, each
step appends that frame's effective gates ``(B, H-1)`` to the model's inner state
(:class:`IFIRNNState` ``.gates``); :meth:`IFIRNN.forward` starts a fresh record for each
call, and :meth:`IFIRNN.regularization_loss` reads it from the returned state::

    restored, state = model(clip)
    loss = content(restored, sharp) + model.regularization_weight * model.regularization_loss(state)

Choices the paper leaves open, and what we picked:

- Widths, ResBlock count (6) and activations: see above and
  :mod:`rirn_layers.baselines._blocks` (a ReLU after each encoder and transposed
  convolution; the public ports have none there).
- ``F_B`` runs once per step as Algorithm 1 says (both public ports recompute it at every
  iteration: same result, more work). ``h_0 = 0``. No residual from the input frame to
  the output (``residual=True`` adds one).
- The gate: the text gives "GAP + two FC layers activated by ReLU"; the hidden FC width
  (16, as the gates of Veit and Belongie's ConvNet-AIG that the paper follows), the
  Gumbel temperature (1) and one gate shared by all iterations are ours. Iteration 1 always
  runs (``F_L`` needs one ``f_R``), so a step has ``H - 1`` gates and ``L_reg`` sums over
  them (the paper's ``N`` terms include a gate after the last iteration that decides
  nothing). ``E[g_t^i]`` is the batch mean of the *effective* gate (0 for a sample that has
  already stopped: it does not iterate), so ``tau`` is the target fraction of the extra
  iterations that run, the paper's "target average iteration ratio".
- RIRN's add-ons go through :func:`~rirn_layers.wrap_recurrent_cell`: IRM over
  ``h_t = h^H`` (20 ch), ATB over ``f_t = f_R^H`` (80 ch, the feature ``F_L`` reads and
  that is not propagated). By default (``decode_hidden=False``) ``F_L`` reads
  ``cat(f_R^H, f~_t, h~_t)`` (those present), so the bare model is exactly IFI-RNN;
  ``decode_hidden=True`` also feeds ``h_t`` (RIRN sec. 3.4 to the letter).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from rirn_layers._checks import (
    check_bool,
    check_clip,
    check_float,
    check_image,
    check_int,
    check_multiple,
    check_state,
)
from rirn_layers.baselines._blocks import (
    PROBE_SIZE,
    UpsamplingReconstructor,
    check_channels,
    decoded_parts,
    frame_encoder,
    hidden_head,
)
from rirn_layers.contracts import FrameReconstructor
from rirn_layers.layers.common import ResBlock
from rirn_layers.model import Ends, StreamingDeblurModel, StreamState, check_reconstructor
from rirn_layers.state import Role
from rirn_layers.wrap import RecurrentCellWrapper, RIRNState, wrap_recurrent_cell

__all__ = [
    "IFIRNN",
    "IFIRNNCell",
    "IFIRNNState",
    "IterationGate",
    "build_ifirnn",
    "iteration_regularization",
]

Hidden = tuple[torch.Tensor, torch.Tensor]


def iteration_regularization(gates: Sequence[torch.Tensor], tau: float = 0.75) -> torch.Tensor:
    """IFI-RNN's ``L_reg = (1/T) sum_t sum_i (E[g_t^i] - tau)^2`` (sec. 3.3).

    Args:
        gates: one ``(B, N)`` tensor per time step ``t``, the gate activations ``g_t^i`` of
            the ``B`` samples at the ``N`` gated iterations (``E`` is the mean over ``B``).
        tau: the target average iteration ratio (0.75 in the paper).

    Returns:
        A scalar tensor (zero when ``gates`` is empty).

    Example:
        >>> g = [torch.tensor([[1.0, 0.0], [1.0, 1.0]])]   # T = 1, B = 2, N = 2
        >>> iteration_regularization(g)                    # (1 - .75)^2 + (.5 - .75)^2
        tensor(0.1250)
    """
    if len(gates) == 0:
        return torch.zeros(())
    stacked = torch.stack(list(gates))  # (T, B, N)
    return (stacked.mean(dim=1) - tau).square().sum(dim=1).mean()


class IterationGate(nn.Module):
    """IFI-RNN's iteration gate ``g(h) in {0, 1}`` (sec. 3.3), per sample.

    ``logits = FC(ReLU(FC(GAP(h))))`` over (stop, iterate); the output is a hard
    Gumbel-softmax sample of "iterate" whose gradient is that of the soft sample
    (straight-through), so the forward value is exactly 0 or 1.

    Args:
        channels: channels of the hidden state it looks at.
        hidden_features: width of the first FC layer.
        temperature: Gumbel-softmax temperature.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - Input: ``(B, channels, H, W)``.
        - Output: ``(B,)`` with values in ``{0, 1}``.

    Example:
        >>> gate = IterationGate(20)
        >>> g = gate(torch.randn(4, 20, 8, 8))
        >>> g.shape, bool(((g == 0) | (g == 1)).all())
        (torch.Size([4]), True)
    """

    def __init__(
        self,
        channels: int,
        hidden_features: int = 16,
        *,
        temperature: float = 1.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_int("IterationGate", "channels", channels, 1)
        check_int("IterationGate", "hidden_features", hidden_features, 1)
        self.temperature = check_float("IterationGate", "temperature", temperature, 1e-6)
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.channels = channels
        self.score = nn.Sequential(
            nn.Linear(channels, hidden_features, **factory),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_features, 2, **factory),
        )

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """``(B, 2)`` scores of (stop, iterate)."""
        hidden = check_image("IterationGate", "hidden", hidden, self.channels)
        return self.score(hidden.mean(dim=(-2, -1)))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.logits(hidden)
        gumbel = -torch.empty_like(logits).exponential_().log()
        soft = ((logits + gumbel) / self.temperature).softmax(dim=-1)[:, 1]
        hard = (soft > 0.5).to(soft.dtype)  # argmax of the two (ties to "stop")
        return hard + (soft - soft.detach())


class _Stage(nn.Module):
    """One IFI-RNN cell: ``F_B`` (frame features), ``F_R`` (ResBlocks), ``F_h`` (hidden)."""

    def __init__(
        self,
        in_channels: int,
        channels: tuple[int, int, int],
        hidden_channels: int,
        num_blocks: int,
        factory: dict[str, Any],
    ) -> None:
        super().__init__()
        width = channels[-1] + hidden_channels
        self.f_b = frame_encoder(in_channels, channels, factory)
        self.f_r = nn.Sequential(*(ResBlock(width, **factory) for _ in range(num_blocks)))
        self.f_h = hidden_head(width, hidden_channels, factory)

    def iterate(
        self, blur: torch.Tensor, hidden: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``f_R = F_R(cat(f_B, h))``, ``h' = F_h(f_R)``."""
        reused = self.f_r(torch.cat((blur, hidden), dim=1))
        return reused, self.f_h(reused)


class IFIRNNCell(nn.Module):
    """IFI-RNN's recurrent cell with ``H`` intra-frame iterations (Algorithm 1), C1 or C2.

    ``F_L`` is not part of the cell: it is the model's reconstructor, which reads the
    cell's feature ``f_R^H``. See the module docstring for the equations and the gate.

    Args:
        in_channels: channels of the input frames.
        cells: 1 (single cell, C1) or 2 (dual cell, C2).
        iterations: ``H >= 1``, updates of the hidden state per frame (by the second cell
            for C2).
        channels: widths of the three 5x5 convolutions of ``F_B`` (strides 1, 2, 2).
        hidden_channels: channels ``C_h`` of the hidden state (20).
        num_blocks: ResBlocks in ``F_R`` (6).
        stochastic: add the iteration gate of sec. 3.3 (training mode only; ``H >= 2``).
        gate_features: width of the gate's first FC layer (16).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - ``frame``: ``(B, in_channels, H, W)`` with ``H, W`` multiples of 4.
        - ``hidden``: ``None`` (first frame: ``h_0 = 0``) or the tuple the previous call
          returned.
        - Output: ``f_R^H`` ``(B, channels[2] + C_h, H/4, W/4)`` and the tuple
          ``(h_t, gates)``: ``h_t`` ``(B, C_h, H/4, W/4)`` and ``gates`` ``(B, H - 1)``, the
          effective gate of each extra iteration of this frame (1 = it ran; all ones in
          eval mode or without the gate). The next call reads only ``h_t``.

    Example:
        >>> cell = IFIRNNCell(cells=2, iterations=3).eval()
        >>> f, (h, gates) = cell(torch.rand(1, 3, 32, 32), None)
        >>> f.shape, h.shape, gates.tolist()
        (torch.Size([1, 80, 8, 8]), torch.Size([1, 20, 8, 8]), [[1.0, 1.0]])
    """

    scale = 4

    def __init__(
        self,
        in_channels: int = 3,
        *,
        cells: int = 1,
        iterations: int = 1,
        channels: Sequence[int] = (20, 40, 60),
        hidden_channels: int = 20,
        num_blocks: int = 6,
        stochastic: bool = False,
        gate_features: int = 16,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        owner = "IFIRNNCell"
        check_int(owner, "in_channels", in_channels, 1)
        check_int(owner, "cells", cells, 1, 2)
        check_int(owner, "iterations", iterations, 1)
        widths = check_channels(owner, "channels", channels)
        check_int(owner, "hidden_channels", hidden_channels, 1)
        check_int(owner, "num_blocks", num_blocks, 0)
        check_bool(owner, "stochastic", stochastic)
        check_int(owner, "gate_features", gate_features, 1)
        if stochastic and iterations < 2:
            raise ValueError(
                f"{owner}: `stochastic` needs `iterations` >= 2 (the gate decides the extra "
                f"iterations), got iterations={iterations}"
            )
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.in_channels = in_channels
        self.channels = widths
        self.cells = cells
        self.iterations = iterations
        self.hidden_channels = hidden_channels
        self.feature_channels = widths[-1] + hidden_channels
        self.stages = nn.ModuleList(
            _Stage(in_channels, widths, hidden_channels, num_blocks, factory) for _ in range(cells)
        )
        self.gate = IterationGate(hidden_channels, gate_features, **factory) if stochastic else None

    def _previous(self, hidden: Any, like: torch.Tensor) -> torch.Tensor:
        if hidden is None:
            return like.new_zeros(like.shape[0], self.hidden_channels, *like.shape[-2:])
        if not isinstance(hidden, (tuple, list)) or len(hidden) != 2:
            raise TypeError(
                "IFIRNNCell: `hidden` must be None or the tuple (h, gates) returned by the "
                f"previous call, got {type(hidden).__name__}"
            )
        return check_state("IFIRNNCell", "hidden[0]", hidden[0], self.hidden_channels, like)

    def forward(
        self, frame: torch.Tensor, hidden: Hidden | None = None
    ) -> tuple[torch.Tensor, Hidden]:
        frame = check_image("IFIRNNCell", "frame", frame, self.in_channels)
        check_multiple("IFIRNNCell", "frame", frame, self.scale)
        stage = self.stages[-1]
        blur = stage.f_b(frame)
        h = self._previous(hidden, blur)
        if self.cells == 2:  # h^0 from the first cell (Algorithm 1, dual cell)
            first = self.stages[0]
            _, h = first.iterate(first.f_b(frame), h)
        reused, h = stage.iterate(blur, h)
        gated = self.training and self.gate is not None
        alive = frame.new_ones(frame.shape[0])
        record = []
        for _ in range(self.iterations - 1):
            if gated:
                assert self.gate is not None
                alive = alive * self.gate(h)
                record.append(alive)
                new_reused, new_h = stage.iterate(blur, h)
                keep = alive.view(-1, 1, 1, 1)
                reused = keep * new_reused + (1 - keep) * reused
                h = keep * new_h + (1 - keep) * h
            else:
                reused, h = stage.iterate(blur, h)
        if record:
            gates = torch.stack(record, dim=1)
        else:
            gates = frame.new_ones(frame.shape[0], self.iterations - 1)
        return reused, (h, gates)

    def extra_repr(self) -> str:
        return (
            f"cells={self.cells}, iterations={self.iterations}, "
            f"feature_channels={self.feature_channels}, "
            f"hidden_channels={self.hidden_channels}, scale={self.scale}"
        )


class IFIRNNState(NamedTuple):
    """Inner state of :class:`IFIRNN` between frames.

    Attributes:
        rirn: the wrapped cell's :class:`~rirn_layers.RIRNState` (``None`` before the first
            frame); ``rirn.hidden`` is the cell's ``(h_t, gates)``.
        gates: the effective gates ``(B, H - 1)`` of every frame seen in training mode with
            the iteration gate since the record started (empty otherwise), with their
            autograd graph: what :meth:`IFIRNN.regularization_loss` reads.
    """

    rirn: RIRNState | None
    gates: tuple[torch.Tensor, ...]

    @classmethod
    def roles(cls) -> dict[str, Role]:
        """``gates`` is a training record for the loss: no step reads it."""
        return {"gates": "record"}


class IFIRNN(StreamingDeblurModel):
    """IFI-RNN (Nah et al., CVPR 2019): causal, one output per frame.

    Declares ``in_channels``, ``out_channels`` (the reconstructor's), ``scale``,
    ``past = future = 0`` and ``state_type`` (:class:`IFIRNNState`).

    Built by :func:`build_ifirnn`; see :class:`~rirn_layers.model.StreamingDeblurModel` for
    ``step``/``flush``/``forward``.

    Args:
        wrapped: an :class:`IFIRNNCell` wrapped by :func:`~rirn_layers.wrap_recurrent_cell`.
        reconstructor: ``F_L``, any :class:`~rirn_layers.contracts.FrameReconstructor`
            reading ``wrapped.channels("feature", "blended", "memory")`` channels, or
            ``wrapped.out_channels`` (``h_t`` too) with ``decode_hidden=True``.
        decode_hidden: feed the hidden state ``h_t`` to the reconstructor too.
        tau: target average iteration ratio of ``L_reg`` (0.75).
        regularization_weight: ``lambda`` of ``L_total = L_content + lambda L_reg`` (10).

    Shape:
        - ``forward(frames)``: ``(B, T, 3, H, W)`` -> ``(B, T, 3, H, W)``.
        - ``step(frame, state)``: ``(B, 3, H, W)`` -> ``(B, 3, H, W)``.

    Example:
        >>> model = build_ifirnn(iterations=2, stochastic=True, channels=(4, 6, 8),
        ...                      hidden_channels=4, num_blocks=1).train()
        >>> restored, state = model(torch.rand(2, 3, 3, 16, 16))
        >>> restored.shape, len(state.inner.gates)   # one (B, H - 1) record per frame
        (torch.Size([2, 3, 3, 16, 16]), 3)
        >>> model.regularization_loss(state).shape
        torch.Size([])
    """

    past = 0
    future = 0
    state_type = IFIRNNState

    def __init__(
        self,
        wrapped: RecurrentCellWrapper,
        reconstructor: FrameReconstructor,
        *,
        decode_hidden: bool = False,
        tau: float = 0.75,
        regularization_weight: float = 10.0,
    ) -> None:
        super().__init__()
        if not isinstance(wrapped.cell, IFIRNNCell):
            raise TypeError(
                f"IFIRNN: `wrapped` must wrap an IFIRNNCell, got {type(wrapped.cell).__name__}"
            )
        check_bool("IFIRNN", "decode_hidden", decode_hidden)
        self.tau = check_float("IFIRNN", "tau", tau, 0.0, 1.0)
        self.regularization_weight = check_float(
            "IFIRNN", "regularization_weight", regularization_weight, 0.0
        )
        self.parts = decoded_parts(decode_hidden)
        check_reconstructor("IFIRNN", reconstructor, wrapped.channels(*self.parts), wrapped)
        self.wrapped = wrapped
        self.reconstructor = reconstructor
        self.in_channels = wrapped.in_channels
        self.out_channels = int(reconstructor.out_channels)
        self.scale = wrapped.pad_multiple
        self.decode_hidden = decode_hidden

    @property
    def cell(self) -> IFIRNNCell:
        """The wrapped :class:`IFIRNNCell`."""
        cell = self.wrapped.cell
        assert isinstance(cell, IFIRNNCell)
        return cell

    def advance(
        self, frame: torch.Tensor, state: IFIRNNState | None
    ) -> tuple[torch.Tensor, IFIRNNState]:
        rirn = None if state is None else state.rirn
        gates = () if state is None else tuple(state.gates)
        features, rirn = self.wrapped(frame, rirn)
        out = self.reconstructor(features.cat(*self.parts), frame)
        if self.training and self.cell.gate is not None:
            gates = (*gates, rirn.hidden[1])
        return out, IFIRNNState(rirn, gates)

    def forward(
        self,
        frames: torch.Tensor,
        state: StreamState | None = None,
        *,
        ends: Ends = "pad",
        final: bool = True,
    ) -> tuple[torch.Tensor, StreamState]:
        """Run a clip as the base class does; the returned gate record covers this call.

        So ``regularization_loss`` of the returned state is ``L_reg`` over the frames of
        this clip (or chunk, for truncated back-propagation through time).
        """
        frames = check_clip("IFIRNN", "frames", frames, self.in_channels)
        if state is not None:
            state = state._replace(inner=self.clear_gate_record(state.inner))
        return super().forward(frames, state, ends=ends, final=final)

    @staticmethod
    def clear_gate_record(state: IFIRNNState | None) -> IFIRNNState | None:
        """The same inner state with an empty gate record (for ``step``-based training)."""
        if state is None:
            return None
        return IFIRNNState(state.rirn, ())

    def regularization_loss(self, state: StreamState | IFIRNNState | None) -> torch.Tensor:
        """``L_reg`` (sec. 3.3) over the frames recorded in ``state``, unweighted.

        Zero (a scalar on the parameters' device) when nothing was recorded: eval mode,
        ``stochastic=False`` or ``H = 1``. Multiply by :attr:`regularization_weight`.
        """
        if isinstance(state, StreamState):
            state = state.inner
        gates = () if state is None else state.gates
        if len(gates) == 0:
            param = next(self.parameters())
            return param.new_zeros(())
        return iteration_regularization(gates, self.tau)


def build_ifirnn(
    *,
    irm: bool = False,
    atb: bool = False,
    cells: int = 1,
    iterations: int = 1,
    stochastic: bool = False,
    channels: Sequence[int] = (20, 40, 60),
    hidden_channels: int = 20,
    num_blocks: int = 6,
    gate_features: int = 16,
    tau: float = 0.75,
    regularization_weight: float = 10.0,
    decode_hidden: bool = False,
    residual: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> IFIRNN:
    """Build IFI-RNN (CVPR 2019) ``C{cells}H{iterations}``, bare or with IRM/ATB.

    The default is C1H1, RIRN's IFI-RNN baseline. The paper's best model is
    ``cells=2, iterations=3, stochastic=True`` (C2H3-reg).

    Args:
        irm: RIRN's inner recurrence over the hidden state ``h_t``.
        atb: RIRN's adaptive temporal blend over the feature ``f_R`` that ``F_L`` reads.
        cells: 1 (C1, single cell) or 2 (C2, dual cell).
        iterations: ``H >= 1`` hidden-state updates per frame.
        stochastic: train with the iteration gate and ``L_reg`` (the "-reg" models,
            sec. 3.3); needs ``iterations >= 2``. Eval mode always runs ``H`` iterations.
        channels: ``F_B`` widths ``(20, 40, 60)``; ``F_L`` mirrors the first two.
        hidden_channels: channels of ``h_t`` (20).
        num_blocks: ResBlocks in ``F_R`` (6).
        gate_features: width of the gate's first FC layer (16).
        tau: target average iteration ratio (0.75).
        regularization_weight: ``lambda`` (10).
        decode_hidden: also feed ``h_t`` to ``F_L`` (RIRN sec. 3.4 to the letter; default
            ``False``, IFI-RNN's ``F_L(f_R)``).
        residual: add the input frame to the output (default no, as the public ports).
        device: device of the parameters (``"meta"`` to count MACs without memory).
        dtype: dtype of the parameters.

    Raises:
        ValueError: a value out of range or of the wrong type, naming the argument.

    Example:
        >>> model = build_ifirnn(irm=True, atb=True)
        >>> restored, state = model(torch.rand(1, 3, 3, 30, 45))
        >>> restored.shape
        torch.Size([1, 3, 3, 30, 45])
    """
    owner = "build_ifirnn"
    for name, value in (
        ("irm", irm),
        ("atb", atb),
        ("decode_hidden", decode_hidden),
        ("residual", residual),
    ):
        check_bool(owner, name, value)
    factory: dict[str, Any] = {"device": device, "dtype": dtype}
    cell = IFIRNNCell(
        cells=cells,
        iterations=iterations,
        channels=channels,
        hidden_channels=hidden_channels,
        num_blocks=num_blocks,
        stochastic=stochastic,
        gate_features=gate_features,
        **factory,
    )
    wrapped = wrap_recurrent_cell(cell, irm=irm, atb=atb, probe_size=PROBE_SIZE)
    reconstructor = UpsamplingReconstructor(
        wrapped.channels(*decoded_parts(decode_hidden)),
        widths=(cell.channels[1], cell.channels[0]),
        residual=residual,
        **factory,
    )
    return IFIRNN(
        wrapped,
        reconstructor,
        decode_hidden=decode_hidden,
        tau=tau,
        regularization_weight=regularization_weight,
    )
