"""Your own model in every tool: builders by name, model instances, STRCNN with/without DTB.

The builder module is the one of docs/training.md ("Train, evaluate and deblur your own
model"), written into a temporary folder, so the docs' code is what these tests run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch import nn

pytest.importorskip("skimage")
pytest.importorskip("kornia")

from rirn_layers import (
    AdaptiveTemporalBlend,
    DynamicTemporalBlend,
    InnerRecurrence,
    StreamingDeblurModel,
)
from rirn_layers.export import export_streaming
from rirn_layers.train import CheckpointError, load_checkpoint, model_from_checkpoint
from rirn_layers.train.builders import build_from_config, model_name, resolve_builder
from rirn_layers.train.loop import TrainConfig, train

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
EXTRA = """

WIDTH = 4


def not_a_model(width=4):
    return nn.Conv2d(3, 3, 1)


class Factory:
    @staticmethod
    def build(width=4):
        return build(width=width)
"""


def docs_builder() -> str:
    """The builder module of docs/training.md's own-model section."""
    text = (ROOT / "docs" / "training.md").read_text()
    section = text[text.index("## Train, evaluate and deblur your own model") :]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    (module,) = [block for block in blocks if "def build(" in block]
    return module


def write_module(folder: Path, name: str, source: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(source)


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``usermodel``: the docs' builder module (plus a few odd attributes) on sys.path."""
    write_module(tmp_path / "mods", "usermodel", docs_builder() + EXTRA)
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    yield "usermodel"
    for name in ("usermodel", "broken_at_import", "needs_missing", "cwd_model"):
        sys.modules.pop(name, None)


def tiny(out: Path, **overrides: object) -> TrainConfig:
    values: dict[str, object] = dict(
        out=str(out),
        steps=2,
        batch_size=1,
        clip_length=3,
        chunk=3,
        crop=32,
        val_every=2,
        val_clips=1,
        val_crop=32,
        progress=False,
        log_images=False,
    )
    values.update(overrides)
    return TrainConfig(**values)  # type: ignore[arg-type]


def has(model: nn.Module, kind: type[nn.Module]) -> bool:
    return any(isinstance(m, kind) for m in model.modules())


def outputs(model: nn.Module, clip: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(clip)[0]


# -- resolve_builder -----------------------------------------------------------------------
def test_resolve_builder_finds_functions_and_dotted_attributes(user_module):
    module = __import__(user_module)
    assert resolve_builder("usermodel:build") is module.build
    assert resolve_builder(" usermodel:Factory.build") is module.Factory.build
    assert isinstance(resolve_builder("usermodel:build")(width=4), StreamingDeblurModel)


def test_resolve_builder_needs_a_colon(user_module):
    with pytest.raises(
        ValueError,
        match=r"`spec` must be 'package.module:function' .* got "
        r"'usermodel.build'",
    ):
        resolve_builder("usermodel.build")
    with pytest.raises(ValueError, match="`spec` must be 'package.module:function'"):
        resolve_builder("usermodel:")
    with pytest.raises(TypeError, match="`spec` must be a string .* got int"):
        resolve_builder(3)  # type: ignore[arg-type]


def test_resolve_builder_names_a_module_it_cannot_find(user_module):
    with pytest.raises(
        ValueError,
        match=r"cannot import module 'no_such_module_rirn' .*"
        r"\(ModuleNotFoundError: No module named "
        r"'no_such_module_rirn'\); it must be importable: on "
        r"sys.path or a file or package in the current",
    ):
        resolve_builder("no_such_module_rirn:build")


def test_resolve_builder_reports_an_error_raised_at_import(user_module, tmp_path):
    write_module(tmp_path / "mods", "broken_at_import", 'raise RuntimeError("boom\\nmore")\n')
    with pytest.raises(
        ValueError,
        match=r"cannot import module 'broken_at_import' .*"
        r"\(RuntimeError: boom\); it must be importable",
    ) as err:
        resolve_builder("broken_at_import:build")
    assert "\n" not in str(err.value)


def test_resolve_builder_names_a_missing_attribute(user_module):
    with pytest.raises(
        ValueError,
        match=r"'usermodel' has no attribute 'nope' \(`spec` "
        r"'usermodel:nope'\)",
    ):
        resolve_builder("usermodel:nope")
    with pytest.raises(ValueError, match=r"'usermodel.Factory' has no attribute 'nope'"):
        resolve_builder("usermodel:Factory.nope")


def test_resolve_builder_needs_a_callable(user_module):
    with pytest.raises(
        TypeError,
        match=r"`spec` 'usermodel:WIDTH' must name a callable that "
        r"returns a StreamingDeblurModel, got a int",
    ):
        resolve_builder("usermodel:WIDTH")


def test_resolve_builder_tries_the_current_directory(user_module, tmp_path, monkeypatch):
    here = tmp_path / "here"
    write_module(here, "cwd_model", "def build():\n    return 1\n")
    write_module(here, "needs_missing", "import no_such_dependency_rirn\n")
    monkeypatch.chdir(here)
    cwd = os.path.realpath(here)
    path = [p for p in sys.path if os.path.realpath(p or os.curdir) != cwd]
    monkeypatch.setattr(sys, "path", path)
    # a module the builder's module imports is missing: reported, the path left alone
    with pytest.raises(
        ValueError,
        match=r"\(ModuleNotFoundError: No module named "
        r"'no_such_dependency_rirn'\)",
    ):
        resolve_builder("needs_missing:build")
    assert str(here) not in sys.path  # tried there, failed inside: taken off again
    assert resolve_builder("cwd_model:build")() == 1
    assert sys.path[0] == str(here)


# -- build_from_config ---------------------------------------------------------------------
def test_build_from_config_builds_zoo_and_builder_models(user_module):
    zoo = build_from_config({"name": "gru", "irm": True, "atb": False})
    assert type(zoo).__name__ == "RecurrentDeblurNet"
    mine = build_from_config({"builder": "usermodel:build", "kwargs": {"width": 4}})
    assert has(mine, InnerRecurrence) and has(mine, AdaptiveTemporalBlend)
    assert model_name({"builder": "usermodel:build", "kwargs": {}}) == "build"
    assert model_name({"name": "gru"}) == "GRU"
    assert model_name({"builder": None, "model_class": "pkg.mod.Net"}) == "Net"


def test_build_from_config_errors(user_module):
    with pytest.raises(
        TypeError,
        match=r"builder 'usermodel:not_a_model' must return a "
        r"rirn_layers.StreamingDeblurModel, got "
        r"torch.nn.modules.conv.Conv2d",
    ):
        build_from_config({"builder": "usermodel:not_a_model", "kwargs": {}})
    with pytest.raises(
        TypeError,
        match=r"builder 'usermodel:build' cannot be called with the "
        r"keyword arguments \['depth'\]",
    ):
        build_from_config({"builder": "usermodel:build", "kwargs": {"depth": 2}})
    with pytest.raises(ValueError, match="has the keys 'builder' and 'kwargs', got also"):
        build_from_config({"builder": "usermodel:build", "irm": True})
    with pytest.raises(ValueError, match="names no builder"):
        build_from_config({"builder": None, "model_class": "x.Net"})


# -- TrainConfig ---------------------------------------------------------------------------
def test_train_config_takes_no_module_as_model():
    module = nn.Conv2d(3, 5, 3)
    with pytest.raises(
        TypeError,
        match=r"`model` must be the name of a zoo model \(a str\), "
        r"got a Conv2d; .*train\(config, model=\.\.\.\)",
    ) as err:
        TrainConfig(model=module)  # type: ignore[arg-type]
    assert repr(module) not in str(err.value) and "Conv2d(3" not in str(err.value)


def test_train_config_model_configs():
    # zoo configs are those of earlier versions (old checkpoints resume)
    assert TrainConfig().resolved().model_config() == {
        "name": "gru",
        "irm": True,
        "atb": True,
        "residual": True,
    }
    assert TrainConfig(dtb=False).model_config() == {"name": "gru", "irm": True, "atb": True}
    assert TrainConfig(dtb=True).model_config() == {
        "name": "gru",
        "irm": True,
        "atb": False,
        "dtb": True,
    }
    assert TrainConfig(model="rdbn", dtb=False).model_config() == {
        "name": "rdbn",
        "irm": True,
        "atb": True,
    }
    strcnn = TrainConfig(model="strcnn", irm=False, atb=False)
    assert strcnn.model_config() == {"name": "strcnn", "irm": False, "atb": False}
    assert TrainConfig(model="strcnn", dtb=False).model_config()["dtb"] is False
    # a builder gets the switches that were given, and only those
    mine = TrainConfig(builder="usermodel:build", builder_kwargs={"width": 4}, atb=False)
    assert mine.resolved().model_config() == {
        "builder": "usermodel:build",
        "kwargs": {"width": 4, "atb": False},
    }


def test_train_config_errors():
    with pytest.raises(ValueError, match="`model` and `builder` name two models"):
        TrainConfig(model="lstm", builder="usermodel:build").resolved()
    with pytest.raises(ValueError, match="`builder_kwargs` needs `builder`"):
        TrainConfig(builder_kwargs={"width": 4}).resolved()
    with pytest.raises(
        TypeError,
        match=r"`builder_kwargs`\['scale'\] must be a plain JSON-like "
        r"value .* got a Tensor",
    ):
        TrainConfig(builder="m:f", builder_kwargs={"scale": torch.ones(1)}).resolved()
    with pytest.raises(ValueError, match="`irm` is False but `builder_kwargs` has irm=True"):
        TrainConfig(builder="m:f", builder_kwargs={"irm": True}, irm=False).resolved()
    with pytest.raises(ValueError, match="`dtb` applies to gru, lstm and strcnn"):
        TrainConfig(model="rdbn", dtb=True).resolved()


# -- train(config, model=...) --------------------------------------------------------------
def test_train_a_model_instance(user_module, tmp_path):
    from usermodel import build

    torch.manual_seed(0)
    result = train(tiny(tmp_path), model=build(width=4))
    path = tmp_path / "last.pt"
    stored = load_checkpoint(path, restore_rng=False)["config"]
    assert stored == {"builder": None, "model_class": "rirn_layers.model.RecurrentDeblurNet"}
    with pytest.raises(
        CheckpointError,
        match=r"trained without a builder.* rebuild the model "
        r"yourself and load the weights with "
        r"load_checkpoint\(path, model=\.\.\.\)",
    ):
        model_from_checkpoint(path)
    rebuilt = build(width=4)
    load_checkpoint(path, model=rebuilt, restore_rng=False)
    clip = torch.rand(1, 3, 3, 32, 32)
    assert torch.equal(outputs(rebuilt, clip), outputs(result.model, clip))


def test_train_rejects_what_is_no_streaming_model(user_module, tmp_path):
    from usermodel import build

    with pytest.raises(
        TypeError,
        match=r"`model` must be a rirn_layers.StreamingDeblurModel, "
        r"got a Conv2d; wrap your recurrent cell with "
        r"rirn_layers.wrap_recurrent_cell",
    ):
        train(tiny(tmp_path), model=nn.Conv2d(3, 3, 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"`config.irm` is set but `model` is used as it is"):
        train(tiny(tmp_path, irm=False), model=build(width=4))
    with pytest.raises(ValueError, match=r"`config.model` is 'lstm' but `model` is given"):
        train(tiny(tmp_path, model="lstm"), model=build(width=4))
    with pytest.raises(ValueError, match=r"differ in \d+ weights .*: pass the `builder_kwargs`"):
        train(
            tiny(tmp_path, builder="usermodel:build", builder_kwargs={"width": 6}),
            model=build(width=4),
        )
    assert not (tmp_path / "last.pt").exists()


def test_train_with_a_builder_rebuilds_and_exports(user_module, tmp_path):
    config = tiny(tmp_path, builder="usermodel:build", builder_kwargs={"width": 4}, irm=False)
    result = train(config)
    path = tmp_path / "last.pt"
    model, checkpoint = model_from_checkpoint(path)
    assert checkpoint["config"] == {
        "builder": "usermodel:build",
        "kwargs": {"width": 4, "irm": False},
    }
    assert not has(model, InnerRecurrence) and has(model, AdaptiveTemporalBlend)
    clip = torch.rand(1, 4, 3, 30, 36)
    expected = outputs(result.model, clip)
    assert torch.equal(outputs(model, clip), expected)
    exported = export_streaming(model, clip[:, 0])
    with torch.no_grad():
        assert torch.equal(exported.run(clip), expected)
    # an instance and its builder: the instance trains, checkpoints rebuild it
    from usermodel import build

    mine = build(width=4, irm=False)
    train(
        tiny(
            tmp_path / "both",
            builder="usermodel:build",
            builder_kwargs={"width": 4},
            irm=False,
            steps=1,
            val_every=1,
        ),
        model=mine,
    )
    rebuilt, _ = model_from_checkpoint(tmp_path / "both" / "last.pt")
    assert torch.equal(outputs(rebuilt, clip), outputs(mine, clip))
    # a checkpoint whose builder module is gone: one line naming the file and the builder
    raw = torch.load(path, weights_only=True)
    torch.save({**raw, "config": {"builder": "gone_module_rirn:build", "kwargs": {}}}, path)
    with pytest.raises(
        CheckpointError,
        match=rf"cannot rebuild the model of {re.escape(str(path))}"
        r" with its builder 'gone_module_rirn:build': "
        r"resolve_builder: cannot import",
    ) as err:
        model_from_checkpoint(path)
    assert "\n" not in str(err.value)


def test_resume_a_builder_run(user_module, tmp_path):
    mine = {"builder": "usermodel:build", "builder_kwargs": {"width": 4}}
    train(tiny(tmp_path, **mine, stop_at=1))
    assert train(tiny(tmp_path, **mine, resume=True)).step == 2
    wider = {"builder": "usermodel:build", "builder_kwargs": {"width": 6}}
    diff = "kwargs: checkpoint {'width': 4} vs model {'width': 6}"
    with pytest.raises(CheckpointError, match=re.escape(diff)):
        train(tiny(tmp_path, **wider, resume=True))


@pytest.mark.parametrize("dtb", [False, True])
def test_strcnn_trains_with_and_without_dtb(tmp_path, dtb):
    result = train(
        tiny(tmp_path, model="strcnn", dtb=dtb, irm=False, atb=False, steps=1, val_every=1,
             clip_length=2, chunk=2, crop=16, val_crop=16)
    )  # fmt: skip
    stored = load_checkpoint(tmp_path / "last.pt", restore_rng=False)["config"]
    assert stored == {"name": "strcnn", "irm": False, "atb": False, "dtb": dtb}
    assert has(result.model, DynamicTemporalBlend) is dtb
    rebuilt, _ = model_from_checkpoint(tmp_path / "last.pt")
    assert has(rebuilt, DynamicTemporalBlend) is dtb


# -- the command-line flags ----------------------------------------------------------------
def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses in a script look up their module there
    spec.loader.exec_module(module)
    return module


def test_train_cli_builder_flags(capsys):
    script = load_example("train_gru_rirn")
    config = script.parse_args(["--builder", "m:f", "--builder-kwargs", '{"width": 4}'])
    assert (config.builder, config.builder_kwargs) == ("m:f", {"width": 4})
    assert (config.irm, config.atb, config.dtb) == (None, None, None)  # not passed
    config = script.parse_args(["--builder", "m:f", "--no-irm", "--dtb"])
    assert config.model_config() == {"builder": "m:f", "kwargs": {"irm": False, "dtb": True}}
    strcnn = script.parse_args(["--model", "strcnn", "--no-dtb"])
    assert strcnn.model_config() == {"name": "strcnn", "irm": True, "atb": True, "dtb": False}
    for argv, message in (
        (["--builder", "m:f", "--builder-kwargs", "[4]"], "must be a JSON object"),
        (["--builder", "m:f", "--builder-kwargs", "{width"], "must be a JSON object"),
        (["--builder-kwargs", "{}", "--model", "lstm", "--builder", "m:f"], "not allowed with"),
        (["--builder-kwargs", '{"width": 4}'], "--builder-kwargs needs --builder"),
    ):
        with pytest.raises(SystemExit):
            script.parse_args(argv)
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for shown in ("(default: gru)", "(default: synthetic)", "(default: demo)", "(default: 0)",
                  "(default: runs/gru_rirn)", "default: on for zoo models", "model:", "data:",
                  "training:", "output:"):  # fmt: skip
        assert shown in text, shown


def test_ablate_needs_a_builder_that_takes_irm_and_atb(user_module, tmp_path):
    script = load_example("ablate")
    out = ["--out", str(tmp_path / "abl")]
    with pytest.raises(SystemExit, match=r"builder 'usermodel:Factory.build' must take the "
                                         r"keywords `irm` and `atb`"):  # fmt: skip
        script.main(["--builder", "usermodel:Factory.build", *out])
    with pytest.raises(SystemExit, match=r"--builder-kwargs sets \['irm'\]"):
        script.main(["--builder", "usermodel:build", "--builder-kwargs", '{"irm": true}', *out])
    with pytest.raises(SystemExit, match="DTB takes ATB's place in gru"):
        script.main(["--model", "gru", "--dtb", *out])
    assert not (tmp_path / "abl").exists()  # nothing trained


# -- the command line, end to end ----------------------------------------------------------
def script(name: str, *args: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "2"
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{name}: {done.stderr[-3000:]}"
    return done.stdout


def test_every_script_takes_a_builder_checkpoint_with_no_model_flag(tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image

    write_module(tmp_path, "usermodel", docs_builder())
    tiny_run = "--batch-size 1 --crop 32 --val-clips 1 --val-crop 32 --no-progress".split()
    kwargs = ["--builder-kwargs", '{"width": 4}']
    script("train_gru_rirn", "--builder", "usermodel:build", *kwargs, "--no-atb", "--steps", "2",
           *tiny_run, "--out", "run", cwd=tmp_path)  # fmt: skip
    stored = load_checkpoint(tmp_path / "run" / "last.pt", restore_rng=False)["config"]
    assert stored == {"builder": "usermodel:build", "kwargs": {"width": 4, "atb": False}}
    checkpoint = ["--checkpoint", "run/last.pt"]

    text = script("evaluate", *checkpoint, *"--limit 1 --crop 32 --clip-length 3".split(),
                  cwd=tmp_path)  # fmt: skip
    assert "mean over 3 frames: PSNR" in text

    frames = tmp_path / "frames"
    frames.mkdir()
    generator = torch.Generator().manual_seed(0)
    for i in range(3):
        pixels = torch.randint(0, 256, (20, 24, 3), dtype=torch.uint8, generator=generator)
        Image.fromarray(pixels.numpy()).save(frames / f"{i:03d}.png")
    args = "--input frames --output out --no-progress".split()
    text = script("deblur_video", *checkpoint, *args, cwd=tmp_path)
    assert "deblurred 3 frames" in text
    written = sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith("."))
    assert written == ["000.png", "001.png", "002.png"]

    args = "--input synthetic --length 3 --crop 32 --out insp".split()
    script("inspect_model", *checkpoint, *args, cwd=tmp_path)
    summary = json.loads((tmp_path / "insp" / "summary.json").read_text())
    assert list(summary["models"]) == ["build + IRM"]  # IRM: the builder's default

    script("ablate", *checkpoint, "--steps", "1", *tiny_run, "--out", "abl", cwd=tmp_path)
    table = (tmp_path / "abl" / "ablation.md").read_text()
    for label in ("| build |", "| build + ATB |", "| build + IRM |", "| build + IRM + ATB |"):
        assert label in table
    stored = load_checkpoint(tmp_path / "abl" / "build_atb" / "last.pt", restore_rng=False)
    assert stored["config"] == {
        "builder": "usermodel:build",
        "kwargs": {"width": 4, "irm": False, "atb": True},
    }
