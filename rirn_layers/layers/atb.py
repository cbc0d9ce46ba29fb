"""Adaptive Temporal Blending (ATB).

Park, Nah and Lee, "Recurrence-in-Recurrence Networks for Video Deblurring", BMVC 2022,
sec. 3.3, eq. (4) and supplementary table S4. ATB blends the current feature ``f_t`` with
the previous blended feature ``f~_{t-1}`` through two *independent* spatial attention maps::

    f~_t = w~_{t-1} * f~_{t-1} + w_t * f_t,    w~_{t-1} >= 0,  w_t >= 0

a conical combination: unlike DTB (:class:`~rirn_layers.DynamicTemporalBlend`) the weights
are not tied by a sum-to-one constraint, so ATB can attenuate or amplify both inputs.

Layers (table S4, ``c`` the feature channels)::

    concat(f_t, f~_{t-1})             2c
    conv 3x3 2c -> 2c                 2c, split into two halves of c
    upper: conv 3x3, ReLU, conv 1x1, sigmoid  -> w_t       (multiplies f_t)
    lower: conv 3x3, ReLU, conv 1x1, sigmoid  -> w~_{t-1}  (multiplies f~_{t-1})

Each map is per pixel and per channel, ``(B, c, H, W)``, in ``[0, 1]``.
"""

from __future__ import annotations

from typing import Literal, overload

import torch
from torch import nn

from rirn_layers._checks import check_image, check_int, check_same_as
from rirn_layers.layers.common import conv

__all__ = ["AdaptiveTemporalBlend"]

Weights = tuple[torch.Tensor, torch.Tensor]


def _attention_path(channels: int, factory: dict) -> nn.Sequential:
    return nn.Sequential(
        conv(channels, channels, 3, **factory),
        nn.ReLU(inplace=True),
        conv(channels, channels, 1, **factory),
        nn.Sigmoid(),
    )


class AdaptiveTemporalBlend(nn.Module):
    """``f~_t = w~_{t-1} * f~_{t-1} + w_t * f_t`` with free weights (RIRN eq. 4, table S4).

    At the first frame (``blended=None``) the previous blended feature is taken as zeros,
    the same start as a recurrent hidden state: ``f~_0 = w_0 * f_0``, where the weights are
    still computed from ``concat(f_0, 0)`` and ``w_prev`` multiplies the zeros.

    Args:
        channels: feature channels ``C``.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        - ``feature``: ``(B, C, H, W)``, the current feature ``f_t``.
        - ``blended``: ``(B, C, H, W)`` or ``None``, the previous output ``f~_{t-1}``.
        - Output: ``(B, C, H, W)``, ``f~_t``; with ``return_weights=True`` the tuple
          ``(f~_t, (w_prev, w_cur))`` with both weights ``(B, C, H, W)`` in ``[0, 1]``
          (also :meth:`weights`, without the blend).

    Example:
        >>> atb = AdaptiveTemporalBlend(60)
        >>> f = torch.randn(2, 60, 16, 16)
        >>> blended = atb(f)
        >>> blended, (w_prev, w_cur) = atb(f, blended, return_weights=True)
        >>> torch.allclose(blended, w_prev * atb(f) + w_cur * f, atol=1e-6)
        True
    """

    def __init__(
        self,
        channels: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_int("AdaptiveTemporalBlend", "channels", channels, 1)
        factory = {"device": device, "dtype": dtype}
        self.channels = channels
        self.mix = conv(2 * channels, 2 * channels, 3, **factory)
        self.current = _attention_path(channels, factory)  # upper path: w_t
        self.previous = _attention_path(channels, factory)  # lower path: w~_{t-1}

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
        out = w_prev * blended + w_cur * feature
        if return_weights:
            return out, (w_prev, w_cur)
        return out

    def weights(self, feature: torch.Tensor, blended: torch.Tensor | None = None) -> Weights:
        """The blend weights ``(w_prev, w_cur)`` that :meth:`forward` uses for these inputs.

        RIRN eq. (4): ``w_prev = w~_{t-1}`` and ``w_cur = w_t``, the two sigmoid maps of the
        lower and upper attention paths over ``conv3x3(concat(f_t, f~_{t-1}))``, each
        ``(B, C, H, W)`` in ``[0, 1]`` and not tied to each other; ``blended=None`` is the
        first frame (zeros), as in :meth:`forward`.

        Example:
            >>> atb = AdaptiveTemporalBlend(4)
            >>> f, prev = torch.randn(1, 4, 6, 6), torch.randn(1, 4, 6, 6)
            >>> w_prev, w_cur = atb.weights(f, prev)
            >>> torch.equal(atb(f, prev), w_prev * prev + w_cur * f)
            True
        """
        return self._weights(*self._inputs(feature, blended))

    def _inputs(
        self, feature: torch.Tensor, blended: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        feature = check_image("AdaptiveTemporalBlend", "feature", feature, self.channels)
        if blended is None:
            return feature, torch.zeros_like(feature)
        blended = check_same_as("AdaptiveTemporalBlend", "blended", blended, "feature", feature)
        return feature, blended

    def _weights(self, feature: torch.Tensor, blended: torch.Tensor) -> Weights:
        mixed = self.mix(torch.cat((feature, blended), dim=1))
        upper, lower = mixed.chunk(2, dim=1)
        w_cur = self.current(upper)
        w_prev = self.previous(lower)
        return w_prev, w_cur

    def extra_repr(self) -> str:
        return f"channels={self.channels}"
