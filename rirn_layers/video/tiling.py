"""Spatial tiling with overlap: stream frames too large for the device, one tile at a time.

:class:`TiledStream` cuts every frame into overlapping tiles at fixed positions and streams
each tile through the model with a recurrent state of its own: tile ``k`` of frame ``t``
continues from tile ``k`` of frame ``t - 1``, and the states of different tiles never mix.
The tile outputs are blended back into one frame with smooth weights in the overlaps.

Geometry:
    The frame is first padded (replicate) to a multiple of the model's ``scale``, as the
    model itself would pad it. ``tile`` (the size the model sees, ``th x tw``) and
    ``overlap`` are rounded up to multiples of ``scale``, and along each axis the tiles are
    spread evenly over the padded frame with origins at multiples of ``scale`` and
    neighbours sharing at least ``overlap`` pixels. Aligned origins put every tile on the
    untiled model's sampling grid (a stride-4 encoder reads the same pixels in both), so
    the tiles differ from the untiled model only near their borders. A frame that fits in
    one tile is passed to the model as it is: the result is the untiled one, bit for bit.

Blending:
    Each tile's weight is separable, ``w_i(y) * v_j(x)``. Along an axis a tile's weight is
    1, except over the pixels it shares with a neighbour, where it ramps from near 0 at its
    own border to near 1 at the neighbour's (a raised cosine ``sin^2(pi t / 2)`` by
    default, ``ramp="linear"`` for ``t``; ``t`` runs over pixel centres, so no weight is
    exactly 0). A border of the frame is never ramped. The 1-D weights are divided by
    their sum over the tiles, so the 2-D weights sum to one at every pixel; away from the
    overlaps a pixel comes from a single tile with weight exactly 1.

Cost:
    Compute grows with the area the tiles cover, :attr:`TileGrid.coverage` times the
    frame's (about ``(tile / (tile - overlap))^2``; ``tiler.grid(H, W)`` tells it before
    running), and so do the states: all tiles' states together are that many times an
    untiled state. Activation memory is that of one tile, as tiles run one after the other;
    besides, one output accumulator of the padded frame is held (``future`` of them while
    flushing). While a step runs, the caller's old states and the new ones coexist, as with
    the untiled model, so on large frames the states rather than the activations set the
    peak: ``benchmarks/tiling.py`` measures GRU+IRM+ATB at 540x960 on CPU at 123 MiB
    untiled (18 MiB of state) and 78 MiB with 256-pixel tiles (35 MiB of state), at 1.9x
    the time.

Approximation:
    A tile sees nothing beyond its border, spatially and temporally: its convolutions pad
    there, and its recurrent state, which carries information a little further at every
    frame, never receives what happens outside the tile. Outputs are therefore exact only
    farther than the model's *effective spatial reach* from every tile border, and the
    overlap must exceed that reach for the blended seams to be invisible. The reach of a
    recurrent model is neither its one-frame receptive field nor that field times the
    number of frames: it is how far the influence of a pixel actually spreads, through the
    layers and the state, before it has decayed. Models with global operations (ESTRNN's
    GSA pools over the whole tile; IFI-RNN decides its iterations from a tile-wide mean)
    see tile statistics instead of frame statistics, and their error does not vanish with
    any overlap. Extra inputs (e.g. an optical flow) are cropped like the frame; a warp
    that reaches outside the tile gets the model's border handling instead.

Choosing the overlap:
    Measure it. On a short clip of the footage at a size the device can run untiled
    (two or three tiles across), compare ``TiledStream(model, tile, overlap)`` with the
    untiled model for a few overlaps (e.g. 16, 32, 64) and take the smallest one whose
    largest difference is below the tolerance you accept (see the example); the error
    should fall as the overlap grows, and it should not grow along the clip. The nominal
    receptive field overstates the reach: the tiny GRU+IRM+ATB of
    ``tests/video/test_tiling.py`` sees +-40 pixels of a frame, yet at overlap 16 it stays
    within 2e-3 of untiled with no excess error along the seams (that test's bounds).
    Keep the tile at least four times the overlap so that the extra compute stays
    below about 1.8x.
    ``overlap=0`` butts the tiles (no blending), which is exact only for per-pixel models.

Example:
    >>> from rirn_layers.baselines import build_model
    >>> _ = torch.manual_seed(0)
    >>> model = build_model("gru", channels=(4, 6, 8), hidden_channels=4).eval()
    >>> tiler = TiledStream(model, tile=32, overlap=16)
    >>> clip = torch.rand(1, 2, 3, 40, 56)
    >>> with torch.inference_mode():
    ...     tiled, state = tiler(clip)
    ...     whole, _ = model(clip)
    >>> tiled.shape, state.grid.num_tiles
    (torch.Size([1, 2, 3, 40, 56]), 6)
    >>> bool((tiled - whole).abs().max() < 0.01)  # seams: within 1e-3 here
    True
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Literal, NamedTuple

import torch

from rirn_layers._checks import check_clip, check_image, shape_str
from rirn_layers.model import Ends, StreamingDeblurModel, StreamState, _check_ends
from rirn_layers.padding import crop_to, pad_to_multiple

__all__ = ["TileGrid", "TiledState", "TiledStream"]

Ramp = Literal["cosine", "linear"]
#: ``(padded size, tile size, row origins, column origins)`` of a frame.
Layout = tuple[tuple[int, int], tuple[int, int], tuple[int, ...], tuple[int, ...]]
_OWNER = "TiledStream"


class TileGrid(NamedTuple):
    """Where the tiles of a frame lie and how they are weighted.

    Attributes:
        size: ``(Hp, Wp)``, the frame size padded to a multiple of the model's ``scale``.
        tile: ``(th, tw)``, the size of every tile (``min(tile, Hp)``, ``min(tile, Wp)``).
        rows: the top row of each tile row, ``0 = rows[0] < ... < rows[-1] = Hp - th``.
        cols: the left column of each tile column, likewise.
        row_weights: one ``(th,)`` weight per tile row; they sum to one over ``0..Hp``.
        col_weights: one ``(tw,)`` weight per tile column; likewise.
    """

    size: tuple[int, int]
    tile: tuple[int, int]
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    row_weights: tuple[torch.Tensor, ...]
    col_weights: tuple[torch.Tensor, ...]

    @property
    def num_tiles(self) -> int:
        """Number of tiles per frame."""
        return len(self.rows) * len(self.cols)

    @property
    def coverage(self) -> float:
        """Area of all tiles over the padded frame's area: the compute relative to untiled."""
        th, tw = self.tile
        return self.num_tiles * th * tw / (self.size[0] * self.size[1])

    def windows(self) -> Iterator[tuple[int, int, torch.Tensor]]:
        """Yield ``(top, left, weight (th, tw))`` of every tile, row by row."""
        for top, wy in zip(self.rows, self.row_weights, strict=True):
            for left, wx in zip(self.cols, self.col_weights, strict=True):
                yield top, left, wy[:, None] * wx[None, :]

    @property
    def layout(self) -> Layout:
        """``(size, tile, rows, cols)``: what decides where the tiles are."""
        return self.size, self.tile, self.rows, self.cols


