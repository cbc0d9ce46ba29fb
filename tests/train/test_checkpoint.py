"""Checkpoints: exact resume, atomic writes, safe loads and clear errors."""

from __future__ import annotations

import random
from collections import namedtuple

import numpy as np
import pytest
import torch
from torch import nn

from rirn_layers.train import checkpoint as ckpt_module
from rirn_layers.train.checkpoint import (
    FORMAT,
    CheckpointError,
    copy_checkpoint,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)

CONFIG = {"name": "tiny", "irm": True, "atb": False, "width": 8}


class Tiny(nn.Module):
    def __init__(self, width: int = 8, extra: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.norm = nn.BatchNorm2d(width)  # buffers (running stats, counter) too
        self.head = nn.Conv2d(width, 3, 1)
        self.extra = nn.Conv2d(3, 3, 1) if extra else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.head(torch.relu(self.norm(self.conv(x))))
        return self.extra(y) if self.extra is not None else y


def _train(model: nn.Module, optimizer, scheduler, steps: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.rand(2, 3, 8, 8, generator=g)
        loss = (model(x) - x).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()


def _setup(seed: int) -> tuple[nn.Module, torch.optim.Optimizer, object]:
    torch.manual_seed(seed)
    model = Tiny()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    return model, optimizer, scheduler


def _draws() -> tuple[torch.Tensor, float, np.ndarray]:
    return torch.rand(4), random.random(), np.random.rand(3)


def _assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
        elif isinstance(a[key], dict):
            _assert_same_state(a[key], b[key])
        else:
            assert a[key] == b[key], key


def test_round_trip_is_exact(tmp_path):
    model, optimizer, scheduler = _setup(0)
    _train(model, optimizer, scheduler, 3, seed=1)
    path = save_checkpoint(
        tmp_path / "last.pt",
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        step=3,
        config=CONFIG,
        extra={"best_psnr": 31.5, "seen": torch.tensor([1, 2])},
    )
    after_save = _draws()

    model2, optimizer2, scheduler2 = _setup(123)  # different weights and RNG
    _draws()
    ckpt = load_checkpoint(path, model=model2, optimizer=optimizer2, scheduler=scheduler2)
    after_load = _draws()
    assert torch.equal(after_save[0], after_load[0])
    assert after_save[1] == after_load[1]
    assert np.array_equal(after_save[2], after_load[2])

    assert ckpt["step"] == 3 and ckpt["config"] == CONFIG
    assert ckpt["extra"]["best_psnr"] == 31.5 and torch.equal(
        ckpt["extra"]["seen"], torch.tensor([1, 2])
    )
    _assert_same_state(model.state_dict(), model2.state_dict())
    _assert_same_state(optimizer.state_dict()["state"], optimizer2.state_dict()["state"])
    assert optimizer.state_dict()["param_groups"] == optimizer2.state_dict()["param_groups"]
    assert scheduler.state_dict() == scheduler2.state_dict()
    # resuming continues the same trajectory, bit for bit
    _train(model, optimizer, scheduler, 2, seed=7)
    _train(model2, optimizer2, scheduler2, 2, seed=7)
    _assert_same_state(model.state_dict(), model2.state_dict())


def test_restore_rng_false_leaves_rng_alone(tmp_path):
    model = Tiny()
    path = save_checkpoint(tmp_path / "c.pt", model=model, step=0, config=CONFIG)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    load_checkpoint(path, model=model, restore_rng=False)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_wrapped_models_share_checkpoints(tmp_path):
    torch.manual_seed(0)
    source = Tiny()
    path = save_checkpoint(tmp_path / "dp.pt", model=nn.DataParallel(source), step=1, config={})
    stored = torch.load(path, weights_only=True)["model"]
    assert set(stored) == set(source.state_dict())  # no "module." prefixes on disk
    for wrap in (nn.DataParallel, torch.compile, lambda m: nn.DataParallel(torch.compile(m))):
        target = Tiny()
        load_checkpoint(path, model=wrap(target))
        _assert_same_state(source.state_dict(), target.state_dict())
    # a compiled submodule ("conv._orig_mod.weight") saves and loads under the plain keys
    inner = Tiny()
    inner.conv = torch.compile(inner.conv)
    path2 = save_checkpoint(tmp_path / "inner.pt", model=inner, step=1, config={})
    assert set(torch.load(path2, weights_only=True)["model"]) == set(source.state_dict())
    target = Tiny()
    load_checkpoint(path2, model=target)
    assert torch.equal(target.conv.weight, inner.conv.weight)


def test_foreign_module_prefix_is_stripped(tmp_path):
    """A checkpoint whose keys carry DDP's "module." (saved by other code) loads too."""
    torch.manual_seed(0)
    source = Tiny()
    path = save_checkpoint(tmp_path / "c.pt", model=source, step=1, config={})
    payload = torch.load(path, weights_only=True)
    payload["model"] = {f"module.{k}": v for k, v in payload["model"].items()}
    torch.save(payload, path)
    target = Tiny()
    load_checkpoint(path, model=target)
    _assert_same_state(source.state_dict(), target.state_dict())


def test_distributed_data_parallel(tmp_path):
    dist = pytest.importorskip("torch.distributed")
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("no gloo backend")
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        torch.manual_seed(0)
        source = Tiny()
        ddp = nn.parallel.DistributedDataParallel(source)
        path = save_checkpoint(tmp_path / "ddp.pt", model=ddp, step=2, config={})
        target = nn.parallel.DistributedDataParallel(Tiny())
        load_checkpoint(path, model=target)
        _assert_same_state(source.state_dict(), target.module.state_dict())
        bare = Tiny()
        load_checkpoint(path, model=bare)
        _assert_same_state(source.state_dict(), bare.state_dict())
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_crash_during_write_keeps_old_file(tmp_path, monkeypatch, error):
    model = Tiny()
    path = save_checkpoint(tmp_path / "last.pt", model=model, step=1, config=CONFIG)
    before = path.read_bytes()
    real_save = torch.save

    def crash(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")  # some bytes reach the temp file
        raise error

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(type(error)):
        save_checkpoint(path, model=model, step=2, config=CONFIG)
    with pytest.raises(type(error)):
        save_checkpoint(tmp_path / "new.pt", model=model, step=2, config=CONFIG)
    monkeypatch.setattr(torch, "save", real_save)
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file, no new.pt
    assert path.read_bytes() == before
    assert load_checkpoint(path, model=model)["step"] == 1


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9, -1])
def test_truncated_file_is_a_clear_error(tmp_path, keep):
    path = save_checkpoint(tmp_path / "c.pt", model=Tiny(), step=1, config=CONFIG)
    data = path.read_bytes()
    path.write_bytes(data[:keep] if isinstance(keep, int) else data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="not a complete checkpoint") as info:
        load_checkpoint(path, model=Tiny())
    assert str(path) in str(info.value)


def test_flipped_bit_is_caught(tmp_path):
    """torch.load would read a damaged tensor silently; the CRC check does not."""
    model = Tiny()
    with torch.no_grad():
        model.conv.weight.fill_(0.25)
    path = save_checkpoint(tmp_path / "c.pt", model=model, step=1, config=CONFIG)
    data = bytearray(path.read_bytes())
    pattern = torch.full((4,), 0.25).numpy().tobytes()
    offset = bytes(data).index(pattern)  # inside conv.weight's stored bytes
    data[offset + 1] ^= 0x01
    path.write_bytes(bytes(data))
    assert torch.load(path, weights_only=True)["model"]["conv.weight"].sum() != 0.25 * 216
    with pytest.raises(CheckpointError, match="CRC"):
        load_checkpoint(path, model=Tiny())


def test_garbage_and_missing_and_foreign_files(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="not a complete checkpoint"):
        load_checkpoint(garbage)
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    bare = tmp_path / "bare.pt"
    torch.save(Tiny().state_dict(), bare)
    with pytest.raises(CheckpointError, match="not a rirn-layers checkpoint"):
        load_checkpoint(bare)


def test_other_model_is_a_clear_error(tmp_path):
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "c.pt", model=Tiny(width=8), step=1, config=CONFIG)
    other = Tiny(width=16, extra=True)
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, model=other, config={**CONFIG, "width": 16})
    message = str(info.value)
    assert str(path) in message and "another model" in message and "Tiny" in message
    assert "missing keys (extra.weight, extra.bias)" in message
    assert "conv.weight: checkpoint (8, 3, 3, 3) vs model (16, 3, 3, 3)" in message
    assert "width: checkpoint 8 vs model 16" in message
    _assert_same_state(before, other.state_dict())  # nothing was loaded
    # strict=False loads what fits (key-wise) but still refuses wrong shapes
    smaller = Tiny(width=8, extra=True)
    ckpt = load_checkpoint(path, model=smaller, strict=False)
    assert ckpt["missing_keys"] == ["extra.weight", "extra.bias"]


