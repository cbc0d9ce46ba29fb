"""Filter adaptive convolution (FAC): a per-pixel, per-channel ``k x k`` filter.

Zhou, Zhang, Pan, Xie, Zuo and Ren, "Spatio-Temporal Filter Adaptive Network for Video
Deblurring" (STFAN), ICCV 2019, sec. 3.2 (the FAC layer). A network predicts a filter
volume ``F`` of ``C * k * k`` channels at the resolution of the features ``Q``; every
channel of every pixel gets its own ``k x k`` filter, applied depthwise to the
neighbourhood of that pixel (replication padding ``k // 2``)::

    out[b, c, y, x] = sum_{i, j < k} Qpad[b, c, y + i, x + j] * F[b, c*k*k + i*k + j, y, x]

Tap ``(i, j)`` (row ``i``, column ``j`` of the filter, top-left first) of channel ``c`` is
filter channel ``c * k * k + i * k + j``: channel-major, then row-major taps, the layout of
the official CUDA kernel (sczhou/STFAN ``models/FAC/kernelconv2d``). It is a correlation
(no flip), and the padding replicates the border, as there.

Implementation and memory. The official op is a CUDA extension without a CPU path; the
pure-PyTorch fallback in that repository unfolds the padded features into a
``(B, H, W, C, k*k)`` tensor (25 times the features for ``k = 5``) and multiplies it with
a permuted copy of the filters, so it holds several ``k*k``-times-the-features tensors at
once. Here the sum is accumulated over the ``k * k`` taps instead: tap ``(i, j)`` is one
fused multiply-add ``out += Qpad[..., i:i+H, j:j+W] * F_tap`` on ``(B, C, H, W)`` strided
views, in place. Peak extra memory, with ``S = B * C * H * W`` elements:

- forward: the padded features (``B * C * (H + k - 1) * (W + k - 1)``, about ``S``) and
  the output (``S``); no ``k * k * S`` temporary. The filters themselves (``k * k * S``)
  are an input and are only read.
- backward (a hand-written :class:`torch.autograd.Function`): the gradient of the filters
  (``k * k * S``, the size of the filters: unavoidable) written tap by tap into one
  buffer, and the gradient of the padded features (about ``S``). Autograd through the
  forward loop would instead allocate a full ``k * k * S`` buffer per tap (the backward of
  a strided view) and sum them.

Works on CPU, CUDA and the meta device, in any floating dtype (features and filters of
different dtypes are promoted to a common one), and is differentiable twice (when a
gradient graph is requested, the backward uses differentiable ops). The ``k * k``
multiply-adds are elementwise ops, which :class:`torch.utils.flop_counter.FlopCounterMode`
does not count; :func:`fac_macs` gives their number.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rirn_layers._checks import check_image, check_int, shape_str

__all__ = ["FilterAdaptiveConv", "fac_macs", "filter_adaptive_conv"]


def _check_kernel_size(owner: str, kernel_size: object) -> int:
    if check_int(owner, "kernel_size", kernel_size, 1) % 2 == 0:
        raise ValueError(f"{owner}: `kernel_size` must be an odd int >= 1, got {kernel_size!r}")
    return int(kernel_size)  # type: ignore[call-overload]


def _taps(padded: torch.Tensor, filters: torch.Tensor, k: int):
    """Yield ``(shifted features, filter tap)`` views, both ``(B, C, H, W)``."""
    height, width = filters.shape[-2:]
    per_channel = filters.unflatten(1, (padded.shape[1], k * k))  # (B, C, k*k, H, W) view
    for i in range(k):
        for j in range(k):
            yield padded[:, :, i : i + height, j : j + width], per_channel[:, :, i * k + j]


class _FilterAdaptiveConv(torch.autograd.Function):
    """FAC on already padded features; hand-written backward (see the module docstring)."""

    @staticmethod
    def forward(ctx: Any, padded: torch.Tensor, filters: torch.Tensor, k: int) -> torch.Tensor:
        ctx.k = k
        ctx.save_for_backward(padded, filters)
        out: torch.Tensor | None = None
        for shifted, tap in _taps(padded, filters, k):
            if out is None:
                out = shifted * tap
            else:
                out.addcmul_(shifted, tap)
        assert out is not None
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:
        padded, filters = ctx.saved_tensors
        k = ctx.k
        need_features, need_filters = ctx.needs_input_grad[:2]
        grad_padded = grad_filters = None
        if need_features:
            grad_padded = torch.zeros_like(padded)
        if need_filters and torch.is_grad_enabled():
            # double backward requested: out= ops are not differentiable, stack instead
            grad_filters = torch.stack(
                [grad_out * shifted for shifted, _ in _taps(padded, filters, k)], dim=2
            ).flatten(1, 2)
        elif need_filters:
            grad_filters = grad_out.new_empty(filters.shape)
            for (shifted, _), (_, out_tap) in zip(
                _taps(padded, filters, k), _taps(padded, grad_filters, k), strict=True
            ):
                torch.mul(grad_out, shifted, out=out_tap)
        if grad_padded is not None:
            for (_, tap), (window, _) in zip(
                _taps(padded, filters, k), _taps(grad_padded, filters, k), strict=True
            ):
                window.addcmul_(grad_out, tap)
        return grad_padded, grad_filters, None


def filter_adaptive_conv(
    features: torch.Tensor, filters: torch.Tensor, kernel_size: int = 5
) -> torch.Tensor:
    """Apply a ``k x k`` filter per pixel and per channel (STFAN's FAC, ICCV 2019 sec. 3.2).

    ``out[b, c, y, x] = sum_{i,j} Qpad[b, c, y+i, x+j] * F[b, c*k*k + i*k + j, y, x]`` with
    ``Qpad`` the features replication-padded by ``k // 2`` on every side.

    Args:
        features: ``Q``, ``(B, C, H, W)``.
        filters: ``F``, ``(B, C * k * k, H, W)``, channel-major then row-major taps.
        kernel_size: ``k``, odd (STFAN: 5).

    Returns:
        ``(B, C, H, W)``, in the promoted dtype of ``features`` and ``filters``.

    Raises:
        ValueError: ``kernel_size`` not odd and positive, or ``filters`` not of shape
            ``(B, C * k * k, H, W)`` (the message gives the expected and the actual shape).
        TypeError: a non-tensor or non-floating input.

    Example:
        >>> q = torch.rand(2, 4, 6, 7)
        >>> identity = torch.zeros(2, 4, 3, 3, 6, 7)
        >>> identity[:, :, 1, 1] = 1.0  # the centre tap of a 3 x 3 filter
        >>> out = filter_adaptive_conv(q, identity.flatten(1, 3), kernel_size=3)
        >>> torch.equal(out, q)
        True
    """
    k = _check_kernel_size("filter_adaptive_conv", kernel_size)
    features = check_image("filter_adaptive_conv", "features", features)
    filters = check_image("filter_adaptive_conv", "filters", filters)
    b, c, h, w = features.shape
    expected = (b, c * k * k, h, w)
    if tuple(filters.shape) != expected:
        raise ValueError(
            f"filter_adaptive_conv: expected `filters` of shape {shape_str(expected)} "
            f"(B, C * k * k, H, W) for `features` {shape_str(features.shape)} and "
            f"kernel_size={k}, got {shape_str(filters.shape)}"
        )
    if features.device != filters.device:
        raise ValueError(
            "filter_adaptive_conv: `features` and `filters` must be on one device, got "
            f"{features.device} and {filters.device}"
        )
    dtype = torch.promote_types(features.dtype, filters.dtype)
    features, filters = features.to(dtype), filters.to(dtype)
    pad = k // 2
    padded = F.pad(features, (pad, pad, pad, pad), mode="replicate") if pad else features
    return _FilterAdaptiveConv.apply(padded, filters, k)


def fac_macs(features_shape: tuple[int, ...] | torch.Size, kernel_size: int = 5) -> int:
    """Multiply-adds of one FAC on features of shape ``(B, C, H, W)``: ``B*C*H*W*k*k``.

    :class:`torch.utils.flop_counter.FlopCounterMode` does not count elementwise ops, so
    add this to its total (as MACs, i.e. half its FLOPs) to cost a model with FAC layers.

    Example:
        >>> fac_macs((1, 128, 180, 320))  # STFAN at 720p: one FAC at 1/4 resolution
        184320000
    """
    k = _check_kernel_size("fac_macs", kernel_size)
    if len(features_shape) != 4:
        raise ValueError(
            f"fac_macs: expected `features_shape` (B, C, H, W), got {tuple(features_shape)}"
        )
    b, c, h, w = (int(s) for s in features_shape)
    return b * c * h * w * k * k


class FilterAdaptiveConv(nn.Module):
    """Filter adaptive convolution layer (STFAN, ICCV 2019 sec. 3.2); no parameters.

    See :func:`filter_adaptive_conv` for the formula and the filter layout.

    Args:
        kernel_size: size ``k`` of the per-pixel filters, odd (STFAN: 5).

    Shape:
        - ``features``: ``(B, C, H, W)``.
        - ``filters``: ``(B, C * kernel_size**2, H, W)``.
        - Output: ``(B, C, H, W)``.

    Example:
        >>> fac = FilterAdaptiveConv(kernel_size=5)
        >>> q = torch.rand(1, 8, 16, 16)
        >>> filters = torch.full((1, 8 * 25, 16, 16), 1 / 25)  # a 5 x 5 box filter
        >>> out = fac(q, filters)
        >>> out.shape
        torch.Size([1, 8, 16, 16])
        >>> torch.allclose(out[..., 2:-2, 2:-2], torch.nn.functional.avg_pool2d(q, 5, 1))
        True
    """

    def __init__(self, kernel_size: int = 5) -> None:
        super().__init__()
        self.kernel_size = _check_kernel_size("FilterAdaptiveConv", kernel_size)

    def forward(self, features: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
        return filter_adaptive_conv(features, filters, self.kernel_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}"
