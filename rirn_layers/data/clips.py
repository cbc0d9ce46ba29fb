"""Clip sampling and augmentation shared by the synthetic and the folder datasets.

Every dataset item is drawn from its own :class:`torch.Generator`, seeded from
``(seed, epoch, index, stream)`` by :func:`item_generator`, so an item depends on nothing but
those numbers: not on the order items are read in, nor on the DataLoader worker that reads it.

One :class:`ClipTransform` is drawn per clip and applied to every frame of the blurry and the
sharp clip alike: a crop window, horizontal/vertical flips and a 90-degree rotation (together
all 8 orientations of the square), and, on the blurry frames only, zero-mean Gaussian noise
whose standard deviation is itself drawn from ``N(0, sigma^2)`` (IFI-RNN, Nah et al.,
CVPR 2019, sec. 4.2: ``sigma = 2`` grey levels of 255).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from rirn_layers._checks import check_float

__all__ = [
    "Augmentation",
    "ClipTransform",
    "add_noise",
    "apply_orientation",
    "apply_transform",
    "clip_windows",
    "item_generator",
    "item_seed",
    "parse_crop",
    "sample_transform",
]

_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def item_seed(seed: int, epoch: int, index: int, stream: int = 0) -> int:
    """A 64-bit seed that mixes ``(seed, epoch, index, stream)`` (SplitMix64 chained).

    Nearby inputs (index 0, 1, 2...) give unrelated seeds.

    Example:
        >>> item_seed(0, 0, 1) != item_seed(0, 0, 2) != item_seed(1, 0, 1)
        True
    """
    h = 0
    for part in (seed, epoch, index, stream):
        h = _splitmix64(h ^ (int(part) & _MASK64))
    return h


def item_generator(seed: int, epoch: int, index: int, stream: int = 0) -> torch.Generator:
    """A CPU :class:`torch.Generator` seeded with :func:`item_seed`.

    Example:
        >>> a = torch.rand(3, generator=item_generator(7, 0, 5))
        >>> torch.equal(a, torch.rand(3, generator=item_generator(7, 0, 5)))
        True
    """
    return torch.Generator().manual_seed(item_seed(seed, epoch, index, stream))


def parse_crop(crop: int | tuple[int, int] | None, name: str = "crop") -> tuple[int, int] | None:
    """Normalise a crop size: ``None``, ``s`` (square) or ``(h, w)``, all positive ints.

    Example:
        >>> parse_crop(64), parse_crop((32, 48)), parse_crop(None)
        ((64, 64), (32, 48), None)
    """
    if crop is None:
        return None
    if isinstance(crop, bool):
        raise TypeError(f"`{name}` must be an int, a pair (h, w) or None, got {crop!r}")
    if isinstance(crop, int):
        crop = (crop, crop)
    if (
        not isinstance(crop, (tuple, list))
        or len(crop) != 2
        or not all(isinstance(c, int) and not isinstance(c, bool) for c in crop)
    ):
        raise TypeError(f"`{name}` must be an int, a pair (h, w) or None, got {crop!r}")
    if crop[0] < 1 or crop[1] < 1:
        raise ValueError(f"`{name}` must be positive, got {tuple(crop)}")
    return int(crop[0]), int(crop[1])


@dataclass(frozen=True)
class Augmentation:
    """Which random augmentations a dataset applies to each clip.

    Attributes:
        random_crop: crop window at a random position (else centred).
        hflip: flip left-right with probability 1/2.
        vflip: flip upside-down with probability 1/2.
        rot90: rotate by 90 degrees with probability 1/2 (only where the output keeps its
            shape: a crop is given, or the frames are square).
        noise_sigma: the blurry frames get zero-mean Gaussian noise of std ``|s|``,
            ``s ~ N(0, noise_sigma^2)``, one ``s`` per clip; in ``[0, 1]`` units
            (IFI-RNN: 2 grey levels, ``2 / 255``). ``0`` disables it.

    Example:
        >>> Augmentation(noise_sigma=0.0).rot90
        True
    """

    random_crop: bool = True
    hflip: bool = True
    vflip: bool = True
    rot90: bool = True
    noise_sigma: float = 2.0 / 255.0

    def __post_init__(self) -> None:
        check_float("Augmentation", "noise_sigma", self.noise_sigma, 0.0)


def resolve_augment(augment: bool | Augmentation | None) -> Augmentation | None:
    """``True`` -> the defaults, ``False``/``None`` -> no augmentation, an instance as is."""
    if augment is None or augment is False:
        return None
    if augment is True:
        return Augmentation()
    if isinstance(augment, Augmentation):
        return augment
    raise TypeError(f"`augment` must be a bool or an Augmentation, got {type(augment).__name__}")


class ClipTransform(NamedTuple):
    """One clip's augmentation, identical for every frame and for blur and sharp.

    The crop window ``(top, left, height, width)`` is taken first, in the frame as stored;
    then the flips, then a counter-clockwise 90-degree rotation (which swaps height and width:
    the window is drawn transposed so that the output has the requested crop size).
    """

    top: int
    left: int
    height: int
    width: int
    hflip: bool
    vflip: bool
    rot90: bool
    noise_std: float


def sample_transform(
    generator: torch.Generator,
    frame_size: tuple[int, int],
    crop: tuple[int, int] | None,
    augment: Augmentation | None,
    where: str = "frame",
) -> ClipTransform:
    """Draw one clip's :class:`ClipTransform` for frames of ``frame_size = (H, W)``.

    Args:
        generator: the item's generator (draws happen in a fixed order).
        frame_size: ``(H, W)`` of the stored frames.
        crop: output ``(h, w)``; ``None`` keeps whole frames.
        augment: the augmentations, or ``None`` for a centred crop and nothing else.
        where: names the frames in the error raised when the crop does not fit.

    Example:
        >>> t = sample_transform(torch.Generator().manual_seed(0), (10, 20), (4, 6), None)
        >>> (t.top, t.left, t.height, t.width, t.rot90, t.noise_std)
        (3, 7, 4, 6, False, 0.0)
    """
    H, W = frame_size
    u = torch.rand(6, generator=generator, dtype=torch.float64).tolist()
    g = float(torch.randn(1, generator=generator, dtype=torch.float64))
    a = augment
    out_h, out_w = crop if crop is not None else (H, W)
    rot = bool(a is not None and a.rot90 and u[0] < 0.5 and (crop is not None or H == W))
    h, w = (out_w, out_h) if rot else (out_h, out_w)
    if h > H or w > W:
        raise ValueError(
            f"crop {(out_h, out_w)} does not fit in the {where} of size {(H, W)}"
            + (" (rotated by 90 degrees)" if rot else "")
        )
    if a is not None and a.random_crop:
        top = min(int(u[1] * (H - h + 1)), H - h)
        left = min(int(u[2] * (W - w + 1)), W - w)
    else:
        top, left = (H - h) // 2, (W - w) // 2
    return ClipTransform(
        top=top,
        left=left,
        height=h,
        width=w,
        hflip=bool(a is not None and a.hflip and u[3] < 0.5),
        vflip=bool(a is not None and a.vflip and u[4] < 0.5),
        rot90=rot,
        noise_std=abs(g) * a.noise_sigma if a is not None else 0.0,
    )


def apply_orientation(clip: torch.Tensor, transform: ClipTransform) -> torch.Tensor:
    """Flip and rotate ``(..., H, W)`` as ``transform`` says (the crop is not applied).

    Example:
        >>> x = torch.arange(6.0).view(1, 2, 3)
        >>> t = ClipTransform(0, 0, 2, 3, hflip=True, vflip=False, rot90=False, noise_std=0.0)
        >>> apply_orientation(x, t).tolist()
        [[[2.0, 1.0, 0.0], [5.0, 4.0, 3.0]]]
    """
    dims = [d for d, on in ((-1, transform.hflip), (-2, transform.vflip)) if on]
    if dims:
        clip = clip.flip(dims)
    if transform.rot90:
        clip = torch.rot90(clip, 1, dims=(-2, -1))
    return clip.contiguous()


def apply_transform(clip: torch.Tensor, transform: ClipTransform) -> torch.Tensor:
    """Crop, flip and rotate ``(..., H, W)``; the noise is added by :func:`add_noise`.

    Example:
        >>> x = torch.rand(2, 3, 10, 20)
        >>> t = sample_transform(torch.Generator().manual_seed(1), (10, 20), (4, 6), Augmentation())
        >>> apply_transform(x, t).shape
        torch.Size([2, 3, 4, 6])
    """
    t = transform
    clip = clip[..., t.top : t.top + t.height, t.left : t.left + t.width]
    return apply_orientation(clip, t)


def add_noise(clip: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    """Add zero-mean Gaussian noise of standard deviation ``std`` and clamp to ``[0, 1]``.

    Example:
        >>> x = torch.full((1, 3, 8, 8), 0.5)
        >>> torch.equal(add_noise(x, 0.0, torch.Generator()), x)
        True
    """
    if std <= 0:
        return clip
    noise = torch.randn(clip.shape, generator=generator, dtype=clip.dtype)
    return (clip + std * noise).clamp_(0.0, 1.0)


def clip_windows(num_frames: int, clip_length: int | None, stride: int) -> list[int]:
    """Start frames of the clips of ``clip_length`` frames taken every ``stride`` frames.

    A last window that ends on the sequence's last frame is added when the stride would
    leave the last frames out, so with ``stride <= clip_length`` every frame lies in some
    clip. ``clip_length=None`` means one clip: the whole sequence. A sequence shorter than
    ``clip_length`` has no clip.

    Example:
        >>> clip_windows(10, 4, 4), clip_windows(10, 4, 1)[-1], clip_windows(3, 4, 1)
        ([0, 4, 6], 6, [])
    """
    if clip_length is None:
        return [0] if num_frames > 0 else []
    if num_frames < clip_length:
        return []
    starts = list(range(0, num_frames - clip_length + 1, stride))
    if starts[-1] != num_frames - clip_length:
        starts.append(num_frames - clip_length)
    return starts
