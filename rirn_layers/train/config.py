"""A training run's configuration: :class:`TrainConfig` as given, :class:`RunConfig` as run.

:class:`TrainConfig` is the public input (``TrainConfig(model="lstm", steps=100)``, the
command line of ``examples/train_gru_rirn.py``): its fields left ``None`` take a preset's
values (:data:`PRESETS`). :meth:`TrainConfig.resolved` fills and checks them and returns a
frozen :class:`RunConfig` whose counts, sizes and rates are all concrete; that is what
:func:`rirn_layers.train.loop.train` runs, writes to ``config.json`` and stores in its
checkpoints. Which model takes which option is read from the model's own builder
(:mod:`rirn_layers.train.builders`), not listed here.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from rirn_layers._checks import check_bool, check_float, check_int
from rirn_layers.train.builders import (
    SHARED_BLEND_SLOT,
    check_builder_kwargs,
    check_zoo_option,
    zoo_model_config,
)

__all__ = ["PRESETS", "SWITCHES", "RunConfig", "TrainConfig"]

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

#: The layer switches of a model: IRM, ATB and DTB.
SWITCHES = ("irm", "atb", "dtb")
#: Fields that count steps or clips: ints >= 1 once resolved.
_COUNTS = ("steps", "batch_size", "clip_length", "chunk", "val_every", "val_clips",
           "checkpoint_every")
#: Fields that are True or False.
_FLAGS = ("resume", "overwrite", "compile", "checkpointing", "residual", "log_images", "progress")


def _model_config(
    config: TrainConfig | RunConfig, switches: tuple[bool | None, ...]
) -> dict[str, Any]:
    """How to rebuild the model of ``config`` with ``(irm, atb, dtb)`` as given."""
    if config.builder is None:
        irm, atb, dtb = switches
        return zoo_model_config(config.model, irm=irm, atb=atb, dtb=dtb,
                                residual=config.residual)
    kwargs = dict(config.builder_kwargs)
    given = zip(SWITCHES, switches, strict=True)
    kwargs.update({name: value for name, value in given if value is not None})
    return {"builder": config.builder, "kwargs": kwargs}


@dataclasses.dataclass
class TrainConfig:
    """Everything a run depends on; preset values fill the fields left as ``None``.

    The model is a zoo model, ``model`` (a name of
    :func:`~rirn_layers.baselines.available_models`), or your own: ``builder``, a function
    named ``"package.module:function"`` and called with ``builder_kwargs`` (see
    :mod:`rirn_layers.train.builders`), or an instance passed as ``train(config, model=...)``.

    ``irm``, ``atb`` and ``dtb`` left ``None`` are a zoo model's defaults: IRM and ATB on (ATB
    off when ``dtb=True`` takes its slot in GRU/LSTM), DTB as the model has it (on in
    STRCNN, where ``dtb=False`` removes it; off elsewhere). ``dtb=True`` for a zoo model whose
    builder takes no ``dtb`` is refused. For a builder they are added to its keyword
    arguments only when given, so a builder that takes them can be ablated (one that does
    not is refused when it is built). ``residual`` goes to the zoo models the preset is
    tuned for (:data:`~rirn_layers.train.builders.PRESET_OPTIONS`: GRU and LSTM).

    :meth:`resolved` turns it into the :class:`RunConfig` the loop runs.
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
    val_seed: int | None = None  # of the validation set (a rendered one differs per seed); =seed
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

    def resolved(self) -> RunConfig:
        """The run configuration: the preset's values in every field left ``None``, checked.

        For a zoo model ``irm`` and ``atb`` left ``None`` become the model's defaults too
        (:meth:`model_switches`); ``checkpoint_every`` left ``None`` becomes ``val_every``.

        Raises:
            ValueError: an unknown preset, a count below 1, or model settings that do not
                fit together (see :class:`TrainConfig`).
            TypeError: a field of the wrong type (e.g. ``steps=2.5`` or ``irm=1``).
        """
        if self.preset not in PRESETS:
            raise ValueError(f"`preset` must be one of {sorted(PRESETS)}, got {self.preset!r}")
        self._check_model()
        merged = dataclasses.asdict(self)
        for name, value in PRESETS[self.preset].items():
            if merged[name] is None:
                merged[name] = value
        if merged["val_seed"] is None:
            merged["val_seed"] = merged["seed"]
        if merged["checkpoint_every"] is None:
            merged["checkpoint_every"] = merged["val_every"]
        if self.builder is None:
            merged["irm"], merged["atb"], _ = self.model_switches()
        return RunConfig(**_checked_values(merged))

    def _check_model(self) -> None:
        """The model fields fit together: switches are bools, a builder is named once."""
        for name in SWITCHES:
            if getattr(self, name) is not None:
                check_bool("TrainConfig", name, getattr(self, name))
        if self.builder is None:
            if self.builder_kwargs:
                raise ValueError(
                    f"`builder_kwargs` needs `builder`, got {sorted(self.builder_kwargs)} for "
                    f"the zoo model {self.model!r}"
                )
            if self.dtb:  # dtb=False asks for no DTB, which every model can do
                check_zoo_option("TrainConfig", self.model, "dtb", self.dtb)
            return
        self._check_builder()

    def _check_builder(self) -> None:
        """A builder: named by a string, not with ``model``, each switch given once."""
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
        for name in SWITCHES:
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
            atb = not (self.dtb and self.model in SHARED_BLEND_SLOT)
        return irm, atb, self.dtb

    def model_config(self) -> dict[str, Any]:
        """How to rebuild the model, as checkpoints store it (see ``build_from_config``).

        A zoo model's config is the arguments of :func:`~rirn_layers.baselines.build_model`:
        ``{"name": ..., "irm": ..., "atb": ...}``, plus ``dtb`` where it is not the model's
        default or is on, plus ``residual: True`` for GRU/LSTM when the preset asks for it
        (:func:`~rirn_layers.train.builders.zoo_model_config`).
        A builder's is ``{"builder": "package.module:function", "kwargs": {...}}``:
        ``builder_kwargs`` plus those of ``irm``, ``atb`` and ``dtb`` that were given.
        """
        return _model_config(self, self.model_switches())


