"""The training loop behind ``examples/train_gru_rirn.py``.

One function, :func:`train`, trains any baseline of :func:`rirn_layers.baselines.build_model`
(bare or with IRM/ATB), or your own :class:`~rirn_layers.model.StreamingDeblurModel` (built
by a builder function, ``TrainConfig(builder="mymodels:build")``, or passed as an instance,
``train(config, model=net)``), on any dataset of :func:`rirn_layers.data.build_dataset`:

- L1 loss (RIRN sec. 4.1), Adam, a multi-step learning-rate schedule; IFI-RNN's gate
  regularisation is added when the model has one;
- truncated back-propagation: each clip is cut into chunks of ``chunk`` frames, the
  recurrent state is carried and detached between chunks, one optimizer step per clip;
- CUDA if present (mixed precision, optional ``torch.compile``), else CPU; zoo models have
  ``channels_last`` weights (``build_model``'s default, faster on CPU as well);
- optional per-frame activation checkpointing (``checkpointing=True``): less memory for
  back-propagation through long chunks at the cost of about one extra forward pass;
- DistributedDataParallel when launched by ``torchrun`` (NCCL on GPUs, gloo on CPU), each
  rank reading its own shard of a seeded permutation; rank 0 logs and checkpoints;
- atomic ``last.pt``/``best.pt`` checkpoints holding model, optimizer, scheduler, step and
  RNG states and how to rebuild the model (:meth:`TrainConfig.model_config`);
  ``resume=True`` continues bit for bit (data order and augmentation are a pure function of
  ``(seed, epoch, index)``, model randomness comes from the restored RNG);
- graceful stop: SIGINT, SIGTERM or SIGHUP finish the current step, write ``last.pt`` and
  raise :class:`TrainingInterrupted`; a second signal aborts at once;
- a folder that holds a run is never overwritten unless ``resume=True`` or
  ``overwrite=True``; the resolved run configuration goes to ``config.json`` and into the
  checkpoints, and a resume with other model or schedule settings is refused;
- ``metrics.jsonl``, an optional TensorBoard log (scalars and blur|output|sharp grids) and
  an optional progress bar; a final summary of validation PSNR/SSIM, output vs blurry input.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from rirn_layers.data import build_dataset
from rirn_layers.model import StreamingDeblurModel
from rirn_layers.train.builders import build_from_config, check_builder_kwargs
from rirn_layers.train.checkpoint import (
    CheckpointError,
    copy_checkpoint,
    load_checkpoint,
    remove_stale_temps,
    save_checkpoint,
    unwrap_model,
    write_text_atomic,
)
from rirn_layers.train.metrics import MetricTracker
from rirn_layers.wrap import detach_state

__all__ = ["PRESETS", "TrainConfig", "TrainResult", "TrainingInterrupted", "train"]

#: ``demo``: finishes in about five minutes on a 2-core CPU on the built-in synthetic data.
#: ``paper``: RIRN sec. 4.1 (L1, Adam 1e-4, batch 16; the learning rate is annealed at 60% of
#: training, the 300th of 500 GOPRO epochs, by a factor 10, which the paper does not state).
PRESETS: dict[str, dict[str, Any]] = {
    "demo": {
        "steps": 900,
        "batch_size": 4,
        "clip_length": 6,
        "chunk": 3,
        "crop": 64,
        "lr": 1e-3,
        "milestones": (0.8,),
        "val_every": 300,
        "val_clips": 8,
        "val_crop": 96,
        "residual": True,
        "synthetic_speed": (6.0, 18.0),
    },
    "paper": {
        "steps": 500_000,
        "batch_size": 16,
        "clip_length": 10,
        "chunk": 10,
        "crop": 256,
        "lr": 1e-4,
        "milestones": (0.6,),
        "val_every": 5_000,
        "val_clips": 64,
        "val_crop": None,
        "residual": False,
        "synthetic_speed": None,
    },
}


#: Zoo models with a ``dtb`` switch, and its default there.
_DTB_DEFAULT: dict[str, bool] = {"gru": False, "lstm": False, "strcnn": True}
#: Zoo models in which DTB takes ATB's slot (at most one of the two).
_ATB_SLOT = ("gru", "lstm")
_SWITCHES = ("irm", "atb", "dtb")


@dataclasses.dataclass
class TrainConfig:
    """Everything a run depends on; preset values fill the fields left as ``None``.

    The model is a zoo model, ``model`` (a name of
    :func:`~rirn_layers.baselines.available_models`), or your own: ``builder``, a function
    named ``"package.module:function"`` and called with ``builder_kwargs`` (see
    :mod:`rirn_layers.train.builders`), or an instance passed as ``train(config, model=...)``.

    ``irm``, ``atb`` and ``dtb`` left ``None`` are a zoo model's defaults: IRM and ATB on (ATB
    off when ``dtb=True`` takes its slot in GRU/LSTM), DTB as the model has it (on in
    STRCNN, where ``dtb=False`` removes it; off elsewhere). For a builder they are added to
    its keyword arguments only when given, so a builder that takes them can be ablated.
    """

    model: str = "gru"
    builder: str | None = None  # "package.module:function" returning a StreamingDeblurModel
    builder_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    irm: bool | None = None
    atb: bool | None = None
    dtb: bool | None = None  # GRU/LSTM: DTB in ATB's place (RIRN figs. 4, 6); STRCNN: on/off
    dataset: str = "synthetic"
    data_root: str | None = None
    preset: str = "demo"
    out: str = "runs/gru_rirn"
    resume: bool = False
    overwrite: bool = False  # replace the run in `out` (only its own files are removed)
    seed: int = 0
    device: str = "auto"
    compile: bool = False
    checkpointing: bool = False  # recompute each frame's activations in backward
    workers: int = 0
    steps: int | None = None
    batch_size: int | None = None
    clip_length: int | None = None
    chunk: int | None = None
    crop: int | None = None
    lr: float | None = None
    milestones: tuple[float, ...] | None = None
    val_every: int | None = None
    checkpoint_every: int | None = None  # steps between last.pt writes; default: val_every
    val_clips: int | None = None
    val_crop: int | None = None
    residual: bool | None = None  # zoo GRU/LSTM only: add the input frame to the output
    synthetic_speed: tuple[float, float] | None = None  # camera speed, px/frame (synthetic)
    log_images: bool = True
    progress: bool = True
    stop_at: int | None = None  # stop (and checkpoint) after this step, as if interrupted

    def __post_init__(self) -> None:
        if not isinstance(self.model, str):
            raise TypeError(
                "TrainConfig: `model` must be the name of a zoo model (a str), got a "
                f"{type(self.model).__name__}; to train your own model pass it as "
                "train(config, model=...), or name the function that builds it with "
                "builder='package.module:function'"
            )

    def resolved(self) -> TrainConfig:
        """A copy with the preset's values in every field left ``None``.

        For a zoo model ``irm`` and ``atb`` left ``None`` become the model's defaults too
        (:meth:`model_switches`).
        """
        if self.preset not in PRESETS:
            raise ValueError(f"`preset` must be one of {sorted(PRESETS)}, got {self.preset!r}")
        values = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        merged = {**PRESETS[self.preset], **values}
        config = TrainConfig(**merged)
        if config.checkpoint_every is None:
            config = dataclasses.replace(config, checkpoint_every=config.val_every)
        names = ("steps", "batch_size", "clip_length", "chunk", "val_every", "val_clips",
                 "checkpoint_every")
        for name in names:
            if int(getattr(config, name)) < 1:
                raise ValueError(f"`{name}` must be >= 1, got {getattr(config, name)}")
        config._check_model()
        if config.builder is None:
            irm, atb, _ = config.model_switches()
            config = dataclasses.replace(config, irm=irm, atb=atb)
        return config

    def _check_model(self) -> None:
        for name in _SWITCHES:
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise TypeError(
                    f"`{name}` must be True, False or None, got a {type(value).__name__}"
                )
        if self.builder is None:
            if self.builder_kwargs:
                raise ValueError(
                    f"`builder_kwargs` needs `builder`, got {sorted(self.builder_kwargs)} for "
                    f"the zoo model {self.model!r}"
                )
            if self.dtb and self.model not in _DTB_DEFAULT:
                raise ValueError(
                    f"`dtb` applies to gru, lstm and strcnn, got model {self.model!r}"
                )
            return
        if not isinstance(self.builder, str):
            raise TypeError(
                "`builder` must be None or a string 'package.module:function', got a "
                f"{type(self.builder).__name__}"
            )
        if self.model != "gru":
            raise ValueError(
                f"`model` and `builder` name two models ({self.model!r} and {self.builder!r}); "
                "give one of them"
            )
        kwargs = check_builder_kwargs(self.builder_kwargs, "`builder_kwargs`")
        for name in _SWITCHES:
            value = getattr(self, name)
            if value is not None and name in kwargs and kwargs[name] != value:
                raise ValueError(
                    f"`{name}` is {value} but `builder_kwargs` has {name}={kwargs[name]!r}; "
                    "give it once"
                )

    def model_switches(self) -> tuple[bool | None, bool | None, bool | None]:
        """``(irm, atb, dtb)`` as the model gets them (``None``: not passed).

        For a zoo model ``irm`` and ``atb`` left ``None`` become its defaults: IRM on, ATB on
        unless ``dtb=True`` takes its slot (GRU/LSTM). For a builder they stay as given.
        """
        if self.builder is not None:
            return self.irm, self.atb, self.dtb
        irm = True if self.irm is None else self.irm
        atb = self.atb
        if atb is None:
            atb = not (self.dtb and self.model in _ATB_SLOT)
        return irm, atb, self.dtb

    def model_config(self) -> dict[str, Any]:
        """How to rebuild the model, as checkpoints store it (see ``build_from_config``).

        A zoo model's config is the arguments of :func:`~rirn_layers.baselines.build_model`:
        ``{"name": ..., "irm": ..., "atb": ...}``, plus ``dtb`` where it is not the model's
        default or is on, plus ``residual: True`` for GRU/LSTM when the preset asks for it.
        A builder's is ``{"builder": "package.module:function", "kwargs": {...}}``:
        ``builder_kwargs`` plus those of ``irm``, ``atb`` and ``dtb`` that were given.
        """
        irm, atb, dtb = self.model_switches()
        if self.builder is not None:
            kwargs = dict(self.builder_kwargs)
            given = zip(_SWITCHES, (irm, atb, dtb), strict=True)
            kwargs.update({name: value for name, value in given if value is not None})
            return {"builder": self.builder, "kwargs": kwargs}
        config: dict[str, Any] = {"name": self.model, "irm": irm, "atb": atb}
        if dtb is not None and self.model in _DTB_DEFAULT and (dtb or _DTB_DEFAULT[self.model]):
            config["dtb"] = dtb
        if self.residual and self.model in _ATB_SLOT:
            config["residual"] = True
        return config


# -- distributed set-up ------------------------------------------------------------------
@dataclasses.dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    #: ``train`` started the process group (and ends it when the run ends).
    owned: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    def close(self) -> None:
        """Wait for every rank (rank 0 may still be saving), then end our process group."""
        if self.world > 1:
            dist.barrier()
        if self.owned:
            dist.destroy_process_group()


def _init_distributed(device: torch.device) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return _Dist(dist.get_rank(), dist.get_world_size(), local, owned)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# -- data ----------------------------------------------------------------------------------
def _batches(
    dataset: Dataset, config: TrainConfig, ddp: _Dist, start_step: int
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(step, batch)`` from ``start_step`` on; order depends only on seed and step."""
    n = len(dataset)  # type: ignore[arg-type]
    per_step = config.batch_size * ddp.world  # type: ignore[operator]
    steps_per_epoch = max(1, n // per_step)
    step = start_step
    while True:
        epoch, offset = divmod(step, steps_per_epoch)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(config.seed + epoch))
        order = order[: steps_per_epoch * per_step].view(steps_per_epoch, ddp.world, -1)
        mine = order[offset:, ddp.rank].reshape(-1).tolist()
        loader = DataLoader(
            Subset(dataset, mine),
            batch_size=config.batch_size,
            num_workers=config.workers,
            generator=torch.Generator().manual_seed(config.seed),  # keeps the global RNG untouched
        )
        for batch in loader:
            yield step, batch
            step += 1


