"""The project uses no private torch API (``torch._*``, ``torch.utils._*``, ...).

Private modules change without notice between torch releases. Every ``.py`` file under
``rirn_layers/`` is parsed and its imports and attribute chains are checked: any part
after ``torch`` that starts with an underscore (``torch._dynamo``,
``from torch.utils import _pytree``, ``torch.utils._python_dispatch.TorchDispatchMode``)
fails the test, listing file, line and name. Dunders (``torch.__version__``) are public.
The examples, benchmarks and tests are held to the same rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rirn_layers"
#: Where else the project's code lives: what users run (examples, benchmarks) and the tests.
OTHERS = ("examples", "benchmarks", "tests", "docs_hooks")


def _private(dotted: str) -> bool:
    parts = dotted.split(".")
    if parts[0] != "torch":
        return False
    return any(p.startswith("_") and not (p.startswith("__") and p.endswith("__"))
               for p in parts[1:])


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` of an attribute chain on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def private_uses(source: str) -> list[tuple[int, str]]:
    """``(line, name)`` of every private torch name ``source`` imports or reads."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            names = [dotted] if dotted else []
        found += [(node.lineno, name) for name in names if _private(name)]
    return sorted(set(found))


def test_the_checker_finds_private_names():
    source = (
        "import torch._dynamo\n"
        "from torch.utils import _pytree as pytree\n"
        "from torch.utils._python_dispatch import TorchDispatchMode\n"
        "x = torch._C._get_tracing_state\n"
        "y = torch.__version__, torch.utils.checkpoint, other._private\n"
    )
    names = {name for _, name in private_uses(source)}
    assert names == {
        "torch._dynamo", "torch.utils._pytree", "torch.utils._python_dispatch",
        "torch.utils._python_dispatch.TorchDispatchMode", "torch._C",
        "torch._C._get_tracing_state",
    }


def test_the_package_uses_no_private_torch_api():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 10
    bad = [f"{path.relative_to(PACKAGE.parent)}:{line}: {name}"
           for path in files for line, name in private_uses(path.read_text(encoding="utf-8"))]
    assert not bad, "private torch API used:\n" + "\n".join(bad)


def test_examples_benchmarks_and_tests_use_no_private_torch_api():
    files = sorted(p for folder in OTHERS for p in (ROOT / folder).rglob("*.py"))
    bad = [f"{path.relative_to(ROOT)}:{line}: {name}"
           for path in files for line, name in private_uses(path.read_text(encoding="utf-8"))]
    assert not bad, "private torch API used:\n" + "\n".join(bad)