def test_optimizer_mismatch_changes_nothing(tmp_path):
    model, optimizer, scheduler = _setup(0)
    path = save_checkpoint(tmp_path / "c.pt", model=model, optimizer=optimizer, step=1, config={})
    model2 = Tiny()
    weights = {k: v.clone() for k, v in model2.state_dict().items()}
    other_opt = torch.optim.SGD(list(model2.parameters())[:2], lr=0.1)
    with pytest.raises(CheckpointError, match="parameter groups of sizes"):
        load_checkpoint(path, model=model2, optimizer=other_opt)
    _assert_same_state(weights, model2.state_dict())
    with pytest.raises(CheckpointError, match="no scheduler state"):
        load_checkpoint(path, model=model2, scheduler=scheduler)


class _Evil:
    calls: list[str] = []  # noqa: RUF012

    def __reduce__(self):
        return (_Evil.calls.append, ("code ran",))


def test_weights_only_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pt"
    payload = torch.load(
        save_checkpoint(tmp_path / "ok.pt", model=Tiny(), step=1, config={}), weights_only=True
    )
    payload["extra"] = {"payload": _Evil()}
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_checkpoint(path, model=Tiny())
    assert _Evil.calls == []  # the object's code never ran


@pytest.mark.parametrize(
    "extra",
    [{"obj": object()}, {"point": namedtuple("P", "x y")(1, 2)}, {"arr": np.zeros(2)}],
    ids=["object", "namedtuple", "ndarray"],
)
def test_save_refuses_what_weights_only_cannot_read(tmp_path, extra):
    with pytest.raises(TypeError, match=r"`extra`\[.*weights_only=True"):
        save_checkpoint(tmp_path / "c.pt", model=Tiny(), step=1, config={}, extra=extra)
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="save_checkpoint: `step` must be an int >= 0, got -1"):
        save_checkpoint(tmp_path / "c.pt", model=Tiny(), step=-1, config={})
    with pytest.raises(TypeError, match="`step` must be an int >= 0, got True"):
        save_checkpoint(tmp_path / "c.pt", model=Tiny(), step=True, config={})
    with pytest.raises(TypeError, match="`config`"):
        save_checkpoint(tmp_path / "c.pt", model=Tiny(), step=1, config=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`model`"):
        save_checkpoint(tmp_path / "c.pt", model={}, step=1, config={})  # type: ignore[arg-type]


def test_last_and_best(tmp_path):
    model = Tiny()
    last = save_checkpoint(tmp_path / "run" / "last.pt", model=model, step=1, config={})
    best = copy_checkpoint(last, tmp_path / "run" / "best.pt")
    save_checkpoint(last, model=model, step=2, config={})
    assert load_checkpoint(best)["step"] == 1 and load_checkpoint(last)["step"] == 2
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["best.pt", "last.pt"]
    with pytest.raises(FileNotFoundError):
        copy_checkpoint(tmp_path / "none.pt", best)


def test_rebuild_model_from_checkpoint(tmp_path):
    from rirn_layers.baselines import build_model

    config = {
        "name": "strcnn",
        "irm": True,
        "atb": True,
        "dtb": False,
        "channels": 8,
        "hidden_channels": 4,
        "encoder_blocks": 1,
        "decoder_blocks": 1,
    }
    torch.manual_seed(0)
    model = build_model(**config).eval()
    path = save_checkpoint(tmp_path / "m.pt", model=model, step=9, config=config)
    rebuilt, ckpt = model_from_checkpoint(path)
    assert ckpt["step"] == 9 and not rebuilt.training
    clip = torch.rand(1, 3, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(clip)[0], rebuilt(clip)[0])
    # a config the builder cannot take is a clear error
    torch.save({**torch.load(path, weights_only=True), "config": {"name": "nope"}}, path)
    with pytest.raises(CheckpointError, match="cannot rebuild"):
        model_from_checkpoint(path)


def test_format_tag_is_stored(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", model=Tiny(), step=4, config=CONFIG)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == FORMAT and raw["version"] == ckpt_module.VERSION
    assert raw["rng"]["torch"].dtype == torch.uint8


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_rng_and_device_round_trip(tmp_path):
    torch.cuda.manual_seed_all(3)
    model = Tiny().cuda()
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.rand(1, 3, 8, 8, device="cuda")).sum().backward()
    optimizer.step()
    path = save_checkpoint(tmp_path / "c.pt", model=model, optimizer=optimizer, step=1, config={})
    expected = torch.rand(5, device="cuda")
    torch.rand(7, device="cuda")
    model2 = Tiny().cuda()
    optimizer2 = torch.optim.Adam(model2.parameters())
    load_checkpoint(path, model=model2, optimizer=optimizer2)
    assert torch.equal(torch.rand(5, device="cuda"), expected)
    assert next(iter(optimizer2.state.values()))["exp_avg"].device.type == "cuda"
    _assert_same_state(model.state_dict(), model2.state_dict())
