"""A synthetic long-memory probe: still video interrupted by sudden strong camera shakes.

RIRN claims that its inner recurrence (IRM) helps where abrupt motion blur makes the
neighbouring frames useless. This set makes that true by construction. Each clip alternates

- *still stretches*: the camera drifts slowly (``drift`` output px/frame, a fraction of a
  pixel of blur): the frames are sharp;
- *shakes*: for ``shake`` frames the camera oscillates fast around where it stood
  (``amplitude`` px, ``frequency`` cycles per frame on each axis, so up to ~50 px/frame):
  the frames are strongly blurred, and so are their neighbours.

The oscillation has zero mean about the still pose, so the content of a shaken frame is
where it was in the last sharp frame: the best help for frame ``t`` of a shake is the
sharp frame ``since_sharp[t]`` frames back, not frame ``t - 1``. Every clip starts with a
still stretch, so that frame exists.

Frames are rendered as in :mod:`rirn_layers.data.synthetic` (whose functions this module
imports): sub-frames spread over each exposure are rendered from a ``skimage.data``
photograph (:func:`~rirn_layers.data.synthetic.render_views`), averaged in the linear
domain, Poisson-like sensor noise added, gamma-encoded; the sharp frame is the middle
sub-frame. Items are pure functions of ``(seed, epoch, index)``, and hold besides the usual
keys ``"since_sharp"``: ``(T,)`` int64, 0 for a sharp (still) frame, ``k`` for the
``k``-th frame of a shake; ``"shaking"``: ``(T,)`` bool.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import torch
from torch.utils.data import Dataset

from rirn_layers._checks import check_choice, check_float, check_int
from rirn_layers.data.clips import (
    Augmentation,
    add_noise,
    apply_orientation,
    item_generator,
    parse_crop,
    resolve_augment,
    sample_transform,
)
from rirn_layers.data.synthetic import GAMMA, TRAIN_PHOTOS, VAL_PHOTOS, load_photo, render_views

__all__ = ["ShakyBlurDataset", "ShakyClip", "shake_runs", "shake_schedule", "since_sharp"]

_MARGIN = 3  # photo pixels kept free around every view (bicubic reads 2 beyond)
_RAMP = 0.15  # frames over which a shake fades in and out, inside its first/last exposure


def _pair(owner: str, name: str, value: float | Sequence[float], low: float) -> tuple:
    pair = (value, value) if isinstance(value, (int, float)) else tuple(value)
    if len(pair) != 2:
        raise ValueError(f"{owner}: `{name}` must be a number or a pair (low, high), got {value!r}")
    lo = check_float(owner, f"{name}[0]", pair[0], low)
    hi = check_float(owner, f"{name}[1]", pair[1], lo)
    return lo, hi


def _int_pair(owner: str, name: str, value: int | Sequence[int]) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2:
        raise ValueError(f"{owner}: `{name}` must be an int or a pair (low, high), got {value!r}")
    lo = check_int(owner, f"{name}[0]", pair[0], 1)
    return lo, check_int(owner, f"{name}[1]", pair[1], lo)


def shake_schedule(
    length: int, still: tuple[int, int], shake: tuple[int, int], generator: torch.Generator
) -> torch.Tensor:
    """Which of ``length`` frames shake: ``(length,)`` bool, a still stretch first.

    Still stretches and shakes alternate, their lengths drawn uniformly from the integer
    ranges ``still`` and ``shake`` (both inclusive).

    Example:
        >>> s = shake_schedule(12, (2, 3), (3, 4), torch.Generator().manual_seed(0))
        >>> bool(s[0]), bool(s[:2].any())
        (False, False)
    """
    out = torch.zeros(length, dtype=torch.bool)
    t, shaking = 0, False
    while t < length:
        lo, hi = shake if shaking else still
        run = lo + int(torch.randint(hi - lo + 1, (1,), generator=generator))
        out[t : t + run] = shaking
        t += run
        shaking = not shaking
    return out


def since_sharp(shaking: torch.Tensor) -> torch.Tensor:
    """Frames since the last sharp frame: 0 for sharp frames, ``k`` for a shake's ``k``-th.

    Example:
        >>> since_sharp(torch.tensor([False, True, True, False, True])).tolist()
        [0, 1, 2, 0, 1]
    """
    out = torch.zeros(shaking.shape, dtype=torch.int64)
    count = 0
    for t, s in enumerate(shaking.tolist()):
        count = count + 1 if s else 0
        out[t] = count
    return out


def _envelope(times: torch.Tensor, shaking: torch.Tensor) -> torch.Tensor:
    """1 inside the shaken frames' intervals ``[t - 1/2, t + 1/2]``, 0 outside, smooth ramps.

    A shake of frames ``a .. b - 1`` acts on ``[a - 1/2, b - 1/2]``, so no exposure of a
    still frame (at most ``[t - 1/2, t + 1/2]``) sees it; it fades in and out over
    :data:`_RAMP` frames inside that interval.
    """
    env = torch.zeros_like(times)
    for start, end in shake_runs(shaking):
        a, b = start - 0.5, end - 0.5
        rise = ((times - a) / _RAMP).clamp(0, 1)
        fall = ((b - times) / _RAMP).clamp(0, 1)
        env = torch.maximum(env, (torch.sin(rise * math.pi / 2) * torch.sin(fall * math.pi / 2))
                            .square())
    return env


def shake_runs(shaking: torch.Tensor) -> list[tuple[int, int]]:
    """``(start, end)`` of every run of shaken frames (``end`` exclusive), in order.

    Example:
        >>> shake_runs(torch.tensor([False, True, True, False, True]))
        [(1, 3), (4, 5)]
    """
    flags, runs, t = shaking.tolist(), [], 0
    while t < len(flags):
        if not flags[t]:
            t += 1
            continue
        end = t
        while end < len(flags) and flags[end]:
            end += 1
        runs.append((t, end))
        t = end
    return runs


class ShakyClip(NamedTuple):
    """What :meth:`ShakyBlurDataset.render` makes for one clip.

    Attributes:
        blur: ``(T, 3, h, w)`` blurry frames, gamma-encoded, sensor noise included.
        sharp: ``(T, 3, h, w)`` the middle sub-frames, gamma-encoded.
        shaking: ``(T,)`` bool, the shaken frames.
        since_sharp: ``(T,)`` int64 (:func:`since_sharp`).
        offsets: ``(T, n, 2)`` the camera's offset from its still path at every sub-frame,
            output pixels.
        photo: the photograph's name.
    """

    blur: torch.Tensor
    sharp: torch.Tensor
    shaking: torch.Tensor
    since_sharp: torch.Tensor
    offsets: torch.Tensor
    photo: str


class ShakyBlurDataset(Dataset):
    """Clips of sharp still stretches interrupted by shakes of several strongly blurred frames.

    Item ``i`` is a dict: ``"blur"``, ``"sharp"`` ``(T, 3, h, w)`` float32 in ``[0, 1]``,
    ``"sequence"`` ``"<photo>/<i>"``, ``"frames"`` ``[0, ..., T - 1]``, ``"since_sharp"``
    ``(T,)`` int64 and ``"shaking"`` ``(T,)`` bool. It depends only on ``(seed, epoch, i)``.

    Args:
        split: ``"train"`` renders :data:`~rirn_layers.data.synthetic.TRAIN_PHOTOS`,
            ``"val"`` the held-out :data:`~rirn_layers.data.synthetic.VAL_PHOTOS`.
        length: clips per epoch (default 1024 for train, 128 for val).
        clip_length: ``T``.
        crop: output ``(h, w)`` or one int.
        seed: the dataset's seed.
        augment: flips, 90-degree rotations and IFI-RNN noise
            (:class:`~rirn_layers.data.clips.Augmentation`), as the synthetic set.
        still: frames per still stretch, an inclusive range.
        shake: frames per shake, an inclusive range ("several frames": 2 to 5).
        drift: peak still-camera speed, output px/frame (well under a pixel of blur).
        amplitude: shake amplitude per axis, output px, drawn per shake.
        frequency: shake frequency per axis, cycles per frame, drawn per shake.
        exposure: exposure as a fraction of the frame interval, drawn per clip.
        noise: sensor noise level drawn from ``U(0, noise)`` per clip (as the synthetic set).
        max_subframes: sub-frames per exposure (odd), about one per pixel of motion.
        interpolation: ``"bicubic"`` or ``"bilinear"``.

    Example:
        >>> ds = ShakyBlurDataset("val", length=2, clip_length=8, crop=32)
        >>> item = ds[0]
        >>> item["blur"].shape, item["since_sharp"][0].item()
        (torch.Size([8, 3, 32, 32]), 0)
        >>> torch.equal(item["blur"], ds[0]["blur"])
        True
    """

    def __init__(
        self,
        split: Literal["train", "val"] = "train",
        *,
        length: int | None = None,
        clip_length: int = 8,
        crop: int | tuple[int, int] = 128,
        seed: int = 0,
        augment: bool | Augmentation = False,
        still: int | tuple[int, int] = (1, 3),
        shake: int | tuple[int, int] = (2, 5),
        drift: float = 0.3,
        amplitude: float | tuple[float, float] = (4.0, 8.0),
        frequency: float | tuple[float, float] = (0.5, 1.0),
        exposure: float | tuple[float, float] = (0.7, 1.0),
        noise: float = 0.01,
        max_subframes: int = 41,
        interpolation: Literal["bicubic", "bilinear"] = "bilinear",
    ) -> None:
        owner = "ShakyBlurDataset"
        check_choice(owner, "split", split, ("train", "val"))
        self.split = split
        self.length = check_int(owner, "length", 1024 if length is None and split == "train"
                                else 128 if length is None else length, 1)
        self.clip_length = check_int(owner, "clip_length", clip_length, 1)
        size = parse_crop(crop)
        if size is None:
            raise ValueError(f"{owner}: `crop` must be given, got None")
        self.crop = size
        self.seed = check_int(owner, "seed", seed)
        self.epoch = 0
        self.augment = resolve_augment(augment)
        self.still = _int_pair(owner, "still", still)
        self.shake = _int_pair(owner, "shake", shake)
        self.drift = check_float(owner, "drift", drift, 0.0)
        self.amplitude = _pair(owner, "amplitude", amplitude, 0.0)
        self.frequency = _pair(owner, "frequency", frequency, 0.0)
        self.exposure = _pair(owner, "exposure", exposure, 0.0)
        if self.exposure[1] > 1:
            raise ValueError(f"{owner}: `exposure` must lie in [0, 1], got {exposure!r}")
        self.noise = check_float(owner, "noise", noise, 0.0)
        n = check_int(owner, "max_subframes", max_subframes, 1)
        self.max_subframes = n - (1 - n % 2)
        self.interpolation = check_choice(
            owner, "interpolation", interpolation, ("bicubic", "bilinear")
        )
        self.photo_names = list(TRAIN_PHOTOS if split == "train" else VAL_PHOTOS)

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """Draw the clips of ``epoch`` from now on."""
        self.epoch = int(epoch)

    def _uniform(self, g: torch.Generator, pair: tuple[float, float], n: int = 1) -> torch.Tensor:
        u = torch.rand(n, generator=g, dtype=torch.float64)
        return pair[0] + (pair[1] - pair[0]) * u

    def _offsets(self, g: torch.Generator, times: torch.Tensor, shaking: torch.Tensor
                 ) -> torch.Tensor:
        """The shake's offset from the still path, ``(N, 2)`` output px, at ``times`` ``(N,)``.

        Each shake draws its own amplitude, frequency and phase per axis; outside shakes the
        offset is exactly 0.
        """
        total = torch.zeros(times.numel(), 2, dtype=torch.float64)
        for start, end in shake_runs(shaking):
            amp = self._uniform(g, self.amplitude, 2)
            freq = 2 * math.pi * self._uniform(g, self.frequency, 2)
            phase = 2 * math.pi * torch.rand(2, generator=g, dtype=torch.float64)
            mask = torch.zeros_like(shaking)
            mask[start:end] = True
            env = _envelope(times, mask).unsqueeze(1)
            total += env * amp * torch.sin(freq * times.unsqueeze(1) + phase)
        return total

    def render(self, index: int, size: tuple[int, int] | None = None) -> ShakyClip:
        """Render clip ``index`` (no augmentation) at ``size`` (default: the crop)."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of {self.length} clips")
        h, w = size if size is not None else self.crop
        T = self.clip_length
        g = item_generator(self.seed, self.epoch, index, 0)
        u = torch.rand(3, generator=g, dtype=torch.float64).tolist()
        name = self.photo_names[min(int(u[0] * len(self.photo_names)), len(self.photo_names) - 1)]
        photo = load_photo(name)
        exposure = self.exposure[0] + (self.exposure[1] - self.exposure[0]) * u[1]
        noise_level = self.noise * u[2]
        shaking = shake_schedule(T, self.still, self.shake, g)

        peak = max(self.amplitude[1], 1e-9) * 2 * math.pi * self.frequency[1]
        n = math.ceil(peak * exposure) + 1 if exposure > 0 and shaking.any() else 1
        n = min(n + (1 - n % 2), self.max_subframes)
        spread = torch.arange(n, dtype=torch.float64) / max(n - 1, 1) - 0.5 if n > 1 else None
        offsets_t = exposure * spread if spread is not None else torch.zeros(1, dtype=torch.float64)
        times = (torch.arange(T, dtype=torch.float64).view(T, 1) + offsets_t.view(1, n)).flatten()

        angle = 2 * math.pi * float(torch.rand(1, generator=g, dtype=torch.float64))
        still = self.drift * float(torch.rand(1, generator=g, dtype=torch.float64))
        velocity = torch.tensor([math.cos(angle), math.sin(angle)], dtype=torch.float64) * still
        shake = self._offsets(g, times, shaking)
        motion = times.unsqueeze(1) * velocity + shake  # (N, 2) output px

        _, H, W = photo.shape
        span = motion.amax(0) - motion.amin(0)
        room_x, room_y = W - 1 - 2 * _MARGIN, H - 1 - 2 * _MARGIN
        zoom = min(1.0, room_x / (w - 1 + float(span[0]) + 1e-9),
                   room_y / (h - 1 + float(span[1]) + 1e-9))
        translation = motion * zoom
        half_w, half_h = zoom * (w - 1) / 2, zoom * (h - 1) / 2
        lo_x = _MARGIN + half_w - float(translation[:, 0].min())
        hi_x = W - 1 - _MARGIN - half_w - float(translation[:, 0].max())
        lo_y = _MARGIN + half_h - float(translation[:, 1].min())
        hi_y = H - 1 - _MARGIN - half_h - float(translation[:, 1].max())
        c = torch.rand(2, generator=g, dtype=torch.float64).tolist()
        center = (lo_x + c[0] * max(hi_x - lo_x, 0.0), lo_y + c[1] * max(hi_y - lo_y, 0.0))

        poses = torch.zeros(times.numel(), 4, dtype=torch.float64)
        poses[:, :2] = translation
        views = render_views(photo, poses, (h, w), center, zoom, self.interpolation)
        subframes = views.view(T, n, 3, h, w)
        linear = subframes.mean(dim=1)
        if noise_level > 0:
            var = (GAMMA * noise_level) ** 2 * linear
            jitter = var.sqrt() * torch.randn(linear.shape, generator=g)
            linear_noisy = (linear + jitter).clamp(0, 1)
        else:
            linear_noisy = linear
        inv = 1.0 / GAMMA
        return ShakyClip(
            blur=linear_noisy.pow(inv),
            sharp=subframes[:, n // 2].pow(inv),
            shaking=shaking,
            since_sharp=since_sharp(shaking),
            offsets=shake.view(T, n, 2),
            photo=name,
        )

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = int(index)
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of {self.length} clips")
        g = item_generator(self.seed, self.epoch, index, 1)
        side = max(self.crop)
        transform = sample_transform(g, (side, side), self.crop, self.augment)
        clip = self.render(index, (transform.height, transform.width))
        blur = add_noise(apply_orientation(clip.blur, transform), transform.noise_std, g)
        return {
            "blur": blur,
            "sharp": apply_orientation(clip.sharp, transform),
            "sequence": f"{clip.photo}/{index:06d}",
            "frames": list(range(self.clip_length)),
            "since_sharp": clip.since_sharp,
            "shaking": clip.shaking,
        }
