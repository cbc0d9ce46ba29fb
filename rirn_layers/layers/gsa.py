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

Computed in one matrix product. Everything after the channel gate is linear: the two 1x1
projection convs have no activation between them, the gate scales channels, and the
condense and fusion convs are 1x1. So for each batch item, eqs. (5)-(6) over the whole
window are a single ``(P+1+F) C x (P+1+F) C`` matrix ``G`` (and a bias) applied to the
window's stacked features at every pixel, built from the weights and the gates::

    f^e_{t+i} = K diag(g_i) (A f^c_{t+i} + a) + k      A, a: the two projections composed
    F_t       = G concat(f_{t-P}, ..., f_{t+F}) + b     K, k: condense; g_i the gate of (5)

which is exact (up to float rounding) and needs about a quarter of the multiply-adds of
running the layers one by one (``fused=False``, eqs. 4-6 as written, kept as the reference
and for :func:`~rirn_layers.profile.count_macs`' paper convention). The parameters are the
layers above either way, so checkpoints are the same.
"""

from __future__ import annotations

import torch
from einops import rearrange, repeat
from torch import nn

from rirn_layers._checks import check_bool, check_clip, check_int, shape_str

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
        fused: compute eqs. (5)-(6) as one matrix per batch item (default; about 4x fewer
            multiply-adds) instead of layer by layer as written (``False``); same outputs
            up to float rounding, same parameters.
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
        fused: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        owner = "GlobalSpatioTemporalAttention"
        check_int(owner, "channels", channels, 1)
        check_int(owner, "past", past, 0)
        check_int(owner, "future", future, 0)
        check_bool(owner, "fused", fused)
        factory = {"device": device, "dtype": dtype}
        self.channels = channels
        self.past = past
        self.future = future
        self.window = past + 1 + future
        self.fused = fused
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
        if not self.fused:
            return self._layerwise(features)
        matrix, bias = self._fold(features.mean(dim=(3, 4)))
        batch, window, channels, height, width = features.shape
        stacked = features.reshape(1, batch * window * channels, height, width)
        weight = rearrange(matrix, "b o i -> (b o) i 1 1")
        out = nn.functional.conv2d(stacked, weight, bias.flatten(), groups=batch)
        return out.reshape(batch, self.out_channels, height, width)

    def _layerwise(self, features: torch.Tensor) -> torch.Tensor:
        """Eqs. (4)-(6) as written, the neighbours as one batch of ``B (P + F)`` pairs."""
        batch, window = features.shape[:2]
        center = features[:, self.past]
        fused = [center]
        if window > 1:
            neighbours = torch.cat((features[:, : self.past], features[:, self.past + 1 :]), 1)
            centers = repeat(center, "b c h w -> b n c h w", n=window - 1)
            pairs = rearrange(torch.cat((centers, neighbours), dim=2), "b n c h w -> (b n) c h w")
            weights = rearrange(self.gate(pairs.mean(dim=(2, 3))), "bn c -> bn c 1 1")  # (5) L
            effective = self.condense(weights * self.project(pairs))  # (5), condensed to C
            effective = rearrange(effective, "(b n) c h w -> b (n c) h w", b=batch)
            fused = [effective, center]
        return self.fusion(torch.cat(fused, dim=1))  # (6)

    def _fold(self, means: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``G`` ``(B, W C, W C)`` and ``b`` ``(B, W C)`` from the window's per-frame means."""
        c, past = self.channels, self.past
        fusion = self.fusion.weight.flatten(1)  # (W C, W C): blocks of the neighbours, centre
        fusion_bias = self.fusion.bias
        center_block = fusion[:, -c:]  # the current feature, appended last (6)
        if self.window == 1:
            matrix = center_block.expand(means.shape[0], -1, -1)
            return matrix, fusion_bias.expand(means.shape[0], -1)
        first, second = self.project
        a = second.weight.flatten(1) @ first.weight.flatten(1)  # (2C, 2C), the projection
        a_bias = second.weight.flatten(1) @ first.bias + second.bias
        k = self.condense.weight.flatten(1)  # (C, 2C)
        # (4)-(5): the gates of the pairs (centre, neighbour i) from their global averages
        neighbours = torch.cat((means[:, :past], means[:, past + 1 :]), dim=1)  # (B, N, C)
        centers = repeat(means[:, past], "b c -> b n c", n=self.window - 1)
        gates = self.gate(torch.cat((centers, neighbours), dim=2))  # (B, N, 2C)
        # f^e_i = M_i f^c_i + m_i with M_i = K diag(g_i) A and m_i = K (g_i * a) + k
        mixes = torch.einsum("ck,bnk,kj->bncj", k, gates, a)  # (B, N, C, 2C)
        offsets = torch.einsum("ck,bnk->bnc", k, gates * a_bias) + self.condense.bias
        # (6): fusion block i of G times M_i, split over the pair's centre / neighbour halves
        blocks = rearrange(fusion[:, :-c], "o (n c) -> n o c", c=c)  # (N, W C, C)
        per_neighbour = torch.einsum("noc,bncj->bnoj", blocks, mixes)  # (B, N, W C, 2C)
        center = per_neighbour[..., :c].sum(dim=1) + center_block  # (B, W C, C)
        others = list(per_neighbour[..., c:].unbind(dim=1))  # each (B, W C, C)
        matrix = torch.cat((*others[:past], center, *others[past:]), dim=2)
        bias = torch.einsum("noc,bnc->bo", blocks, offsets) + fusion_bias
        return matrix, bias

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, past={self.past}, future={self.future}, "
            f"fused={self.fused}"
        )
