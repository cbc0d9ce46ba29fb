"""A stop while data-loader workers or several ranks run: one checkpoint, complete and agreed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("skimage")
pytest.importorskip("kornia")

from rirn_layers.train import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "train_gru_rirn.py"
TINY = ["--crop", "32", "--val-clips", "1", "--val-crop", "32", "--no-progress", "--steps", "60"]
STOPPED = re.compile(r"stopped by (SIG\w+) at step (\d+) of 60; saved (.+); resume with --resume")


def _logged(out: Path) -> int:
    path = out / "metrics.jsonl"
    return sum('"loss"' in line for line in path.read_text().splitlines()) if path.exists() else 0


def _start(args: list[str], out: Path) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, *args, *TINY, "--out", str(out)], cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 150
    while _logged(out) < 3 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.poll() is None, child.communicate()[1]
    return child


def _check_saved(out: Path, stderr: str, ranks: int) -> int:
    stops = STOPPED.findall(stderr)
    assert len(stops) == ranks, stderr
    assert len({step for _, step, _ in stops}) == 1, stops  # every rank stopped at one step
    step = int(stops[0][1])
    assert 3 <= step < 60
    assert load_checkpoint(out / "last.pt", restore_rng=False)["step"] == step
    assert not list(out.glob(".*.tmp"))
    return step


@pytest.mark.slow
def test_ctrl_c_to_the_process_group_with_loader_workers(tmp_path):
    """A terminal's Ctrl-C reaches the workers too: the run still saves and says so once."""
    out = tmp_path / "run"
    child = _start([str(SCRIPT), "--batch-size", "1", "--workers", "2"], out)
    os.killpg(child.pid, signal.SIGINT)
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 128 + signal.SIGINT, stderr
    assert "Traceback" not in stderr, stderr
    _check_saved(out, stderr, ranks=1)


def _ranks(launcher: int) -> dict[int, int]:
    """``rank -> pid`` of the workers torchrun started (Linux /proc)."""
    children = Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split()
    ranks = {}
    for pid in map(int, children):
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        rank = [e for e in env if e.startswith(b"RANK=")]
        if rank:
            ranks[int(rank[0][5:])] = pid
    return ranks


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_a_signal_to_one_rank_stops_every_rank_at_the_same_step(tmp_path):
    out = tmp_path / "run"
    launcher = ["-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                str(29400 + os.getpid() % 500), str(SCRIPT), "--batch-size", "2"]  # fmt: skip
    child = _start(launcher, out)
    ranks = _ranks(child.pid)
    assert sorted(ranks) == [0, 1]
    os.kill(ranks[1], signal.SIGTERM)  # e.g. a node's share of a scheduler's stop
    _, stderr = child.communicate(timeout=120)
    assert child.returncode != 0
    assert "terminate called" not in stderr, stderr  # the process group ended cleanly
    _check_saved(out, stderr, ranks=2)
