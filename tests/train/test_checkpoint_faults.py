"""Disk-full writes and incomplete checkpoints give one clear error and lose nothing."""

from __future__ import annotations

import errno
import io
import shutil

import pytest
import torch
from torch import nn

from rirn_layers.train import CheckpointError, load_checkpoint, model_from_checkpoint
from rirn_layers.train import checkpoint as ckpt
from rirn_layers.train.checkpoint import copy_checkpoint, save_checkpoint

CONFIG = {"name": "gru", "irm": False, "atb": False}


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(4, 3)


def _enospc() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device")


def _full_write(real_write, limit=64):
    """A file ``write`` that fails with ENOSPC once ``limit`` bytes were written."""
    written = [0]

    def write(self, data):
        written[0] += len(data)
        if written[0] > limit:
            raise _enospc()
        return real_write(self, data)

    return write


def _check_intact(tmp_path, path, before):
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no .last.pt.*.tmp


def _check_message(err, path):
    assert isinstance(err, OSError) and err.errno == errno.ENOSPC
    text = str(err)
    assert "\n" not in text
    assert "no space left on device" in text
    assert str(path) in text


def test_real_torch_save_failure_on_a_full_disk(tmp_path, monkeypatch):
    """torch.save turns the ENOSPC of its writer into an 'enforce fail' RuntimeError."""
    path = save_checkpoint(tmp_path / "last.pt", model=_net(), step=1, config=CONFIG)
    before = path.read_bytes()
    class FullDisk(io.FileIO):
        write = _full_write(io.FileIO.write)

    monkeypatch.setattr(ckpt, "open", lambda file, mode: FullDisk(file, mode), raising=False)
    with pytest.raises(OSError) as info:
        save_checkpoint(path, model=nn.Linear(64, 64), step=2, config=CONFIG)
    monkeypatch.undo()
    assert isinstance(info.value.__cause__, RuntimeError)  # torch's "enforce fail", chained
    _check_message(info.value, path)
    _check_intact(tmp_path, path, before)
    assert load_checkpoint(path, model=_net())["step"] == 1


@pytest.mark.parametrize(
    "make_error",
    [
        _enospc,
        lambda: _chained(RuntimeError("[enforce fail at inline_container.cc:672] unexpected pos")),
        lambda: _chained(RuntimeError("writer failed"), cause=True),
    ],
    ids=["oserror", "enforce-fail-context", "runtime-cause"],
)
def test_disk_full_during_save_keeps_the_old_checkpoint(tmp_path, monkeypatch, make_error):
    path = save_checkpoint(tmp_path / "last.pt", model=_net(), step=1, config=CONFIG)
    before = path.read_bytes()

    def half_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise make_error()

    monkeypatch.setattr(torch, "save", half_save)
    with pytest.raises(OSError) as info:
        save_checkpoint(path, model=_net(), step=2, config=CONFIG)
    monkeypatch.undo()
    _check_message(info.value, path)
    _check_intact(tmp_path, path, before)


def _chained(error: RuntimeError, cause: bool = False) -> RuntimeError:
    if cause:
        error.__cause__ = _enospc()
    else:
        error.__context__ = _enospc()
    return error


def test_disk_full_at_fsync(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "last.pt", model=_net(), step=1, config=CONFIG)
    before = path.read_bytes()

    def fsync(fd):
        raise _enospc()

    monkeypatch.setattr(ckpt.os, "fsync", fsync)
    with pytest.raises(OSError) as info:
        save_checkpoint(path, model=_net(), step=2, config=CONFIG)
    monkeypatch.undo()
    _check_message(info.value, path)
    _check_intact(tmp_path, path, before)


def test_other_runtime_errors_are_not_called_disk_full(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "last.pt", model=_net(), step=1, config=CONFIG)

    def broken(obj, f, *args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(RuntimeError, match="enforce fail"):
        save_checkpoint(path, model=_net(), step=2, config=CONFIG)


def test_disk_full_during_copy_keeps_the_old_copy(tmp_path, monkeypatch):
    src = save_checkpoint(tmp_path / "src" / "last.pt", model=_net(), step=2, config=CONFIG)
    dst = save_checkpoint(tmp_path / "last.pt", model=_net(), step=1, config=CONFIG)
    before = dst.read_bytes()

    def no_link(a, b):
        raise OSError(errno.EXDEV, "cross-device link")

    def copy(fin, fout, *args):
        fout.write(fin.read(10))
        raise _enospc()

    monkeypatch.setattr(ckpt.os, "link", no_link)
    monkeypatch.setattr(shutil, "copyfileobj", copy)
    with pytest.raises(OSError) as info:
        copy_checkpoint(src, dst)
    monkeypatch.undo()
    _check_message(info.value, dst)
    assert "copy_checkpoint" in str(info.value)
    assert dst.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "src"]


# -- required keys ---------------------------------------------------------------------------
def _without(tmp_path, *keys):
    path = save_checkpoint(tmp_path / "c.pt", model=_net(), step=1, config=CONFIG)
    payload = torch.load(path, weights_only=True)
    for key in keys:
        payload.pop(key)
    torch.save(payload, path)
    return path


def test_checkpoint_without_weights_is_a_checkpoint_error(tmp_path):
    path = _without(tmp_path, "model")
    with pytest.raises(CheckpointError, match=r"c\.pt is an incomplete checkpoint.*no 'model'"):
        load_checkpoint(path, model=_net())
    with pytest.raises(CheckpointError, match=r"model_from_checkpoint: .*no 'model' entry"):
        model_from_checkpoint(path)
    assert load_checkpoint(path)["step"] == 1  # without a model the weights are not needed


def test_checkpoint_without_config_and_weights_names_both(tmp_path):
    path = _without(tmp_path, "model", "config")
    with pytest.raises(CheckpointError, match=r"no 'config', 'model' entries"):
        model_from_checkpoint(path)


def test_checkpoint_without_step_is_a_checkpoint_error(tmp_path):
    path = _without(tmp_path, "step")
    with pytest.raises(CheckpointError, match=r"c\.pt is an incomplete checkpoint.*no 'step'"):
        load_checkpoint(path, model=_net())


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [("model", [1, 2], "a state_dict \\(dict\\), got list"), ("step", -3, "an int >= 0, got -3"),
     ("config", "gru", "a dict, got str")],
)
def test_wrong_types_of_required_entries(tmp_path, key, value, expected):
    path = save_checkpoint(tmp_path / "c.pt", model=_net(), step=1, config=CONFIG)
    payload = torch.load(path, weights_only=True)
    payload[key] = value
    torch.save(payload, path)
    call = (lambda: model_from_checkpoint(path)) if key == "config" else (
        lambda: load_checkpoint(path, model=_net())
    )
    with pytest.raises(CheckpointError, match=f"its '{key}' entry must be {expected}"):
        call()
