"""The synthetic GOPRO-style video set rendered from skimage.data photographs."""

from __future__ import annotations

import sys

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("skimage")

from rirn_layers.data import build_dataset
from rirn_layers.data.clips import Augmentation
from rirn_layers.data.synthetic import (
    GAMMA,
    TRAIN_PHOTOS,
    VAL_PHOTOS,
    SyntheticBlurDataset,
    load_photo,
    render_views,
)

SMALL = {"split": "val", "clip_length": 3, "crop": 32, "length": 16}


def gradient_energy(x: torch.Tensor) -> float:
    return float(x.diff(dim=-1).pow(2).mean() + x.diff(dim=-2).pow(2).mean())


def dihedral_images(x: torch.Tensor) -> list[torch.Tensor]:
    out = []
    for base in (x, x.flip(-1)):
        out.extend(torch.rot90(base, k, dims=(-2, -1)) for k in range(4))
    return out


def test_same_seed_same_clip_other_seed_or_epoch_differs():
    a, b = SyntheticBlurDataset(**SMALL, seed=3), SyntheticBlurDataset(**SMALL, seed=3)
    _ = a[5]  # reading other items first must not matter
    for i in (0, 7):
        x, y = a[i], b[i]
        assert torch.equal(x["blur"], y["blur"]) and torch.equal(x["sharp"], y["sharp"])
        assert x["sequence"] == y["sequence"]
    other = SyntheticBlurDataset(**SMALL, seed=4)
    assert not torch.equal(a[0]["sharp"], other[0]["sharp"])
    assert not torch.equal(a[0]["sharp"], a[1]["sharp"])
    before = a[2]["blur"]
    a.set_epoch(1)
    assert not torch.equal(before, a[2]["blur"])
    a.set_epoch(0)
    assert torch.equal(before, a[2]["blur"])


@given(
    T=st.integers(1, 4),
    h=st.integers(4, 40),
    w=st.integers(4, 40),
    index=st.integers(0, 15),
    augment=st.booleans(),
)
def test_items_have_the_documented_shapes_types_and_range(T, h, w, index, augment):
    ds = SyntheticBlurDataset(
        "train", length=16, clip_length=T, crop=(h, w), seed=1, augment=augment
    )
    item = ds[index]
    assert set(item) == {"blur", "sharp", "sequence", "frames"}
    for key in ("blur", "sharp"):
        x = item[key]
        assert x.shape == (T, 3, h, w) and x.dtype == torch.float32
        assert x.min() >= 0 and x.max() <= 1 and torch.isfinite(x).all()
    assert item["frames"] == list(range(T))
    assert item["sequence"].split("/")[0] in TRAIN_PHOTOS


def test_blur_is_blurrier_than_sharp():
    ds = SyntheticBlurDataset(
        "train", length=6, clip_length=3, crop=48, speed=(6.0, 10.0), noise=0.0, seed=2
    )
    ratios = []
    for i in range(len(ds)):
        item = ds[i]
        for t in range(3):
            ratios.append(gradient_energy(item["blur"][t]) / gradient_energy(item["sharp"][t]))
    assert max(ratios) < 1.0
    assert sum(ratios) / len(ratios) < 0.7


