"""Read and write a user's footage faithfully: video files (PyAV) and folders of images.

:func:`open_reader` gives the frames of a video file or an image folder as ``(3, H, W)``
float32 RGB at the source's full precision and exact size; :func:`open_writer` writes
frames back the way the source stored them:

- a folder becomes a folder: same names, formats, bit depths, gray/colour, alpha and
  metadata per file (:mod:`rirn_layers.video.folder`, :mod:`rirn_layers.io.images`);
- a video becomes a video in the container named by the output's suffix (.mp4, .mov,
  .mkv, .webm) with the same frame count, size, pts and time base, rate, colour tags, bit
  depth where the encoder allows it, and the audio and subtitle streams copied unchanged
  (:mod:`rirn_layers.video.container`, :mod:`rirn_layers.video.encoders`,
  :mod:`rirn_layers.video.remux`; YUV <-> RGB in :mod:`rirn_layers.video.colour`).

A folder cannot be written as a video nor a video as a folder (a ``ValueError`` says so):
a folder has no frame rate or colour tags to give a video, and a video's timestamps and
streams would be lost in a folder.

Where outputs go (temporary paths, refusing to overwrite, moving into place) is not this
module's business: a writer writes exactly into the path it is given and never deletes or
moves anything. What it creates gets the permissions of the user's umask.
"""

from __future__ import annotations

import os
from pathlib import Path

from rirn_layers.io.images import IMAGE_SUFFIXES, JPEG_QUALITY
from rirn_layers.video.base import ColourTags, FrameReader, FrameWriter, MediaInfo
from rirn_layers.video.encoders import CONTAINERS

__all__ = ["CONTAINERS", "IMAGE_SUFFIXES", "JPEG_QUALITY", "ColourTags", "FrameReader",
           "FrameWriter", "MediaInfo", "open_reader", "open_writer"]


def open_reader(path: str | os.PathLike) -> FrameReader:
    """A reader for a folder of images (natural name order) or a video file.

    Raises ``FileNotFoundError`` when ``path`` does not exist and ``ValueError`` (one line
    naming the file) when it holds no frames or cannot be decoded.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input {path} does not exist")
    if path.is_dir():
        from rirn_layers.video.folder import FolderReader

        return FolderReader(path)
    from rirn_layers.video.container import VideoReader

    return VideoReader(path)


def _check_folder_target(path: Path, like: FrameReader) -> None:
    if not path.is_dir():
        raise ValueError(f"a folder of frames ({like.path}) cannot be written as {path}; the "
                         "output of a folder is a folder (an existing empty one here)")
    if any(path.iterdir()):
        raise ValueError(f"output folder {path} is not empty; expected an empty folder to fill")


def _check_video_target(path: Path, like: FrameReader) -> None:
    if path.is_dir():
        raise ValueError(f"a video ({like.path}) cannot be written into the folder {path}; "
                         f"give a file name ending in {', '.join(CONTAINERS)}")


def open_writer(path: str | os.PathLike, like: FrameReader, *, codec: str | None = None,
                crf: float | None = None, lossless: bool = False) -> FrameWriter:
    """A writer that writes frames into ``path`` the way ``like``'s source stored them.

    Args:
        path: for a folder source an existing empty folder to fill; for a video source a
            file path (it may not exist yet) whose suffix names the container (.mp4, .mov,
            .mkv, .webm). Written exactly there.
        like: the reader of the source.
        codec: video encoder or codec name instead of the container's choice
            (``"libx265"``, ``"hevc"``, ``"ffv1"``, ...; see
            :mod:`rirn_layers.video.encoders`). Videos only.
        crf: the encoder's constant rate factor instead of its default (libx264/libx265 18,
            VP9/AV1 24). Videos only.
        lossless: encode the YUV planes losslessly (libx264 ``qp=0``, libx265 / VP9
            lossless, FFV1 in .mkv). For folders, PNG/TIFF/BMP are always lossless and JPEG
            frames are refused (JPEG cannot be written losslessly).

    Raises ``ValueError`` (one line, before anything is written) for a folder/video
    mismatch, an unknown suffix, an encoder the container cannot hold, or a copied stream
    the container cannot hold (write .mkv then); ``TypeError`` for a ``like`` that is not
    a reader.
    """
    if not isinstance(like, FrameReader):
        raise TypeError(f"like: expected a reader from open_reader, got {type(like).__name__}")
    path = Path(path)
    if like.info.kind == "folder":
        from rirn_layers.video.folder import FolderReader, FolderWriter

        assert isinstance(like, FolderReader)
        _check_folder_target(path, like)
        if codec is not None or crf is not None:
            raise ValueError(f"codec= and crf= apply to video outputs; {like.path} is a "
                             "folder of frames")
        jpegs = [n for n in like.names if n.lower().endswith((".jpg", ".jpeg"))]
        if lossless and jpegs:
            raise ValueError(f"lossless=True: {like.path} holds JPEG frames ({jpegs[0]}, ...), "
                             "which cannot be written losslessly")
        return FolderWriter(path, like)
    from rirn_layers.video.container import VideoReader, VideoWriter

    assert isinstance(like, VideoReader)
    _check_video_target(path, like)
    return VideoWriter(path, like, codec=codec, crf=crf, lossless=lossless)