def _checked_values(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with the counts, flags, learning rate and milestones checked."""
    for name in _COUNTS:
        check_int("TrainConfig", name, values[name], 1)
    check_int("TrainConfig", "seed", values["seed"])
    check_int("TrainConfig", "val_seed", values["val_seed"])
    check_int("TrainConfig", "workers", values["workers"], 0)
    if values["stop_at"] is not None:
        check_int("TrainConfig", "stop_at", values["stop_at"], 0)
    for name in _FLAGS:
        check_bool("TrainConfig", name, values[name])
    check_float("TrainConfig", "lr", values["lr"], 0.0)
    milestones = values["milestones"]
    if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
        raise ValueError(f"TrainConfig: `milestones` must be fractions of `steps`, got "
                         f"{milestones!r}")
    values["milestones"] = tuple(check_float("TrainConfig", "milestones", m) for m in milestones)
    return values


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A resolved, checked :class:`TrainConfig`: what :func:`train` runs and stores.

    Made by :meth:`TrainConfig.resolved`; its fields are those of :class:`TrainConfig` with
    the preset's values filled in, so every count, size and rate is concrete. ``None`` is
    left only where it means something: no builder, no data root, no validation crop, the
    dataset's own speeds, no ``stop_at``, and (for a builder) a switch that is not passed.
    Checkpoints and ``config.json`` store it as a JSON object (:meth:`as_json`).
    """

    model: str
    builder: str | None
    builder_kwargs: dict[str, Any]
    irm: bool | None
    atb: bool | None
    dtb: bool | None
    dataset: str
    data_root: str | None
    preset: str
    out: str
    resume: bool
    overwrite: bool
    seed: int
    val_seed: int
    device: str
    compile: bool
    checkpointing: bool
    workers: int
    steps: int
    batch_size: int
    clip_length: int
    chunk: int
    crop: int
    lr: float
    milestones: tuple[float, ...]
    val_every: int
    checkpoint_every: int
    val_clips: int
    val_crop: int | None
    residual: bool
    synthetic_speed: tuple[float, float] | None
    log_images: bool
    progress: bool
    stop_at: int | None

    def resolved(self) -> RunConfig:
        """Itself, checked again (e.g. after a ``dataclasses.replace``)."""
        return TrainConfig(**dataclasses.asdict(self)).resolved()

    def model_switches(self) -> tuple[bool | None, bool | None, bool | None]:
        """``(irm, atb, dtb)`` as the model gets them (:meth:`TrainConfig.model_switches`)."""
        return self.irm, self.atb, self.dtb

    @property
    def end(self) -> int:
        """The step the run stops after: ``steps``, or ``stop_at`` when that comes first."""
        return self.steps if self.stop_at is None else min(self.steps, self.stop_at)

    def model_config(self) -> dict[str, Any]:
        """How to rebuild the model, as checkpoints store it (:meth:`TrainConfig.model_config`)."""
        return _model_config(self, self.model_switches())

    def as_json(self) -> dict[str, Any]:
        """The fields as plain JSON values (tuples become lists), as ``config.json`` holds them."""
        plain: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(self)))
        return plain
