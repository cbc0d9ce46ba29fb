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

The configuration types, :class:`TrainConfig` (given) and :class:`RunConfig` (resolved), live
in :mod:`rirn_layers.train.config` and are re-exported here.
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
from collections.abc import Generator, Mapping, Sized
from pathlib import Path
from typing import Any, cast

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from rirn_layers.data import build_dataset
from rirn_layers.model import StreamingDeblurModel
from rirn_layers.train.builders import build_from_config
from rirn_layers.train.checkpoint import (
    CheckpointError,
    copy_checkpoint,
    load_checkpoint,
    remove_stale_temps,
    save_checkpoint,
    unwrap_model,
    write_text_atomic,
)
from rirn_layers.train.config import PRESETS, SWITCHES, RunConfig, TrainConfig
from rirn_layers.train.metrics import MetricTracker
from rirn_layers.wrap import detach_state

__all__ = ["PRESETS", "RunConfig", "TrainConfig", "TrainResult", "TrainingInterrupted", "train"]


# -- distributed set-up ------------------------------------------------------------------
@dataclasses.dataclass
class _Dist:
    """This process's place in a ``torchrun`` launch (one rank of one: not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    #: ``train`` started the process group (and ends it when the run ends).
    owned: bool = False

    @property
    def main(self) -> bool:
        """Rank 0, the one that logs and checkpoints."""
        return self.rank == 0

    def close(self) -> None:
        """Wait for every rank (rank 0 may still be saving), then end our process group."""
        if self.world > 1:
            dist.barrier()
        self.release()

    def release(self) -> None:
        """End the process group if ``train`` started it; no barrier (after an error)."""
        if self.owned and dist.is_initialized():
            dist.destroy_process_group()
        self.owned = False


def _init_distributed(device: torch.device) -> _Dist:
    """Join the process group that ``torchrun``'s environment describes (started if none)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return _Dist(dist.get_rank(), dist.get_world_size(), local, owned)


def _device(name: str) -> torch.device:
    """``"auto"``: CUDA if present, else CPU; any other name as torch spells it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _open_device(config: RunConfig, stack: contextlib.ExitStack) -> tuple[torch.device, _Dist]:
    """The run's device and process group; ``stack`` ends the group on any way out."""
    device = _device(config.device)
    ddp = _init_distributed(device)
    stack.callback(ddp.release)  # a no-op after ddp.close()
    if device.type == "cuda":
        device = torch.device("cuda", ddp.local_rank)
        torch.cuda.set_device(device)
    return device, ddp


# -- data ----------------------------------------------------------------------------------
def _datasets(config: RunConfig) -> tuple[Dataset[Any], Dataset[Any]]:
    """The training and validation sets of ``config``."""
    options: dict[str, Any] = {}
    if config.dataset == "synthetic" and config.synthetic_speed is not None:
        options["speed"] = tuple(config.synthetic_speed)
    common = {"clip_length": config.clip_length, **options}
    train_set = build_dataset(config.dataset, config.data_root, split="train",
                              crop=config.crop, seed=config.seed, **common)
    val_set = build_dataset(config.dataset, config.data_root, split="val",
                            crop=config.val_crop, seed=config.val_seed, **common)
    return train_set, val_set


def _batches(
    dataset: Dataset[Any], config: RunConfig, ddp: _Dist, start_step: int
) -> Generator[tuple[int, dict[str, Any]], None, None]:
    """Yield ``(step, batch)`` from ``start_step`` on; order depends only on seed and step."""
    n = len(cast(Sized, dataset))
    per_step = config.batch_size * ddp.world
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


