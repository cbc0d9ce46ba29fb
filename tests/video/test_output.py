"""The output policy: nothing of the user's is deleted, overwritten or left half written."""

from __future__ import annotations

import json
import os
import stat

import pytest

from rirn_layers.video.output import MANIFEST, plan_output


@pytest.fixture
def frames(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for name in ("000.png", "001.png"):
        (folder / name).write_bytes(b"png")
    return folder


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"mp4")
    return path


def test_a_new_output_is_planned_in_a_temporary_sibling(tmp_path, frames, video):
    plan = plan_output(tmp_path / "out", source=frames)
    assert plan.kind == "folder" and plan.temp.parent == tmp_path and plan.temp.is_dir()
    assert plan.temp.name.startswith(".out.") and not plan.replaces
    plan.abort()
    assert not plan.temp.exists()
    video_plan = plan_output(tmp_path / "sub" / "out.webm", source=video)
    assert video_plan.kind == "file" and video_plan.temp.suffix == ".webm"
    assert (tmp_path / "sub").is_dir() and not video_plan.temp.exists()


def test_an_existing_output_is_refused_without_overwrite(tmp_path, frames, video):
    (tmp_path / "out.mp4").write_bytes(b"keep me")
    with pytest.raises(ValueError, match=r"out.mp4 exists \(a file of 7 bytes\); pass --overwrite"):
        plan_output(tmp_path / "out.mp4", source=video)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"exists \(a folder with 1 entry\)"):
        plan_output(out, source=frames)
    assert (tmp_path / "out.mp4").read_bytes() == b"keep me" and (out / "notes.txt").exists()


def test_overwrite_never_replaces_a_folder_with_files_we_did_not_write(tmp_path, frames):
    out = tmp_path / "out"
    out.mkdir()
    (out / "000.png").write_bytes(b"user's")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"holds files rirn-layers did not write \(000.png, "
                                         r"notes.txt\); refusing to replace it even with"):
        plan_output(out, source=frames, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["000.png", "notes.txt"]


def test_overwrite_replaces_an_output_folder_of_ours(tmp_path, frames):
    first = plan_output(tmp_path / "out", source=frames)
    (first.temp / "000.png").write_bytes(b"first")
    first.commit(["000.png"])
    assert json.loads((tmp_path / "out" / MANIFEST).read_text())["files"] == ["000.png"]
    with pytest.raises(ValueError, match="exists"):
        plan_output(tmp_path / "out", source=frames)
    second = plan_output(tmp_path / "out", source=frames, overwrite=True)
    assert second.replaces
    (second.temp / "000.png").write_bytes(b"second")
    second.commit(["000.png"])
    assert (tmp_path / "out" / "000.png").read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "out"]  # nothing left over


def test_an_empty_folder_is_filled_without_overwrite(tmp_path, frames):
    (tmp_path / "out").mkdir()
    plan = plan_output(tmp_path / "out", source=frames)
    plan.commit([])
    assert (tmp_path / "out" / MANIFEST).is_file()


def test_overwrite_of_a_file_and_kind_mismatches(tmp_path, frames, video):
    (tmp_path / "out.mp4").write_bytes(b"old")
    plan = plan_output(tmp_path / "out.mp4", source=video, overwrite=True)
    plan.temp.write_bytes(b"new")
    plan.commit()
    assert (tmp_path / "out.mp4").read_bytes() == b"new"
    (tmp_path / "dir.mp4").mkdir()
    with pytest.raises(ValueError, match="is a folder with 0 entries, not a video file"):
        plan_output(tmp_path / "dir.mp4", source=video, overwrite=True)
    with pytest.raises(ValueError, match="is a folder of frames.*looks like a file"):
        plan_output(tmp_path / "x.mp4", source=frames)
    with pytest.raises(ValueError, match="give .* a container suffix"):
        plan_output(tmp_path / "x", source=video)


def test_the_input_is_never_the_output_nor_around_it(tmp_path, frames, video):
    with pytest.raises(ValueError, match="is the input"):
        plan_output(frames, source=frames, overwrite=True)
    with pytest.raises(ValueError, match="is the input"):
        plan_output(video, source=video, overwrite=True)
    with pytest.raises(ValueError, match="inside the input folder"):
        plan_output(frames / "deblurred", source=frames)
    with pytest.raises(ValueError, match="holds the input"):
        plan_output(tmp_path, source=video, overwrite=True)
    assert sorted(p.name for p in frames.iterdir()) == ["000.png", "001.png"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        plan_output(tmp_path / "o", source=tmp_path / "missing")


def test_created_outputs_follow_the_umask(tmp_path, frames):
    old = os.umask(0o022)
    try:
        plan = plan_output(tmp_path / "out", source=frames)
        plan.commit([])
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "out").stat().st_mode)
    assert mode == 0o755
    assert stat.S_IMODE((tmp_path / "out" / MANIFEST).stat().st_mode) == 0o644
