"""Matplotlib figures in the style of RIRN's analysis and qualitative figures.

Park, Nah and Lee, "Recurrence-in-Recurrence Networks for Video Deblurring" (BMVC 2022):

- :func:`state_maps`, fig. 3: per frame, the channel means of the hidden state ``h_{t-1}``
  and of IRM's memory ``h~_{t-1}``, the error map of the previous output ``L_{t-1}`` and
  the output ``L_t`` itself;
- :func:`weight_sum_histogram`, fig. 4: the distribution of ``w_prev + w_cur`` for ATB
  against DTB (DTB's sum is 1 everywhere, ATB's is free); :func:`weight_sums` reads those
  sums from a :class:`~rirn_layers.inspect.Recording`;
- :func:`blend_maps`, fig. 6: the channel means of ``f_t`` and of the blended ``f~_t``
  under DTB and under ATB, on one colour scale;
- :func:`comparison_grid`, figs. 7-9: restored tiles side by side with their PSNR against
  the sharp tile.

matplotlib is an optional dependency (``pip install 'rirn-layers[inspect]'``), imported
inside the functions with :func:`rirn_layers._optional.require`. The figures are built
with :class:`matplotlib.figure.Figure` and the Agg canvas directly, never with ``pyplot``,
so no global state (backend, current figure) changes. Every function returns the
``Figure`` and, given ``path``, also saves it as a PNG.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch

from rirn_layers._checks import shape_str
from rirn_layers._optional import require

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from rirn_layers.inspect.recording import Recording

__all__ = [
    "blend_maps",
    "comparison_grid",
    "state_maps",
    "weight_sum_histogram",
    "weight_sums",
]

_PathLike = str | os.PathLike


def _new_figure(figsize: tuple[float, float], fn: str) -> Figure:
    figure = require("matplotlib.figure", extra="inspect", purpose=f"rirn_layers.inspect.{fn}")
    agg = require(
        "matplotlib.backends.backend_agg", extra="inspect", purpose=f"rirn_layers.inspect.{fn}"
    )
    fig = figure.Figure(figsize=figsize, layout="constrained")
    agg.FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: _PathLike | None) -> Figure:
    if path is not None:
        fig.savefig(os.fspath(path), format="png", dpi=100)
    return fig


def _tensor(fn: str, name: str, x: object, rank: int, expected: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{fn}: `{name}` must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != rank:
        raise ValueError(f"{fn}: `{name}` must have shape {expected}, got {shape_str(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{fn}: `{name}` is empty, shape {shape_str(x.shape)}")
    return x.detach().to("cpu", torch.float32)


def _mapping(fn: str, name: str, x: object) -> Mapping:
    if not isinstance(x, Mapping):
        raise TypeError(f"{fn}: `{name}` must be a dict of label -> tensor, got {type(x).__name__}")
    if not x:
        raise ValueError(f"{fn}: `{name}` is empty")
    return x


# -- fig. 4 -------------------------------------------------------------------------------
def weight_sums(recording: Recording, name: str) -> torch.Tensor:
    """The sums ``w_prev + w_cur`` a blend layer used, flattened, from a recording.

    Args:
        recording: a :class:`~rirn_layers.inspect.Recording` with kind ``"weights"`` for
            ``name`` (an ATB or DTB layer, e.g. ``"wrapped.atb"``).
        name: the qualified module name.

    Returns:
        A 1-D float tensor of ``B * T * C * H * W`` sums (over batch, frames, channels and
        pixels), on the CPU.

    Raises:
        KeyError: if the recording holds no weights for ``name``.
    """
    w_prev, w_cur = recording.stack(name, "weights")
    return (w_prev + w_cur).detach().to("cpu", torch.float32).flatten()


def weight_sum_histogram(
    sums: Mapping[str, torch.Tensor],
    path: _PathLike | None = None,
    *,
    bins: int = 50,
) -> Figure:
    """Histograms of ``w_prev + w_cur`` per blend layer (RIRN fig. 4).

    Args:
        sums: label -> tensor of sums of any shape (e.g. ``{"ATB": ..., "DTB": ...}`` from
            :func:`weight_sums`); each is flattened.
        path: where to save the figure as a PNG (``None``: do not save).
        bins: number of bins, shared by all histograms over their common range.

    Returns:
        A figure with one axes: one density histogram per label, the mean of each in the
        legend (``"ATB (mean 0.873)"``) and a dashed vertical line at 1.
    """
    fn = "weight_sum_histogram"
    _mapping(fn, "sums", sums)
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 1:
        raise ValueError(f"{fn}: `bins` must be a positive int, got {bins!r}")
    flat = {}
    for label, value in sums.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"{fn}: `sums[{label!r}]` must be a torch.Tensor, got {type(value).__name__}"
            )
        if value.numel() == 0:
            raise ValueError(f"{fn}: `sums[{label!r}]` is empty, shape {shape_str(value.shape)}")
        flat[str(label)] = value.detach().to("cpu", torch.float64).flatten()
    low = min(min(float(v.min()) for v in flat.values()), 1.0)
    high = max(max(float(v.max()) for v in flat.values()), 1.0)
    if high - low < 1e-6:  # all exactly 1 (e.g. DTB alone): give the bar some width
        low, high = low - 0.05, high + 0.05
    fig = _new_figure((6.0, 4.0), fn)
    ax = fig.add_subplot(1, 1, 1)
    for label, value in flat.items():
        ax.hist(
            value.numpy(), bins=bins, range=(low, high), density=True, alpha=0.6,
            label=f"{label} (mean {float(value.mean()):.3f})",
        )
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
    ax.set_xlabel(r"$w_{prev} + w_{cur}$")
    ax.set_ylabel("density")
    ax.legend()
    return _save(fig, path)


# -- fig. 3 -------------------------------------------------------------------------------
def state_maps(
    hidden: torch.Tensor,
    memory: torch.Tensor,
    error: torch.Tensor,
    output: torch.Tensor,
    path: _PathLike | None = None,
    *,
    start: int = 0,
) -> Figure:
    """Hidden state, IRM memory, previous error and output, frame by frame (RIRN fig. 3).

    Args:
        hidden: ``h_{t-1}``, shape ``(T, C, H, W)``; shown as its channel mean.
        memory: ``h~_{t-1}``, shape ``(T, C, H, W)`` (``C`` may differ from ``hidden``'s);
            shown as its channel mean.
        error: ``|L_{t-1} - sharp|``, shape ``(T, 3, H, W)``; shown as its channel mean.
        output: ``L_t``, shape ``(T, 3, H, W)``; shown as RGB clipped to ``[0, 1]``.
        path: where to save the figure as a PNG (``None``: do not save).
        start: the frame index ``t`` of the first row (rows are labelled ``frame t``), e.g.
            1 when row ``i`` shows ``h_i``, ``h~_i``, the error of ``L_i`` and ``L_{i+1}``.

    Returns:
        A figure with ``T`` rows (frames) of 4 axes, each map on its own colour scale; every
        tensor must have the same ``T`` (the maps may have different sizes, e.g. states at
        1/4 resolution).
    """
    fn = "state_maps"
    if not isinstance(start, int) or isinstance(start, bool) or start < 0:
        raise ValueError(f"{fn}: `start` must be a non-negative int, got {start!r}")
    tensors = {
        "hidden": _tensor(fn, "hidden", hidden, 4, "(T, C, H, W)"),
        "memory": _tensor(fn, "memory", memory, 4, "(T, C, H, W)"),
        "error": _tensor(fn, "error", error, 4, "(T, 3, H, W)"),
        "output": _tensor(fn, "output", output, 4, "(T, 3, H, W)"),
    }
    for name in ("error", "output"):
        if tensors[name].shape[1] != 3:
            raise ValueError(
                f"{fn}: `{name}` must have shape (T, 3, H, W), "
                f"got {shape_str(tensors[name].shape)}"
            )
    frames = tensors["hidden"].shape[0]
    for name, x in tensors.items():
        if x.shape[0] != frames:
            raise ValueError(
                f"{fn}: all inputs must have the same number of frames T; `hidden` has "
                f"{shape_str(tensors['hidden'].shape)}, `{name}` has {shape_str(x.shape)}"
            )
    titles = (
        r"$h_{t-1}$", r"$\tilde{h}_{t-1}$", r"error of $L_{t-1}$", r"$L_t$",
    )
    fig = _new_figure((4 * 2.4, frames * 2.4), fn)
    axes = fig.subplots(frames, 4, squeeze=False)
    for t in range(frames):
        maps = [tensors[k][t].mean(0) for k in ("hidden", "memory", "error")]
        for col, image in enumerate(maps):
            ax = axes[t, col]
            ax.imshow(image.numpy(), cmap="inferno" if col == 2 else "viridis")
        rgb = tensors["output"][t].clamp(0.0, 1.0).permute(1, 2, 0)
        axes[t, 3].imshow(rgb.numpy())
        axes[t, 0].set_ylabel(f"frame {start + t}")
        for col in range(4):
            axes[t, col].set_xticks([])
            axes[t, col].set_yticks([])
            if t == 0:
                axes[t, col].set_title(titles[col])
    return _save(fig, path)


# -- fig. 6 -------------------------------------------------------------------------------
def blend_maps(
    feature: torch.Tensor,
    dtb_blended: torch.Tensor,
    atb_blended: torch.Tensor,
    path: _PathLike | None = None,
) -> Figure:
    """Channel means of ``f_t`` and of ``f~_t`` under DTB and ATB, for one frame (fig. 6).

    Args:
        feature: ``f_t``, shape ``(C, H, W)``.
        dtb_blended: DTB's ``f~_t``, shape ``(C, H, W)``.
        atb_blended: ATB's ``f~_t``, shape ``(C, H, W)``.
        path: where to save the figure as a PNG (``None``: do not save).

    Returns:
        A figure with 4 axes: the three maps on one shared colour scale and its colour bar.
    """
    fn = "blend_maps"
    maps = {
        r"$f_t$": _tensor(fn, "feature", feature, 3, "(C, H, W)").mean(0),
        r"DTB $\tilde{f}_t$": _tensor(fn, "dtb_blended", dtb_blended, 3, "(C, H, W)").mean(0),
        r"ATB $\tilde{f}_t$": _tensor(fn, "atb_blended", atb_blended, 3, "(C, H, W)").mean(0),
    }
    low = min(float(m.min()) for m in maps.values())
    high = max(float(m.max()) for m in maps.values())
    fig = _new_figure((3 * 3.0, 3.0), fn)
    axes = fig.subplots(1, 3, squeeze=False)[0]
    shown = None
    for ax, (title, image) in zip(axes, maps.items(), strict=True):
        shown = ax.imshow(image.numpy(), cmap="viridis", vmin=low, vmax=high)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(shown, ax=list(axes), fraction=0.046)
    return _save(fig, path)


# -- figs. 7-9 ----------------------------------------------------------------------------
def comparison_grid(
    tiles: Mapping[str, torch.Tensor],
    sharp: torch.Tensor,
    path: _PathLike | None = None,
    *,
    columns: int | None = None,
) -> Figure:
    """Tiles side by side with their PSNR against the sharp tile (RIRN figs. 7-9).

    Args:
        tiles: label -> tile ``(3, H, W)`` in ``[0, 1]``, in display order (e.g.
            ``{"blur": ..., "bare": ..., "+RIRN": ..., "sharp": ...}``). Each title is
            ``"label\\nPSNR dB"`` with the PSNR of
            :func:`rirn_layers.train.metrics.psnr` (8-bit quantised) formatted to two
            decimals; a tile that *is* ``sharp`` (same object, or label ``"sharp"``) gets
            its label only.
        sharp: the sharp tile ``(3, H, W)`` in ``[0, 1]``, same size as every tile.
        path: where to save the figure as a PNG (``None``: do not save).
        columns: tiles per row (``None``: all on one row).

    Returns:
        A figure with one axes per tile (unused grid cells are removed).
    """
    from rirn_layers.train.metrics import psnr

    fn = "comparison_grid"
    _mapping(fn, "tiles", tiles)
    target = _tensor(fn, "sharp", sharp, 3, "(3, H, W)")
    if target.shape[0] != 3:
        raise ValueError(f"{fn}: `sharp` must have shape (3, H, W), got {shape_str(target.shape)}")
    if columns is not None and (
        not isinstance(columns, int) or isinstance(columns, bool) or columns < 1
    ):
        raise ValueError(f"{fn}: `columns` must be a positive int or None, got {columns!r}")
    prepared = []
    for label, tile in tiles.items():
        arg = f"tiles[{label!r}]"
        x = _tensor(fn, arg, tile, 3, "(3, H, W)")
        if x.shape != target.shape:
            raise ValueError(
                f"{fn}: `{arg}` must have the shape of `sharp` {shape_str(target.shape)}, "
                f"got {shape_str(x.shape)}"
            )
        title = str(label)
        if tile is not sharp and str(label) != "sharp":
            value = float(psnr(x.unsqueeze(0), target.unsqueeze(0))[0])
            title = f"{label}\n{value:.2f} dB"
        prepared.append((title, x))
    count = len(prepared)
    cols = count if columns is None else min(columns, count)
    rows = -(-count // cols)
    fig = _new_figure((cols * 2.6, rows * 2.9), fn)
    axes = fig.subplots(rows, cols, squeeze=False).flatten()
    for ax, (title, x) in zip(axes, prepared, strict=False):
        ax.imshow(x.clamp(0.0, 1.0).permute(1, 2, 0).numpy())
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[count:]:
        ax.remove()
    return _save(fig, path)
