"""Retrofit IRM and ATB onto any recurrent deblurring cell.

RIRN (Park, Nah and Lee, BMVC 2022) is a pair of add-ons for an existing recurrent cell
``f_t, h_t = Encoder(B_t, h_{t-1})`` (eq. 1): an inner recurrence over the hidden states,
``h~_t = IRM(h_t, h~_{t-1})`` (eq. 3), and a blend of the features,
``f~_t = w~_{t-1} f~_{t-1} + w_t f_t`` (eq. 4). The reconstructor then sees all four,
``L_t = Reconstructor(f_t, h_t, f~_t, h~_t)`` (sec. 3.4). :func:`wrap_recurrent_cell` builds
that step around a user's cell without touching it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, TypeVar

import torch
from torch import nn

from rirn_layers._checks import check_clip, check_image, shape_str
from rirn_layers.layers.atb import AdaptiveTemporalBlend
from rirn_layers.layers.irm import InnerRecurrence

__all__ = ["RIRNState", "RecurrentCellWrapper", "detach_state", "wrap_recurrent_cell"]

_PROBE_SIZE = 64
T = TypeVar("T")


class RIRNState(NamedTuple):
    """State carried between frames by :class:`RecurrentCellWrapper`.

    Attributes:
        hidden: the cell's own hidden state ``h_t``, as the cell returned it (a tensor or a
            tuple/list of tensors such as an LSTM's ``(h, c)``).
        memory: IRM's memory ``h~_t`` ``(B, C_h, H, W)``, or ``None`` without IRM.
        blended: the blended feature ``f~_t`` ``(B, C_f, H, W)``, or ``None`` without ATB.
    """

    hidden: Any
    memory: torch.Tensor | None
    blended: torch.Tensor | None


def detach_state(state: T) -> T:
    """Detach every tensor in ``state`` from the autograd graph (truncated BPTT).

    Works on :class:`RIRNState` and on any nesting of tensors, tuples (named ones included),
    lists and dicts; other leaves (``None``, numbers) are returned as they are.

    Example:
        >>> state = RIRNState(torch.ones(1, requires_grad=True) * 2, None, None)
        >>> detach_state(state).hidden.requires_grad
        False
    """
    if isinstance(state, torch.Tensor):
        return state.detach()  # type: ignore[return-value]
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(detach_state(s) for s in state))  # type: ignore[return-value]
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)  # type: ignore[return-value]
    if isinstance(state, Mapping):
        return type(state)({k: detach_state(v) for k, v in state.items()})  # type: ignore[call-arg]
    return state


def _first_tensor(state: Any) -> torch.Tensor | None:
    if isinstance(state, torch.Tensor):
        return state
    if isinstance(state, (tuple, list)):
        for s in state:
            t = _first_tensor(s)
            if t is not None:
                return t
    return None


class RecurrentCellWrapper(nn.Module):
    """A recurrent cell with RIRN's inner recurrence (IRM) and adaptive blending (ATB).

    Built by :func:`wrap_recurrent_cell`; see there for the arguments. One call processes one
    frame: ``out, state = wrapper(frame, state)``.

    Attributes:
        cell: the wrapped cell.
        irm: the :class:`~rirn_layers.InnerRecurrence` (or given module), or ``None``.
        atb: the :class:`~rirn_layers.AdaptiveTemporalBlend` (or given module), or ``None``.
        feature_channels: channels ``C_f`` of the cell's feature ``f_t``.
        hidden_channels: channels ``C_h`` of the tracked hidden state ``h_t``.
        out_channels: ``C_f + C_h`` plus ``C_f`` with ATB plus ``C_h`` with IRM.

    Shape:
        - ``frame``: ``(B, C_in, H, W)``.
        - Output: ``(B, out_channels, H', W')``, the concatenation of ``f_t, h_t, f~_t, h~_t``
          (those present) at the cell's feature resolution ``H' x W'``, and the new state.
    """

    def __init__(
        self,
        cell: nn.Module,
        *,
        irm: bool | nn.Module = True,
        atb: bool | nn.Module = True,
        feature_channels: int | None = None,
        hidden_channels: int | None = None,
        hidden_index: int = 0,
        in_channels: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(cell, nn.Module):
            raise TypeError(
                f"wrap_recurrent_cell: `cell` must be an nn.Module, got {type(cell).__name__}"
            )
        self.cell = cell
        self.hidden_index = hidden_index
        if in_channels is None:
            attr = getattr(cell, "in_channels", None)
            in_channels = attr if isinstance(attr, int) else None
        self.in_channels = in_channels
        if feature_channels is None:
            feature_channels = getattr(cell, "feature_channels", None)
        if hidden_channels is None:
            hidden_channels = getattr(cell, "hidden_channels", None)
        if not isinstance(feature_channels, int) or not isinstance(hidden_channels, int):
            feature_channels, hidden_channels = self._probe(feature_channels, hidden_channels)
        self.feature_channels = feature_channels
        self.hidden_channels = hidden_channels
        factory = self._factory()
        self.irm = self._component(irm, InnerRecurrence, hidden_channels, factory, "irm")
        self.atb = self._component(atb, AdaptiveTemporalBlend, feature_channels, factory, "atb")
        self.out_channels = (
            feature_channels
            + hidden_channels
            + (feature_channels if self.atb is not None else 0)
            + (hidden_channels if self.irm is not None else 0)
        )

    # -- construction helpers ------------------------------------------------------------
    def _factory(self) -> dict[str, Any]:
        param = next(self.cell.parameters(), None)
        if param is None:
            return {}
        return {"device": param.device, "dtype": param.dtype}

    @staticmethod
    def _component(
        spec: bool | nn.Module, kind: type[nn.Module], channels: int, factory: dict, name: str
    ) -> nn.Module | None:
        if isinstance(spec, nn.Module):
            return spec
        if isinstance(spec, bool):
            return kind(channels, **factory) if spec else None
        raise TypeError(
            f"wrap_recurrent_cell: `{name}` must be a bool or an nn.Module, "
            f"got {type(spec).__name__}"
        )

    def _probe(self, feature_channels: Any, hidden_channels: Any) -> tuple[int, int]:
        """Infer channel counts from one dry run of the cell on a zero frame."""
        factory = self._factory() or {"dtype": torch.get_default_dtype()}
        channels = 3 if self.in_channels is None else self.in_channels
        frame = torch.zeros(1, channels, _PROBE_SIZE, _PROBE_SIZE, **factory)
        modes = {m: m.training for m in self.cell.modules()}
        self.cell.eval()
        try:
            with torch.no_grad():
                feature, hidden = self.cell(frame, None)
        except Exception as err:  # the cell's own error, re-raised with the fix
            raise TypeError(
                f"wrap_recurrent_cell: could not infer channel counts by running "
                f"{type(self.cell).__name__} on a zero frame {shape_str(frame.shape)} "
                f"({type(err).__name__}: {err}); pass in_channels= if the cell does not take "
                "RGB frames, or pass feature_channels= and hidden_channels="
            ) from err
        finally:
            for module, mode in modes.items():
                module.training = mode
        h = self._select(hidden)
        return (
            feature_channels if isinstance(feature_channels, int) else int(feature.shape[1]),
            hidden_channels if isinstance(hidden_channels, int) else int(h.shape[1]),
        )

    # -- forward -------------------------------------------------------------------------
    def _select(self, hidden: Any) -> torch.Tensor:
        if isinstance(hidden, (tuple, list)):
            if not -len(hidden) <= self.hidden_index < len(hidden):
                raise ValueError(
                    f"wrap_recurrent_cell: `hidden_index`={self.hidden_index} is out of range "
                    f"for a hidden state of {len(hidden)} tensors"
                )
            hidden = hidden[self.hidden_index]
        if not isinstance(hidden, torch.Tensor):
            raise TypeError(
                "wrap_recurrent_cell: the cell must return (feature, hidden) with hidden a "
                f"tensor or a tuple/list of tensors, got {type(hidden).__name__}"
            )
        return hidden

    def _check_state(self, frame: torch.Tensor, state: Any) -> RIRNState:
        if not isinstance(state, tuple) or len(state) != 3:
            raise TypeError(
                "RecurrentCellWrapper: `state` must be None or the RIRNState returned by the "
                f"previous call, got {type(state).__name__}"
            )
        state = RIRNState(*state)
        for name, value in (("hidden", _first_tensor(state.hidden)), ("memory", state.memory),
                            ("blended", state.blended)):
            if value is not None and value.shape[0] != frame.shape[0]:
                raise ValueError(
                    f"RecurrentCellWrapper: `state.{name}` has batch size {value.shape[0]} "
                    f"{shape_str(value.shape)}, but `frame` has batch size {frame.shape[0]} "
                    f"{shape_str(frame.shape)}"
                )
        for name, value, layer in (("memory", state.memory, self.irm),
                                   ("blended", state.blended, self.atb)):
            if state.hidden is not None and (value is None) != (layer is None):
                raise ValueError(
                    f"RecurrentCellWrapper: `state.{name}` is "
                    f"{'missing' if value is None else 'present'} but this wrapper has "
                    f"{'an' if layer is not None else 'no'} {'IRM' if name == 'memory' else 'ATB'}"
                    "; pass the state returned by this wrapper"
                )
        return state

    def forward(
        self, frame: torch.Tensor, state: RIRNState | None = None
    ) -> tuple[torch.Tensor, RIRNState]:
        frame = check_image("RecurrentCellWrapper", "frame", frame, self.in_channels)
        if state is None:
            state = RIRNState(None, None, None)
        else:
            state = self._check_state(frame, state)
        feature, hidden = self.cell(frame, state.hidden)
        h = self._select(hidden)
        feature = check_image(
            "RecurrentCellWrapper", "cell feature", feature, self.feature_channels
        )
        h = check_image("RecurrentCellWrapper", "cell hidden", h, self.hidden_channels)
        if feature.shape[-2:] != h.shape[-2:]:
            raise ValueError(
                "RecurrentCellWrapper: the cell's feature and hidden state must share their "
                f"spatial size, got feature {shape_str(feature.shape)} and hidden "
                f"{shape_str(h.shape)}; resize one of them inside the cell"
            )
        parts = [feature, h]
        blended = memory = None
        if self.atb is not None:
            blended = self.atb(feature, state.blended)
            parts.append(blended)
        if self.irm is not None:
            memory = self.irm(h, state.memory)
            parts.append(memory)
        return torch.cat(parts, dim=1), RIRNState(hidden, memory, blended)

    def unroll(
        self, frames: torch.Tensor, state: RIRNState | None = None
    ) -> tuple[torch.Tensor, RIRNState]:
        """Run a clip frame by frame.

        Args:
            frames: ``(B, T, C_in, H, W)``.
            state: the state after the previous chunk, or ``None`` to start fresh.

        Returns:
            ``(outs, state)`` with ``outs`` ``(B, T, out_channels, H', W')``. Calling it on
            consecutive chunks with the carried state gives the same outputs as one call on
            the whole clip.
        """
        frames = check_clip("RecurrentCellWrapper.unroll", "frames", frames, self.in_channels)
        if frames.shape[1] == 0:
            raise ValueError(
                f"RecurrentCellWrapper.unroll: `frames` needs T >= 1, got {shape_str(frames.shape)}"
            )
        outs = []
        for frame in frames.unbind(1):
            out, state = self(frame, state)
            outs.append(out)
        assert state is not None
        return torch.stack(outs, dim=1), state

    def extra_repr(self) -> str:
        return (
            f"feature_channels={self.feature_channels}, hidden_channels={self.hidden_channels}, "
            f"out_channels={self.out_channels}, hidden_index={self.hidden_index}"
        )


def wrap_recurrent_cell(
    cell: nn.Module,
    *,
    irm: bool | nn.Module = True,
    atb: bool | nn.Module = True,
    feature_channels: int | None = None,
    hidden_channels: int | None = None,
    hidden_index: int = 0,
    in_channels: int | None = None,
) -> RecurrentCellWrapper:
    """Retrofit RIRN's IRM and ATB onto a recurrent cell (RIRN eq. 1-4).

    Args:
        cell: any module with ``feature, hidden = cell(frame, hidden)``, called with
            ``hidden=None`` at the first frame. ``hidden`` may be a tensor or a tuple/list of
            tensors; IRM tracks ``hidden[hidden_index]`` then (e.g. ``h`` of an LSTM's
            ``(h, c)``). Feature and tracked hidden state must share their spatial size.
        irm: add an :class:`~rirn_layers.InnerRecurrence` over the hidden state; or pass a
            module of the same call signature to use instead.
        atb: add an :class:`~rirn_layers.AdaptiveTemporalBlend` over the feature; or pass a
            module of the same call signature, e.g. a
            :class:`~rirn_layers.DynamicTemporalBlend`.
        feature_channels: channels of the cell's feature.
        hidden_channels: channels of the tracked hidden state.
        hidden_index: which tensor of a tuple/list hidden state IRM tracks.
        in_channels: channels of the input frames; defaults to the cell's ``in_channels``
            attribute. When known, frames are checked against it.

    Channel counts not given are read from the cell's ``feature_channels`` /
    ``hidden_channels`` attributes, and failing that inferred by one dry run of the cell
    (in eval mode, without gradients, modes restored) on a zero ``64 x 64`` frame with
    ``in_channels`` channels (3, RGB, if unknown). The inference happens here, so all
    parameters exist (on the cell's device and dtype) as soon as this returns and an
    optimizer built right away sees every one of them.

    With ``irm=False, atb=False`` the wrapper is the bare cell, its output ``cat(f_t, h_t)``.

    Shape:
        - ``wrapper(frame, state)``: frame ``(B, C_in, H, W)`` ->
          ``(B, out_channels, H', W')`` and the new :class:`RIRNState`.
        - ``wrapper.unroll(frames, state)``: ``(B, T, C_in, H, W)`` ->
          ``(B, T, out_channels, H', W')`` and the final state.

    Example:
        >>> class Cell(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.conv = nn.Conv2d(3 + 8, 16 + 8, 3, padding=1)
        ...     def forward(self, frame, hidden):
        ...         if hidden is None:
        ...             hidden = frame.new_zeros(frame.shape[0], 8, *frame.shape[-2:])
        ...         feature, hidden = self.conv(torch.cat((frame, hidden), 1)).split([16, 8], 1)
        ...         return feature, torch.tanh(hidden)
        >>> wrapped = wrap_recurrent_cell(Cell())
        >>> wrapped.out_channels   # f (16) + h (8) + f~ (16) + h~ (8)
        48
        >>> outs, state = wrapped.unroll(torch.rand(2, 5, 3, 32, 32))
        >>> outs.shape
        torch.Size([2, 5, 48, 32, 32])
    """
    return RecurrentCellWrapper(
        cell,
        irm=irm,
        atb=atb,
        feature_channels=feature_channels,
        hidden_channels=hidden_channels,
        hidden_index=hidden_index,
        in_channels=in_channels,
    )
