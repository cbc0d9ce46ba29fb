"""Deblur your own footage with a trained checkpoint (the ``rirn-deblur`` command).

    python examples/deblur_video.py --checkpoint best.pt --input clip.mp4 --output out.mp4
    python examples/deblur_video.py --checkpoint best.pt --input frames/ --output deblurred/

INPUT is a video file (read with PyAV) or a folder of frames (natural name order); OUTPUT
mirrors it: a video file (its suffix picks the container: .mp4, .mkv, .mov, .webm) or a
folder with the same file names, formats and bit depths. Frame count, size (never
rescaled), rate and timestamps, colour tags and bit depth are kept, audio and subtitles
copied. Any length in constant memory (the recurrent state is carried through the whole
video). An existing output is refused unless --overwrite, and even then only a file or an
output folder of ours is replaced; nothing is written unless the whole video succeeds
(Ctrl-C and SIGTERM included). A checkpoint of your own model (trained with --builder)
opens like a zoo model's, no flag needed; loading it imports the builder's module.

Installed as the command ``rirn-deblur`` by ``pip install 'rirn-layers[video]'``; see
``--help`` for every option.
"""

from __future__ import annotations

import sys

from rirn_layers.video.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="deblur_video.py"))
