"""Every docstring example of every module of ``rirn_layers`` passes, collected in one place.

The package is walked on disk (nothing is imported to find the modules, so an optional
dependency that is missing cannot hide a whole subpackage); each module whose source holds
an example (``>>>``) is one test. A module that needs a missing optional dependency is
skipped, naming it. The examples run with ``torch`` and ``nn`` in their globals, with
``ELLIPSIS`` and ``NORMALIZE_WHITESPACE``, from a fresh seed, in a temporary directory.
"""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil
from pathlib import Path

import pytest
import torch
from torch import nn

import rirn_layers

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _walk(path: Path, prefix: str) -> list[tuple[str, Path]]:
    """``(module name, source file)`` of every module under ``path``, without importing."""
    found = []
    for info in pkgutil.iter_modules([str(path)], prefix):
        leaf = info.name.rsplit(".", 1)[-1]
        if info.ispkg:
            found.append((info.name, path / leaf / "__init__.py"))
            found += _walk(path / leaf, info.name + ".")
        else:
            found.append((info.name, path / f"{leaf}.py"))
    return found


ROOT = Path(rirn_layers.__file__).parent
MODULES = [("rirn_layers", ROOT / "__init__.py"), *_walk(ROOT, "rirn_layers.")]
WITH_EXAMPLES = sorted(name for name, source in MODULES if ">>>" in source.read_text())


def test_the_walk_finds_the_package():
    names = {name for name, _ in MODULES}
    assert {"rirn_layers.model", "rirn_layers.baselines.estrnn", "rirn_layers.layers.irm",
            "rirn_layers.train"} <= names
    assert "rirn_layers.baselines" in WITH_EXAMPLES  # build_model's example


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    try:
        module = importlib.import_module(name)
    except ImportError as err:  # an optional dependency (rirn_layers._optional.require)
        pytest.skip(f"{name} needs an optional dependency that is missing: {err}")
    tests = doctest.DocTestFinder(exclude_empty=True).find(
        module, name, extraglobs={"torch": torch, "nn": nn}
    )
    examples = sum(len(t.examples) for t in tests)
    assert examples > 0, f"{name}: '>>>' in the source but no docstring example found"
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    torch.manual_seed(0)
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    report = io.StringIO()
    for test in sorted(tests, key=lambda t: t.name):
        runner.run(test, out=report.write)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} failed:\n{report.getvalue()}"
