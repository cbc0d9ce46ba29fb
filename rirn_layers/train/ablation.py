"""The reusable parts of ``examples/ablate.py`` and ``examples/long_memory.py``.

Three questions decide whether IRM/ATB earn their cost, and each has its tool here:

- *Is the gain real, not seed noise?* :func:`summarize` gives the mean, standard deviation
  and Student-t confidence interval of per-seed numbers, :func:`paired_summary` the same for
  the per-seed differences to the bare model (same seed = same data and initialisation, so
  the seed-to-seed spread common to both cancels), and :func:`verdict` whether that paired
  interval excludes 0. The t quantile (:func:`t_quantile`) is computed here: scipy is not a
  dependency.
- *Is it better than spending the same compute on a bigger baseline?*
  :func:`find_equal_cost` widens a model (scales all its width options by one factor) until
  its MACs per frame match a target within a tolerance (3 %), :func:`check_equal_cost`
  checks a width given by hand.
- *Same steps or same wall-clock time?* :func:`time_budget_steps` turns measured seconds per
  step into per-variant step counts of equal training time.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Any

from torch import nn

from rirn_layers._checks import check_float, check_int
from rirn_layers.profile import count_macs

__all__ = [
    "DEPTH_OPTIONS",
    "MACS_SIZE",
    "TOLERANCE",
    "WIDTH_OPTIONS",
    "EqualCost",
    "Summary",
    "check_equal_cost",
    "equal_cost_search",
    "find_equal_cost",
    "find_equal_depth",
    "from_json",
    "macs_per_frame",
    "paired_differences",
    "paired_summary",
    "scale_widths",
    "summarize",
    "t_cdf",
    "t_quantile",
    "time_budget_steps",
    "to_json",
    "verdict",
    "width_defaults",
    "write_results",
]

#: Frame size ``(height, width)`` at which MACs per frame are compared.
MACS_SIZE: tuple[int, int] = (256, 256)
#: Largest relative MACs difference that still counts as "equal cost".
TOLERANCE = 0.03
#: Builder keywords that set a model's widths (an int or a sequence of ints each).
WIDTH_OPTIONS: tuple[str, ...] = ("channels", "hidden_channels")
#: Builder keywords that set a model's depth (an int), tried when widening cannot match.
DEPTH_OPTIONS: tuple[str, ...] = ("blocks", "num_blocks")


# -- statistics -------------------------------------------------------------------------------
def t_cdf(t: float, df: int) -> float:
    """``P(T <= t)`` for Student's t with ``df`` (a positive int) degrees of freedom.

    The closed form for integer ``df`` (Abramowitz & Stegun 26.7.3-4): with
    ``theta = atan(t / sqrt(df))``, ``P(|T| < |t|)`` is a finite series in ``cos(theta)``,
    ``df // 2`` terms long, so it is exact to float rounding for every ``df``.

    Example:
        >>> round(t_cdf(0.0, 3), 12), round(t_cdf(1.0, 1), 12)   # Cauchy: 1/2 + atan(1)/pi
        (0.5, 0.75)
    """
    df = check_int("t_cdf", "df", df, 1)
    theta = math.atan(abs(t) / math.sqrt(df))
    c2, s = math.cos(theta) ** 2, math.sin(theta)
    if df % 2:  # odd: (2/pi) (theta + sin cos (1 + 2/3 cos^2 + 2*4/(3*5) cos^4 + ...))
        term, series = 1.0, 1.0 if df > 1 else 0.0
        for k in range(1, (df - 1) // 2):
            term *= 2 * k / (2 * k + 1) * c2
            series += term
        inside = 2 / math.pi * (theta + s * math.cos(theta) * series)
    else:  # even: sin (1 + 1/2 cos^2 + 1*3/(2*4) cos^4 + ...)
        term, series = 1.0, 1.0
        for k in range(1, df // 2):
            term *= (2 * k - 1) / (2 * k) * c2
            series += term
        inside = s * series
    return 0.5 + math.copysign(inside / 2, t)


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom.

    ``df`` is a positive int, or ``math.inf`` for the normal limit. The quantile is found by
    bisection on :func:`t_cdf` (60 halvings: exact to float rounding).

    Example:
        >>> [round(t_quantile(0.975, df), 3) for df in (1, 2, 4, 10, 30)]
        [12.706, 4.303, 2.776, 2.228, 2.042]
        >>> round(t_quantile(0.975, math.inf), 3), t_quantile(0.5, 7)
        (1.96, 0.0)
    """
    p = check_float("t_quantile", "p", p, 0.0, 1.0)
    if not 0 < p < 1:
        raise ValueError(f"t_quantile: `p` must be in (0, 1), got {p!r}")
    if df == math.inf:
        return NormalDist().inv_cdf(p)
    df = check_int("t_quantile", "df", df, 1)
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if t_cdf(mid, df) < p else (low, mid)
    return (low + high) / 2


