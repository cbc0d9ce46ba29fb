"""The wrap-time dry run: find a cell's channel counts and stride, and every wrong use early.

:func:`probe` runs the cell for two frames on a zero frame, the first from its initial
state (``hidden=None`` or ``init_hidden``), the second from the state the first returned,
in eval mode, without gradients, with the RNGs forked, and checks what a user's first batch
would otherwise find out frames later: that the output has the declared structure, that the
state the cell returns is one it accepts back and keeps its structure, that feature and
tracked hidden state share their spatial size, and that the cell keeps no state on itself.
Every failure is a ``TypeError``/``ValueError`` that names the likely cause. The cell is
left exactly as it was: modes, RNG states, attributes and buffers.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from rirn_layers._checks import shape_str
from rirn_layers.cell_state import Selector, describe, leaves, split_output, structure

__all__ = ["CellCall", "ProbeResult", "probe"]

_OWNER = "wrap_recurrent_cell"


@dataclasses.dataclass
class CellCall:
    """How the wrapper calls the cell: what it needs to run one frame."""

    cell: nn.Module
    feature: Selector | None
    tracked: Selector
    init_hidden: Callable[[torch.Tensor], Any] | None
    extra_inputs: Callable[[torch.Tensor], dict[str, torch.Tensor]]
    cache_attributes: tuple[str, ...] = ()


@dataclasses.dataclass
class ProbeResult:
    """What the dry run found out."""

    feature_channels: int
    hidden_channels: int
    stride: int | None  # the frame size over the feature size, None if not an integer


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def _channel_error(err: BaseException) -> bool:
    text = str(err)
    return "channels" in text and ("expected" in text or "to have" in text)


# -- leaving the cell as it was --------------------------------------------------------------
_MODULE_DICTS = ("_parameters", "_buffers", "_modules")


def _attributes(cell: nn.Module) -> dict[str, dict[str, Any]]:
    """Every submodule's plain attributes (not parameters/buffers/submodules), shallow."""
    return {name: {k: v for k, v in vars(m).items() if k not in _MODULE_DICTS}
            for name, m in cell.named_modules()}


def _tensor_ids(value: Any) -> tuple[int, ...]:
    return tuple(id(t) for t in leaves(value))


@contextlib.contextmanager
def _untouched(cell: nn.Module) -> Iterator[Callable[[], list[str]]]:
    """Eval mode, no grad, forked RNG; restore modes, attributes and buffers afterwards.

    Yields a function listing the attributes/buffers that now hold tensors they did not.
    """
    modes = {m: m.training for m in cell.modules()}
    before = _attributes(cell)
    buffers = {n: (b, None if b.is_meta else b.clone()) for n, b in cell.named_buffers()}
    devices = sorted({p.device.index or 0 for p in cell.parameters() if p.is_cuda})

    def changed() -> list[str]:
        names = []
        for module, attributes in _attributes(cell).items():
            old = before.get(module, {})
            for key, value in attributes.items():
                ids = _tensor_ids(value)
                if ids and (key not in old or _tensor_ids(old[key]) != ids):
                    names.append(f"{module}.{key}".lstrip("."))
        for name, buffer in cell.named_buffers():
            old_buffer, values = buffers.get(name, (None, None))
            if buffer is not old_buffer or (values is not None and not torch.equal(buffer, values)):
                names.append(name)
        return names

    cell.eval()
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            yield changed
    finally:
        for module, mode in modes.items():
            module.training = mode
        _restore(cell, before, buffers)


def _restore(cell: nn.Module, before: dict[str, dict[str, Any]], buffers: dict) -> None:
    modules = dict(cell.named_modules())
    for name, attributes in _attributes(cell).items():
        old = before.get(name, {})
        for key, value in attributes.items():
            if key not in old:
                delattr(modules[name], key)
            elif value is not old[key]:
                object.__setattr__(modules[name], key, old[key])
    with torch.no_grad():
        for name, buffer in cell.named_buffers():
            old, values = buffers.get(name, (None, None))
            if old is None:
                continue
            if buffer is not old:
                owner, _, key = name.rpartition(".")
                setattr(modules[owner], key, old)
            elif values is not None:
                buffer.copy_(values)


# -- the two frames ------------------------------------------------------------------------
def _start(call: CellCall, frame: torch.Tensor) -> Any:
    if call.init_hidden is None:
        return None
    try:
        return call.init_hidden(frame)
    except Exception as err:
        raise TypeError(
            f"{_OWNER}: `init_hidden` raised {_first_line(err)} when called with the dry "
            f"run's frame {shape_str(frame.shape)}; it must take the first frame and return "
            "the cell's initial state"
        ) from err


