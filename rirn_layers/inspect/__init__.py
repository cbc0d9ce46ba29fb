"""Look inside a model while it runs: record what IRM, ATB and DTB do, frame by frame.

An extra: the core package never imports it. The recording uses only torch; the figures
need matplotlib, imported only when one is drawn.

- :func:`record`, a context manager that hooks every
  :class:`~rirn_layers.RecurrentCellWrapper`, :class:`~rirn_layers.InnerRecurrence`,
  :class:`~rirn_layers.AdaptiveTemporalBlend` and :class:`~rirn_layers.DynamicTemporalBlend`
  of a model and returns a :class:`Recording` of their inputs, outputs and blend weights.
- :mod:`~rirn_layers.inspect.figures`: RIRN figs. 3 (:func:`state_maps`), 4
  (:func:`weight_sum_histogram`, :func:`weight_sums`), 6 (:func:`blend_maps`) and 7-9
  (:func:`comparison_grid`) drawn with matplotlib.
"""

from rirn_layers.inspect.figures import (
    blend_maps,
    comparison_grid,
    state_maps,
    weight_sum_histogram,
    weight_sums,
)
from rirn_layers.inspect.recording import DEFAULT_KINDS, KINDS, Recording, record

__all__ = [
    "DEFAULT_KINDS",
    "KINDS",
    "Recording",
    "blend_maps",
    "comparison_grid",
    "record",
    "state_maps",
    "weight_sum_histogram",
    "weight_sums",
]