@dataclasses.dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation and t confidence interval of ``n`` numbers.

    With one number the standard deviation and the interval are NaN: one seed says nothing
    about seed noise.
    """

    n: int
    mean: float
    std: float
    low: float
    high: float
    confidence: float = 0.95

    @property
    def half_width(self) -> float:
        """Half the interval's width: ``t * std / sqrt(n)``."""
        return (self.high - self.low) / 2

    def as_dict(self) -> dict[str, float]:
        """The fields as a plain dict (for JSON; NaN stays NaN)."""
        return dataclasses.asdict(self)


def summarize(values: Sequence[float], confidence: float = 0.95) -> Summary:
    """Mean, standard deviation (``n - 1``) and the two-sided Student-t interval of ``values``.

    Example:
        >>> s = summarize([1.0, 2.0, 3.0, 4.0])
        >>> s.mean, round(s.std, 4), round(s.low, 4), round(s.high, 4)
        (2.5, 1.291, 0.4457, 4.5543)
    """
    check_float("summarize", "confidence", confidence, 0.0, 1.0)
    values = [float(v) for v in values]
    n = len(values)
    if n == 0:
        raise ValueError("summarize: `values` must hold at least one number, got none")
    mean = math.fsum(values) / n
    if n == 1:
        return Summary(1, mean, math.nan, math.nan, math.nan, confidence)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half, confidence)


def paired_differences(values: Sequence[float], reference: Sequence[float]) -> list[float]:
    """``values[i] - reference[i]`` per seed; both lists in the same seed order.

    Example:
        >>> paired_differences([30.5, 31.0], [30.0, 30.2])
        [0.5, 0.8]
    """
    if len(values) != len(reference):
        raise ValueError(
            f"paired_differences: `values` and `reference` must have one number per seed "
            f"each, got {len(values)} and {len(reference)}"
        )
    return [round(float(v) - float(r), 12) for v, r in zip(values, reference, strict=True)]


def paired_summary(
    values: Sequence[float], reference: Sequence[float], confidence: float = 0.95
) -> Summary:
    """:func:`summarize` of the paired differences ``values - reference``.

    Pairing removes what a seed does to both models alike (its data order, its
    initialisation), so the interval is usually much narrower than that of either mean.

    Example:
        >>> s = paired_summary([30.5, 31.0, 30.9], [30.0, 30.2, 30.4])
        >>> round(s.mean, 4), s.low > 0
        (0.6, True)
    """
    return summarize(paired_differences(values, reference), confidence)


def verdict(summary: Summary) -> str:
    """``"significant"`` when the interval excludes 0, ``"not significant"`` when it holds 0.

    Example:
        >>> verdict(summarize([0.4, 0.5, 0.6])), verdict(summarize([-0.4, 0.5, 0.6]))
        ('significant', 'not significant')
        >>> verdict(summarize([0.5]))
        'n/a (one seed)'
    """
    if summary.n < 2 or math.isnan(summary.low):
        return "n/a (one seed)"
    return "significant" if summary.low > 0 or summary.high < 0 else "not significant"


# -- equal cost -------------------------------------------------------------------------------
def macs_per_frame(model: nn.Module, size: tuple[int, int] = MACS_SIZE) -> int:
    """MACs of one steady-state output frame at ``size`` (:func:`~rirn_layers.profile.count_macs`,
    paper convention; the model may live on the meta device)."""
    return count_macs(model, size[0], size[1]).macs


