"""Your own model in every tool: a builder function named by ``"package.module:function"``.

A *builder* is any function that returns a :class:`~rirn_layers.model.StreamingDeblurModel`
from plain keyword arguments, e.g. ``build(width=16, irm=True, atb=True)`` in a file
``mymodels.py``. Training with ``TrainConfig(builder="mymodels:build", builder_kwargs=...)``
(or ``examples/train_gru_rirn.py --builder mymodels:build``) stores in every checkpoint the
model config ``{"builder": "mymodels:build", "kwargs": {...}}`` instead of a model-zoo
config ``{"name": "gru", "irm": True, ...}``; :func:`build_from_config` rebuilds either kind,
so evaluation, deblurring, inspection, ablation and export open the checkpoint as they open
a zoo model's.

The module is imported by its name, as ``python -m`` does: it must be importable, i.e. on
``sys.path`` (an installed package, ``PYTHONPATH``) or a file in the current directory. When
the import finds no module of that name and the current directory is not on ``sys.path``
(e.g. a script run as ``python examples/evaluate.py`` puts ``examples/`` there, not the
current directory), the current directory is put first on ``sys.path`` and the import is
tried once more (as uvicorn's ``--app-dir`` does); it stays there when that succeeds.

Importing a module runs its top-level code: only load checkpoints whose builder module you
trust. The weights themselves are still read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from rirn_layers.model import StreamingDeblurModel

__all__ = [
    "PRESET_OPTIONS",
    "SHARED_BLEND_SLOT",
    "build_from_config",
    "check_builder_kwargs",
    "check_zoo_option",
    "json_kwargs",
    "model_name",
    "resolve_builder",
    "zoo_model_config",
    "zoo_options",
]

_JSON_LEAVES = (str, int, float, bool, type(None))
#: Zoo models in which DTB takes ATB's slot (their builders refuse ``atb=True, dtb=True``):
#: there ``dtb=True`` turns ATB's default off. A signature cannot tell this, so it is declared.
SHARED_BLEND_SLOT = frozenset({"gru", "lstm"})
#: Options a training preset sets for every run, and the zoo models it is tuned for: only
#: those get it, the others keep their builder's default even when they take the option
#: (the demo preset's ``residual=True`` is for GRU/LSTM, not for IFI-RNN's port).
PRESET_OPTIONS: dict[str, frozenset[str]] = {"residual": frozenset({"gru", "lstm"})}
_BUILDER_KEYS = frozenset({"builder", "kwargs"})


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__


def _misses(err: ModuleNotFoundError, module_name: str) -> bool:
    """Whether ``err`` is about ``module_name`` itself (or a package above it)."""
    missing = err.name or ""
    return bool(missing) and (module_name == missing or module_name.startswith(missing + "."))


def _cwd_on_path() -> bool:
    cwd = os.path.realpath(os.getcwd())
    return any(os.path.realpath(entry or os.curdir) == cwd for entry in sys.path)


def _import_from_cwd(module_name: str) -> Any:
    """Import ``module_name`` with the current directory first on ``sys.path``."""
    cwd = os.getcwd()
    sys.path.insert(0, cwd)
    importlib.invalidate_caches()
    try:
        return importlib.import_module(module_name)
    except BaseException:
        if cwd in sys.path:
            sys.path.remove(cwd)
        raise


def _import(module_name: str, spec: str) -> Any:
    try:
        try:
            return importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if not _misses(err, module_name) or _cwd_on_path():
                raise
            return _import_from_cwd(module_name)
    except Exception as err:
        raise ValueError(
            f"resolve_builder: cannot import module {module_name!r} of `spec` {spec!r} "
            f"({_first_line(err)}); it must be importable: on sys.path or a file or package "
            f"in the current directory ({os.getcwd()})"
        ) from err


def resolve_builder(spec: str) -> Callable[..., StreamingDeblurModel]:
    """The function that ``spec`` names: ``"package.module:function"``.

    Args:
        spec: a module name, a colon and an attribute of the module, e.g.
            ``"mymodels:build"`` or ``"mypackage.models:Factory.build"`` (the part after the
            colon may be a dotted path). The module is imported (see the module docstring
            for where it is looked up; its top-level code runs).

    Returns:
        The callable; :func:`build_from_config` calls it with the stored keyword arguments.

    Raises:
        TypeError: ``spec`` is not a string, or names something that is not callable.
        ValueError: ``spec`` is not of the form ``module:function``, the module cannot be
            imported (the message gives the underlying error), or it has no such attribute.

    Example:
        >>> resolve_builder("rirn_layers.baselines:build_model").__name__
        'build_model'
    """
    if not isinstance(spec, str):
        raise TypeError(
            "resolve_builder: `spec` must be a string 'package.module:function', got "
            f"{type(spec).__name__}"
        )
    module_name, colon, attribute = spec.strip().partition(":")
    parts = attribute.split(".")
    if not colon or not module_name or not all(part.isidentifier() for part in parts):
        raise ValueError(
            "resolve_builder: `spec` must be 'package.module:function' (a module name, a colon "
            f"and a function of that module), got {spec!r}"
        )
    target: Any = _import(module_name, spec)
    for depth, part in enumerate(parts):
        if not hasattr(target, part):
            where = ".".join([module_name, *parts[:depth]])
            raise ValueError(
                f"resolve_builder: {where!r} has no attribute {part!r} (`spec` {spec!r})"
            )
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(
            f"resolve_builder: `spec` {spec!r} must name a callable that returns a "
            f"StreamingDeblurModel, got a {type(target).__name__}"
        )
    return target  # type: ignore[no-any-return]


def check_builder_kwargs(kwargs: Any, where: str) -> dict[str, Any]:
    """``kwargs`` as a dict, checked to hold plain JSON-like values only.

    Args:
        kwargs: the builder's keyword arguments: a dict with string keys whose values are
            ``None``, booleans, numbers, strings, and lists/tuples/dicts of them.
        where: the caller and argument named in the error, e.g. ``"TrainConfig: `builder_kwargs`"``.

    Raises:
        TypeError: ``kwargs`` is not a dict, a key is not a string, or a value is not plain.
    """
    if not isinstance(kwargs, Mapping):
        raise TypeError(f"{where} must be a dict of keyword arguments, got {type(kwargs).__name__}")
    for key, value in kwargs.items():
        if not isinstance(key, str):
            raise TypeError(f"{where} must have string keys, got a {type(key).__name__} key")
        _check_json(value, f"{where}[{key!r}]")
    return dict(kwargs)


def _check_json(value: Any, where: str) -> None:
    if isinstance(value, _JSON_LEAVES):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]")
        return
    if isinstance(value, Mapping):
        check_builder_kwargs(value, where)
        return
    raise TypeError(
        f"{where} must be a plain JSON-like value (None, bool, number, string, list, dict), "
        f"got a {type(value).__name__}"
    )


def _keyword_defaults(builder: Callable[..., Any]) -> dict[str, Any] | None:
    """The keyword arguments ``builder`` takes and their defaults; ``None``: any (``**kw``)."""
    try:
        parameters = inspect.signature(builder).parameters.values()
    except (TypeError, ValueError):  # some builtins and C callables have none
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    keyword = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return {p.name: p.default for p in parameters if p.kind in keyword}


def zoo_options(name: str) -> dict[str, Any]:
    """The options zoo model ``name``'s own builder takes, with its defaults.

    Read from the builder's signature (``build_gru``, ``build_strcnn``, ...), so a model's
    options are declared once, where it is built; an unknown ``name`` gives ``{}``.

    Example:
        >>> zoo_options("strcnn")["dtb"], "dtb" in zoo_options("rdbn")
        (True, False)
    """
    from rirn_layers.baselines import available_models, model_builder

    if name not in available_models():
        return {}
    return _keyword_defaults(model_builder(name)) or {}


def _spoken_list(names: list[str]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def check_zoo_option(owner: str, name: str, option: str, value: Any) -> None:
    """Refuse ``option=value`` (given, i.e. not ``None``) for a zoo model that does not take it.

    Raises:
        ValueError: naming the model, the option and the zoo models that take it.
    """
    if value is None or not zoo_options(name) or option in zoo_options(name):
        return
    from rirn_layers.baselines import available_models

    takers = [model for model in available_models() if option in zoo_options(model)]
    raise ValueError(
        f"{owner}: model {name!r} does not take `{option}`; `{option}` applies to "
        f"{_spoken_list(takers)}"
    )


def zoo_model_config(
    name: str, *, irm: bool | None, atb: bool | None, dtb: bool | None, residual: bool | None
) -> dict[str, Any]:
    """The :func:`~rirn_layers.baselines.build_model` arguments a training run stores.

    ``irm`` and ``atb`` are always stored (``None``: IRM on; ATB on unless ``dtb=True`` takes
    its slot, :data:`SHARED_BLEND_SLOT`). ``dtb`` is stored where the model takes it and it is
    on or not the builder's default ``False``; ``residual`` only for the models of
    :data:`PRESET_OPTIONS`. The configs are those of earlier versions, so old checkpoints
    resume.
    """
    options = zoo_options(name)
    if atb is None:
        atb = not (dtb and name in SHARED_BLEND_SLOT)
    config: dict[str, Any] = {"name": name, "irm": True if irm is None else irm, "atb": atb}
    if dtb is not None and "dtb" in options and (dtb or options["dtb"]):
        config["dtb"] = dtb
    if residual and "residual" in options and name in PRESET_OPTIONS["residual"]:
        config["residual"] = True
    return config


def _check_signature(builder: Callable[..., Any], spec: str, kwargs: Mapping[str, Any]) -> None:
    try:
        signature = inspect.signature(builder)
    except (TypeError, ValueError):  # some builtins and C callables have none
        return
    try:
        signature.bind(**kwargs)
    except TypeError as err:
        raise TypeError(
            f"build_from_config: builder {spec!r} cannot be called with the keyword arguments "
            f"{sorted(kwargs)} ({err}); its signature is {spec.partition(':')[2]}{signature}"
        ) from err


def build_from_config(config: Mapping[str, Any]) -> StreamingDeblurModel:
    """Build the model a config describes: a builder's, or a model-zoo model.

    Args:
        config: ``{"builder": "package.module:function", "kwargs": {...}}`` calls
            ``resolve_builder(builder)(**kwargs)``; any other config holds the arguments of
            :func:`rirn_layers.baselines.build_model` (``{"name": "gru", "irm": True, ...}``).

    Returns:
        The model (in training mode, as built).

    Raises:
        TypeError: ``config`` is not a dict, the builder's keyword arguments do not fit its
            signature, or the builder returned something else than a StreamingDeblurModel.
        ValueError: the builder cannot be resolved (see :func:`resolve_builder`), the config
            holds no builder (a model instance was trained), or has keys other than
            ``builder`` and ``kwargs``.

    Example:
        >>> model = build_from_config({"builder": "rirn_layers.baselines:build_model",
        ...                            "kwargs": {"name": "gru", "irm": True}})
        >>> type(model).__name__
        'RecurrentDeblurNet'
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"build_from_config: `config` must be a dict, got {type(config).__name__}")
    if "builder" not in config:
        from rirn_layers.baselines import build_model

        return build_model(**config)
    spec = config["builder"]
    if spec is None:
        raise ValueError(
            "build_from_config: `config` names no builder (the model was an instance of "
            f"{config.get('model_class', 'an unknown class')}); rebuild it yourself"
        )
    unknown = sorted(set(config) - _BUILDER_KEYS, key=str)
    if unknown:
        raise ValueError(
            f"build_from_config: a builder `config` has the keys 'builder' and 'kwargs', got "
            f"also {unknown}"
        )
    kwargs = check_builder_kwargs(config.get("kwargs", {}), "build_from_config: `kwargs`")
    builder = resolve_builder(spec)
    _check_signature(builder, spec, kwargs)
    model = builder(**kwargs)
    if not isinstance(model, StreamingDeblurModel):
        kind = type(model)
        raise TypeError(
            f"build_from_config: builder {spec!r} must return a rirn_layers.StreamingDeblurModel, "
            f"got {kind.__module__}.{kind.__qualname__}"
        )
    return model


def model_name(config: Mapping[str, Any]) -> str:
    """A short name of the model of a config: the zoo name in capitals, or the builder's name.

    ``{"name": "gru", ...}`` -> ``"GRU"``; ``{"builder": "mymodels:build_net", ...}`` ->
    ``"build_net"``; a trained instance's ``{"builder": None, "model_class": "pkg.Net"}`` ->
    ``"Net"``.

    Example:
        >>> model_name({"builder": "mymodels:Factory.build", "kwargs": {}})
        'build'
    """
    if "builder" not in config:
        return str(config.get("name", "model")).upper()
    spec = config["builder"]
    if isinstance(spec, str):
        return spec.rpartition(":")[2].rpartition(".")[2] or spec
    return str(config.get("model_class", "model")).rpartition(".")[2]


def json_kwargs(text: str) -> dict[str, Any]:
    """A builder's keyword arguments from the command line (``--builder-kwargs``).

    For argparse's ``type=``: raises :class:`argparse.ArgumentTypeError` (which argparse
    prints as the option's error) unless ``text`` is a JSON object.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"must be a JSON object, got {text!r} ({err})") from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"must be a JSON object such as '{{\"width\": 16}}', got a JSON {type(value).__name__}"
        )
    return value
