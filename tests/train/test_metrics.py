"""PSNR/SSIM against scikit-image on real images, the papers' conventions, the tracker."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rirn_layers.train.metrics import MetricTracker, psnr, quantize_8bit, ssim

skimage = pytest.importorskip("skimage")
pytest.importorskip("kornia")
from skimage import data, filters  # noqa: E402
from skimage.metrics import peak_signal_noise_ratio, structural_similarity  # noqa: E402

IMAGES = ("astronaut", "chelsea", "coffee")


def _reference_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """The papers' SSIM (MATLAB ssim_index) as scikit-image computes it, HWC in [0, 1]."""
    return structural_similarity(
        a,
        b,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=1.0,
        channel_axis=-1,
    )


def _degrade(img: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "blur+noise":
        out = filters.gaussian(img, sigma=2.0, channel_axis=-1) + rng.normal(0, 0.03, img.shape)
    elif kind == "noise":
        out = img + rng.normal(0, 0.1, img.shape)
    else:  # "shift": brightness/contrast change, a different error structure
        out = 0.8 * img + 0.15
    return np.clip(out, 0.0, 1.0)


def _pairs() -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    pairs = []
    for name in IMAGES:
        sharp = getattr(data, name)().astype(np.float64) / 255.0
        sharp = sharp[:160, :200]  # keep the test fast; still a real photograph
        for kind in ("blur+noise", "noise", "shift"):
            pairs.append((name, kind, sharp, _degrade(sharp, kind, rng)))
    return pairs


PAIRS = _pairs()


def _t(a: np.ndarray, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].to(dtype)


def _np_quantize(a: np.ndarray) -> np.ndarray:
    return np.round(np.clip(a, 0, 1) * 255.0) / 255.0


@pytest.mark.parametrize("name,kind,sharp,blurred", PAIRS, ids=[f"{p[0]}-{p[1]}" for p in PAIRS])
def test_matches_scikit_image(name: str, kind: str, sharp: np.ndarray, blurred: np.ndarray):
    # Quantized (the default): skimage on the 8-bit-rounded frames.
    qs, qb = _np_quantize(sharp), _np_quantize(blurred)
    ref_psnr = peak_signal_noise_ratio(qs, qb, data_range=1.0)
    ref_ssim = _reference_ssim(qs, qb)
    assert 0.2 < ref_ssim < 0.999  # a real degradation, not a trivial case
    out, tgt = _t(blurred, torch.float32), _t(sharp, torch.float32)
    assert psnr(out, tgt).item() == pytest.approx(ref_psnr, abs=1e-4)
    assert ssim(out, tgt).item() == pytest.approx(ref_ssim, abs=1e-4)
    # Unquantized: skimage on the float frames.
    assert psnr(out, tgt, quantize=False).item() == pytest.approx(
        peak_signal_noise_ratio(sharp, blurred, data_range=1.0), abs=1e-4
    )
    assert ssim(out, tgt, quantize=False).item() == pytest.approx(
        _reference_ssim(sharp, blurred), abs=1e-4
    )


def test_float64_frames_match_to_1e6():
    """Float64 frames are scored in float64: agreement well past the 4 printed decimals."""
    _, _, sharp, blurred = PAIRS[0]
    crop = (slice(0, 64), slice(0, 80))  # float64 depthwise convs are slow on CPU
    sharp, blurred = sharp[crop], blurred[crop]
    qs, qb = _np_quantize(sharp), _np_quantize(blurred)
    assert psnr(_t(blurred), _t(sharp)).item() == pytest.approx(
        peak_signal_noise_ratio(qs, qb, data_range=1.0), abs=1e-9
    )
    assert ssim(_t(blurred), _t(sharp)).item() == pytest.approx(_reference_ssim(qs, qb), abs=1e-6)


def test_uint8_frames_equal_float_frames():
    _, _, sharp, blurred = PAIRS[0]
    s8 = torch.from_numpy(np.round(sharp * 255).astype(np.uint8)).permute(2, 0, 1)[None]
    b8 = torch.from_numpy(np.round(blurred * 255).astype(np.uint8)).permute(2, 0, 1)[None]
    out, tgt = _t(blurred, torch.float32), _t(sharp, torch.float32)
    assert psnr(b8, s8).item() == pytest.approx(psnr(_t(blurred), _t(sharp)).item(), abs=1e-9)
    assert ssim(b8, s8).item() == pytest.approx(ssim(out, tgt).item(), abs=1e-6)


def test_per_frame_not_pooled():
    """Two frames with different errors: the per-frame values, not the pooled MSE's PSNR."""
    _, _, sharp, _ = PAIRS[3]
    rng = np.random.default_rng(1)
    noisy = [np.clip(sharp + rng.normal(0, s, sharp.shape), 0, 1) for s in (0.01, 0.08)]
    out = torch.cat([_t(n) for n in noisy])
    tgt = torch.cat([_t(sharp)] * 2)
    values = psnr(out, tgt, quantize=False)
    refs = [peak_signal_noise_ratio(sharp, n, data_range=1.0) for n in noisy]
    assert values.shape == (2,)
    assert values.tolist() == pytest.approx(refs, abs=1e-6)
    pooled = peak_signal_noise_ratio(np.stack([sharp] * 2), np.stack(noisy), data_range=1.0)
    assert values.mean().item() - pooled > 1.0  # the pooled number is a different one
    s = ssim(out.float(), tgt.float(), quantize=False)
    assert s.tolist() == pytest.approx([_reference_ssim(sharp, n) for n in noisy], abs=1e-4)


def test_clip_shape_gives_per_frame_grid():
    frames = torch.rand(2, 3, 3, 24, 20)
    target = torch.rand(2, 3, 3, 24, 20)
    for metric in (psnr, ssim):
        grid = metric(frames, target)
        assert grid.shape == (2, 3)
        flat = metric(frames.flatten(0, 1), target.flatten(0, 1))
        assert torch.equal(grid.flatten(), flat)


def test_identical_frames():
    frame = torch.rand(2, 3, 16, 16)
    assert torch.isinf(psnr(frame, frame)).all()
    assert psnr(frame, frame, max_db=100.0).tolist() == [100.0, 100.0]
    assert ssim(frame, frame).tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    # the cap only affects values above it
    other = (frame + 0.1).clamp(0, 1)
    assert torch.equal(psnr(other, frame, max_db=100.0), psnr(other, frame))


def test_quantize_and_overshoot():
    x = torch.tensor([-0.2, 0.0, 0.3, 0.5, 0.998, 1.0, 1.2], dtype=torch.float64)
    q = quantize_8bit(x)
    assert torch.equal(q * 255, torch.round(q * 255))  # 8-bit levels
    assert q.min() == 0 and q.max() == 1
    assert torch.equal(quantize_8bit(q), q)
    # levels follow the value a float32 frame holds (0.7f = 0.69999998...: 178.4999 -> 178)
    assert quantize_8bit(torch.tensor([0.7])).item() == pytest.approx(178 / 255, abs=1e-7)
    assert quantize_8bit(torch.tensor([0.7], dtype=torch.float64)).item() == 179 / 255
    # overshoots are clipped as saving the frame would: 1.2 scores as 1.0
    target = torch.rand(1, 3, 16, 16)
    target[..., 0, 0] = 1.0
    over = target.clone()
    over[..., 0, 0] = 1.2
    assert psnr(over, target).item() == math.inf
    assert psnr(over, target, quantize=False).item() == math.inf


@given(
    n=st.integers(1, 3),
    h=st.integers(11, 20),
    w=st.integers(11, 20),
    seed=st.integers(0, 2**16),
)
def test_frames_are_independent_and_ssim_symmetric(n: int, h: int, w: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, 3, h, w, generator=g)
    b = (a + 0.2 * torch.randn(n, 3, h, w, generator=g)).clamp(0, 1)
    batch_p, batch_s = psnr(b, a), ssim(b, a)
    for i in range(n):
        assert psnr(b[i : i + 1], a[i : i + 1]).item() == pytest.approx(batch_p[i].item())
        assert ssim(b[i : i + 1], a[i : i + 1]).item() == pytest.approx(batch_s[i].item())
    assert torch.allclose(ssim(a, b), batch_s)
    assert (batch_s <= 1).all() and (batch_s >= -1).all()


@pytest.mark.parametrize(
    "output,target,error,match",
    [
        (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 17), ValueError, "same shape"),
        (torch.rand(3, 16, 16), torch.rand(3, 16, 16), ValueError, r"\(N, 3, H, W\)"),
        (torch.rand(1, 4, 16, 16), torch.rand(1, 4, 16, 16), ValueError, "got \\(1, 4, 16, 16\\)"),
        (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16) * 255, ValueError, "`target`.*0, 1"),
        (torch.rand(1, 3, 16, 16) * 255, torch.rand(1, 3, 16, 16), ValueError, "`output`.*255"),
        (torch.full((1, 3, 16, 16), math.nan), torch.rand(1, 3, 16, 16), ValueError, "NaN"),
        (torch.ones(1, 3, 16, 16, dtype=torch.int32), torch.rand(1, 3, 16, 16), TypeError, "int"),
        (np.zeros((1, 3, 16, 16)), torch.rand(1, 3, 16, 16), TypeError, "torch.Tensor"),
    ],
)
def test_bad_input(output, target, error, match):
    for metric in (psnr, ssim):
        with pytest.raises(error, match=match):
            metric(output, target)


