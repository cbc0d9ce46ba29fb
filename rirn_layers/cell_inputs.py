"""Per-frame inputs a cell takes besides the frame and its hidden state.

Many published cells need more than ``(frame, hidden)`` at each step: the previous blurry
frame (to estimate motion, as BasicVSR's SpyNet or STFAN's filter network do), the
previous *restored* frame (STFAN, RNN-MBP feed their output back), or an optical flow
computed outside the cell. :class:`ExtraInput` declares one such keyword argument of the
cell's ``forward``; :func:`~rirn_layers.wrap_recurrent_cell` takes a dict of them,
``extra_inputs={"flow": ExtraInput.given(2), "previous": "previous_frame"}``, and passes
them to the cell by keyword at every frame:

- ``"previous_frame"``: the frame before this one (the frame itself at the first frame),
  kept in the wrapper's state;
- ``"previous_output"``: the model's output for the frame before (the frame itself at the
  first frame); :class:`~rirn_layers.RecurrentDeblurNet` feeds it back, a standalone
  wrapper gets it through :meth:`~rirn_layers.RecurrentCellWrapper.feed_output`;
- :meth:`ExtraInput.given`: a tensor the caller passes with each frame
  (``model(frames, flow=flows)``, ``model.step(frame, state, flow=flow)``).

Both carried kinds live in :attr:`~rirn_layers.RIRNState.carried`, so streaming frame by
frame, in chunks or over the whole clip gives the same results.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

import torch

from rirn_layers._checks import shape_str

__all__ = ["ExtraInput", "ExtraInputs"]

Source = Literal["previous_frame", "previous_output", "given"]
_CARRIED = ("previous_frame", "previous_output")


@dataclasses.dataclass(frozen=True)
class ExtraInput:
    """One extra keyword input of a cell; see the module docstring.

    Attributes:
        source: ``"previous_frame"``, ``"previous_output"`` or ``"given"``.
        channels: channels of a given input (used for the wrap-time dry run and checks).
        scale: a given input is at ``1 / scale`` of the frame size, ``ceil(H / scale)``.

    Example:
        >>> ExtraInput.given(2)
        ExtraInput(source='given', channels=2, scale=1)
    """

    source: Source
    channels: int | None = None
    scale: int = 1

    @classmethod
    def given(cls, channels: int, *, scale: int = 1) -> ExtraInput:
        """A tensor ``(B, channels, ceil(H / scale), ceil(W / scale))`` passed with each frame."""
        for name, value in (("channels", channels), ("scale", scale)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TypeError(f"ExtraInput.given: `{name}` must be an int >= 1, got {value!r}")
        return cls("given", channels, scale)


Spec = str | ExtraInput


def _parse(name: object, spec: object) -> ExtraInput:
    where = f"wrap_recurrent_cell: `extra_inputs[{name!r}]`"
    if not isinstance(name, str) or not name.isidentifier():
        raise TypeError(
            "wrap_recurrent_cell: the keys of `extra_inputs` must be the cell's keyword "
            f"argument names, got {name!r}"
        )
    if spec in _CARRIED:
        return ExtraInput(spec)  # type: ignore[arg-type]
    if isinstance(spec, ExtraInput) and spec.source in (*_CARRIED, "given"):
        return spec
    raise TypeError(
        f"{where} must be 'previous_frame', 'previous_output' or ExtraInput.given(channels), "
        f"got {spec!r}"
    )


class ExtraInputs:
    """The extra inputs of one wrapped cell: what to pass it and what to carry."""

    def __init__(self, specs: Mapping[str, Spec] | None) -> None:
        if specs is not None and not isinstance(specs, Mapping):
            raise TypeError(
                "wrap_recurrent_cell: `extra_inputs` must be a dict {keyword: source}, got "
                f"{type(specs).__name__}"
            )
        self.specs = {name: _parse(name, spec) for name, spec in (specs or {}).items()}

    def __bool__(self) -> bool:
        return bool(self.specs)

    def names(self, source: Source) -> list[str]:
        return [name for name, spec in self.specs.items() if spec.source == source]

    # -- the dry run ---------------------------------------------------------------------
    def for_probe(self, frame: torch.Tensor) -> dict[str, torch.Tensor]:
        """Inputs for the wrap-time dry run: the frame for carried ones, zeros for given."""
        inputs = {}
        for name, spec in self.specs.items():
            if spec.source == "given":
                assert spec.channels is not None
                size = [-(-s // spec.scale) for s in frame.shape[-2:]]
                inputs[name] = frame.new_zeros(frame.shape[0], spec.channels, *size)
            else:
                inputs[name] = frame
        return inputs

    # -- each frame ----------------------------------------------------------------------
    def for_cell(
        self, frame: torch.Tensor, carried: Mapping[str, torch.Tensor] | None,
        given: Mapping[str, Any], first: bool,
    ) -> dict[str, torch.Tensor]:
        """The keyword arguments of the cell for this frame."""
        self._check_given(frame, given)
        inputs: dict[str, torch.Tensor] = dict(given)
        for name, spec in self.specs.items():
            if spec.source == "given":
                continue
            if first:
                inputs[name] = frame
            elif carried is None or name not in carried:
                raise ValueError(
                    f"RecurrentCellWrapper: the cell takes `{name}` = the previous output, "
                    "but the state holds none; after each frame pass the output through "
                    "wrapper.feed_output(state, output) (RecurrentDeblurNet does this)"
                )
            else:
                inputs[name] = carried[name]
        return inputs

    def carry(self, frame: torch.Tensor) -> dict[str, torch.Tensor] | None:
        """What the state carries to the next frame (the previous output is added later)."""
        if not self.names("previous_frame") and not self.names("previous_output"):
            return None
        return {name: frame for name in self.names("previous_frame")}

    def _check_given(self, frame: torch.Tensor, given: Mapping[str, Any]) -> None:
        expected = set(self.names("given"))
        if set(given) != expected:
            problems = []
            if set(given) - expected:
                problems.append(f"unknown {sorted(set(given) - expected)}")
            if expected - set(given):
                problems.append(f"missing {sorted(expected - set(given))}")
            raise TypeError(
                f"RecurrentCellWrapper: extra inputs {' and '.join(problems)}; the cell's given "
                f"inputs (extra_inputs at wrap time): {', '.join(sorted(expected)) or 'none'}"
            )
        for name in sorted(expected):
            self._check_one(name, given[name], frame)

    def _check_one(self, name: str, value: Any, frame: torch.Tensor) -> None:
        spec = self.specs[name]
        assert spec.channels is not None
        size = tuple(-(-s // spec.scale) for s in frame.shape[-2:])
        want = (frame.shape[0], spec.channels, *size)
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            got = type(value).__name__ if not isinstance(value, torch.Tensor) else value.dtype
            raise TypeError(
                f"RecurrentCellWrapper: extra input `{name}` must be a floating tensor, got {got}"
            )
        if tuple(value.shape) != want:
            raise ValueError(
                f"RecurrentCellWrapper: expected extra input `{name}` of shape "
                f"{shape_str(want)} (frame {shape_str(frame.shape)}, scale {spec.scale}), got "
                f"{shape_str(value.shape)}"
            )
