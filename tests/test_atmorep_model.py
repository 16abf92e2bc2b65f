"""AtmoRep core at tiny size: configs, tokens, auxiliary features, the coupled model and plug and play."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from climax_nb.model.atmorep import (
    AUX_FEATURES,
    PRESETS,
    SST_OFFSET_SCALE_K,
    AtmoRep,
    AtmoRepConfig,
    CubeCoords,
    FieldSpec,
    UnknownFieldError,
    preset,
    token_aux,
    tokenize,
    untokenize,
)
from climax_nb.train.loss import fair_crps

TINY = preset("tiny")
BATCH = 2


def coords_for(cfg: AtmoRepConfig = TINY, batch: int = BATCH) -> CubeCoords:
    """Neighbourhoods starting 31 Dec 18 UTC, one day apart, across the 0 deg seam."""
    t, h, w = cfg.neighbourhood
    times = (np.datetime64("2000-12-31T18") + np.arange(t)[None] * np.timedelta64(6, "h")
             + np.arange(batch)[:, None] * np.timedelta64(1, "D"))
    lat = -30.0 + 5.625 * np.arange(h)
    lon = (5.625 * (np.arange(w) - 2)) % 360
    return CubeCoords.from_arrays(times, lat, lon)


def cubes_for(model: AtmoRep, fields, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    t, h, w = model.config.neighbourhood
    return [torch.randn(BATCH, model.config.spec(f).num_levels, t, h, w, generator=gen) for f in fields]


@pytest.fixture(scope="module")
def model() -> AtmoRep:
    torch.manual_seed(0)
    return AtmoRep(TINY).eval()


# -- configs ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_through_plain_dicts_and_yaml(name):
    cfg = preset(name)
    d = yaml.safe_load(yaml.safe_dump(cfg.to_dict()))
    assert AtmoRepConfig.from_dict(d) == cfg
    assert cfg.token_grid == tuple(n // t for n, t in zip(cfg.neighbourhood, cfg.token_size, strict=True))


def test_preset_sizes():
    paper = preset("paper")
    assert (paper.embed_dim, paper.num_heads, paper.encoder_depth, paper.decoder_depth, paper.members) == (
        1024, 16, 6, 6, 16)
    assert paper.tokens_per_level == 192 and len(paper.fields) == 5
    assert all(len(f.coupled) == 4 for f in paper.fields)
    assert preset("compact").tokens_per_level == 128
    assert TINY.field_ids == ("z", "t", "t2m") and TINY.spec("z").variables == ("z500", "z850")
    assert preset("tiny", members=5).members == 5


def test_config_errors_name_the_fix():
    with pytest.raises(ValueError, match="does not divide"):
        TINY.replace(token_size=(3, 4, 4))
    with pytest.raises(ValueError, match="exceed the grid"):
        TINY.replace(neighbourhood=(4, 40, 8))
    with pytest.raises(UnknownFieldError, match="unknown field 'w'"):
        FieldSpec("w", (500,))
    with pytest.raises(UnknownFieldError, match="single-level field"):
        FieldSpec("t2m", (500,))
    with pytest.raises(UnknownFieldError, match="give levels"):
        FieldSpec("z")
    with pytest.raises(UnknownFieldError, match="no level"):
        FieldSpec("z", (555,))
    with pytest.raises(UnknownFieldError, match="unknown field"):
        AtmoRepConfig(fields=(FieldSpec("z", (500,), ("q",)),))
    with pytest.raises(ValueError, match="itself"):
        FieldSpec("z", (500,), ("z",))
    with pytest.raises(ValueError, match="decoder_depth"):
        TINY.replace(decoder_depth=3)
    with pytest.raises(ValueError, match="unknown AtmoRepConfig fields"):
        AtmoRepConfig.from_dict({**TINY.to_dict(), "patch": 2})
    with pytest.raises(ValueError, match="unknown AtmoRep preset"):
        preset("huge")
    with pytest.raises(UnknownFieldError, match="has no field 'q'"):
        TINY.spec("q")


# -- tokens and auxiliary information -------------------------------------------------------------------
def test_tokenize_round_trip_and_layout():
    cube = torch.randn(2, 3, 4, 8, 12)
    tokens = tokenize(cube, (2, 4, 4))
    assert tokens.shape == (2, 3, 2, 2, 3, 32)
    assert torch.equal(untokenize(tokens, (2, 4, 4)), cube)
    # token (1, 0, 2): time steps 2-3, lat 0-3, lon 8-11, time-major inside
    assert torch.equal(tokens[1, 2, 1, 0, 2], cube[1, 2, 2:4, 0:4, 8:12].reshape(-1))
    with pytest.raises(ValueError, match="does not divide"):
        tokenize(cube, (3, 4, 4))


def test_aux_features_normalised_finite_and_in_range():
    coords = coords_for()
    aux = token_aux(coords, (500.0, 850.0), TINY.token_size)
    assert aux.shape == (BATCH, 2, 2, 2, 2, len(AUX_FEATURES))
    assert torch.isfinite(aux).all() and aux.abs().max() <= 1.0
    f = {name: aux[..., i] for i, name in enumerate(AUX_FEATURES)}
    # first token of sample 0 ends 2001-01-01 00 UTC: year 2001, day 0, hour 0
    assert f["year"][0, 0, 0, 0, 0].item() == pytest.approx(1 / 50)
    assert f["cos_day_of_year"][0, 0, 0, 0, 0].item() == pytest.approx(1.0)
    assert f["cos_hour"][0, 0, 1, 0, 0].item() == pytest.approx(-1.0, abs=1e-6)  # second token ends at 12 UTC
    assert torch.allclose(f["level"][0, :, 0, 0, 0], torch.tensor([0.5, 0.85]))
    assert torch.allclose(f["sin_day_of_year"] ** 2 + f["cos_day_of_year"] ** 2, torch.ones(()))
    # the token across the seam (cells at 348.75, 354.375, 0, 5.625) lies at -2.8 deg, not at 177 deg
    lon = torch.rad2deg(torch.atan2(f["sin_lon"], f["cos_lon"]))[0, 0, 0, 0]
    assert lon[0].item() == pytest.approx(-2.8125, abs=1e-4) and lon[1].item() == pytest.approx(19.6875, abs=1e-4)
    lat = torch.rad2deg(torch.asin(f["sin_lat"]))[0, 0, 0, :, 0]
    assert torch.allclose(lat, torch.tensor([-30 + 1.5 * 5.625, -30 + 5.5 * 5.625]))


# -- the model ----------------------------------------------------------------------------------------
def test_shapes_through_the_whole_model(model):
    fields = list(TINY.field_ids)
    preds, matrix = model(cubes_for(model, fields), fields, coords_for(), return_attention=True)
    t, h, w = TINY.neighbourhood
    assert list(preds) == fields
    for f in fields:
        assert preds[f].shape == (BATCH, TINY.members, TINY.spec(f).num_levels, t, h, w)
        assert torch.isfinite(preds[f]).all()
    assert matrix.shape == (3, 3)
    assert torch.allclose(matrix.sum(1), torch.ones(3))
    assert torch.all(matrix.diagonal() == 0)
    # z reads only t, t2m reads only t
    assert matrix[0, 1] == pytest.approx(1.0) and matrix[2, 1] == pytest.approx(1.0)
    only_z = model(cubes_for(model, fields), fields, coords_for(), outputs=["z"])
    assert list(only_z) == ["z"] and torch.allclose(only_z["z"], preds["z"], atol=1e-6)


def test_field_order_does_not_matter(model):
    fields = list(TINY.field_ids)
    cubes = cubes_for(model, fields)
    a = model(cubes, fields, coords_for())
    b = model(cubes[::-1], fields[::-1], coords_for())
    for f in fields:
        assert torch.allclose(a[f], b[f], atol=1e-5)


def test_removing_a_field_gives_finite_outputs_for_the_others(model):
    fields = ["z", "t2m"]  # t, which both read, is missing: their cross-attention is left out
    preds, matrix = model(cubes_for(model, fields), fields, coords_for(), return_attention=True)
    assert list(preds) == fields and all(torch.isfinite(p).all() for p in preds.values())
    assert torch.equal(matrix, torch.zeros(2, 2))
    fields = ["t", "z"]  # t reads z but not the missing t2m: its row sums to 1 over what is there
    _, matrix = model(cubes_for(model, fields), fields, coords_for(), return_attention=True)
    assert torch.allclose(matrix, torch.tensor([[0.0, 1.0], [1.0, 0.0]]))


def test_adding_a_field_leaves_the_others_parameters_and_outputs_untouched():
    torch.manual_seed(1)
    base = AtmoRep(TINY.replace(fields=(FieldSpec("z", (500, 850), ("t",)), FieldSpec("t", (850,), ("z",))))).eval()
    bigger_cfg = base.config.with_field(FieldSpec("t2m", (), ("t",)), couple_from=("t",))
    assert bigger_cfg.spec("t").coupled == ("z", "t2m")
    bigger = AtmoRep(bigger_cfg).eval()
    report = bigger.load_state_dict(base.state_dict(), strict=False)
    assert report.unexpected_keys == []
    for key in report.missing_keys:  # new: the t2m field's parts, and t's key/value projection for t2m
        assert key.split(".")[1] == "t2m" or ".cross_attn.kv.t2m." in key, key
    new = bigger.state_dict()
    for key, value in base.state_dict().items():
        assert torch.equal(new[key], value), key
    # fed the old fields only, the bigger model computes exactly what the old one did
    fields = ["z", "t"]
    old, grown = base(cubes_for(base, fields), fields, coords_for()), bigger(cubes_for(base, fields), fields,
                                                                             coords_for())
    for f in fields:
        assert torch.equal(old[f], grown[f])
    with_t2m = bigger(cubes_for(bigger, ["z", "t", "t2m"]), ["z", "t", "t2m"], coords_for())
    assert torch.isfinite(with_t2m["t2m"]).all()


def test_hidden_tokens_are_not_seen(model):
    fields = list(TINY.field_ids)
    cubes = cubes_for(model, fields)
    nt, nh, nw = TINY.token_grid
    masks = [torch.zeros(BATCH, TINY.spec(f).num_levels, nt, nh, nw, dtype=torch.bool) for f in fields]
    masks[0][:, :, -1] = True  # z's last time slab: a forecast
    changed = [c.clone() for c in cubes]
    changed[0][:, :, -TINY.token_size[0]:] += 100.0  # whatever the hidden slab holds
    a = model(cubes, fields, coords_for(), token_masks=masks)
    b = model(changed, fields, coords_for(), token_masks=masks)
    for f in fields:
        assert torch.allclose(a[f], b[f], atol=1e-5)
    unmasked = model(changed, fields, coords_for())
    assert not torch.allclose(unmasked["z"], a["z"], atol=1e-3)


def test_fair_crps_trains_every_member_through_the_model():
    torch.manual_seed(2)
    net = AtmoRep(TINY).train()
    fields = list(TINY.field_ids)
    cubes = cubes_for(net, fields)
    preds = net(cubes, fields, coords_for())
    loss = sum(fair_crps(preds[f], cubes[i], dim=1) for i, f in enumerate(fields))
    loss.backward()
    for f in fields:
        grad = net.tails[f].weight.grad
        assert grad is not None and torch.all(grad.flatten(1).abs().sum(1) > 0)  # every member's head
        assert net.encoders[f].embed.proj.weight.grad.abs().sum() > 0
    assert net.encoders["z"].layers[0].cross_attn.kv["t"].weight.grad.abs().sum() > 0


def test_input_errors_name_the_problem(model):
    fields = list(TINY.field_ids)
    cubes, coords = cubes_for(model, fields), coords_for()
    with pytest.raises(UnknownFieldError, match="no field"):
        model(cubes, ["z", "t", "q"], coords)
    with pytest.raises(ValueError, match="one id per cube"):
        model(cubes, ["z", "t"], coords)
    with pytest.raises(ValueError, match=r"\[batch, levels, T, lat, lon\]"):
        model([cubes[1], cubes[0], cubes[2]], fields, coords)
    with pytest.raises(ValueError, match="coords describe"):
        model(cubes, fields, coords_for(batch=3))
    with pytest.raises(ValueError, match="token mask"):
        model(cubes, fields, coords, token_masks=[torch.zeros(BATCH, 2, 2, 2, 2), None, None])
    with pytest.raises(ValueError, match="feed it too"):
        model(cubes[:2], fields[:2], coords, outputs=["t2m"])


# -- forcing ------------------------------------------------------------------------------------------
def test_the_sst_offset_reaches_the_tokens_and_changes_the_output(model):
    base = coords_for()
    warm = CubeCoords.from_arrays(*_arrays(), sst_offset=np.array([2.0, -1.0]))
    assert AUX_FEATURES[-1] == "sst_offset" and SST_OFFSET_SCALE_K == 2.0
    aux = token_aux(warm, (500.0, 850.0), TINY.token_size)
    assert torch.equal(aux[0, ..., -1], torch.ones_like(aux[0, ..., -1]))  # +2 K is 1 on every token
    assert torch.equal(aux[1, ..., -1], torch.full_like(aux[1, ..., -1], -0.5))
    torch.testing.assert_close(aux[..., :-1], token_aux(base, (500.0, 850.0), TINY.token_size)[..., :-1])
    assert torch.equal(token_aux(base, (500.0,), TINY.token_size)[..., -1], torch.zeros(BATCH, 1, 2, 2, 2))
    fields = list(TINY.field_ids)
    cubes = cubes_for(model, fields)
    a, b = model(cubes, fields, base), model(cubes, fields, warm)
    assert all(not torch.allclose(a[f], b[f], atol=1e-4) for f in fields)
    assert torch.equal(model(cubes, fields, CubeCoords.from_arrays(*_arrays(), sst_offset=0.0))["z"], a["z"])
    with pytest.raises(ValueError, match=r"one value per sample, \[batch=2\]"):
        CubeCoords.from_arrays(*_arrays(), sst_offset=np.zeros(3))
    with pytest.raises(ValueError, match="must be finite"):
        CubeCoords.from_arrays(*_arrays(), sst_offset=np.nan)


def _arrays():
    c = coords_for()
    t, h, w = TINY.neighbourhood
    times = (np.datetime64("2000-12-31T18") + np.arange(t)[None] * np.timedelta64(6, "h")
             + np.arange(BATCH)[:, None] * np.timedelta64(1, "D"))
    return times, c.lat[0].numpy(), c.lon[0].numpy()


def test_weights_from_before_the_forcing_load_and_compute_what_they_did():
    torch.manual_seed(3)
    model = AtmoRep(TINY).eval()
    old = {k: v[:, :-1] if k.endswith("embed.aux.weight") else v for k, v in model.state_dict().items()}
    assert old["encoders.z.embed.aux.weight"].shape[1] == len(AUX_FEATURES) - 1
    loaded = AtmoRep(TINY).eval()
    assert not loaded.load_state_dict(old).missing_keys
    assert torch.equal(loaded.encoders["z"].embed.aux.weight[:, -1], torch.zeros(TINY.embed_dim))
    fields = list(TINY.field_ids)
    cubes, coords = cubes_for(model, fields), coords_for()
    with torch.no_grad():
        for f in fields:  # the same model with a forcing column of zeros
            model.encoders[f].embed.aux.weight[:, -1].zero_()
        expected = model(cubes, fields, coords)
    for f in fields:
        torch.testing.assert_close(loaded(cubes, fields, coords)[f], expected[f], rtol=0, atol=0)
    assert torch.equal(loaded(cubes, fields, CubeCoords.from_arrays(*_arrays(), sst_offset=2.0))["z"],
                       expected["z"])  # an old model takes no forcing


def test_the_nearest_visible_prior_by_hand():
    from climax_nb.model.atmorep.prior import nearest_visible

    cube = torch.arange(6, dtype=torch.float32).view(1, 1, 6, 1, 1).repeat(1, 1, 1, 1, 2)  # step k holds k
    visible = torch.tensor([False, True, False, False, True, False]).view(1, 1, 6, 1, 1).repeat(1, 1, 1, 1, 2)
    visible[..., 1] = False  # the second place is hidden at every step
    prior = nearest_visible(cube, visible)
    assert prior[0, 0, :, 0, 0].tolist() == [1, 1, 1, 4, 4, 4]  # before the first, ties to the earlier, after the last
    assert prior[0, 0, :, 0, 1].tolist() == [0] * 6  # nothing visible there: zero (the monthly climatology)


def test_with_the_nearest_prior_an_untrained_forecast_starts_at_persistence():
    net = AtmoRep(TINY.replace(prior="nearest"))
    torch.nn.init.zeros_(net.tails["z"].weight)  # a tail that adds nothing: the prior alone
    torch.nn.init.zeros_(net.tails["z"].bias)
    fields = list(TINY.field_ids)
    cubes = cubes_for(net, fields)
    nt, nh, nw = TINY.token_grid
    masks = [torch.zeros(BATCH, TINY.spec(f).num_levels, nt, nh, nw, dtype=torch.bool) for f in fields]
    masks[0][:, :, -1] = True
    tt = TINY.token_size[0]
    z = net(cubes, fields, coords_for(), token_masks=masks)["z"]  # [B, M, L, T, H, W]
    last_seen = cubes[0][:, None, :, -tt - 1: -tt]
    torch.testing.assert_close(z[:, :, :, -tt:], last_seen.expand_as(z[:, :, :, -tt:]))
    with pytest.raises(ValueError, match="unknown prior 'mean'"):
        TINY.replace(prior="mean")
