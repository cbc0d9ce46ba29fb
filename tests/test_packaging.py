"""Packaging and project hygiene: public names, core imports, README == CI, ruff."""

from __future__ import annotations

import ast
import importlib.resources
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import rirn_layers

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = [
    "InnerRecurrence",
    "AdaptiveTemporalBlend",
    "DynamicTemporalBlend",
    "GlobalSpatioTemporalAttention",
    "wrap_recurrent_cell",
    "detach_state",
    "Reconstructor",
    "RecurrentDeblurNet",
    "RecurrentCellWrapper",
    "RIRNState",
    "StreamingDeblurModel",
    "StreamState",
    "pad_to_multiple",
    "crop_to",
]
# Subpackages the core must never import (they may pull optional dependencies).
EXTRAS = ("baselines", "data", "train", "video", "inspect", "io")
ALLOWED_THIRD_PARTY = {"torch", "einops", "typing_extensions"}


@pytest.mark.parametrize("name", PUBLIC)
def test_public_name_exists(name):
    assert name in rirn_layers.__all__
    assert getattr(rirn_layers, name) is not None


def test_all_is_exactly_importable():
    for name in rirn_layers.__all__:
        assert hasattr(rirn_layers, name), name


def core_files() -> list[Path]:
    package = ROOT / "rirn_layers"
    return [
        p for p in package.rglob("*.py")
        if p.relative_to(package).parts[0] not in EXTRAS
    ]


def test_core_imports_only_torch_einops_typing_extensions():
    stdlib = set(sys.stdlib_module_names)
    bad = []
    for path in core_files():
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top == "rirn_layers":
                    if len(name.split(".")) > 1 and name.split(".")[1] in EXTRAS:
                        bad.append(f"{path.name}: {name}")
                elif top not in stdlib and top not in ALLOWED_THIRD_PARTY and top != "__future__":
                    bad.append(f"{path.name}: {name}")
    assert not bad, bad


def test_py_typed_is_shipped():
    assert importlib.resources.files("rirn_layers").joinpath("py.typed").is_file()


def readme_commands() -> list[str]:
    lines = (ROOT / "README.md").read_text().splitlines()
    return [line.strip() for line in lines[:12] if line.startswith("    ")]


def test_readme_starts_with_main_job_and_test_commands():
    commands = readme_commands()
    assert len(commands) == 2
    main_job, tests = commands
    assert "pip install torch==2.13.0" in main_job and "python examples/" in main_job
    assert "pip install torch==2.13.0" in tests and tests.endswith("pytest")


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in [line.strip() for line in ci]
    assert "rm -rf .venv" in ci[ci.index(readme_commands()[1]) - 2]


def test_examples_in_readme_exist():
    main_job = readme_commands()[0]
    script = main_job.split("python ")[-1].split()[0]
    assert (ROOT / script).is_file()


def find_ruff() -> str | None:
    beside = Path(sys.executable).parent / "ruff"
    return str(beside) if beside.is_file() else shutil.which("ruff")


@pytest.mark.skipif(find_ruff() is None, reason="ruff is in the test extra")
def test_ruff_clean():
    result = subprocess.run(
        [str(find_ruff()), "check", "--no-cache", str(ROOT / "rirn_layers"), str(ROOT / "tests"),
         str(ROOT / "examples")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
