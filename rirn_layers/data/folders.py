"""Blurry/sharp video datasets stored as folders of frames: GOPRO, REDS, DVD and BSD.

Layouts (``<seq>`` a sequence folder, frames any of PNG/JPEG/BMP/TIFF, matched by file name
without extension between the blurry and the sharp folder):

========  ==========================================================  ======================
name      layout under ``root``                                       split folders
========  ==========================================================  ======================
GOPRO     ``<split>/<seq>/{blur,blur_gamma,sharp}/*.png``             train; val = test
REDS      ``<split>_{blur,blur_comp,sharp}/<seq>/*.png`` (or under     train, val
          ``<split>/``)
DVD       ``<seq>/{input,GT}/*`` (or ``{train,test}/<seq>/...``)       val = test = the 10
                                                                      sequences of
                                                                      :data:`DVD_TEST_SEQUENCES`
BSD       ``BSD_<exp>/<split>/<seq>/{Blur,Sharp}/RGB/*.png``          train, valid, test
========  ==========================================================  ======================

Frames are read at their full depth (:mod:`rirn_layers.io.images`: 8-bit with Pillow,
16-bit gray with Pillow, 16-bit colour PNG/TIFF with PyAV) and returned as float32 RGB in
``[0, 1]`` (8-bit codes / 255, 16-bit codes / 65535; gray repeated to three channels, alpha
dropped). A clip is
``clip_length`` consecutive frames of one sequence (or the whole sequence); crop, flips,
90-degree rotation and noise are drawn once per clip (:mod:`rirn_layers.data.clips`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch.utils.data import Dataset

from rirn_layers._checks import check_int
from rirn_layers._optional import require
from rirn_layers.data.clips import (
    Augmentation,
    add_noise,
    apply_orientation,
    clip_windows,
    item_generator,
    parse_crop,
    resolve_augment,
    sample_transform,
)
from rirn_layers.io.names import IMAGE_SUFFIXES, natural_key

__all__ = [
    "DVD_TEST_SEQUENCES",
    "IMAGE_SUFFIXES",
    "BsdDataset",
    "DvdDataset",
    "FrameSequence",
    "GoproDataset",
    "RedsDataset",
    "VideoFolderDataset",
    "pair_frames",
    "read_frame",
    "scan_bsd",
    "scan_dvd",
    "scan_gopro",
    "scan_reds",
]

#: The DVD sequences held out for testing by its authors (Su et al., CVPR 2017).
DVD_TEST_SEQUENCES: tuple[str, ...] = (
    "720p_240fps_2",
    "IMG_0003",
    "IMG_0021",
    "IMG_0030",
    "IMG_0031",
    "IMG_0032",
    "IMG_0033",
    "IMG_0037",
    "IMG_0039",
    "IMG_0049",
)


def _pil_image() -> Any:
    return require("PIL.Image", extra="train", purpose="Reading dataset frames")


class FrameSequence(NamedTuple):
    """One sequence of paired frames, in display order.

    Attributes:
        name: the sequence's name (its folder).
        frames: the frames' names (file names without extension).
        blur: paths of the blurry frames.
        sharp: paths of the sharp frames, paired with ``blur``.
    """

    name: str
    frames: tuple[str, ...]
    blur: tuple[Path, ...]
    sharp: tuple[Path, ...]


def _images(folder: Path, sequence: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for p in folder.iterdir():
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_symlink() and not p.exists():
            raise ValueError(
                f"sequence {sequence!r}: frame {p.stem!r} at {p} is a broken symbolic link "
                f"(it points to {p.readlink()}, which does not exist)"
            )
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            if p.stem in found:
                raise ValueError(f"two frames named {p.stem!r} in {folder}: {found[p.stem]}, {p}")
            found[p.stem] = p
    return found


def pair_frames(name: str, blur_dir: str | Path, sharp_dir: str | Path) -> FrameSequence:
    """Pair the frames of ``blur_dir`` and ``sharp_dir`` by name; a mismatch is an error.

    Raises:
        ValueError: a folder is missing, empty, or a frame is in one folder and not the
            other (the message names the sequence and the frame).

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> for d in ("blur", "sharp"):
        ...     (root / d).mkdir()
        ...     for i in (2, 10):
        ...         (root / d / f"{i}.png").touch()
        >>> pair_frames("seq", root / "blur", root / "sharp").frames
        ('2', '10')
    """
    blur_dir, sharp_dir = Path(blur_dir), Path(sharp_dir)
    for kind, folder in (("blurry", blur_dir), ("sharp", sharp_dir)):
        if not folder.is_dir():
            raise ValueError(f"sequence {name!r}: no folder of {kind} frames at {folder}")
    blur, sharp = _images(blur_dir, name), _images(sharp_dir, name)
    for have, have_dir, lack, lack_dir in (
        (blur, blur_dir, sharp, sharp_dir),
        (sharp, sharp_dir, blur, blur_dir),
    ):
        missing = sorted(set(have) - set(lack), key=natural_key)
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise ValueError(
                f"sequence {name!r}: frame {missing[0]!r} is in {have_dir} but not in "
                f"{lack_dir}{more}"
            )
    if not blur:
        raise ValueError(
            f"sequence {name!r}: no frames ({', '.join(IMAGE_SUFFIXES)}) in {blur_dir}"
        )
    frames = tuple(sorted(blur, key=natural_key))
    return FrameSequence(
        name, frames, tuple(blur[f] for f in frames), tuple(sharp[f] for f in frames)
    )


def _image_size(path: Path, sequence: str, frame: str) -> tuple[int, int]:
    try:
        with _pil_image().open(path) as im:
            w, h = im.size
    except OSError as err:
        raise OSError(f"sequence {sequence!r}: cannot read frame {frame!r} at {path}") from err
    return h, w


def read_frame(
    path: str | Path,
    box: tuple[int, int, int, int] | None = None,
    expect_size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Read an image as ``(3, h, w)`` float32 RGB in ``[0, 1]``, at its full bit depth.

    8-bit images are divided by 255, 16-bit PNG/TIFF (gray or colour) by 65535: a 16-bit
    frame keeps its precision instead of being clipped or truncated to 8 bits.

    Args:
        path: the image file (PNG, JPEG, BMP, TIFF; gray becomes RGB, alpha is dropped).
        box: ``(top, left, height, width)`` to read a window only.
        expect_size: the image's ``(H, W)``; another size raises ValueError.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> path = Path(tempfile.mkdtemp()) / "f.png"
        >>> Image.new("RGB", (4, 3), (255, 0, 51)).save(path)
        >>> (read_frame(path)[:, 0, 0] * 255).round().tolist()
        [255.0, 0.0, 51.0]
        >>> read_frame(path, (1, 1, 2, 2)).shape
        torch.Size([3, 2, 2])
    """
    from rirn_layers.io.images import read_image  # needs numpy (the train extra)

    colour, _, kind = read_image(Path(path))
    if expect_size is not None and colour.shape[:2] != tuple(expect_size):
        raise ValueError(
            f"{path} has size {tuple(colour.shape[:2])}, expected {tuple(expect_size)}"
        )
    if box is not None:
        top, left, h, w = box
        colour = colour[top : top + h, left : left + w]
    codes = torch.from_numpy(colour.astype("float32", copy=True)).permute(2, 0, 1)
    frame = codes / (65535.0 if kind.depth == 16 else 255.0)
    return frame.expand(3, -1, -1).contiguous() if frame.shape[0] == 1 else frame


