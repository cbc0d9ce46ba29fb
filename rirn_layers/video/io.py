"""Frame readers and writers for video files (PyAV) and folders of images (Pillow).

Frames are ``(3, H, W)`` float32 RGB tensors in ``[0, 1]``. Writers write into a temporary
sibling of the destination and move it into place on :meth:`FrameWriter.commit`;
:meth:`FrameWriter.abort` removes the temporary output.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

__all__ = ["IMAGE_SUFFIXES", "FrameReader", "FrameWriter", "open_reader", "open_writer"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _require(module: str, extra: str) -> Any:
    try:
        return __import__(module)
    except ImportError as err:
        raise ImportError(
            f"{module} is needed for this; install it with pip install 'rirn-layers[{extra}]'"
        ) from err


def _natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _to_tensor(array: Any) -> torch.Tensor:
    frame = torch.from_numpy(array.copy())
    if frame.dim() == 2:
        frame = frame[..., None].expand(-1, -1, 3)
    return frame[..., :3].permute(2, 0, 1).float().div_(255.0)


def _to_uint8(frame: torch.Tensor) -> Any:
    levels = (frame.detach().float().clamp(0, 1) * 255 + 0.5).to(torch.uint8)
    return levels.permute(1, 2, 0).cpu().numpy()


class FrameReader:
    """Iterates over the frames of a video file or an image folder, in order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fps: Any = None
        self.names: list[str] = []

    def __iter__(self) -> Iterator[torch.Tensor]:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.names)


class _FolderReader(FrameReader):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.names = sorted(
            (p.name for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
            key=_natural_key,
        )
        if not self.names:
            raise ValueError(
                f"input folder {path} holds no frames ({', '.join(IMAGE_SUFFIXES)} files)"
            )
        _require("PIL", "video")

    def __iter__(self) -> Iterator[torch.Tensor]:
        import numpy as np
        from PIL import Image, UnidentifiedImageError

        for name in self.names:
            try:
                with Image.open(self.path / name) as image:
                    array = np.asarray(image.convert("RGB"))
            except (OSError, UnidentifiedImageError) as err:
                raise ValueError(f"cannot read frame {self.path / name}: {err}") from err
            yield _to_tensor(array)


class _VideoReader(FrameReader):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        av = _require("av", "video")
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise ValueError(f"{path} has no video stream")
                stream = container.streams.video[0]
                self.fps = stream.average_rate
                self.frames = stream.frames
        except av.error.FFmpegError as err:
            raise ValueError(f"cannot read video {path}: {err}") from err

    def __len__(self) -> int:
        return int(self.frames)

    def __iter__(self) -> Iterator[torch.Tensor]:
        av = _require("av", "video")
        try:
            with av.open(str(self.path)) as container:
                for frame in container.decode(video=0):
                    yield _to_tensor(frame.to_ndarray(format="rgb24"))
        except av.error.FFmpegError as err:
            raise ValueError(f"cannot decode video {self.path}: {err}") from err


def open_reader(path: str | Path) -> FrameReader:
    """A reader for a folder of images (sorted naturally by name) or a video file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input {path} does not exist")
    return _FolderReader(path) if path.is_dir() else _VideoReader(path)


class FrameWriter:
    """Writes frames into a temporary output; :meth:`commit` moves it into place."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0

    def write(self, frame: torch.Tensor, name: str | None = None) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


class _FolderWriter(FrameWriter):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))

    def write(self, frame: torch.Tensor, name: str | None = None) -> None:
        from PIL import Image

        name = name or f"{self.count:06d}.png"
        Image.fromarray(_to_uint8(frame)).save(self.tmp / name)
        self.count += 1

    def commit(self) -> None:
        if self.path.exists():
            shutil.rmtree(self.path) if self.path.is_dir() else self.path.unlink()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


class _VideoWriter(FrameWriter):
    def __init__(self, path: Path, fps: Any, codec: str = "libx264", crf: int = 18) -> None:
        super().__init__(path)
        self.av = _require("av", "video")
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix,
                                       dir=path.parent)
        os.close(handle)
        self.tmp = Path(tmp)
        self.container = self.av.open(str(self.tmp), mode="w")
        self.stream = self.container.add_stream(codec, rate=fps or 30)
        self.stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            self.stream.options = {"crf": str(crf)}

    def write(self, frame: torch.Tensor, name: str | None = None) -> None:
        array = _to_uint8(frame)
        if self.count == 0:  # yuv420p needs even sizes; the frame is padded, never cropped
            self.stream.height = array.shape[0] + array.shape[0] % 2
            self.stream.width = array.shape[1] + array.shape[1] % 2
        video = self.av.VideoFrame.from_ndarray(array, format="rgb24")
        for packet in self.stream.encode(video.reformat(self.stream.width, self.stream.height)):
            self.container.mux(packet)
        self.count += 1

    def commit(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # closing a half-written container may fail; the file goes anyway
            pass
        self.tmp.unlink(missing_ok=True)


def open_writer(path: str | Path, *, like: FrameReader) -> FrameWriter:
    """A writer mirroring ``like``: a folder for a folder input, a video for a video."""
    path = Path(path)
    if isinstance(like, _FolderReader):
        return _FolderWriter(path)
    return _VideoWriter(path, like.fps)