def test_ssim_needs_the_window():
    with pytest.raises(ValueError, match="11x11"):
        ssim(torch.rand(1, 3, 10, 32), torch.rand(1, 3, 10, 32))
    assert psnr(torch.rand(1, 3, 2, 2), torch.rand(1, 3, 2, 2)).shape == (1,)


# -- MetricTracker -------------------------------------------------------------------------
def _clip(t: int, noise: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(t, 3, 16, 16, generator=g)
    output = (target + noise * torch.randn(t, 3, 16, 16, generator=g)).clamp(0, 1)
    return output, target


def test_tracker_means_and_table():
    tracker = MetricTracker()
    a_out, a_tgt = _clip(4, 0.02, 0)
    b_out, b_tgt = _clip(2, 0.2, 1)
    tracker.update("a", a_out[:2], a_tgt[:2])
    tracker.update("a", a_out[2:], a_tgt[2:])  # continues at frame 2
    tracker.update("b", b_out, b_tgt)
    assert tracker.sequences == ["a", "b"] and tracker.num_frames == 6
    a_psnr = psnr(a_out, a_tgt).tolist()
    assert tracker.values("psnr", "a") == pytest.approx(a_psnr)
    all_psnr = a_psnr + psnr(b_out, b_tgt).tolist()
    per_seq = tracker.sequence_means()
    assert per_seq["a"]["psnr"] == pytest.approx(sum(a_psnr) / 4)
    assert tracker.means()["psnr"] == pytest.approx(sum(all_psnr) / 6)
    by_seq = tracker.means(by="sequence")["psnr"]
    assert by_seq == pytest.approx((per_seq["a"]["psnr"] + per_seq["b"]["psnr"]) / 2)
    assert abs(by_seq - tracker.means()["psnr"]) > 0.1  # the two weightings differ
    table = tracker.table()
    assert table.splitlines()[0] == "| sequence | frames | psnr | ssim |"
    assert f"| a | 4 | {per_seq['a']['psnr']:.4f} |" in table
    assert f"| mean (all frames) | 6 | {tracker.means()['psnr']:.4f} |" in table


def test_tracker_clips_duplicates_and_state():
    tracker = MetricTracker(["psnr"])
    out, tgt = _clip(3, 0.05, 2)
    clips_out, clips_tgt = torch.stack([out, out.flip(0)]), torch.stack([tgt, tgt.flip(0)])
    tracker.update(["x", "y"], clips_out, clips_tgt, start=[0, 10])
    assert tracker.values("psnr", "x") == pytest.approx(psnr(out, tgt).tolist())
    # a repeated frame (a distributed sampler pads with repeats) replaces, not adds
    tracker.update("x", out[:1], tgt[:1], start=0)
    assert tracker.num_frames == 6
    other = MetricTracker(["psnr"])
    other.load_state_dict(tracker.state_dict())
    assert other.sequence_means() == tracker.sequence_means()
    merged = MetricTracker(["psnr"])
    merged.merge(tracker)
    merged.add("z", [{"psnr": 30.0}, {"psnr": 32.0}])
    assert merged.sequence_means()["z"] == {"psnr": 31.0}
    assert merged.num_frames == 8


def test_tracker_errors():
    with pytest.raises(ValueError, match="unknown metrics"):
        MetricTracker(["lpips"])
    tracker = MetricTracker(["psnr"])
    out, tgt = _clip(2, 0.05, 3)
    with pytest.raises(ValueError, match="2 names for 2 clips"):
        tracker.update("x", torch.stack([out, out]), torch.stack([tgt, tgt]))
    with pytest.raises(ValueError, match="lacks"):
        tracker.add("x", [{"ssim": 0.5}])
    with pytest.raises(ValueError, match="not tracked"):
        tracker.values("ssim")
    assert math.isnan(tracker.means()["psnr"])  # nothing stored yet


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(3, 3, 40, 48, generator=g)
    output = (target + 0.05 * torch.randn(3, 3, 40, 48, generator=g)).clamp(0, 1)
    for metric in (psnr, ssim):
        on_cpu = metric(output, target)
        on_gpu = metric(output.cuda(), target.cuda())
        assert on_gpu.device.type == "cuda"
        assert torch.allclose(on_gpu.cpu(), on_cpu, atol=1e-5)
        with torch.autocast("cuda", dtype=torch.float16):  # half frames are scored in float32
            half = metric(output.cuda().half(), target.cuda().half())
        assert torch.allclose(half.cpu().double(), on_cpu.double(), atol=1e-4)
