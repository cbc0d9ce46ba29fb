"""Inner-Recurrence Module (IRM).

Park, Nah and Lee, "Recurrence-in-Recurrence Networks for Video Deblurring", BMVC 2022,
sec. 3.2, eq. (3) and supplementary table S3. IRM is a second recurrent network that runs
over the sequence of hidden states ``{h_t}`` of a host RNN and keeps a long-range memory
``h~_t`` next to it::

    h~_t = IRM(h_t, h~_{t-1})

Layers (table S3, ``c`` the hidden channels)::

    concat(h_t, h~_{t-1})            2c
    3 x [conv 3x3 2c -> 2c, ReLU]    2c
    ResBlock(2c)                     2c
    conv 3x3 2c -> c                 c
    ResBlock(c)                      c   = h~_t

The table lists no activations; we put a ReLU after each of the three 2c convolutions (the
IFI-RNN convention the tables derive from) and none after the projection to ``c``, so the
memory can carry signed values like the hidden state it tracks.
"""

from __future__ import annotations

import torch
from torch import nn

from rirn_layers._checks import check_image, check_int, check_same_as
from rirn_layers.layers.common import ResBlock, conv

__all__ = ["InnerRecurrence"]


class InnerRecurrence(nn.Module):
    """RNN over hidden states: ``h~_t = IRM(h_t, h~_{t-1})`` (RIRN eq. 3, table S3).

    Args:
        channels: channels ``C`` of the hidden state it tracks (and of its memory).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - ``hidden``: ``(B, C, H, W)``, the host RNN's hidden state ``h_t``.
        - ``memory``: ``(B, C, H, W)`` or ``None``, the previous output ``h~_{t-1}``;
          ``None`` (the first frame) stands for zeros.
        - Output: ``(B, C, H, W)``, the new memory ``h~_t``.

    Example:
        >>> irm = InnerRecurrence(20)
        >>> h = torch.randn(2, 20, 16, 16)
        >>> memory = irm(h)            # first frame
        >>> memory = irm(h, memory)    # later frames
        >>> memory.shape
        torch.Size([2, 20, 16, 16])
    """

    def __init__(
        self,
        channels: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_int("InnerRecurrence", "channels", channels, 1)
        factory = {"device": device, "dtype": dtype}
        self.channels = channels
        wide = 2 * channels
        self.body = nn.Sequential(
            conv(wide, wide, 3, **factory),
            nn.ReLU(inplace=True),
            conv(wide, wide, 3, **factory),
            nn.ReLU(inplace=True),
            conv(wide, wide, 3, **factory),
            nn.ReLU(inplace=True),
            ResBlock(wide, **factory),
            conv(wide, channels, 3, **factory),
            ResBlock(channels, **factory),
        )

    def forward(self, hidden: torch.Tensor, memory: torch.Tensor | None = None) -> torch.Tensor:
        hidden = check_image("InnerRecurrence", "hidden", hidden, self.channels)
        if memory is None:
            memory = torch.zeros_like(hidden)
        else:
            memory = check_same_as("InnerRecurrence", "memory", memory, "hidden", hidden)
        return self.body(torch.cat((hidden, memory), dim=1))

    def extra_repr(self) -> str:
        return f"channels={self.channels}"
