"""The caller's frame convention, and the conversions to and from the network's.

A network of the library always works on RGB frames in ``[0, 1]`` padded to a multiple of
its ``scale``. Callers have their own convention: 8-bit ranges (``(0, 255)``), centred
ranges (the official ESTRNN code's ``(-0.5, 0.5)``), BGR colour order, any frame size.
:class:`FrameIO` holds that convention and maps frames in (:meth:`FrameIO.to_internal`) and
outputs back out (:meth:`FrameIO.to_external`); :class:`~rirn_layers.StreamingDeblurModel`
keeps one per model and sends every frame through it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rirn_layers.padding import crop_to, pad_to_multiple

__all__ = ["FrameIO"]

_ORDERS = ("rgb", "bgr")


@dataclass(frozen=True)
class FrameIO:
    """Value range and colour order of a caller's frames; the default is the network's own.

    Args:
        value_range: ``(low, high)`` of the caller's frames, ``high > low``; mapped to
            ``[0, 1]`` on the way in and back on the way out.
        channel_order: ``"rgb"`` or ``"bgr"``; 3-channel frames are flipped for ``"bgr"``.

    Shape:
        - ``to_internal(frame, multiple)``: ``(B, C, H, W)`` -> ``(B, C, H', W')`` with
          ``H', W'`` the next multiples of ``multiple``, and the original ``(H, W)``.
        - ``to_external(out, size, dtype)``: ``(B, C_out, H', W')`` -> ``(B, C_out, H, W)``.

    Example:
        >>> io = FrameIO((0.0, 255.0), "bgr")
        >>> frame = torch.tensor([0.0, 127.5, 255.0]).view(1, 3, 1, 1).expand(1, 3, 3, 3)
        >>> padded, size = io.to_internal(frame, 4)
        >>> padded.shape, size, padded[0, :, 0, 0].tolist()  # RGB in [0, 1]
        (torch.Size([1, 3, 4, 4]), (3, 3), [1.0, 0.5, 0.0])
        >>> torch.equal(io.to_external(padded, size, frame.dtype), frame)
        True
    """

    value_range: tuple[float, float] = (0.0, 1.0)
    channel_order: str = "rgb"

    def __post_init__(self) -> None:
        low, high = (float(v) for v in self.value_range)
        if not high > low:
            raise ValueError(
                f"`value_range` must be (low, high) with high > low, got {self.value_range}"
            )
        if self.channel_order not in _ORDERS:
            raise ValueError(
                f"`channel_order` must be 'rgb' or 'bgr', got {self.channel_order!r}"
            )
        object.__setattr__(self, "value_range", (low, high))

    def _flip(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(-3) if self.channel_order == "bgr" and x.shape[-3] == 3 else x

    def to_internal(
        self, frame: torch.Tensor, multiple: int = 1
    ) -> tuple[torch.Tensor, tuple[int, int]]:
        """The network's view of ``frame``: RGB in ``[0, 1]``, padded to ``multiple``."""
        low, high = self.value_range
        if (low, high) != (0.0, 1.0):
            frame = (frame - low) / (high - low)
        return pad_to_multiple(self._flip(frame), multiple)

    def to_external(
        self, out: torch.Tensor, size: tuple[int, int], dtype: torch.dtype
    ) -> torch.Tensor:
        """The caller's view of an output: cropped to ``size``, cast to ``dtype``, mapped back."""
        out = self._flip(crop_to(out, size).to(dtype))
        low, high = self.value_range
        return out * (high - low) + low if (low, high) != (0.0, 1.0) else out
