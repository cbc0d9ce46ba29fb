"""Figures of rirn_layers.inspect.figures (RIRN figs. 3, 4, 6, 7-9) on tiny tensors."""

from __future__ import annotations

import sys

import pytest
import torch

pytest.importorskip("matplotlib")

from matplotlib.figure import Figure

from rirn_layers.inspect import (
    blend_maps,
    comparison_grid,
    record,
    state_maps,
    weight_sum_histogram,
    weight_sums,
)
from rirn_layers.train.metrics import psnr

T, C, H, W = 2, 4, 8, 8


def _png_ok(path) -> None:
    data = path.read_bytes()
    assert len(data) > 100
    assert data[:8] == b"\x89PNG\r\n\x1a\n"


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


# -- fig. 4 -------------------------------------------------------------------------------
def test_weight_sums_from_real_recording():
    from rirn_layers.baselines import build_model

    torch.manual_seed(0)
    model = build_model("gru", irm=True, atb=True).eval()
    clip = torch.rand(1, 3, 3, 32, 32)
    with torch.no_grad(), record(model, "weights") as rec:
        model(clip)
    w_prev, _ = rec.stack("wrapped.atb", "weights")
    sums = weight_sums(rec, "wrapped.atb")
    b, t, c, h, w = w_prev.shape
    assert t == 3
    assert sums.dim() == 1 and sums.numel() == b * t * c * h * w
    assert float(sums.min()) >= 0.0 and float(sums.max()) <= 2.0
    with pytest.raises(KeyError):
        weight_sums(rec, "wrapped.nothing")


def test_weight_sum_histogram(tmp_path):
    atb = torch.rand(T, C, H, W, generator=_gen()) * 2
    dtb = torch.ones(T, C, H, W)
    path = tmp_path / "fig4.png"
    fig = weight_sum_histogram({"ATB": atb, "DTB": dtb}, path=path)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    _png_ok(path)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts == [f"ATB (mean {float(atb.double().mean()):.3f})", "DTB (mean 1.000)"]
    # the vertical line at 1
    assert any(list(line.get_xdata()) == [1.0, 1.0] for line in fig.axes[0].get_lines())


def test_weight_sum_histogram_only_ones():
    fig = weight_sum_histogram({"DTB": torch.ones(10)})
    assert len(fig.axes) == 1


@pytest.mark.parametrize(
    ("sums", "error", "match"),
    [
        ({}, ValueError, "`sums` is empty"),
        ([torch.ones(3)], TypeError, "`sums` must be a dict"),
        ({"ATB": [1.0]}, TypeError, r"`sums\['ATB'\]` must be a torch.Tensor"),
        ({"ATB": torch.ones(0)}, ValueError, r"`sums\['ATB'\]` is empty, shape \(0\)"),
    ],
)
def test_weight_sum_histogram_errors(sums, error, match):
    with pytest.raises(error, match=match):
        weight_sum_histogram(sums)


# -- fig. 3 -------------------------------------------------------------------------------
def test_state_maps(tmp_path):
    g = _gen()
    hidden = torch.randn(T, C, H, W, generator=g)
    memory = torch.randn(T, C + 1, H, W, generator=g)
    error = torch.rand(T, 3, 2 * H, 2 * W, generator=g)
    output = torch.rand(T, 3, 2 * H, 2 * W, generator=g) * 1.2 - 0.1
    path = tmp_path / "fig3.png"
    fig = state_maps(hidden, memory, error, output, path=path)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4 * T
    _png_ok(path)
    assert [ax.get_title() for ax in fig.axes[:4]] == [
        r"$h_{t-1}$", r"$\tilde{h}_{t-1}$", r"error of $L_{t-1}$", r"$L_t$",
    ]
    assert fig.axes[4].get_ylabel() == "frame 1"
    # channel mean of h_{t-1} at frame 0 is what is shown
    shown = fig.axes[0].get_images()[0].get_array()
    assert torch.allclose(torch.as_tensor(shown.data), hidden[0].mean(0), atol=1e-6)
    labelled = state_maps(hidden, memory, error, output, start=1)
    assert [ax.get_ylabel() for ax in labelled.axes[::4]] == [f"frame {t + 1}" for t in range(T)]


