"""Small building blocks shared by the layers: a padded conv and the residual block.

The residual block is the one of the RIRN supplementary tables (``ResBlock 3x3``): two
3x3 convolutions with a ReLU between them and an identity skip, as in IFI-RNN and the
DeblurGAN/EDSR family it comes from (no batch normalisation, no activation after the sum).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rirn_layers._checks import check_int

__all__ = ["ResBlock", "conv"]


def conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    stride: int = 1,
    **factory: Any,
) -> nn.Conv2d:
    """A ``kernel_size`` convolution with "same" zero padding (odd kernels) and a bias."""
    return nn.Conv2d(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=kernel_size // 2,
        **factory,
    )


class ResBlock(nn.Module):
    """Residual block ``x + conv(relu(conv(x)))`` with 3x3 convolutions.

    Args:
        channels: number of input and output channels ``C``.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - Input: ``(B, C, H, W)``
        - Output: ``(B, C, H, W)``

    Example:
        >>> block = ResBlock(8)
        >>> block(torch.randn(2, 8, 5, 7)).shape
        torch.Size([2, 8, 5, 7])
    """

    def __init__(
        self,
        channels: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_int("ResBlock", "channels", channels, 1)
        factory = {"device": device, "dtype": dtype}
        self.conv1 = conv(channels, channels, 3, **factory)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = conv(channels, channels, 3, **factory)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))
