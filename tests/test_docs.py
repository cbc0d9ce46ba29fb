"""The docs' code runs and the docs' pages match the code (API names, parameter counts).

The docstring examples of every module run once, in tests/test_doctests.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

import rirn_layers

DOCS = Path(__file__).resolve().parents[1] / "docs"


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


def test_inspection_page_code_runs():
    (block,) = python_blocks(DOCS / "inspection.md")
    namespace: dict = {}
    torch.manual_seed(0)
    exec(compile(block, "docs/inspection.md", "exec"), namespace)
    assert namespace["memory"].shape == (1, 4, 20, 16, 16)
    w_prev, w_cur = namespace["w_prev"], namespace["w_cur"]
    assert w_prev.shape == w_cur.shape == (1, 4, 60, 16, 16)
    assert bool((w_prev >= 0).all() and (w_cur >= 0).all())


def test_api_page_covers_every_public_name():
    text = (DOCS / "api.md").read_text()
    missing = [n for n in rirn_layers.__all__ if n not in text and n != "ResBlock"]
    assert not missing


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_layers_page_parameter_counts():
    text = (DOCS / "layers.md").read_text()
    layers = rirn_layers
    # (formula as written on the page, the formula, the layer) for C channels
    cases = [
        ("216C^2 + 13C", lambda c: 216 * c**2 + 13 * c, layers.InnerRecurrence),
        ("56C^2 + 6C", lambda c: 56 * c**2 + 6 * c, layers.AdaptiveTemporalBlend),
        ("50C^2 + C + 1", lambda c: 50 * c**2 + c + 1, layers.DynamicTemporalBlend),
        ("59C^2 + 18C", lambda c: 59 * c**2 + 18 * c, layers.GlobalSpatioTemporalAttention),
    ]
    for written, formula, layer in cases:
        assert f"${written}$" in text, written
        for c in (1, 3, 20):
            assert n_params(layer(c)) == formula(c), (written, c)
    # the general forms: 2k^2C^2 + C + 1 (kernel k), (34 + W^2)C^2 + (13 + W)C (W = P + 1 + F)
    assert "$2k^2C^2 + C + 1$" in text and "$(34 + W^2)C^2 + (13 + W)C$" in text
    for c, k, past, future in ((5, 3, 1, 0), (4, 7, 0, 3)):
        w = past + 1 + future
        dtb = layers.DynamicTemporalBlend(c, kernel_size=k)
        gsa = layers.GlobalSpatioTemporalAttention(c, past, future)
        assert n_params(dtb) == 2 * k**2 * c**2 + c + 1
        assert n_params(gsa) == (34 + w**2) * c**2 + (13 + w) * c
    assert "86,660 for $C = 20$" in text and n_params(layers.InnerRecurrence(20)) == 86_660
    assert "201,960 for $C = 60$" in text
    assert n_params(layers.AdaptiveTemporalBlend(60)) == 201_960