def width_defaults(options: Mapping[str, Any]) -> dict[str, int | tuple[int, ...]]:
    """The width options (:data:`WIDTH_OPTIONS`) among a builder's ``options`` and defaults.

    Example:
        >>> width_defaults({"channels": (20, 40, 60), "hidden_channels": 20, "irm": False})
        {'channels': (20, 40, 60), 'hidden_channels': 20}
    """
    found: dict[str, int | tuple[int, ...]] = {}
    for name in WIDTH_OPTIONS:
        value = options.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            found[name] = value
        elif isinstance(value, (tuple, list)) and value and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            found[name] = tuple(value)
    return found


def scale_widths(
    widths: Mapping[str, int | Sequence[int]], scale: float
) -> dict[str, int | list[int]]:
    """Every width times ``scale``, rounded (at least 1); sequences become lists (JSON).

    Example:
        >>> scale_widths({"channels": (20, 40, 60), "hidden_channels": 20}, 1.25)
        {'channels': [25, 50, 75], 'hidden_channels': 25}
    """
    def one(w: int) -> int:
        return max(1, round(w * scale))

    return {
        name: one(w) if isinstance(w, int) else [one(v) for v in w] for name, w in widths.items()
    }


@dataclasses.dataclass(frozen=True)
class EqualCost:
    """The widened model that :func:`find_equal_cost` settled on.

    Attributes:
        kwargs: the width keywords to build it with.
        macs: its MACs per frame.
        target: the MACs per frame it was to match.
        scale: the common width factor (relative to the defaults).
        tolerance: the allowed relative difference.
    """

    kwargs: dict[str, Any]
    macs: int
    target: int
    scale: float
    tolerance: float = TOLERANCE

    @property
    def ratio(self) -> float:
        """``macs / target``."""
        return self.macs / self.target

    @property
    def within(self) -> bool:
        """Whether ``ratio`` is within ``1 +- tolerance``."""
        return abs(self.ratio - 1) <= self.tolerance


def find_equal_cost(
    build: Callable[[dict[str, Any]], nn.Module],
    widths: Mapping[str, int | Sequence[int]],
    target: int,
    *,
    tolerance: float = TOLERANCE,
    size: tuple[int, int] = MACS_SIZE,
    max_scale: float = 4.0,
) -> EqualCost:
    """Widen a model by one common factor until its MACs per frame come closest to ``target``.

    MACs grow with the widths (about as their square for convolutions), so the factor is
    bracketed by bisection on the continuous scale; widths are integers, though, so every
    setting of the first width near the bisection's answer (+-3 of its integer value) is
    then counted (+-6 % of it where that is more) and the one with the ratio closest to 1
    (in log) is kept. A setting that the builder refuses (``ValueError``/``TypeError``) is
    skipped; during the bisection the nearest accepted one (+-5) stands in for it.

    Args:
        build: builds the model from width keywords (e.g. on the meta device).
        widths: the default widths (:func:`width_defaults`), scaled together.
        target: MACs per frame to match (e.g. those of the model with IRM and ATB).
        tolerance: the relative difference that still counts as equal.
        size: frame size the MACs are counted at.
        max_scale: the largest factor tried.

    Returns:
        An :class:`EqualCost`; check :attr:`EqualCost.within`: no setting may get there.

    Example:
        >>> from rirn_layers.baselines import build_model
        >>> def gru(kw): return build_model("gru", device="meta", **kw)
        >>> target = macs_per_frame(build_model("gru", irm=True, atb=True, device="meta"))
        >>> found = find_equal_cost(gru, {"channels": (20, 40, 60), "hidden_channels": 20},
        ...                         target)
        >>> found.within, found.kwargs["channels"][0] > 20
        (True, True)
    """
    check_int("find_equal_cost", "target", target, 1)
    check_float("find_equal_cost", "tolerance", tolerance, 0.0)
    if not widths:
        raise ValueError("find_equal_cost: `widths` must name at least one width option, got {}")
    cache: dict[str, int | None] = {}
    first_name = next(iter(widths))
    first = widths[first_name]
    base = first if isinstance(first, int) else first[0]

    def count(scale: float) -> int | None:
        kwargs = scale_widths(widths, scale)
        key = repr(kwargs)
        if key not in cache:
            try:
                cache[key] = macs_per_frame(build(kwargs), size)
            except (ValueError, TypeError):
                cache[key] = None
        return cache[key]

    def nearby(scale: float) -> int | None:  # the nearest setting the builder accepts
        width = round(base * scale)
        for offset in (0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5):
            m = count((width + offset) / base) if width + offset >= 1 else None
            if m is not None:
                return m
        return None

    low, high = 1.0, max_scale
    for _ in range(12):
        mid = (low + high) / 2
        m = nearby(mid)
        if m is not None and m >= target:
            high = mid
        else:
            low = mid
    centre = round(base * (low + high) / 2)
    reach = max(3, math.ceil(0.06 * centre))
    best: EqualCost | None = None
    for width in range(max(1, centre - reach), centre + reach + 1):
        scale = width / base
        m = count(scale)
        if m is None:
            continue
        found = EqualCost(scale_widths(widths, scale), m, target, scale, tolerance)
        if best is None or abs(math.log(found.ratio)) < abs(math.log(best.ratio)):
            best = found
    if best is None:
        raise ValueError(
            f"find_equal_cost: the builder refused every width near {centre} of "
            f"`{first_name}`"
        )
    return best


