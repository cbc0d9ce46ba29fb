"""ESTRNN's RDB cell, its reconstructor, and RIRN's RDBN (the RDB cell without GSA).

Zhong, Gao, Zheng and Zheng, "Efficient Spatio-Temporal Recurrent Neural Network for Video
Deblurring" (ESTRNN), ECCV 2020, sec. 3.2 (RDB cell, eq. 1-3, fig. 3) and the reconstructor
of sec. 3.3; RDBN as used by Park, Nah and Lee, "Recurrence-in-Recurrence Networks for Video
Deblurring" (RIRN), BMVC 2022, table 1/3 and supplementary S2.1 ("ESTRNN without the GSA
module and the cached features, B15C80").

With ``n`` base features (the paper's ``C#`` is ``5 n``: C80 is ``n = 16``) and ``B`` the
paper's ``B#``, one step of :class:`RDBCell` is::

    downsampling DS(I_t):   conv 5x5 3 -> n
                            RDB(n, growth n), conv 5x5 stride 2 n -> 2n
                            RDB(2n, growth floor(1.5 n)), conv 5x5 stride 2 2n -> 4n
    f^D_t = cat(DS(I_t), h_{t-1})                                   5n @ H/4     (1)
    middle network:         B x RDB(5n, growth 2n), each fed the previous one's output
    f_t = conv 3x3(conv 1x1(cat(f^{R_1}_t, ..., f^{R_B}_t)))       5n @ H/4     (2)
    h_t = conv 3x3(RDB(n, growth n)(conv 3x3 5n -> n))(f_t)          n @ H/4     (3)

An RDB (residual dense block, Zhang et al. 2018) has 3 dense layers (conv 3x3 + activation,
output concatenated to the input), a 1x1 local fusion conv back to its input width, and an
identity skip. :class:`ESTRNNReconstructor` upsamples with two stride-2 3x3 transposed
convs (``-> 2n -> n``) and ends with a 5x5 conv to the output channels (the core
:class:`~rirn_layers.Reconstructor` with those options).

Choices the paper leaves open, and what we picked (the official code, zzh-tech/ESTRNN
``model/ESTRNN.py``, decides all of them; we follow it):

- Layer widths, growth rates (``n``, ``floor(1.5 n)``, ``2n``), 3 dense layers per RDB,
  the extra 3x3 conv at the end of ``H`` (the paper names "3x3 conv and RDB") and the 3x3
  conv after the 1x1 fusion of eq. (2): as the official code.
- Activation: GELU (``activation=nn.GELU``, the code's default; the paper names ReLU for
  GSA only). Activations sit only inside the dense layers: none after the downsampling
  convs, the fusion convs, in ``H`` outside its RDB, or in the reconstructor.
- Every conv has a bias and "same" zero padding; downsampling is x4, so the cell needs
  ``H`` and ``W`` multiples of 4 (the models pad frames to that and crop the output back).
- ``h_0`` is zeros. There is no residual connection from the input frame to the output
  (the code trains on BGR in ``[-0.5, 0.5]``; here frames are RGB in ``[0, 1]``).

RDBN. RIRN gives no layer table for RDBN beyond "ESTRNN without GSA, B15C80". We take the
RDB cell as RIRN's encoder (eq. 1: ``f_t = f_t``, ``h_t = h_t``) and ESTRNN's reconstructor,
fed as in RIRN eq. (2)/sec. 3.4: ``L_t = Reconstructor(cat(f_t, h_t[, f~_t][, h~_t]))``
(``6n`` channels bare), built with :class:`~rirn_layers.RecurrentDeblurNet` around
:func:`~rirn_layers.wrap_recurrent_cell` (IRM over ``h_t``, ATB over ``f_t``). RDBN is
causal: each frame gives its output at once, no frame is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from rirn_layers._checks import (
    ArgumentTypeError,
    check_bool,
    check_image,
    check_int,
    check_nonempty,
    shape_str,
)
from rirn_layers.baselines._blocks import PROBE_SIZE
from rirn_layers.layers.common import conv
from rirn_layers.model import RecurrentDeblurNet
from rirn_layers.reconstructor import Reconstructor
from rirn_layers.wrap import wrap_recurrent_cell

__all__ = [
    "ESTRNNReconstructor",
    "RDBCell",
    "ResidualDenseBlock",
    "build_rdbn",
]

Activation = Callable[[], nn.Module]


# -- validation ------------------------------------------------------------------------------
def features_of(owner: str, channels: object) -> int:
    """The base width ``n`` of the paper's ``C# = 5 n`` (``channels`` a multiple of 5)."""
    is_int = isinstance(channels, int) and not isinstance(channels, bool)
    if not is_int or channels < 5 or channels % 5:  # type: ignore[operator]
        error = ValueError if is_int else ArgumentTypeError  # bools, floats, strings
        raise error(
            f"{owner}: `channels` (the paper's C#) must be a positive multiple of 5 "
            f"(5, 10, ..., 60, 80, 90; C# = 5 x n_features), got {channels!r}"
        )
    return channels // 5  # type: ignore[operator]


