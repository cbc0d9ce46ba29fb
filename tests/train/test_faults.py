"""Faults during training: signals stop a run cleanly, runs are never overwritten by accident,
a resume keeps the run's settings, stale temporary files are cleared."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

pytest.importorskip("skimage")
pytest.importorskip("kornia")

from rirn_layers.train import CheckpointError, load_checkpoint, save_checkpoint
from rirn_layers.train.checkpoint import remove_stale_temps
from rirn_layers.train.loop import TrainConfig, TrainingInterrupted, _StopSignals, train

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "train_gru_rirn.py"
CLI_TINY = ["--batch-size", "1", "--crop", "32", "--val-clips", "1", "--val-crop", "32",
            "--no-progress"]  # fmt: skip


def tiny(out: Path, **overrides: object) -> TrainConfig:
    values: dict[str, object] = dict(
        model="gru",
        irm=True,
        atb=True,
        out=str(out),
        steps=4,
        batch_size=1,
        clip_length=3,
        chunk=3,
        crop=32,
        val_every=2,
        val_clips=1,
        val_crop=32,
        lr=1e-3,
        progress=False,
        log_images=False,
    )
    values.update(overrides)
    return TrainConfig(**values)  # type: ignore[arg-type]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


def logged_steps(out: Path) -> list[int]:
    path = out / "metrics.jsonl"
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line)["step"] for line in lines if line.endswith("}") and "loss" in line]


# -- graceful stop ---------------------------------------------------------------------------
def _interrupt_cli(out: Path, signum: int, steps: int) -> subprocess.CompletedProcess:
    """Start a CLI run, send ``signum`` once a few steps are logged, wait for it to end."""
    child = subprocess.Popen(
        [sys.executable, str(SCRIPT), *CLI_TINY, "--steps", str(steps), "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # not ignored
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while len(logged_steps(out)) < 3 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    child.send_signal(signum)
    stdout, stderr = child.communicate(timeout=120)
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_last_pt_and_resume_matches_a_straight_run(tmp_path, signum):
    steps = 60
    stopped = _interrupt_cli(tmp_path / "run", signum, steps)
    assert stopped.returncode == 128 + signum, stopped.stderr
    lines = stopped.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stopped.stderr, stopped.stderr
    checkpoint = load_checkpoint(tmp_path / "run" / "last.pt", restore_rng=False)
    step = checkpoint["step"]
    name = signal.Signals(signum).name
    assert lines[0] == (f"stopped by {name} at step {step} of {steps}; saved "
                        f"{tmp_path / 'run' / 'last.pt'}; resume with --resume")  # fmt: skip
    assert 3 <= step < steps
    assert logged_steps(tmp_path / "run")[-1] == step
    assert not list((tmp_path / "run").glob(".*.tmp"))
    if signum != signal.SIGTERM:
        return  # one bit-exact resume is enough (it takes seconds)
    cli = _load_cli()
    config = cli.parse_args([*CLI_TINY, "--steps", str(steps), "--out", str(tmp_path / "run")])
    train(dataclasses.replace(config, resume=True, progress=False))
    assert logged_steps(tmp_path / "run") == list(range(1, steps + 1))
    train(dataclasses.replace(config, out=str(tmp_path / "straight"), progress=False))
    assert_same_weights(tmp_path / "run" / "last.pt", tmp_path / "straight" / "last.pt")


def _load_cli():
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_gru_rirn", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_in_process_signal_raises_after_saving_and_restores_handlers(tmp_path, monkeypatch):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    import rirn_layers.train.loop as loop

    real = loop._train_step

    def step_then_signal(*args, **kwargs):  # a SIGTERM arrives during the 3rd step
        loss = real(*args, **kwargs)
        if len(logged_steps(tmp_path)) == 2:
            signal.raise_signal(signal.SIGTERM)
        return loss

    monkeypatch.setattr(loop, "_train_step", step_then_signal)
    with pytest.raises(TrainingInterrupted) as err:
        train(tiny(tmp_path, steps=8, val_every=2))
    assert isinstance(err.value, KeyboardInterrupt)
    assert (err.value.signum, err.value.step, err.value.steps) == (signal.SIGTERM, 3, 8)
    assert load_checkpoint(tmp_path / "last.pt", restore_rng=False)["step"] == 3
    best = load_checkpoint(tmp_path / "best.pt", restore_rng=False)["step"]
    assert best == 2  # best.pt stays as the last validation left it
    assert {s: signal.getsignal(s) for s in before} == before


def test_the_second_signal_restores_the_previous_handlers():
    before = signal.getsignal(signal.SIGINT)
    with _StopSignals() as stop:
        assert signal.getsignal(signal.SIGINT) != before
        signal.raise_signal(signal.SIGINT)
        assert stop.signum == signal.SIGINT
        assert signal.getsignal(signal.SIGINT) is before  # a second Ctrl-C aborts at once
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_no_handlers_outside_the_main_thread():
    seen: list[object] = []

    def run() -> None:
        with _StopSignals() as stop:
            seen.append(stop._previous)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [{}]


def test_checkpoint_every_writes_last_pt_between_validations(tmp_path, monkeypatch):
    import rirn_layers.train.loop as loop

    written: list[tuple[str, int]] = []
    real_save, real_copy = loop.save_checkpoint, loop.copy_checkpoint

    def save(path: Path, **kwargs: object) -> Path:
        written.append((Path(path).name, kwargs["step"]))  # type: ignore[arg-type]
        return real_save(path, **kwargs)  # type: ignore[arg-type]

    def copy(src: Path, dst: Path) -> Path:
        written.append((Path(dst).name, -1))
        return real_copy(src, dst)

    monkeypatch.setattr(loop, "save_checkpoint", save)
    monkeypatch.setattr(loop, "copy_checkpoint", copy)
    train(tiny(tmp_path, steps=4, val_every=4, checkpoint_every=1))
    assert written == [("last.pt", 1), ("last.pt", 2), ("last.pt", 3), ("last.pt", 4),
                       ("best.pt", -1)]  # fmt: skip
    assert TrainConfig(val_every=7).resolved().checkpoint_every == 7
    with pytest.raises(ValueError, match="`checkpoint_every` must be an int >= 1, got 0"):
        tiny(tmp_path, checkpoint_every=0).resolved()
    cli = _load_cli()
    assert cli.parse_args(["--checkpoint-every", "5", "--overwrite"]).checkpoint_every == 5


# -- runs are never overwritten ----------------------------------------------------------------
def test_a_folder_with_a_run_is_refused(tmp_path):
    train(tiny(tmp_path, steps=2))
    with pytest.raises(ValueError, match=r"already holds a run \(last\.pt, best\.pt, metrics"):
        train(tiny(tmp_path, steps=2))


def test_overwrite_removes_only_the_run_files(tmp_path):
    train(tiny(tmp_path, steps=2, log_images=True))
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "data").mkdir()
    assert (tmp_path / "config.json").is_file()
    train(tiny(tmp_path, steps=2, overwrite=True, seed=1))
    assert (tmp_path / "notes.txt").read_text() == "mine" and (tmp_path / "data").is_dir()
    assert not (tmp_path / "tensorboard").exists()  # log_images=False this time
    assert logged_steps(tmp_path) == [1, 2]
    assert json.loads((tmp_path / "config.json").read_text())["seed"] == 1


def test_resume_needs_last_pt(tmp_path):
    with pytest.raises(ValueError, match="holds no run"):
        train(tiny(tmp_path / "empty", resume=True))
    train(tiny(tmp_path, steps=2))
    (tmp_path / "last.pt").unlink()
    with pytest.raises(ValueError, match="has best.pt, metrics.jsonl but no last.pt"):
        train(tiny(tmp_path, resume=True))
    with pytest.raises(ValueError, match="give one of them"):
        train(tiny(tmp_path, resume=True, overwrite=True))


def test_resume_drops_metrics_after_the_checkpoint(tmp_path):
    train(tiny(tmp_path, checkpoint_every=2, stop_at=3))  # last.pt holds step 3
    with (tmp_path / "metrics.jsonl").open("a") as f:  # logged after it, then a kill
        f.write(json.dumps({"step": 4, "loss": 1.0}) + '\n{"step": 5, "lo')
    train(tiny(tmp_path, resume=True))
    assert logged_steps(tmp_path) == [1, 2, 3, 4]


# -- the run configuration -----------------------------------------------------------------
def test_config_json_and_checkpoint_hold_the_resolved_config(tmp_path):
    train(tiny(tmp_path, steps=2))
    stored = json.loads((tmp_path / "config.json").read_text())
    assert stored["steps"] == 2 and stored["milestones"] == [0.8]  # the preset's, resolved
    assert stored["checkpoint_every"] == 2
    extra = load_checkpoint(tmp_path / "last.pt", restore_rng=False)["extra"]
    assert extra["run_config"] == stored


def test_resume_with_another_schedule_is_refused(tmp_path):
    train(tiny(tmp_path, stop_at=1))
    with pytest.raises(CheckpointError, match=r"2 settings .* differ \(steps: checkpoint 4 vs "
                       r"config 5; lr: checkpoint 0\.001 vs config 0\.01\)"):  # fmt: skip
        train(tiny(tmp_path, steps=5, lr=1e-2, resume=True))
    assert train(tiny(tmp_path, resume=True, val_clips=2)).step == 4  # not a schedule field


def test_old_checkpoints_without_a_run_config_resume(tmp_path):
    train(tiny(tmp_path, stop_at=1))
    payload = torch.load(tmp_path / "last.pt", weights_only=True)
    payload["extra"].pop("run_config")
    torch.save(payload, tmp_path / "last.pt")
    assert train(tiny(tmp_path, steps=5, resume=True)).step == 5


# -- stale temporary files -------------------------------------------------------------------
def test_stale_temps_are_removed_and_nothing_else(tmp_path):
    ours = [".last.pt.0123456789ab.tmp", ".best.pt.abcdef012345.tmp"]
    foreign = [".last.pt.notes", ".last.pt.0123456789AB.tmp", ".last.pt.0123456789abc.tmp",
               ".other.pt.0123456789ab.tmp", "last.pt.0123456789ab.tmp"]  # fmt: skip
    for name in ours + foreign:
        (tmp_path / name).write_text("x")
    train(tiny(tmp_path, steps=2))
    left = {p.name for p in tmp_path.iterdir()}
    assert not left & set(ours)
    assert left >= set(foreign)
    assert remove_stale_temps(tmp_path / "missing", ("last.pt",)) == []


def test_save_checkpoint_temp_names_match_the_cleanup_pattern(tmp_path, monkeypatch):
    import rirn_layers.train.checkpoint as ckpt

    names: list[str] = []
    real = ckpt._temp_path

    def temp_path(target: Path) -> Path:
        names.append(real(target).name)
        return target.with_name(names[-1])

    monkeypatch.setattr(ckpt, "_temp_path", temp_path)
    save_checkpoint(tmp_path / "last.pt", model=torch.nn.Linear(1, 1), step=0, config={})
    (tmp_path / names[0]).write_text("left by a crash")
    assert remove_stale_temps(tmp_path, ("last.pt",)) == [tmp_path / names[0]]