def test_sharp_is_the_mid_exposure_render_and_blur_the_linear_mean():
    ds = SyntheticBlurDataset(**SMALL, seed=5, noise=0.0)
    for i in (0, 1, 2):
        clip = ds.render(i)
        T, n = clip.times.shape
        assert n % 2 == 1 and n > 1
        # the middle sub-frame is the pose at time t, rendered on its own
        photo = load_photo(clip.photo)
        poses = clip.path.pose(torch.arange(T, dtype=torch.float64))
        alone = render_views(photo, poses, (32, 32), clip.center, clip.base_zoom)
        torch.testing.assert_close(clip.sharp, alone.pow(1 / GAMMA), atol=1e-5, rtol=0)
        torch.testing.assert_close(clip.times[:, n // 2], torch.arange(T, dtype=torch.float64))
        # the blur averages the sub-frames in the linear domain, not in the gamma domain
        linear_mean = clip.subframes.mean(dim=1).pow(1 / GAMMA)
        torch.testing.assert_close(clip.blur, linear_mean)
        gamma_mean = clip.subframes.pow(1 / GAMMA).mean(dim=1)
        assert (clip.blur - gamma_mean).abs().max() > 1e-3
        item = ds[i]
        assert torch.equal(item["sharp"], clip.sharp) and torch.equal(item["blur"], clip.blur)


def test_consecutive_exposures_follow_one_another_along_the_path():
    ds = SyntheticBlurDataset(**SMALL, exposure=1.0, seed=6, noise=0.0)
    clip = ds.render(4)
    # at full exposure frame t ends where frame t + 1 begins: the same time, the same view
    torch.testing.assert_close(clip.times[:-1, -1], clip.times[1:, 0])
    torch.testing.assert_close(clip.subframes[:-1, -1], clip.subframes[1:, 0], atol=1e-5, rtol=0)
    half = SyntheticBlurDataset(**SMALL, exposure=0.5, seed=6, noise=0.0).render(4)
    gaps = half.times[1:, 0] - half.times[:-1, -1]
    torch.testing.assert_close(gaps, torch.full_like(gaps, 0.5))


def test_adjacent_frames_are_more_alike_than_frames_of_other_clips():
    ds = SyntheticBlurDataset("val", length=8, clip_length=4, crop=48, seed=7)
    items = [ds[i]["sharp"] for i in range(len(ds))]
    within = torch.stack([(x[1:] - x[:-1]).pow(2).mean() for x in items]).mean()
    across = torch.stack(
        [(items[i][0] - items[i + 1][0]).pow(2).mean() for i in range(len(items) - 1)]
    ).mean()
    assert within < 0.5 * across


def test_zero_exposure_or_speed_gives_no_blur():
    still = SyntheticBlurDataset(**SMALL, exposure=0.0, noise=0.0, seed=8).render(0)
    assert still.subframes.shape[1] == 1
    assert torch.equal(still.blur, still.sharp)
    slow = SyntheticBlurDataset(
        **SMALL, speed=0.0, rotation=0.0, zoom=0.0, noise=0.0, seed=8
    ).render(0)
    torch.testing.assert_close(slow.blur, slow.sharp, atol=1e-5, rtol=0)


def test_sensor_noise_only_on_the_blurry_frames():
    clean = SyntheticBlurDataset(**SMALL, noise=0.0, seed=9).render(1)
    noisy = SyntheticBlurDataset(**SMALL, noise=0.05, seed=9).render(1)
    assert torch.equal(clean.sharp, noisy.sharp)
    assert torch.equal(clean.blur_clean, noisy.blur_clean)
    assert noisy.noise_level > 0 and not torch.equal(noisy.blur, noisy.blur_clean)
    assert torch.equal(clean.blur, clean.blur_clean)


def test_augmentation_is_one_orientation_for_the_whole_clip_blur_and_sharp():
    plain = SyntheticBlurDataset(**SMALL, seed=10)
    aug = Augmentation(noise_sigma=0.0)
    augmented = SyntheticBlurDataset(**SMALL, seed=10, augment=aug)
    changed = 0
    for i in range(len(plain)):
        clip, item = plain.render(i), augmented[i]
        hits = [
            k
            for k, (b, s) in enumerate(
                zip(dihedral_images(clip.blur), dihedral_images(clip.sharp), strict=True)
            )
            if torch.equal(b, item["blur"]) and torch.equal(s, item["sharp"])
        ]
        assert hits, f"item {i} is not one orientation of its clip"
        changed += 0 not in hits
    assert changed > 0
    noisy = SyntheticBlurDataset(**SMALL, seed=10, augment=True)
    diffs = [(noisy[i]["blur"] - augmented[i]["blur"]).abs().max() for i in range(4)]
    assert max(diffs) > 0
    assert all(torch.equal(noisy[i]["sharp"], augmented[i]["sharp"]) for i in range(4))


def test_non_square_crops_keep_their_shape_under_rotation():
    ds = SyntheticBlurDataset("val", length=12, clip_length=2, crop=(16, 40), seed=11, augment=True)
    assert all(ds[i]["blur"].shape == (2, 3, 16, 40) for i in range(len(ds)))


def test_train_and_validation_photos_are_disjoint():
    assert not set(TRAIN_PHOTOS) & set(VAL_PHOTOS)
    val = {name: load_photo(name) for name in VAL_PHOTOS}
    for name in TRAIN_PHOTOS:
        photo = load_photo(name)
        for other, v in val.items():
            same = photo.shape == v.shape and torch.allclose(photo, v, atol=0.05)
            assert not same, f"train photo {name} is a copy of validation photo {other}"
    train = SyntheticBlurDataset("train", length=40, clip_length=1, crop=8)
    used = {train[i]["sequence"].split("/")[0] for i in range(len(train))}
    assert used <= set(TRAIN_PHOTOS) and len(used) > 3
    valid = SyntheticBlurDataset("val", length=20, clip_length=1, crop=8)
    assert {valid[i]["sequence"].split("/")[0] for i in range(20)} <= set(VAL_PHOTOS)


def test_user_photos_and_magnification_of_small_ones():
    photo = torch.rand(3, 24, 20)
    ds = SyntheticBlurDataset(photos=[photo, (photo[0] * 255).byte()], clip_length=2, crop=32)
    clip = ds.render(0)
    assert clip.base_zoom < 1 and clip.sharp.shape == (2, 3, 32, 32)
    assert ds[1]["sequence"].startswith("photo")
    with pytest.raises(ValueError, match="values in"):
        SyntheticBlurDataset(photos=[photo * 2], crop=8)
    with pytest.raises(ValueError, match="unknown skimage.data"):
        SyntheticBlurDataset(photos=["no_such_photo"], crop=8)


def test_missing_scikit_image_names_the_train_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(ImportError, match=r"rirn-layers\[train\]"):
        SyntheticBlurDataset("val", crop=8)
    ds = SyntheticBlurDataset(photos=[torch.rand(3, 40, 40)], crop=8, clip_length=2)
    assert ds[0]["blur"].shape == (2, 3, 8, 8)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"split": "test"}, ValueError, "`split`"),
        ({"crop": None}, ValueError, "`crop`"),
        ({"exposure": 1.5}, ValueError, "`exposure`"),
        ({"speed": (5.0, 1.0)}, ValueError, "`speed`"),
        ({"interpolation": "nearest"}, ValueError, "`interpolation`"),
        ({"clip_length": 0}, ValueError, "`clip_length`"),
        ({"noise": -1.0}, ValueError, "`noise`"),
        ({"photos": []}, ValueError, "`photos`"),
        ({"augment": "yes"}, TypeError, "`augment`"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        SyntheticBlurDataset(**{"crop": 8, **kwargs})


def test_index_out_of_range():
    ds = SyntheticBlurDataset(**SMALL)
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_bilinear_is_softer_than_bicubic():
    kw = {**SMALL, "noise": 0.0, "seed": 12}
    cubic = SyntheticBlurDataset(**kw).render(0).sharp
    linear = SyntheticBlurDataset(**kw, interpolation="bilinear").render(0).sharp
    assert gradient_energy(linear) < gradient_energy(cubic)


def test_build_dataset_synthetic_and_data_loader_workers():
    ds = build_dataset("synthetic", split="val", clip_length=2, crop=16, length=4, seed=1)
    assert isinstance(ds, SyntheticBlurDataset) and ds.augment is None
    assert build_dataset("synthetic", clip_length=2, length=2).crop == (128, 128)
    assert build_dataset("synthetic", clip_length=2, length=2).augment is not None
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2)
    batches = list(loader)
    assert batches[0]["blur"].shape == (2, 2, 3, 16, 16)
    direct = torch.stack([ds[2]["blur"], ds[3]["blur"]])
    assert torch.equal(batches[1]["blur"], direct)
    with pytest.raises(ValueError, match="`root`"):
        build_dataset("synthetic", root="/tmp")
