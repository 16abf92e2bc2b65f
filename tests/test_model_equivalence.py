"""The fast ClimaX computes the released function: same outputs, gradients, attention."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from climax_nb.model import ClimaX, ReferenceClimaX, VariableAggregation, preset

VARS = ["t850", "lsm", "z500", "u10", "v10"]  # a subset, not in model order


def assert_rel_close(actual: torch.Tensor, expected: torch.Tensor, rel: float = 1e-5) -> None:
    """Max abs difference within ``rel`` of the largest expected magnitude."""
    scale = expected.abs().max().item()
    assert scale > 0
    err = (actual - expected).abs().max().item()
    assert err <= rel * scale, f"max error {err:.3g} > {rel} x {scale:.3g}"


@pytest.fixture(scope="module")
def pair() -> tuple[ReferenceClimaX, ClimaX]:
    torch.manual_seed(0)
    ref = ReferenceClimaX.from_config(preset("tiny")).eval()
    with torch.no_grad():  # the released init leaves var_query and biases at 0: make them count
        for p in ref.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return ref, ref.to_fast()


def _inputs(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, len(VARS), 8, 16, generator=g), torch.tensor([6.0, 72.0])


def test_outputs_and_attention_match_reference(pair):
    ref, fast = pair
    x, lead = _inputs()
    with torch.no_grad():
        out_r, attn_r = ref(x, lead, VARS, out_variables=["z500", "t2m"], return_attention=True)
        out_f, attn_f = fast(x, lead, VARS, out_variables=["z500", "t2m"], return_attention=True)
    assert out_f.shape == (2, 2, 8, 16)
    assert attn_f.shape == (2, 32, 4, len(VARS))
    assert_rel_close(out_f, out_r)
    assert_rel_close(attn_f, attn_r)


def test_gradients_match_reference(pair):
    ref, fast = pair
    x, lead = _inputs(2)
    for model in (ref, fast):
        model.zero_grad()
        model(x, lead, VARS).square().mean().backward()
    fast_grads = dict(fast.named_parameters())
    for name, p in ref.named_parameters():
        if name.startswith("token_embeds."):
            i, kind = int(name.split(".")[1]), name.split(".")[-1]
            stacked = {"weight": "proj_weights", "bias": "proj_biases"}[kind]
            g = getattr(fast.token_embeds, stacked).grad[i]
        else:
            g = fast_grads[name].grad
        if p.grad is None:  # variables absent from VARS get no gradient in either
            assert g is None or g.abs().max() == 0, name
            continue
        assert_rel_close(g.reshape(p.grad.shape), p.grad)


def test_aggregation_matches_multihead_attention():
    torch.manual_seed(3)
    dim, heads, nvar, k = 24, 3, 7, 4
    mha = nn.MultiheadAttention(dim, heads, batch_first=True)
    agg = VariableAggregation(dim, heads)
    agg.load_state_dict(mha.state_dict())
    with torch.no_grad():
        agg.in_proj_bias.normal_()
        mha.in_proj_bias.copy_(agg.in_proj_bias)
    query = torch.randn(dim)
    patches = torch.randn(2, nvar, 5, k)
    weight, bias = torch.randn(nvar, dim, k), torch.randn(nvar, dim)
    out, attn = agg(query, patches, weight, bias)

    tokens = torch.einsum("bvlk,vdk->blvd", patches, weight) + bias  # B, L, V, D
    flat = tokens.flatten(0, 1)
    expected, weights = mha(query.expand(flat.shape[0], 1, dim), flat, flat,
                            average_attn_weights=False)
    assert_rel_close(out, expected.reshape(2, 5, dim))
    assert_rel_close(attn, weights.reshape(2, 5, heads, nvar))
    assert torch.allclose(attn.sum(-1), torch.ones(2, 5, heads))


def test_float64_agreement_is_tight(pair):
    ref, fast = (copy.deepcopy(m).double() for m in pair)
    x, lead = _inputs(4)
    with torch.no_grad():
        assert_rel_close(fast(x.double(), lead.double(), VARS),
                         ref(x.double(), lead.double(), VARS), rel=1e-12)


def test_compact_preset_agrees_at_48_variables():
    torch.manual_seed(5)
    cfg = preset("compact", depth=1, drop_path=0.0, drop_rate=0.0)
    ref = ReferenceClimaX.from_config(cfg).eval()
    fast = ref.to_fast().eval()
    x = torch.randn(1, len(cfg.variables), 32, 64)
    with torch.no_grad():
        assert_rel_close(fast(x, 24.0, cfg.variables), ref(x, 24.0, cfg.variables))
