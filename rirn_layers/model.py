"""A full recurrent deblurring model: a (wrapped) cell plus a reconstructor.

RIRN eq. (1)-(4) end to end: ``out_t = cat(f_t, h_t, f~_t, h~_t)`` from a
:class:`~rirn_layers.wrap.RecurrentCellWrapper` and ``L_t = Reconstructor(out_t)``.
"""

from __future__ import annotations

import torch
from torch import nn

from rirn_layers._checks import check_clip, check_image
from rirn_layers.padding import crop_to, pad_to_multiple
from rirn_layers.reconstructor import Reconstructor
from rirn_layers.wrap import RecurrentCellWrapper, RIRNState

__all__ = ["RecurrentDeblurNet"]


class RecurrentDeblurNet(nn.Module):
    """Causal recurrent video deblurring: ``L_t = Reconstructor(wrapped(B_t, state))``.

    Frames of any size are padded (replicate) to a multiple of ``reconstructor.scale`` and
    the output is cropped back, so every input frame gets an output of its own size.

    Args:
        wrapped: the cell wrapped by :func:`~rirn_layers.wrap_recurrent_cell`.
        reconstructor: maps ``wrapped.out_channels`` features back to a frame.

    Shape:
        - ``step(frame, state)``: ``(B, C, H, W)`` -> ``(B, C_out, H, W)`` and the new state.
        - ``forward(frames, state)``: ``(B, T, C, H, W)`` -> ``(B, T, C_out, H, W)`` and the
          final state (pass it back in to continue a long video chunk by chunk).

    Example:
        >>> from torch import nn
        >>> from rirn_layers import Reconstructor, wrap_recurrent_cell
        >>> class Cell(nn.Module):  # x2 downsampling, hidden state at the feature size
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.enc = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        ...         self.rec = nn.Conv2d(16 + 8, 16 + 8, 3, padding=1)
        ...     def forward(self, frame, hidden):
        ...         x = self.enc(frame)
        ...         if hidden is None:
        ...             hidden = x.new_zeros(x.shape[0], 8, *x.shape[-2:])
        ...         f, h = self.rec(torch.cat((x, hidden), 1)).split([16, 8], 1)
        ...         return f, torch.tanh(h)
        >>> wrapped = wrap_recurrent_cell(Cell())
        >>> rec = Reconstructor(wrapped.out_channels, scale=2, residual=True)
        >>> model = RecurrentDeblurNet(wrapped, rec)
        >>> restored, state = model(torch.rand(1, 4, 3, 30, 45))  # odd sizes are fine
        >>> restored.shape
        torch.Size([1, 4, 3, 30, 45])
    """

    def __init__(self, wrapped: RecurrentCellWrapper, reconstructor: Reconstructor) -> None:
        super().__init__()
        if reconstructor.in_channels != wrapped.out_channels:
            raise ValueError(
                f"RecurrentDeblurNet: `reconstructor` takes {reconstructor.in_channels} "
                f"channels but `wrapped` outputs {wrapped.out_channels}"
            )
        self.wrapped = wrapped
        self.reconstructor = reconstructor

    def step(
        self, frame: torch.Tensor, state: RIRNState | None = None
    ) -> tuple[torch.Tensor, RIRNState]:
        """Deblur one frame ``(B, C, H, W)`` given the state after the previous one."""
        frame = check_image("RecurrentDeblurNet", "frame", frame, self.wrapped.in_channels)
        padded, size = pad_to_multiple(frame, self.reconstructor.scale)
        features, state = self.wrapped(padded, state)
        return crop_to(self.reconstructor(features, padded), size), state

    def forward(
        self, frames: torch.Tensor, state: RIRNState | None = None
    ) -> tuple[torch.Tensor, RIRNState]:
        frames = check_clip("RecurrentDeblurNet", "frames", frames, self.wrapped.in_channels)
        outs = []
        for frame in frames.unbind(1):
            out, state = self.step(frame, state)
            outs.append(out)
        if state is None:
            raise ValueError("RecurrentDeblurNet: `frames` needs T >= 1, got T = 0")
        return torch.stack(outs, dim=1), state
