"""Training checkpoints: atomic writes, safe loads, exact resume, clear errors.

A checkpoint is one ``torch.save`` file holding a plain dict:

========== ==========================================================================
key        value
========== ==========================================================================
format     ``"rirn-layers-checkpoint"`` (tells it from other ``.pt`` files)
version    format version (1)
step       the training step (int)
config     how to rebuild the model: a zoo model's ``{"name": "gru", "irm": True, ...}``
           (the arguments of :func:`rirn_layers.baselines.build_model`), a builder's
           ``{"builder": "package.module:function", "kwargs": {...}}``, or for a model
           instance trained without one ``{"builder": None, "model_class": "pkg.mod.Net"}``
model      the model's ``state_dict`` with wrapper prefixes removed (``module.`` of
           DDP/DataParallel, ``_orig_mod.`` of ``torch.compile``)
optimizer  ``optimizer.state_dict()`` or ``None``
scheduler  ``scheduler.state_dict()`` or ``None``
rng        RNG states: torch CPU, CUDA (when CUDA is in use), Python ``random``, NumPy's
           global generator (when NumPy is installed)
extra      the caller's dict (best metric so far, data-loader position, ...) or ``None``
torch      the torch version that wrote it
========== ==========================================================================

Everything in it is a tensor, a plain container or a number/string, so it loads with
``torch.load(weights_only=True)``, which never runs code from the file; anything else is
refused at save time. Writes go to a temporary file in the target's directory that is
flushed, fsynced and then renamed over the target (``os.replace``), so a crash leaves either
the old checkpoint or the new one, never half of one. Keep ``last`` and ``best`` with
:func:`save_checkpoint` and :func:`copy_checkpoint`.

:func:`model_from_checkpoint` rebuilds the model from the stored config. For a builder's
config that imports the named module (:mod:`rirn_layers.train.builders`), which runs its
top-level code: only load checkpoints whose builder module you trust. The weights are still
read with ``weights_only=True``.

In distributed training, save from one process (rank 0); the RNG states stored are that
process's.
"""

from __future__ import annotations

import errno
import os
import pickle
import random
import re
import secrets
import shutil
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rirn_layers._checks import check_int

__all__ = [
    "CheckpointError",
    "copy_checkpoint",
    "load_checkpoint",
    "model_from_checkpoint",
    "save_checkpoint",
    "unwrap_model",
]

FORMAT = "rirn-layers-checkpoint"
VERSION = 1
_SHOW = 5  # keys listed in a mismatch message

PathLike = str | os.PathLike


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: incomplete, unsafe, or of another model."""


# -- wrappers and keys ---------------------------------------------------------------------
def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside DDP/DataParallel and ``torch.compile`` wrappers (any nesting).

    Example:
        >>> net = nn.Linear(2, 2)
        >>> unwrap_model(nn.DataParallel(net)) is net
        True
    """
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod  # torch.compile's OptimizedModule
        else:
            return model


def _canonical(key: str) -> str:
    """A state-dict key without ``torch.compile``'s ``_orig_mod`` segments."""
    return ".".join(part for part in key.split(".") if part != "_orig_mod")


