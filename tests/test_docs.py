"""The docs' code runs, and every docstring example in the core package passes."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest
import torch

import rirn_layers

DOCS = Path(__file__).resolve().parents[1] / "docs"
CORE_MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(rirn_layers.__path__, "rirn_layers.")
    if m.name.count(".") <= 2 and not m.name.startswith("rirn_layers.baselines")
)


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_retrofit_guide_runs():
    blocks = python_blocks(DOCS / "retrofit.md")
    assert len(blocks) >= 5
    namespace: dict = {}
    torch.manual_seed(0)
    for block in blocks:
        exec(compile(block, "docs/retrofit.md", "exec"), namespace)
    assert namespace["n_rirn"] > namespace["n_bare"]


def test_api_page_covers_every_public_name():
    text = (DOCS / "api.md").read_text()
    missing = [n for n in rirn_layers.__all__ if n not in text and n != "ResBlock"]
    assert not missing


@pytest.mark.parametrize("name", CORE_MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, extraglobs={"torch": torch, "nn": torch.nn}, optionflags=doctest.ELLIPSIS
    )
    assert result.failed == 0