class VideoFolderDataset(Dataset):
    """Clips of ``clip_length`` consecutive paired frames from a list of sequences.

    Item ``i`` is a dict: ``"blur"`` and ``"sharp"`` ``(T, 3, h, w)`` float32 RGB in
    ``[0, 1]``, ``"sequence"`` (the sequence's name) and ``"frames"`` (the frames' names).
    The clips start every ``stride`` frames of every sequence, plus one ending on the
    sequence's last frame (so with ``stride <= clip_length`` every frame is in a clip); a
    sequence shorter than a clip is skipped with a warning. With augmentation the crop
    window is placed at random and the clip flipped/rotated as a whole, and the blurry
    frames get noise; without, the crop is centred. An item depends only on
    ``(seed, epoch, i)``.

    Args:
        sequences: the sequences, e.g. from :func:`scan_gopro`.
        clip_length: ``T``, or ``None`` for whole sequences (one item per sequence).
        crop: output ``(h, w)`` (or one int); ``None`` keeps whole frames.
        stride: frames between the starts of consecutive clips of a sequence.
        seed: the dataset's seed.
        augment: ``True``/:class:`~rirn_layers.data.clips.Augmentation` or ``False``.
        name: names the dataset in error messages.

    Raises:
        ValueError: no sequence, or none as long as ``clip_length``; when reading, a sharp
            frame whose size differs from its blurry frame, a frame whose size differs from
            the clip's, or a crop larger than the frames (naming the sequence and frame).

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> for kind in ("blur", "sharp"):
        ...     (root / kind).mkdir()
        ...     for i in range(4):
        ...         Image.new("RGB", (8, 6)).save(root / kind / f"{i:03d}.png")
        >>> seq = pair_frames("seq", root / "blur", root / "sharp")
        >>> ds = VideoFolderDataset([seq], clip_length=3, crop=4)
        >>> len(ds), ds[1]["blur"].shape, ds[1]["frames"]
        (2, torch.Size([3, 3, 4, 4]), ['001', '002', '003'])
    """

    def __init__(
        self,
        sequences: Sequence[FrameSequence],
        *,
        clip_length: int | None = 8,
        crop: int | tuple[int, int] | None = None,
        stride: int = 1,
        seed: int = 0,
        augment: bool | Augmentation = False,
        name: str = "video folder",
    ) -> None:
        _pil_image()
        if clip_length is not None:
            check_int(name, "clip_length", clip_length, 1)
        check_int(name, "stride", stride, 1)
        check_int(name, "seed", seed)
        sequences = list(sequences)
        if not sequences:
            raise ValueError(f"{name}: no sequences")
        self.sequences = sequences
        self.clip_length = clip_length
        self.crop = parse_crop(crop)
        self.stride = stride
        self.seed = seed
        self.epoch = 0
        self.augment = resolve_augment(augment)
        self.name = name
        self.clips: list[tuple[int, int]] = []
        short = []
        for s, seq in enumerate(sequences):
            starts = clip_windows(len(seq.frames), clip_length, stride)
            if not starts:
                short.append(f"{seq.name} ({len(seq.frames)})")
            self.clips.extend((s, start) for start in starts)
        if not self.clips:
            raise ValueError(
                f"{name}: no sequence has clip_length={clip_length} frames "
                f"(longest: {max(len(q.frames) for q in sequences)})"
            )
        if short:
            warnings.warn(
                f"{name}: skipping {len(short)} sequence(s) shorter than clip_length="
                f"{clip_length}: {', '.join(short[:5])}",
                stacklevel=2,
            )

    def __len__(self) -> int:
        return len(self.clips)

    def set_epoch(self, epoch: int) -> None:
        """Draw the augmentations of ``epoch`` from now on."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not isinstance(index, int):
            index = int(index)
        if not 0 <= index < len(self.clips):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} clips")
        s, start = self.clips[index]
        seq = self.sequences[s]
        stop = len(seq.frames) if self.clip_length is None else start + self.clip_length
        frames = seq.frames[start:stop]
        size = _image_size(seq.blur[start], seq.name, frames[0])
        g = item_generator(self.seed, self.epoch, index)
        where = f"frames of sequence {seq.name!r}"
        transform = sample_transform(g, size, self.crop, self.augment, where)
        box = (transform.top, transform.left, transform.height, transform.width)
        blur, sharp = [], []
        for i, frame in enumerate(frames, start):
            for kind, path, out in (("blurry", seq.blur[i], blur), ("sharp", seq.sharp[i], sharp)):
                try:
                    out.append(read_frame(path, box, expect_size=size))
                except ValueError as err:
                    raise ValueError(
                        f"sequence {seq.name!r}: {kind} frame {frame!r} does not match the "
                        f"clip's first blurry frame {frames[0]!r}: {err}"
                    ) from err
                except OSError as err:
                    raise OSError(
                        f"sequence {seq.name!r}: cannot read {kind} frame {frame!r} at {path}"
                    ) from err
        blur_clip = apply_orientation(torch.stack(blur), transform)
        sharp_clip = apply_orientation(torch.stack(sharp), transform)
        return {
            "blur": add_noise(blur_clip, transform.noise_std, g),
            "sharp": sharp_clip,
            "sequence": seq.name,
            "frames": list(frames),
        }


# ----------------------------------------------------------------------------- layouts


def _check_root(root: str | Path, layout: str) -> Path:
    if not isinstance(root, (str, Path)):
        raise TypeError(f"`root` must be a path, got {type(root).__name__}")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"{layout} root {str(path)!r} is not an existing directory")
    return path


def _subdirs(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name))


def _listing(folder: Path) -> str:
    names = sorted(p.name for p in folder.iterdir())
    return ", ".join(names[:8]) + (", ..." if len(names) > 8 else "") if names else "nothing"


def _split_dir(
    root: Path, split: str, choices: dict[str, Iterable[str]], layout: str, expected: str
) -> Path:
    if split not in choices:
        raise ValueError(f"{layout}: `split` must be one of {sorted(choices)}, got {split!r}")
    for candidate in choices[split]:
        if (root / candidate).is_dir():
            return root / candidate
    raise ValueError(
        f"{layout}: no {split!r} split under {root}: expected {expected} (found: {_listing(root)})"
    )


def _sequences(folder: Path, layout: str, expected: str) -> list[Path]:
    seqs = _subdirs(folder)
    if not seqs:
        raise ValueError(f"{layout}: no sequence folders in {folder}: expected {expected}")
    return seqs


def scan_gopro(root: str | Path, split: str = "train", blur: str = "blur") -> list[FrameSequence]:
    """Sequences of GOPRO (``GOPRO_Large``): ``root/<split>/<seq>/{blur,sharp}/*.png``.

    Args:
        root: the folder holding ``train/`` and ``test/``.
        split: ``"train"``, or ``"val"``/``"test"`` (both the ``test`` folder).
        blur: ``"blur"`` or ``"blur_gamma"``, the folder of blurry frames to use.
    """
    if blur not in ("blur", "blur_gamma"):
        raise ValueError(f"GOPRO: `blur` must be 'blur' or 'blur_gamma', got {blur!r}")
    root = _check_root(root, "GOPRO")
    expected = f"{root}/{{train,test}}/<sequence>/{{{blur},sharp}}/*.png"
    choices = {"train": ("train",), "val": ("test",), "test": ("test",)}
    base = _split_dir(root, split, choices, "GOPRO", expected)
    return [pair_frames(s.name, s / blur, s / "sharp") for s in _sequences(base, "GOPRO", expected)]


def scan_reds(root: str | Path, split: str = "train", blur: str = "blur") -> list[FrameSequence]:
    """Sequences of REDS: ``root/<split>_blur/<seq>/*.png`` with ``root/<split>_sharp/<seq>``.

    The folders may also sit one level down, as the archives unpack them
    (``root/train/train_blur/...``).

    Args:
        root: the folder holding ``train_blur/`` etc.
        split: ``"train"`` or ``"val"``.
        blur: ``"blur"`` or ``"blur_comp"`` (the JPEG-compressed track).
    """
    if blur not in ("blur", "blur_comp"):
        raise ValueError(f"REDS: `blur` must be 'blur' or 'blur_comp', got {blur!r}")
    if split not in ("train", "val"):
        raise ValueError(f"REDS: `split` must be 'train' or 'val', got {split!r}")
    root = _check_root(root, "REDS")
    expected = f"{root}/{split}_{{{blur},sharp}}/<sequence>/*.png"
    for base in (root, root / split):
        blur_root, sharp_root = base / f"{split}_{blur}", base / f"{split}_sharp"
        if blur_root.is_dir() or sharp_root.is_dir():
            break
    else:
        raise ValueError(
            f"REDS: no {split!r} split under {root}: expected {expected} (found: {_listing(root)})"
        )
    for folder in (blur_root, sharp_root):
        if not folder.is_dir():
            raise ValueError(f"REDS: missing folder {folder}: expected {expected}")
    blur_seqs = {p.name for p in _subdirs(blur_root)}
    sharp_seqs = {p.name for p in _subdirs(sharp_root)}
    for seqs, others, other_root in (
        (blur_seqs, sharp_seqs, sharp_root),
        (sharp_seqs, blur_seqs, blur_root),
    ):
        missing = sorted(seqs - others, key=natural_key)
        if missing:
            raise ValueError(f"REDS: sequence {missing[0]!r} has no folder in {other_root}")
    if not blur_seqs:
        raise ValueError(f"REDS: no sequence folders in {blur_root}: expected {expected}")
    return [
        pair_frames(s, blur_root / s, sharp_root / s) for s in sorted(blur_seqs, key=natural_key)
    ]


def scan_dvd(
    root: str | Path, split: str = "train", test_sequences: Sequence[str] = DVD_TEST_SEQUENCES
) -> list[FrameSequence]:
    """Sequences of DVD (Su et al.): ``root/<seq>/{input,GT}/*``.

    With ``root/train`` and ``root/test`` folders of sequences, those are the splits;
    otherwise (the original flat layout) ``test_sequences`` are the val/test split and all
    other sequences the train split.

    Args:
        root: the folder of sequences (``quantitative_datasets``) or of ``train``/``test``.
        split: ``"train"``, or ``"val"``/``"test"`` (the same sequences).
        test_sequences: the held-out sequences of the flat layout.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"DVD: `split` must be 'train', 'val' or 'test', got {split!r}")
    root = _check_root(root, "DVD")
    expected = f"{root}/<sequence>/{{input,GT}}/*"
    if (root / "train").is_dir() or (root / "test").is_dir():
        base = root / ("train" if split == "train" else "test")
        if not base.is_dir():
            raise ValueError(f"DVD: no folder {base}: expected {base}/<sequence>/{{input,GT}}/*")
        seqs = _sequences(base, "DVD", f"{base}/<sequence>/{{input,GT}}/*")
    else:
        held_out = set(test_sequences)
        seqs = [
            s
            for s in _sequences(root, "DVD", expected)
            if (s.name in held_out) == (split != "train")
        ]
        if not seqs:
            raise ValueError(
                f"DVD: no {split!r} sequences in {root}"
                + (f" (the test sequences are {sorted(held_out)})" if split != "train" else "")
            )
    return [pair_frames(s.name, s / "input", s / "GT") for s in seqs]


def scan_bsd(
    root: str | Path, split: str = "train", exposure: str | None = None
) -> list[FrameSequence]:
    """Sequences of BSD (Zhong et al.): ``root/BSD_<exp>/<split>/<seq>/{Blur,Sharp}/RGB/*.png``.

    Args:
        root: the folder holding ``BSD_1ms8ms`` etc., or one of those folders itself.
        split: ``"train"``, ``"val"`` (the ``valid`` folder) or ``"test"``.
        exposure: e.g. ``"2ms16ms"``; may be left out when ``root`` has one ``BSD_*``.
    """
    root = _check_root(root, "BSD")
    choices = {"train": ("train",), "val": ("valid", "val"), "test": ("test",)}
    if exposure is not None:
        base = root / f"BSD_{exposure}"
        if not base.is_dir():
            raise ValueError(f"BSD: no folder {base} (found: {_listing(root)})")
    elif any((root / d).is_dir() for names in choices.values() for d in names):
        base = root
    else:
        found = [p for p in _subdirs(root) if p.name.startswith("BSD_")]
        if len(found) != 1:
            raise ValueError(
                f"BSD: expected {root}/BSD_<exposure>/{{train,valid,test}}/<sequence>/"
                f"{{Blur,Sharp}}/RGB/*.png; "
                + (
                    f"pass `exposure`, one of {[p.name[4:] for p in found]}"
                    if found
                    else f"found: {_listing(root)}"
                )
            )
        base = found[0]
    expected = f"{base}/{{train,valid,test}}/<sequence>/{{Blur,Sharp}}/RGB/*.png"
    split_dir = _split_dir(base, split, choices, "BSD", expected)
    return [
        pair_frames(s.name, s / "Blur" / "RGB", s / "Sharp" / "RGB")
        for s in _sequences(split_dir, "BSD", expected)
    ]


class GoproDataset(VideoFolderDataset):
    """GOPRO clips (:func:`scan_gopro`); other arguments as :class:`VideoFolderDataset`."""

    def __init__(
        self, root: str | Path, split: str = "train", *, blur: str = "blur", **kwargs: Any
    ) -> None:
        _pil_image()  # fail on a missing Pillow before scanning
        super().__init__(scan_gopro(root, split, blur), name="GOPRO", **kwargs)


class RedsDataset(VideoFolderDataset):
    """REDS clips (:func:`scan_reds`); other arguments as :class:`VideoFolderDataset`."""

    def __init__(
        self, root: str | Path, split: str = "train", *, blur: str = "blur", **kwargs: Any
    ) -> None:
        _pil_image()  # fail on a missing Pillow before scanning
        super().__init__(scan_reds(root, split, blur), name="REDS", **kwargs)


class DvdDataset(VideoFolderDataset):
    """DVD clips (:func:`scan_dvd`); other arguments as :class:`VideoFolderDataset`."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        test_sequences: Sequence[str] = DVD_TEST_SEQUENCES,
        **kwargs: Any,
    ) -> None:
        _pil_image()  # fail on a missing Pillow before scanning
        super().__init__(scan_dvd(root, split, test_sequences), name="DVD", **kwargs)


class BsdDataset(VideoFolderDataset):
    """BSD clips (:func:`scan_bsd`); other arguments as :class:`VideoFolderDataset`."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        exposure: str | None = None,
        **kwargs: Any,
    ) -> None:
        _pil_image()  # fail on a missing Pillow before scanning
        super().__init__(scan_bsd(root, split, exposure), name="BSD", **kwargs)
