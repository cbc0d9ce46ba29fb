"""Retrofit IRM and ATB onto any recurrent deblurring cell.

RIRN (Park, Nah and Lee, BMVC 2022) is a pair of add-ons for an existing recurrent cell
``f_t, h_t = Encoder(B_t, h_{t-1})`` (eq. 1): an inner recurrence over the hidden states,
``h~_t = IRM(h_t, h~_{t-1})`` (eq. 3), and a blend of the features,
``f~_t = w~_{t-1} f~_{t-1} + w_t f_t`` (eq. 4). The reconstructor then sees all four,
``L_t = Reconstructor(f_t, h_t, f~_t, h~_t)`` (sec. 3.4). :func:`wrap_recurrent_cell` builds
that step around a user's cell without touching it, for cells written the way published
code writes them: a state of any nesting (:mod:`rirn_layers.cell_state`), extra per-frame
inputs (:mod:`rirn_layers.cell_inputs`), checked by a dry run at wrap time
(:mod:`rirn_layers.cell_probe`).
"""

from __future__ import annotations

import functools
import inspect
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

import torch
from torch import nn

from rirn_layers._checks import check_clip, check_image, check_matches, shape_str
from rirn_layers.cell_inputs import ExtraInputs, Spec
from rirn_layers.cell_probe import CellCall, ProbeResult, probe
from rirn_layers.cell_state import Selector, check_selector, leaves, split_output
from rirn_layers.contracts import PARTS, CellFeatures
from rirn_layers.layers.atb import AdaptiveTemporalBlend
from rirn_layers.layers.irm import InnerRecurrence

__all__ = ["RIRNState", "RecurrentCellWrapper", "detach_state", "wrap_recurrent_cell"]

T = TypeVar("T")
_OWNER = "wrap_recurrent_cell"


class RIRNState(NamedTuple):
    """State carried between frames by :class:`RecurrentCellWrapper`.

    Attributes:
        hidden: the cell's own hidden state, as the cell returned it (a tensor or any
            nesting of tuples/lists/dicts of tensors, e.g. an LSTM's ``(h, c)``).
        memory: IRM's memory ``h~_t`` ``(B, C_h, H, W)``, or ``None`` without IRM.
        blended: the blended feature ``f~_t`` ``(B, C_f, H, W)``, or ``None`` without ATB.
        carried: the cell's ``"previous_frame"``/``"previous_output"`` extra inputs for the
            next frame, by keyword, or ``None`` when it takes none.
    """

    hidden: Any
    memory: torch.Tensor | None
    blended: torch.Tensor | None
    carried: dict[str, torch.Tensor] | None = None


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


def _stack(outputs: list[CellFeatures]) -> CellFeatures:
    """Stack per-frame features along time (dim 1)."""
    def stack(name: str) -> torch.Tensor | None:
        if getattr(outputs[0], name) is None:
            return None
        return torch.stack([getattr(o, name) for o in outputs], dim=1)

    feature, hidden = (torch.stack([getattr(o, n) for o in outputs], dim=1)
                       for n in ("feature", "hidden"))
    return CellFeatures(feature, hidden, stack("blended"), stack("memory"))