def _run(call: CellCall, frame: torch.Tensor, hidden: Any, second: bool) -> Any:
    name = type(call.cell).__name__
    try:
        return call.cell(frame, hidden, **call.extra_inputs(frame))
    except Exception as err:
        if second:
            cause = (
                f"the cell ran on the first frame but raised {_first_line(err)} when given back "
                f"the hidden state it returned, {describe(hidden)}"
            )
            hint = (
                "if the cell returns only its new state (e.g. (h, c) or one state per "
                "layer) rather than (feature, hidden), pass feature= (which part of the "
                "state is the feature, e.g. feature=0)"
                if call.feature is None
                else "the cell must accept the state it returns"
            )
        elif hidden is None:
            cause = (
                f"the dry run called {name} on a zero frame {shape_str(frame.shape)} with "
                f"hidden=None (the first frame) and it raised {_first_line(err)}"
            )
            hint = (
                "if the cell does not take 3-channel frames, pass in_channels="
                if _channel_error(err)
                else "if the cell cannot start from hidden=None, pass init_hidden= (e.g. "
                "init_hidden=rirn_layers.zero_state(channels, scale=...))"
            )
        else:
            cause = (
                f"the dry run called {name} on a zero frame {shape_str(frame.shape)} with the "
                f"state from init_hidden, {describe(hidden)}, and it raised {_first_line(err)}"
            )
            hint = (
                "if the cell does not take 3-channel frames, pass in_channels="
                if _channel_error(err)
                else "check that init_hidden returns the state the cell expects"
            )
        raise TypeError(f"{_OWNER}: {cause}; {hint}") from err


def _read(call: CellCall, result: Any, second: bool) -> tuple[torch.Tensor, Any, torch.Tensor]:
    feature, hidden, tracked = split_output(result, call.feature, call.tracked, _OWNER)
    for what, value in (("feature", feature), ("tracked hidden state", tracked)):
        if value.dim() != 4 or not value.is_floating_point():
            raise TypeError(
                f"{_OWNER}: the cell's {what} must be a floating (B, C, H, W) tensor, got "
                f"{value.dtype} {shape_str(value.shape)}"
                + (" at the second frame" if second else "")
            )
    if feature.shape[-2:] != tracked.shape[-2:]:
        raise ValueError(
            f"{_OWNER}: the cell's feature {shape_str(feature.shape)} and tracked hidden "
            f"state {shape_str(tracked.shape)} differ in spatial size; RIRN concatenates "
            "f_t and h_t for the reconstructor: resample one inside the cell, or track "
            "another tensor of the state with tracked="
        )
    return feature, hidden, tracked


def _check_self_state(call: CellCall, changed: Callable[[], list[str]]) -> None:
    names = [n for n in changed() if n.rsplit(".", 1)[-1] not in call.cache_attributes]
    if names:
        raise TypeError(
            f"{_OWNER}: {type(call.cell).__name__} stores tensors on itself during a step "
            f"({', '.join(names)}): state kept on the module escapes the wrapper (it leaks "
            "between clips, differs between runs from state=None and is lost on export); "
            "return it as part of the hidden state instead, or, for a cache that does not "
            "depend on the frames' content, name it in cache_attributes="
        )


def _stride(size: int, feature: torch.Tensor) -> int | None:
    height, width = feature.shape[-2:]
    if height < 1 or size % height or size % width or size // height != size // width:
        return None
    return size // height


def probe(call: CellCall, frame: torch.Tensor) -> ProbeResult:
    """Run the cell for two frames on ``frame`` (``(1, C, S, S)``) and check it; see above."""
    with _untouched(call.cell) as changed:
        hidden = _start(call, frame)
        feature, hidden1, tracked = _read(call, _run(call, frame, hidden, False), False)
        _check_self_state(call, changed)
        first = (structure(hidden1), tuple(feature.shape), tuple(tracked.shape))
        feature2, hidden2, tracked2 = _read(call, _run(call, frame, hidden1, True), True)
        _check_self_state(call, changed)
        second = (structure(hidden2), tuple(feature2.shape), tuple(tracked2.shape))
    if first != second:
        raise TypeError(
            f"{_OWNER}: the cell's output changes structure between frames: the first frame "
            f"gave feature {shape_str(first[1])} and state {describe(hidden1)}, the second "
            f"feature {shape_str(second[1])} and state {describe(hidden2)}; a recurrent state "
            "must keep its structure and shapes from frame to frame"
            + (
                " (if the cell returns only its new state, pass feature= to say which part "
                "of it is the feature)"
                if call.feature is None
                else ""
            )
        )
    return ProbeResult(int(feature.shape[1]), int(tracked.shape[1]),
                       _stride(frame.shape[-1], feature))
