"""The contracts between a cell, its wrapper and a reconstructor.

- :class:`RecurrentCell`: what :func:`~rirn_layers.wrap_recurrent_cell` calls,
  ``cell(frame, hidden, **extra_inputs)`` returning ``(feature, hidden)`` (or only the new
  hidden state, with ``feature=`` at wrap time).
- :class:`CellFeatures`: what the wrapper returns per frame, the four tensors of RIRN's
  reconstructor input ``f_t, h_t, f~_t, h~_t`` (sec. 3.4) by name, so a consumer takes the
  parts it needs (``out.feature``, ``out.cat("feature", "blended", "memory")``) instead of
  cutting a concatenation by channel counts.
- :class:`FrameReconstructor`: what a model decodes those features with; any module with
  ``in_channels``, ``out_channels``, ``scale`` and ``forward(features, frame)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

import torch

__all__ = ["PARTS", "CellFeatures", "FrameReconstructor", "RecurrentCell"]

#: The parts of :class:`CellFeatures`, in RIRN's order of the reconstructor input.
PARTS = ("feature", "hidden", "blended", "memory")


class RecurrentCell(Protocol):
    """A user's recurrent cell: one frame and the previous state in, feature and state out."""

    def __call__(self, frame: torch.Tensor, hidden: Any, /, **extra_inputs: torch.Tensor) -> Any:
        ...


@runtime_checkable
class FrameReconstructor(Protocol):
    """Decodes ``(B, in_channels, H / scale, W / scale)`` features into a frame.

    ``frame`` is the (padded) input frame ``(B, C, H, W)``, for a global residual.
    """

    in_channels: int
    out_channels: int
    scale: int

    def __call__(self, features: torch.Tensor, frame: torch.Tensor | None = None) -> torch.Tensor:
        ...


def _check_names(names: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [n for n in names if n not in PARTS]
    if unknown:
        raise ValueError(
            f"CellFeatures: unknown part(s) {unknown}; the parts are {', '.join(PARTS)}"
        )
    return names or PARTS


class CellFeatures(NamedTuple):
    """One frame's (or, from ``unroll``, one clip's) features of a wrapped cell.

    Attributes:
        feature: the cell's feature ``f_t`` ``(B, C_f, H', W')``.
        hidden: the tracked hidden state ``h_t`` ``(B, C_h, H', W')`` (the same tensor as
            ``feature`` for a cell whose feature is its hidden state).
        blended: ATB's blended feature ``f~_t`` ``(B, C_f, H', W')``, or ``None``.
        memory: IRM's memory ``h~_t`` ``(B, C_h, H', W')``, or ``None``.

    From :meth:`~rirn_layers.RecurrentCellWrapper.unroll` each part is ``(B, T, C, H', W')``.

    Example:
        >>> f, h = torch.zeros(1, 6, 4, 4), torch.zeros(1, 2, 4, 4)
        >>> out = CellFeatures(f, h, blended=f + 1, memory=None)
        >>> out.cat().shape, out.cat("feature", "blended").shape
        (torch.Size([1, 14, 4, 4]), torch.Size([1, 12, 4, 4]))
    """

    feature: torch.Tensor
    hidden: torch.Tensor
    blended: torch.Tensor | None = None
    memory: torch.Tensor | None = None

    def parts(self, *names: str) -> list[torch.Tensor]:
        """The named parts that are present, in the order given (all four by default)."""
        parts = (getattr(self, name) for name in _check_names(names))
        return [part for part in parts if part is not None]

    def cat(self, *names: str) -> torch.Tensor:
        """The named parts present, concatenated along channels (RIRN sec. 3.4 by default)."""
        chosen = self.parts(*names)
        if not chosen:
            raise ValueError(f"CellFeatures.cat: none of {names} is present")
        return chosen[0] if len(chosen) == 1 else torch.cat(chosen, dim=-3)
