"""GlobalSpatioTemporalAttention: shapes, exact temporal window, errors, grads."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from rirn_layers import GlobalSpatioTemporalAttention


@given(
    b=st.integers(1, 3),
    c=st.integers(1, 5),
    past=st.integers(0, 3),
    future=st.integers(0, 3),
    h=st.integers(1, 7),
    w=st.integers(1, 7),
)
def test_shapes(b, c, past, future, h, w):
    gsa = GlobalSpatioTemporalAttention(c, past, future)
    out = gsa(torch.randn(b, past + 1 + future, c, h, w))
    assert gsa.out_channels == (past + 1 + future) * c
    assert out.shape == (b, gsa.out_channels, h, w)


@pytest.mark.parametrize(("past", "future"), [(2, 2), (1, 0), (0, 3), (0, 0)])
def test_depends_on_every_frame_of_the_window(past, future):
    """Every frame in t-past .. t+future influences the output; nothing else is an input."""
    torch.manual_seed(0)
    gsa = GlobalSpatioTemporalAttention(3, past, future)
    features = torch.randn(2, past + 1 + future, 3, 4, 4, requires_grad=True)
    gsa(features).square().sum().backward()
    per_frame = features.grad.abs().sum(dim=(0, 2, 3, 4))
    assert (per_frame > 0).all()


def test_batch_items_are_independent():
    gsa = GlobalSpatioTemporalAttention(3)
    features = torch.randn(2, 5, 3, 4, 4)
    torch.testing.assert_close(gsa(features)[:1], gsa(features[:1]))


def test_neighbour_order_matters_and_center_is_at_index_past():
    torch.manual_seed(0)
    gsa = GlobalSpatioTemporalAttention(2, past=1, future=1)
    features = torch.randn(1, 3, 2, 4, 4)
    swapped = features[:, [0, 2, 1]]  # a different frame in the centre
    assert not torch.allclose(gsa(features), gsa(swapped))


def test_matches_equations_4_to_6_written_out():
    """Eq. (4) concat, (5) gate * projection then condense, (6) fusion with f_t last."""
    torch.manual_seed(0)
    gsa = GlobalSpatioTemporalAttention(3, past=1, future=1).double()
    f = torch.randn(2, 3, 3, 5, 5, dtype=torch.float64)
    center = f[:, 1]
    effective = []
    for i in (0, 2):
        pair = torch.cat((center, f[:, i]), 1)  # (4)
        weights = gsa.gate(pair.mean(dim=(2, 3)))[:, :, None, None]
        effective.append(gsa.condense(weights * gsa.project(pair)))  # (5)
    expected = gsa.fusion(torch.cat((*effective, center), 1))  # (6)
    torch.testing.assert_close(gsa(f), expected)


def test_activation_option():
    gsa = GlobalSpatioTemporalAttention(2, activation=nn.GELU)
    assert isinstance(gsa.gate[1], nn.GELU)


def test_wrong_window_length():
    gsa = GlobalSpatioTemporalAttention(4, past=2, future=1)
    with pytest.raises(ValueError, match=r"\(B, 4, 4, H, W\).*past=2.*future=1.*\(1, 5, 4, 6, 6\)"):
        gsa(torch.randn(1, 5, 4, 6, 6))


def test_wrong_channels_and_rank():
    gsa = GlobalSpatioTemporalAttention(4)
    with pytest.raises(ValueError, match=r"`features`.*\(1, 5, 3, 6, 6\)"):
        gsa(torch.randn(1, 5, 3, 6, 6))
    with pytest.raises(ValueError, match=r"`features`.*\(5, 4, 6, 6\)"):
        gsa(torch.randn(5, 4, 6, 6))


def test_bad_config():
    with pytest.raises(ValueError, match="past"):
        GlobalSpatioTemporalAttention(4, past=-1)
    with pytest.raises(ValueError, match="channels"):
        GlobalSpatioTemporalAttention(0)


def test_gradcheck():
    torch.manual_seed(0)
    gsa = GlobalSpatioTemporalAttention(2, past=1, future=1).double()
    f = torch.randn(1, 3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(gsa, (f,))


def test_gradients_reach_every_parameter():
    gsa = GlobalSpatioTemporalAttention(3)
    gsa(torch.randn(2, 5, 3, 4, 4)).square().mean().backward()
    for name, p in gsa.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_channels_last_bf16_and_inference_mode():
    torch.manual_seed(0)
    gsa = GlobalSpatioTemporalAttention(4)
    f = torch.randn(2, 5, 4, 6, 6)
    ref = gsa(f).detach()
    with torch.inference_mode():
        torch.testing.assert_close(gsa(f), ref)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.testing.assert_close(gsa(f).float(), ref, rtol=5e-2, atol=5e-2)
    out = gsa.to(memory_format=torch.channels_last)(f)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


@given(
    b=st.integers(1, 3),
    c=st.integers(1, 4),
    past=st.integers(0, 2),
    future=st.integers(0, 2),
    h=st.integers(1, 5),
)
def test_fused_equals_layer_by_layer(b, c, past, future, h):
    """The one-matrix form gives eqs. 4-6 as written, values and gradients."""
    torch.manual_seed(0)
    gsa = GlobalSpatioTemporalAttention(c, past, future, activation=nn.GELU).double()
    features = torch.randn(b, past + 1 + future, c, h, h + 1, dtype=torch.float64,
                           requires_grad=True)
    fused = gsa(features)
    (grad_fused,) = torch.autograd.grad(fused.sum(), features)
    gsa.fused = False
    layerwise = gsa(features)
    (grad_layerwise,) = torch.autograd.grad(layerwise.sum(), features)
    torch.testing.assert_close(fused, layerwise)
    torch.testing.assert_close(grad_fused, grad_layerwise)
