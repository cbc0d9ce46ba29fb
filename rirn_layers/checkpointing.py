"""Activation checkpointing of one streaming step.

Back-propagation through ``T`` frames keeps every activation of every frame. With
checkpointing a step keeps only its inputs (the frame, the carried state and the extra
inputs) and recomputes the rest in the backward pass: activation memory that no longer grows
with the depth of the network, for about one extra forward pass of compute. Outputs and
gradients are unchanged, and random ops replay the same numbers (the RNG state is saved).
:class:`~rirn_layers.StreamingDeblurModel` runs every step through :func:`run_step`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch.utils.checkpoint import checkpoint

__all__ = ["run_step"]

_R = TypeVar("_R")


def _call(
    advance: Callable[..., _R], frame: torch.Tensor, state: Any, inputs: dict[str, torch.Tensor]
) -> _R:
    return advance(frame, state, **inputs)


def run_step(
    advance: Callable[..., _R],
    frame: torch.Tensor,
    state: Any,
    inputs: dict[str, torch.Tensor],
    *,
    checkpointed: bool = False,
) -> _R:
    """``advance(frame, state, **inputs)``, checkpointed when ``checkpointed`` and grad is on.

    Example:
        >>> conv = nn.Conv2d(3, 3, 3, padding=1)
        >>> step = lambda frame, state: (conv(frame), state)
        >>> frame = torch.rand(1, 3, 8, 8, requires_grad=True)
        >>> out, _ = run_step(step, frame, None, {}, checkpointed=True)
        >>> out.sum().backward()  # the convolution runs again here
        >>> frame.grad.shape
        torch.Size([1, 3, 8, 8])
    """
    if checkpointed and torch.is_grad_enabled():
        out: _R = checkpoint(_call, advance, frame, state, inputs, use_reentrant=False)
        return out
    return advance(frame, state, **inputs)
