"""Dynamic Temporal Blending (DTB).

Kim, Lee, Schölkopf and Hirsch, "Online Video Deblurring via Dynamic Temporal Blending
Network" (OVD / STRCNN), ICCV 2017, the dynamic temporal blending layer. The blend is a
convex combination of the current feature and the previous blended feature::

    w_t  = min(1, |tanh(conv5x5(concat(f_t, f~_{t-1})))| + beta)
    f~_t = w_t * f_t + (1 - w_t) * f~_{t-1}

with ``beta`` a learned scalar bias (OVD constrains it to ``[0, 1]``; it starts at 0 here)
and the weight map per pixel and channel. The weights sum to one everywhere; RIRN's
:class:`~rirn_layers.AdaptiveTemporalBlend` is this layer with that constraint removed.
The convolution is zero-padded so every pixel, the border included, gets a learned weight.
"""

from __future__ import annotations

from typing import Literal, overload

import torch
from torch import nn

from rirn_layers._checks import check_image, check_int, check_same_as
from rirn_layers.layers.common import conv

__all__ = ["DynamicTemporalBlend"]

Weights = tuple[torch.Tensor, torch.Tensor]


class DynamicTemporalBlend(nn.Module):
    """``f~_t = w_t * f_t + (1 - w_t) * f~_{t-1}``, the sum-to-one blend of OVD (ICCV 2017).

    At the first frame (``blended=None``) the previous blended feature is taken to be the
    current feature itself, so the blend is the identity, ``f~_0 = f_0``, whatever ``w_0``
    (a sum-to-one blend of a feature with itself changes nothing).

    Args:
        channels: feature channels ``C``.
        kernel_size: size of the convolution that predicts the weights (OVD: 5).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - ``feature``: ``(B, C, H, W)``, the current feature ``f_t``.
        - ``blended``: ``(B, C, H, W)`` or ``None``, the previous output ``f~_{t-1}``.
        - Output: ``(B, C, H, W)``; with ``return_weights=True`` the tuple
          ``(f~_t, (w_prev, w_cur))`` where ``w_prev = 1 - w_cur`` (also
          :meth:`weights`, without the blend).

    Example:
        >>> dtb = DynamicTemporalBlend(64)
        >>> f = torch.randn(1, 64, 8, 8)
        >>> out, (w_prev, w_cur) = dtb(f, torch.randn(1, 64, 8, 8), return_weights=True)
        >>> torch.allclose(w_prev + w_cur, torch.ones(()))
        True
    """

    def __init__(
        self,
        channels: int,
        *,
        kernel_size: int = 5,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_int("DynamicTemporalBlend", "channels", channels, 1)
        if check_int("DynamicTemporalBlend", "kernel_size", kernel_size, 1) % 2 == 0:
            raise ValueError(
                f"DynamicTemporalBlend: `kernel_size` must be odd and >= 1, got {kernel_size}"
            )
        factory = {"device": device, "dtype": dtype}
        self.channels = channels
        self.weight_conv = conv(2 * channels, channels, kernel_size, **factory)
        self.beta = nn.Parameter(torch.zeros((), **factory))

    @overload
    def forward(
        self,
        feature: torch.Tensor,
        blended: torch.Tensor | None = ...,
        *,
        return_weights: Literal[False] = ...,
    ) -> torch.Tensor: ...

    @overload
    def forward(
        self,
        feature: torch.Tensor,
        blended: torch.Tensor | None = ...,
        *,
        return_weights: Literal[True],
    ) -> tuple[torch.Tensor, Weights]: ...

    def forward(
        self,
        feature: torch.Tensor,
        blended: torch.Tensor | None = None,
        *,
        return_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, Weights]:
        feature, blended = self._inputs(feature, blended)
        w_prev, w_cur = self._weights(feature, blended)
        out = w_cur * feature + w_prev * blended
        if return_weights:
            return out, (w_prev, w_cur)
        return out

    def weights(self, feature: torch.Tensor, blended: torch.Tensor | None = None) -> Weights:
        """The blend weights ``(w_prev, w_cur)`` that :meth:`forward` uses for these inputs.

        ``w_cur = w_t = min(1, |tanh(conv(concat(f_t, f~_{t-1})))| + beta)`` (clipped to
        ``[0, 1]``) and ``w_prev = 1 - w_t`` (OVD's dynamic temporal blending), each
        ``(B, C, H, W)``; ``blended=None`` is the first frame, as in :meth:`forward`.

        Example:
            >>> dtb = DynamicTemporalBlend(4)
            >>> f, prev = torch.randn(1, 4, 6, 6), torch.randn(1, 4, 6, 6)
            >>> w_prev, w_cur = dtb.weights(f, prev)
            >>> torch.equal(dtb(f, prev), w_cur * f + w_prev * prev)
            True
        """
        return self._weights(*self._inputs(feature, blended))

    def _inputs(
        self, feature: torch.Tensor, blended: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        feature = check_image("DynamicTemporalBlend", "feature", feature, self.channels)
        if blended is None:
            return feature, feature
        blended = check_same_as("DynamicTemporalBlend", "blended", blended, "feature", feature)
        return feature, blended

    def _weights(self, feature: torch.Tensor, blended: torch.Tensor) -> Weights:
        logits = self.weight_conv(torch.cat((feature, blended), dim=1))
        w_cur = (torch.tanh(logits).abs() + self.beta).clamp(0.0, 1.0)
        return 1.0 - w_cur, w_cur

    def extra_repr(self) -> str:
        return f"channels={self.channels}, kernel_size={self.weight_conv.kernel_size[0]}"
