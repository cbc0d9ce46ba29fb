"""Argument checks: the one place every layer, model, data and training module checks with.

A wrong call fails here with one line in one style, ``Owner: `argument` must be <expected>,
got <received>``, instead of a cryptic error from inside a convolution:

- scalars (:func:`check_int`, :func:`check_float`, :func:`check_bool`, :func:`check_choice`,
  :func:`check_ints`): a value of the wrong type raises :class:`ArgumentTypeError` (a
  ``TypeError`` that is also a ``ValueError``), one out of range ``ValueError``; booleans are
  never taken for ints, nor floats such as ``2.5`` or ``2.0``;
- tensors (:func:`check_image`, :func:`check_clip`, :func:`check_same_as`,
  :func:`check_nonempty`, :func:`check_matches`): the message echoes the expected and the
  received shape, dtype or device. They read only static shape and dtype information, so
  they cost nothing measurable and trace cleanly under ``torch.compile``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import torch

__all__ = [
    "ArgumentTypeError",
    "autocast_enabled",
    "check_bool",
    "check_choice",
    "check_clip",
    "check_float",
    "check_image",
    "check_int",
    "check_ints",
    "check_matches",
    "check_multiple",
    "check_nonempty",
    "check_same_as",
    "check_state",
    "shape_str",
]

_T = TypeVar("_T")


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (e.g. ``True`` or ``2.5`` where an int is meant).

    Both a ``TypeError`` (what it is) and a ``ValueError`` (what the scalar checks raised
    before they told the two apart), so either ``except`` catches it.
    """


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _range(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f" in [{low}, {high}]"
    if low is not None:
        return f" >= {low}"
    return f" <= {high}" if high is not None else ""


def check_int(
    owner: str, name: str, value: object, low: int | None = None, high: int | None = None
) -> int:
    """``value`` if it is an int (not a bool) in ``[low, high]``; else raise, naming ``name``.

    Example:
        >>> check_int("IRM", "channels", 8, 1)
        8
        >>> check_int("IRM", "channels", True, 1)
        Traceback (most recent call last):
        ...
        rirn_layers._checks.ArgumentTypeError: IRM: `channels` must be an int >= 1, got True (bool)
    """
    expected = "an int" + _range(low, high)
    if not _is_int(value):
        raise ArgumentTypeError(
            f"{owner}: `{name}` must be {expected}, got {value!r} ({type(value).__name__})"
        )
    assert isinstance(value, int)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{owner}: `{name}` must be {expected}, got {value!r}")
    return value


def check_float(
    owner: str, name: str, value: object, low: float | None = None, high: float | None = None
) -> float:
    """``float(value)`` if it is a real number (not a bool, not NaN) in ``[low, high]``."""
    expected = "a number" + _range(low, high)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ArgumentTypeError(
            f"{owner}: `{name}` must be {expected}, got {value!r} ({type(value).__name__})"
        )
    if value != value or (low is not None and value < low) or (
        high is not None and value > high
    ):
        raise ValueError(f"{owner}: `{name}` must be {expected}, got {value!r}")
    return float(value)


def check_bool(owner: str, name: str, value: object) -> bool:
    """``value`` if it is ``True`` or ``False`` (not ``0``/``1``, not a string)."""
    if not isinstance(value, bool):
        raise ArgumentTypeError(
            f"{owner}: `{name}` must be True or False, got {value!r} ({type(value).__name__})"
        )
    return value


def check_choice(owner: str, name: str, value: _T, choices: Sequence[_T]) -> _T:
    """``value`` if it is one of ``choices``; else ``ValueError`` listing them."""
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{owner}: `{name}` must be one of {listed}, got {value!r}")
    return value


def check_ints(
    owner: str, name: str, value: object, count: int, low: int = 1, what: str = ""
) -> tuple[int, ...]:
    """``tuple(value)`` if it is ``count`` ints ``>= low``; ``what`` says what they are."""
    ok = (
        isinstance(value, Sequence) and not isinstance(value, str) and len(value) == count
        and all(_is_int(c) and c >= low for c in value)
    )
    if not ok:
        about = f" ({what})" if what else ""
        raise ValueError(f"{owner}: `{name}` must be {count} ints >= {low}{about}, got {value!r}")
    return tuple(value)  # type: ignore[arg-type]


def shape_str(shape: Sequence[int]) -> str:
    """Format a shape like ``(2, 20, 64, 64)``."""
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def _expected(channels: int | None, rank: int) -> str:
    c = "C" if channels is None else str(channels)
    return "(B, T, " + c + ", H, W)" if rank == 5 else "(B, " + c + ", H, W)"


def _check(owner: str, name: str, x: object, rank: int, channels: int | None) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{owner}: `{name}` must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{owner}: `{name}` must have a floating dtype, got {x.dtype}")
    if x.dim() != rank or (channels is not None and x.shape[-3] != channels):
        raise ValueError(
            f"{owner}: expected `{name}` of shape {_expected(channels, rank)}, "
            f"got {shape_str(x.shape)}"
        )
    return x


def check_image(owner: str, name: str, x: object, channels: int | None = None) -> torch.Tensor:
    """Check that ``x`` is a floating ``(B, C, H, W)`` tensor with ``channels`` channels."""
    return _check(owner, name, x, 4, channels)


def check_clip(owner: str, name: str, x: object, channels: int | None = None) -> torch.Tensor:
    """Check that ``x`` is a floating ``(B, T, C, H, W)`` tensor with ``channels`` channels."""
    return _check(owner, name, x, 5, channels)


def check_nonempty(owner: str, name: str, x: torch.Tensor) -> torch.Tensor:
    """Check that ``x`` (``(B, C, H, W)`` or ``(B, T, C, H, W)``) has ``B, H, W >= 1``."""
    if x.shape[0] < 1 or min(x.shape[-2:]) < 1:
        layout = "(B, T, C, H, W)" if x.dim() == 5 else "(B, C, H, W)"
        raise ValueError(
            f"{owner}: `{name}` must have a batch size B >= 1 and H, W >= 1, expected {layout} "
            f"with B, H, W >= 1, got {shape_str(x.shape)}"
        )
    return x


def check_same_as(
    owner: str, name: str, x: object, ref_name: str, ref: torch.Tensor
) -> torch.Tensor:
    """Check that ``x`` is a floating tensor of exactly the shape of ``ref``."""
    x = _check(owner, name, x, ref.dim(), ref.shape[-3])
    if x.shape != ref.shape:
        raise ValueError(
            f"{owner}: `{name}` must have the shape of `{ref_name}` {shape_str(ref.shape)}, "
            f"got {shape_str(x.shape)}"
        )
    return x


def autocast_enabled(device_type: str) -> bool:
    """Whether ``torch.autocast`` is on for ``device_type`` (any torch >= 2.1)."""
    try:
        return bool(torch.is_autocast_enabled(device_type))
    except TypeError:  # torch < 2.4 takes no argument and has a CPU variant
        if device_type == "cpu":
            return bool(torch.is_autocast_cpu_enabled())
        return bool(torch.is_autocast_enabled())


def check_matches(owner: str, name: str, x: torch.Tensor, reference: torch.Tensor | None) -> None:
    """Check that ``x`` is on the device and (outside autocast) of the dtype of ``reference``.

    ``reference`` is a parameter of the module ``x`` goes into (``None``: nothing to check).
    """
    if reference is None:
        return
    if x.device != reference.device:
        raise ValueError(
            f"{owner}: `{name}` is on {x.device} but the model's parameters are on "
            f"{reference.device}; move one of them with .to()"
        )
    if x.dtype != reference.dtype and not autocast_enabled(x.device.type):
        raise TypeError(
            f"{owner}: `{name}` is {x.dtype} but the model's parameters are "
            f"{reference.dtype}; convert the frames with .to({reference.dtype}), the model "
            "with .to(dtype), or run under torch.autocast"
        )


def check_multiple(owner: str, name: str, x: torch.Tensor, multiple: int) -> None:
    """Raise ``ValueError`` unless ``H`` and ``W`` of ``x`` are multiples of ``multiple``."""
    if x.shape[-2] % multiple or x.shape[-1] % multiple:
        raise ValueError(
            f"{owner}: `{name}` needs H and W divisible by {multiple} (x{multiple} "
            f"downsampling), got {shape_str(x.shape)}; pad frames first "
            "(rirn_layers.pad_to_multiple)"
        )


def check_state(
    owner: str, name: str, value: object, channels: int, like: torch.Tensor
) -> torch.Tensor:
    """Check a carried state: ``(B, channels, h, w)`` with ``B, h, w`` of ``like``."""
    value = check_image(owner, name, value, channels)
    if value.shape[0] != like.shape[0] or value.shape[-2:] != like.shape[-2:]:
        raise ValueError(
            f"{owner}: `{name}` {shape_str(value.shape)} does not match the encoded frame "
            f"{shape_str(like.shape)} in batch or size; pass the state of the previous call"
        )
    return value
