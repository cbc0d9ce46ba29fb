"""Every zoo model computes what it computed before the last refactor, on a fixed seed.

``tests/fixtures/golden_outputs.pt`` was written by ``tests/fixtures/make_golden_outputs.py``;
on the machine, torch and thread count that wrote it the comparison is exact, elsewhere to
1e-12 (float64 kernels may round differently on another CPU or split the work differently).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
from make_golden_outputs import configs, machine, run  # noqa: E402

GOLDEN = torch.load(FIXTURES / "golden_outputs.pt", weights_only=True)
# the fixture predates the thread count in its meta: it was written with 2 threads
SAME_MACHINE = {"threads": 2, **GOLDEN["meta"]} == machine()


def test_the_fixture_covers_every_model_and_variant():
    from rirn_layers.baselines import available_models

    assert GOLDEN["configs"] == configs()
    assert {c["name"] for c in configs().values()} == set(available_models())


@pytest.mark.parametrize("tag", sorted(configs()))
def test_outputs_match_those_saved_before_the_refactor(tag):
    stored, now = GOLDEN["outputs"][tag], run(configs()[tag])
    assert torch.equal(now["input"], stored["input"])
    assert int(now["param_count"]) == int(stored["param_count"])
    tol = {"rtol": 0.0, "atol": 0.0} if SAME_MACHINE else {"rtol": 1e-12, "atol": 1e-12}
    for key in ("param_sum", "whole", "streamed"):
        torch.testing.assert_close(now[key], stored[key], **tol, msg=lambda m, k=key: f"{k}: {m}")