class TiledState(NamedTuple):
    """State of a :class:`TiledStream` between frames.

    Attributes:
        tiles: the model's :class:`~rirn_layers.model.StreamState` of every tile, row by
            row (one entry when the frame fits in a tile).
        grid: the tile layout, fixed by the first frame.
        size: ``(H, W)`` of the frames.
        batch: ``B`` of the frames.
    """

    tiles: tuple[StreamState, ...]
    grid: TileGrid
    size: tuple[int, int]
    batch: int


def _pair(name: str, value: object, minimum: int) -> tuple[int, int]:
    """``value`` as an ``(h, w)`` pair of ints >= ``minimum``; one-line errors otherwise."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, int) for v in items):
        raise TypeError(f"{_OWNER}: `{name}` must be an int or an (h, w) pair of ints, "
                        f"got {value!r}")
    if min(items) < minimum:
        raise ValueError(f"{_OWNER}: `{name}` must be >= {minimum}, got {value!r}")
    return int(items[0]), int(items[1])


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _origins(length: int, tile: int, overlap: int, unit: int) -> tuple[int, ...]:
    """Tile origins along one axis: multiples of ``unit`` spread evenly over ``length``.

    ``length``, ``tile``, ``overlap`` are multiples of ``unit``; the first tile starts at
    0, the last ends at ``length``, and neighbours share at least ``overlap`` pixels.
    """
    span = (length - tile) // unit  # in units
    if span <= 0:
        return (0,)
    gaps = math.ceil(span * unit / (tile - overlap))
    return tuple(unit * (i * span // gaps) for i in range(gaps + 1))


def _ramp(width: int, kind: Ramp) -> torch.Tensor:
    """``(width,)`` weights rising from near 0 to near 1; ``r(t) + r(1 - t) = 1``."""
    t = (torch.arange(width, dtype=torch.float64) + 0.5) / width
    return t if kind == "linear" else torch.sin(0.5 * math.pi * t).square()


def _axis_weights(
    origins: tuple[int, ...], tile: int, length: int, kind: Ramp
) -> tuple[torch.Tensor, ...]:
    """One ``(tile,)`` float64 weight per origin, summing to one at every pixel of the axis."""
    raw = []
    for i, start in enumerate(origins):
        w = torch.ones(tile, dtype=torch.float64)
        if i > 0 and (shared := origins[i - 1] + tile - start) > 0:
            w[:shared] = torch.minimum(w[:shared], _ramp(shared, kind))
        if i + 1 < len(origins) and (shared := start + tile - origins[i + 1]) > 0:
            w[tile - shared:] = torch.minimum(w[tile - shared:], _ramp(shared, kind).flip(0))
        raw.append(w)
    total = torch.zeros(length, dtype=torch.float64)
    for start, w in zip(origins, raw, strict=True):
        total[start:start + tile] += w
    return tuple(w / total[start:start + tile] for start, w in zip(origins, raw, strict=True))


def _input_unit(name: str, value: object, frame: torch.Tensor, scale: int) -> int:
    """The ``k`` of an extra input at ``1/k`` of the frame size (``k`` divides ``scale``)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{_OWNER}: extra input `{name}` must be a torch.Tensor, "
                        f"got {type(value).__name__}")
    height, width = frame.shape[-2:]
    if value.dim() == 4 and value.shape[0] == frame.shape[0]:
        for k in (k for k in range(1, scale + 1) if scale % k == 0):
            if tuple(value.shape[-2:]) == (-(-height // k), -(-width // k)):
                return k
    raise ValueError(
        f"{_OWNER}: extra input `{name}` must be a per-pixel map (B, C, ceil(H/k), ceil(W/k)) "
        f"with k dividing the model's scale {scale}, for `frame` {shape_str(frame.shape)}; "
        f"got {shape_str(value.shape)}"
    )


class TiledStream:
    """Stream a model over overlapping spatial tiles, one recurrent state per tile.

    See the module docstring for the scheme, its cost and its approximation.

    Args:
        model: the model to run; its ``step``/``flush`` contract is kept.
        tile: size of the tiles the model sees, an int or ``(th, tw)``; rounded up to a
            multiple of ``model.scale``. It sets the activation memory.
        overlap: pixels that neighbouring tiles share at least, an int or ``(oh, ow)``;
            rounded up to a multiple of ``model.scale`` and then smaller than ``tile``.
            ``0`` butts the tiles without blending.
        ramp: the blend weight across an overlap, ``"cosine"`` (raised cosine, default)
            or ``"linear"``.

    Shape:
        - ``step(frame, state, **inputs)``: ``(B, C, H, W)`` -> ``(B, C_out, H, W)`` or
          ``None`` (a look-ahead model's first ``future`` frames), as ``model.step``.
          ``inputs`` are per-pixel maps ``(B, C', ceil(H/k), ceil(W/k))``, ``k`` dividing
          ``model.scale``, cropped per tile like the frame.
        - ``flush(state)``: the ``future`` pending outputs ``(B, C_out, H, W)``.
        - ``tiler(frames, state, **inputs)``: ``(B, T, C, H, W)`` -> ``(B, T', C_out, H, W)``,
          as ``model(frames, state)``.

    Attributes:
        tile: the tile size used, ``(th, tw)`` after rounding.
        overlap: the least overlap used, ``(oh, ow)`` after rounding.
    """

    def __init__(
        self,
        model: StreamingDeblurModel,
        tile: int | tuple[int, int] = 256,
        overlap: int | tuple[int, int] = 32,
        *,
        ramp: Ramp = "cosine",
    ) -> None:
        if not isinstance(model, StreamingDeblurModel):
            raise TypeError(f"{_OWNER}: `model` must be a StreamingDeblurModel, "
                            f"got {type(model).__name__}")
        if ramp not in ("cosine", "linear"):
            raise ValueError(f"{_OWNER}: `ramp` must be 'cosine' or 'linear', got {ramp!r}")
        self.model = model
        self.ramp: Ramp = ramp
        self.tile, self.overlap = self._rounded(_pair("tile", tile, 1),
                                                _pair("overlap", overlap, 0))

    def _rounded(
        self, tile: tuple[int, int], overlap: tuple[int, int]
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        unit = self.model.scale
        tile_r = (_round_up(tile[0], unit), _round_up(tile[1], unit))
        overlap_r = (_round_up(overlap[0], unit), _round_up(overlap[1], unit))
        if overlap_r[0] >= tile_r[0] or overlap_r[1] >= tile_r[1]:
            raise ValueError(
                f"{_OWNER}: `overlap` must be smaller than `tile` once both are rounded up to "
                f"a multiple of the model's scale {unit}; got overlap={overlap} -> "
                f"{overlap_r}, tile={tile} -> {tile_r}"
            )
        return tile_r, overlap_r

    def __repr__(self) -> str:
        return (f"TiledStream({type(self.model).__name__}, tile={self.tile}, "
                f"overlap={self.overlap}, ramp={self.ramp!r})")

    def _layout(self, height: int, width: int) -> Layout:
        """``(padded size, tile size, row origins, column origins)`` of a frame."""
        unit = self.model.scale
        size = (_round_up(height, unit), _round_up(width, unit))
        tile = (min(self.tile[0], size[0]), min(self.tile[1], size[1]))
        rows = _origins(size[0], tile[0], self.overlap[0], unit)
        cols = _origins(size[1], tile[1], self.overlap[1], unit)
        return size, tile, rows, cols

    def grid(
        self, height: int, width: int, *, device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> TileGrid:
        """The tiles of an ``(height, width)`` frame, with weights on ``device`` in ``dtype``."""
        size, tile, rows, cols = self._layout(height, width)

        def weights(origins: tuple[int, ...], axis: int) -> tuple[torch.Tensor, ...]:
            ws = _axis_weights(origins, tile[axis], size[axis], self.ramp)
            return tuple(w.to(device=device, dtype=dtype) for w in ws)

        return TileGrid(size, tile, rows, cols, weights(rows, 0), weights(cols, 1))

    def _start(self, frame: torch.Tensor, state: TiledState | None) -> TiledState:
        """Check ``state`` against ``frame`` (or lay out the tiles of a first frame)."""
        batch, size = frame.shape[0], (frame.shape[-2], frame.shape[-1])
        if state is None:
            grid = self.grid(*size, device=frame.device, dtype=frame.dtype)
            return TiledState((), grid, size, batch)
        if not isinstance(state, TiledState):
            raise TypeError(f"{_OWNER}: `state` must be None or the TiledState of the previous "
                            f"frame, got {type(state).__name__}")
        if state.size != size or state.batch != batch:
            raise ValueError(
                f"{_OWNER}: `state` belongs to frames of batch {state.batch} and size "
                f"{state.size}, got `frame` of batch {batch} and size {size}; the tiles are "
                "laid out by the first frame"
            )
        if state.grid.layout != (layout := self._layout(*size)):
            raise ValueError(f"{_OWNER}: `state` comes from another tiler: tiles "
                             f"{_describe(state.grid.layout)}, this one's {_describe(layout)}")
        return state

    def step(
        self,
        frame: torch.Tensor,
        state: TiledState | None = None,
        *,
        ends: Ends = "pad",
        **inputs: torch.Tensor,
    ) -> tuple[torch.Tensor | None, TiledState]:
        """Feed one frame ``(B, C, H, W)``; returns ``(output (B, C_out, H, W) or None, state)``.

        As ``model.step``, tile by tile; ``inputs`` are cropped per tile like the frame.
        """
        _check_ends(ends)
        frame = check_image(_OWNER, "frame", frame, self.model.in_channels)
        state = self._start(frame, state)
        grid = state.grid
        previous: tuple[StreamState | None, ...] = state.tiles or (None,) * grid.num_tiles
        if grid.num_tiles == 1:  # the frame fits in one tile: the model as it is
            out, tile_state = self.model.step(frame, previous[0], ends=ends, **inputs)
            return out, state._replace(tiles=(tile_state,))
        padded, extras = self._padded(frame, inputs)
        blend, states = _Blend(grid, state.size), []
        for (top, left, weight), before in zip(grid.windows(), previous, strict=True):
            given = {name: _crop(v, top, left, grid.tile, unit)
                     for name, (v, unit) in extras.items()}
            out, after = self.model.step(_crop(padded, top, left, grid.tile, 1), before,
                                         ends=ends, **given)
            blend.add(out, top, left, weight)
            states.append(after)
        return blend.result(), state._replace(tiles=tuple(states))

    def _padded(
        self, frame: torch.Tensor, inputs: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, tuple[torch.Tensor, int]]]:
        """The frame padded to ``(B, C, Hp, Wp)``, each input to ``(B, C', Hp/k, Wp/k)`` and k."""
        scale, extras = self.model.scale, {}
        for name, value in inputs.items():
            unit = _input_unit(name, value, frame, scale)
            extras[name] = (pad_to_multiple(value, scale // unit)[0], unit)
        return pad_to_multiple(frame, scale)[0], extras

    def flush(
        self, state: TiledState, *, ends: Ends = "pad"
    ) -> tuple[list[torch.Tensor], TiledState]:
        """End of the video: the ``future`` pending outputs ``(B, C_out, H, W)``, blended."""
        _check_ends(ends)
        if not isinstance(state, TiledState):
            raise TypeError(f"{_OWNER}: `state` must be the TiledState of the last frame, "
                            f"got {type(state).__name__}")
        if state.grid.num_tiles == 1:
            outs, tile_state = self.model.flush(state.tiles[0], ends=ends)
            return outs, state._replace(tiles=(tile_state,))
        blends: list[_Blend] | None = None
        states = []
        for (top, left, weight), tile_state in zip(state.grid.windows(), state.tiles,
                                                    strict=True):
            outs, flushed = self.model.flush(tile_state, ends=ends)
            if blends is None:
                blends = [_Blend(state.grid, state.size) for _ in outs]
            if len(outs) != len(blends):
                raise RuntimeError(f"{_OWNER}: the tiles flushed {len(blends)} and {len(outs)} "
                                   "outputs; the model's look-ahead must not depend on content")
            for blend, out in zip(blends, outs, strict=True):
                blend.add(out, top, left, weight)
            states.append(flushed)
        results = [blend.result() for blend in blends or []]
        return [r for r in results if r is not None], state._replace(tiles=tuple(states))

    def __call__(
        self,
        frames: torch.Tensor,
        state: TiledState | None = None,
        *,
        ends: Ends = "pad",
        final: bool = True,
        **inputs: torch.Tensor,
    ) -> tuple[torch.Tensor, TiledState]:
        """Run a clip ``(B, T, C, H, W)``; returns ``(outputs (B, T', C_out, H, W), state)``.

        As ``model(frames, state, final=...)``: ``final=False`` keeps the look-ahead
        outputs pending, so a long video can go through in chunks with the state carried.
        ``inputs`` are clips ``(B, T, C', H', W')`` of per-pixel maps.
        """
        frames = check_clip(_OWNER, "frames", frames, self.model.in_channels)
        if frames.shape[1] == 0:
            raise ValueError(f"{_OWNER}: `frames` needs T >= 1, got T = 0")
        for name, value in inputs.items():
            value = check_clip(_OWNER, name, value)
            if value.shape[:2] != frames.shape[:2]:
                raise ValueError(f"{_OWNER}: extra input `{name}` {shape_str(value.shape)} must "
                                 f"have the batch and length of `frames` "
                                 f"{shape_str(frames.shape)}")
        outs = []
        for t, frame in enumerate(frames.unbind(1)):
            out, state = self.step(frame, state, ends=ends,
                                   **{name: v[:, t] for name, v in inputs.items()})
            outs += [] if out is None else [out]
        assert state is not None
        if final:
            rest, state = self.flush(state, ends=ends)
            outs += rest
        if not outs:
            b, _, _, h, w = frames.shape
            return frames.new_zeros(b, 0, int(self.model.out_channels), h, w), state
        return torch.stack(outs, dim=1), state


def _describe(layout: Layout) -> str:
    _, tile, rows, cols = layout
    return f"{tile} at rows {rows} and columns {cols}"


def _crop(x: torch.Tensor, top: int, left: int, tile: tuple[int, int], unit: int) -> torch.Tensor:
    """The ``tile`` window at ``(top, left)`` of ``x (B, C, Hp/unit, Wp/unit)``, at ``1/unit``."""
    return x[..., top // unit:(top + tile[0]) // unit, left // unit:(left + tile[1]) // unit]


class _Blend:
    """Accumulates weighted tile outputs ``(B, C_out, th, tw)`` into one frame."""

    def __init__(self, grid: TileGrid, size: tuple[int, int]) -> None:
        self.grid, self.size = grid, size
        self.total: torch.Tensor | None = None
        self.seen = self.ready = 0  # tiles added, tiles that had an output

    def add(self, out: torch.Tensor | None, top: int, left: int, weight: torch.Tensor) -> None:
        """Add one tile's output at ``(top, left)`` (``None``: the tile had none ready)."""
        self.seen += 1
        if out is None:
            return
        self.ready += 1
        if self.total is None:
            self.total = out.new_zeros(*out.shape[:-2], *self.grid.size)
        window = self.total[..., top:top + self.grid.tile[0], left:left + self.grid.tile[1]]
        window.addcmul_(out, weight.to(out.dtype))

    def result(self) -> torch.Tensor | None:
        """The blended frame ``(B, C_out, H, W)``, or ``None`` if no tile had an output."""
        if self.ready not in (0, self.seen):
            raise RuntimeError(f"{_OWNER}: {self.ready} of {self.seen} tiles gave an output; "
                               "the model's look-ahead must not depend on content")
        return None if self.total is None else crop_to(self.total, self.size)
