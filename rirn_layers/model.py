"""Full deblurring models: the streaming base class and a (wrapped) cell plus reconstructor.

:class:`StreamingDeblurModel` gives every model one way to run: frame by frame with the
state carried (constant memory, any video length), or a whole clip at once, with the same
results. A model that looks ``future`` frames ahead (ESTRNN, STRCNN) delivers the output of
frame ``t`` once frame ``t + future`` has come in; at the ends of a video it either drops
the frames that lack context (``ends="drop"``, the papers' protocol) or edge-pads the clip
by repeating its first/last frame (``ends="pad"``, the default: every frame gets an output).

The base class is the stream protocol (``step``/``flush``/``forward``) around a subclass's
:meth:`~StreamingDeblurModel.advance`, composed of small pieces with one job each: the
caller's frame convention (:class:`~rirn_layers.frame_io.FrameIO`), the precision of the
steps (:class:`~rirn_layers.fast_path.Precision`), activation checkpointing
(:func:`~rirn_layers.checkpointing.run_step`) and the per-frame value checks
(:func:`~rirn_layers.frame_checks.check_frame_values`).

:class:`RecurrentDeblurNet` is RIRN eq. (1)-(4) end to end:
``L_t = Reconstructor(cat(f_t, h_t, f~_t, h~_t))`` from a
:class:`~rirn_layers.wrap.RecurrentCellWrapper`.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Literal, NamedTuple, cast

import torch
from torch import nn

from rirn_layers._checks import check_clip, check_image, check_matches, check_nonempty, shape_str
from rirn_layers.checkpointing import run_step
from rirn_layers.contracts import FrameReconstructor
from rirn_layers.fast_path import Precision
from rirn_layers.frame_checks import check_frame_values
from rirn_layers.frame_io import FrameIO
from rirn_layers.padding import pad_to_multiple
from rirn_layers.state import Role
from rirn_layers.wrap import RecurrentCellWrapper, RIRNState

__all__ = ["RecurrentDeblurNet", "StreamState", "StreamingDeblurModel", "check_reconstructor"]

Ends = Literal["pad", "drop"]


class StreamState(NamedTuple):
    """State of a :class:`StreamingDeblurModel` between frames.

    Attributes:
        inner: the model's own state (e.g. an :class:`~rirn_layers.RIRNState`).
        last: the last padded input frame (kept to edge-pad the end of the video).
        size: the ``(H, W)`` of the input frames before padding to ``scale``.
        flushed: ``True`` for the state :meth:`StreamingDeblurModel.flush` returns after
            feeding the end padding (the video ended); ``step`` and ``flush`` refuse it.
            Defaults to ``False``, so
            ``StreamState(inner, last, size)`` still builds a live state.
    """

    inner: Any
    last: torch.Tensor
    size: tuple[int, int]
    flushed: bool = False

    @classmethod
    def roles(cls) -> dict[str, Role]:
        """``last`` only pads the end of a video (:mod:`rirn_layers.state`)."""
        return {"last": "end"}


_FLUSHED = "`state` was flushed (the video ended); start a new video with state=None"


def _check_ends(ends: str) -> None:
    if ends not in ("pad", "drop"):
        raise ValueError(f"`ends` must be 'pad' or 'drop', got {ends!r}")


def _check_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be True or False, got {value!r}")
    return value


class StreamingDeblurModel(nn.Module):
    """Base class of a video deblurring model with a streaming step API.

    A subclass calls ``super().__init__()``, sets the class or instance attributes
    ``in_channels``, ``out_channels``, ``scale`` (H and W are padded to a multiple of it),
    ``past`` and ``future`` (frames of context before and after the output frame), and
    ``state_type`` (the type of the inner state its steps carry, checked on the way in;
    ``None``: not checked), and implements :meth:`advance`: one frame, already in the
    network's convention (RGB in ``[0, 1]``, padded to ``scale``), and the inner state in;
    the output for the frame ``future`` steps back once that frame has enough context
    (``None`` before) and the new inner state out. Models with extra per-frame inputs also
    override :meth:`prepare_inputs`. Everything else (the stream protocol, the caller's
    value range and colour order, padding and cropping, the fast path, checkpointing and
    the input checks) is the base class's, switched per instance by the ``set_*`` methods.

    Shape:
        - ``step(frame, state)``: ``(B, C, H, W)`` -> output ``(B, C_out, H, W)`` or ``None``.
        - ``forward(frames, state)``: ``(B, T, C, H, W)`` -> ``(B, T', C_out, H, W)`` with
          ``T' = T`` for ``ends="pad"`` and ``T - past - future`` for ``ends="drop"`` (for a
          whole clip; chunks give the outputs that became ready).

    Example:
        >>> class Mean(StreamingDeblurModel):  # the mean of the last two frames
        ...     past = 1
        ...     def advance(self, frame, state):
        ...         out = frame if state is None else (frame + state) / 2
        ...         return out, frame
        >>> model = Mean().set_io(value_range=(0.0, 255.0))
        >>> out, state = model(torch.full((1, 3, 3, 4, 4), 255.0))
        >>> out.shape, out.max().item(), model.checkpointing
        (torch.Size([1, 3, 3, 4, 4]), 255.0, False)
    """

    in_channels: int | None = 3
    #: Channels of the output frames.
    out_channels: int = 3
    scale: int = 1
    past: int = 0
    future: int = 0
    #: The type of the inner state this model's steps carry (``None``: not checked).
    state_type: type | None = None

    def __init__(self) -> None:
        super().__init__()
        #: The caller's frame convention (:meth:`set_io`).
        self.frame_io = FrameIO()
        #: The precision of the steps (:meth:`set_fast_path`).
        self.precision = Precision()
        #: Recompute each frame's activations in the backward pass instead of keeping them
        #: (:meth:`set_checkpointing`); only in training mode with gradients enabled.
        self.checkpointing = False
        #: ``step`` rejects a frame holding NaN or inf (:meth:`set_input_checks`).
        self.check_finite = True
        #: ``step`` warns (once per model) of frames far outside ``value_range``.
        self.check_value_range = True
        self._range_warned = False

    # -- settings -------------------------------------------------------------------------
    @property
    def value_range(self) -> tuple[float, float]:
        """Value range of the frames the caller passes and gets back (default ``(0, 1)``)."""
        return self.frame_io.value_range

    @value_range.setter
    def value_range(self, value: tuple[float, float]) -> None:
        self.frame_io = dataclasses.replace(self.frame_io, value_range=value)

    @property
    def channel_order(self) -> str:
        """Colour order of the caller's 3-channel frames, ``"rgb"`` (default) or ``"bgr"``."""
        return self.frame_io.channel_order

    @channel_order.setter
    def channel_order(self, value: str) -> None:
        self.frame_io = dataclasses.replace(self.frame_io, channel_order=value)

    @property
    def fast_path(self) -> bool:
        """Whether each step runs on the fast path (:meth:`set_fast_path`)."""
        return self.precision.fast_path

    @fast_path.setter
    def fast_path(self, value: bool) -> None:
        self.precision = dataclasses.replace(self.precision, fast_path=value)

    @property
    def fast_path_dtype(self) -> torch.dtype | None:
        """The reduced precision forced by ``set_fast_path(dtype=...)``; ``None``: per device."""
        return self.precision.dtype

    @property
    def cpu_fast_path_dtype(self) -> torch.dtype | None:
        """What ``set_fast_path()`` measured for the CPU (``None``: float32 is as fast there)."""
        return self.precision.cpu_dtype

    def set_io(
        self, *, value_range: tuple[float, float] = (0.0, 1.0), channel_order: str = "rgb"
    ) -> StreamingDeblurModel:
        """Declare the value range and colour order of the frames in and out.

        The network sees RGB in ``[0, 1]``; frames are mapped there on the way in and back
        on the way out, e.g. ``set_io(value_range=(-0.5, 0.5), channel_order="bgr")`` for
        frames in the convention of the official ESTRNN code, or ``(0, 255)`` for 8-bit data.
        """
        self.frame_io = FrameIO(value_range, channel_order)
        return self

    def set_checkpointing(self, enabled: bool = True) -> StreamingDeblurModel:
        """Trade compute for memory in training: activation checkpointing per frame.

        When enabled, each frame's step keeps only its inputs (the frame and the carried
        state) for the backward pass and recomputes the rest there, so the activation
        memory of back-propagation through ``T`` frames no longer grows with every layer of
        every frame (about one extra forward pass of compute). Outputs and gradients are
        unchanged; random ops (IFI-RNN's stochastic gate) replay the same numbers. It acts
        only when the model is training and gradients are enabled.
        """
        self.checkpointing = _check_flag("enabled", enabled)
        return self

    def set_input_checks(
        self, *, finite: bool = True, value_range: bool = True
    ) -> StreamingDeblurModel:
        """Switch the per-frame input checks of :meth:`step` on or off (both on by default).

        ``finite``: a frame holding NaN or inf raises ``ValueError`` (one bad pixel would
        poison every later frame through the recurrent state). ``value_range``: a frame whose
        values lie far outside the declared ``value_range`` (by more than its width, e.g.
        0..255 frames given to a ``(0, 1)`` model) warns once per model. Together they cost
        one reduction (``torch.aminmax``) of each frame and, on an accelerator, one
        device-to-host sync per frame; turn them off for the last bit of throughput once the
        input is known to be clean. Both are skipped inside ``torch.compile`` (a
        data-dependent check would break the graph).
        """
        self.check_finite = _check_flag("finite", finite)
        self.check_value_range = _check_flag("value_range", value_range)
        return self

    def set_fast_path(
        self, enabled: bool = True, *, dtype: torch.dtype | None = None
    ) -> StreamingDeblurModel:
        """Switch on the fastest path of the device: ``channels_last`` weights, and reduced
        precision (autocast) where the device runs it faster.

        With ``dtype=None`` (default) the precision is chosen for the device of the frames:
        on CUDA bfloat16 (float16 on GPUs without bf16); on the CPU bfloat16 only if a
        one-off measurement finds bf16 convolutions faster than float32 there
        (:func:`rirn_layers.fast_path.cpu_reduced_precision`: CPUs with AMX or AVX-512
        BF16), otherwise full precision, ``channels_last`` only. Pass ``dtype`` to force
        one. In reduced precision, convolutions run in it, states carry it from frame to
        frame, and the returned frames are cast back to the dtype of the input frames;
        expect outputs within about 1e-2 (relative) of full precision. ``enabled=False``
        returns to full precision (the weights stay ``channels_last``). See
        ``docs/performance.md`` and ``benchmarks/fast_path.py`` for the measurements.

        Example:
            >>> from rirn_layers.baselines import build_model
            >>> model = build_model("gru", irm=True, atb=True).eval().set_fast_path()
            >>> with torch.inference_mode():
            ...     out, state = model.step(torch.rand(1, 3, 32, 32))
            >>> out.dtype, out.shape
            (torch.float32, torch.Size([1, 3, 32, 32]))
        """
        Precision(_check_flag("enabled", enabled), dtype)  # check before measuring
        self.precision = Precision.measured(enabled, dtype)
        if enabled:
            self.to(memory_format=torch.channels_last)
        return self

    def out_channels_hint(self) -> int:
        """Deprecated: read :attr:`out_channels`."""
        warnings.warn(
            "StreamingDeblurModel.out_channels_hint() is deprecated; read `out_channels`",
            DeprecationWarning,
            stacklevel=2,
        )
        return int(self.out_channels)

    # -- what a subclass implements -------------------------------------------------------
    def advance(
        self, frame: torch.Tensor, state: Any, **inputs: torch.Tensor
    ) -> tuple[torch.Tensor | None, Any]:
        """Consume one padded frame; return the output that became ready (or None)."""
        raise NotImplementedError

    def prepare_inputs(
        self, inputs: dict[str, Any], frame: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Check and pad the extra per-frame inputs of one frame (none by default)."""
        if inputs:
            raise TypeError(
                f"{type(self).__name__}: takes no extra inputs, got {', '.join(sorted(inputs))}"
            )
        return {}

    # -- the stream protocol --------------------------------------------------------------
    def step(
        self,
        frame: torch.Tensor,
        state: StreamState | None = None,
        *,
        ends: Ends = "pad",
        **inputs: torch.Tensor,
    ) -> tuple[torch.Tensor | None, StreamState]:
        """Feed one frame ``(B, C, H, W)``; returns ``(output or None, state)``.

        The output, when not ``None``, belongs to the frame ``future`` steps back. At the
        first frame (``state=None``) with ``ends="pad"`` the frame is also fed ``past``
        extra times, so the first output belongs to the first frame. ``inputs`` are the
        model's extra per-frame inputs, if it takes any (e.g. ``flow=``).

        A frame holding NaN or inf raises ``ValueError``, and one far outside
        ``value_range`` warns once (:meth:`set_input_checks`; both skipped inside
        ``torch.compile``). ``state`` must be ``None`` or the :class:`StreamState` this model
        returned last, not one that :meth:`flush` returned.
        """
        _check_ends(ends)
        if state is not None:
            state = self._check_stream_state(state)
        frame = self._check_frame(frame)
        padded, size = self.frame_io.to_internal(frame, self.scale)
        extras = self.prepare_inputs(inputs, frame)
        if state is None:
            inner = None
            for _ in range(self.past if ends == "pad" else 0):  # edge-pad the start
                _, inner = self._advance(padded, inner, extras)
        else:
            inner = self._resume(state, frame, size)
        out, inner = self._advance(padded, inner, extras)
        ready = None if out is None else self._output(out, size, frame.dtype)
        return ready, StreamState(inner, padded, size)

    def flush(
        self, state: StreamState, *, ends: Ends = "pad"
    ) -> tuple[list[torch.Tensor], StreamState]:
        """End of the video: emit the ``future`` outputs still pending (``ends="pad"``).

        When it fed the padding frames (``ends="pad"`` and ``future > 0``) the state
        returned is marked ``flushed``: ``step`` and ``flush`` refuse it, as going on from it
        would give outputs for frames that were never fed. Otherwise the state is unchanged
        and a video may go on from it.
        """
        _check_ends(ends)
        state = self._check_stream_state(state)
        if ends == "drop":
            return [], state
        outs, inner = [], state.inner
        for _ in range(self.future):  # edge-pad the end
            out, inner = self._advance(state.last, inner, {})
            if out is not None:
                outs.append(self._output(out, state.size, state.last.dtype))
        return outs, StreamState(inner, state.last, state.size, self.future > 0)

    def forward(
        self,
        frames: torch.Tensor,
        state: StreamState | None = None,
        *,
        ends: Ends = "pad",
        final: bool = True,
        **inputs: torch.Tensor,
    ) -> tuple[torch.Tensor, StreamState]:
        """Run a clip ``(B, T, C, H, W)``; returns ``(outputs (B, T', C_out, H, W), state)``.

        To process a long video in chunks, pass ``final=False`` and the returned state for
        every chunk but the last: the concatenated outputs equal one call on the whole video.
        ``inputs`` are the model's extra per-frame inputs as clips ``(B, T, C, H', W')``.
        """
        owner = type(self).__name__
        frames = check_nonempty(owner, "frames", check_clip(owner, "frames", frames,
                                                            self.in_channels))
        if frames.shape[1] == 0:
            raise ValueError(f"{owner}: `frames` needs T >= 1, got T = 0")
        self._check_clip_inputs(frames, inputs)
        outs = []
        for t, frame in enumerate(frames.unbind(1)):
            given = {name: value[:, t] for name, value in inputs.items()}
            out, state = self.step(frame, state, ends=ends, **given)
            if out is not None:
                outs.append(out)
        assert state is not None
        if final:
            rest, state = self.flush(state, ends=ends)
            outs.extend(rest)
        if not outs:
            b, _, _, h, w = frames.shape
            return frames.new_zeros(b, 0, int(self.out_channels), h, w), state
        return torch.stack(outs, dim=1), state

    # -- the pieces of the protocol -------------------------------------------------------
    def _advance(
        self, frame: torch.Tensor, state: Any, inputs: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor | None, Any]:
        """:meth:`advance` in the model's precision, checkpointed when training with it."""
        checkpointed = self.checkpointing and self.training
        dtype = self.precision.autocast_dtype(frame.device)
        if dtype is None:
            return run_step(self.advance, frame, state, inputs, checkpointed=checkpointed)
        with torch.autocast(frame.device.type, dtype=dtype):
            return run_step(self.advance, frame, state, inputs, checkpointed=checkpointed)

    def _output(self, out: torch.Tensor, size: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
        """The one output path of ``step`` and ``flush``: crop, cast, the caller's convention."""
        return self.frame_io.to_external(out, size, dtype)

    def _check_frame(self, frame: torch.Tensor) -> torch.Tensor:
        owner = type(self).__name__
        frame = check_nonempty(owner, "frame", check_image(owner, "frame", frame, self.in_channels))
        check_matches(owner, "frame", frame, next(self.parameters(), None))
        if not torch.compiler.is_compiling():
            check_range = self.check_value_range and not self._range_warned
            if check_frame_values(owner, frame, finite=self.check_finite,
                                  value_range=self.value_range if check_range else None,
                                  stacklevel=4):
                self._range_warned = True
        return frame

    def _check_stream_state(self, state: object) -> StreamState:
        owner = type(self).__name__
        if not isinstance(state, StreamState):
            if (isinstance(state, tuple) and not hasattr(state, "_fields")
                    and len(state) in (3, 4) and isinstance(state[1], torch.Tensor)):
                state = StreamState(*state)  # e.g. a state rebuilt from a flat tuple
            else:
                raise TypeError(
                    f"{owner}: `state` must be None or the StreamState returned by the "
                    f"previous step, got {type(state).__name__}"
                )
        if state.flushed:
            raise ValueError(f"{owner}: {_FLUSHED}")
        expected = self.state_type
        if expected is not None and not torch.compiler.is_compiling():
            if state.inner is not None and type(state.inner) is not expected:
                raise TypeError(
                    f"{owner}: `state.inner` is {type(state.inner).__name__}, but this "
                    f"model's steps carry {expected.__name__}: pass the StreamState this model "
                    "returned (a state of another model?)"
                )
        return state

    def _resume(self, state: StreamState, frame: torch.Tensor, size: tuple[int, int]) -> Any:
        """The inner state to go on from, once ``state`` is checked against ``frame``."""
        if tuple(state.size) != tuple(size) or state.last.shape[0] != frame.shape[0]:
            raise ValueError(
                f"{type(self).__name__}: `state` belongs to frames of batch "
                f"{state.last.shape[0]} and size {tuple(state.size)}, got `frame` of batch "
                f"{frame.shape[0]} and size {tuple(size)}"
            )
        return state.inner

    def _check_clip_inputs(self, frames: torch.Tensor, inputs: dict[str, torch.Tensor]) -> None:
        owner = type(self).__name__
        for name, value in inputs.items():
            value = check_clip(owner, name, value)
            if value.shape[:2] != frames.shape[:2]:
                raise ValueError(
                    f"{owner}: extra input `{name}` {shape_str(value.shape)} must have the batch "
                    f"and length of `frames` {shape_str(frames.shape)}"
                )


def _first_parameter(module: nn.Module) -> torch.Tensor | None:
    return next(module.parameters(), None)


def check_reconstructor(
    owner: str, reconstructor: object, channels: int, wrapped: RecurrentCellWrapper
) -> FrameReconstructor:
    """Check that ``reconstructor`` decodes ``channels`` features of ``wrapped``'s stride.

    It must be an ``nn.Module`` with the :class:`~rirn_layers.contracts.FrameReconstructor`
    attributes, take ``channels`` input channels, upsample by the cell's measured stride,
    and have its parameters on the device and dtype of the cell's.
    """
    if not isinstance(reconstructor, nn.Module):
        raise TypeError(
            f"{owner}: `reconstructor` must be an nn.Module, got {type(reconstructor).__name__}"
        )
    missing = [a for a in ("in_channels", "out_channels", "scale")
               if not isinstance(getattr(reconstructor, a, None), int)]
    if missing:
        raise TypeError(
            f"{owner}: `reconstructor` ({type(reconstructor).__name__}) needs int attributes "
            f"in_channels, out_channels and scale; missing: {', '.join(missing)}"
        )
    if reconstructor.in_channels != channels:
        raise ValueError(
            f"{owner}: `reconstructor` takes {reconstructor.in_channels} channels but "
            f"`wrapped` gives {channels}"
        )
    if wrapped.stride is None:
        raise ValueError(
            f"{owner}: the cell's features are not at an integer fraction of the frame size "
            "(measured by the dry run of wrap_recurrent_cell), so no reconstructor can bring "
            "them back to the frame size"
        )
    if reconstructor.scale != wrapped.stride:
        raise ValueError(
            f"{owner}: `reconstructor` upsamples x{reconstructor.scale} but the cell's features "
            f"are at 1/{wrapped.stride} of the frame size; build it with scale={wrapped.stride}"
        )
    ours, theirs = _first_parameter(wrapped), _first_parameter(reconstructor)
    if ours is not None and theirs is not None and (
        ours.device != theirs.device or ours.dtype != theirs.dtype
    ):
        raise ValueError(
            f"{owner}: `reconstructor` has parameters of {theirs.dtype} on {theirs.device} but "
            f"the wrapped cell's are {ours.dtype} on {ours.device}; move one with .to()"
        )
    return cast(FrameReconstructor, reconstructor)


class RecurrentDeblurNet(StreamingDeblurModel):
    """Causal recurrent video deblurring: ``L_t = Reconstructor(wrapped(B_t, state).cat())``.

    Frames of any size are padded (replicate) to a multiple of ``pad_multiple`` and the
    output is cropped back, so every input frame gets an output of its own size. The cell's
    extra inputs (:mod:`rirn_layers.cell_inputs`) are served here: the previous output is
    fed back, given ones are passed with the frames (``model(frames, flow=flows)``) and
    padded like them.

    Args:
        wrapped: the cell wrapped by :func:`~rirn_layers.wrap_recurrent_cell`.
        reconstructor: any :class:`~rirn_layers.contracts.FrameReconstructor` (e.g.
            :class:`~rirn_layers.Reconstructor`) that takes ``wrapped.out_channels`` and
            upsamples by the cell's stride ``wrapped.stride``.
        pad_multiple: frame sizes are padded to a multiple of this; default
            ``wrapped.pad_multiple`` (the cell's stride unless given at wrap time). Must be
            a multiple of ``wrapped.pad_multiple``.

    Shape:
        - ``step(frame, state, **given)``: ``(B, C, H, W)`` -> ``(B, C_out, H, W)`` and the
          new state.
        - ``forward(frames, state, **given)``: ``(B, T, C, H, W)`` -> ``(B, T, C_out, H, W)``
          and the final state (pass it back in to continue a long video chunk by chunk).

    Example:
        >>> from torch import nn
        >>> from rirn_layers import Reconstructor, wrap_recurrent_cell
        >>> class Cell(nn.Module):  # x2 downsampling, hidden state at the feature size
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.enc = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        ...         self.rec = nn.Conv2d(16 + 8, 16 + 8, 3, padding=1)
        ...     def forward(self, frame, hidden):
        ...         x = self.enc(frame)
        ...         if hidden is None:
        ...             hidden = x.new_zeros(x.shape[0], 8, *x.shape[-2:])
        ...         f, h = self.rec(torch.cat((x, hidden), 1)).split([16, 8], 1)
        ...         return f, torch.tanh(h)
        >>> wrapped = wrap_recurrent_cell(Cell())
        >>> rec = Reconstructor(wrapped.out_channels, scale=wrapped.stride, residual=True)
        >>> model = RecurrentDeblurNet(wrapped, rec)
        >>> restored, state = model(torch.rand(1, 4, 3, 30, 45))  # odd sizes are fine
        >>> restored.shape
        torch.Size([1, 4, 3, 30, 45])
    """

    state_type = RIRNState

    def __init__(
        self,
        wrapped: RecurrentCellWrapper,
        reconstructor: FrameReconstructor,
        *,
        pad_multiple: int | None = None,
    ) -> None:
        super().__init__()
        owner = "RecurrentDeblurNet"
        if not isinstance(wrapped, RecurrentCellWrapper):
            raise TypeError(
                f"{owner}: `wrapped` must be a RecurrentCellWrapper (from wrap_recurrent_cell), "
                f"got {type(wrapped).__name__}"
            )
        self.wrapped = wrapped
        self.reconstructor = check_reconstructor(owner, reconstructor, wrapped.out_channels,
                                                 wrapped)
        self.in_channels = wrapped.in_channels
        self.out_channels = self.reconstructor.out_channels
        self.scale = self._pad_multiple(pad_multiple)
        self._check_extra_inputs()

    def _pad_multiple(self, pad_multiple: object) -> int:
        if pad_multiple is None:
            return self.wrapped.pad_multiple
        if isinstance(pad_multiple, bool) or not isinstance(pad_multiple, int) or (
            pad_multiple < 1 or pad_multiple % self.wrapped.pad_multiple
        ):
            raise ValueError(
                "RecurrentDeblurNet: `pad_multiple` must be a multiple of the cell's "
                f"pad_multiple {self.wrapped.pad_multiple}, got {pad_multiple!r}"
            )
        return pad_multiple

    def _check_extra_inputs(self) -> None:
        inputs = self.wrapped.extra_inputs
        for name in inputs.names("given"):
            if self.scale % inputs.specs[name].scale:
                raise ValueError(
                    f"RecurrentDeblurNet: extra input `{name}` is at 1/{inputs.specs[name].scale}"
                    f" of the frame size, which must divide the padding multiple {self.scale}"
                )
        out, given = self.reconstructor.out_channels, self.in_channels or 3  # the dry run's
        if inputs.names("previous_output") and out != given:
            raise ValueError(
                "RecurrentDeblurNet: the cell takes the previous output, which starts as the "
                f"first frame ({given} channels), but `reconstructor` outputs {out} channels"
            )

    def prepare_inputs(
        self, inputs: dict[str, Any], frame: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Check each given input against the frame's size and pad it like the frame."""
        specs = self.wrapped.extra_inputs.specs
        padded = {}
        for name, value in inputs.items():
            spec = specs.get(name)
            if spec is None or spec.source != "given" or not isinstance(value, torch.Tensor):
                padded[name] = value  # the wrapper names what is wrong with it
                continue
            size = tuple(-(-s // spec.scale) for s in frame.shape[-2:])
            value = check_image("RecurrentDeblurNet", name, value, spec.channels)
            if tuple(value.shape[-2:]) != size:
                raise ValueError(
                    f"RecurrentDeblurNet: expected extra input `{name}` of size {size} (frame "
                    f"{shape_str(frame.shape)} at 1/{spec.scale}), got {shape_str(value.shape)}"
                )
            padded[name] = pad_to_multiple(value, self.scale // spec.scale)[0]
        return padded

    def advance(
        self, frame: torch.Tensor, state: RIRNState | None, **inputs: torch.Tensor
    ) -> tuple[torch.Tensor, RIRNState]:
        """``L_t = reconstructor(wrapped(frame, state).cat(), frame)``; the output is fed back."""
        features, state = self.wrapped(frame, state, **inputs)
        out = self.reconstructor(features.cat(), frame)
        return out, self.wrapped.feed_output(state, out)
