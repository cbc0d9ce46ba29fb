"""Input validation shared by the layers.

Every public ``forward`` validates its tensors here so that a wrong call fails with a
``TypeError``/``ValueError`` that names the argument and echoes the expected and the
received shape, instead of a cryptic error from inside a convolution. The checks only read
static shape and dtype information, so they cost nothing measurable and trace cleanly under
``torch.compile``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = [
    "autocast_enabled",
    "check_clip",
    "check_image",
    "check_matches",
    "check_nonempty",
    "check_same_as",
    "shape_str",
]


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
