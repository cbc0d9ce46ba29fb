"""Record the tensors IRM, ATB and DTB see and produce during an unroll, frame by frame.

The data behind RIRN's analysis figures (Park, Nah and Lee, BMVC 2022):

- fig. 3, the hidden state ``h_t`` against IRM's memory ``h~_t``: kinds ``"hidden"`` and
  ``"memory"`` of an :class:`~rirn_layers.InnerRecurrence`;
- fig. 4, the histogram of ``w_prev + w_cur`` for ATB against DTB: kind ``"weights"`` of an
  :class:`~rirn_layers.AdaptiveTemporalBlend` (free weights) or a
  :class:`~rirn_layers.DynamicTemporalBlend` (the sum is 1 everywhere);
- fig. 6, the blended feature ``f~_t`` under DTB against ATB: kinds ``"feature"`` and
  ``"blended"``.

:func:`record` hooks the layers with ``register_forward_hook`` for the duration of a
``with`` block; the hooks only copy tensors (detached clones), so the model's outputs are
bit-identical with and without recording. The blend weights, which the layers return only
with ``return_weights=True``, are asked of the layer itself: its hook calls the layer's
public :meth:`~rirn_layers.AdaptiveTemporalBlend.weights` /
:meth:`~rirn_layers.DynamicTemporalBlend.weights` (the method its ``forward`` blends with)
on the inputs it was just called with, without gradients. So recording ``"weights"`` runs
the weight layers of each blend twice per frame; the other kinds cost only the copies.

Kinds recorded per layer (one entry per call, that is per frame the layer processes)::

    RecurrentCellWrapper   hidden (h_t, the tracked hidden state), feature (f_t)
    InnerRecurrence        hidden (h_t), memory (h~_t), previous (h~_{t-1}; zeros at start)
    AdaptiveTemporalBlend  feature (f_t), blended (f~_t), previous (f~_{t-1}; zeros at
                           start), weights (w_prev, w_cur)
    DynamicTemporalBlend   as ATB; previous is f_0 itself at the first frame

A model that looks ahead (STRCNN, ESTRNN) with ``ends="pad"`` also runs its layers on the
edge-padded frames, so a layer may record more entries than the clip has frames.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from rirn_layers.contracts import CellFeatures
from rirn_layers.layers.atb import AdaptiveTemporalBlend
from rirn_layers.layers.dtb import DynamicTemporalBlend
from rirn_layers.layers.irm import InnerRecurrence
from rirn_layers.wrap import RecurrentCellWrapper

__all__ = ["DEFAULT_KINDS", "KINDS", "Recording", "record"]

#: Every kind :func:`record` can record.
KINDS = ("hidden", "memory", "previous", "feature", "blended", "weights")
#: The kinds recorded unless told otherwise (``"previous"`` is mostly redundant).
DEFAULT_KINDS = ("hidden", "memory", "feature", "blended", "weights")

Weights = tuple[torch.Tensor, torch.Tensor]
_RECORDABLE = (RecurrentCellWrapper, InnerRecurrence, AdaptiveTemporalBlend, DynamicTemporalBlend)


class Recording:
    """Tensors recorded by :func:`record`, keyed by module name and kind.

    Each entry is a list with one tensor per call of the layer (per frame), detached and
    cloned; ``"weights"`` entries are ``(w_prev, w_cur)`` pairs. The recording keeps its
    data after the ``with`` block; the model keeps no reference to it.

    Attributes:
        kinds: the kinds being recorded, in :data:`KINDS` order.
        device: where the tensors are copied to (``None``: where they were computed).
    """

    def __init__(self, kinds: Sequence[str], device: torch.device | str | None = None) -> None:
        self.kinds = tuple(kinds)
        self.device = None if device is None else torch.device(device)
        self._data: dict[tuple[str, str], list[Any]] = {}

    # -- reading -------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Qualified names of the modules with at least one entry, sorted."""
        return sorted({name for name, _ in self._data})

    def keys(self) -> list[tuple[str, str]]:
        """The recorded ``(name, kind)`` pairs, in the order first seen."""
        return list(self._data)

    def frames(self, name: str, kind: str) -> list[Any]:
        """The entries of ``kind`` for module ``name``, one per frame.

        Returns:
            a list of ``T`` tensors ``(B, C, H, W)``, or for ``"weights"`` of ``T`` pairs
            ``(w_prev, w_cur)`` of such tensors.
        """
        key = (name, kind)
        if key not in self._data:
            known = ", ".join(f"({n!r}, {k!r})" for n, k in self._data) or "nothing"
            raise KeyError(f"Recording: no entries for ({name!r}, {kind!r}); recorded: {known}")
        return list(self._data[key])

    def stack(self, name: str, kind: str) -> torch.Tensor | Weights:
        """The entries of ``kind`` for module ``name`` stacked along time.

        Returns:
            a tensor ``(B, T, C, H, W)``, or for ``"weights"`` the pair ``(w_prev, w_cur)``
            of such tensors.
        """
        frames = self.frames(name, kind)
        if kind == "weights":
            w_prev, w_cur = zip(*frames, strict=True)
            return torch.stack(w_prev, dim=1), torch.stack(w_cur, dim=1)
        return torch.stack(frames, dim=1)

    def clear(self) -> None:
        """Drop every entry (e.g. between clips)."""
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        entries = ", ".join(f"{n}/{k}: {len(v)}" for (n, k), v in self._data.items())
        return f"Recording({entries or 'empty'})"

    # -- writing (called from the hooks) -------------------------------------------------
    def _wants(self, kind: str) -> bool:
        return kind in self.kinds

    def _copy(self, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.detach()
        if self.device is None:
            return tensor.clone()
        return tensor.to(self.device, copy=True)

    def _add(self, name: str, kind: str, value: torch.Tensor | Weights) -> None:
        if isinstance(value, tuple):
            value = tuple(self._copy(v) for v in value)
        else:
            value = self._copy(value)
        self._data.setdefault((name, kind), []).append(value)


def _argument(args: tuple, kwargs: dict, index: int, name: str) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name)


