"""Export the streaming step of a model as two graphs with explicit state tensors.

Deployment runtimes (mobile, TensorRT, ONNX Runtime) want the per-frame step of a recurrent
model as a fixed-shape graph whose state goes in and comes out as plain tensors.
:func:`export_streaming` runs a :class:`~rirn_layers.model.StreamingDeblurModel` eagerly on
an example frame, flattens its state and builds two modules that any exporter can trace:

- ``start(frames)``: the first ``start_frames`` frames ``(B, start_frames, C, H, W)`` ->
  ``(output, *state)``. With ``ends="pad"`` (default) ``start_frames = future + 1`` (just
  the first frame for a causal model) and the output belongs to the first frame: it is
  eager ``model.step(frame, state, ends="pad")`` on those frames, the last output.
- ``step(frame, *state)``: one frame ``(B, C, H, W)`` -> ``(output, *next_state)``, the
  output of the frame ``future`` steps back (never ``None``: the start fills the window).

The end of a video (``ends="pad"``): feed its last frame ``future`` more times through
``step``; that is exactly what eager ``model.flush(state, ends="pad")`` computes. So a video
of ``T >= 1`` frames is the stream of its frames followed by ``future`` copies of the last
one; ``start`` takes the first ``future + 1`` of that stream, ``step`` each of the rest, and
the ``i``-th output belongs to frame ``i`` (:meth:`StreamingExport.run` drives it). With
``ends="drop"`` (the papers' protocol) ``start`` takes ``past + 1 + future`` frames, its
output belongs to frame ``past``, and nothing is fed after the last frame.

The state. The eager state is flattened by :func:`rirn_layers.state.flatten_state`; its
non-tensor parts (the frame size, ``None`` slots of absent add-ons) become constants of the
modules. Of its tensors, the graphs pass from step to step exactly those of the fields that
the state types declare ``"carried"`` (:mod:`rirn_layers.state`; the default). Tensors of
``"end"`` fields (:class:`~rirn_layers.model.StreamState` ``.last``: only ``flush`` reads
it, and ``flush`` is replaced by ``step`` on the last frame) and of ``"record"`` fields
(IFI-RNN's gate record) are held as constants of the example's shape, so the outputs are
the same.

Shapes are static: the exported graphs take frames of the example frame's ``B, C, H, W``
and dtype (export again for another size). The model must be in eval mode.

ONNX (:meth:`StreamingExport.to_onnx`, :func:`load_onnx`) needs the optional packages
``onnx``, ``onnxscript`` and ``onnxruntime``: ``pip install "rirn-layers[export]"``. See
``docs/export.md`` for the full protocol and its limitations.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from rirn_layers._checks import check_clip, check_image, shape_str
from rirn_layers._optional import require
from rirn_layers.model import Ends, StreamingDeblurModel
from rirn_layers.state import StateLeaf, StateSpec, flatten_state, unflatten_state

__all__ = [
    "ExportedPrograms",
    "OnnxStreaming",
    "StreamingExport",
    "StreamingStart",
    "StreamingStep",
    "export_streaming",
    "load_onnx",
]

class ExportedPrograms(NamedTuple):
    """The two :class:`torch.export.ExportedProgram` s of a :class:`StreamingExport`."""

    start: Any
    step: Any


class OnnxStreaming(NamedTuple):
    """``start`` and ``step`` callables that run the ONNX files in ONNX Runtime."""

    start: Callable[..., tuple[torch.Tensor, ...]]
    step: Callable[..., tuple[torch.Tensor, ...]]


# -- state flattening ---------------------------------------------------------------------
def _state_names(leaves: Sequence[StateLeaf]) -> list[str]:
    """Leaf names without the ``inner.`` of :class:`StreamState` where that stays unique."""
    full = [leaf.name for leaf in leaves]
    short = [n[len("inner.") :] if n.startswith("inner.") else n for n in full]
    return short if len(set(short)) == len(short) else full


def _state_values(state: Any) -> list[Any]:
    leaves, _ = flatten_state(state)
    return [leaf.value for leaf in leaves]


class _Layout:
    """Where the tensors of a flattened eager state go, and the constants around them."""

    def __init__(
        self,
        leaves: list[Any],
        spec: StateSpec,
        keep: list[int],
        drop: list[int],
        frame_shape: tuple[int, ...],
    ) -> None:
        # non-tensor leaves (the frame size, ...) are constants; tensor slots are filled in
        self.leaves = [None if isinstance(x, torch.Tensor) else x for x in leaves]
        self.spec = spec
        self.keep = keep  # leaf indices that are state inputs/outputs, in order
        self.drop = drop  # tensor leaf indices held as constants (buffers of the step)
        self.frame_shape = frame_shape


def _given(
    owner: str, names: Sequence[str], values: Sequence[torch.Tensor]
) -> dict[str, torch.Tensor]:
    if len(values) != len(names):
        raise TypeError(
            f"{owner}: expected the model's given inputs {', '.join(names) or 'none'} after "
            f"`frame(s)`, got {len(values)} tensors"
        )
    return dict(zip(names, values, strict=True))


class StreamingStart(nn.Module):
    """``start(frames) -> (output, *state)``: the first frames of a video (see the module)."""

    def __init__(
        self,
        model: StreamingDeblurModel,
        layout: _Layout,
        frames: int,
        ends: Ends,
        given: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.model = model
        self.layout = layout
        self.frames = frames
        self.ends = ends
        self.given = tuple(given)

    def forward(self, frames: torch.Tensor, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        frames = check_clip("StreamingStart", "frames", frames, self.model.in_channels)
        shape = self.layout.frame_shape
        expected = (shape[0], self.frames, *shape[1:])
        if tuple(frames.shape) != expected:
            raise ValueError(
                f"StreamingStart: expected `frames` of shape {shape_str(expected)}, got "
                f"{shape_str(frames.shape)}"
            )
        given = _given("StreamingStart", self.given, inputs)
        out, state = None, None
        for t in range(self.frames):
            extras = {name: value[:, t] for name, value in given.items()}
            out, state = self.model.step(frames[:, t], state, ends=self.ends, **extras)
        assert out is not None
        leaves = _state_values(state)
        return (out, *(leaves[i] for i in self.layout.keep))


class StreamingStep(nn.Module):
    """``step(frame, *state) -> (output, *next_state)``: one frame (see the module)."""

    def __init__(
        self,
        model: StreamingDeblurModel,
        layout: _Layout,
        ends: Ends,
        dropped: Sequence[torch.Tensor] = (),
        given: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.model = model
        self.layout = layout
        self.ends = ends
        self.given = tuple(given)
        for n, value in enumerate(dropped):
            self.register_buffer(f"dropped_{n}", value.detach().clone(), persistent=False)

    def forward(self, frame: torch.Tensor, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        layout = self.layout
        frame = check_image("StreamingStep", "frame", frame, self.model.in_channels)
        if tuple(frame.shape) != layout.frame_shape:
            raise ValueError(
                f"StreamingStep: expected `frame` of shape {shape_str(layout.frame_shape)}, "
                f"got {shape_str(frame.shape)}"
            )
        k = len(self.given)
        given, state = _given("StreamingStep", self.given, args[:k]), args[k:]
        if len(state) != len(layout.keep):
            raise TypeError(
                f"StreamingStep: expected {len(layout.keep)} state tensors after `frame`"
                + (f" and {', '.join(self.given)}" if self.given else "")
                + f", got {len(state)}"
            )
        leaves = list(layout.leaves)
        for i, value in zip(layout.keep, state, strict=True):
            leaves[i] = value
        for n, i in enumerate(layout.drop):
            leaves[i] = getattr(self, f"dropped_{n}")
        out, new = self.model.step(
            frame, unflatten_state(layout.spec, leaves), ends=self.ends, **given
        )
        if out is None:
            raise RuntimeError("StreamingStep: the model returned no output for this frame")
        new_leaves = _state_values(new)
        return (out, *(new_leaves[i] for i in layout.keep))


# -- the export ---------------------------------------------------------------------------
class StreamingExport:
    """A model's streaming step as ``start``/``step`` modules with explicit state tensors.

    Built by :func:`export_streaming`; see the module docstring for the protocol.

    Attributes:
        start: ``start(frames)``: ``(B, start_frames, C, H, W)`` -> ``(output, *state)``.
        step: ``step(frame, *state)``: ``(B, C, H, W)`` and the state tensors ->
            ``(output, *next_state)``; output ``(B, C_out, H, W)``.
        state_names: a readable name per state tensor (``"hidden"``, ``"memory"``,
            ``"features.0"``, ...), the order of the state in and out of both modules.
        state_shapes: the shape of each state tensor.
        state_dtypes: the dtype of each state tensor (the frame's, or the autocast dtype
            of a model on its fast path).
        frame_shape: ``(B, C, H, W)`` of the example frame: the only shape accepted.
        dtype: the dtype of the example frame.
        past: ``model.past``.
        future: ``model.future``: ``step`` outputs the frame ``future`` steps back.
        ends: ``"pad"`` or ``"drop"``.
        start_frames: frames ``start`` takes: ``future + 1`` (pad) or
            ``past + 1 + future`` (drop).
        input_names / output_names: names of the ONNX inputs and outputs of ``step``
            (``start`` takes ``"frames"`` and has the same outputs):
            ``("frame", *state_names)`` and ``("output", *("next." + n for n in state_names))``.
    """

    def __init__(
        self,
        model: StreamingDeblurModel,
        start: StreamingStart,
        step: StreamingStep,
        state_names: Sequence[str],
        state_shapes: Sequence[torch.Size],
        state_dtypes: Sequence[torch.dtype],
        frame: torch.Tensor,
        ends: Ends,
        inputs: dict[str, torch.Tensor] | None = None,
    ) -> None:
        self.model = model
        self.start = start
        self.step = step
        self.state_names = tuple(state_names)
        self.state_shapes = tuple(state_shapes)
        self.state_dtypes = tuple(state_dtypes)
        self.frame_shape = tuple(frame.shape)
        self.dtype = frame.dtype
        self.device = frame.device
        self.past = int(model.past)
        self.future = int(model.future)
        self.ends = ends
        self.start_frames = start.frames
        self.given_names = tuple(inputs or ())
        self.input_names = ("frame", *self.given_names, *self.state_names)
        self.output_names = ("output", *(f"next.{n}" for n in self.state_names))
        self._example = frame
        self._inputs = dict(inputs or {})
        self._programs: ExportedPrograms | None = None

    def __repr__(self) -> str:
        return (
            f"StreamingExport({type(self.model).__name__}, frame={shape_str(self.frame_shape)}, "
            f"future={self.future}, ends={self.ends!r}, state={list(self.state_names)})"
        )

    def example_inputs(self) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
        """Example arguments ``((frames, *given), (frame, *given, *state))``.

        For ``start`` and ``step``; ``given`` are the model's given extra inputs (none for
        the model zoo), as clips for ``start``.
        """
        def repeat(x: torch.Tensor) -> torch.Tensor:
            x = x.detach().unsqueeze(1)
            return x.expand(x.shape[0], self.start_frames, *x.shape[2:]).contiguous()

        frames = repeat(self._example)
        given = [self._inputs[name] for name in self.given_names]
        with torch.no_grad():
            _, *state = self.start(frames, *(repeat(x) for x in given))
        # distinct tensors: exporters would merge inputs that alias (the start repeats frames)
        step = (self._example.detach().clone(), *(x.detach().clone() for x in given),
                *(s.clone() for s in state))
        return (frames, *(repeat(x) for x in given)), step

    def torch_export(self, **kwargs: Any) -> ExportedPrograms:
        """``torch.export.export`` both modules; returns ``(start, step)`` programs.

        Keyword arguments go to :func:`torch.export.export` (e.g. ``strict=True``). The
        result of the first call without arguments is cached (``to_onnx`` reuses it).
        """
        if not kwargs and self._programs is not None:
            return self._programs
        start_args, step_args = self.example_inputs()
        programs = ExportedPrograms(
            torch.export.export(self.start, start_args, **kwargs),
            torch.export.export(self.step, step_args, **kwargs),
        )
        if not kwargs:
            self._programs = programs
        return programs

    def metadata(self) -> dict[str, str]:
        """What a runtime needs to drive the two graphs (stored in the ONNX files too)."""
        return {
            "rirn_layers.model": type(self.model).__name__,
            "rirn_layers.future": str(self.future),
            "rirn_layers.past": str(self.past),
            "rirn_layers.ends": self.ends,
            "rirn_layers.start_frames": str(self.start_frames),
            "rirn_layers.frame_shape": json.dumps(list(self.frame_shape)),
            "rirn_layers.state_names": json.dumps(list(self.state_names)),
            "rirn_layers.given_names": json.dumps(list(self.given_names)),
        }

    def to_onnx(
        self, directory: str | Path, *, opset_version: int | None = None
    ) -> tuple[Path, Path]:
        """Write ``start.onnx`` and ``step.onnx`` to ``directory``; returns their paths.

        Uses ``torch.onnx.export(..., dynamo=True)`` on the programs of
        :meth:`torch_export`. Inputs are named ``frames`` (start) and :attr:`input_names`
        (step), outputs :attr:`output_names`; :meth:`metadata` goes into the files'
        ``metadata_props``. Needs ``onnx`` and ``onnxscript`` (the ``export`` extra).
        """
        for module in ("onnx", "onnxscript"):
            require(module, extra="export", purpose="StreamingExport.to_onnx")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        programs = self.torch_export()
        start_args, step_args = self.example_inputs()
        paths = []
        for role, program, args, inputs in (
            ("start", programs.start, start_args, ("frames", *self.given_names)),
            ("step", programs.step, step_args, self.input_names),
        ):
            onnx_program = torch.onnx.export(
                program,
                args,
                dynamo=True,
                input_names=list(inputs),
                output_names=list(self.output_names),
                opset_version=opset_version,
                verbose=False,
            )
            assert onnx_program is not None
            props = onnx_program.model.metadata_props
            props.update(self.metadata())
            props["rirn_layers.role"] = role
            path = directory / f"{role}.onnx"
            onnx_program.save(str(path), external_data=False)
            paths.append(path)
        return paths[0], paths[1]

    def run(
        self,
        frames: torch.Tensor,
        start: Callable[..., Sequence[torch.Tensor]] | None = None,
        step: Callable[..., Sequence[torch.Tensor]] | None = None,
        **inputs: torch.Tensor,
    ) -> torch.Tensor:
        """Deblur a whole clip ``(B, T, C, H, W)`` with the start/step protocol.

        ``start`` and ``step`` default to :attr:`start` and :attr:`step`; pass e.g. the
        ``.module()`` of the :meth:`torch_export` programs or :func:`load_onnx`'s callables
        to run those instead. ``inputs`` are the model's given extra inputs as clips
        ``(B, T, C, h, w)``. Returns ``(B, T, C_out, H, W)`` (``ends="pad"``, ``T >= 1``)
        or ``(B, T - past - future, C_out, H, W)`` (``ends="drop"``), equal to ``model(frames)``.
        """
        start = self.start if start is None else start
        step = self.step if step is None else step
        frames = check_clip("StreamingExport.run", "frames", frames, self.frame_shape[1])
        b, t, c, h, w = frames.shape
        needed = 1 if self.ends == "pad" else self.start_frames
        if (b, c, h, w) != self.frame_shape or t < needed:
            expected = (self.frame_shape[0], f"T >= {needed}", *self.frame_shape[1:])
            raise ValueError(
                f"StreamingExport.run: expected `frames` of shape "
                f"({', '.join(str(s) for s in expected)}), got {shape_str(frames.shape)}"
            )
        if set(inputs) != set(self.given_names):
            raise TypeError(
                f"StreamingExport.run: expected the given inputs "
                f"{', '.join(self.given_names) or 'none'}, got {', '.join(inputs) or 'none'}"
            )
        given = [inputs[name] for name in self.given_names]
        if self.ends == "pad" and self.future:
            frames, *given = (torch.cat((x, x[:, -1:].expand(-1, self.future, *x.shape[2:])), 1)
                              for x in (frames, *given))
        n = self.start_frames
        with torch.no_grad():
            out, *state = start(frames[:, :n].contiguous(), *(x[:, :n].contiguous() for x in given))
            outs = [out]
            for i in range(n, frames.shape[1]):
                extras = (x[:, i].contiguous() for x in given)
                out, *state = step(frames[:, i].contiguous(), *extras, *state)
                outs.append(out)
        return torch.stack(outs, dim=1)


def _frames_per_start(model: StreamingDeblurModel, ends: Ends) -> int:
    return int(model.future) + 1 + (int(model.past) if ends == "drop" else 0)


def export_streaming(
    model: StreamingDeblurModel,
    example_frame: torch.Tensor,
    *,
    ends: Ends = "pad",
    prune: bool = True,
    example_inputs: dict[str, torch.Tensor] | None = None,
) -> StreamingExport:
    """Build exportable ``start``/``step`` modules of ``model`` for frames like ``example_frame``.

    Args:
        model: a :class:`~rirn_layers.model.StreamingDeblurModel` (e.g. from
            :func:`rirn_layers.baselines.build_model`) in eval mode.
        example_frame: ``(B, C, H, W)``, ``C = model.in_channels``; fixes the batch size,
            the frame size and the dtype of the export (any ``H, W``: the model pads them).
        ends: ``"pad"`` (default: every frame gets an output) or ``"drop"`` (the papers'
            protocol), as in :meth:`~rirn_layers.model.StreamingDeblurModel.step`.
        prune: carry only the tensors of ``"carried"`` state fields from step to step (see
            the module docstring); ``False`` carries every tensor of the eager state,
            ``last`` included.
        example_inputs: for a model whose cell takes given extra inputs (e.g. a flow,
            :meth:`rirn_layers.ExtraInput.given`): one frame's worth of each, by name. They
            become inputs of both graphs, after the frame(s) and before the state.

    Returns:
        A :class:`StreamingExport`: ``start`` and ``step`` modules, ``state_names``,
        ``future``, :meth:`~StreamingExport.torch_export` and :meth:`~StreamingExport.to_onnx`.

    Raises:
        TypeError: ``model`` is not a StreamingDeblurModel, or ``example_frame`` not a
            floating tensor.
        ValueError: ``model`` in training mode, ``example_frame`` of the wrong shape,
            ``ends`` unknown, or a state whose structure changes from frame to frame (a
            fixed-shape graph cannot carry it).

    Example:
        >>> from rirn_layers.baselines import build_model
        >>> model = build_model("gru", irm=True, atb=True).eval()
        >>> exported = export_streaming(model, torch.rand(1, 3, 32, 32))
        >>> exported.state_names, exported.future
        (('hidden', 'memory', 'blended'), 0)
        >>> clip = torch.rand(1, 4, 3, 32, 32)
        >>> with torch.no_grad():
        ...     out, *state = exported.start(clip[:, :1])     # frame 0
        ...     for t in range(1, 4):
        ...         out, *state = exported.step(clip[:, t], *state)
        ...     torch.equal(exported.run(clip), model(clip)[0])
        True
        >>> programs = exported.torch_export()  # doctest: +SKIP
        >>> exported.to_onnx("deblur_onnx")  # doctest: +SKIP
        (PosixPath('deblur_onnx/start.onnx'), PosixPath('deblur_onnx/step.onnx'))
    """
    if not isinstance(model, StreamingDeblurModel):
        raise TypeError(
            "export_streaming: `model` must be a StreamingDeblurModel (e.g. from "
            f"rirn_layers.baselines.build_model), got {type(model).__name__}"
        )
    if ends not in ("pad", "drop"):
        raise ValueError(f"export_streaming: `ends` must be 'pad' or 'drop', got {ends!r}")
    training = [name or type(model).__name__ for name, m in model.named_modules() if m.training]
    if training:
        raise ValueError(
            "export_streaming: `model` must be in eval mode (call model.eval() first; "
            f"training-mode layers such as BatchNorm or IFI-RNN's gate do not export), but "
            f"{len(training)} module(s) are training, e.g. {training[0]!r}"
        )
    if not isinstance(example_frame, torch.Tensor):
        raise TypeError(
            "export_streaming: `example_frame` must be a torch.Tensor, got "
            f"{type(example_frame).__name__}"
        )
    channels = model.in_channels
    if example_frame.dim() != 4 or (channels is not None and example_frame.shape[1] != channels):
        raise ValueError(
            f"export_streaming: expected `example_frame` of shape "
            f"(B, {'C' if channels is None else channels}, H, W), got "
            f"{shape_str(example_frame.shape)}"
        )
    frame = check_image("export_streaming", "example_frame", example_frame, channels)
    frame = frame.detach()
    n = _frames_per_start(model, ends)
    inputs = {k: v.detach() for k, v in (example_inputs or {}).items()}

    # eager run: the state after `start`, and after one more step (must have the same layout)
    with torch.no_grad():
        state = None
        out = None
        for _ in range(n):
            out, state = model.step(frame, state, ends=ends, **inputs)
        if out is None:
            raise ValueError(
                f"export_streaming: {type(model).__name__} gave no output after {n} frames "
                f"(future={model.future}); its `future` does not match its step"
            )
        flat, spec = flatten_state(state)
        _, next_state = model.step(frame, state, ends=ends, **inputs)
    next_flat, next_spec = flatten_state(next_state)
    leaves = [leaf.value for leaf in flat]
    names = _state_names(flat)
    _check_layout(model, n, names, leaves, spec, [leaf.value for leaf in next_flat], next_spec)

    tensors = [i for i, leaf in enumerate(flat) if isinstance(leaf.value, torch.Tensor)]
    keep = [i for i in tensors if not prune or flat[i].role == "carried"]
    drop = [i for i in tensors if i not in keep]
    given = list(inputs)
    layout = _Layout(leaves, spec, keep, drop, tuple(frame.shape))
    return StreamingExport(
        model,
        StreamingStart(model, layout, n, ends, given),
        StreamingStep(model, layout, ends, [leaves[i] for i in drop], given),
        [names[i] for i in keep],
        [leaves[i].shape for i in keep],
        [leaves[i].dtype for i in keep],
        frame,
        ends,
        inputs,
    )


def _check_layout(
    model: StreamingDeblurModel,
    frames: int,
    names: list[str],
    leaves: list[Any],
    spec: StateSpec,
    next_leaves: list[Any],
    next_spec: StateSpec,
) -> None:
    """The state after ``start`` and after one more step must have one fixed layout."""
    owner = f"export_streaming: {type(model).__name__}"
    if spec != next_spec:
        raise ValueError(
            f"{owner}'s state changes structure from frame to frame even after the first "
            f"{frames} frame(s) ({spec} then {next_spec}); a fixed-shape graph cannot carry it"
        )
    for name, a, b in zip(names, leaves, next_leaves, strict=True):
        if isinstance(a, torch.Tensor) != isinstance(b, torch.Tensor):
            raise ValueError(f"{owner}: state entry {name!r} changes type between frames")
        if isinstance(a, torch.Tensor):
            if a.shape != b.shape or a.dtype != b.dtype:
                raise ValueError(
                    f"{owner}: state tensor {name!r} changes from {shape_str(a.shape)} "
                    f"{a.dtype} to {shape_str(b.shape)} {b.dtype} between frames"
                )
        elif a != b:
            raise ValueError(
                f"{owner}: non-tensor state entry {name!r} changes between frames "
                f"({a!r} then {b!r}); it would be frozen into the graph"
            )


def load_onnx(
    directory: str | Path, *, providers: Sequence[str] | None = None
) -> OnnxStreaming:
    """Open ``start.onnx`` and ``step.onnx`` of :meth:`StreamingExport.to_onnx` in ONNX Runtime.

    Returns ``(start, step)`` callables with the signatures of :attr:`StreamingExport.start`
    and :attr:`StreamingExport.step` on torch tensors (moved to the CPU for the runtime),
    ready for :meth:`StreamingExport.run`. Needs ``onnxruntime`` (the ``export`` extra).
    """
    onnxruntime = require("onnxruntime", extra="export", purpose="load_onnx")

    directory = Path(directory)
    chosen = list(providers) if providers is not None else ["CPUExecutionProvider"]

    def session(role: str) -> Callable[..., tuple[torch.Tensor, ...]]:
        path = directory / f"{role}.onnx"
        if not path.is_file():
            raise FileNotFoundError(f"load_onnx: no {path}; write it with StreamingExport.to_onnx")
        sess = onnxruntime.InferenceSession(str(path), providers=chosen)
        names = [i.name for i in sess.get_inputs()]

        def call(*inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
            if len(inputs) != len(names):
                raise TypeError(
                    f"{role}.onnx takes {len(names)} inputs {names}, got {len(inputs)}"
                )
            feeds = {
                n: x.detach().cpu().contiguous().numpy()
                for n, x in zip(names, inputs, strict=True)
            }
            return tuple(torch.from_numpy(o) for o in sess.run(None, feeds))

        return call

    return OnnxStreaming(session("start"), session("step"))