def test_state_maps_errors():
    good = torch.rand(T, C, H, W)
    rgb = torch.rand(T, 3, H, W)
    shape = r"must have shape \(T, C, H, W\), got"
    with pytest.raises(ValueError, match=r"`hidden` " + shape + r" \(4, 8, 8\)"):
        state_maps(good[0], good, rgb, rgb)
    rgb_shape = r"must have shape \(T, 3, H, W\), got"
    with pytest.raises(ValueError, match=r"`error` " + rgb_shape + r" \(2, 4, 8, 8\)"):
        state_maps(good, good, good, rgb)
    with pytest.raises(ValueError, match=r"`output` has \(1, 3, 8, 8\)"):
        state_maps(good, good, rgb, rgb[:1])
    with pytest.raises(TypeError, match="`memory` must be a torch.Tensor, got list"):
        state_maps(good, [1.0], rgb, rgb)
    with pytest.raises(ValueError, match="`start` must be a non-negative int, got -1"):
        state_maps(good, good, rgb, rgb, start=-1)


# -- fig. 6 -------------------------------------------------------------------------------
def test_blend_maps_shared_scale(tmp_path):
    g = _gen()
    feature = torch.randn(C, H, W, generator=g)
    dtb = torch.randn(C, H, W, generator=g) * 3
    atb = torch.randn(C, H, W, generator=g) + 5
    path = tmp_path / "fig6.png"
    fig = blend_maps(feature, dtb, atb, path=path)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4  # three maps and the shared colour bar
    _png_ok(path)
    means = [x.mean(0) for x in (feature, dtb, atb)]
    low = min(float(m.min()) for m in means)
    high = max(float(m.max()) for m in means)
    for ax in fig.axes[:3]:
        assert ax.get_images()[0].get_clim() == pytest.approx((low, high))


def test_blend_maps_errors():
    good = torch.rand(C, H, W)
    shape = r"must have shape \(C, H, W\), got"
    with pytest.raises(ValueError, match=r"`atb_blended` " + shape + r" \(1, 4, 8, 8\)"):
        blend_maps(good, good, good[None])
    with pytest.raises(TypeError, match="`feature` must be a torch.Tensor"):
        blend_maps(None, good, good)


# -- figs. 7-9 ----------------------------------------------------------------------------
def test_comparison_grid_psnr_titles(tmp_path):
    g = _gen()
    sharp = torch.rand(3, H, W, generator=g)
    blur = (sharp + 0.2 * torch.randn(3, H, W, generator=g)).clamp(0, 1)
    bare = (sharp + 0.1 * torch.randn(3, H, W, generator=g)).clamp(0, 1)
    rirn = (sharp + 0.05 * torch.randn(3, H, W, generator=g)).clamp(0, 1)
    tiles = {"blur": blur, "bare": bare, "+RIRN": rirn, "sharp": sharp}
    path = tmp_path / "fig7.png"
    fig = comparison_grid(tiles, sharp, path=path)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4
    _png_ok(path)
    titles = [ax.get_title() for ax in fig.axes]
    for title, (label, tile) in zip(titles[:3], list(tiles.items())[:3], strict=True):
        expected = float(psnr(tile[None], sharp[None])[0])
        assert title == f"{label}\n{expected:.2f} dB"
    assert titles[3] == "sharp"


def test_comparison_grid_columns():
    sharp = torch.rand(3, H, W)
    tiles = {str(i): torch.rand(3, H, W) for i in range(5)}
    fig = comparison_grid(tiles, sharp, columns=2)
    assert len(fig.axes) == 5  # the sixth cell of the 3 x 2 grid is removed


def test_comparison_grid_errors():
    sharp = torch.rand(3, H, W)
    shape = r"must have shape \(3, H, W\), got"
    with pytest.raises(ValueError, match=r"`sharp` " + shape + r" \(1, 3, 8, 8\)"):
        comparison_grid({"a": sharp}, sharp[None])
    with pytest.raises(ValueError, match=r"`sharp` " + shape + r" \(4, 8, 8\)"):
        comparison_grid({"a": sharp}, torch.rand(4, H, W))
    with pytest.raises(ValueError, match=r"`tiles\['a'\]` " + shape + r" \(8, 8\)"):
        comparison_grid({"a": sharp[0]}, sharp)
    with pytest.raises(ValueError, match=r"shape of `sharp` \(3, 8, 8\), got \(3, 4, 4\)"):
        comparison_grid({"a": torch.rand(3, 4, 4)}, sharp)
    with pytest.raises(ValueError, match="`tiles` is empty"):
        comparison_grid({}, sharp)
    with pytest.raises(ValueError, match="`columns`"):
        comparison_grid({"a": sharp}, sharp, columns=0)


def test_no_pyplot_import():
    # Drawing must not pull in pyplot (which would pick a global backend).
    had = "matplotlib.pyplot" in sys.modules
    comparison_grid({"a": torch.rand(3, H, W)}, torch.rand(3, H, W))
    assert had or "matplotlib.pyplot" not in sys.modules
