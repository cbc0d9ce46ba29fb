"""Filter adaptive convolution (STFAN's FAC): values, layout, gradients, memory, errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from rirn_layers.baselines.fac import FilterAdaptiveConv, fac_macs, filter_adaptive_conv


def loop_reference(q: torch.Tensor, f: torch.Tensor, k: int) -> torch.Tensor:
    """The formula, one output element at a time, with explicitly clamped indices."""
    b_, c_, h_, w_ = q.shape
    p = k // 2
    out = torch.zeros_like(q)
    for b in range(b_):
        for c in range(c_):
            for y in range(h_):
                for x in range(w_):
                    total = q.new_zeros(())
                    for i in range(k):
                        for j in range(k):
                            yy = min(max(y + i - p, 0), h_ - 1)  # replication padding
                            xx = min(max(x + j - p, 0), w_ - 1)
                            total = total + q[b, c, yy, xx] * f[b, c * k * k + i * k + j, y, x]
                    out[b, c, y, x] = total
    return out


def rand(*shape: int, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# -- values ------------------------------------------------------------------------------
@given(
    b=st.integers(1, 2),
    c=st.integers(1, 3),
    h=st.integers(1, 5),
    w=st.integers(1, 5),
    k=st.sampled_from([1, 3, 5]),
)
def test_matches_the_loop_reference(b, c, h, w, k):
    q = rand(b, c, h, w, seed=1)
    f = rand(b, c * k * k, h, w, seed=2)
    torch.testing.assert_close(
        filter_adaptive_conv(q, f, k), loop_reference(q, f, k), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize(("i", "j"), [(0, 0), (0, 4), (4, 1), (2, 2), (3, 0)])
def test_tap_layout_is_channel_major_then_row_major(i, j):
    # a one-hot filter at tap (i, j) shifts the map by (i - 2, j - 2), replicating borders
    k, p = 5, 2
    q = rand(1, 2, 6, 7)
    f = torch.zeros(1, 2, k, k, 6, 7, dtype=torch.float64)
    f[:, :, i, j] = 1.0
    out = filter_adaptive_conv(q, f.flatten(1, 3), k)
    rows = (torch.arange(6) + i - p).clamp(0, 5)
    cols = (torch.arange(7) + j - p).clamp(0, 6)
    torch.testing.assert_close(out, q[:, :, rows][:, :, :, cols], rtol=0, atol=0)


def test_filters_are_per_pixel_and_per_channel():
    q = rand(1, 2, 4, 4)
    f = torch.zeros(1, 2 * 9, 4, 4, dtype=torch.float64)
    f[0, 4, 1, 2] = 3.0  # channel 0, centre tap, only at pixel (1, 2)
    out = filter_adaptive_conv(q, f, 3)
    expected = torch.zeros_like(q)
    expected[0, 0, 1, 2] = 3.0 * q[0, 0, 1, 2]
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_layouts_dtypes_and_module():
    q = rand(2, 3, 5, 6, dtype=torch.float32)
    f = rand(2, 27, 5, 6, seed=3, dtype=torch.float32)
    expected = filter_adaptive_conv(q, f, 3)
    cl = filter_adaptive_conv(
        q.to(memory_format=torch.channels_last), f.to(memory_format=torch.channels_last), 3
    )
    torch.testing.assert_close(cl, expected)
    strided = filter_adaptive_conv(q.transpose(2, 3).contiguous().transpose(2, 3), f, 3)
    torch.testing.assert_close(strided, expected)
    promoted = filter_adaptive_conv(q, f.double(), 3)
    assert promoted.dtype == torch.float64
    torch.testing.assert_close(promoted, expected.double(), rtol=1e-5, atol=1e-5)
    module = FilterAdaptiveConv(3)
    assert "kernel_size=3" in repr(module) and not list(module.parameters())
    torch.testing.assert_close(module(q, f), expected, rtol=0, atol=0)


# -- gradients ---------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 3])
def test_gradcheck_and_gradgradcheck(k):
    q = rand(2, 2, 4, 3, seed=4).requires_grad_()
    f = rand(2, 2 * k * k, 4, 3, seed=5).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: filter_adaptive_conv(a, b, k), (q, f))
    assert torch.autograd.gradgradcheck(lambda a, b: filter_adaptive_conv(a, b, k), (q, f))


def test_gradient_of_one_input_only():
    q = rand(1, 2, 4, 4, seed=6)
    f = rand(1, 18, 4, 4, seed=7)
    for needs in ((True, False), (False, True)):
        a = q.clone().requires_grad_(needs[0])
        b = f.clone().requires_grad_(needs[1])
        filter_adaptive_conv(a, b, 3).square().sum().backward()
        assert (a.grad is not None) == needs[0] and (b.grad is not None) == needs[1]
    a, b = q.clone().requires_grad_(), f.clone().requires_grad_()
    ra, rb = q.clone().requires_grad_(), f.clone().requires_grad_()
    filter_adaptive_conv(a, b, 3).square().sum().backward()
    loop_reference(ra, rb, 3).square().sum().backward()
    torch.testing.assert_close(a.grad, ra.grad)
    torch.testing.assert_close(b.grad, rb.grad)


# -- memory ------------------------------------------------------------------------------
def allocations(fn: Callable[[], object]) -> tuple[object, list[int]]:
    """``fn()`` and the element counts (float32) of the allocations its ops keep.

    ``torch.profiler`` with ``profile_memory`` records each op's own allocations net of what
    it frees, so temporaries an op makes and drops inside itself do not show, but every
    buffer that outlives its op (outputs, saved tensors, gradients) does.
    """
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = fn()
    return out, [e.self_cpu_memory_usage // 4 for e in prof.events()
                 if e.self_cpu_memory_usage > 0]


def test_no_k_squared_temporaries():
    b, c, h, w, k = 1, 4, 16, 16, 5
    q = torch.randn(b, c, h, w, requires_grad=True)
    f = torch.randn(b, c * k * k, h, w, requires_grad=True)
    padded = b * c * (h + k - 1) * (w + k - 1)
    out, forward = allocations(lambda: filter_adaptive_conv(q, f, k))
    # forward: the padded copy and the output, nothing of the filters' size
    assert max(forward) == padded and sum(forward) == padded + q.numel()
    _, backward = allocations(lambda: out.backward(torch.ones_like(out)))  # type: ignore[union-attr]
    # backward: one filter-sized buffer (the filters' gradient), the rest feature-sized
    assert backward.count(f.numel()) == 1
    assert sorted(backward)[-2] <= padded


def test_meta_device_and_macs():
    q = torch.empty(1, 128, 180, 320, device="meta")
    f = torch.empty(1, 3200, 180, 320, device="meta")
    counter = FlopCounterMode(display=False)
    with counter:
        out = filter_adaptive_conv(q, f)
    assert out.shape == q.shape and out.device.type == "meta"
    assert counter.get_total_flops() == 0  # elementwise ops: hence fac_macs
    assert fac_macs(q.shape) == 128 * 180 * 320 * 25
    assert fac_macs((2, 3, 4, 5), kernel_size=3) == 2 * 3 * 4 * 5 * 9


# -- errors ------------------------------------------------------------------------------
def test_bad_filter_channels_name_expected_and_actual_shape():
    q = torch.rand(2, 4, 8, 9)
    with pytest.raises(ValueError, match=r"\(2, 100, 8, 9\).*got \(2, 99, 8, 9\)"):
        filter_adaptive_conv(q, torch.rand(2, 99, 8, 9))
    with pytest.raises(ValueError, match=r"\(2, 36, 8, 9\).*got \(2, 36, 8, 8\)"):
        filter_adaptive_conv(q, torch.rand(2, 36, 8, 8), kernel_size=3)
    with pytest.raises(ValueError, match=r"\(2, 36, 8, 9\).*got \(1, 36, 8, 9\)"):
        FilterAdaptiveConv(3)(q, torch.rand(1, 36, 8, 9))


@pytest.mark.parametrize("k", [0, 2, -3, 1.0, True, "5"])
def test_bad_kernel_size(k):
    with pytest.raises(ValueError, match="kernel_size"):
        FilterAdaptiveConv(k)
    with pytest.raises(ValueError, match="kernel_size"):
        filter_adaptive_conv(torch.rand(1, 1, 2, 2), torch.rand(1, 1, 2, 2), k)


def test_bad_inputs():
    with pytest.raises(ValueError, match="features"):
        filter_adaptive_conv(torch.rand(4, 8, 9), torch.rand(1, 100, 8, 9))
    with pytest.raises(TypeError, match="filters"):
        filter_adaptive_conv(torch.rand(1, 4, 8, 9), torch.ones(1, 100, 8, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="device"):
        filter_adaptive_conv(torch.rand(1, 4, 8, 9), torch.empty(1, 100, 8, 9, device="meta"))
    with pytest.raises(ValueError, match="features_shape"):
        fac_macs((4, 8, 9))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    q = rand(2, 8, 12, 10, dtype=torch.float32).requires_grad_()
    f = rand(2, 200, 12, 10, seed=1, dtype=torch.float32).requires_grad_()
    out = filter_adaptive_conv(q, f)
    out.square().sum().backward()
    qc = q.detach().cuda().requires_grad_()
    fc = f.detach().cuda().requires_grad_()
    out_c = filter_adaptive_conv(qc, fc)
    out_c.square().sum().backward()
    torch.testing.assert_close(out_c.cpu(), out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(qc.grad.cpu(), q.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(fc.grad.cpu(), f.grad, rtol=1e-4, atol=1e-4)


def test_unfold_formulation_agrees():
    # the same sum written with unfold (the memory-hungry way), float64
    q = rand(2, 3, 6, 5)
    f = rand(2, 3 * 25, 6, 5, seed=8)
    patches = F.unfold(F.pad(q, (2, 2, 2, 2), mode="replicate"), 5)  # (B, C*25, H*W)
    expected = (patches.view(2, 3, 25, 30) * f.view(2, 3, 25, 30)).sum(2).view(2, 3, 6, 5)
    torch.testing.assert_close(filter_adaptive_conv(q, f), expected)