def check_activation(owner: str, activation: object) -> Activation:
    """``activation`` if it builds an ``nn.Module`` when called, else a ValueError."""
    made = activation() if callable(activation) else None
    if not isinstance(made, nn.Module):
        raise ValueError(
            f"{owner}: `activation` must be an nn.Module class or factory such as nn.GELU "
            f"or nn.ReLU, got {activation!r}"
        )
    return activation  # type: ignore[return-value]


# -- building blocks -------------------------------------------------------------------------

class _DenseLayer(nn.Module):
    """``cat(x, act(conv3x3(x)))``: one dense layer adding ``growth`` channels."""

    def __init__(
        self, channels: int, growth: int, activation: Activation, factory: dict[str, Any]
    ) -> None:
        super().__init__()
        self.conv = conv(channels, growth, 3, **factory)
        self.act = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((x, self.act(self.conv(x))), dim=1)


class ResidualDenseBlock(nn.Module):
    """Residual dense block: dense 3x3 layers, a 1x1 local fusion and an identity skip.

    Args:
        channels: input and output channels ``C``.
        growth: channels each dense layer adds.
        layers: number of dense layers (ESTRNN: 3).
        activation: activation class after each dense conv (ESTRNN code: ``nn.GELU``).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - Input: ``(B, C, H, W)``
        - Output: ``(B, C, H, W)``

    Example:
        >>> block = ResidualDenseBlock(8, growth=4)
        >>> block(torch.randn(2, 8, 5, 7)).shape
        torch.Size([2, 8, 5, 7])
    """

    def __init__(
        self,
        channels: int,
        growth: int,
        layers: int = 3,
        *,
        activation: Activation = nn.GELU,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_int("ResidualDenseBlock", "channels", channels, 1)
        check_int("ResidualDenseBlock", "growth", growth, 1)
        check_int("ResidualDenseBlock", "layers", layers, 1)
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.dense = nn.Sequential(
            *(
                _DenseLayer(channels + i * growth, growth, activation, factory)
                for i in range(layers)
            )
        )
        self.fuse = conv(channels + layers * growth, channels, 1, **factory)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fuse(self.dense(x))


class RDBCell(nn.Module):
    """ESTRNN's RDB-based RNN cell (sec. 3.2, eq. 1-3), x4 downsampling.

    Args:
        in_channels: channels of the input frame (3).
        blocks: RDBs in the middle network, the paper's ``B#`` (ESTRNN: 9; RDBN: 15).
        channels: width of the middle network, the paper's ``C# = 5 n`` (80, ``n = 16``).
        activation: activation class inside the dense layers (official code: ``nn.GELU``).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Attributes:
        feature_channels: ``channels`` (``5 n``), the channels of ``f_t``.
        hidden_channels: ``n = channels / 5``, the channels of ``h_t``.
        scale: 4.

    Shape:
        - ``frame``: ``(B, in_channels, H, W)`` with ``H`` and ``W`` multiples of 4.
        - ``hidden``: ``None`` (the first frame: zeros) or ``(B, n, H/4, W/4)``.
        - Output: ``feature`` ``f_t`` ``(B, 5n, H/4, W/4)`` and ``hidden`` ``h_t``
          ``(B, n, H/4, W/4)``.

    Example:
        >>> cell = RDBCell(blocks=2, channels=20)
        >>> feature, hidden = cell(torch.rand(2, 3, 32, 48), None)
        >>> feature, hidden = cell(torch.rand(2, 3, 32, 48), hidden)
        >>> feature.shape, hidden.shape
        (torch.Size([2, 20, 8, 12]), torch.Size([2, 4, 8, 12]))
    """

    scale = 4

    def __init__(
        self,
        in_channels: int = 3,
        *,
        blocks: int = 9,
        channels: int = 80,
        activation: Activation = nn.GELU,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_int("RDBCell", "in_channels", in_channels, 1)
        check_int("RDBCell", "blocks", blocks, 1)
        n = features_of("RDBCell", channels)
        check_activation("RDBCell", activation)
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        rdb: dict[str, Any] = {"activation": activation, **factory}
        self.in_channels = in_channels
        self.blocks = blocks
        self.feature_channels = channels
        self.hidden_channels = n
        self.downsample = nn.Sequential(  # DS(I_t), eq. (1)
            conv(in_channels, n, 5, **factory),
            ResidualDenseBlock(n, n, **rdb),
            conv(n, 2 * n, 5, stride=2, **factory),
            ResidualDenseBlock(2 * n, (3 * n) // 2, **rdb),
            conv(2 * n, 4 * n, 5, stride=2, **factory),
        )
        self.middle = nn.ModuleList(
            ResidualDenseBlock(channels, 2 * n, **rdb) for _ in range(blocks)
        )
        self.fuse = nn.Sequential(  # eq. (2)
            conv(blocks * channels, channels, 1, **factory),
            conv(channels, channels, 3, **factory),
        )
        self.to_hidden = nn.Sequential(  # H, eq. (3)
            conv(channels, n, 3, **factory),
            ResidualDenseBlock(n, n, **rdb),
            conv(n, n, 3, **factory),
        )

    def forward(
        self, frame: torch.Tensor, hidden: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        frame = check_image("RDBCell", "frame", frame, self.in_channels)
        check_nonempty("RDBCell", "frame", frame)
        height, width = frame.shape[-2:]
        if height % self.scale or width % self.scale:
            raise ValueError(
                f"RDBCell: `frame` needs H and W that are multiples of {self.scale} (4, 8, "
                f"..., x4 downsampling), got {shape_str(frame.shape)}; pad frames first "
                "(rirn_layers.pad_to_multiple)"
            )
        x = self.downsample(frame)
        if hidden is None:
            hidden = x.new_zeros(x.shape[0], self.hidden_channels, *x.shape[-2:])
        else:
            hidden = check_image("RDBCell", "hidden", hidden, self.hidden_channels)
            if hidden.shape[0] != x.shape[0] or hidden.shape[-2:] != x.shape[-2:]:
                raise ValueError(
                    f"RDBCell: expected `hidden` of shape "
                    f"{shape_str((x.shape[0], self.hidden_channels, *x.shape[-2:]))} for "
                    f"`frame` {shape_str(frame.shape)}, got {shape_str(hidden.shape)}"
                )
        h = torch.cat((x, hidden), dim=1)  # f^D_t
        outs = []
        for block in self.middle:
            h = block(h)
            outs.append(h)
        feature = self.fuse(torch.cat(outs, dim=1))
        return feature, self.to_hidden(feature)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, blocks={self.blocks}, "
            f"channels={self.feature_channels}, scale={self.scale}"
        )


class ESTRNNReconstructor(Reconstructor):
    """ESTRNN's reconstructor: two x2 transposed convs and a 5x5 conv, x4 upsampling.

    ``deconv 3x3 stride 2 (in -> 2n)``, ``deconv 3x3 stride 2 (2n -> n)``,
    ``conv 5x5 (n -> out)``, no activations and no residual to the input frame (the
    official code): the core :class:`~rirn_layers.Reconstructor` with ``scale=4``,
    ``stem=False``, ``num_blocks=0``, ``widths=(2n, n)``, ``upsample_kernel_size=3`` and
    ``relu=False`` (same layers, same parameter names ``body.<i>``).

    Args:
        in_channels: channels of the features it decodes.
        out_channels: channels of the output frame (3).
        features: the base width ``n`` (``C# / 5``; 16 for C80).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - ``features``: ``(B, in_channels, h, w)``.
        - ``frame``: ignored (ESTRNN has no residual connection to the input); accepted for
          the reconstructor interface ``forward(features, frame)``.
        - Output: ``(B, out_channels, 4h, 4w)``.

    Example:
        >>> head = ESTRNNReconstructor(96, features=16)
        >>> head(torch.randn(1, 96, 8, 12)).shape
        torch.Size([1, 3, 32, 48])
    """

    scale = 4

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 3,
        *,
        features: int = 16,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        check_int("ESTRNNReconstructor", "features", features, 1)
        super().__init__(
            in_channels, out_channels, scale=4, num_blocks=0, stem=False,
            widths=(2 * features, features), upsample_kernel_size=3, relu=False,
            device=device, dtype=dtype,
        )


def build_rdbn(
    *,
    irm: bool = False,
    atb: bool = False,
    blocks: int = 15,
    channels: int = 80,
    activation: Activation = nn.GELU,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> RecurrentDeblurNet:
    """Build RIRN's RDBN (ESTRNN's RDB cell without GSA, B15C80), bare or with IRM/ATB.

    Args:
        irm: RIRN's inner recurrence over the hidden state ``h_t`` (``n`` channels).
        atb: RIRN's adaptive temporal blend over the feature ``f_t`` (``5n`` channels).
        blocks: RDBs in the middle network, ``B#`` (15), ``>= 1``.
        channels: ``C# = 5 n`` (80), a positive multiple of 5.
        activation: activation class inside the dense layers (``nn.GELU``).
        device: device of the parameters (``"meta"`` to count MACs without memory).
        dtype: dtype of the parameters.

    Returns:
        A causal :class:`~rirn_layers.RecurrentDeblurNet`:
        ``L_t = ESTRNNReconstructor(cat(f_t, h_t[, f~_t][, h~_t]))``.

    Raises:
        ValueError: a value out of range or of the wrong type, naming the argument.

    Example:
        >>> model = build_rdbn(irm=True, atb=True, blocks=2, channels=20)
        >>> restored, state = model(torch.rand(1, 3, 3, 30, 45))
        >>> restored.shape
        torch.Size([1, 3, 3, 30, 45])
    """
    check_bool("build_rdbn", "irm", irm)
    check_bool("build_rdbn", "atb", atb)
    check_int("build_rdbn", "blocks", blocks, 1)
    n = features_of("build_rdbn", channels)
    check_activation("build_rdbn", activation)
    cell = RDBCell(blocks=blocks, channels=channels, activation=activation, device=device,
                   dtype=dtype)
    wrapped = wrap_recurrent_cell(cell, irm=irm, atb=atb, probe_size=PROBE_SIZE)
    head = ESTRNNReconstructor(wrapped.out_channels, features=n, device=device, dtype=dtype)
    return RecurrentDeblurNet(wrapped, head)
