"""Per-layer tests for IRM, ATB and DTB: shapes, paper constraints, errors, dtypes, grads."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from rirn_layers import AdaptiveTemporalBlend, DynamicTemporalBlend, InnerRecurrence

RECURRENT_LAYERS = [InnerRecurrence, AdaptiveTemporalBlend, DynamicTemporalBlend]
BLENDS = [AdaptiveTemporalBlend, DynamicTemporalBlend]


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv_params(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k * k + c_out


# -- shapes -----------------------------------------------------------------------------
@pytest.mark.parametrize("layer", RECURRENT_LAYERS)
@given(
    b=st.integers(1, 3),
    c=st.integers(1, 6),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    first=st.booleans(),
)
def test_shape_preserved(layer, b, c, h, w, first):
    module = layer(c)
    x = torch.randn(b, c, h, w)
    prev = None if first else torch.randn(b, c, h, w)
    out = module(x, prev)
    assert out.shape == (b, c, h, w)
    assert torch.isfinite(out).all()


# -- the paper's parameter counts (tables S3, S4) ---------------------------------------
def test_irm_parameter_count_matches_table_s3():
    c = 20
    # three 3x3 convs 2c->2c, ResBlock(2c) = two more, conv 2c->c, ResBlock(c) = two c->c
    expected = 5 * conv_params(2 * c, 2 * c, 3) + conv_params(2 * c, c, 3)
    expected += 2 * conv_params(c, c, 3)
    assert n_params(InnerRecurrence(c)) == expected == 86_660


def test_atb_parameter_count_matches_table_s4():
    c = 60
    # conv 3x3 2c->2c, then per path conv 3x3 c->c and conv 1x1 c->c
    expected = conv_params(2 * c, 2 * c, 3) + 2 * (conv_params(c, c, 3) + conv_params(c, c, 1))
    assert n_params(AdaptiveTemporalBlend(c)) == expected == 201_960


def test_dtb_parameter_count():
    c = 64
    assert n_params(DynamicTemporalBlend(c)) == conv_params(2 * c, c, 5) + 1  # + beta


# -- blend weights ------------------------------------------------------------------------
@given(b=st.integers(1, 2), c=st.integers(1, 5), h=st.integers(1, 6), w=st.integers(1, 6))
def test_atb_weights_in_unit_interval_and_reproduce_output(b, c, h, w):
    atb = AdaptiveTemporalBlend(c)
    f, prev = torch.randn(b, c, h, w), torch.randn(b, c, h, w)
    out, (w_prev, w_cur) = atb(f, prev, return_weights=True)
    assert w_prev.shape == w_cur.shape == f.shape
    assert (w_prev >= 0).all() and (w_prev <= 1).all()
    assert (w_cur >= 0).all() and (w_cur <= 1).all()
    torch.testing.assert_close(out, w_prev * prev + w_cur * f)
    torch.testing.assert_close(atb(f, prev), out)


def test_atb_weights_not_tied():
    torch.manual_seed(0)
    atb = AdaptiveTemporalBlend(8)
    _, (w_prev, w_cur) = atb(torch.randn(2, 8, 6, 6), torch.randn(2, 8, 6, 6), return_weights=True)
    total = w_prev + w_cur
    assert (total - 1).abs().max() > 0.05  # no sum-to-one: free, conical combination
    assert not torch.allclose(w_prev, w_cur)  # two independent maps


def test_atb_can_amplify_beyond_a_convex_blend():
    """With both weights near 1, ATB outputs ~f + f~, outside any convex blend of the two."""
    atb = AdaptiveTemporalBlend(2)
    for path in (atb.current, atb.previous):
        nn.init.zeros_(path[2].weight)
        nn.init.constant_(path[2].bias, 20.0)  # sigmoid(20) ~ 1
    f, prev = torch.ones(1, 2, 3, 3), torch.ones(1, 2, 3, 3)
    torch.testing.assert_close(atb(f, prev), 2 * torch.ones(1, 2, 3, 3), rtol=0, atol=1e-6)


def test_atb_first_frame_treats_previous_as_zeros():
    atb = AdaptiveTemporalBlend(4)
    f = torch.randn(2, 4, 5, 5)
    out, (_, w_cur) = atb(f, return_weights=True)
    torch.testing.assert_close(out, w_cur * f)
    torch.testing.assert_close(out, atb(f, torch.zeros_like(f)))


@given(b=st.integers(1, 2), c=st.integers(1, 5), h=st.integers(1, 6), w=st.integers(1, 6))
def test_dtb_weights_sum_to_one_and_reproduce_output(b, c, h, w):
    dtb = DynamicTemporalBlend(c)
    with torch.no_grad():
        dtb.beta.fill_(0.3)
    f, prev = torch.randn(b, c, h, w), torch.randn(b, c, h, w)
    out, (w_prev, w_cur) = dtb(f, prev, return_weights=True)
    torch.testing.assert_close(w_prev + w_cur, torch.ones_like(f))
    assert (w_cur >= 0.3 - 1e-6).all() and (w_cur <= 1).all()  # |tanh| + beta, clipped at 1
    torch.testing.assert_close(out, w_prev * prev + w_cur * f)


def test_dtb_first_frame_is_identity():
    dtb = DynamicTemporalBlend(3)
    f = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(dtb(f), f)


# -- the public weights(): what forward blends with ---------------------------------------
@pytest.mark.parametrize("layer", BLENDS)
@pytest.mark.parametrize("first", [False, True], ids=["next", "first"])
def test_forward_is_the_blend_with_weights(layer, first):
    torch.manual_seed(0)
    blend = layer(3)
    if isinstance(blend, DynamicTemporalBlend):
        with torch.no_grad():
            blend.beta.fill_(0.2)
    f = torch.randn(2, 3, 5, 7)
    given = None if first else torch.randn(2, 3, 5, 7)
    prev = given
    if prev is None:  # each layer's own start: f_0 for DTB, zeros for ATB
        prev = f if isinstance(blend, DynamicTemporalBlend) else torch.zeros_like(f)
    w_prev, w_cur = blend.weights(f, given)
    assert w_prev.shape == w_cur.shape == f.shape
    out, returned = blend(f, given, return_weights=True)
    assert all(torch.equal(a, b) for a, b in zip(returned, (w_prev, w_cur), strict=True))
    expected = (
        w_cur * f + w_prev * prev if isinstance(blend, DynamicTemporalBlend)
        else w_prev * prev + w_cur * f
    )
    assert torch.equal(out, expected)
    assert torch.equal(blend(f, given), out)


def test_dtb_weights_are_the_clipped_tanh_of_the_paper():
    dtb = DynamicTemporalBlend(2)
    with torch.no_grad():
        dtb.beta.fill_(0.4)
    f, prev = torch.randn(1, 2, 4, 4), torch.randn(1, 2, 4, 4)
    w_prev, w_cur = dtb.weights(f, prev)
    logits = dtb.weight_conv(torch.cat((f, prev), dim=1))
    torch.testing.assert_close(w_cur, (logits.tanh().abs() + 0.4).clamp(max=1.0))
    torch.testing.assert_close(w_prev, 1 - w_cur)


@pytest.mark.parametrize("layer", BLENDS)
def test_weights_check_their_inputs(layer):
    blend = layer(3)
    with pytest.raises(ValueError, match="`feature`"):
        blend.weights(torch.randn(1, 4, 5, 5))
    with pytest.raises(ValueError, match="`blended`"):
        blend.weights(torch.randn(1, 3, 5, 5), torch.randn(1, 3, 4, 5))


def test_irm_first_frame_is_zero_memory():
    irm = InnerRecurrence(3)
    h = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(irm(h), irm(h, torch.zeros_like(h)))


def test_irm_output_depends_on_memory():
    irm = InnerRecurrence(3)
    h = torch.randn(1, 3, 4, 4)
    assert not torch.allclose(irm(h, torch.randn_like(h)), irm(h, torch.randn_like(h)))


# -- gradients ----------------------------------------------------------------------------
@pytest.mark.parametrize("layer", RECURRENT_LAYERS)
def test_gradcheck(layer):
    torch.manual_seed(0)
    module = layer(2).double()
    if isinstance(module, DynamicTemporalBlend):
        with torch.no_grad():
            module.beta.fill_(0.1)  # keep away from the clip's kink at exactly 0
    x = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    prev = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: module(a, b), (x, prev))


@pytest.mark.parametrize("layer", RECURRENT_LAYERS)
def test_gradients_reach_every_parameter_over_three_steps(layer):
    torch.manual_seed(0)
    module = layer(3)
    state = None
    loss = torch.zeros(())
    for _ in range(3):
        state = module(torch.randn(2, 3, 5, 5), state)
        loss = loss + state.square().mean()
    loss.backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


# -- bad input ----------------------------------------------------------------------------
@pytest.mark.parametrize("layer", RECURRENT_LAYERS)
def test_wrong_channels_names_argument_and_shapes(layer):
    module = layer(4)
    arg = "hidden" if layer is InnerRecurrence else "feature"
    with pytest.raises(ValueError, match=rf"`{arg}`.*\(B, 4, H, W\).*\(2, 5, 6, 6\)"):
        module(torch.randn(2, 5, 6, 6))


@pytest.mark.parametrize("layer", RECURRENT_LAYERS)
def test_wrong_rank(layer):
    with pytest.raises(ValueError, match=r"got \(4, 6, 6\)"):
        layer(4)(torch.randn(4, 6, 6))


@pytest.mark.parametrize("layer", RECURRENT_LAYERS)
def test_previous_state_from_another_batch(layer):
    module = layer(4)
    pattern = r"must have the shape of .*\(2, 4, 6, 6\), got \(3, 4, 6, 6\)"
    with pytest.raises(ValueError, match=pattern):
        module(torch.randn(2, 4, 6, 6), torch.randn(3, 4, 6, 6))


@pytest.mark.parametrize("layer", RECURRENT_LAYERS)
def test_non_float_input(layer):
    with pytest.raises(TypeError, match="floating"):
        layer(4)(torch.ones(1, 4, 3, 3, dtype=torch.long))


@pytest.mark.parametrize("layer", RECURRENT_LAYERS)
def test_non_tensor_input(layer):
    with pytest.raises(TypeError, match="torch.Tensor"):
        layer(4)([[1.0]])


@pytest.mark.parametrize("layer", RECURRENT_LAYERS)
def test_bad_channels_argument(layer):
    with pytest.raises(ValueError, match="channels"):
        layer(0)


# -- dtypes, memory formats, modes --------------------------------------------------------
@pytest.mark.parametrize("layer", RECURRENT_LAYERS)
def test_float64(layer):
    module = layer(3, dtype=torch.float64)
    x = torch.randn(1, 3, 4, 4, dtype=torch.float64)
    assert module(x, x).dtype == torch.float64


@pytest.mark.parametrize("layer", RECURRENT_LAYERS)
def test_bfloat16_autocast_close_to_float32(layer):
    torch.manual_seed(0)
    module = layer(4)
    x, prev = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    ref = module(x, prev)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(x, prev)
    # convolutions run in bf16; a blend of bf16 weights with fp32 features promotes to fp32
    assert out.dtype == (torch.bfloat16 if layer is InnerRecurrence else torch.float32)
    torch.testing.assert_close(out.float(), ref, rtol=5e-2, atol=5e-2)


@pytest.mark.parametrize("layer", RECURRENT_LAYERS)
def test_channels_last_matches_contiguous(layer):
    torch.manual_seed(0)
    module = layer(4)
    x, prev = torch.randn(2, 4, 6, 7), torch.randn(2, 4, 6, 7)
    ref = module(x, prev)
    module = module.to(memory_format=torch.channels_last)
    cl = torch.channels_last
    out = module(x.to(memory_format=cl), prev.to(memory_format=cl))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layer", RECURRENT_LAYERS)
def test_inference_mode(layer):
    module = layer(3)
    x = torch.randn(1, 3, 4, 4)
    ref = module(x, x).detach()
    with torch.inference_mode():
        torch.testing.assert_close(module(x, x), ref)


@pytest.mark.parametrize("layer", RECURRENT_LAYERS)
def test_state_dict_round_trip(layer):
    torch.manual_seed(0)
    a, b = layer(3), layer(3)
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 3, 4, 4)
    torch.testing.assert_close(a(x, x), b(x, x))


@pytest.mark.parametrize("layer", RECURRENT_LAYERS)
def test_seeded_construction_is_deterministic(layer):
    torch.manual_seed(1)
    a = layer(3)
    torch.manual_seed(1)
    b = layer(3)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
