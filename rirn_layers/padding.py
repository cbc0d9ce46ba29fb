"""Pad frames to a multiple of a model's stride and crop outputs back.

Recurrent deblurring cells downsample (x4 for the RIRN baselines), so ``H`` and ``W`` must be
multiples of the stride. :func:`pad_to_multiple` pads the bottom and right edges (replicate
padding: no dark border for the network to restore) and returns the original size so the
output can be cropped back with :func:`crop_to`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["crop_to", "pad_to_multiple"]


def pad_to_multiple(
    x: torch.Tensor, multiple: int, mode: str = "replicate"
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the last two dims of ``x`` up to a multiple of ``multiple``.

    Args:
        x: ``(..., H, W)`` with at least 3 dims, e.g. ``(B, C, H, W)`` or ``(B, T, C, H, W)``.
        multiple: the stride to pad to.
        mode: ``"replicate"``, ``"reflect"`` or ``"constant"`` (zeros).

    Returns:
        ``(padded, (H, W))``: the padded tensor and the original size.

    Example:
        >>> padded, size = pad_to_multiple(torch.rand(1, 3, 30, 45), 4)
        >>> padded.shape, size
        (torch.Size([1, 3, 32, 48]), (30, 45))
        >>> crop_to(padded, size).shape
        torch.Size([1, 3, 30, 45])
    """
    if multiple < 1:
        raise ValueError(f"pad_to_multiple: `multiple` must be >= 1, got {multiple}")
    if x.dim() < 3:
        raise ValueError(f"pad_to_multiple: `x` needs at least 3 dims (C, H, W), got {x.dim()}")
    height, width = x.shape[-2:]
    pad_h = -height % multiple
    pad_w = -width % multiple
    if pad_h == 0 and pad_w == 0:
        return x, (height, width)
    lead = x.shape[:-3]
    flat = x.reshape(-1, *x.shape[-3:])
    padded = F.pad(flat, (0, pad_w, 0, pad_h), mode=mode)
    return padded.reshape(*lead, *padded.shape[-3:]), (height, width)


def crop_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop the last two dims of ``x`` to ``size = (H, W)`` (top-left aligned)."""
    return x[..., : size[0], : size[1]]
