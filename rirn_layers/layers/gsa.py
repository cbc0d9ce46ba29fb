"""Global Spatio-temporal Attention (GSA).

Zhong, Gao, Zheng and Zheng, "Efficient Spatio-Temporal Recurrent Neural Network for Video
Deblurring" (ESTRNN), ECCV 2020, sec. 3.3, eq. (4)-(6). GSA fuses the feature ``f_t`` of the
current frame with the features of ``P`` past and ``F`` future frames. For every neighbour
``i`` a "GAP fusion" picks out what is useful in it::

    f^c_{t+i} = concat(f_t, f_{t+i})                        (4)
    f^e_{t+i} = L(GAP(f^c_{t+i})) * P(f^c_{t+i})            (5)
    F_t = Conv(concat(f^e_{t-P}, ..., f^e_{t+F}, f_t))       (6)

Layer sizes follow the official code (zzh-tech/ESTRNN): with ``C`` feature channels,
``L`` is Linear 2C->4C, activation, Linear 4C->2C, sigmoid (channel weights of the pair);
``P`` is two 1x1 convs 2C->4C->2C with no activation between them; the gated pair is
condensed by a 1x1 conv 2C->C. The three are shared by all neighbours. The condensed
neighbours come in time order and the current feature last, and a 1x1 conv fuses the
``(P+1+F)*C`` channels into as many output channels. The paper names ReLU as the
activation (the default here); the official code defaults to GELU (``activation=nn.GELU``).
"""

from __future__ import annotations

import torch
from einops import rearrange, repeat
from torch import nn

from rirn_layers._checks import check_clip, shape_str

__all__ = ["GlobalSpatioTemporalAttention"]


class GlobalSpatioTemporalAttention(nn.Module):
    """Fuse ``past`` + 1 + ``future`` frame features around the current one (ESTRNN eq. 4-6).

    The output at time ``t`` depends on exactly the window ``t-past .. t+future``: a model
    that uses it delivers frame ``t`` after frame ``t+future`` has been seen.

    Args:
        channels: feature channels ``C`` of every frame.
        past: number of past frames ``P`` in the window (ESTRNN: 2).
        future: number of future frames ``F`` in the window (ESTRNN: 2).
        activation: activation class between the two linear layers of the channel gate.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Attributes:
        out_channels: ``(past + 1 + future) * channels``.
        window: ``past + 1 + future``.

    Shape:
        - ``features``: ``(B, past + 1 + future, C, H, W)`` in time order, the current frame
          at index ``past``.
        - Output: ``(B, out_channels, H, W)``.

    Example:
        >>> gsa = GlobalSpatioTemporalAttention(16, past=2, future=2)
        >>> gsa(torch.randn(3, 5, 16, 8, 8)).shape
        torch.Size([3, 80, 8, 8])
    """

    def __init__(
        self,
        channels: int,
        past: int = 2,
        future: int = 2,
        *,
        activation: type[nn.Module] = nn.ReLU,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(
                f"GlobalSpatioTemporalAttention: `channels` must be >= 1, got {channels}"
            )
        if past < 0 or future < 0:
            raise ValueError(
                "GlobalSpatioTemporalAttention: `past` and `future` must be >= 0, "
                f"got past={past}, future={future}"
            )
        factory = {"device": device, "dtype": dtype}
        self.channels = channels
        self.past = past
        self.future = future
        self.window = past + 1 + future
        self.out_channels = self.window * channels
        pair = 2 * channels
        self.gate = nn.Sequential(
            nn.Linear(pair, 2 * pair, **factory),
            activation(),
            nn.Linear(2 * pair, pair, **factory),
            nn.Sigmoid(),
        )
        self.project = nn.Sequential(
            nn.Conv2d(pair, 2 * pair, 1, **factory),
            nn.Conv2d(2 * pair, pair, 1, **factory),
        )
        self.condense = nn.Conv2d(pair, channels, 1, **factory)
        self.fusion = nn.Conv2d(self.out_channels, self.out_channels, 1, **factory)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        features = check_clip("GlobalSpatioTemporalAttention", "features", features, self.channels)
        if features.shape[1] != self.window:
            raise ValueError(
                "GlobalSpatioTemporalAttention: expected `features` of shape "
                f"(B, {self.window}, {self.channels}, H, W) (past={self.past} + 1 + "
                f"future={self.future} frames), got {shape_str(features.shape)}"
            )
        batch, window = features.shape[:2]  # (4): pairs of the current feature and each neighbour
        center = features[:, self.past]
        neighbours = torch.cat((features[:, : self.past], features[:, self.past + 1 :]), dim=1)
        fused = [center]
        if window > 1:
            # All neighbours go through the shared GAP fusion as one batch of B * (P + F) pairs.
            n = window - 1
            centers = repeat(center, "b c h w -> b n c h w", n=n)
            pairs = rearrange(torch.cat((centers, neighbours), dim=2), "b n c h w -> (b n) c h w")
            weights = rearrange(self.gate(pairs.mean(dim=(2, 3))), "bn c -> bn c 1 1")  # (5) L
            effective = self.condense(weights * self.project(pairs))  # (5), condensed to C
            effective = rearrange(effective, "(b n) c h w -> b (n c) h w", b=batch)
            fused = [effective, center]
        return self.fusion(torch.cat(fused, dim=1))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, past={self.past}, future={self.future}"