def _canonical_state(state: Mapping[str, Any], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in state.items():
        name = _canonical(key)
        if name in out:
            raise CheckpointError(f"{what}: keys collide once wrapper prefixes are removed: {key}")
        out[name] = value
    return out


# -- weights_only-safe contents ------------------------------------------------------------
_LEAVES = (str, int, float, bool, complex, type(None), torch.dtype, torch.device, torch.Size)
_CONTAINERS = (dict, OrderedDict, list, tuple)


def _check_plain(value: Any, where: str) -> None:
    """Raise TypeError unless ``value`` loads with ``torch.load(weights_only=True)``."""
    kind = type(value)
    if kind in (torch.Tensor, nn.Parameter) or kind in _LEAVES:
        return
    if kind in (dict, OrderedDict):
        for key, item in value.items():
            if type(key) not in _LEAVES:
                raise TypeError(
                    f"save_checkpoint: {where} has a key of type {type(key).__name__}; keys must "
                    "be strings or numbers"
                )
            _check_plain(item, f"{where}[{key!r}]")
        return
    if kind in (list, tuple):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    raise TypeError(
        f"save_checkpoint: {where} is a {kind.__module__}.{kind.__qualname__}, which "
        "torch.load(weights_only=True) refuses; store tensors, dicts, lists, tuples, numbers "
        "and strings only"
    )


# -- RNG states ----------------------------------------------------------------------------
def _rng_state() -> dict[str, Any]:
    version, mt, gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "cuda": None,
        "python": {
            "version": version,
            "state": torch.tensor(mt, dtype=torch.int64),
            "gauss_next": gauss,
        },
        "numpy": None,
    }
    # Only when this process already uses CUDA: querying it would start a context otherwise.
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is optional
        return state
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state["numpy"] = {
        "kind": str(kind),
        "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available():
        for device, cuda_state in enumerate(cuda[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state.cpu(), device)
    py = state["python"]
    mt = tuple(int(v) for v in py["state"].tolist())
    random.setstate((int(py["version"]), mt, py["gauss_next"]))
    numpy_state = state.get("numpy")
    if numpy_state is None:
        return
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is optional
        return
    keys = numpy_state["keys"].cpu().numpy().astype(np.uint32)
    np.random.set_state(
        (
            numpy_state["kind"],
            keys,
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )


# -- atomic writes -------------------------------------------------------------------------
_TEMP_HEX = 6  # bytes of randomness in a temporary name (12 hex digits)


def _temp_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(_TEMP_HEX)}.tmp")


def remove_stale_temps(directory: PathLike, names: tuple[str, ...]) -> list[Path]:
    """Remove temporary files that an interrupted write of one of ``names`` left behind.

    Only files named exactly as :func:`_temp_path` names them (``.last.pt.<12 hex>.tmp``
    for ``last.pt``) are removed; anything else in ``directory`` is left alone.

    Returns:
        The files removed.
    """
    folder = Path(directory)
    if not folder.is_dir():
        return []
    alternatives = "|".join(re.escape(name) for name in names)
    pattern = re.compile(rf"\.(?:{alternatives})\.[0-9a-f]{{{2 * _TEMP_HEX}}}\.tmp")
    removed = []
    for entry in folder.iterdir():
        if pattern.fullmatch(entry.name) and entry.is_file() and not entry.is_symlink():
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def write_text_atomic(path: PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically, as checkpoints are written."""
    target = Path(path)
    _atomic_write(target, lambda f: f.write(text.encode("utf-8")), "write_text_atomic")
    return target


def _file_mode() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse
        pass
    finally:
        os.close(fd)


_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def _disk_full(err: BaseException) -> OSError | None:
    """The ENOSPC/EDQUOT OSError behind ``err`` (itself or in its cause/context chain).

    ``torch.save`` reports a failed write of its zip writer as ``RuntimeError: [enforce fail
    at inline_container.cc:...] . unexpected pos ...``, with the OSError only as its context.
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL:
            return current
        current = current.__cause__ or current.__context__
    return None


def _full_error(what: str, target: Path, cause: OSError) -> OSError:
    kind = "disk quota exceeded" if cause.errno != errno.ENOSPC else "no space left on device"
    return OSError(
        cause.errno,
        f"{what}: {kind} while writing {target} (the previous file, if any, is unchanged; "
        "the partial temporary file was removed); free some space and retry",
        str(target),
    )


def _atomic_write(target: Path, write: Callable[[Any], None], what: str = "write") -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_path(target)
    try:
        with open(temp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, _file_mode())
        os.replace(temp, target)
    except BaseException as err:
        temp.unlink(missing_ok=True)
        full = _disk_full(err) if isinstance(err, Exception) else None
        if full is not None:
            raise _full_error(what, target, full) from err
        raise
    _fsync_dir(target.parent)


def save_checkpoint(
    path: PathLike,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    step: int,
    config: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (a temporary file renamed over ``path``).

    Args:
        path: the file to write (parent directories are created). An existing file is
            replaced only once the new one is complete on disk.
        model: the model; DDP/DataParallel and ``torch.compile`` wrappers are removed from
            its keys, so the file loads into a bare, wrapped or compiled model alike.
        optimizer: its state is stored when given.
        scheduler: an LR scheduler (anything with ``state_dict()``), stored when given.
        step: the training step, an int ``>= 0``.
        config: how to rebuild the model, e.g. the arguments of
            :func:`rirn_layers.baselines.build_model` (``name``, ``irm``, ``atb`` and its
            options); only plain values (numbers, strings, lists, dicts).
        extra: anything else to keep (plain values and tensors), or ``None``.

    Returns:
        The path written.

    Raises:
        OSError: (errno ENOSPC) the disk is full; the old file is left as it was.
        TypeError: an argument of the wrong type, or a value that
            ``torch.load(weights_only=True)`` could not read back (nothing is written then).

    Example:
        >>> import tempfile
        >>> net = nn.Linear(2, 2)
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = save_checkpoint(f"{d}/last.pt", model=net, step=3, config={"name": "lin"})
        ...     load_checkpoint(p, model=net)["step"]
        3
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"save_checkpoint: `model` must be an nn.Module, got {type(model).__name__}"
        )
    check_int("save_checkpoint", "step", step, 0)
    if not isinstance(config, Mapping):
        raise TypeError(f"save_checkpoint: `config` must be a dict, got {type(config).__name__}")
    if extra is not None and not isinstance(extra, Mapping):
        raise TypeError(
            f"save_checkpoint: `extra` must be a dict or None, got {type(extra).__name__}"
        )
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"save_checkpoint: `optimizer` must be a torch.optim.Optimizer, got "
            f"{type(optimizer).__name__}"
        )
    if scheduler is not None and not callable(getattr(scheduler, "state_dict", None)):
        raise TypeError(
            f"save_checkpoint: `scheduler` must have a state_dict(), got {type(scheduler).__name__}"
        )
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "step": step,
        "config": dict(config),
        "model": _canonical_state(unwrap_model(model).state_dict(), "save_checkpoint"),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "rng": _rng_state(),
        "extra": None if extra is None else dict(extra),
        "torch": str(torch.__version__),
    }
    for key in ("config", "optimizer", "scheduler", "extra"):
        _check_plain(payload[key], f"`{key}`")
    target = Path(path)
    _atomic_write(target, lambda f: torch.save(payload, f), "save_checkpoint")
    return target


def copy_checkpoint(src: PathLike, dst: PathLike) -> Path:
    """Make ``dst`` a copy of the checkpoint ``src``, atomically (e.g. ``last`` -> ``best``).

    A hard link when the file system allows it (no bytes copied; a later
    :func:`save_checkpoint` to ``src`` writes a new file and leaves ``dst`` as it is),
    otherwise a byte copy; either way ``dst`` is replaced only once the copy is complete.
    """
    source, target = Path(src), Path(dst)
    if not source.is_file():
        raise FileNotFoundError(f"copy_checkpoint: no checkpoint at {source}")
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_path(target)
    try:
        try:
            os.link(source, temp)
        except OSError:
            with open(source, "rb") as fin, open(temp, "xb") as fout:
                shutil.copyfileobj(fin, fout)
                fout.flush()
                os.fsync(fout.fileno())
        os.replace(temp, target)
    except BaseException as err:
        temp.unlink(missing_ok=True)
        full = _disk_full(err) if isinstance(err, Exception) else None
        if full is not None:
            raise _full_error("copy_checkpoint", target, full) from err
        raise
    _fsync_dir(target.parent)
    return target


# -- loading -------------------------------------------------------------------------------
def _read(path: PathLike, map_location: Any) -> dict[str, Any]:
    file = Path(path)
    if not file.exists():
        raise FileNotFoundError(f"load_checkpoint: no checkpoint at {file}")
    if not file.is_file():
        raise CheckpointError(f"load_checkpoint: {file} is not a file")
    # torch.save writes a zip archive with a CRC per member: a truncated file has no central
    # directory, a damaged one fails a CRC (torch.load itself would read damaged data silently).
    try:
        with zipfile.ZipFile(file) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, EOFError, ValueError, zlib.error) as err:
        raise CheckpointError(
            f"load_checkpoint: {file} is not a complete checkpoint (truncated or not written by "
            f"torch.save: {err})"
        ) from err
    if damaged is not None:
        raise CheckpointError(
            f"load_checkpoint: {file} is not a complete checkpoint (corrupt: its member "
            f"{damaged!r} fails its CRC check)"
        )
    try:
        payload = torch.load(file, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only" in str(err).lower():
            raise CheckpointError(
                f"load_checkpoint: {file} holds Python objects that torch.load(weights_only=True) "
                "refuses to unpickle (unpickling them could run arbitrary code); it was not "
                "written by save_checkpoint. Load it with weights_only=False only if you trust "
                "its source."
            ) from err
        raise CheckpointError(
            f"load_checkpoint: {file} is not a complete checkpoint (corrupt: {err})"
        ) from err
    except Exception as err:  # torch reports damaged archives with many exception types
        first_line = str(err).splitlines()[0] if str(err) else ""
        raise CheckpointError(
            f"load_checkpoint: {file} is not a complete checkpoint (corrupt: "
            f"{type(err).__name__}: {first_line})"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        keys = list(payload)[:_SHOW] if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"load_checkpoint: {file} is not a rirn-layers checkpoint (no format tag; found "
            f"{keys}); a bare state_dict loads with model.load_state_dict(torch.load(...))"
        )
    if int(payload.get("version", 0)) > VERSION:
        raise CheckpointError(
            f"load_checkpoint: {file} has format version {payload['version']}; this "
            f"rirn-layers reads up to {VERSION}: upgrade rirn-layers"
        )
    return payload


def _require(payload: Mapping[str, Any], file: PathLike, keys: tuple[str, ...], what: str) -> None:
    """Raise CheckpointError naming the keys of ``keys`` that ``payload`` lacks or has wrong."""
    missing = [k for k in keys if k not in payload]
    if missing:
        raise CheckpointError(
            f"{what}: {file} is an incomplete checkpoint: it has the rirn-layers format tag but "
            f"no {', '.join(repr(k) for k in missing)} "
            f"{'entry' if len(missing) == 1 else 'entries'} (it has {sorted(payload, key=str)}); "
            "it was not written by save_checkpoint or was edited"
        )
    expected = {"model": (Mapping, "a state_dict (dict)"), "config": (Mapping, "a dict"),
                "step": (int, "an int >= 0")}
    for key in keys:
        kind, words = expected[key]
        value = payload[key]
        if (
            not isinstance(value, kind)
            or (key == "step" and (isinstance(value, bool) or value < 0))
        ):
            shown = f"{value!r}" if key == "step" else type(value).__name__
            raise CheckpointError(
                f"{what}: {file} is an invalid checkpoint: its {key!r} entry must be {words}, "
                f"got {shown}"
            )


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOW])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > _SHOW else shown