# -- one optimisation step -----------------------------------------------------------------
def _train_step(
    model: nn.Module,
    blur: torch.Tensor,
    sharp: torch.Tensor,
    config: TrainConfig,
    autocast: torch.autocast,
    scaler: torch.amp.GradScaler,
) -> float:
    """Truncated BPTT over one clip; returns the mean L1 loss. Gradients are accumulated."""
    inner = unwrap_model(model)
    frames = blur.shape[1]
    chunks = range(0, frames, config.chunk)  # type: ignore[arg-type]
    state, done, total = None, 0, 0.0
    for i, start in enumerate(chunks):
        last = i == len(chunks) - 1
        in_sync = last or not hasattr(model, "no_sync")  # DDP: all-reduce on the last chunk only
        with contextlib.nullcontext() if in_sync else model.no_sync():
            with autocast:
                out, state = model(blur[:, start : start + config.chunk], state, final=last)
            target = sharp[:, done : done + out.shape[1]]
            done += out.shape[1]
            loss = (out.float() - target).abs().mean() * out.shape[1] / frames
            if hasattr(inner, "regularization_loss"):
                reg = inner.regularization_loss(state.inner)
                loss = loss + inner.regularization_weight * reg / len(chunks)
            scaler.scale(loss).backward()  # a no-op scale unless fp16 on CUDA
        total += float(loss.detach())
        state = detach_state(state)
    return total


