"""The training loop: it learns, resumes bit for bit, keeps DDP ranks in sync, fails clearly."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

pytest.importorskip("skimage")
pytest.importorskip("kornia")

from rirn_layers.train import CheckpointError, load_checkpoint
from rirn_layers.train.loop import TrainConfig, train


def tiny(out: Path, **overrides) -> TrainConfig:
    values = dict(
        model="gru", irm=True, atb=True, out=str(out), steps=6, batch_size=2, clip_length=4,
        chunk=2, crop=32, val_every=3, val_clips=1, val_crop=32, lr=1e-3, progress=False,
        log_images=False,
    )
    values.update(overrides)
    return TrainConfig(**values)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def test_runs_logs_and_checkpoints(tmp_path):
    result = train(tiny(tmp_path))
    assert result.step == 6
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in lines if "loss" in e] == [1, 2, 3, 4, 5, 6]
    val = [e for e in lines if "val_psnr" in e]
    assert [e["step"] for e in val] == [3, 6]
    assert set(result.summary) >= {"val_psnr", "val_ssim", "blur_psnr", "blur_ssim"}
    assert (tmp_path / "last.pt").is_file() and (tmp_path / "best.pt").is_file()
    assert load_checkpoint(tmp_path / "last.pt", restore_rng=False)["step"] == 6


def test_resume_is_bit_for_bit(tmp_path):
    train(tiny(tmp_path / "straight"))
    train(tiny(tmp_path / "resumed", stop_at=4))  # interrupted after step 4 (not a val step)
    assert load_checkpoint(tmp_path / "resumed" / "last.pt", restore_rng=False)["step"] == 4
    train(tiny(tmp_path / "resumed", resume=True))
    a = weights(tmp_path / "straight" / "last.pt")
    b = weights(tmp_path / "resumed" / "last.pt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resume_with_another_model_is_a_clear_error(tmp_path):
    train(tiny(tmp_path, stop_at=2))
    with pytest.raises(CheckpointError, match=str(tmp_path / "last.pt")):
        train(tiny(tmp_path, irm=False, resume=True))


def test_bad_preset_and_values(tmp_path):
    with pytest.raises(ValueError, match="preset"):
        train(tiny(tmp_path, preset="fast"))
    with pytest.raises(ValueError, match="`chunk` must be an int >= 1"):
        train(tiny(tmp_path, chunk=0))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world),
                      RANK=str(rank), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    result = train(tiny(Path(out), steps=3, val_every=3, device="cpu"))
    flat = torch.cat([p.detach().flatten() for p in result.model.parameters()])
    torch.save(flat, Path(out) / f"rank{rank}.pt")
    assert not torch.distributed.is_initialized()  # train started the group and ended it


def test_ddp_two_cpu_ranks_stay_in_sync(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    a = torch.load(tmp_path / "rank0.pt")
    b = torch.load(tmp_path / "rank1.pt")
    assert torch.equal(a, b)
    # rank 0 alone logs and checkpoints
    assert (tmp_path / "last.pt").is_file()
    steps = [json.loads(x)["step"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps.count(1) == 1
