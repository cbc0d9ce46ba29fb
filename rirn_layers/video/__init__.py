"""Deblur a user's footage: a video file or a folder of frames, streamed in constant memory.

:func:`deblur` reads frames one at a time, runs a model's streaming ``step``/``flush`` (the
recurrent state is carried through the whole video, never reset), and writes each output
as soon as it is ready, so memory does not grow with the length. What it keeps:

- the user's data (:mod:`rirn_layers.video.output`): an existing output is refused unless
  asked to replace it, and then only a file or an output folder of ours; never the input;
  output goes to a temporary sibling that is moved into place only when every frame
  succeeded, and removed on any failure, Ctrl-C included;
- the footage (:mod:`rirn_layers.video.io`): frame count, size, rate and timestamps, colour
  tags and bit depth, audio and subtitles; folders keep names, formats and bit depths;
- the device's speed (``fast=True``) and memory (``tile=``, :mod:`rirn_layers.video.tiling`).

``rirn-deblur`` (:mod:`rirn_layers.video.cli`) is the same as a command. Needs the
``video`` extra: ``pip install 'rirn-layers[video]'``.
"""

from rirn_layers.video.io import FrameReader, FrameWriter, MediaInfo, open_reader, open_writer
from rirn_layers.video.output import OutputPlan, plan_output
from rirn_layers.video.run import DeblurSummary, deblur
from rirn_layers.video.tiling import TiledStream

__all__ = [
    "DeblurSummary",
    "FrameReader",
    "FrameWriter",
    "MediaInfo",
    "OutputPlan",
    "TiledStream",
    "deblur",
    "open_reader",
    "open_writer",
    "plan_output",
]
