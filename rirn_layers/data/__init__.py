"""Blurry/sharp video datasets: a synthetic default and the GOPRO, REDS, DVD and BSD folders.

Every dataset is a :class:`torch.utils.data.Dataset` of dicts:

- ``"blur"``, ``"sharp"``: ``(T, 3, H, W)`` float32 RGB in ``[0, 1]``;
- ``"sequence"``: the sequence's name (``"<photo>/<index>"`` for the synthetic set);
- ``"frames"``: the frames' names (their indices for the synthetic set).

``build_dataset(name, root, split=...)`` makes any of them. The synthetic set needs no
data on disk: it renders GOPRO-style blur along random camera paths over the photographs
that ship inside scikit-image (``pip install 'rirn-layers[train]'``). Items depend only on
``(seed, epoch, index)``; call ``dataset.set_epoch(epoch)`` to draw new clips or crops each
epoch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from torch.utils.data import Dataset

from rirn_layers.data.clips import Augmentation
from rirn_layers.data.folders import (
    DVD_TEST_SEQUENCES,
    BsdDataset,
    DvdDataset,
    FrameSequence,
    GoproDataset,
    RedsDataset,
    VideoFolderDataset,
)
from rirn_layers.data.shaky import ShakyBlurDataset
from rirn_layers.data.synthetic import TRAIN_PHOTOS, VAL_PHOTOS, SyntheticBlurDataset

__all__ = [
    "DATASETS",
    "DVD_TEST_SEQUENCES",
    "TRAIN_PHOTOS",
    "VAL_PHOTOS",
    "Augmentation",
    "BsdDataset",
    "DvdDataset",
    "FrameSequence",
    "GoproDataset",
    "RedsDataset",
    "SyntheticBlurDataset",
    "VideoFolderDataset",
    "build_dataset",
]

#: Names accepted by :func:`build_dataset`.
DATASETS: tuple[str, ...] = ("synthetic", "shaky", "gopro", "reds", "dvd", "bsd")
#: Rendered datasets (no `root`); "shaky" is the long-memory probe of rirn_layers.data.shaky.
_GENERATED = {"synthetic": SyntheticBlurDataset, "shaky": ShakyBlurDataset}
_FOLDERS = {"gopro": GoproDataset, "reds": RedsDataset, "dvd": DvdDataset, "bsd": BsdDataset}


def build_dataset(
    name: str,
    root: str | Path | None = None,
    split: Literal["train", "val", "test"] = "train",
    clip_length: int | None = 8,
    crop: int | tuple[int, int] | None = None,
    seed: int = 0,
    augment: bool | Augmentation | None = None,
    **options: Any,
) -> Dataset:
    """Build dataset ``name`` (one of :data:`DATASETS`).

    Args:
        name: ``"synthetic"`` (no ``root``), ``"gopro"``, ``"reds"``, ``"dvd"`` or ``"bsd"``.
        root: the dataset's folder (see :mod:`rirn_layers.data.folders` for the layouts).
        split: ``"train"`` or ``"val"`` (``"test"`` where the dataset has one: GOPRO and
            DVD's val is their test set, BSD has both).
        clip_length: ``T``; ``None`` gives whole sequences (folder datasets only).
        crop: output ``(h, w)`` or one int; ``None`` keeps whole frames (128 for synthetic).
        seed: the seed items are drawn from.
        augment: random crop position, flips, 90-degree rotation and IFI-RNN noise on the
            blurry frames; default on for ``"train"``, off otherwise.
        **options: passed to the dataset class: ``blur="blur_gamma"`` (GOPRO) or
            ``"blur_comp"`` (REDS), ``exposure="2ms16ms"`` (BSD), ``stride`` (folders;
            default 1 for train, ``clip_length`` otherwise), ``length``, ``speed``, ``noise``
            ... (synthetic).

    Example:
        >>> ds = build_dataset("synthetic", split="val", clip_length=2, crop=16, length=3)
        >>> len(ds), ds[2]["blur"].shape
        (3, torch.Size([2, 3, 16, 16]))
    """
    if not isinstance(name, str) or name.lower() not in DATASETS:
        raise ValueError(f"`name` must be one of {list(DATASETS)}, got {name!r}")
    name = name.lower()
    if augment is None:
        augment = split == "train"
    if name in _GENERATED:
        if root is not None:
            raise ValueError(f"the synthetic dataset takes no `root`, got {root!r}")
        if split not in ("train", "val"):
            raise ValueError(f"synthetic: `split` must be 'train' or 'val', got {split!r}")
        if clip_length is None:
            raise ValueError("synthetic: `clip_length` must be a positive int, got None")
        return _GENERATED[name](
            split,
            clip_length=clip_length,
            crop=128 if crop is None else crop,
            seed=seed,
            augment=augment,
            **options,
        )
    if root is None:
        raise ValueError(f"{name}: `root` (the dataset's folder) is required")
    options.setdefault("stride", 1 if split == "train" or clip_length is None else clip_length)
    return _FOLDERS[name](
        root, split, clip_length=clip_length, crop=crop, seed=seed, augment=augment, **options
    )