def _positive(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TypeError(f"{_OWNER}: `{name}` must be None or an int >= 1, got {value!r}")
    return value


def _check_keywords(cell: nn.Module, names: list[str]) -> None:
    """The cell's ``forward`` must take every extra input, and need nothing else."""
    try:
        signature = inspect.signature(cell.forward)
    except (TypeError, ValueError):  # a builtin or C++ forward: the dry run will tell
        return
    params = list(signature.parameters.values())
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = [n for n in names if n not in {p.name for p in named}]
    if unknown:
        raise TypeError(
            f"{_OWNER}: `extra_inputs` names {unknown}, but {type(cell).__name__}.forward"
            f"{signature} takes no such keyword"
        )
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    needed = [p.name for p in positional[2:] if p.default is p.empty and p.name not in names]
    needed += [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.default is p.empty
               and p.name not in names]
    if needed:
        raise TypeError(
            f"{_OWNER}: {type(cell).__name__}.forward{signature} also needs {needed}, which "
            "the wrapper passes only when declared: extra_inputs={name: 'previous_frame' | "
            "'previous_output' | ExtraInput.given(channels)}"
        )


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
        out_channels: channels of ``out.cat()``: ``C_f + C_h``, plus ``C_f`` with ATB and
            ``C_h`` with IRM.
        stride: the cell's features are at ``1 / stride`` of the frame size (measured at
            wrap time; ``None`` if not an integer fraction).
        pad_multiple: frame sizes a model pads to before the cell (default ``stride``).
        extra_inputs: the cell's extra keyword inputs (:class:`~rirn_layers.ExtraInput`).

    Shape:
        - ``frame``: ``(B, C_in, H, W)``; given extra inputs as declared.
        - Output: a :class:`~rirn_layers.CellFeatures` ``(f_t, h_t, f~_t, h~_t)``, each
          ``(B, C, H / stride, W / stride)`` (``None`` for absent add-ons), and the new
          :class:`RIRNState`.
    """

    def __init__(
        self,
        cell: nn.Module,
        *,
        irm: bool | nn.Module = True,
        atb: bool | nn.Module = True,
        feature: Selector | None = None,
        tracked: Selector = None,
        init_hidden: Callable[[torch.Tensor], Any] | None = None,
        extra_inputs: Mapping[str, Spec] | None = None,
        feature_channels: int | None = None,
        hidden_channels: int | None = None,
        in_channels: int | None = None,
        pad_multiple: int | None = None,
        probe_size: int = 32,
        cache_attributes: Sequence[str] = (),
        hidden_index: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(cell, nn.Module):
            raise TypeError(f"{_OWNER}: `cell` must be an nn.Module, got {type(cell).__name__}")
        if init_hidden is not None and not callable(init_hidden):
            raise TypeError(
                f"{_OWNER}: `init_hidden` must be a callable frame -> initial state, got "
                f"{type(init_hidden).__name__}"
            )
        self.cell = cell
        self.feature = check_selector(_OWNER, "feature", feature)
        self.tracked = self._tracked(tracked, hidden_index)
        self.init_hidden = init_hidden
        self.extra_inputs = ExtraInputs(extra_inputs)
        _check_keywords(cell, list(self.extra_inputs.specs))
        self.cache_attributes = self._names(cache_attributes)
        self.in_channels = self._in_channels(in_channels)
        found = probe(self._call(), self._probe_frame(probe_size, pad_multiple))
        self.feature_channels = self._agree("feature_channels", feature_channels,
                                            found.feature_channels)
        self.hidden_channels = self._agree("hidden_channels", hidden_channels,
                                           found.hidden_channels)
        self.stride = found.stride
        self.pad_multiple = self._pad_multiple(pad_multiple, found)
        factory = self._factory()
        self.irm = self._component(irm, InnerRecurrence, self.hidden_channels, factory, "irm")
        self.atb = self._component(atb, AdaptiveTemporalBlend, self.feature_channels, factory,
                                   "atb")
        self.out_channels = self.channels()

    # -- construction helpers ------------------------------------------------------------
    @staticmethod
    def _tracked(tracked: Selector, hidden_index: int | None) -> Selector:
        if hidden_index is None:
            return check_selector(_OWNER, "tracked", tracked)
        warnings.warn(
            "wrap_recurrent_cell: `hidden_index` is deprecated; pass tracked= (an index, key, "
            "path or callable into the hidden state)",
            DeprecationWarning,
            stacklevel=4,
        )
        if tracked is not None:
            raise TypeError(f"{_OWNER}: pass `tracked` or `hidden_index`, not both")
        if isinstance(hidden_index, bool) or not isinstance(hidden_index, int):
            raise TypeError(f"{_OWNER}: `hidden_index` must be an int, got {hidden_index!r}")
        return None if hidden_index == 0 else functools.partial(_index, index=hidden_index)

    @staticmethod
    def _names(names: Sequence[str]) -> tuple[str, ...]:
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise TypeError(
                f"{_OWNER}: `cache_attributes` must be a tuple of attribute names, got {names!r}"
            )
        return tuple(names)

    def _in_channels(self, in_channels: object) -> int | None:
        if in_channels is None:
            attr = getattr(self.cell, "in_channels", None)
            return attr if isinstance(attr, int) and not isinstance(attr, bool) else None
        return _positive("in_channels", in_channels)

    def _call(self) -> CellCall:
        return CellCall(self.cell, self.feature, self.tracked, self.init_hidden,
                        self.extra_inputs.for_probe, self.cache_attributes)

    def _factory(self) -> dict[str, Any]:
        param = next(self.cell.parameters(), None)
        if param is None:
            return {}
        return {"device": param.device, "dtype": param.dtype}

    def _probe_frame(self, size: object, pad_multiple: object) -> torch.Tensor:
        size = _positive("probe_size", size)
        multiple = _positive("pad_multiple", pad_multiple) or 1
        assert isinstance(size, int)
        size = math.lcm(size, multiple)
        factory = self._factory() or {"dtype": torch.get_default_dtype()}
        channels = 3 if self.in_channels is None else self.in_channels
        return torch.zeros(1, channels, size, size, **factory)

    def _agree(self, name: str, given: object, found: int) -> int:
        source = f"`{name}`"
        if given is None:
            given, source = getattr(self.cell, name, None), f"the cell's `{name}` attribute"
            if not isinstance(given, int) or isinstance(given, bool):
                return found
        if given != found:
            raise ValueError(
                f"{_OWNER}: {source} is {given!r} but the dry run found {found} channels in "
                f"the cell's {'feature' if name == 'feature_channels' else 'tracked hidden state'}"
            )
        return found

    def _pad_multiple(self, pad_multiple: int | None, found: ProbeResult) -> int:
        if pad_multiple is None:
            return found.stride or 1
        if found.stride is not None and pad_multiple % found.stride:
            raise ValueError(
                f"{_OWNER}: `pad_multiple`={pad_multiple} must be a multiple of the cell's "
                f"stride {found.stride} (its features are at 1/{found.stride} of the frame size)"
            )
        return pad_multiple

    def _component(
        self, spec: bool | nn.Module, kind: type[nn.Module], channels: int, factory: dict,
        name: str,
    ) -> nn.Module | None:
        if isinstance(spec, nn.Module):
            param = next(spec.parameters(), None)
            if factory and param is not None and (
                param.device != factory["device"] or param.dtype != factory["dtype"]
            ):
                raise ValueError(
                    f"{_OWNER}: `{name}` has parameters of {param.dtype} on {param.device} but "
                    f"the cell's are {factory['dtype']} on {factory['device']}"
                )
            return spec
        if isinstance(spec, bool):
            return kind(channels, **factory) if spec else None
        raise TypeError(
            f"{_OWNER}: `{name}` must be a bool or an nn.Module, got {type(spec).__name__}"
        )

    # -- channel bookkeeping -------------------------------------------------------------
    def channels(self, *names: str) -> int:
        """Channels of ``out.cat(*names)``: the named parts present (all by default)."""
        sizes = {"feature": self.feature_channels, "hidden": self.hidden_channels,
                 "blended": self.feature_channels if self.atb is not None else 0,
                 "memory": self.hidden_channels if self.irm is not None else 0}
        chosen = names or PARTS
        unknown = [n for n in chosen if n not in PARTS]
        if unknown:
            raise ValueError(f"{_OWNER}: unknown part(s) {unknown}; the parts are {PARTS}")
        return sum(sizes[n] for n in set(chosen))

    # -- forward -------------------------------------------------------------------------
    def _check_state(self, frame: torch.Tensor, state: Any) -> RIRNState:
        if not isinstance(state, tuple) or len(state) not in (3, 4):
            raise TypeError(
                "RecurrentCellWrapper: `state` must be None or the RIRNState returned by the "
                f"previous call, got {type(state).__name__}"
            )
        state = RIRNState(*state)
        first = next(leaves(state.hidden), None)
        for name, value in (("hidden", first), ("memory", state.memory),
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
        self, frame: torch.Tensor, state: RIRNState | None = None, **inputs: torch.Tensor
    ) -> tuple[CellFeatures, RIRNState]:
        frame = check_image("RecurrentCellWrapper", "frame", frame, self.in_channels)
        check_matches("RecurrentCellWrapper", "frame", frame, next(self.parameters(), None))
        state = RIRNState(None, None, None) if state is None else self._check_state(frame, state)
        first = state.hidden is None
        hidden = state.hidden
        if first and self.init_hidden is not None:
            hidden = self.init_hidden(frame)
        extras = self.extra_inputs.for_cell(frame, state.carried, inputs, first)
        feature, hidden, h = split_output(
            self.cell(frame, hidden, **extras), self.feature, self.tracked, "RecurrentCellWrapper"
        )
        feature = check_image("RecurrentCellWrapper", "cell feature", feature,
                              self.feature_channels)
        h = check_image("RecurrentCellWrapper", "cell hidden", h, self.hidden_channels)
        if feature.shape[-2:] != h.shape[-2:]:
            raise ValueError(
                "RecurrentCellWrapper: the cell's feature and hidden state must share their "
                f"spatial size, got feature {shape_str(feature.shape)} and hidden "
                f"{shape_str(h.shape)}; resize one of them inside the cell"
            )
        blended = None if self.atb is None else self.atb(feature, state.blended)
        memory = None if self.irm is None else self.irm(h, state.memory)
        carried = self.extra_inputs.carry(frame)
        return CellFeatures(feature, h, blended, memory), RIRNState(hidden, memory, blended,
                                                                    carried)

    def feed_output(self, state: RIRNState, output: torch.Tensor) -> RIRNState:
        """Hand the model's output for this frame to the next one (``"previous_output"``).

        :class:`~rirn_layers.RecurrentDeblurNet` calls it after every frame; without a
        ``"previous_output"`` extra input it returns ``state`` as it is.
        """
        names = self.extra_inputs.names("previous_output")
        if not names:
            return state
        output = check_image("RecurrentCellWrapper.feed_output", "output", output)
        carried = {**(state.carried or {}), **{name: output for name in names}}
        return state._replace(carried=carried)

    def unroll(
        self, frames: torch.Tensor, state: RIRNState | None = None, **inputs: torch.Tensor
    ) -> tuple[CellFeatures, RIRNState]:
        """Run a clip frame by frame.

        Args:
            frames: ``(B, T, C_in, H, W)``.
            state: the state after the previous chunk, or ``None`` to start fresh.
            **inputs: the given extra inputs, each ``(B, T, C, H', W')``.

        Returns:
            ``(outs, state)`` with ``outs`` a :class:`~rirn_layers.CellFeatures` of
            ``(B, T, C, H / stride, W / stride)`` parts. Calling it on consecutive chunks with
            the carried state gives the same outputs as one call on the whole clip.
        """
        frames = check_clip("RecurrentCellWrapper.unroll", "frames", frames, self.in_channels)
        if frames.shape[1] == 0:
            raise ValueError(
                f"RecurrentCellWrapper.unroll: `frames` needs T >= 1, got {shape_str(frames.shape)}"
            )
        if self.extra_inputs.names("previous_output"):
            raise ValueError(
                "RecurrentCellWrapper.unroll: the cell takes the previous output, which only "
                "a full model has; use RecurrentDeblurNet, or call the wrapper frame by frame "
                "with feed_output()"
            )
        for name, value in inputs.items():
            check_clip("RecurrentCellWrapper.unroll", name, value)
        outs = []
        for t, frame in enumerate(frames.unbind(1)):
            out, state = self(frame, state, **{k: v[:, t] for k, v in inputs.items()})
            outs.append(out)
        assert state is not None
        return _stack(outs), state

    def extra_repr(self) -> str:
        return (
            f"feature_channels={self.feature_channels}, hidden_channels={self.hidden_channels}, "
            f"out_channels={self.out_channels}, stride={self.stride}"
        )


def _index(hidden: Any, index: int) -> torch.Tensor:
    """``hidden[index]`` for a tuple/list state, the state itself for a tensor (legacy)."""
    return hidden if isinstance(hidden, torch.Tensor) else hidden[index]


def wrap_recurrent_cell(
    cell: nn.Module,
    *,
    irm: bool | nn.Module = True,
    atb: bool | nn.Module = True,
    feature: Selector | None = None,
    tracked: Selector = None,
    init_hidden: Callable[[torch.Tensor], Any] | None = None,
    extra_inputs: Mapping[str, Spec] | None = None,
    feature_channels: int | None = None,
    hidden_channels: int | None = None,
    in_channels: int | None = None,
    pad_multiple: int | None = None,
    probe_size: int = 32,
    cache_attributes: Sequence[str] = (),
    hidden_index: int | None = None,
) -> RecurrentCellWrapper:
    """Retrofit RIRN's IRM and ATB onto a recurrent cell (RIRN eq. 1-4).

    The cell is any module called as ``cell(frame, hidden, **extra_inputs)``, with
    ``hidden=None`` (or ``init_hidden(frame)``) at the first frame and the state it returned
    after that. It returns ``(feature, hidden)``, or with ``feature=`` only its new hidden
    state. The state may be a tensor or any nesting of tuples, lists, dicts and named
    tuples of tensors.

    Args:
        cell: the recurrent cell, unchanged.
        irm: add an :class:`~rirn_layers.InnerRecurrence` over the tracked hidden state; or
            pass a module of the same call signature to use instead.
        atb: add an :class:`~rirn_layers.AdaptiveTemporalBlend` over the feature; or pass a
            module of the same call signature, e.g. a
            :class:`~rirn_layers.DynamicTemporalBlend`.
        feature: for a cell that returns only its new hidden state: where the feature ``f_t``
            sits in it (a :data:`~rirn_layers.cell_state.Selector`: an index or key, a path
            such as ``(-1, 0)``, a callable, or ``()`` for a state that is one tensor).
            ``None`` (default): the cell returns ``(feature, hidden)``.
        tracked: which tensor of the hidden state IRM tracks as ``h_t`` (a selector as
            above; default its first tensor, e.g. ``h`` of ``(h, c)``).
        init_hidden: ``frame -> initial state`` for a cell that cannot start from
            ``hidden=None``, e.g. :class:`~rirn_layers.zero_state`.
        extra_inputs: the cell's other per-frame keyword inputs, ``{name: source}`` with
            source ``"previous_frame"``, ``"previous_output"`` or
            :meth:`ExtraInput.given(channels) <rirn_layers.ExtraInput.given>` (passed by the
            caller with each frame); see :mod:`rirn_layers.cell_inputs`.
        feature_channels: channels of the feature, checked against the dry run.
        hidden_channels: channels of the tracked hidden state, checked against the dry run.
        in_channels: channels of the input frames; defaults to the cell's ``in_channels``
            attribute. When known, frames are checked against it (the dry run uses 3 else).
        pad_multiple: frame sizes the cell needs a multiple of, when more than its stride
            (e.g. 16 for a cell that goes down to 1/16 inside and returns features at 1/4).
        probe_size: side of the square zero frame of the dry run (its least common multiple
            with ``pad_multiple``).
        cache_attributes: names of tensor attributes the cell sets on itself as a cache that
            does not depend on the frames' content (otherwise refused, see below).
        hidden_index: deprecated, use ``tracked``.

    The dry run. Here, before any frame of yours, the cell runs two frames on a zero
    ``probe_size`` frame (eval mode, no gradients, RNGs forked, the cell left as it was):
    from its initial state, then from the state it returned. It measures the channel counts
    and the stride, and fails with a ``TypeError``/``ValueError`` naming the likely cause if
    the cell cannot start from ``hidden=None``, returns something other than declared, does
    not accept the state it returns, changes the state's structure between frames, returns
    a feature and a tracked state of different spatial sizes, or stores tensors on itself
    (state kept on the module escapes the wrapper: it would leak between clips and be lost
    on export). All parameters exist (on the cell's device and dtype) as soon as this
    returns, so an optimizer built right away sees every one of them.

    With ``irm=False, atb=False`` the wrapper is the bare cell, ``out.cat()`` is
    ``cat(f_t, h_t)``.

    Shape:
        - ``wrapper(frame, state, **given)``: frame ``(B, C_in, H, W)`` -> a
          :class:`~rirn_layers.CellFeatures` of ``(B, C, H / stride, W / stride)`` parts and
          the new :class:`RIRNState`; ``out.cat()`` is ``(B, out_channels, ...)``.
        - ``wrapper.unroll(frames, state, **given)``: ``(B, T, C_in, H, W)`` -> parts of
          ``(B, T, C, H / stride, W / stride)`` and the final state.

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
        >>> outs.cat().shape, outs.memory.shape
        (torch.Size([2, 5, 48, 32, 32]), torch.Size([2, 5, 8, 32, 32]))
    """
    return RecurrentCellWrapper(
        cell,
        irm=irm,
        atb=atb,
        feature=feature,
        tracked=tracked,
        init_hidden=init_hidden,
        extra_inputs=extra_inputs,
        feature_channels=feature_channels,
        hidden_channels=hidden_channels,
        in_channels=in_channels,
        pad_multiple=pad_multiple,
        probe_size=probe_size,
        cache_attributes=cache_attributes,
        hidden_index=hidden_index,
    )
