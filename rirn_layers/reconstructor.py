"""Reconstructor: concatenated recurrent features -> deblurred RGB frame.

RIRN sec. 3.4 (fig. 2d): "With all features f_t, h_t, f~_t [and h~_t] concatenated, the
deblurred image is obtained from several convolutional layers." The paper gives no layer
table for it; by default this module follows the decoder of IFI-RNN that the RIRN baselines
share: a 3x3 convolution (the stem), a stack of residual blocks at the feature resolution,
then one x2 transposed convolution (4x4, stride 2, a ReLU after it) per octave back to the
input size, halving the channels each time, and a 5x5 convolution to the output channels.
Optionally the input frame is added to the output (global residual learning).

One family. The decoders of the baselines are this module with options (no stem, no
residual blocks, their own channel plan, kernel sizes and activations), built with the same
layer order and the same ``body.<i>`` parameter names, so their checkpoints load unchanged:

- :class:`~rirn_layers.baselines._blocks.UpsamplingReconstructor` (IFI-RNN's ``F_L``, also
  RIRN's GRU and LSTM): ``stem=False, num_blocks=0``, widths ``(40, 20)``;
- :class:`~rirn_layers.baselines.rdb.ESTRNNReconstructor` (ESTRNN, RDBN): also
  ``upsample_kernel_size=3`` (stride 2, ``output_padding=1``) and ``relu=False``, widths
  ``(2n, n)`` (zzh-tech/ESTRNN ``model/ESTRNN.py``);
- :class:`~rirn_layers.baselines.strcnn.STRCNNReconstructor` (OVD's output head): one x2
  step to 64 channels, ``out_kernel_size=3``.

Why not Reconstructor: :class:`~rirn_layers.baselines.stfan.STFANDecoder`. STFAN's
reconstruction network puts two STFAN residual blocks (LeakyReLU inside) *after* each x2
step, a LeakyReLU after every layer including the output conv (so the residual added to the
frame is ``lrelu(conv(.))``), nests each conv with its activation (``body.0.0.weight``)
and is initialised Xavier-uniform as the official code (sczhou/STFAN); folding those into
options here would double this module's size for one model and change its checkpoint keys.
It satisfies :class:`~rirn_layers.contracts.FrameReconstructor` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from rirn_layers._checks import check_bool, check_image, check_int, shape_str
from rirn_layers.layers.common import ResBlock, conv

__all__ = ["Reconstructor"]


def _steps(owner: str, scale: object) -> int:
    """The number of x2 steps of ``scale``, a power of two."""
    scale = check_int(owner, "scale", scale, 1)
    if scale & (scale - 1):
        raise ValueError(f"{owner}: `scale` must be a power of two, got {scale}")
    return scale.bit_length() - 1


def _widths(owner: str, widths: Sequence[int] | None, start: int, steps: int) -> list[int]:
    """The channels after each x2 step: ``widths`` as given, or ``start`` halved each step."""
    if widths is None:
        if start >> steps < 1:
            raise ValueError(
                f"{owner}: `mid_channels`={start} cannot be halved {steps} times"
            )
        return [start >> (i + 1) for i in range(steps)]
    ok = (
        isinstance(widths, Sequence) and not isinstance(widths, str) and len(widths) == steps
    )
    if not ok:
        raise ValueError(
            f"{owner}: `widths` must be {steps} ints >= 1 (one per x2 step), got {widths!r}"
        )
    return [check_int(owner, "widths", width, 1) for width in widths]


def _upsample(
    in_channels: int, out_channels: int, kernel_size: int, factory: dict[str, Any]
) -> nn.ConvTranspose2d:
    """A transposed convolution of stride 2 that doubles ``H`` and ``W`` exactly."""
    output_padding = kernel_size % 2
    padding = (kernel_size + output_padding - 2) // 2
    return nn.ConvTranspose2d(
        in_channels, out_channels, kernel_size, stride=2, padding=padding,
        output_padding=output_padding, **factory,
    )


class Reconstructor(nn.Module):
    """Decode ``(B, in_channels, H/scale, W/scale)`` features into a ``(B, 3, H, W)`` frame.

    ``body`` is, in order: the stem ``conv3x3(in -> mid_channels)`` (if ``stem``),
    ``num_blocks`` residual blocks, one x2 transposed convolution per octave of ``scale``
    (each followed by a ReLU if ``relu``) and ``conv(out_kernel_size)`` to ``out_channels``.

    Args:
        in_channels: channels of the concatenated features, e.g. ``wrapped.out_channels``.
        out_channels: channels of the output frame.
        scale: upsampling factor back to the input size, a power of two (1 = none).
        mid_channels: channels of the stem and the residual blocks; halved at every x2
            step unless ``widths`` is given. Not used with ``stem=False`` (the blocks then
            run at ``in_channels``).
        num_blocks: residual blocks at the feature resolution.
        residual: add the input frame to the output (then ``forward`` needs ``frame``).
        stem: start with a 3x3 convolution ``in_channels -> mid_channels``.
        widths: channels after each x2 step, ``log2(scale)`` ints (default: halving).
        upsample_kernel_size: kernel of the transposed convolutions (4: padding 1; odd
            sizes use ``output_padding=1``); each exactly doubles ``H`` and ``W``.
        relu: a ReLU after each transposed convolution.
        out_kernel_size: kernel of the last convolution, odd.
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
        >>> ifi = Reconstructor(80, stem=False, num_blocks=0, widths=(40, 20))  # IFI-RNN F_L
        >>> ifi(torch.randn(2, 80, 8, 12)).shape
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
        stem: bool = True,
        widths: Sequence[int] | None = None,
        upsample_kernel_size: int = 4,
        relu: bool = True,
        out_kernel_size: int = 5,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        check_int(owner, "in_channels", in_channels, 1)
        check_int(owner, "out_channels", out_channels, 1)
        steps = _steps(owner, scale)
        check_int(owner, "mid_channels", mid_channels, 1)
        check_int(owner, "num_blocks", num_blocks, 0)
        for name, flag in (("residual", residual), ("stem", stem), ("relu", relu)):
            check_bool(owner, name, flag)
        check_int(owner, "upsample_kernel_size", upsample_kernel_size, 1)
        if check_int(owner, "out_kernel_size", out_kernel_size, 1) % 2 == 0:
            raise ValueError(f"{owner}: `out_kernel_size` must be odd, got {out_kernel_size}")
        channels = mid_channels if stem else in_channels
        plan = _widths(owner, widths, channels, steps)
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale = scale
        self.residual = residual
        layers: list[nn.Module] = [conv(in_channels, mid_channels, 3, **factory)] if stem else []
        layers += [ResBlock(channels, **factory) for _ in range(num_blocks)]
        for width in plan:
            layers.append(_upsample(channels, width, upsample_kernel_size, factory))
            if relu:
                layers.append(nn.ReLU(inplace=True))
            channels = width
        layers.append(conv(channels, out_channels, out_kernel_size, **factory))
        self.body = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor, frame: torch.Tensor | None = None) -> torch.Tensor:
        owner = type(self).__name__
        features = check_image(owner, "features", features, self.in_channels)
        out = self.body(features)
        if not self.residual:
            return out
        if frame is None:
            raise ValueError(f"{owner}: `frame` is required when residual=True")
        frame = check_image(owner, "frame", frame, self.out_channels)
        if frame.shape != out.shape:
            raise ValueError(
                f"{owner}: expected `frame` of shape {shape_str(out.shape)} "
                f"(features {shape_str(features.shape)} x scale {self.scale}), got "
                f"{shape_str(frame.shape)}; pad frames to a multiple of the scale first "
                "(rirn_layers.pad_to_multiple)"
            )
        return out + frame

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"scale={self.scale}, residual={self.residual}"
        )
