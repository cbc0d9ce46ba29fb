"""The ablation statistics, the equal-cost search, the shaky set and the two scripts."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import sys
from pathlib import Path

import pytest
import torch

from rirn_layers.baselines import build_model
from rirn_layers.data import DATASETS, build_dataset
from rirn_layers.data.shaky import ShakyBlurDataset, since_sharp
from rirn_layers.train.ablation import (
    TOLERANCE,
    check_equal_cost,
    equal_cost_search,
    macs_per_frame,
    paired_summary,
    summarize,
    t_cdf,
    t_quantile,
    time_budget_steps,
    verdict,
)
from rirn_layers.train.builders import zoo_options

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TINY = ["--crop", "32", "--batch-size", "1", "--val-clips", "1", "--val-crop", "32",
        "--no-progress"]


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# -- statistics -----------------------------------------------------------------------------
@pytest.mark.parametrize(("df", "expected"), [(1, 12.7062), (2, 4.3027), (3, 3.1824),
                                              (5, 2.5706), (10, 2.2281), (30, 2.0423),
                                              (100, 1.9840), (math.inf, 1.9600)])
def test_t_quantile_matches_the_tables(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-4)


def test_t_quantile_other_levels_and_cdf_inverse():
    assert t_quantile(0.95, 4) == pytest.approx(2.1318, abs=1e-4)
    assert t_quantile(0.995, 9) == pytest.approx(3.2498, abs=1e-4)
    assert t_quantile(0.025, 6) == pytest.approx(-2.4469, abs=1e-4)
    for df in (1, 2, 7, 8):
        assert t_cdf(t_quantile(0.9, df), df) == pytest.approx(0.9, abs=1e-12)
    with pytest.raises(ValueError, match="`p` must be"):
        t_quantile(1.0, 3)


def test_summary_on_known_numbers():
    s = summarize([10.0, 12.0, 14.0])
    assert (s.n, s.mean, s.std) == (3, 12.0, 2.0)
    half = 4.3027 * 2.0 / math.sqrt(3)
    assert s.low == pytest.approx(12 - half, abs=1e-3)
    assert s.high == pytest.approx(12 + half, abs=1e-3)
    one = summarize([3.0])
    assert one.mean == 3.0 and math.isnan(one.std) and verdict(one) == "n/a (one seed)"


def test_paired_differences_remove_the_shared_seed_noise():
    bare = [28.0, 30.0, 32.0]  # large spread across seeds
    ours = [28.3, 30.25, 32.35]  # a steady +0.3
    assert verdict(summarize(ours)) == "significant"  # (trivially: PSNR > 0)
    unpaired_overlap = summarize(ours).low < summarize(bare).high
    paired = paired_summary(ours, bare)
    assert unpaired_overlap and paired.mean == pytest.approx(0.3)
    assert verdict(paired) == "significant"
    assert verdict(paired_summary([30.1, 29.9, 30.0], [30.0, 30.0, 30.0])) == "not significant"


def test_time_budget_steps():
    assert time_budget_steps(10, {"a": 1.0, "b": 2.0, "c": 0.4}, "a") == {"a": 10, "b": 5, "c": 25}


# -- equal cost -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["gru", "lstm", "ifirnn"])
def test_equal_cost_search_within_three_percent(name):
    target = macs_per_frame(build_model(name, irm=True, atb=True, device="meta"))
    found = equal_cost_search(lambda kw: build_model(name, device="meta", **kw),
                              zoo_options(name), target)
    assert found is not None and found.within
    assert abs(found.ratio - 1) <= TOLERANCE
    wide = build_model(name, device="meta", **found.kwargs)
    assert abs(macs_per_frame(wide) / target - 1) <= TOLERANCE


def test_check_equal_cost_refuses_with_the_ratio():
    assert check_equal_cost(1010, 1000) == pytest.approx(1.01)
    with pytest.raises(ValueError, match=r"1\.200x"):
        check_equal_cost(1200, 1000)


# -- the shaky set --------------------------------------------------------------------------
def _gradient_energy(frames: torch.Tensor) -> torch.Tensor:
    dx = frames.diff(dim=-1).square().mean(dim=(-3, -2, -1))
    dy = frames.diff(dim=-2).square().mean(dim=(-3, -2, -1))
    return dx + dy


def test_shaky_items_are_deterministic_and_registered():
    assert "shaky" in DATASETS
    ds = build_dataset("shaky", split="val", clip_length=10, crop=32, length=3)
    assert isinstance(ds, ShakyBlurDataset)
    a, b = ds[1], ds[1]
    assert torch.equal(a["blur"], b["blur"]) and torch.equal(a["sharp"], b["sharp"])
    ds.set_epoch(1)
    assert not torch.equal(ds[1]["blur"], a["blur"])
    assert a["blur"].shape == (10, 3, 32, 32) and a["since_sharp"].shape == (10,)


def test_shaky_since_sharp_and_blur_where_declared():
    ds = ShakyBlurDataset("val", length=4, clip_length=12, crop=48, noise=0.0)
    for index in range(len(ds)):
        clip = ds.render(index)
        assert not clip.shaking[0]
        assert torch.equal(clip.since_sharp, since_sharp(clip.shaking))
        expected, count = [], 0
        for s in clip.shaking.tolist():
            count = count + 1 if s else 0
            expected.append(count)
        assert clip.since_sharp.tolist() == expected
        # the camera moves only during shakes: still frames' sub-frames are not offset
        assert clip.offsets[~clip.shaking].abs().max() == 0
        assert clip.offsets[clip.shaking].abs().max() > 1
        # shaken frames are blurrier: less gradient energy than the sharp ones
        energy = _gradient_energy(clip.blur) / _gradient_energy(clip.sharp)
        if clip.shaking.any():
            assert energy[clip.shaking].max() < energy[~clip.shaking].min()
            assert energy[clip.shaking].mean() < 0.6


# -- the scripts ----------------------------------------------------------------------------
def test_ablate_two_seeds_has_intervals_and_the_wide_row(tmp_path):
    out = tmp_path / "abl"
    load("ablate").main(["--seeds", "2", "--steps", "1", *TINY, "--out", str(out)])
    text = (out / "ablation.md").read_text()
    for needle in ("| GRU wide |", "PSNR 95% CI", "ΔPSNR 95% CI", "verdict (95%)",
                   "steps (equal steps)", "Budget: equal steps"):
        assert needle in text
    rep = json.loads((out / "ablation.json").read_text())
    labels = [v["label"] for v in rep["variants"]]
    assert labels == ["GRU", "GRU wide", "GRU + ATB", "GRU + IRM", "GRU + IRM + ATB"]
    wide = rep["variants"][1]
    assert abs(wide["macs"] / rep["variants"][-1]["macs"] - 1) <= TOLERANCE
    assert [r["seed"] for r in wide["runs"]] == [0, 1] and len(wide["paired_psnr_values"]) == 2
    assert (out / "gru_wide" / "seed1" / "last.pt").exists()
    with pytest.raises(SystemExit, match="already holds an ablation"):
        load("ablate").main(["--seeds", "2", "--steps", "1", *TINY, "--out", str(out)])
    assert re.search(r"Equal cost: GRU \+ IRM \+ ATB - GRU wide \(paired per seed\): ΔPSNR "
                     r"[+-]\d+\.\d\d dB, 95% CI \[[+-][\d.]+, [+-][\d.]+\], "
                     r"(not )?significant\.", text)
    (out / "ablation.md").unlink()
    load("ablate").main(["--replot", "--out", str(out)])  # from the JSON, no training
    assert (out / "ablation.md").read_text() == text


def test_ablate_time_budget(tmp_path):
    out = tmp_path / "abl"
    load("ablate").main(["--budget", "time", "--steps", "2", "--warmup-steps", "1",
                         "--calibration-steps", "1", *TINY, "--out", str(out)])
    text = (out / "ablation.md").read_text()
    assert "steps (equal time)" in text and "| s/step" in text and "CPU capability" in text
    rep = json.loads((out / "ablation.json").read_text())
    assert rep["budget"] == "time" and rep["steps"]["gru"] == 2
    assert all(v["seconds_per_step"] > 0 for v in rep["variants"])


def test_ablate_refuses_wide_kwargs_off_cost(tmp_path):
    with pytest.raises(SystemExit, match=r"costs 0\.646x"):
        load("ablate").main(["--wide-kwargs", '{"hidden_channels": 20}', "--steps", "1",
                             *TINY, "--out", str(tmp_path / "abl")])
    assert not (tmp_path / "abl").exists()


def test_long_memory_writes_its_table(tmp_path):
    out = tmp_path / "lm"
    load("long_memory").main(["--seeds", "2", "--steps", "1", "--batch-size", "1",
                              "--clip-length", "6", "--chunk", "3", "--crop", "32",
                              "--val-clips", "1", "--eval-clips", "2", "--eval-length", "8",
                              "--eval-crop", "32", "--out", str(out), "--no-progress"])
    text = (out / "long_memory.md").read_text()
    assert "| frames since sharp |" in text and "| 4+ |" in text and "GRU + IRM" in text
    rep = json.loads((out / "long_memory.json").read_text())
    assert rep["bins"] == ["0", "1", "2", "3", "4+"]
    assert len(rep["variants"][1]["bins"][0]["psnr_per_seed"]) == 2
    with pytest.raises(SystemExit, match="already holds a probe"):
        load("long_memory").main(["--steps", "1", "--out", str(out)])
    (out / "long_memory.md").unlink()
    load("long_memory").main(["--replot", "--out", str(out)])  # from the JSON, no training
    assert (out / "long_memory.md").read_text() == text
    with pytest.raises(SystemExit, match="needs .*long_memory.json"):
        load("long_memory").main(["--replot", "--out", str(tmp_path / "none")])
