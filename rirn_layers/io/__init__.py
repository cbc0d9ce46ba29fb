"""Frame files, read and written the same way by the datasets and the video tools.

:mod:`rirn_layers.io.names` says which files of a folder are frames and in which order
(no dependency); :mod:`rirn_layers.io.images` reads an image at its full depth and writes it
back in its own format (numpy and Pillow, PyAV for 16-bit colour: the ``train`` or ``video``
extra). The core never imports this package.
"""
