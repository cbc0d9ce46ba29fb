"""The hidden state of a user's cell: find a tensor in it, describe it, start it at zeros.

Published recurrent cells carry their state in every shape: a tensor, an LSTM's ``(h, c)``,
one ``[h, c]`` per layer (``[[h, c], [h, c]]``), a dict, a named tuple. RIRN needs two
tensors of it: the one IRM tracks (``h_t``, eq. 3) and, for cells that return only their
state, the feature ``f_t`` the reconstructor and ATB read (eq. 4). A :data:`Selector` says
where a tensor sits in any such nesting:

- ``None``: the state itself if it is a tensor, else its first tensor, depth first
  (``h`` of ``(h, c)``, ``h`` of the first layer of ``[[h, c], [h, c]]``);
- an ``int`` (a position, negative counts from the end) or a ``str`` (a dict key or a
  named-tuple field): one step down;
- a tuple of those: a path, e.g. ``(-1, 0)`` for ``h`` of the last layer;
- a callable ``state -> tensor`` for anything else.

:func:`zero_state` makes the ``init_hidden`` factory of a cell that cannot start from
``hidden=None``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch

from rirn_layers._checks import shape_str

__all__ = ["Selector", "describe", "leaves", "select", "structure", "zero_state"]

Step = int | str
#: Where a tensor sits in a nested state: ``None``, a step, a path of steps or a callable.
Selector = None | int | str | tuple | Callable[[Any], torch.Tensor]
ChannelSpec = int | Sequence[Any] | Mapping[str, Any]


def _is_namedtuple(value: object) -> bool:
    return isinstance(value, tuple) and hasattr(value, "_fields")


def leaves(state: Any) -> Iterator[torch.Tensor]:
    """Every tensor in ``state``, depth first (dicts in insertion order)."""
    if isinstance(state, torch.Tensor):
        yield state
    elif isinstance(state, Mapping):
        for value in state.values():
            yield from leaves(value)
    elif isinstance(state, (tuple, list)):
        for value in state:
            yield from leaves(value)


def describe(state: Any, depth: int = 0) -> str:
    """A short text of a nested state for error messages, e.g. ``(tensor (1, 8, 16, 16), None)``."""
    if isinstance(state, torch.Tensor):
        return f"tensor {shape_str(state.shape)}"
    if depth > 3:
        return "..."
    if isinstance(state, Mapping):
        return "{" + ", ".join(f"{k!r}: {describe(v, depth + 1)}" for k, v in state.items()) + "}"
    if isinstance(state, (tuple, list)):
        inner = ", ".join(describe(v, depth + 1) for v in state)
        if _is_namedtuple(state):
            return f"{type(state).__name__}({inner})"
        return f"[{inner}]" if isinstance(state, list) else f"({inner})"
    return type(state).__name__ if state is not None else "None"


def structure(state: Any) -> Any:
    """A comparable summary of a nested state: containers, keys, and each tensor's shape/dtype."""
    if isinstance(state, torch.Tensor):
        return ("tensor", tuple(state.shape), state.dtype)
    if isinstance(state, Mapping):
        return (type(state).__name__, tuple((k, structure(v)) for k, v in state.items()))
    if isinstance(state, (tuple, list)):
        return (type(state).__name__, tuple(structure(v) for v in state))
    return ("leaf", type(state).__name__)


def _step(value: Any, step: Step, owner: str, name: str, root: Any) -> Any:
    if isinstance(step, bool) or not isinstance(step, (int, str)):
        raise TypeError(
            f"{owner}: each step of `{name}` must be an int or a str, got {type(step).__name__}"
        )
    try:
        if isinstance(step, str):
            if isinstance(value, Mapping):
                return value[step]
            if _is_namedtuple(value):
                return getattr(value, step)
            raise KeyError(step)
        if isinstance(value, (tuple, list)):
            return value[step]
        raise IndexError(step)
    except (KeyError, IndexError, AttributeError):
        raise ValueError(
            f"{owner}: `{name}` step {step!r} does not exist in the state the cell returned: "
            f"{describe(root)}"
        ) from None


def select(state: Any, selector: Selector, owner: str, name: str) -> torch.Tensor:
    """The tensor ``selector`` points at in ``state``; see the module docstring.

    Raises:
        ValueError: a step that does not exist in ``state`` (the message shows ``state``).
        TypeError: a selector of the wrong type, or one that points at something that is
            not a tensor.
    """
    if selector is None:
        found = next(leaves(state), None)
    elif callable(selector):
        try:
            found = selector(state)
        except Exception as err:
            raise ValueError(
                f"{owner}: the `{name}` callable raised {type(err).__name__}: {err} on the "
                f"state the cell returned, {describe(state)}"
            ) from err
    else:
        path = selector if isinstance(selector, tuple) else (selector,)
        found = state
        for step in path:
            found = _step(found, step, owner, name, state)
    if not isinstance(found, torch.Tensor):
        raise TypeError(
            f"{owner}: `{name}`={selector!r} must point at a tensor of the cell's state, got "
            f"{describe(found)} in {describe(state)}"
        )
    return found