def find_equal_depth(
    build: Callable[[dict[str, Any]], nn.Module],
    name: str,
    default: int,
    target: int,
    *,
    tolerance: float = TOLERANCE,
    size: tuple[int, int] = MACS_SIZE,
    max_factor: int = 3,
) -> EqualCost:
    """Deepen a model instead: the count ``name`` (e.g. ``blocks``) whose MACs are closest.

    For models whose widths come in coarse steps (ESTRNN's and RDBN's ``channels`` are
    multiples of 5, too coarse for a 20 % difference), MACs grow about linearly with the
    number of blocks, so every count from ``default`` to ``max_factor * default`` is tried
    until the MACs pass ``target``. :attr:`EqualCost.scale` is the depth factor.

    Example:
        >>> from rirn_layers.baselines import build_model
        >>> def rdbn(kw): return build_model("rdbn", device="meta", **kw)
        >>> target = macs_per_frame(build_model("rdbn", irm=True, atb=True, device="meta"))
        >>> found = find_equal_depth(rdbn, "blocks", 15, target)
        >>> found.within, found.kwargs["blocks"] > 15
        (True, True)
    """
    check_int("find_equal_depth", "default", default, 1)
    check_int("find_equal_depth", "target", target, 1)
    best: EqualCost | None = None
    for depth in range(default, max_factor * default + 1):
        try:
            m = macs_per_frame(build({name: depth}), size)
        except (ValueError, TypeError):
            continue
        found = EqualCost({name: depth}, m, target, depth / default, tolerance)
        if best is None or abs(math.log(found.ratio)) < abs(math.log(best.ratio)):
            best = found
        if m >= target:
            break
    if best is None:
        raise ValueError(f"find_equal_depth: the builder refused every `{name}` tried")
    return best


def equal_cost_search(
    build: Callable[[dict[str, Any]], nn.Module],
    options: Mapping[str, Any],
    target: int,
    *,
    tolerance: float = TOLERANCE,
    size: tuple[int, int] = MACS_SIZE,
) -> EqualCost | None:
    """Widen (:func:`find_equal_cost`), else deepen (:func:`find_equal_depth`), to ``target``.

    ``options`` are the builder's keywords and defaults (e.g.
    :func:`~rirn_layers.train.builders.zoo_options`); its width options are tried first, its
    depth options (:data:`DEPTH_OPTIONS`) when no width gets within ``tolerance``. Returns
    the closest setting found (check :attr:`EqualCost.within`), or ``None`` when the builder
    has neither kind of option.

    Example:
        >>> from rirn_layers.baselines import build_model
        >>> from rirn_layers.train.builders import zoo_options
        >>> def lstm(kw): return build_model("lstm", device="meta", **kw)
        >>> target = macs_per_frame(build_model("lstm", irm=True, atb=True, device="meta"))
        >>> found = equal_cost_search(lstm, zoo_options("lstm"), target)
        >>> found.kwargs["hidden_channels"], round(found.ratio, 3)
        (26, 1.009)
    """
    best: EqualCost | None = None
    widths = width_defaults(options)
    if widths:
        best = find_equal_cost(build, widths, target, tolerance=tolerance, size=size)
    if best is not None and best.within:
        return best
    for name in DEPTH_OPTIONS:
        default = options.get(name)
        if not isinstance(default, int) or isinstance(default, bool) or default < 1:
            continue
        deeper = find_equal_depth(build, name, default, target, tolerance=tolerance, size=size)
        if best is None or abs(math.log(deeper.ratio)) < abs(math.log(best.ratio)):
            best = deeper
        if best.within:
            break
    return best


