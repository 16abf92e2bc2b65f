"""ClimaX API: presets, embeddings, variable handling, lead time, attention, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from climax_nb.model import ClimaX, ClimaXConfig, VariableTokenizer, preset, sincos_1d, sincos_2d
from climax_nb.model.blocks import Attention, DropPath
from climax_nb.model.embed import patchify, unpatchify
from climax_nb.variables import CLIMAX_DEFAULT_IDS, UnknownVariableError

TINY = preset("tiny")


@pytest.fixture(scope="module")
def model() -> ClimaX:
    torch.manual_seed(0)
    m = ClimaX.from_config(TINY).eval()
    with torch.no_grad():
        m.var_query.normal_()  # released init is zero: uniform attention would hide ordering bugs
    return m


def _x(nvar: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(2, nvar, 8, 16, generator=torch.Generator().manual_seed(seed))


def test_presets():
    paper = preset("paper")
    assert (paper.embed_dim, paper.depth, paper.decoder_depth, paper.num_heads) == (1024, 8, 2, 16)
    assert paper.variables == CLIMAX_DEFAULT_IDS and paper.img_size == (32, 64)
    assert (preset("compact").embed_dim, preset("compact").patch_size) == (128, 2)
    assert preset("tiny", depth=3).depth == 3
    assert ClimaXConfig.from_dict(TINY.to_dict()) == TINY
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")
    with pytest.raises(AttributeError):
        TINY.depth = 5  # frozen


def test_layout_and_names(model):
    names = set(dict(model.named_parameters()))
    assert {"head.0.weight", "head.2.weight", "head.4.weight", "var_query", "var_embed",
            "var_agg.in_proj_weight", "var_agg.out_proj.weight", "blocks.1.attn.qkv.weight",
            "blocks.0.mlp.fc2.bias", "token_embeds.proj_weights", "pos_embed",
            "lead_time_embed.weight"} <= names
    assert model.head[4].out_features == len(TINY.variables) * 4
    assert isinstance(model.head[1], nn.GELU)


def test_sincos_tables_follow_climax():
    d, h, w = 8, 3, 5
    table = sincos_2d(d, h, w)
    omega = 1 / 10000 ** (np.arange(2) / 2)
    i, j = 1, 3  # patch row 1, column 3 -> index 8; first half encodes the column
    expected = np.concatenate([np.sin(j * omega), np.cos(j * omega),
                               np.sin(i * omega), np.cos(i * omega)])
    np.testing.assert_allclose(table[i * w + j], expected, rtol=1e-6)
    np.testing.assert_allclose(sincos_1d(4, np.array([0.0]))[0], [0, 0, 1, 1])
    model = ClimaX.from_config(TINY)
    np.testing.assert_allclose(model.pos_embed[0].detach().numpy(),
                               sincos_2d(TINY.embed_dim, 4, 8), rtol=1e-6)


def test_tokenizer_equals_per_variable_conv():
    torch.manual_seed(1)
    tok = VariableTokenizer(3, 2, 6)
    x = torch.randn(2, 2, 4, 6)
    index = torch.tensor([2, 0])
    out = tok(x, index)
    for j, i in enumerate(index.tolist()):
        conv = nn.functional.conv2d(x[:, j : j + 1], tok.proj_weights[i], tok.proj_biases[i],
                                    stride=2)
        torch.testing.assert_close(out[:, j], conv.flatten(2).transpose(1, 2))


def test_unpatchify_inverts_patchify_as_climax_head():
    x = torch.randn(2, 3, 4, 6)
    p = patchify(x, 2)  # B, V, L, p*p
    head_like = p.permute(0, 2, 3, 1).flatten(2)  # B, L, p*p*V: pixel-major, variable-minor
    torch.testing.assert_close(unpatchify(head_like, 2, 2, 3), x)


def test_forward_shapes_and_out_variables(model):
    names, lead = list(TINY.variables), torch.tensor([6.0, 12.0])
    out = model(_x(6), lead, names)
    assert out.shape == (2, 6, 8, 16)
    sub = model(_x(6), lead, names, out_variables=["t850", "lsm"])
    torch.testing.assert_close(sub, out[:, [5, 0]])


def test_variable_order_and_long_names_do_not_matter(model):
    x = _x(4, seed=3)
    names = ["z500", "t2m", "u10", "lsm"]
    out = model(x, 24.0, names)
    perm = [3, 1, 0, 2]
    shuffled = model(x[:, perm], 24.0, [names[i] for i in perm])
    torch.testing.assert_close(shuffled, out, rtol=1e-5, atol=1e-5)
    long = model(x, 24.0, ["geopotential_500", "2m_temperature", "10m_u_component_of_wind",
                           "land_sea_mask"])
    torch.testing.assert_close(long, out)
    assert not torch.allclose(model(x, 24.0, ["t2m", "z500", "u10", "lsm"]), out)


def test_lead_time_enters_as_hours_over_100(model):
    x = _x(2)
    emb = model.lead_time_embedding(torch.tensor([600.0, 6.0]), x)
    expected = model.lead_time_embed(torch.tensor([[6.0], [0.06]]))
    torch.testing.assert_close(emb[:, 0], expected)
    a = model(x, torch.tensor([6.0, 6.0]), ["t2m", "z500"])
    torch.testing.assert_close(model(x, 6.0, ["t2m", "z500"]), a)  # scalar broadcasts
    assert not torch.allclose(model(x, 72.0, ["t2m", "z500"]), a)


def test_attention_weights(model):
    out, attn = model(_x(3), torch.tensor([6.0, 6.0]), ["t2m", "z500", "lsm"],
                      return_attention=True)
    assert attn.shape == (2, 32, TINY.num_heads, 3)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 32, TINY.num_heads))
    assert attn.std() > 0


def test_backward_reaches_every_used_parameter():
    torch.manual_seed(0)
    model = ClimaX.from_config(TINY.replace(drop_path=0.1, drop_rate=0.1)).train()
    model(_x(6), torch.tensor([6.0, 12.0]), list(TINY.variables)).square().mean().backward()
    silent = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert silent == []


def test_attention_block_matches_manual_softmax():
    torch.manual_seed(0)
    attn = Attention(8, 2)
    x = torch.randn(2, 5, 8)
    q, k, v = attn.qkv(x).reshape(2, 5, 3, 2, 4).permute(2, 0, 3, 1, 4)
    manual = ((q @ k.transpose(-1, -2)) / 2).softmax(-1) @ v
    torch.testing.assert_close(attn(x), attn.proj(manual.transpose(1, 2).reshape(2, 5, 8)))


def test_drop_path_drops_whole_samples():
    torch.manual_seed(0)
    layer = DropPath(0.5).train()
    y = layer(torch.ones(400, 3, 2))
    per_sample = y.flatten(1)
    assert set(per_sample.unique().tolist()) == {0.0, 2.0}
    assert (per_sample.std(1) == 0).all()
    assert torch.equal(layer.eval()(torch.ones(4, 3)), torch.ones(4, 3))


@pytest.mark.parametrize(
    ("names", "nchan", "match"),
    [
        (["t2m", "not_a_var"], 2, "unknown variable 'not_a_var'"),
        (["t2m", "q700"], 2, r"no variable\(s\) \['q700'\]"),
        (["t2m", "z500"], 3, "3 channels but 2 variables"),
        (["t2m", "t2m"], 2, "unique"),
    ],
)
def test_bad_variables_raise_value_error(model, names, nchan, match):
    with pytest.raises(ValueError, match=match):
        model(_x(nchan), 6.0, names)


def test_unknown_variable_is_the_registry_error(model):
    with pytest.raises(UnknownVariableError):
        model(_x(1), 6.0, ["bogus"])
    with pytest.raises(ValueError, match="unknown variable"):
        ClimaX(["t2m", "zz"], img_size=(8, 16), embed_dim=16, depth=1, num_heads=2)


def test_bad_grid_and_lead_times_raise(model):
    with pytest.raises(ValueError, match="expects 8x16"):
        model(torch.randn(2, 1, 8, 18), 6.0, ["t2m"])
    with pytest.raises(ValueError, match="one value per sample"):
        model(_x(1), torch.tensor([6.0, 6.0, 6.0]), ["t2m"])
    with pytest.raises(ValueError, match="patch size 3 must divide the grid 8x16"):
        ClimaX(["t2m"], img_size=(8, 16), patch_size=3, embed_dim=16, depth=1, num_heads=2)
    with pytest.raises(ValueError, match="multiple of num_heads"):
        preset("tiny", num_heads=5)


def test_residual_model_adds_the_input_to_outputs_that_are_inputs(model):
    residual = ClimaX.from_config(TINY.replace(residual=True)).eval()
    residual.load_state_dict(model.state_dict())
    inputs, outputs = ["t2m", "z500", "lsm"], ["z500", "t850", "t2m"]
    x = _x(3, seed=4)
    with torch.no_grad():
        full, with_base = model(x, 24.0, inputs, outputs), residual(x, 24.0, inputs, outputs)
    # z500 and t2m get their input fields added; t850 is not an input and stays as predicted
    torch.testing.assert_close(with_base[:, 0], full[:, 0] + x[:, 1])
    torch.testing.assert_close(with_base[:, 1], full[:, 1])
    torch.testing.assert_close(with_base[:, 2], full[:, 2] + x[:, 0])


def test_residual_model_with_a_silent_head_is_persistence():
    torch.manual_seed(0)
    residual = ClimaX.from_config(TINY.replace(residual=True)).eval()
    with torch.no_grad():
        for p in residual.head[-1].parameters():
            p.zero_()
        x = _x(2, seed=5)
        torch.testing.assert_close(residual(x, 6.0, ["t2m", "u10"], ["u10", "t2m"]), x.flip(1))
