"""Deblur a user's footage: a video file or a folder of frames, streamed in constant memory.

:func:`deblur` reads frames one at a time, runs a model's streaming ``step``/``flush`` (the
recurrent state is carried through the whole video, never reset), and writes each output
as soon as it is ready, so memory does not grow with the length. Output goes to a temporary
file or folder that is renamed into place only when everything succeeded: an unreadable
input or a failure half way leaves nothing partial behind.

Video files need PyAV (``pip install 'rirn-layers[video]'``), frame folders Pillow.
"""

from rirn_layers.video.io import FrameReader, FrameWriter, open_reader, open_writer
from rirn_layers.video.run import deblur

__all__ = ["FrameReader", "FrameWriter", "deblur", "open_reader", "open_writer"]
