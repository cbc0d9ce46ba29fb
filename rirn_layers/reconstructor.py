"""Reconstructor: concatenated recurrent features -> deblurred RGB frame.

RIRN sec. 3.4 (fig. 2d): "With all features f_t, h_t, f~_t [and h~_t] concatenated, the
deblurred image is obtained from several convolutional layers." The paper gives no layer
table for it; this module follows the decoder of IFI-RNN that the RIRN baselines share:
a 3x3 convolution, a stack of residual blocks at the feature resolution, then one x2
transposed convolution (4x4, stride 2) per octave back to the input size, halving the
channels each time, and a 5x5 convolution to the output channels. Optionally the input
frame is added to the output (global residual learning).
"""

from __future__ import annotations

import torch
from torch import nn

from rirn_layers._checks import check_image, shape_str
from rirn_layers.layers.common import ResBlock, conv

__all__ = ["Reconstructor"]


class Reconstructor(nn.Module):
    """Decode ``(B, in_channels, H/scale, W/scale)`` features into a ``(B, 3, H, W)`` frame.

    Args:
        in_channels: channels of the concatenated features, e.g. ``wrapped.out_channels``.
        out_channels: channels of the output frame.
        scale: upsampling factor back to the input size, a power of two (1 = none).
        mid_channels: channels at the feature resolution; halved at every x2 step.
        num_blocks: residual blocks at the feature resolution.
        residual: add the input frame to the output (then ``forward`` needs ``frame``).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - ``features``: ``(B, in_channels, h, w)``.
        - ``frame``: ``(B, out_channels, h * scale, w * scale)``, needed iff ``residual``.
        - Output: ``(B, out_channels, h * scale, w * scale)``.

    Example:
        >>> rec = Reconstructor(160, scale=4, residual=True)
        >>> frame = torch.rand(2, 3, 32, 48)
        >>> rec(torch.randn(2, 160, 8, 12), frame).shape
        torch.Size([2, 3, 32, 48])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 3,
        *,
        scale: int = 4,
        mid_channels: int = 80,
        num_blocks: int = 3,
        residual: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if scale < 1 or scale & (scale - 1):
            raise ValueError(f"Reconstructor: `scale` must be a power of two, got {scale}")
        steps = scale.bit_length() - 1
        if mid_channels >> steps < 1:
            raise ValueError(
                f"Reconstructor: `mid_channels`={mid_channels} cannot be halved {steps} times"
            )
        factory = {"device": device, "dtype": dtype}
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale = scale
        self.residual = residual
        layers: list[nn.Module] = [conv(in_channels, mid_channels, 3, **factory)]
        layers += [ResBlock(mid_channels, **factory) for _ in range(num_blocks)]
        channels = mid_channels
        for _ in range(steps):
            layers += [
                nn.ConvTranspose2d(channels, channels // 2, 4, stride=2, padding=1, **factory),
                nn.ReLU(inplace=True),
            ]
            channels //= 2
        layers.append(conv(channels, out_channels, 5, **factory))
        self.body = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor, frame: torch.Tensor | None = None) -> torch.Tensor:
        features = check_image("Reconstructor", "features", features, self.in_channels)
        out = self.body(features)
        if self.residual:
            if frame is None:
                raise ValueError("Reconstructor: `frame` is required when residual=True")
            frame = check_image("Reconstructor", "frame", frame, self.out_channels)
            if frame.shape != out.shape:
                raise ValueError(
                    f"Reconstructor: expected `frame` of shape {shape_str(out.shape)} "
                    f"(features {shape_str(features.shape)} x scale {self.scale}), got "
                    f"{shape_str(frame.shape)}; pad frames to a multiple of the scale first "
                    "(rirn_layers.pad_to_multiple)"
                )
            out = out + frame
        return out
