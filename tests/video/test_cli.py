"""The ``rirn-deblur`` command: one-line errors, nothing of the user's lost, clean stops."""

from __future__ import annotations

import importlib.metadata
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

PIL = pytest.importorskip("PIL.Image")

from rirn_layers.baselines import build_model  # noqa: E402
from rirn_layers.train import save_checkpoint  # noqa: E402
from rirn_layers.video.cli import main, parser  # noqa: E402

CONFIG = {"name": "gru", "irm": True, "atb": True, "channels": [4, 6, 8], "hidden_channels": 4}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, model=build_model(**CONFIG), step=0, config=CONFIG)
    return path


def write_frames(folder: Path, count: int = 3, size=(18, 22)) -> list[str]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"{i:04d}.png" for i in range(count)]
    for name in names:
        PIL.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(folder / name)
    return names


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_folder_in_folder_out_with_a_summary_line(tmp_path, checkpoint, capsys):
    names = write_frames(tmp_path / "in")
    assert main([str(tmp_path / "in"), str(tmp_path / "out"), "--checkpoint", str(checkpoint),
                 "--no-progress"]) == 0
    assert visible(tmp_path / "out") == names
    out = capsys.readouterr().out
    assert "deblurred 3 frames of 22x18 in" in out and "frames/s) ->" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]  # no temporary left


def test_an_existing_output_is_refused_in_one_line(tmp_path, checkpoint, capsys):
    write_frames(tmp_path / "in")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    args = ["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
            "--checkpoint", str(checkpoint), "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists" in err and "--overwrite" in err
    assert main([*args, "--overwrite"]) == 2
    assert "holds files rirn-layers did not write (notes.txt)" in capsys.readouterr().err
    assert visible(tmp_path / "out") == ["notes.txt"]


def test_the_input_as_output_is_refused(tmp_path, checkpoint, capsys):
    names = write_frames(tmp_path / "in")
    assert main([str(tmp_path / "in"), str(tmp_path / "in"), "--checkpoint", str(checkpoint),
                 "--overwrite", "--no-progress"]) == 2
    assert "is the input" in capsys.readouterr().err
    assert visible(tmp_path / "in") == names


def test_a_bad_checkpoint_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys):
    write_frames(tmp_path / "in", 1)
    (tmp_path / "bad.pt").write_bytes(b"\x00" * 100)
    args = [str(tmp_path / "in"), str(tmp_path / "out"), "--checkpoint", str(tmp_path / "bad.pt")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("rirn-deblur: error: ") and "bad.pt" in err and "Traceback" not in err
    with pytest.raises(ValueError, match="bad.pt"):
        main([*args, "--debug"])
    assert not (tmp_path / "out").exists()


def test_input_given_twice_or_not_at_all(tmp_path, checkpoint, capsys):
    with pytest.raises(SystemExit):
        main(["a", "b", "--input", "c", "--checkpoint", str(checkpoint)])
    assert "give the input once" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--output", "b", "--checkpoint", str(checkpoint)])
    assert "the input is missing" in capsys.readouterr().err


def test_help_groups_the_options_and_shows_every_default():
    text = " ".join(parser().format_help().split())
    for group in ("input and output:", "model:", "speed and memory:", "encoding (video output):",
                  "display:"):
        assert group in text
    assert "(default: auto)" in text and "(default: 32)" in text and "(default: False)" in text


def test_the_console_command_is_installed():
    (entry,) = [e for e in importlib.metadata.entry_points(group="console_scripts")
                if e.name == "rirn-deblur"]
    assert entry.value == "rirn_layers.video.cli:entry_point"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_leaves_no_temporary_and_nothing_partial(tmp_path, checkpoint, signum):
    write_frames(tmp_path / "in", 400, size=(96, 96))
    command = [sys.executable, "-m", "rirn_layers.video.cli", str(tmp_path / "in"),
               str(tmp_path / "out"), "--checkpoint", str(checkpoint), "--no-progress"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".out.") for p in tmp_path.iterdir()):
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    temp = next(p for p in tmp_path.iterdir() if p.name.startswith(".out."))
    while len(list(temp.iterdir())) < 3 and child.poll() is None:  # a few frames written
        time.sleep(0.05)
    child.send_signal(signum)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 128 + int(signum), err
    assert "stopped" in err and "nothing was written" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
