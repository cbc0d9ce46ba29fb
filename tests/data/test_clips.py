"""Clip sampling and augmentation shared by every dataset (rirn_layers.data.clips)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rirn_layers._optional import require
from rirn_layers.data.clips import (
    Augmentation,
    ClipTransform,
    add_noise,
    apply_orientation,
    apply_transform,
    clip_windows,
    item_generator,
    item_seed,
    parse_crop,
    resolve_augment,
    sample_transform,
)


def dihedral_images(x: torch.Tensor) -> list[torch.Tensor]:
    """The 8 rotations/reflections of ``(..., H, W)``."""
    out = []
    for base in (x, x.flip(-1)):
        out.extend(torch.rot90(base, k, dims=(-2, -1)) for k in range(4))
    return out


def test_item_generators_depend_on_every_part_of_the_key():
    keys = [(0, 0, 0, 0), (1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1), (0, 0, 2, 0)]
    draws = [tuple(torch.rand(4, generator=item_generator(*k)).tolist()) for k in keys]
    assert len(set(draws)) == len(keys)
    again = torch.rand(4, generator=item_generator(0, 0, 1, 0)).tolist()
    assert tuple(again) == draws[3]
    assert len({item_seed(0, 0, i) for i in range(1000)}) == 1000
    assert all(0 <= item_seed(-5, 3, i) < 2**64 for i in range(10))


def test_parse_crop_accepts_int_pair_none_and_names_the_argument():
    assert parse_crop(7) == (7, 7)
    assert parse_crop([3, 5]) == (3, 5)
    assert parse_crop(None) is None
    with pytest.raises(ValueError, match="`crop` must be positive"):
        parse_crop((0, 4))
    with pytest.raises(TypeError, match="`crop`"):
        parse_crop(2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`crop`"):
        parse_crop((1, 2, 3))  # type: ignore[arg-type]


def test_resolve_augment():
    assert resolve_augment(True) == Augmentation()
    assert resolve_augment(False) is None and resolve_augment(None) is None
    custom = Augmentation(rot90=False)
    assert resolve_augment(custom) is custom
    with pytest.raises(TypeError, match="`augment`"):
        resolve_augment("yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="noise_sigma"):
        Augmentation(noise_sigma=-1.0)


@given(
    H=st.integers(1, 24),
    W=st.integers(1, 24),
    h=st.integers(1, 24),
    w=st.integers(1, 24),
    seed=st.integers(0, 2**32),
    augment=st.booleans(),
)
def test_transform_window_fits_and_output_has_the_crop_size(H, W, h, w, seed, augment):
    aug = Augmentation() if augment else None
    g = torch.Generator().manual_seed(seed)
    try:
        t = sample_transform(g, (H, W), (h, w), aug)
    except ValueError as err:
        assert "does not fit" in str(err)
        assert h > H or w > W or (augment and (w > H or h > W))  # the drawn orientation
        return
    assert 0 <= t.top and t.top + t.height <= H and 0 <= t.left and t.left + t.width <= W
    assert (t.height, t.width) == ((w, h) if t.rot90 else (h, w))
    x = torch.arange(H * W, dtype=torch.float32).view(1, 1, H, W)
    out = apply_transform(x, t)
    assert out.shape == (1, 1, h, w)
    window = x[..., t.top : t.top + t.height, t.left : t.left + t.width]
    assert any(torch.equal(out, d) for d in dihedral_images(window))
    if not augment:
        assert (t.top, t.left) == ((H - h) // 2, (W - w) // 2)
        assert not (t.hflip or t.vflip or t.rot90) and t.noise_std == 0.0


def test_whole_frames_are_rotated_only_when_square():
    for seed in range(40):
        t = sample_transform(torch.Generator().manual_seed(seed), (6, 9), None, Augmentation())
        assert not t.rot90 and (t.height, t.width) == (6, 9)
    rotated = [
        sample_transform(torch.Generator().manual_seed(s), (7, 7), None, Augmentation()).rot90
        for s in range(40)
    ]
    assert any(rotated) and not all(rotated)


def test_all_eight_orientations_occur_and_differ():
    x = torch.arange(12.0).view(1, 3, 4)[..., :3, :3]
    seen = set()
    for seed in range(200):
        t = sample_transform(torch.Generator().manual_seed(seed), (3, 3), (3, 3), Augmentation())
        seen.add(tuple(apply_orientation(x, t).flatten().tolist()))
    assert len(seen) == 8


def test_orientation_is_the_documented_one():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    t = ClipTransform(0, 0, 2, 2, hflip=False, vflip=True, rot90=False, noise_std=0.0)
    assert apply_orientation(x, t).tolist() == [[3.0, 4.0], [1.0, 2.0]]
    t = t._replace(vflip=False, rot90=True)  # counter-clockwise
    assert apply_orientation(x, t).tolist() == [[2.0, 4.0], [1.0, 3.0]]


def test_ifi_rnn_noise_level_distribution():
    sigma = 2.0 / 255.0
    stds = torch.tensor(
        [
            sample_transform(
                torch.Generator().manual_seed(s), (4, 4), (4, 4), Augmentation()
            ).noise_std
            for s in range(2000)
        ]
    )
    # |N(0, sigma^2)| has mean sigma * sqrt(2 / pi) and second moment sigma^2
    assert stds.mean().item() == pytest.approx(sigma * math.sqrt(2 / math.pi), rel=0.06)
    assert stds.pow(2).mean().sqrt().item() == pytest.approx(sigma, rel=0.06)
    off = Augmentation(noise_sigma=0.0)
    assert sample_transform(torch.Generator(), (4, 4), None, off).noise_std == 0.0


def test_add_noise_has_the_requested_std_and_stays_in_range():
    x = torch.full((2, 3, 64, 64), 0.5)
    noisy = add_noise(x, 0.05, torch.Generator().manual_seed(0))
    assert (noisy - x).std().item() == pytest.approx(0.05, rel=0.03)
    assert abs((noisy - x).mean().item()) < 2e-3
    loud = add_noise(x, 2.0, torch.Generator().manual_seed(0))
    assert loud.min() >= 0 and loud.max() <= 1
    assert torch.equal(add_noise(x, 0.0, torch.Generator()), x)


@given(n=st.integers(0, 40), length=st.integers(1, 12), stride=st.integers(1, 12))
def test_clip_windows_cover_every_frame_once_per_stride(n, length, stride):
    starts = clip_windows(n, length, stride)
    if n < length:
        assert starts == []
        return
    assert starts == sorted(set(starts))
    assert all(0 <= s <= n - length for s in starts)
    covered = {f for s in starts for f in range(s, s + length)}
    assert n - 1 in covered
    if stride <= length:
        assert covered == set(range(n))
    assert starts[: len(range(0, n - length + 1, stride))] == list(range(0, n - length + 1, stride))
    assert clip_windows(n, None, stride) == ([0] if n else [])


def test_require_names_the_train_extra():
    with pytest.raises(ImportError, match=r"rirn-layers\[train\]") as info:
        require("rirn_no_such_module_xyz", extra="train", purpose="Testing")
    assert "Testing needs the optional package 'rirn_no_such_module_xyz'" in str(info.value)
