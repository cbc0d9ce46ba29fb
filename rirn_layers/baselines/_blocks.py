"""Blocks shared by the IFI-RNN family of baselines: IFI-RNN and RIRN's GRU and LSTM.

Nah, Son and Lee, "Recurrent Neural Networks with Intra-Frame Iterations for Video
Deblurring" (IFI-RNN), CVPR 2019, sec. 3.1 and fig. 2, and the RIRN supplementary
(Park, Nah and Lee, BMVC 2022) tables S1/S2, which build the GRU and LSTM on the same
encoder. The layer widths are those of the tables and of the public IFI-RNN
re-implementation by the ESTRNN authors (zzh-tech/ESTRNN ``model/IFIRNN.py``):

- :func:`frame_encoder` (IFI-RNN's ``F_B``): 5x5 convolutions ``3 -> 20`` (stride 1),
  ``20 -> 40`` (stride 2), ``40 -> 60`` (stride 2), a ReLU after each;
- :func:`hidden_head` (IFI-RNN's ``F_h``, the tail of table S2's candidate): 3x3 conv
  ``C -> 20``, ResBlock(20), 3x3 conv ``20 -> 20``, no activation outside the ResBlock;
- :class:`UpsamplingReconstructor` (IFI-RNN's ``F_L``): two x2 transposed convolutions
  ``C -> 40 -> 20`` (4x4, stride 2, a ReLU after each) and a 5x5 conv ``20 -> 3``, the core
  :class:`~rirn_layers.Reconstructor` without stem and residual blocks.

Activations. Neither the tables nor the IFI-RNN text list them. Both public ports put none
in ``F_B`` and ``F_L`` (so their three encoder convolutions compose to one linear map);
we follow the convention of this package's IRM (table S3): a ReLU after every convolution
that feeds another plain convolution (the encoder, the transposed convolutions), none
where a convolution projects onto a state, into a ResBlock or onto the output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from rirn_layers._checks import check_ints
from rirn_layers.contracts import PARTS
from rirn_layers.layers.common import ResBlock, conv
from rirn_layers.reconstructor import Reconstructor

#: Side of the zero frame of :func:`~rirn_layers.wrap_recurrent_cell`'s dry run for the
#: baselines: every baseline cell takes 16 x 16 frames, and the dry run stays cheap.
PROBE_SIZE = 16

__all__ = [
    "UpsamplingReconstructor",
    "check_channels",
    "frame_encoder",
    "hidden_head",
]


# -- validation --------------------------------------------------------------------------
def check_channels(owner: str, name: str, value: object) -> tuple[int, int, int]:
    """The three encoder widths of the IFI-RNN family, or ``ValueError`` naming ``name``."""
    return check_ints(  # type: ignore[return-value]
        owner, name, value, 3, what="widths of the stride 1, 2, 2 encoder convolutions"
    )


# -- layers ------------------------------------------------------------------------------
def frame_encoder(
    in_channels: int, channels: Sequence[int], factory: dict[str, Any]
) -> nn.Sequential:
    """``F_B``: 5x5 convs to ``channels[0..2]`` with strides 1, 2, 2, each followed by ReLU."""
    layers: list[nn.Module] = []
    previous = in_channels
    for width, stride in zip(channels, (1, 2, 2), strict=True):
        layers += [conv(previous, width, 5, stride=stride, **factory), nn.ReLU(inplace=True)]
        previous = width
    return nn.Sequential(*layers)


def hidden_head(in_channels: int, hidden_channels: int, factory: dict[str, Any]) -> nn.Sequential:
    """``F_h``: 3x3 conv ``in -> hidden``, ResBlock(hidden), 3x3 conv ``hidden -> hidden``."""
    return nn.Sequential(
        conv(in_channels, hidden_channels, 3, **factory),
        ResBlock(hidden_channels, **factory),
        conv(hidden_channels, hidden_channels, 3, **factory),
    )


class UpsamplingReconstructor(Reconstructor):
    """IFI-RNN's ``F_L``: x4 transposed-conv decoder from ``h/4`` features to a frame.

    ``deconv4x4/2(in -> widths[0]), ReLU, deconv4x4/2(widths[0] -> widths[1]), ReLU,
    conv5x5(widths[1] -> out)`` and optionally ``+ frame`` (global residual): the core
    :class:`~rirn_layers.Reconstructor` with ``scale=4``, ``stem=False`` and
    ``num_blocks=0`` (same layers, same parameter names ``body.<i>``).

    Args:
        in_channels: channels of the (concatenated) features it decodes.
        out_channels: channels of the output frame.
        widths: channels after the first and the second transposed convolution (IFI-RNN:
            ``(40, 20)``, the encoder widths in reverse).
        residual: add the input frame to the output (IFI-RNN's ports: no).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - ``features``: ``(B, in_channels, h, w)``.
        - ``frame``: ``(B, out_channels, 4h, 4w)``; read only when ``residual``.
        - Output: ``(B, out_channels, 4h, 4w)``.

    Example:
        >>> head = UpsamplingReconstructor(80)
        >>> head(torch.randn(2, 80, 8, 12)).shape
        torch.Size([2, 3, 32, 48])
    """

    scale = 4

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 3,
        *,
        widths: Sequence[int] = (40, 20),
        residual: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, scale=4, num_blocks=0, residual=residual, stem=False,
            widths=widths, device=device, dtype=dtype,
        )


def decoded_parts(decode_hidden: bool) -> tuple[str, ...]:
    """The wrapper's parts a decoder reads: ``f_t, f~_t, h~_t``, and ``h_t`` if asked."""
    return PARTS if decode_hidden else ("feature", "blended", "memory")
