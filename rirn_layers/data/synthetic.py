"""A synthetic blurry/sharp video set rendered on the fly from photographs.

The photographs are the ones that ship inside the scikit-image wheel (``skimage.data``;
nothing is downloaded). Each clip is made the way GOPRO (Nah et al., CVPR 2017) was made
from 240 fps video, with the high-speed camera replaced by a smooth random camera path
over a still photograph:

1. a :class:`CameraPath` gives the pose (translation, small rotation, small zoom) at any
   time ``s`` (in frames); frame ``t`` is exposed over ``[t - e/2, t + e/2]`` (``e`` the
   exposure, a fraction of the frame interval), so consecutive frames continue the same
   motion;
2. ``n`` sub-frames evenly spread over each exposure (``n`` odd, about one per pixel of
   motion) are rendered from the linearised photo with sub-pixel accuracy
   (:func:`torch.nn.functional.grid_sample`, bicubic by default);
3. the blurry frame is their mean in the linear domain (photo ** 2.2) plus Poisson-like
   sensor noise, re-encoded with gamma 1 / 2.2; the sharp frame is the middle sub-frame,
   the pose at time ``t``, re-encoded the same way.

Items are deterministic functions of ``(seed, epoch, index)``. Rendering is cheap next to
training: one CPU core makes about 35 items/s of 8 frames of 128 x 128 (bicubic; 70 with
bilinear, 125 at 64 x 64), while one training step of a baseline on such a clip takes
0.7-1.1 s on two cores.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from rirn_layers._checks import check_choice, check_float, check_int
from rirn_layers._optional import require
from rirn_layers.data.clips import (
    Augmentation,
    add_noise,
    apply_orientation,
    item_generator,
    parse_crop,
    resolve_augment,
    sample_transform,
)

__all__ = [
    "GAMMA",
    "TRAIN_PHOTOS",
    "VAL_PHOTOS",
    "CameraPath",
    "SyntheticBlurDataset",
    "SyntheticClip",
    "load_photo",
    "render_views",
]

GAMMA = 2.2
#: Photographs (``skimage.data`` names) used for training; colour photos and grey textures.
TRAIN_PHOTOS: tuple[str, ...] = (
    "astronaut",
    "rocket",
    "motorcycle_left",
    "hubble_deep_field",
    "immunohistochemistry",
    "camera",
    "brick",
    "grass",
    "gravel",
)
#: Photographs used for validation; none of them (nor a copy) is in :data:`TRAIN_PHOTOS`.
VAL_PHOTOS: tuple[str, ...] = ("chelsea", "coffee", "coins")

_SPECIAL = {"motorcycle_left": lambda d: d.stereo_motorcycle()[0]}
_MARGIN = 3  # source pixels kept free around every view (bicubic reads 2 beyond the sample)
_DENSE = 16  # samples per frame of the path used to fit it into the photo


def _skimage_data() -> Any:
    return require("skimage.data", extra="train", purpose="The synthetic dataset's photographs")


def _to_linear(img: torch.Tensor, name: str) -> torch.Tensor:
    if img.dim() == 2:
        img = img.unsqueeze(0)
    if img.dim() != 3 or img.shape[0] not in (1, 3):
        raise ValueError(
            f"photo {name!r} must have shape (3, H, W), (1, H, W) or (H, W), got {tuple(img.shape)}"
        )
    if img.dtype == torch.uint8:
        img = img.float() / 255.0
    elif img.dtype == torch.bool:
        img = img.float()
    elif img.is_floating_point():
        img = img.float()
        if img.numel() and (img.min() < 0 or img.max() > 1):
            raise ValueError(f"photo {name!r} must have values in [0, 1]")
    else:
        raise TypeError(f"photo {name!r} must be uint8 or floating, got {img.dtype}")
    return img.expand(3, -1, -1).pow(GAMMA).contiguous()


@functools.cache
def load_photo(name: str) -> torch.Tensor:
    """A ``skimage.data`` photograph, linearised: ``(3, H, W)`` float32 in ``[0, 1]``.

    Grey photographs are repeated over the three channels; the values are the stored
    (sRGB-like) ones to the power 2.2. Cached per process.

    Example:
        >>> load_photo("chelsea").shape
        torch.Size([3, 300, 451])
    """
    data = _skimage_data()
    loader = _SPECIAL.get(name) or getattr(data, name, None)
    if loader is None or name.startswith("_"):
        raise ValueError(f"unknown skimage.data photograph {name!r}")
    array = loader(data) if name in _SPECIAL else loader()
    img = torch.from_numpy(array.copy())
    if img.dim() == 3:
        img = img[..., :3].permute(2, 0, 1)
    return _to_linear(img, name)


class CameraPath(NamedTuple):
    """A smooth camera motion: each pose component is a drift plus a few sinusoids.

    The four components are the translation ``(tx, ty)`` in source pixels, the rotation in
    radians and the log-zoom; component ``c`` at time ``s`` (frames) is
    ``rate[c] * s + sum_k amplitude[c, k] * (sin(frequency[c, k] * s + phase[c, k])
    - sin(phase[c, k]))``, so the pose at ``s = 0`` is the identity.

    Attributes:
        rate: ``(4,)`` drift per frame.
        amplitude: ``(4, K)`` sinusoid amplitudes.
        frequency: ``(4, K)`` angular frequencies, radians per frame.
        phase: ``(4, K)`` phases.
    """

    rate: torch.Tensor
    amplitude: torch.Tensor
    frequency: torch.Tensor
    phase: torch.Tensor

    @classmethod
    def random(
        cls,
        generator: torch.Generator,
        speed: float,
        rotation: float,
        zoom: float,
        shakes: int = 2,
    ) -> CameraPath:
        """Draw a path whose translation speed stays below ``speed`` (px/frame).

        The rotation speed stays below ``rotation`` (radians per frame) and the log-zoom
        speed below ``zoom`` (per frame). Each component splits its speed budget at random
        between a steady drift and ``shakes`` sinusoids of periods 4 to 30 frames.

        Example:
            >>> path = CameraPath.random(torch.Generator().manual_seed(0), 8.0, 0.01, 0.005)
            >>> times = torch.linspace(0, 4, 401, dtype=torch.float64)
            >>> v = path.pose(times)[:, :2].diff(dim=0).norm(dim=1) / 0.01
            >>> bool(v.max() <= 8.0)
            True
        """
        g = generator
        u = torch.rand(4, generator=g, dtype=torch.float64)
        psi = 2 * math.pi * float(u[0])
        budget = torch.tensor(
            [
                speed * math.cos(psi),
                speed * math.sin(psi),
                rotation * (2 * float(u[1]) - 1),
                zoom * (2 * float(u[2]) - 1),
            ],
            dtype=torch.float64,
        )
        drift = torch.rand(4, generator=g, dtype=torch.float64)
        weights = torch.rand(4, shakes, generator=g, dtype=torch.float64) + 1e-3
        weights = weights / weights.sum(dim=1, keepdim=True)
        lo, hi = 2 * math.pi / 30, 2 * math.pi / 4
        frequency = lo + (hi - lo) * torch.rand(4, shakes, generator=g, dtype=torch.float64)
        phase = 2 * math.pi * torch.rand(4, shakes, generator=g, dtype=torch.float64)
        amplitude = ((1 - drift) * budget.abs()).unsqueeze(1) * weights / frequency
        return cls(drift * budget, amplitude, frequency, phase)

    def pose(self, times: torch.Tensor) -> torch.Tensor:
        """Poses ``(N, 4)`` = ``(tx, ty, angle, log_zoom)`` at ``times`` ``(N,)`` (frames)."""
        s = times.to(torch.float64).reshape(-1, 1, 1)
        wave = torch.sin(self.frequency * s + self.phase) - torch.sin(self.phase)
        return self.rate * s.view(-1, 1) + (self.amplitude * wave).sum(dim=-1)

    def scaled(self, factor: float) -> CameraPath:
        """The same path with every displacement multiplied by ``factor``."""
        return CameraPath(self.rate * factor, self.amplitude * factor, self.frequency, self.phase)


def _map(
    poses: torch.Tensor,
    u: torch.Tensor,
    v: torch.Tensor,
    center: tuple[float, float],
    base_zoom: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    tx, ty, angle, log_zoom = (p.view(-1, 1, 1) for p in poses.unbind(-1))
    scale = base_zoom * torch.exp(log_zoom)
    c, s = scale * torch.cos(angle), scale * torch.sin(angle)
    return center[0] + tx + c * u - s * v, center[1] + ty + s * u + c * v


def _corners(
    poses: torch.Tensor, size: tuple[int, int], base_zoom: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Source coordinates ``(N, 2, 2)`` of the four corner pixels, about a zero centre."""
    h, w = size
    u = torch.tensor([-(w - 1) / 2, (w - 1) / 2], dtype=torch.float64).view(1, 1, 2)
    v = torch.tensor([-(h - 1) / 2, (h - 1) / 2], dtype=torch.float64).view(1, 2, 1)
    return _map(poses, u, v, (0.0, 0.0), base_zoom)