def check_selector(owner: str, name: str, selector: object) -> Selector:
    """Check the type of a selector given by the user (not its validity for a state)."""
    if selector is None or callable(selector):
        return selector  # type: ignore[return-value]
    path = selector if isinstance(selector, tuple) else (selector,)
    for step in path:
        if isinstance(step, bool) or not isinstance(step, (int, str)):
            raise TypeError(
                f"{owner}: `{name}` must be None, an int, a str, a tuple of those or a "
                f"callable, got {selector!r}"
            )
    return selector  # type: ignore[return-value]


def _zeros(spec: Any, frame: torch.Tensor, size: tuple[int, int]) -> Any:
    if isinstance(spec, Mapping):
        return {k: _zeros(v, frame, size) for k, v in spec.items()}
    if isinstance(spec, (tuple, list)):
        return type(spec)(_zeros(v, frame, size) for v in spec)
    return frame.new_zeros(frame.shape[0], spec, *size)


def _check_spec(spec: Any) -> None:
    if isinstance(spec, Mapping):
        for value in spec.values():
            _check_spec(value)
    elif isinstance(spec, (tuple, list)):
        if not spec:
            raise ValueError("zero_state: `channels` has an empty tuple/list")
        for value in spec:
            _check_spec(value)
    elif isinstance(spec, bool) or not isinstance(spec, int) or spec < 1:
        raise TypeError(
            "zero_state: `channels` must be an int >= 1 or a tuple/list/dict of them, got "
            f"{spec!r}"
        )


class zero_state:
    """The ``init_hidden`` of a cell that cannot start from ``hidden=None``: zeros.

    Called with the first frame ``(B, C, H, W)``, it returns zeros of the frame's dtype and
    device, ``(B, c, ceil(H / scale), ceil(W / scale))`` for each ``c`` of ``channels``,
    nested as ``channels`` is.

    Args:
        channels: an int, or a tuple/list/dict of ints nested as the cell's state, e.g.
            ``(64, 64)`` for an LSTM's ``(h, c)``, ``[[64, 64], [32, 32]]`` for two layers,
            ``{"h": 64, "c": 64}``.
        scale: the state's downsampling relative to the frame (1: full resolution).

    Example:
        >>> start = zero_state([(8, 8), (4, 4)], scale=2)
        >>> [[tuple(t.shape) for t in layer] for layer in start(torch.rand(2, 3, 31, 32))]
        [[(2, 8, 16, 16), (2, 8, 16, 16)], [(2, 4, 16, 16), (2, 4, 16, 16)]]
    """

    def __init__(self, channels: ChannelSpec, *, scale: int = 1) -> None:
        _check_spec(channels)
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise TypeError(f"zero_state: `scale` must be an int >= 1, got {scale!r}")
        self.channels = channels
        self.scale = scale

    def __call__(self, frame: torch.Tensor) -> Any:
        height, width = frame.shape[-2:]
        size = (-(-height // self.scale), -(-width // self.scale))
        return _zeros(self.channels, frame, size)

    def __repr__(self) -> str:
        return f"zero_state({self.channels!r}, scale={self.scale})"


def split_output(
    result: Any, feature: Selector | None, tracked: Selector, owner: str
) -> tuple[torch.Tensor, Any, torch.Tensor]:
    """Read a cell's return value as ``(feature f_t, new hidden state, tracked h_t)``.

    With ``feature=None`` the cell returns ``(feature, hidden)``; otherwise it returns only
    its new hidden state and ``feature`` selects ``f_t`` in it (``()``: the state itself).
    """
    if feature is None:
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise TypeError(
                f"{owner}: the cell returned {describe(result)}, but without `feature=` it "
                "must return (feature, hidden); if it returns only its new state (e.g. (h, c) "
                "or one state per layer), pass feature= to say which part is the feature "
                "(feature=() if the state is one tensor)"
            )
        f, hidden = result
        if not isinstance(f, torch.Tensor):
            raise TypeError(
                f"{owner}: the cell returned (feature, hidden) with feature {describe(f)}; "
                "the feature must be a tensor; if the cell returns only its new state, pass "
                "feature= to say which part is the feature"
            )
    else:
        hidden = result
        f = result if feature == () else select(result, feature, owner, "feature")
    if not isinstance(f, torch.Tensor):
        raise TypeError(f"{owner}: `feature`=() needs a cell that returns one tensor, got "
                        f"{describe(result)}")
    return f, hidden, select(hidden, tracked, owner, "tracked")
