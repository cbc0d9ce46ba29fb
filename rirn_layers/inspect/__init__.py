"""Look inside a model while it runs: record what IRM, ATB and DTB do, frame by frame.

An extra: the core package never imports it. It uses only torch; the figures built from
these recordings (RIRN figs. 3, 4 and 6) come separately.

- :func:`record`, a context manager that hooks every
  :class:`~rirn_layers.RecurrentCellWrapper`, :class:`~rirn_layers.InnerRecurrence`,
  :class:`~rirn_layers.AdaptiveTemporalBlend` and :class:`~rirn_layers.DynamicTemporalBlend`
  of a model and returns a :class:`Recording` of their inputs, outputs and blend weights.
"""

from rirn_layers.inspect.recording import DEFAULT_KINDS, KINDS, Recording, record

__all__ = ["DEFAULT_KINDS", "KINDS", "Recording", "record"]