def render_views(
    photo: torch.Tensor,
    poses: torch.Tensor,
    size: tuple[int, int],
    center: tuple[float, float],
    base_zoom: float = 1.0,
    mode: Literal["bicubic", "bilinear"] = "bicubic",
) -> torch.Tensor:
    """Render the views of ``photo`` at ``poses``: ``(N, 3, h, w)``, clamped to ``[0, 1]``.

    Output pixel ``(i, j)`` of a view with pose ``(tx, ty, angle, log_zoom)`` shows the
    photo at ``center + (tx, ty) + base_zoom * exp(log_zoom) * R(angle) @ (u, v)``, with
    ``(u, v)`` the pixel's offset from the view's centre and photo pixel ``k`` at
    coordinate ``k``. Works in whatever domain ``photo`` is in (linear for the dataset).

    Args:
        photo: ``(C, H, W)`` float.
        poses: ``(N, 4)`` as returned by :meth:`CameraPath.pose`.
        size: output ``(h, w)``.
        center: ``(x, y)`` photo coordinates of the views' centre at the identity pose.
        base_zoom: photo pixels per output pixel at the identity pose.
        mode: interpolation, ``"bicubic"`` (sharper) or ``"bilinear"`` (faster).

    Example:
        >>> photo = torch.arange(100.0).view(1, 10, 10) / 100
        >>> pose = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
        >>> view = render_views(photo, pose, (2, 2), center=(4.5, 4.5))
        >>> torch.allclose(view[0, 0], photo[0, 4:6, 5:7])
        True
    """
    if mode not in ("bicubic", "bilinear"):
        raise ValueError(f"`mode` must be 'bicubic' or 'bilinear', got {mode!r}")
    h, w = size
    n = poses.shape[0]
    x, y = _corners(poses, size, base_zoom)  # (N, 2, 2) about a zero centre
    _, H, W = photo.shape
    x0 = max(0, math.floor(center[0] + float(x.min())) - _MARGIN)
    y0 = max(0, math.floor(center[1] + float(y.min())) - _MARGIN)
    x1 = min(W, math.ceil(center[0] + float(x.max())) + _MARGIN + 1)
    y1 = min(H, math.ceil(center[1] + float(y.max())) + _MARGIN + 1)
    if x1 <= x0 or y1 <= y0:  # the views miss the photo: sample its nearest border
        x0, y0, x1, y1 = 0, 0, W, H
    region = photo[:, y0:y1, x0:x1].unsqueeze(0)
    # the per-view affine map from normalised output to normalised region coordinates
    # (align_corners=False: pixel j of n lies at (2j + 1) / n - 1), composed in float64
    tx, ty, angle, log_zoom = poses.to(torch.float64).unbind(-1)
    scale = base_zoom * torch.exp(log_zoom)
    c, s = scale * torch.cos(angle), scale * torch.sin(angle)
    rw, rh = x1 - x0, y1 - y0
    theta = torch.stack(
        [
            torch.stack([c * w / rw, -s * h / rw, (2 * (center[0] + tx - x0) + 1) / rw - 1], -1),
            torch.stack([s * w / rh, c * h / rh, (2 * (center[1] + ty - y0) + 1) / rh - 1], -1),
        ],
        dim=1,
    )
    theta = theta.to(photo.dtype).view(n, 1, 1, 2, 3)
    un = ((2 * torch.arange(w, dtype=photo.dtype) + 1) / w - 1).view(1, 1, w, 1)
    vn = ((2 * torch.arange(h, dtype=photo.dtype) + 1) / h - 1).view(1, h, 1, 1)
    grid = theta[..., 0] * un + (theta[..., 1] * vn + theta[..., 2])  # (N, h, w, 2)
    out = F.grid_sample(
        region, grid.view(1, n * h, w, 2), mode=mode, padding_mode="border", align_corners=False
    )
    return out.view(photo.shape[0], n, h, w).transpose(0, 1).clamp_(0.0, 1.0)


