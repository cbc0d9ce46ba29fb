"""PSNR and SSIM as video-deblurring papers report them, and a per-sequence accumulator.

The convention (GOPRO, DVD, REDS tables of STFAN, ESTRNN, RIRN and most others):

- **per frame, then the mean**: every output frame gets its own PSNR and SSIM, and a table
  reports means of those values. A PSNR computed from the MSE pooled over many frames is a
  different (lower) number.
- **RGB, full frame**: no border crop, no conversion to luma; PSNR over all three channels,
  SSIM per channel and then averaged over the channels.
- **8-bit values**: the restored frames are written as 8-bit images before scoring, so by
  default both frames are rounded to multiples of 1/255 first (``quantize=True``).
- **data range 1** for frames in ``[0, 1]``: ``PSNR = 10 log10(1 / MSE)``; SSIM's constants
  are ``C1 = (0.01)^2`` and ``C2 = (0.03)^2``.
- **SSIM of Wang et al. (2004)** as in its MATLAB reference ``ssim_index``: an 11x11 Gaussian
  window with sigma 1.5, the ``valid`` part of the map only (5 pixels on every side are not
  scored), population (not sample) covariances.

SSIM is computed by :func:`kornia.metrics.ssim` with ``padding="valid"`` and ``eps=0``. It
agrees with ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1, channel_axis=-1)`` to about ``1e-7`` in float64 and
``1e-5`` in float32 (the default for float32/half frames; the error comes from the
``E[x^2] - E[x]^2`` variances in float32). torchmetrics' SSIM is not used: it no longer
follows the reference (torchmetrics 1.9.0 differed by up to 2e-3 on our test images, in the
decimals papers print). PSNR is one line on a per-frame MSE accumulated in float64 (kornia's
and torchmetrics' PSNR pool the MSE over the batch unless told otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from rirn_layers._checks import check_float, check_int, shape_str
from rirn_layers._optional import require

__all__ = ["METRICS", "MetricTracker", "psnr", "quantize_8bit", "ssim"]

_WINDOW = 11  # SSIM window: 11 x 11 Gaussian, sigma 1.5 (kornia's fixed sigma)
_CHUNK_ELEMENTS = 1 << 25  # frames per SSIM call so that one moment map stays ~128 MB
_OUT_OF_RANGE = 0.5  # an output this far outside [0, 1] is on another scale, not an overshoot


def quantize_8bit(frames: torch.Tensor) -> torch.Tensor:
    """Round frames in ``[0, 1]`` to 8-bit levels, as saving them to PNG does.

    Values are clipped to ``[0, 1]`` and rounded half up to the nearest multiple of 1/255
    (MATLAB's ``im2uint8`` and ``np.round(np.clip(x, 0, 1) * 255)`` agree except exactly at
    a half, where NumPy rounds to even).

    Args:
        frames: a floating tensor of any shape, values nominally in ``[0, 1]``.

    Returns:
        A tensor of the same shape and dtype with values in ``{0, 1/255, ..., 1}`` (the
        rounding is done in float64, so a float32 frame gets the level of the value it
        holds).

    Example:
        >>> quantize_8bit(torch.tensor([-0.1, 0.25, 0.5, 1.3]))
        tensor([0.0000, 0.2510, 0.5020, 1.0000])
    """
    return _levels(frames).to(frames.dtype)


def _levels(frames: torch.Tensor) -> torch.Tensor:
    """Frames rounded to 8-bit levels, as float64 (float32 on MPS) multiples of 1/255."""
    wide = torch.float32 if frames.device.type == "mps" else torch.float64
    if frames.dtype == torch.uint8:
        return frames.to(wide) / 255.0
    return torch.floor(frames.to(wide).clamp(0.0, 1.0) * 255.0 + 0.5) / 255.0


def _work_dtype(x: torch.Tensor, y: torch.Tensor, wide: bool) -> torch.dtype:
    if x.device.type == "mps":  # no float64 there
        return torch.float32
    return torch.float64 if wide or torch.float64 in (x.dtype, y.dtype) else torch.float32


def _prepare(
    fn: str, output: Any, target: Any, quantize: bool, *, min_size: int = 1, wide: bool = False
) -> tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]:
    """Validate a pair of frame batches; return them as ``(N, C, H, W)`` and the lead shape.

    The frames are converted to float64 when ``wide`` or either is float64, else float32.
    """
    for name, x in (("output", output), ("target", target)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{fn}: `{name}` must be a torch.Tensor, got {type(x).__name__}")
        if not (x.is_floating_point() or x.dtype == torch.uint8):
            raise TypeError(
                f"{fn}: `{name}` must be a floating tensor in [0, 1] or uint8 in [0, 255], "
                f"got dtype {x.dtype}"
            )
        if x.dim() not in (4, 5) or x.shape[-3] not in (1, 3):
            raise ValueError(
                f"{fn}: expected `{name}` of shape (N, 3, H, W) or (B, T, 3, H, W) (RGB; 1 "
                f"channel for grey), got {shape_str(x.shape)}"
            )
    if output.shape != target.shape:
        raise ValueError(
            f"{fn}: `output` and `target` must have the same shape, got "
            f"{shape_str(output.shape)} and {shape_str(target.shape)}"
        )
    if output.device != target.device:
        raise ValueError(
            f"{fn}: `output` and `target` must be on one device, got {output.device} and "
            f"{target.device}"
        )
    h, w = output.shape[-2:]
    if h < min_size or w < min_size:
        raise ValueError(
            f"{fn}: frames must be at least {min_size}x{min_size} pixels (the SSIM window), "
            f"got {h}x{w}"
        )
    lead = tuple(output.shape[:-3])
    if output.numel():
        _check_range(fn, output, target)
    dtype = _work_dtype(output, target, wide)
    if quantize:
        x, y = _levels(output.detach()).to(dtype), _levels(target.detach()).to(dtype)
    else:
        x = output.to(dtype) / 255.0 if output.dtype == torch.uint8 else output.to(dtype)
        y = target.to(dtype) / 255.0 if target.dtype == torch.uint8 else target.to(dtype)
        x = x.clamp(0.0, 1.0)
    return x.reshape(-1, *x.shape[-3:]), y.reshape(-1, *y.shape[-3:]), lead


def _check_range(fn: str, output: torch.Tensor, target: torch.Tensor) -> None:
    """Targets must lie in [0, 1]; outputs may overshoot a little (they are clipped)."""
    if target.dtype != torch.uint8:
        lo, hi = torch.aminmax(target.detach())
        if not (bool(torch.isfinite(lo)) and bool(torch.isfinite(hi))) or lo < 0 or hi > 1:
            raise ValueError(
                f"{fn}: `target` must hold values in [0, 1] (or uint8), got values in "
                f"[{float(lo):.4g}, {float(hi):.4g}]"
            )
    if output.dtype != torch.uint8:
        lo, hi = torch.aminmax(output.detach())
        if not (bool(torch.isfinite(lo)) and bool(torch.isfinite(hi))):
            raise ValueError(f"{fn}: `output` holds NaN or infinite values")
        if lo < -_OUT_OF_RANGE or hi > 1 + _OUT_OF_RANGE:
            raise ValueError(
                f"{fn}: `output` must be in [0, 1] (small overshoots are clipped), got values "
                f"in [{float(lo):.4g}, {float(hi):.4g}]; scale [0, 255] or [-0.5, 0.5] "
                "frames to [0, 1] first"
            )


def psnr(
    output: torch.Tensor,
    target: torch.Tensor,
    *,
    quantize: bool = True,
    max_db: float | None = None,
) -> torch.Tensor:
    """Peak signal-to-noise ratio of every frame, in dB, with data range 1.

    ``PSNR = 10 log10(1 / MSE)`` with the MSE of one frame over all its pixels and channels
    (RGB, no crop). The output is clipped to ``[0, 1]`` first, as saving it does.

    Args:
        output: restored frames ``(N, 3, H, W)`` or ``(B, T, 3, H, W)``, floating in
            ``[0, 1]`` (overshoots up to 0.5 are clipped) or uint8. 1 channel for grey.
        target: sharp frames of the same shape, in ``[0, 1]`` (or uint8).
        quantize: round both to 8-bit levels first (default ``True``: the papers score
            saved 8-bit frames). Not differentiable when ``True``.
        max_db: cap for identical frames (MSE 0). ``None`` (default) returns ``inf``, as
            scikit-image does; a finite cap (e.g. 100) keeps means finite.

    Returns:
        Per-frame PSNR, shape ``(N,)`` or ``(B, T)``, float64 (float32 on MPS), on the
        frames' device. Average it yourself: the mean of per-frame values is the papers'
        number.

    Example:
        >>> target = torch.full((2, 3, 16, 16), 0.5)
        >>> output = target + torch.tensor([0.1, 0.01]).view(2, 1, 1, 1)
        >>> psnr(output, target, quantize=False)
        tensor([20.0000, 40.0000], dtype=torch.float64)
    """
    if max_db is not None and check_float("psnr", "max_db", max_db, 0.0) == 0.0:
        raise ValueError(f"psnr: `max_db` must be a number > 0 or None, got {max_db!r}")
    x, y, lead = _prepare("psnr", output, target, quantize, wide=True)
    mse = (x - y).square().flatten(1).mean(1)
    with torch.no_grad():
        exact = mse == 0
    value = -10.0 * torch.log10(mse)
    if max_db is not None:
        value = torch.where(exact, value.new_tensor(float(max_db)), value.clamp(max=max_db))
    return value.reshape(lead)


def _kornia_ssim() -> Any:
    metrics = require("kornia.metrics", extra="train", purpose="rirn_layers.train.metrics.ssim")
    return metrics.ssim


def ssim(output: torch.Tensor, target: torch.Tensor, *, quantize: bool = True) -> torch.Tensor:
    """Structural similarity of every frame, as MATLAB's ``ssim_index`` (Wang et al. 2004).

    11x11 Gaussian window (sigma 1.5), data range 1, ``valid`` map (the 5-pixel border is not
    scored), computed per channel and averaged over channels and pixels. Float32 and half
    frames are scored in float32 (about 1e-5 from a float64 reference), float64 frames in
    float64 (about 1e-7).

    Args:
        output: restored frames ``(N, 3, H, W)`` or ``(B, T, 3, H, W)``, floating in
            ``[0, 1]`` (overshoots up to 0.5 are clipped) or uint8; ``H, W >= 11``.
        target: sharp frames of the same shape, in ``[0, 1]`` (or uint8).
        quantize: round both to 8-bit levels first (default ``True``, as the papers).

    Returns:
        Per-frame SSIM in ``[-1, 1]`` (1 for identical frames), shape ``(N,)`` or
        ``(B, T)``, float64 (float32 for float32/half frames), on the frames' device.

    Example:
        >>> target = torch.rand(2, 3, 32, 32)
        >>> ssim(target, target).tolist()
        [1.0, 1.0]
    """
    x, y, lead = _prepare("ssim", output, target, quantize, min_size=_WINDOW)
    kornia_ssim = _kornia_ssim()
    per_frame = max(1, _CHUNK_ELEMENTS // max(1, x[0].numel()))
    values = []
    with torch.autocast(device_type=x.device.type, enabled=False):
        for a, b in zip(x.split(per_frame), y.split(per_frame), strict=True):
            ssim_map = kornia_ssim(a, b, _WINDOW, max_val=1.0, eps=0.0, padding="valid")
            values.append(ssim_map.flatten(1).mean(1))
    if not values:
        return x.new_zeros(lead)
    return torch.cat(values).reshape(lead)


METRICS = {"psnr": psnr, "ssim": ssim}
"""The metrics :class:`MetricTracker` knows by name."""


class MetricTracker:
    """Collects per-frame metric values by sequence and reports the tables papers print.

    Every frame is stored under ``(sequence, frame index)``; adding a frame index that is
    already there replaces its values, so frames that a distributed sampler repeats count once.

    Args:
        metrics: names from :data:`METRICS` to compute in :meth:`update`
            (default ``("psnr", "ssim")``).
        quantize: passed to the metrics (default ``True``: 8-bit frames, as the papers).
        max_db: passed to :func:`psnr` (default ``None``: identical frames give ``inf``).

    Example:
        >>> tracker = MetricTracker()
        >>> target = torch.rand(4, 3, 16, 16)
        >>> tracker.update("seq0", (target + 0.01).clamp(0, 1), target)
        >>> tracker.update("seq1", target.flip(-1), target)
        >>> tracker.num_frames, sorted(tracker.sequence_means())
        (8, ['seq0', 'seq1'])
        >>> means = tracker.means()
        >>> round(means["psnr"], 6) == round(sum(tracker.values("psnr")) / 8, 6)
        True
    """

    def __init__(
        self,
        metrics: Sequence[str] = ("psnr", "ssim"),
        *,
        quantize: bool = True,
        max_db: float | None = None,
    ) -> None:
        if isinstance(metrics, str) or not metrics:
            raise ValueError(f"MetricTracker: `metrics` must be a non-empty list, got {metrics!r}")
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise ValueError(
                f"MetricTracker: unknown metrics {unknown}; available: {', '.join(METRICS)}"
            )
        self.metrics = tuple(metrics)
        self.quantize = quantize
        self.max_db = max_db
        self._frames: dict[str, dict[int, dict[str, float]]] = {}

    # -- adding values ---------------------------------------------------------------------
    def update(
        self,
        sequence: str | Sequence[str],
        output: torch.Tensor,
        target: torch.Tensor,
        *,
        start: int | Sequence[int] | None = None,
    ) -> None:
        """Score frames and store the values.

        Args:
            sequence: the sequence name, or a list of ``B`` names (one per clip) for
                ``(B, T, 3, H, W)`` clips.
            output: restored frames ``(T, 3, H, W)`` of one sequence, or ``(B, T, 3, H, W)``
                clips of ``B`` sequences.
            target: sharp frames, same shape.
            start: index of the first frame in its sequence (one per clip, or one for all);
                ``None`` continues after the highest index stored for that sequence.
        """
        values: dict[str, list[list[float]]] = {}
        for name in self.metrics:
            if name == "psnr":
                v = psnr(output, target, quantize=self.quantize, max_db=self.max_db)
            else:
                v = METRICS[name](output, target, quantize=self.quantize)
            values[name] = (v if v.dim() == 2 else v.unsqueeze(0)).tolist()
        clips = len(values[self.metrics[0]])
        if isinstance(sequence, str) and clips == 1:
            names = [sequence]
        elif isinstance(sequence, str) or not all(isinstance(n, str) for n in sequence):
            raise ValueError(
                f"MetricTracker.update: `sequence` must be {clips} names for {clips} clips, "
                f"got {sequence!r}"
            )
        else:
            names = list(sequence)
        if len(names) != clips:
            raise ValueError(
                f"MetricTracker.update: `sequence` must be {clips} names for {clips} clips, "
                f"got {len(names)}"
            )
        starts = self._starts(start, names)
        for i, name in enumerate(names):
            columns = [values[m][i] for m in self.metrics]
            frames = [
                dict(zip(self.metrics, row, strict=True)) for row in zip(*columns, strict=True)
            ]
            self.add(name, frames, start=starts[i])

    def _starts(self, start: int | Sequence[int] | None, names: list[str]) -> list[int | None]:
        if start is None:
            return [None] * len(names)
        if isinstance(start, int):
            return [start] * len(names)
        starts = list(start)
        if len(starts) != len(names):
            raise ValueError(
                f"MetricTracker.update: `start` must be an int or {len(names)} ints, got {start!r}"
            )
        return starts

    def add(
        self,
        sequence: str,
        frames: Iterable[Mapping[str, float]],
        *,
        start: int | None = None,
    ) -> None:
        """Store precomputed per-frame values, e.g. gathered from other processes.

        Args:
            sequence: the sequence name.
            frames: one mapping per frame with a value for every tracked metric.
            start: index of the first frame; ``None`` continues after the last stored one.
        """
        if not isinstance(sequence, str):
            raise TypeError(
                f"MetricTracker: `sequence` must be a str, got {type(sequence).__name__}"
            )
        store = self._frames.setdefault(sequence, {})
        if start is None:
            start = max(store, default=-1) + 1
        check_int("MetricTracker", "start", start, 0)
        for offset, frame in enumerate(frames):
            missing = [m for m in self.metrics if m not in frame]
            if missing:
                raise ValueError(
                    f"MetricTracker: frame {start + offset} of {sequence!r} lacks {missing}"
                )
            store[start + offset] = {m: float(frame[m]) for m in self.metrics}
        if not store:
            del self._frames[sequence]

    def merge(self, other: MetricTracker) -> None:
        """Add every frame of ``other`` (same metrics) to this tracker."""
        if other.metrics != self.metrics:
            raise ValueError(
                f"MetricTracker.merge: metrics differ: {self.metrics} vs {other.metrics}"
            )
        for sequence, frames in other._frames.items():
            self._frames.setdefault(sequence, {}).update({i: dict(v) for i, v in frames.items()})

    def reset(self) -> None:
        """Forget every stored value."""
        self._frames.clear()

    # -- reading values --------------------------------------------------------------------
    @property
    def sequences(self) -> list[str]:
        """Sequence names in the order they were first added."""
        return list(self._frames)

    @property
    def num_frames(self) -> int:
        """Frames stored over all sequences."""
        return sum(len(f) for f in self._frames.values())

    def values(self, metric: str, sequence: str | None = None) -> list[float]:
        """Per-frame values of ``metric`` in frame order (one sequence or all, in order)."""
        self._check_metric(metric)
        names = self.sequences if sequence is None else [sequence]
        if sequence is not None and sequence not in self._frames:
            raise KeyError(f"MetricTracker: no frames of sequence {sequence!r}")
        return [self._frames[n][i][metric] for n in names for i in sorted(self._frames[n])]

    def sequence_means(self) -> dict[str, dict[str, float]]:
        """``{sequence: {metric: mean over its frames}}``."""
        return {
            name: {m: _mean(self.values(m, name)) for m in self.metrics} for name in self._frames
        }

    def means(self, *, by: str = "frame") -> dict[str, float]:
        """Mean of every metric over the whole set.

        Args:
            by: ``"frame"`` (default): the mean over all frames, each frame weighted equally,
                the average the papers' tables report; ``"sequence"``: the mean of the
                per-sequence means, each sequence weighted equally.
        """
        if by == "frame":
            return {m: _mean(self.values(m)) for m in self.metrics}
        if by == "sequence":
            per = self.sequence_means()
            return {m: _mean([v[m] for v in per.values()]) for m in self.metrics}
        raise ValueError(f"MetricTracker.means: `by` must be 'frame' or 'sequence', got {by!r}")

    def table(self, *, digits: int = 4) -> str:
        """A Markdown table: one row per sequence (its frames and means), then the mean row."""
        header = ["sequence", "frames", *self.metrics]
        rows = [
            [name, str(len(self._frames[name])), *(_fmt(v[m], digits) for m in self.metrics)]
            for name, v in self.sequence_means().items()
        ]
        total = self.means()
        cells = [_fmt(total[m], digits) for m in self.metrics]
        rows.append(["mean (all frames)", str(self.num_frames), *cells])
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)

    def state_dict(self) -> dict[str, Any]:
        """Plain-container state (for a checkpoint or to gather across processes)."""
        return {
            "metrics": list(self.metrics),
            "frames": {
                name: {str(i): dict(v) for i, v in frames.items()}
                for name, frames in self._frames.items()
            },
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Replace the stored values with those of :meth:`state_dict`."""
        if tuple(state.get("metrics", ())) != self.metrics:
            raise ValueError(
                f"MetricTracker.load_state_dict: state holds metrics {state.get('metrics')}, "
                f"this tracker {list(self.metrics)}"
            )
        self._frames = {
            name: {int(i): {m: float(v[m]) for m in self.metrics} for i, v in frames.items()}
            for name, frames in state["frames"].items()
        }

    def _check_metric(self, metric: str) -> None:
        if metric not in self.metrics:
            raise ValueError(
                f"MetricTracker: {metric!r} is not tracked; tracked: {', '.join(self.metrics)}"
            )


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan


def _fmt(value: float, digits: int) -> str:
    return f"{value:.{digits}f}"
