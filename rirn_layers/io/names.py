"""Which files of a folder are frames, and their order: shared by datasets and video tools."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["IMAGE_SUFFIXES", "natural_key"]

#: The image files a frame folder may hold (any case).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def natural_key(name: str) -> list[Any]:
    """Sort key that puts ``frame_9`` before ``frame_10``.

    Example:
        >>> sorted(["f10", "f9", "f100"], key=natural_key)
        ['f9', 'f10', 'f100']
    """
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