class SyntheticClip(NamedTuple):
    """Everything :meth:`SyntheticBlurDataset.render` makes for one clip.

    Attributes:
        blur: ``(T, 3, h, w)`` blurry frames, gamma-encoded, sensor noise included.
        sharp: ``(T, 3, h, w)`` sharp frames: the middle sub-frames, gamma-encoded.
        blur_clean: ``blur`` without the sensor noise.
        subframes: ``(T, n, 3, h, w)`` the sub-frames in the linear domain.
        times: ``(T, n)`` the sub-frames' times in frames (frame ``t``'s middle is ``t``).
        photo: the photograph's name.
        path: the camera path (already shrunk to fit the photo).
        center: ``(x, y)`` photo coordinates of the view centre at time 0.
        base_zoom: photo pixels per output pixel at time 0.
        noise_level: the sensor noise's level: about its standard deviation after gamma
            encoding.
    """

    blur: torch.Tensor
    sharp: torch.Tensor
    blur_clean: torch.Tensor
    subframes: torch.Tensor
    times: torch.Tensor
    photo: str
    path: CameraPath
    center: tuple[float, float]
    base_zoom: float
    noise_level: float


def _range(name: str, value: float | tuple[float, float], lo: float, hi: float) -> tuple:
    pair = (value, value) if isinstance(value, (int, float)) else tuple(value)
    if (
        len(pair) != 2
        or not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in pair)
        or not lo <= pair[0] <= pair[1] <= hi
    ):
        raise ValueError(
            f"`{name}` must be a number or a pair (low, high) with {lo} <= low <= high <= {hi}, "
            f"got {value!r}"
        )
    return float(pair[0]), float(pair[1])


