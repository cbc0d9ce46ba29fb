"""GOPRO, REDS, DVD and BSD folder layouts, on tiny trees of PNGs built in tmp_path.

Every pixel of a test frame encodes where it is and which frame it belongs to:
red = row, green = column, blue = 10 * frame index + (0 for blurry, 1 for sharp, 2 for
GOPRO's blur_gamma). Reading the codes back shows exactly which window of which frame,
in which orientation, a dataset returned.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

from rirn_layers.data import DATASETS, build_dataset  # noqa: E402
from rirn_layers.data.clips import Augmentation  # noqa: E402
from rirn_layers.data.folders import (  # noqa: E402
    BsdDataset,
    DvdDataset,
    GoproDataset,
    RedsDataset,
    pair_frames,
    read_frame,
    scan_dvd,
)

H, W = 12, 16
NO_NOISE = Augmentation(noise_sigma=0.0)  # geometry only, so that the codes read back exactly


def write_frame(path: Path, frame: int, kind: int, size: tuple[int, int] = (H, W)) -> None:
    h, w = size
    rows = torch.arange(h).view(h, 1).expand(h, w)
    cols = torch.arange(w).view(1, w).expand(h, w)
    code = torch.full((h, w), 10 * frame + kind)
    pixels = torch.stack([rows, cols, code], dim=-1).flatten().tolist()
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.frombytes("RGB", (w, h), bytes(pixels)).save(path)


def write_sequence(blur_dir: Path, sharp_dir: Path, n: int, ext: str = ".png") -> None:
    for i in range(n):
        write_frame(blur_dir / f"{i:05d}{ext}", i, 0)
        write_frame(sharp_dir / f"{i:05d}{ext}", i, 1)


def decode(x: torch.Tensor) -> torch.Tensor:
    """(T, 3, h, w) in [0, 1] -> integer codes."""
    return (x * 255).round().long()


def make_gopro(root: Path, lengths=(5, 3), split="train") -> Path:
    for s, n in enumerate(lengths):
        seq = root / split / f"GOPR{s:04d}"
        write_sequence(seq / "blur", seq / "sharp", n)
        for i in range(n):
            write_frame(seq / "blur_gamma" / f"{i:05d}.png", i, 2)
    return root


def make_reds(root: Path, lengths=(5, 3), split="train") -> Path:
    for s, n in enumerate(lengths):
        write_sequence(root / f"{split}_blur" / f"{s:03d}", root / f"{split}_sharp" / f"{s:03d}", n)
    return root


def make_dvd(root: Path, names=("IMG_0003", "IMG_0100", "720p_240fps_1"), n=4) -> Path:
    for name in names:
        write_sequence(root / name / "input", root / name / "GT", n, ext=".png")
    return root


def make_bsd(root: Path, exposure="2ms16ms", split="train", lengths=(5, 3)) -> Path:
    for s, n in enumerate(lengths):
        seq = root / f"BSD_{exposure}" / split / f"{s:03d}"
        write_sequence(seq / "Blur" / "RGB", seq / "Sharp" / "RGB", n)
    return root


def check_clip(item: dict, clip_length: int, crop: tuple[int, int] | None) -> int:
    """Frames consecutive, one window and orientation for blur, sharp and every frame.

    Returns which of the 8 orientations of the window the clip shows.
    """
    blur, sharp = decode(item["blur"]), decode(item["sharp"])
    T = blur.shape[0]
    assert T == clip_length and blur.shape == sharp.shape
    if crop is not None:
        assert blur.shape[-2:] == crop
    first = int(item["frames"][0])
    assert [int(f) for f in item["frames"]] == list(range(first, first + T))
    for t in range(T):
        assert (blur[t, 2] == 10 * (first + t)).all() and (
            sharp[t, 2] == 10 * (first + t) + 1
        ).all()
    # identical geometry: the row/column codes agree across blur/sharp and the whole clip
    assert torch.equal(blur[:, :2], sharp[:, :2])
    assert (blur[:, :2] == blur[:1, :2]).all()
    # and they are a dihedral image of one contiguous window of the stored frame
    rows, cols = blur[0, 0], blur[0, 1]
    r0, c0 = int(rows.min()), int(cols.min())
    hh, ww = int(rows.max()) - r0 + 1, int(cols.max()) - c0 + 1
    window = torch.stack(
        [
            torch.arange(r0, r0 + hh).view(hh, 1).expand(hh, ww),
            torch.arange(c0, c0 + ww).view(1, ww).expand(hh, ww),
        ]
    )
    images = [torch.rot90(b, k, dims=(-2, -1)) for b in (window, window.flip(-1)) for k in range(4)]
    matches = [k for k, d in enumerate(images) if torch.equal(blur[0, :2], d)]
    assert matches
    return matches[0]


# ------------------------------------------------------------------------- layouts


def test_gopro_lengths_clips_and_blur_choice(tmp_path):
    root = make_gopro(tmp_path)
    ds = GoproDataset(root, "train", clip_length=3)
    assert len(ds) == 3 + 1  # windows 0..2 of a 5-frame and 0 of a 3-frame sequence
    assert [ds[i]["sequence"] for i in range(4)] == ["GOPR0000"] * 3 + ["GOPR0001"]
    for i in range(len(ds)):
        check_clip(ds[i], 3, None)
    assert ds[2]["frames"] == ["00002", "00003", "00004"]
    gamma = GoproDataset(root, "train", clip_length=3, blur="blur_gamma")
    assert (decode(gamma[0]["blur"])[:, 2] % 10 == 2).all()
    with pytest.raises(ValueError, match="blur_gamma"):
        GoproDataset(root, "train", blur="gamma")
    with pytest.raises(ValueError, match="'val' split"):
        GoproDataset(root, "val")  # no test/ folder


def test_gopro_val_is_the_test_folder_with_non_overlapping_windows(tmp_path):
    root = make_gopro(tmp_path, lengths=(7,), split="test")
    ds = build_dataset("gopro", root, split="val", clip_length=3)
    assert ds.augment is None
    assert [ds[i]["frames"][0] for i in range(len(ds))] == ["00000", "00003", "00004"]
    whole = build_dataset("gopro", root, split="val", clip_length=None)
    assert len(whole) == 1 and whole[0]["blur"].shape == (7, 3, H, W)


def test_reds_layout_and_archive_layout(tmp_path):
    flat = make_reds(tmp_path / "a")
    ds = RedsDataset(flat, "train", clip_length=2)
    assert len(ds) == 4 + 2
    assert {ds[i]["sequence"] for i in range(len(ds))} == {"000", "001"}
    for i in range(len(ds)):
        check_clip(ds[i], 2, None)
    nested = make_reds(tmp_path / "b" / "val", lengths=(4,), split="val").parent
    assert len(RedsDataset(nested, "val", clip_length=2)) == 3


def test_reds_sequence_in_one_folder_only_is_named(tmp_path):
    root = make_reds(tmp_path)
    write_sequence(root / "train_blur" / "007", tmp_path / "elsewhere", 2)
    with pytest.raises(ValueError, match=r"sequence '007' has no folder in .*train_sharp"):
        RedsDataset(root, "train")


def test_dvd_flat_layout_uses_the_published_test_list(tmp_path):
    root = make_dvd(tmp_path / "flat")
    train = DvdDataset(root, "train", clip_length=2)
    assert {train[i]["sequence"] for i in range(len(train))} == {"IMG_0100", "720p_240fps_1"}
    val = DvdDataset(root, "val", clip_length=2)
    assert {val[i]["sequence"] for i in range(len(val))} == {"IMG_0003"}
    check_clip(val[1], 2, None)
    split = tmp_path / "split"
    make_dvd(split / "train", names=("a",))
    make_dvd(split / "test", names=("b",))
    assert [s.name for s in scan_dvd(split, "test")] == ["b"]
    assert [s.name for s in scan_dvd(split, "train")] == ["a"]


def test_bsd_layout_exposure_choice_and_valid_split(tmp_path):
    root = make_bsd(tmp_path)
    ds = BsdDataset(root, "train", clip_length=3, crop=(6, 8), augment=NO_NOISE)
    assert len(ds) == 4
    for i in range(len(ds)):
        check_clip(ds[i], 3, (6, 8))
    make_bsd(tmp_path, exposure="2ms16ms", split="valid", lengths=(3,))
    assert len(BsdDataset(root, "val", clip_length=3)) == 1
    assert len(BsdDataset(root / "BSD_2ms16ms", "train", clip_length=3)) == 4
    make_bsd(tmp_path, exposure="3ms24ms", lengths=(4,))
    with pytest.raises(ValueError, match=r"pass `exposure`.*2ms16ms.*3ms24ms"):
        BsdDataset(root, "train")
    assert len(BsdDataset(root, "train", exposure="3ms24ms", clip_length=3)) == 2
    with pytest.raises(ValueError, match="BSD_1ms8ms"):
        BsdDataset(root, "train", exposure="1ms8ms")


# ----------------------------------------------------------------- augmentation


@given(
    seed=st.integers(0, 2**31),
    index=st.integers(0, 3),
    h=st.integers(1, H),
    w=st.integers(1, H),
    T=st.integers(1, 3),
)
def test_one_crop_and_orientation_for_blur_sharp_and_every_frame(
    tmp_path_factory, seed, index, h, w, T
):
    root = tmp_path_factory.getbasetemp() / "aug_tree"
    if not root.exists():
        make_gopro(root, lengths=(6,))
    ds = GoproDataset(root, "train", clip_length=T, crop=(h, w), seed=seed, augment=NO_NOISE)
    check_clip(ds[min(index, len(ds) - 1)], T, (h, w))


def test_all_orientations_and_positions_occur_and_items_are_reproducible(tmp_path):
    root = make_gopro(tmp_path, lengths=(4,))
    ds = GoproDataset(root, "train", clip_length=2, crop=(4, 6), augment=NO_NOISE, seed=1)
    orientations, corners = set(), set()
    for epoch in range(80):
        ds.set_epoch(epoch)
        item = ds[0]
        orientations.add(check_clip(item, 2, (4, 6)))
        codes = decode(item["blur"])[0, :2]
        corners.add((int(codes[0].min()), int(codes[1].min())))
    assert len(orientations) == 8 and len(corners) > 10
    ds.set_epoch(3)
    assert torch.equal(ds[1]["blur"], ds[1]["blur"])
    again = GoproDataset(root, "train", clip_length=2, crop=(4, 6), augment=NO_NOISE, seed=1)
    again.set_epoch(3)
    assert torch.equal(ds[1]["sharp"], again[1]["sharp"])


def test_without_augmentation_the_crop_is_centred_and_exact(tmp_path):
    root = make_gopro(tmp_path, lengths=(3,))
    item = GoproDataset(root, "train", clip_length=3, crop=(4, 6))[0]
    codes = decode(item["sharp"])
    top, left = (H - 4) // 2, (W - 6) // 2
    assert torch.equal(codes[0, 0], torch.arange(top, top + 4).view(4, 1).expand(4, 6))
    assert torch.equal(codes[0, 1], torch.arange(left, left + 6).view(1, 6).expand(4, 6))


def test_noise_goes_to_the_blurry_frames_only(tmp_path):
    root = make_gopro(tmp_path, lengths=(3,))
    aug = Augmentation(random_crop=False, hflip=False, vflip=False, rot90=False, noise_sigma=0.2)
    plain = GoproDataset(root, "train", clip_length=3)[0]
    noisy = [GoproDataset(root, "train", clip_length=3, augment=aug, seed=s)[0] for s in range(4)]
    for item in noisy:
        assert torch.equal(item["sharp"], plain["sharp"])
        assert item["blur"].min() >= 0 and item["blur"].max() <= 1
    assert max((n["blur"] - plain["blur"]).abs().max() for n in noisy) > 0.05


# ---------------------------------------------------------------------- errors


def test_missing_sharp_frame_names_sequence_and_frame(tmp_path):
    root = make_gopro(tmp_path)
    (root / "train" / "GOPR0001" / "sharp" / "00001.png").unlink()
    with pytest.raises(ValueError, match=r"sequence 'GOPR0001': frame '00001' is in .*blur"):
        GoproDataset(root, "train")


def test_extra_sharp_frame_names_sequence_and_frame(tmp_path):
    root = make_reds(tmp_path)
    write_frame(root / "train_sharp" / "000" / "00009.png", 9, 1)
    with pytest.raises(ValueError, match=r"sequence '000': frame '00009' is in .*train_sharp"):
        RedsDataset(root, "train")


def test_mismatched_frame_size_names_sequence_and_frame(tmp_path):
    root = make_bsd(tmp_path)
    write_frame(
        root / "BSD_2ms16ms" / "train" / "000" / "Sharp" / "RGB" / "00003.png",
        3,
        1,
        size=(H, W + 2),
    )
    ds = BsdDataset(root, "train", clip_length=2)
    ds[0]  # frames 0-1 are fine
    with pytest.raises(ValueError, match=r"sequence '000': sharp frame '00003'"):
        ds[2]


def test_missing_folder_of_a_sequence_is_named(tmp_path):
    root = make_dvd(tmp_path)
    for f in (root / "IMG_0100" / "GT").iterdir():
        f.unlink()
    (root / "IMG_0100" / "GT").rmdir()
    with pytest.raises(ValueError, match=r"sequence 'IMG_0100': no folder of sharp frames"):
        DvdDataset(root, "train")


def test_empty_or_missing_root(tmp_path):
    for cls in (GoproDataset, RedsDataset, DvdDataset, BsdDataset):
        with pytest.raises(FileNotFoundError, match="not an existing directory"):
            cls(tmp_path / "nowhere", "train")
        with pytest.raises(ValueError, match="expected"):
            cls(tmp_path, "train")
    (tmp_path / "train").mkdir()
    with pytest.raises(ValueError, match="no sequence folders"):
        GoproDataset(tmp_path, "train")
    (tmp_path / "train" / "seq" / "blur").mkdir(parents=True)
    (tmp_path / "train" / "seq" / "sharp").mkdir()
    with pytest.raises(ValueError, match="sequence 'seq': no frames"):
        GoproDataset(tmp_path, "train")


def test_short_sequences_are_skipped_with_a_warning_or_rejected(tmp_path):
    root = make_gopro(tmp_path, lengths=(5, 2))
    with pytest.warns(UserWarning, match="GOPR0001"):
        ds = GoproDataset(root, "train", clip_length=3)
    assert {ds[i]["sequence"] for i in range(len(ds))} == {"GOPR0000"}
    with pytest.raises(ValueError, match="no sequence has clip_length=6"):
        GoproDataset(root, "train", clip_length=6)


def test_crop_larger_than_frames_is_named(tmp_path):
    root = make_gopro(tmp_path, lengths=(3,))
    with pytest.raises(ValueError, match=r"crop \(20, 20\) does not fit .*GOPR0000"):
        GoproDataset(root, "train", clip_length=2, crop=20)[0]


def test_unreadable_frame_names_sequence_and_frame(tmp_path):
    root = make_gopro(tmp_path, lengths=(3,))
    (root / "train" / "GOPR0000" / "blur" / "00001.png").write_bytes(b"not a png")
    ds = GoproDataset(root, "train", clip_length=2)
    with pytest.raises(OSError, match=r"sequence 'GOPR0000'.*'00001'"):
        ds[0]


def test_bad_arguments(tmp_path):
    root = make_gopro(tmp_path, lengths=(3,))
    with pytest.raises(ValueError, match="`clip_length`"):
        GoproDataset(root, "train", clip_length=0)
    with pytest.raises(ValueError, match="`stride`"):
        GoproDataset(root, "train", stride=0)
    with pytest.raises(ValueError, match="`split`"):
        GoproDataset(root, "dev")
    with pytest.raises(ValueError, match="`name`"):
        build_dataset("vimeo", tmp_path)
    with pytest.raises(ValueError, match="`root`"):
        build_dataset("gopro")
    with pytest.raises(IndexError):
        GoproDataset(root, "train", clip_length=2)[5]


# ------------------------------------------------------------------- utilities


def test_pair_frames_sorts_naturally_and_read_frame_converts(tmp_path):
    for i in (1, 2, 10):
        write_frame(tmp_path / "b" / f"f{i}.png", i, 0)
        write_frame(tmp_path / "s" / f"f{i}.jpg", i, 1)
    seq = pair_frames("x", tmp_path / "b", tmp_path / "s")
    assert seq.frames == ("f1", "f2", "f10")
    Image.new("L", (3, 2), 51).save(tmp_path / "grey.png")
    grey = read_frame(tmp_path / "grey.png")
    assert grey.shape == (3, 2, 3) and torch.allclose(grey, torch.full_like(grey, 0.2))
    with pytest.raises(ValueError, match="expected"):
        read_frame(tmp_path / "grey.png", expect_size=(3, 3))


def test_build_dataset_covers_every_name_and_loader_batches(tmp_path):
    assert set(DATASETS) == {"synthetic", "shaky", "gopro", "reds", "dvd", "bsd"}
    trees = {
        "gopro": make_gopro(tmp_path / "g"),
        "reds": make_reds(tmp_path / "r"),
        "dvd": make_dvd(tmp_path / "d"),
        "bsd": make_bsd(tmp_path / "b"),
    }
    for name, root in trees.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = build_dataset(name, root, clip_length=2, crop=(4, 4), seed=0)
        assert ds.augment is not None
        batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2, shuffle=True)))
        assert batch["blur"].shape == (2, 2, 3, 4, 4) and batch["sharp"].dtype == torch.float32
        assert len(batch["sequence"]) == 2


def test_missing_pillow_names_the_train_extra(tmp_path, monkeypatch):
    root = make_gopro(tmp_path, lengths=(3,))
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(ImportError, match=r"pillow.*rirn-layers\[train\]"):
        GoproDataset(root, "train")
    with pytest.raises(ImportError, match=r"rirn-layers\[train\]"):
        build_dataset("bsd", tmp_path / "nowhere")


# ------------------------------------------------------------- 16-bit and links


def _codes16(h: int, w: int, channels: int):
    np = pytest.importorskip("numpy")
    # odd codes: 8-bit truncation (code >> 8) or clipping (min(code, 255)) cannot match
    codes = (np.arange(h * w * channels, dtype=np.uint32) * 997 + 1) % 65535
    return codes.astype(np.uint16).reshape(h, w, channels)


def test_a_16_bit_gray_png_in_a_dataset_reads_at_full_depth(tmp_path):
    codes = _codes16(6, 8, 1)
    for kind in ("blur", "sharp"):
        (tmp_path / kind).mkdir()
        for i in range(2):
            Image.fromarray(codes[..., 0]).save(tmp_path / kind / f"{i}.png")  # mode I;16
    seq = pair_frames("seq", tmp_path / "blur", tmp_path / "sharp")
    from rirn_layers.data.folders import VideoFolderDataset

    item = VideoFolderDataset([seq], clip_length=2)[0]
    expected = torch.from_numpy(codes.astype("float32")).permute(2, 0, 1) / 65535
    assert item["blur"].shape == (2, 3, 6, 8)
    for channel in range(3):  # gray repeated to RGB, not "all white"
        torch.testing.assert_close(item["sharp"][1, channel], expected[0], rtol=0, atol=1e-7)


def test_a_16_bit_colour_png_reads_at_full_depth(tmp_path):
    pytest.importorskip("av")
    from rirn_layers.io.images import ImageKind, write_image

    codes = _codes16(5, 7, 3)
    write_image(tmp_path / "f.png", codes, None,
                ImageKind("PNG", (7, 5), gray=False, depth=16, alpha=False, wide=True))
    frame = read_frame(tmp_path / "f.png")
    expected = torch.from_numpy(codes.astype("float32")).permute(2, 0, 1) / 65535
    torch.testing.assert_close(frame, expected, rtol=0, atol=1e-7)
    torch.testing.assert_close(read_frame(tmp_path / "f.png", (1, 2, 3, 4)),
                               expected[:, 1:4, 2:6], rtol=0, atol=0)


def test_a_broken_symbolic_link_is_named_as_such(tmp_path):
    for kind in ("blur", "sharp"):
        (tmp_path / kind).mkdir()
        for i in range(3):
            write_frame(tmp_path / kind / f"{i:04d}.png", i, 0)
    (tmp_path / "blur" / "0003.png").symlink_to(tmp_path / "gone" / "0003.png")
    write_frame(tmp_path / "sharp" / "0003.png", 3, 1)
    with pytest.raises(ValueError, match=r"frame '0003' at .*0003.png is a broken symbolic link"
                                         r" \(it points to .*gone.*which does not exist\)"):
        pair_frames("seq", tmp_path / "blur", tmp_path / "sharp")