# -- the model and its optimisation --------------------------------------------------------
@dataclasses.dataclass
class _Run:
    """What a run trains with, set up once by :func:`_set_up`."""

    config: RunConfig
    device: torch.device
    ddp: _Dist
    out: Path
    model: StreamingDeblurModel
    model_config: dict[str, Any]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    runner: nn.Module = dataclasses.field(init=False)  # the model as trained (DDP, compiled)
    amp_dtype: torch.dtype = torch.float16
    scaler: torch.amp.GradScaler = dataclasses.field(init=False)

    @property
    def use_amp(self) -> bool:
        """Mixed precision: on CUDA."""
        return self.device.type == "cuda"

    @property
    def run_config(self) -> dict[str, Any]:
        """The run configuration as ``config.json`` and the checkpoints store it."""
        return self.config.as_json()

    def autocast(self) -> torch.autocast:
        """A fresh autocast context for one step (a no-op off CUDA)."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp)

    def save_last(self, step: int, extra: dict[str, Any]) -> None:
        """Write ``last.pt`` at ``step``, with ``extra`` and the run config."""
        save_checkpoint(self.out / "last.pt", model=self.model, optimizer=self.optimizer,
                        scheduler=self.scheduler, step=step, config=self.model_config,
                        extra={**extra, "run_config": self.run_config})


def _optimizer(
    model: nn.Module, config: RunConfig
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """Adam and the multi-step learning-rate schedule of ``config``."""
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    milestones = [int(m * config.steps) for m in config.milestones]
    # MultiStepLR's state holds a Counter, which weights_only checkpoints refuse; a LambdaLR
    # with the same multi-step rule stores plain numbers.
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.1 ** sum(step >= m for m in milestones)
    )
    return optimizer, scheduler


def _set_up(
    config: RunConfig, model: StreamingDeblurModel | None, stack: contextlib.ExitStack
) -> _Run:
    """Device, process group, run folder, model and optimizer (RNG use as in every version)."""
    device, ddp = _open_device(config, stack)
    out = Path(config.out)
    if ddp.main:
        _prepare_out(out, config.overwrite)
    torch.manual_seed(config.seed)
    model, model_config = _make_model(config, model)
    model = model.to(device)
    if config.checkpointing:
        model.set_checkpointing(True)
    optimizer, scheduler = _optimizer(model, config)
    return _Run(config, device, ddp, out, model, model_config, optimizer, scheduler)


def _prepare_runner(run: _Run) -> None:
    """Wrap the model for DDP and ``torch.compile``; choose the mixed precision."""
    run.runner = run.model
    if run.ddp.world > 1:
        ids = [run.device.index] if run.device.type == "cuda" else None
        run.runner = nn.parallel.DistributedDataParallel(run.model, device_ids=ids)
    if run.config.compile:
        run.runner = cast(nn.Module, torch.compile(run.runner))
    if run.use_amp and torch.cuda.is_bf16_supported():
        run.amp_dtype = torch.bfloat16
    fp16 = run.use_amp and run.amp_dtype == torch.float16
    run.scaler = torch.amp.GradScaler(run.device.type, enabled=fp16)


def _train_step(
    model: nn.Module,
    blur: torch.Tensor,
    sharp: torch.Tensor,
    config: RunConfig,
    autocast: torch.autocast,
    scaler: torch.amp.GradScaler,
) -> float:
    """Truncated BPTT over one clip; returns the mean L1 loss. Gradients are accumulated."""
    inner: Any = unwrap_model(model)  # regularization_loss: IFI-RNN's, where it has one
    frames = blur.shape[1]
    chunks = range(0, frames, config.chunk)
    state, done, total = None, 0, 0.0
    for i, start in enumerate(chunks):
        last = i == len(chunks) - 1
        in_sync = last or not hasattr(model, "no_sync")  # DDP: all-reduce on the last chunk only
        with contextlib.nullcontext() if in_sync else cast(Any, model).no_sync():
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
    model: StreamingDeblurModel, dataset: Dataset[Any], device: torch.device, count: int
) -> tuple[dict[str, float], dict[str, float], tuple[torch.Tensor, ...]]:
    """Mean PSNR/SSIM of the outputs and of the blurry inputs over ``count`` clips."""
    model.eval()
    ours, blurry = MetricTracker(), MetricTracker()
    sample: tuple[torch.Tensor, ...] = ()
    for index in range(min(count, len(cast(Sized, dataset)))):
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


# -- logging ---------------------------------------------------------------------------------
def _progress(total: int, initial: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # the bar is a nicety: no tqdm, no bar
        return None
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)


def _tensorboard(out: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # TensorBoard is optional: metrics.jsonl has the numbers
        return None
    return SummaryWriter(str(out / "tensorboard"))


class _Logs:
    """``metrics.jsonl``, TensorBoard and the progress bar of a run (rank 0 only).

    A context manager: every one of them is closed on the way out, whatever the way.
    """

    def __init__(self, run: _Run, start: int) -> None:
        config, main = run.config, run.ddp.main
        self._stack = contextlib.ExitStack()
        try:
            self.log = self._enter((run.out / "metrics.jsonl").open("a") if main else None)
            self.writer = self._enter(
                _tensorboard(run.out) if main and config.log_images else None
            )
            self.bar = self._enter(_progress(config.steps, start, config.progress and main))
        except BaseException:
            self._stack.close()
            raise
        self._tic, self._seen = time.perf_counter(), 0

    def _enter(self, closable: Any) -> Any:
        if closable is not None:
            self._stack.callback(closable.close)
        return closable

    def __enter__(self) -> _Logs:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def record(self, entry: dict[str, Any]) -> None:
        """Append ``entry`` to ``metrics.jsonl`` (flushed: a kill loses no line)."""
        if self.log is not None:
            self.log.write(json.dumps(entry) + "\n")
            self.log.flush()

    def step(self, step: int, loss: float, lr: float, frames: int) -> None:
        """Log one training step of ``frames`` frames (all ranks)."""
        self._seen += frames
        if self.bar is not None:
            rate = self._seen / (time.perf_counter() - self._tic)
            self.bar.set_postfix(loss=f"{loss:.4f}", frames_per_s=f"{rate:.1f}")
            self.bar.update(1)
        self.record({"step": step, "loss": loss, "lr": lr})
        if self.writer is not None:
            self.writer.add_scalar("train/loss", loss, step)

    def validation(self, entry: dict[str, Any], sample: tuple[torch.Tensor, ...]) -> None:
        """Log a validation entry and its blur|output|sharp grid."""
        self.record(entry)
        if self.writer is not None:
            step = entry["step"]
            self.writer.add_scalar("val/psnr", entry["val_psnr"], step)
            self.writer.add_scalar("val/ssim", entry["val_ssim"], step)
            self.writer.add_image("val/blur|output|sharp", torch.cat(sample, dim=-1), step)


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


def _check_out(out: Path, config: RunConfig) -> None:
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


def _resume(run: _Run) -> tuple[int, float]:
    """Load ``last.pt`` into the run (resume) and write ``config.json``: ``(step, best PSNR)``."""
    start, best = 0, -math.inf
    if run.config.resume:
        file = run.out / "last.pt"
        checkpoint = load_checkpoint(file, model=run.model, optimizer=run.optimizer,
                                     scheduler=run.scheduler, config=run.model_config)
        extra = checkpoint.get("extra") or {}
        _check_run_config(file, extra.get("run_config"), run.run_config)
        start = int(checkpoint["step"])
        best = float(extra.get("best_psnr", -math.inf))
    if run.ddp.main:
        text = json.dumps(run.run_config, indent=2) + "\n"
        write_text_atomic(run.out / "config.json", text)
        if run.config.resume:
            _truncate_metrics(run.out / "metrics.jsonl", start)
    return start, best


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


def _check_instance(config: TrainConfig | RunConfig, model: Any) -> None:
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
    given = [name for name in SWITCHES if getattr(config, name) is not None]
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
    config: RunConfig, model: StreamingDeblurModel | None
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


def train(
    config: TrainConfig | RunConfig, model: StreamingDeblurModel | None = None
) -> TrainResult:
    """Train as ``config`` says; the validation summaries also go to ``metrics.jsonl``.

    ``last.pt`` is written every ``checkpoint_every`` steps (default: at each validation,
    ``val_every``), ``best.pt`` at validations that improve the PSNR, and ``config.json``
    (the resolved config, :class:`RunConfig`, also stored in the checkpoints) at the start.
    The log files, the TensorBoard writer, the progress bar and a process group that
    ``train`` started are closed however it ends.

    Args:
        config: the run (a :class:`TrainConfig`, or the :class:`RunConfig` it resolves to);
            its model is built from ``config.builder`` or the zoo's
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
            ``irm``/``atb``/``dtb`` without a builder, an option the zoo model does not
            take, or a builder whose model differs from ``model``.
            A folder ``out`` that holds a run (``last.pt``, ``best.pt`` or
            ``metrics.jsonl``) unless ``resume=True`` or ``overwrite=True``, and
            ``resume=True`` with no ``last.pt`` there.
        CheckpointError: ``resume=True`` with a ``last.pt`` of another model, or of a run
            with other model or schedule settings (:data:`RESUME_FIELDS`).
        FloatingPointError: the loss is not finite (the model diverged); ``last.pt`` keeps
            the last checkpoint written before.
        TrainingInterrupted: SIGINT, SIGTERM or SIGHUP arrived; the step under way was
            finished and saved to ``last.pt`` (``best.pt`` is kept as it was), the logs were
            closed. A second signal aborts at once. The handlers are installed only while
            ``train`` runs and only in the main thread (elsewhere signals act as before).
            Under ``torchrun`` the ranks agree on the stop every step (one all-reduce).
    """
    if model is not None:
        _check_instance(config, model)
    run_config = config.resolved()
    _check_out(Path(run_config.out), run_config)  # every rank, before any of them writes
    with _StopSignals() as stop:
        return _run(run_config, model, stop)


@dataclasses.dataclass
class _Position:
    """Where a run stands: the steps trained and saved, the best PSNR, the last validation."""

    done: int  # the last step trained
    saved: int  # the step last.pt holds
    best: float
    summary: dict[str, Any] = dataclasses.field(default_factory=dict)


def _run(config: RunConfig, model: StreamingDeblurModel | None, stop: _StopSignals) -> TrainResult:
    """The body of :func:`train` for a resolved, checked ``config``."""
    with contextlib.ExitStack() as stack:
        run = _set_up(config, model, stack)
        start, best = _resume(run)
        train_set, val_set = _datasets(config)
        _prepare_runner(run)
        logs = stack.enter_context(_Logs(run, start))
        position = _Position(done=start, saved=start, best=best)
        signum = _train_steps(run, logs, position, stop, (train_set, val_set))
        if run.ddp.main and position.done != position.saved:
            run.save_last(position.done, {"best_psnr": position.best, **position.summary})
        run.ddp.close()  # no rank leaves (and makes torchrun stop the others) before the save
    if signum is not None and position.done < config.steps:
        checkpoint = run.out / "last.pt" if run.ddp.main else None
        raise TrainingInterrupted(signum, position.done, config.steps, checkpoint)
    return TrainResult(position.summary, run.model, position.done)


def _train_steps(
    run: _Run,
    logs: _Logs,
    position: _Position,
    stop: _StopSignals,
    data: tuple[Dataset[Any], Dataset[Any]],
) -> int | None:
    """Train from ``position.done`` to the end of the run; the stop signal, if one came."""
    run.model.train()
    batches = _batches(data[0], run.config, run.ddp, position.done)
    with contextlib.closing(batches):  # ends the loader's workers on any way out
        for step, batch in batches:
            if step >= run.config.end:
                break
            _optimise(run, logs, step, batch)
            position.done = step + 1
            _validate_or_save(run, logs, position, data[1])
            signum = stop.requested(run.ddp, run.device)
            if signum is not None:
                return signum
    return None


def _optimise(run: _Run, logs: _Logs, step: int, batch: dict[str, Any]) -> None:
    """One optimizer step on ``batch`` (step ``step + 1``), logged."""
    blur = batch["blur"].to(run.device, non_blocking=True)
    sharp = batch["sharp"].to(run.device, non_blocking=True)
    run.optimizer.zero_grad(set_to_none=True)
    loss = _train_step(run.runner, blur, sharp, run.config, run.autocast(), run.scaler)
    if not math.isfinite(loss):  # before the update: last.pt keeps the last good step
        raise FloatingPointError(
            f"training loss is {loss} at step {step + 1} (the model diverged); "
            f"{run.out / 'last.pt'} keeps the last checkpoint written; try a lower lr than "
            f"{run.config.lr}"
        )
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.scheduler.step()
    frames = blur.shape[0] * blur.shape[1] * run.ddp.world
    logs.step(step + 1, loss, float(run.scheduler.get_last_lr()[0]), frames)


def _validate_or_save(
    run: _Run, logs: _Logs, position: _Position, val_set: Dataset[Any]
) -> None:
    """Validate (and checkpoint) at ``val_every`` and at the end, else checkpoint if due."""
    done, config = position.done, run.config
    if done % config.val_every == 0 or done == config.steps:
        if run.ddp.main:
            _validate_and_save(run, logs, position, val_set)
        if run.ddp.world > 1:
            dist.barrier()
    elif done % config.checkpoint_every == 0 and run.ddp.main:
        run.save_last(done, {"best_psnr": position.best, **position.summary})
        position.saved = done


def _validate_and_save(
    run: _Run, logs: _Logs, position: _Position, val_set: Dataset[Any]
) -> None:
    """Validate, log, write ``last.pt`` and, when the PSNR improved, ``best.pt`` (rank 0)."""
    done = position.done
    ours, blurry, sample = _validate(run.model, val_set, run.device, run.config.val_clips)
    entry = {"step": done, "val_psnr": ours["psnr"], "val_ssim": ours["ssim"],
             "blur_psnr": blurry["psnr"], "blur_ssim": blurry["ssim"]}
    logs.validation(entry, sample)
    position.summary = entry
    run.save_last(done, {"best_psnr": max(position.best, ours["psnr"]), **entry})
    position.saved = done
    if ours["psnr"] > position.best:
        position.best = ours["psnr"]
        copy_checkpoint(run.out / "last.pt", run.out / "best.pt")
