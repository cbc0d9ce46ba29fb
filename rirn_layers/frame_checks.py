"""The per-frame value checks of a streaming step: NaN/inf, and a range far off the declared.

One bad pixel poisons every later frame through the recurrent state, and frames in another
range than the model expects (0..255 given to a ``(0, 1)`` model) give silently wrong
outputs. :func:`check_frame_values` catches both at the cost of one reduction of the frame
(``torch.aminmax``) and, on an accelerator, one device-to-host sync;
:meth:`~rirn_layers.StreamingDeblurModel.set_input_checks` switches the checks.
"""

from __future__ import annotations

import math
import warnings

import torch

__all__ = ["check_frame_values"]


def _count_bad(frame: torch.Tensor) -> tuple[int, int]:
    return int(torch.isnan(frame).sum()), int(torch.isinf(frame).sum())


def _range_hint(lo: float, hi: float, high: float) -> str:
    if lo >= 0 and hi <= 255 and high < 255:
        return "set_io(value_range=(0, 255))"
    return "set_io(value_range=(low, high))"


def check_frame_values(
    owner: str,
    frame: torch.Tensor,
    *,
    finite: bool,
    value_range: tuple[float, float] | None,
    stacklevel: int = 3,
) -> bool:
    """Raise on NaN/inf in ``frame`` (``finite``); warn if it lies far outside ``value_range``.

    "Far" is by more than the range's width. ``value_range=None`` skips the range check.
    Returns ``True`` when it warned (the caller warns once). Frames without values (meta)
    and integer frames are not checked.

    Example:
        >>> check_frame_values("Model", torch.rand(1, 3, 4, 4), finite=True,
        ...                    value_range=(0.0, 1.0))
        False
        >>> check_frame_values("Model", torch.full((1, 3, 4, 4), float("nan")), finite=True,
        ...                    value_range=None)
        Traceback (most recent call last):
        ...
        ValueError: Model: `frame` holds 48 NaN and 0 inf values (a single bad pixel ...
    """
    if not (finite or value_range is not None) or not frame.is_floating_point() or frame.is_meta:
        return False
    lo_t, hi_t = torch.aminmax(frame.detach())
    lo, hi = float(lo_t), float(hi_t)  # NaN propagates; inf shows as an end
    if not (math.isfinite(lo) and math.isfinite(hi)):
        if finite:
            nans, infs = _count_bad(frame.detach())
            raise ValueError(
                f"{owner}: `frame` holds {nans} NaN and {infs} inf values (a single bad "
                "pixel poisons every later frame through the recurrent state); clean the "
                "input, or switch the check off with set_input_checks(finite=False)"
            )
        return False
    if value_range is None:
        return False
    low, high = value_range
    span = high - low
    if not (hi > high + span or lo < low - span):
        return False
    warnings.warn(
        f"{owner}: `frame` holds values in [{lo:g}, {hi:g}], far outside the model's "
        f"value_range {value_range}; declare the range of your frames with "
        f"{_range_hint(lo, hi, high)} (warned once per model; "
        "set_input_checks(value_range=False) silences it)",
        stacklevel=stacklevel,
    )
    return True