def _check_kinds(what: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(what, str):
        what = (what,)
    what = tuple(what)
    for kind in what:
        if kind not in KINDS:
            raise ValueError(
                f"record: unknown kind {kind!r} in `what`; valid kinds are {', '.join(KINDS)}"
            )
    return tuple(k for k in KINDS if k in what)


def _hook_wrapper(rec: Recording, name: str, module: RecurrentCellWrapper) -> list:
    def hook(mod: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        features: CellFeatures = output[0]
        if rec._wants("feature"):
            rec._add(name, "feature", features.feature)
        if rec._wants("hidden"):
            rec._add(name, "hidden", features.hidden)

    return [module.register_forward_hook(hook, with_kwargs=True)]


def _hook_irm(rec: Recording, name: str, module: InnerRecurrence) -> list:
    def hook(mod: nn.Module, args: tuple, kwargs: dict, output: torch.Tensor) -> None:
        hidden = _argument(args, kwargs, 0, "hidden")
        if rec._wants("hidden"):
            rec._add(name, "hidden", hidden)
        if rec._wants("memory"):
            rec._add(name, "memory", output)
        if rec._wants("previous"):
            memory = _argument(args, kwargs, 1, "memory")
            rec._add(name, "previous", torch.zeros_like(hidden) if memory is None else memory)

    return [module.register_forward_hook(hook, with_kwargs=True)]


def _hook_blend(
    rec: Recording, name: str, module: AdaptiveTemporalBlend | DynamicTemporalBlend
) -> list:
    def hook(mod: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        weights = None
        if isinstance(output, tuple):  # called with return_weights=True
            output, weights = output
        feature = _argument(args, kwargs, 0, "feature")
        previous = _argument(args, kwargs, 1, "blended")
        if rec._wants("weights") and weights is None:
            with torch.no_grad():  # the layer's own formula, on the inputs it just blended
                weights = mod.weights(feature, previous)
        if rec._wants("feature"):
            rec._add(name, "feature", feature)
        if rec._wants("blended"):
            rec._add(name, "blended", output)
        if rec._wants("previous"):
            if previous is None:  # the layers' own start
                is_dtb = isinstance(mod, DynamicTemporalBlend)
                previous = feature if is_dtb else torch.zeros_like(feature)
            rec._add(name, "previous", previous)
        if rec._wants("weights"):
            rec._add(name, "weights", weights)

    return [module.register_forward_hook(hook, with_kwargs=True)]


@contextlib.contextmanager
def record(
    model: nn.Module,
    what: str | Iterable[str] = DEFAULT_KINDS,
    *,
    device: torch.device | str | None = None,
) -> Iterator[Recording]:
    """Record what the RIRN layers inside ``model`` see and produce, while in the block.

    Hooks every :class:`~rirn_layers.RecurrentCellWrapper`,
    :class:`~rirn_layers.InnerRecurrence`, :class:`~rirn_layers.AdaptiveTemporalBlend` and
    :class:`~rirn_layers.DynamicTemporalBlend` in ``model`` (``model`` itself included);
    every call of one of them adds one detached clone per requested kind to the returned
    :class:`Recording`, under the module's qualified name (``"wrapped.irm"``; ``""`` for
    ``model`` itself). The hooks are removed when the block ends, by an exception too;
    the outputs are bit-identical to a run without recording. Works under
    ``torch.no_grad()`` and ``torch.inference_mode()``. Under activation checkpointing
    the backward pass re-runs the forward and so records the frames again: record in eval
    mode or without gradients.

    Args:
        model: any module containing at least one of the layers above.
        what: the kinds to record, a subset of :data:`KINDS` (a single kind may be given
            as a string): ``"hidden"`` ``h_t``, ``"memory"`` ``h~_t``, ``"previous"``
            the layer's second input (``h~_{t-1}`` or ``f~_{t-1}``), ``"feature"`` ``f_t``,
            ``"blended"`` ``f~_t``, ``"weights"`` the blend's ``(w_prev, w_cur)``.
        device: copy the tensors there (e.g. ``"cpu"`` to keep GPU memory free);
            ``None`` keeps them where they were computed.

    Shape:
        Every recorded tensor is ``(B, C, H, W)`` at the layer's resolution, ``C`` its
        channels; :meth:`Recording.stack` gives ``(B, T, C, H, W)``.

    Raises:
        ValueError: for a kind not in :data:`KINDS`, or if ``model`` contains none of the
            layers above.

    Example:
        >>> from rirn_layers.baselines import build_model
        >>> model = build_model("gru", irm=True, atb=True).eval()
        >>> with torch.no_grad(), record(model) as rec:
        ...     restored, state = model(torch.rand(1, 3, 3, 32, 32))
        >>> rec.names()
        ['wrapped', 'wrapped.atb', 'wrapped.irm']
        >>> rec.stack("wrapped.irm", "memory").shape    # h~_t: (B, T, C_h, H/4, W/4)
        torch.Size([1, 3, 20, 8, 8])
        >>> w_prev, w_cur = rec.stack("wrapped.atb", "weights")
        >>> bool(((w_prev + w_cur) != 1).any())        # ATB's weights are free (fig. 4)
        True
    """
    kinds = _check_kinds(what)
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, _RECORDABLE)]
    if not layers:
        raise ValueError(
            f"record: {type(model).__name__} contains no RecurrentCellWrapper, "
            "InnerRecurrence, AdaptiveTemporalBlend or DynamicTemporalBlend to record"
        )
    rec = Recording(kinds, device)
    handles: list[RemovableHandle] = []
    try:
        for name, module in layers:
            if isinstance(module, RecurrentCellWrapper):
                handles += _hook_wrapper(rec, name, module)
            elif isinstance(module, InnerRecurrence):
                handles += _hook_irm(rec, name, module)
            else:
                handles += _hook_blend(rec, name, module)
        yield rec
    finally:
        for handle in handles:
            handle.remove()
