"""Folders of frames: read in natural name order, written back file by file like the source.

Each output frame gets the name, format, bit depth, gray/colour, alpha channel and
metadata of the source file of the same index (:mod:`rirn_layers.io.images`), so a
folder that mixes PNG and JPEG, or 8- and 16-bit files, comes back as it was.

Gray images are read as three identical channels and written back as gray (the BT.709
luma of the model's RGB; a gray frame is unchanged). The alpha channel is not given to the
model: it is copied unchanged from the source file into the output file. Hidden files
(names starting with ``.``) are not frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rirn_layers._optional import require
from rirn_layers.io.images import probe, read_image, write_image
from rirn_layers.io.names import IMAGE_SUFFIXES, natural_key
from rirn_layers.video.base import FrameReader, FrameWriter, MediaInfo, check_frame
from rirn_layers.video.colour import rgb_to_gray, to_codes

__all__ = ["FolderReader", "FolderWriter", "natural_key"]


def _frame_error(path: Path, err: Exception) -> ValueError:
    return ValueError(f"cannot read frame {path}: {err}")


class FolderReader(FrameReader):
    """The images of a folder (:data:`IMAGE_SUFFIXES`, any case), in natural name order."""

    def __init__(self, path: Path) -> None:
        require("PIL", extra="video", purpose=f"Reading the frame folder {path}")
        self.path = path
        self.names = sorted((p.name for p in path.iterdir() if p.is_file()
                             and not p.name.startswith(".")
                             and p.suffix.lower() in IMAGE_SUFFIXES), key=natural_key)
        if not self.names:
            raise ValueError(f"input folder {path} holds no frames "
                             f"({', '.join(IMAGE_SUFFIXES)} files)")
        first = self._probe(self.names[0])
        self.info = MediaInfo(kind="folder", path=path, size=first.size, bit_depth=first.depth,
                              chroma="4:0:0" if first.gray else "rgb", alpha=first.alpha)

    def _probe(self, name: str) -> Any:
        try:
            return probe(self.path / name)
        except (OSError, ValueError) as err:
            raise _frame_error(self.path / name, err) from None

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[torch.Tensor]:
        for name in self.names:
            try:
                colour, _, kind = read_image(self.path / name)
            except (OSError, ValueError) as err:
                raise _frame_error(self.path / name, err) from None
            frame = torch.from_numpy(colour.astype(np.float32)).permute(2, 0, 1)
            frame = frame / float(2**kind.depth - 1)
            yield frame.expand(3, -1, -1).contiguous() if kind.gray else frame


class FolderWriter(FrameWriter):
    """Writes the i-th frame as ``like.names[i]`` into the existing empty folder ``path``.

    The file gets the format, depth, gray/colour, alpha and metadata of the source file of
    that name (module doc); values outside ``[0, 1]`` are clipped.
    """

    def __init__(self, path: Path, like: FolderReader) -> None:
        self.path, self.like, self.count = path, like, 0
        self._closed = False

    def write(self, frame: torch.Tensor) -> None:
        """Write the next frame under the next source name."""
        if self._closed:
            raise ValueError(f"output {self.path}: write() after close()")
        if self.count >= len(self.like.names):
            raise ValueError(f"output {self.path}: frame {self.count} is one more than the "
                             f"{len(self.like.names)} frames of {self.like.path}")
        name = self.like.names[self.count]
        source = self.like.path / name
        try:
            kind = probe(source)
            alpha = read_image(source)[1] if kind.alpha else None
        except (OSError, ValueError) as err:
            raise _frame_error(source, err) from None
        rgb = check_frame(frame, kind.size, index=self.count, where=self.path / name)
        top = 2**kind.depth - 1
        codes = (to_codes(rgb_to_gray(rgb), 0.0, top, kind.depth)[None] if kind.gray
                 else to_codes(rgb, 0.0, top, kind.depth))
        dtype = np.uint8 if kind.depth == 8 else np.uint16
        write_image(self.path / name, codes.permute(1, 2, 0).numpy().astype(dtype), alpha, kind)
        self.count += 1

    def close(self) -> None:
        """Nothing to flush: every frame is a finished file once written; idempotent."""
        self._closed = True

    def abort(self) -> None:
        """Stop; the caller removes the folder."""
        self._closed = True
