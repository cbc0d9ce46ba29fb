"""The benchmark scripts run (``--quick``: tiny sizes) and write their tables and plots.

They are smoke runs: the numbers of a quick run are not checked (timings are never tests),
only that every script still works end to end, checks its outputs against its reference,
and writes what ``docs/performance.md`` shows.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
RUNS = {
    "overhead": ["--models", "gru", "estrnn"],
    "roofline": ["--models", "gru"],
    "options": ["--models", "gru", "--no-compile"],
    "memory": [],
    "fast_path": ["--models", "gru"],
}


@pytest.mark.parametrize("name", list(RUNS))
def test_benchmark_quick_run_writes_table_and_plot(name, tmp_path):
    script = ROOT / "benchmarks" / f"{name}.py"
    result = subprocess.run(
        [sys.executable, str(script), "--quick", "--out", str(tmp_path), *RUNS[name]],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = (tmp_path / f"{name}.md").read_text()
    assert text.startswith("Machine: ")
    assert "| " in text  # at least one table
    assert "**no**" not in text or name in ("overhead", "memory", "fast_path")  # timing noise
    assert (tmp_path / f"{name}.png").stat().st_size > 1000


def test_update_page_replaces_only_its_section(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from _common import update_page
    finally:
        sys.path.pop(0)
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- a:begin -->\nold\n<!-- a:end -->\nmiddle\n"
                    "<!-- b:begin -->\nkeep\n<!-- b:end -->\n")
    update_page("a", "new table", page)
    assert page.read_text() == ("intro\n<!-- a:begin -->\nnew table\n<!-- a:end -->\nmiddle\n"
                                "<!-- b:begin -->\nkeep\n<!-- b:end -->\n")
    with pytest.raises(SystemExit, match="c:begin"):
        update_page("c", "x", page)


def test_profile_step_prints_the_top_operators():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "profile_step.py"), "--models", "gru",
         "--size", "32", "32", "--repeats", "1", "--rows", "3"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "gru+IRM+ATB, 32x32, fp32" in result.stdout
    assert result.stdout.count(" %") == 3
    assert "aten::" in result.stdout


def test_gpu_suite_skips_cleanly_without_cuda(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA machine runs the suite itself: python benchmarks/gpu_suite.py")
    script = [sys.executable, str(ROOT / "benchmarks" / "gpu_suite.py"), "--out", str(tmp_path)]
    result = subprocess.run(script, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu_suite: CUDA is not available"), lines
    assert "pytest -m cuda" in lines[0] and "1280x720" in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing written
    required = subprocess.run([*script, "--require-cuda"], capture_output=True, text=True,
                              timeout=120, cwd=ROOT)
    assert required.returncode == 1 and "CUDA is not available" in required.stderr