def check_equal_cost(
    macs: int, target: int, tolerance: float = TOLERANCE, owner: str = "ablate"
) -> float:
    """``macs / target``, or ``ValueError`` with the measured ratio when it is off by more.

    Example:
        >>> check_equal_cost(1020, 1000)
        1.02
        >>> check_equal_cost(1100, 1000)
        Traceback (most recent call last):
        ...
        ValueError: ablate: the wide model costs 1.100x the MACs per frame of the target, outside 1 +- 0.03; adjust its widths
    """  # noqa: E501
    ratio = macs / target
    if abs(ratio - 1) > tolerance:
        raise ValueError(
            f"{owner}: the wide model costs {ratio:.3f}x the MACs per frame of the target, "
            f"outside 1 +- {tolerance:g}; adjust its widths"
        )
    return ratio


# -- time budget ------------------------------------------------------------------------------
def time_budget_steps(
    steps: int, seconds_per_step: Mapping[str, float], reference: str
) -> dict[str, int]:
    """Steps per variant for equal wall-clock training time.

    The budget is ``steps * seconds_per_step[reference]`` seconds (the reference, the bare
    model, trains ``steps`` steps); each variant gets ``round(budget / its s/step)`` steps,
    at least 1.

    Example:
        >>> time_budget_steps(100, {"bare": 0.5, "wide": 0.8, "irm": 0.62}, "bare")
        {'bare': 100, 'wide': 62, 'irm': 81}
    """
    check_int("time_budget_steps", "steps", steps, 1)
    if reference not in seconds_per_step:
        raise ValueError(
            f"time_budget_steps: `reference` must be one of {sorted(seconds_per_step)}, "
            f"got {reference!r}"
        )
    for name, value in seconds_per_step.items():
        check_float("time_budget_steps", f"seconds_per_step[{name!r}]", value, 0.0)
        if value <= 0:
            raise ValueError(
                f"time_budget_steps: `seconds_per_step[{name!r}]` must be > 0, got {value!r}"
            )
    budget = steps * seconds_per_step[reference]
    return {name: max(1, round(budget / s)) for name, s in seconds_per_step.items()}


# -- results files ----------------------------------------------------------------------------
_STAT_FIELDS = ("mean", "std", "low", "high")


def to_json(value: Any) -> Any:
    """``value`` with NaN as ``None`` (strict JSON: one seed has no interval).

    Example:
        >>> to_json({"mean": 1.0, "low": math.nan, "runs": [math.nan]})
        {'mean': 1.0, 'low': None, 'runs': [None]}
    """
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def from_json(value: Any) -> Any:
    """The inverse of :func:`to_json` for the statistics: ``None`` back to NaN in their fields.

    Example:
        >>> from_json({"mean": 1.0, "low": None, "note": None})
        {'mean': 1.0, 'low': nan, 'note': None}
    """
    if isinstance(value, dict):
        return {k: (math.nan if v is None and k in _STAT_FIELDS else from_json(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def write_results(
    out: Path, stem: str, text: str, results: Any, plot: Callable[[Any, Path], bool]
) -> list[Path]:
    """Write ``OUT/<stem>.md`` (``text``), ``.json`` (``results``) and ``.png`` (``plot``).

    ``plot(results, path)`` draws the figure and returns ``False`` when it cannot (no
    matplotlib); then a stale plot of an earlier, overwritten run is removed rather than
    left next to new numbers. Returns the paths written.
    """
    out.mkdir(parents=True, exist_ok=True)
    written = [out / f"{stem}.md", out / f"{stem}.json"]
    written[0].write_text(text)
    written[1].write_text(json.dumps(to_json(results), indent=2) + "\n")
    figure = out / f"{stem}.png"
    if plot(results, figure):
        written.append(figure)
    elif figure.exists():
        figure.unlink()
    return written