# -- validation ------------------------------------------------------------------------------
@torch.inference_mode()
def _validate(
    model: StreamingDeblurModel, dataset: Dataset, device: torch.device, count: int
) -> tuple[dict[str, float], dict[str, float], tuple[torch.Tensor, ...]]:
    """Mean PSNR/SSIM of the outputs and of the blurry inputs over ``count`` clips."""
    model.eval()
    ours, blurry = MetricTracker(), MetricTracker()
    sample: tuple[torch.Tensor, ...] = ()
    for index in range(min(count, len(dataset))):  # type: ignore[arg-type]
        item = dataset[index]
        blur = item["blur"].unsqueeze(0).to(device)
        sharp = item["sharp"].unsqueeze(0).to(device)
        out, _ = model(blur)
        out = out.float().clamp(0, 1)
        name = f"{item['sequence']}#{index}"
        ours.update(name, out[0].cpu(), sharp[0].cpu())
        blurry.update(name, blur[0].cpu(), sharp[0].cpu())
        if index == 0:
            mid = blur.shape[1] // 2
            sample = (blur[0, mid].cpu(), out[0, mid].cpu(), sharp[0, mid].cpu())
    model.train()
    return ours.means(), blurry.means(), sample


def _progress(total: int, initial: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)


def _tensorboard(out: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"))


# -- graceful stop -------------------------------------------------------------------------
#: The signals that stop a run gracefully (SIGHUP where the platform has it).
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class TrainingInterrupted(KeyboardInterrupt):
    """A signal stopped :func:`train` after a complete step; ``last.pt`` holds that step.

    Attributes:
        signum: the signal's number (``signal.SIGTERM``, ...).
        step: the last completed step, the one ``last.pt`` holds.
        steps: the steps the run was to train.
        checkpoint: the ``last.pt`` written (``None`` on ranks other than 0).
    """

    def __init__(self, signum: int, step: int, steps: int, checkpoint: Path | None) -> None:
        self.signum, self.step, self.steps, self.checkpoint = signum, step, steps, checkpoint
        super().__init__(self.message())

    @property
    def signal_name(self) -> str:
        """The signal's name, e.g. ``"SIGTERM"``."""
        return signal.Signals(self.signum).name

    def message(self) -> str:
        """One line: what stopped the run, where, and how to continue it."""
        saved = f"saved {self.checkpoint}" if self.checkpoint is not None else "saved by rank 0"
        return (
            f"stopped by {self.signal_name} at step {self.step} of {self.steps}; {saved}; "
            "resume with --resume"
        )


class _StopSignals:
    """While entered, record the first stop signal instead of dying; a second one aborts.

    Handlers are installed only in the main thread (``signal.signal`` works only there) and
    not for signals the process ignores (e.g. SIGHUP under ``nohup``). On the first signal
    and on exit the previous handlers are restored, so a second Ctrl-C raises
    ``KeyboardInterrupt`` (SIGTERM/SIGHUP: their default action) at once.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in STOP_SIGNALS:
            if signal.getsignal(sig) is signal.SIG_IGN:
                continue
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except (ValueError, OSError):  # pragma: no cover - e.g. an embedded interpreter
                continue
        return self

    def __exit__(self, *exc: object) -> None:
        self._restore()

    def _handle(self, signum: int, frame: Any) -> None:
        self.signum = signum
        self._restore()

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous.clear()

    def requested(self, ddp: _Dist, device: torch.device) -> int | None:
        """The stop signal, agreed on by all ranks (any rank's signal stops them all)."""
        if ddp.world == 1:
            return self.signum
        flag = torch.tensor([self.signum or 0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item()) or None


# -- the run folder ------------------------------------------------------------------------
#: The files a run writes in ``out`` (``overwrite=True`` removes these and nothing else).
RUN_FILES = ("last.pt", "best.pt", "metrics.jsonl", "config.json", "tensorboard")
#: Run settings that change the model or the schedule: a resume must keep them.
RESUME_FIELDS = (
    "model", "builder", "builder_kwargs", "irm", "atb", "dtb", "residual", "steps", "lr",
    "milestones", "batch_size", "clip_length", "chunk", "crop", "dataset", "seed",
)


def _run_config(config: TrainConfig) -> dict[str, Any]:
    """The resolved config as plain JSON values (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def _check_out(out: Path, config: TrainConfig) -> None:
    """Refuse to start a new run over an existing one, or to resume what is not there."""
    found = [name for name in RUN_FILES[:3] if (out / name).exists()]
    if config.resume and config.overwrite:
        raise ValueError("train: `resume` and `overwrite` are both True; give one of them")
    if config.resume and "last.pt" not in found:
        holds = f"has {', '.join(found)} but no last.pt" if found else "holds no run (no last.pt)"
        raise ValueError(f"train: `resume=True` but `out` {out} {holds}")
    if found and not (config.resume or config.overwrite):
        raise ValueError(
            f"train: `out` {out} already holds a run ({', '.join(found)}); pass resume=True "
            "(--resume) to continue it, overwrite=True (--overwrite) to replace it, or choose "
            "another `out`"
        )


def _prepare_out(out: Path, overwrite: bool) -> None:
    """Create ``out``, remove stale temporary files and, with ``overwrite``, the old run."""
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out, RUN_FILES[:4])
    if not overwrite:
        return
    for name in RUN_FILES:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def _check_run_config(file: Path, stored: Any, current: Mapping[str, Any]) -> None:
    """A resume keeps the model and schedule settings stored in the checkpoint (if any)."""
    if not isinstance(stored, Mapping):  # written before run configs were stored
        return
    stored = json.loads(json.dumps(stored))
    diffs = [
        f"{key}: checkpoint {stored.get(key)!r} vs config {current.get(key)!r}"
        for key in RESUME_FIELDS
        if stored.get(key) != current.get(key)
    ]
    if diffs:
        raise CheckpointError(
            f"train: cannot resume from {file}: {len(diffs)} settings that change the model or "
            f"the schedule differ ({'; '.join(diffs)}); resume with the checkpoint's settings, "
            "or start a new run (overwrite=True or another `out`)"
        )


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop the lines of ``metrics.jsonl`` after ``step`` (a resume logs them again)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:  # a line torn by a kill
            continue
        if isinstance(entry, dict) and int(entry.get("step", 0)) <= step:
            kept.append(line + "\n")
    write_text_atomic(path, "".join(kept))


# -- the loop ----------------------------------------------------------------------------------
@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns: the last validation entry and the trained model."""

    summary: dict[str, Any]
    model: StreamingDeblurModel
    step: int


def _check_instance(config: TrainConfig, model: Any) -> None:
    """``train(config, model=...)``: a StreamingDeblurModel and a config that fits it."""
    if not isinstance(model, StreamingDeblurModel):
        raise TypeError(
            "train: `model` must be a rirn_layers.StreamingDeblurModel, got a "
            f"{type(model).__name__}; wrap your recurrent cell with "
            "rirn_layers.wrap_recurrent_cell and add a decoder with "
            "rirn_layers.RecurrentDeblurNet(wrapped, rirn_layers.Reconstructor(...)), or "
            "subclass rirn_layers.StreamingDeblurModel"
        )
    if config.model != "gru":
        raise ValueError(
            f"train: `config.model` is {config.model!r} but `model` is given; leave "
            "`config.model` at its default when you pass your own model"
        )
    given = [name for name in _SWITCHES if getattr(config, name) is not None]
    if config.builder is None and given:
        raise ValueError(
            f"train: `config.{given[0]}` is set but `model` is used as it is; build the "
            "model with or without the layer yourself, or name its builder in `config.builder`"
        )


def _weight_differences(ours: nn.Module, theirs: nn.Module) -> list[str]:
    mine = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    built = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    return (
        [f"{k} only in `model`" for k in mine if k not in built]
        + [f"{k} only in the builder's model" for k in built if k not in mine]
        + [f"{k}: {mine[k]} vs {built[k]}" for k in mine if k in built and mine[k] != built[k]]
    )


def _make_model(
    config: TrainConfig, model: StreamingDeblurModel | None
) -> tuple[StreamingDeblurModel, dict[str, Any]]:
    """The model to train and the config its checkpoints store."""
    if model is None:
        stored = config.model_config()
        return build_from_config(stored), stored
    if config.builder is None:
        kind = type(model)
        return model, {"builder": None, "model_class": f"{kind.__module__}.{kind.__qualname__}"}
    stored = config.model_config()
    with torch.random.fork_rng(devices=[]):  # the check leaves the run's random numbers alone
        reference = build_from_config(stored)
    differences = _weight_differences(model, reference)
    if differences:
        shown = "; ".join(differences[:5])
        raise ValueError(
            f"train: `model` and the model that `config.builder` {config.builder!r} builds "
            f"from {stored['kwargs']} differ in {len(differences)} weights ({shown}); "
            "checkpoints could not rebuild `model`: pass the `builder_kwargs` that build it"
        )
    return model, stored


def train(config: TrainConfig, model: StreamingDeblurModel | None = None) -> TrainResult:
    """Train as ``config`` says; the validation summaries also go to ``metrics.jsonl``.

    ``last.pt`` is written every ``checkpoint_every`` steps (default: at each validation,
    ``val_every``), ``best.pt`` at validations that improve the PSNR, and ``config.json``
    (the resolved config, also stored in the checkpoints) at the start.

    Args:
        config: the run; its model is built from ``config.builder`` or the zoo's
            ``config.model`` unless ``model`` is given.
        model: your own model, trained in place (moved to the run's device). Without
            ``config.builder`` its checkpoints store only its class name: reload them with
            ``load_checkpoint(path, model=...)`` into a model you rebuild. With
            ``config.builder`` they store the builder's config, so
            :func:`~rirn_layers.train.model_from_checkpoint` and the example scripts rebuild
            it; the builder is called once here to check that it builds a model with the
            same weight names and shapes.

    Returns:
        A :class:`TrainResult`: the last validation entry, the trained model and the step.

    Raises:
        TypeError: ``model`` is not a StreamingDeblurModel, or a config field of the wrong
            type.
        ValueError: a config value out of range, ``model`` given with ``config.model``,
            ``irm``/``atb``/``dtb`` without a builder, or a builder whose model differs from
            ``model``.
            A folder ``out`` that holds a run (``last.pt``, ``best.pt`` or
            ``metrics.jsonl``) unless ``resume=True`` or ``overwrite=True``, and
            ``resume=True`` with no ``last.pt`` there.
        CheckpointError: ``resume=True`` with a ``last.pt`` of another model, or of a run
            with other model or schedule settings (:data:`RESUME_FIELDS`).
        TrainingInterrupted: SIGINT, SIGTERM or SIGHUP arrived; the step under way was
            finished and saved to ``last.pt`` (``best.pt`` is kept as it was), the logs were
            closed. A second signal aborts at once. The handlers are installed only while
            ``train`` runs and only in the main thread (elsewhere signals act as before).
            Under ``torchrun`` the ranks agree on the stop every step (one all-reduce).
    """
    if model is not None:
        _check_instance(config, model)
    config = config.resolved()
    _check_out(Path(config.out), config)  # every rank, before any of them writes
    with _StopSignals() as stop:
        return _run(config, model, stop)


def _run(
    config: TrainConfig, model: StreamingDeblurModel | None, stop: _StopSignals
) -> TrainResult:
    """The body of :func:`train` for a resolved, checked ``config``."""
    device = _device(config.device)
    ddp = _init_distributed(device)
    if device.type == "cuda":
        device = torch.device("cuda", ddp.local_rank)
        torch.cuda.set_device(device)
    out = Path(config.out)
    if ddp.main:
        _prepare_out(out, config.overwrite)
    torch.manual_seed(config.seed)
    run_config = _run_config(config)

    model, model_config = _make_model(config, model)
    model = model.to(device)
    if config.checkpointing:
        model.set_checkpointing(True)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    milestones = [int(m * config.steps) for m in config.milestones]  # type: ignore[operator,union-attr]
    # MultiStepLR's state holds a Counter, which weights_only checkpoints refuse; a LambdaLR
    # with the same multi-step rule stores plain numbers.
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.1 ** sum(step >= m for m in milestones)
    )

    start, best = 0, -math.inf
    if config.resume:
        checkpoint = load_checkpoint(
            out / "last.pt", model=model, optimizer=optimizer, scheduler=scheduler,
            config=model_config,
        )
        extra = checkpoint.get("extra") or {}
        _check_run_config(out / "last.pt", extra.get("run_config"), run_config)
        start = int(checkpoint["step"])
        best = float(extra.get("best_psnr", -math.inf))
    if ddp.main:
        write_text_atomic(out / "config.json", json.dumps(run_config, indent=2) + "\n")
        if config.resume:
            _truncate_metrics(out / "metrics.jsonl", start)

    options: dict[str, Any] = {}
    if config.dataset == "synthetic" and config.synthetic_speed is not None:
        options["speed"] = tuple(config.synthetic_speed)
    train_set = build_dataset(config.dataset, config.data_root, split="train",
                              clip_length=config.clip_length, crop=config.crop, seed=config.seed,
                              **options)
    val_set = build_dataset(config.dataset, config.data_root, split="val",
                            clip_length=config.clip_length, crop=config.val_crop, seed=config.seed,
                            **options)

    runner: nn.Module = model
    if ddp.world > 1:
        runner = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if config.compile:
        runner = torch.compile(runner)
    use_amp = device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp and amp_dtype == torch.float16)

    log = None
    writer = None
    if ddp.main:
        log = (out / "metrics.jsonl").open("a")
        writer = _tensorboard(out) if config.log_images else None
    bar = _progress(config.steps, start, config.progress and ddp.main)  # type: ignore[arg-type]

    def record(entry: dict[str, Any]) -> None:
        if log is not None:
            log.write(json.dumps(entry) + "\n")
            log.flush()

    def save_last(step: int, extra: dict[str, Any]) -> None:
        save_checkpoint(out / "last.pt", model=model, optimizer=optimizer, scheduler=scheduler,
                        step=step, config=model_config,
                        extra={**extra, "run_config": run_config})

    summary: dict[str, Any] = {}
    done = saved = start  # the last step trained, and the one last.pt holds
    signum: int | None = None
    model.train()
    tic, seen = time.perf_counter(), 0
    try:
        for step, batch in _batches(train_set, config, ddp, start):
            end = config.steps if config.stop_at is None else min(config.steps, config.stop_at)
            if step >= end:  # type: ignore[operator]
                break
            blur = batch["blur"].to(device, non_blocking=True)
            sharp = batch["sharp"].to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            autocast = torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp)
            loss = _train_step(runner, blur, sharp, config, autocast, scaler)
            if not math.isfinite(loss):  # before the update: last.pt keeps the last good step
                saved = done  # write no checkpoint of the diverged run
                raise FloatingPointError(
                    f"training loss is {loss} at step {step + 1} (the model diverged); "
                    f"{out / 'last.pt'} keeps the last checkpoint written; try a lower lr than "
                    f"{config.lr}"
                )
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            seen += blur.shape[0] * blur.shape[1] * ddp.world
            done = step + 1
            if bar is not None:
                rate = seen / (time.perf_counter() - tic)
                bar.set_postfix(loss=f"{loss:.4f}", frames_per_s=f"{rate:.1f}")
                bar.update(1)
            record({"step": done, "loss": loss, "lr": scheduler.get_last_lr()[0]})
            if writer is not None:
                writer.add_scalar("train/loss", loss, done)
            if done % config.val_every == 0 or done == config.steps:  # type: ignore[operator]
                if ddp.main:
                    ours, blurry, sample = _validate(model, val_set, device, config.val_clips)
                    entry = {"step": done, "val_psnr": ours["psnr"], "val_ssim": ours["ssim"],
                             "blur_psnr": blurry["psnr"], "blur_ssim": blurry["ssim"]}
                    record(entry)
                    summary = entry
                    if writer is not None:
                        writer.add_scalar("val/psnr", ours["psnr"], done)
                        writer.add_scalar("val/ssim", ours["ssim"], done)
                        writer.add_image("val/blur|output|sharp", torch.cat(sample, dim=-1),
                                         done)
                    save_last(done, {"best_psnr": max(best, ours["psnr"]), **entry})
                    saved = done
                    if ours["psnr"] > best:
                        best = ours["psnr"]
                        copy_checkpoint(out / "last.pt", out / "best.pt")
                if ddp.world > 1:
                    dist.barrier()
            elif done % config.checkpoint_every == 0 and ddp.main:  # type: ignore[operator]
                save_last(done, {"best_psnr": best, **summary})
                saved = done
            signum = stop.requested(ddp, device)
            if signum is not None:
                break
        if ddp.main and done != saved:
            save_last(done, {"best_psnr": best, **summary})
        ddp.close()  # no rank leaves (and makes torchrun stop the others) before the save
    finally:
        for closable in (bar, log, writer):
            if closable is not None:
                closable.close()
    if signum is not None and done < config.steps:  # type: ignore[operator]
        checkpoint = out / "last.pt" if ddp.main else None
        raise TrainingInterrupted(signum, done, config.steps, checkpoint)  # type: ignore[arg-type]
    return TrainResult(summary, model, done)