class SyntheticBlurDataset(Dataset):
    """Blurry/sharp video clips rendered from ``skimage.data`` photographs along camera paths.

    Item ``i`` is a dict: ``"blur"`` and ``"sharp"`` ``(T, 3, h, w)`` float32 RGB in
    ``[0, 1]``, ``"sequence"`` ``"<photo>/<i>"`` and ``"frames"`` ``[0, ..., T - 1]``. It
    depends only on ``(seed, epoch, i)`` (:meth:`set_epoch` changes the epoch: new clips
    every epoch, still reproducible).

    Args:
        split: ``"train"`` renders :data:`TRAIN_PHOTOS`, ``"val"`` :data:`VAL_PHOTOS`.
        photos: overrides ``split``'s photographs: ``skimage.data`` names or gamma-encoded
            tensors ``(3, H, W)``/``(H, W)`` (uint8, or float in ``[0, 1]``).
        length: clips per epoch (default 1024 for train, 128 for val).
        clip_length: ``T``, frames per clip.
        crop: output ``(h, w)`` (or one int); a photo too small for it is magnified.
        seed: the dataset's seed.
        augment: ``True``/:class:`~rirn_layers.data.clips.Augmentation`: random flips and
            90-degree rotation of the whole clip and IFI-RNN noise on the blurry frames.
        speed: peak camera translation speed, output pixels per frame, drawn uniformly from
            this range per clip (the blur length is about ``speed * exposure``).
        rotation: peak rotation speed, degrees per frame.
        zoom: peak zoom speed, relative change per frame.
        exposure: exposure as a fraction of the frame interval, drawn per clip; at 1 the
            exposures of consecutive frames touch.
        noise: sensor (shot) noise level drawn from ``U(0, noise)`` per clip: Gaussian
            noise of variance ``(2.2 * level)^2 * x`` at linear intensity ``x``, whose
            standard deviation after gamma encoding is about ``level`` at every brightness
            (``level * x^(-0.045)``); ``0`` for none.
        subframe_step: sub-frames are spaced at most this many output pixels of motion...
        max_subframes: ...up to this many per exposure (odd; more motion leaves gaps).
        interpolation: ``"bicubic"`` or ``"bilinear"`` (faster, softer).

    Example:
        >>> ds = SyntheticBlurDataset("val", length=4, clip_length=3, crop=32, seed=1)
        >>> item = ds[0]
        >>> item["blur"].shape, item["sharp"].dtype, len(ds)
        (torch.Size([3, 3, 32, 32]), torch.float32, 4)
        >>> torch.equal(item["blur"], ds[0]["blur"])
        True
    """

    def __init__(
        self,
        split: Literal["train", "val"] = "train",
        *,
        photos: Sequence[str | torch.Tensor] | None = None,
        length: int | None = None,
        clip_length: int = 8,
        crop: int | tuple[int, int] = 128,
        seed: int = 0,
        augment: bool | Augmentation = False,
        speed: float | tuple[float, float] = (0.0, 12.0),
        rotation: float = 0.5,
        zoom: float = 0.005,
        exposure: float | tuple[float, float] = (0.5, 1.0),
        noise: float = 0.01,
        subframe_step: float = 1.0,
        max_subframes: int = 31,
        interpolation: Literal["bicubic", "bilinear"] = "bicubic",
    ) -> None:
        owner = "SyntheticBlurDataset"
        check_choice(owner, "split", split, ("train", "val"))
        if length is None:
            length = 1024 if split == "train" else 128
        check_int(owner, "length", length, 1)
        check_int(owner, "clip_length", clip_length, 1)
        size = parse_crop(crop)
        if size is None:
            raise ValueError(f"{owner}: `crop` must be given for the synthetic dataset, got None")
        check_int(owner, "seed", seed)
        check_choice(owner, "interpolation", interpolation, ("bicubic", "bilinear"))
        for name, value in (("rotation", rotation), ("zoom", zoom), ("noise", noise)):
            check_float(owner, name, value, 0.0)
        if check_float(owner, "subframe_step", subframe_step, 0.0) == 0.0:
            raise ValueError(f"{owner}: `subframe_step` must be a number > 0, got 0")
        check_int(owner, "max_subframes", max_subframes, 1)
        self.split = split
        self.length = length
        self.clip_length = clip_length
        self.crop = size
        self.seed = seed
        self.epoch = 0
        self.augment = resolve_augment(augment)
        self.speed = _range("speed", speed, 0.0, math.inf)
        self.exposure = _range("exposure", exposure, 0.0, 1.0)
        self.rotation = math.radians(rotation)
        self.zoom = math.log1p(zoom)
        self.noise = float(noise)
        self.subframe_step = float(subframe_step)
        self.max_subframes = max_subframes - (1 - max_subframes % 2)
        self.interpolation = interpolation
        chosen = (TRAIN_PHOTOS if split == "train" else VAL_PHOTOS) if photos is None else photos
        if isinstance(chosen, (str, torch.Tensor)) or len(chosen) == 0:
            raise ValueError("`photos` must be a non-empty sequence of names or tensors")
        self.photo_names: list[str] = []
        self._tensors: dict[str, torch.Tensor] = {}
        for i, p in enumerate(chosen):
            if isinstance(p, str):
                self.photo_names.append(p)
            elif isinstance(p, torch.Tensor):
                name = f"photo{i}"
                self._tensors[name] = _to_linear(p, name)
                self.photo_names.append(name)
            else:
                raise TypeError(f"`photos[{i}]` must be a str or a tensor, got {type(p).__name__}")
        if any(n not in self._tensors for n in self.photo_names):
            data = _skimage_data()
            unknown = [
                n
                for n in self.photo_names
                if n not in self._tensors and n not in _SPECIAL and not hasattr(data, n)
            ]
            if unknown:
                raise ValueError(f"unknown skimage.data photographs {unknown}")

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """Draw the clips of ``epoch`` from now on (each epoch has its own clips)."""
        self.epoch = int(epoch)

    def _photo(self, name: str) -> torch.Tensor:
        return self._tensors[name] if name in self._tensors else load_photo(name)

    def render(self, index: int, size: tuple[int, int] | None = None) -> SyntheticClip:
        """Render clip ``index`` (no augmentation) at ``size`` (default: the crop).

        Example:
            >>> ds = SyntheticBlurDataset("val", clip_length=2, crop=16, noise=0.0)
            >>> clip = ds.render(3)
            >>> n = clip.subframes.shape[1]
            >>> torch.equal(clip.sharp, clip.subframes[:, n // 2].pow(1 / GAMMA))
            True
        """
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of {self.length} clips")
        h, w = size if size is not None else self.crop
        T = self.clip_length
        g = item_generator(self.seed, self.epoch, index, 0)
        u = torch.rand(4, generator=g, dtype=torch.float64).tolist()
        name = self.photo_names[min(int(u[0] * len(self.photo_names)), len(self.photo_names) - 1)]
        photo = self._photo(name)
        _, H, W = photo.shape
        speed = self.speed[0] + (self.speed[1] - self.speed[0]) * u[1]
        exposure = self.exposure[0] + (self.exposure[1] - self.exposure[0]) * u[2]
        noise_level = self.noise * u[3]
        path = CameraPath.random(g, speed, self.rotation, self.zoom)

        # magnify a photo too small for the crop; then shrink the motion until it fits
        room_x, room_y = W - 2 - 2 * _MARGIN, H - 2 - 2 * _MARGIN
        if room_x <= 0 or room_y <= 0:
            raise ValueError(f"photo {name!r} of size {(H, W)} is too small to render from")
        base_zoom = min(1.0, room_x / max(w - 1, 1), room_y / max(h - 1, 1))
        dense = torch.linspace(
            -exposure / 2, T - 1 + exposure / 2, _DENSE * T + 1, dtype=torch.float64
        )

        def fits(f: float) -> bool:
            x, y = _corners(path.scaled(f).pose(dense), (h, w), base_zoom)
            return float(x.max() - x.min()) <= room_x and float(y.max() - y.min()) <= room_y

        if not fits(1.0):
            lo, hi = 0.0, 1.0
            for _ in range(20):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if fits(mid) else (lo, mid)
            path = path.scaled(lo)

        # sub-frames: odd count, about one per `subframe_step` output pixels of motion
        x, y = _corners(path.pose(dense), (h, w), base_zoom)
        step = torch.hypot(x.diff(dim=0), y.diff(dim=0)).amax() if dense.numel() > 1 else 0
        corner_speed = float(step) / float(dense[1] - dense[0]) / base_zoom
        n = math.ceil(corner_speed * exposure / self.subframe_step) + 1 if exposure > 0 else 1
        n = min(n + (1 - n % 2), self.max_subframes)
        offsets = (
            exposure * (torch.arange(n, dtype=torch.float64) / (n - 1) - 0.5)
            if n > 1
            else torch.zeros(1, dtype=torch.float64)
        )
        times = torch.arange(T, dtype=torch.float64).view(T, 1) + offsets.view(1, n)

        # place the views at random where all of them lie inside the photo
        poses = path.pose(times.flatten())
        x, y = _corners(poses, (h, w), base_zoom)
        c = torch.rand(2, generator=g, dtype=torch.float64).tolist()
        lo_x, hi_x = _MARGIN - float(x.min()), W - 1 - _MARGIN - float(x.max())
        lo_y, hi_y = _MARGIN - float(y.min()), H - 1 - _MARGIN - float(y.max())
        center = (
            lo_x + c[0] * (hi_x - lo_x) if hi_x >= lo_x else (lo_x + hi_x) / 2,
            lo_y + c[1] * (hi_y - lo_y) if hi_y >= lo_y else (lo_y + hi_y) / 2,
        )

        views = render_views(photo, poses, (h, w), center, base_zoom, self.interpolation)
        subframes = views.view(T, n, 3, h, w)
        linear = subframes.mean(dim=1)
        if noise_level > 0:
            var = (GAMMA * noise_level) ** 2 * linear  # Poisson-like: variance ~ intensity
            noisy = (linear + var.sqrt() * torch.randn(linear.shape, generator=g)).clamp(0, 1)
        else:
            noisy = linear
        inv = 1.0 / GAMMA
        return SyntheticClip(
            blur=noisy.pow(inv),
            sharp=subframes[:, n // 2].pow(inv),
            blur_clean=linear.pow(inv),
            subframes=subframes,
            times=times,
            photo=name,
            path=path,
            center=center,
            base_zoom=base_zoom,
            noise_level=noise_level,
        )

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not isinstance(index, int):
            index = int(index)
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of {self.length} clips")
        h, w = self.crop
        g = item_generator(self.seed, self.epoch, index, 1)
        side = max(h, w)  # a square "frame": only the orientation and the noise are used
        transform = sample_transform(g, (side, side), self.crop, self.augment)
        clip = self.render(index, (transform.height, transform.width))
        blur = apply_orientation(clip.blur, transform)
        sharp = apply_orientation(clip.sharp, transform)
        blur = add_noise(blur, transform.noise_std, g)
        return {
            "blur": blur,
            "sharp": sharp,
            "sequence": f"{clip.photo}/{index:06d}",
            "frames": list(range(self.clip_length)),
        }