def _shape(value: Any) -> tuple[int, ...] | None:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def _config_diff(stored: Any, given: Mapping[str, Any] | None) -> str:
    if given is None:
        return f"checkpoint config: {stored}"
    if not isinstance(stored, Mapping):
        return f"checkpoint config: {stored}; this model's config: {dict(given)}"
    keys = sorted(set(stored) | set(given), key=str)
    diff = [
        f"{k}: checkpoint {stored.get(k, '<absent>')!r} vs model {given.get(k, '<absent>')!r}"
        for k in keys
        if stored.get(k, "<absent>") != given.get(k, "<absent>")
    ]
    return "config differences: " + ("; ".join(diff) if diff else "none")


def _load_model(
    model: nn.Module,
    payload: Mapping[str, Any],
    file: PathLike,
    *,
    strict: bool,
    config: Mapping[str, Any] | None,
) -> tuple[list[str], list[str]]:
    target = unwrap_model(model)
    own = {_canonical(k): k for k in target.state_dict()}
    own_state = target.state_dict()
    stored = _canonical_state(payload["model"], f"load_checkpoint: {file}")
    if (
        stored
        and all(k.startswith("module.") for k in stored)
        and not any(k.startswith("module.") for k in own)
    ):  # a state_dict saved from a DDP/DataParallel model by other code
        stored = {k[len("module.") :]: v for k, v in stored.items()}
    missing = [k for k in own if k not in stored]
    unexpected = [k for k in stored if k not in own]
    shapes = [
        f"{k}: checkpoint {_shape(stored[k])} vs model {_shape(own_state[own[k]])}"
        for k in own
        if k in stored and _shape(stored[k]) != _shape(own_state[own[k]])
    ]
    if shapes or (strict and (missing or unexpected)):
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys ({_listing(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys ({_listing(unexpected)})")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches ({_listing(shapes)})")
        raise CheckpointError(
            f"load_checkpoint: {file} is a checkpoint of another model than this "
            f"{type(target).__name__}: "
            + "; ".join(parts)
            + "; "
            + _config_diff(payload.get("config"), config)
        )
    target.load_state_dict({own[k]: v for k, v in stored.items() if k in own}, strict=strict)
    return missing, unexpected


def _check_optimizer(optimizer: torch.optim.Optimizer, saved: Any, file: PathLike) -> None:
    if saved is None:
        raise CheckpointError(f"load_checkpoint: {file} holds no optimizer state")
    groups = saved.get("param_groups", [])
    ours = [len(g["params"]) for g in optimizer.param_groups]
    theirs = [len(g["params"]) for g in groups]
    if ours != theirs:
        raise CheckpointError(
            f"load_checkpoint: the optimizer in {file} has parameter groups of sizes {theirs}, "
            f"this optimizer {ours}"
        )


def load_checkpoint(
    path: PathLike,
    *,
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    restore_rng: bool = True,
    map_location: Any = "cpu",
    strict: bool = True,
    config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)`` and restore what is given.

    Everything is checked before anything is changed: on an error the model, optimizer,
    scheduler and RNGs are untouched.

    Args:
        path: a file written by :func:`save_checkpoint`.
        model: loads its weights (bare, DDP/DataParallel-wrapped or ``torch.compile``'d).
        optimizer: loads its state (parameter groups must match in number and size).
        scheduler: loads its state.
        restore_rng: restore the torch (CPU, and CUDA where stored and present), Python and
            NumPy RNG states, so that a resumed run draws the same numbers.
        map_location: where tensors are loaded (``"cpu"``); ``load_state_dict`` copies the
            weights to the model's device either way.
        strict: keys must match exactly (shapes must always match).
        config: this model's config, shown next to the stored one in a mismatch error.

    Returns:
        The checkpoint dict (``step``, ``config``, ``extra``, ``model``, ``optimizer``,
        ``scheduler``, ``rng``, ...), plus ``missing_keys`` and ``unexpected_keys`` when a
        model was loaded.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError (a ValueError): a truncated or corrupt file, a file that is not a
            rirn-layers checkpoint or holds objects ``weights_only`` refuses, or a checkpoint
            of another model (the message lists missing/unexpected keys, shape mismatches
            and the configs).
    """
    file = Path(path)
    payload = _read(file, map_location)
    _require(payload, file, ("step", "model") if model is not None else ("step",),
             "load_checkpoint")
    if optimizer is not None:
        _check_optimizer(optimizer, payload.get("optimizer"), file)
    if scheduler is not None and payload.get("scheduler") is None:
        raise CheckpointError(f"load_checkpoint: {file} holds no scheduler state")
    if model is not None:
        missing, unexpected = _load_model(model, payload, file, strict=strict, config=config)
        payload["missing_keys"], payload["unexpected_keys"] = missing, unexpected
    if optimizer is not None:
        optimizer.load_state_dict(payload["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(payload["scheduler"])
    if restore_rng and payload.get("rng") is not None:
        _set_rng_state(payload["rng"])
    return payload


def _instance_error(file: Path, config: Mapping[str, Any]) -> CheckpointError:
    return CheckpointError(
        f"model_from_checkpoint: {file} holds the weights of a model instance of "
        f"{config.get('model_class', 'an unknown class')} trained without a builder, so its "
        "config cannot rebuild it; rebuild the model yourself and load the weights with "
        "load_checkpoint(path, model=...), or train with a builder (TrainConfig(builder="
        "'package.module:function')) so that checkpoints can rebuild the model"
    )


def _rebuild(
    file: Path, config: Mapping[str, Any], builder: Callable[..., nn.Module] | None
) -> nn.Module:
    from rirn_layers.train.builders import build_from_config

    spec = config.get("builder")
    if "builder" in config and spec is None and builder is None:
        raise _instance_error(file, config)
    try:
        if builder is None:
            return build_from_config(config)
        return builder(**(config.get("kwargs", {}) if "builder" in config else config))
    except (TypeError, ValueError) as err:
        origin = (
            f"with its builder {spec!r}" if spec is not None else f"from its config {dict(config)}"
        )
        raise CheckpointError(
            f"model_from_checkpoint: cannot rebuild the model of {file} {origin}: {err}"
        ) from err


def model_from_checkpoint(
    path: PathLike,
    *,
    builder: Callable[..., nn.Module] | None = None,
    map_location: Any = "cpu",
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model a checkpoint was saved from and load its weights.

    A zoo model's config is rebuilt with :func:`rirn_layers.baselines.build_model`, a
    builder's (``{"builder": "package.module:function", "kwargs": {...}}``) by importing the
    module and calling the function with the stored keyword arguments
    (:func:`rirn_layers.train.builders.build_from_config`). Importing runs the module's
    top-level code: only load checkpoints whose builder module you trust (the weights are
    read with ``torch.load(weights_only=True)`` either way).

    Args:
        path: a file written by :func:`save_checkpoint`.
        builder: rebuild with this function instead: called as ``builder(**kwargs)`` with
            the stored keyword arguments of a builder's config, as ``builder(**config)``
            for any other config.
        map_location: where tensors are loaded.

    Returns:
        ``(model, checkpoint)``, the model in eval mode; no RNG state is restored.

    Raises:
        CheckpointError: the file is no usable checkpoint (see :func:`load_checkpoint`), its
            config cannot rebuild the model (e.g. its builder module cannot be imported),
            the rebuilt model's weights do not fit, or the checkpoint is of a model instance
            trained without a builder (load it with ``load_checkpoint(path, model=...)``).
    """
    file = Path(path)
    payload = _read(file, map_location)
    _require(payload, file, ("config", "model"), "model_from_checkpoint")
    config = payload["config"]
    model = _rebuild(file, config, builder)
    _load_model(model, payload, file, strict=True, config=config)
    return model.eval(), payload
