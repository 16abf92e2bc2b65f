"""Regional ClimaX: ClimaX's boxes, on the right hemisphere, tokens of the box only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from climax_nb.grid import WB5625
from climax_nb.model import REGIONS, Box, ClimaX, RegionalClimaX, preset, region_patches

# Cells per box at 5.625 degrees with 2x2 patches, as noted in ClimaX's BOUNDARIES.
CLIMAX_SIZES = {"NorthAmerica": (8, 14), "SouthAmerica": (14, 10), "Europe": (6, 8),
                "SouthAsia": (10, 14), "EastAsia": (10, 12), "Australia": (10, 14),
                "Global": (32, 64)}


@pytest.mark.parametrize("name", sorted(CLIMAX_SIZES))
def test_boxes_match_climax(name):
    rp = region_patches(name, WB5625, 2)
    box = REGIONS[name]
    assert rp.patch_grid == (CLIMAX_SIZES[name][0] // 2, CLIMAX_SIZES[name][1] // 2)
    assert len(rp.patch_ids) == rp.patch_grid[0] * rp.patch_grid[1]
    assert box.lat_range[0] <= rp.lat.min() and rp.lat.max() <= box.lat_range[1]
    assert box.lon_range[0] <= rp.lon.min() and rp.lon.max() <= box.lon_range[1]
    x = np.arange(32 * 64).reshape(32, 64)
    patch_of_cell = (x // 64 // 2) * 32 + (x % 64) // 2
    assert sorted(set(rp.crop(patch_of_cell).ravel())) == list(rp.patch_ids)


def test_north_american_box_is_not_mirrored():
    rp = region_patches("NorthAmerica", WB5625, 2)
    lat2d, lon2d = np.meshgrid(WB5625.lat, WB5625.lon, indexing="ij")
    inside = (lat2d >= 15) & (lat2d <= 65) & (lon2d >= 220) & (lon2d <= 300)
    field = np.where(inside, 1.0, 0.0)  # nonzero only in the northern box
    crop = rp.crop(field)
    assert rp.lat.min() > 0
    assert crop.sum() == pytest.approx(crop.size)  # every selected cell is inside
    south = region_patches(Box("mirror", (-65, -15), (220, 300)), WB5625, 2)
    assert south.crop(field).sum() == 0


@pytest.fixture(scope="module")
def regional() -> RegionalClimaX:
    torch.manual_seed(0)
    cfg = preset("tiny", img_size=(32, 64), variables=("t2m", "z500"))
    model = RegionalClimaX.from_config(cfg, grid=WB5625).eval()
    with torch.no_grad():
        model.var_query.normal_()
    return model


def test_regional_model_sees_only_its_box(regional):
    x = torch.randn(1, 2, 32, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out, attn = regional(x, 6.0, ["t2m", "z500"], "NorthAmerica", return_attention=True)
        assert out.shape == (1, 2, 8, 14) and attn.shape == (1, 4 * 7, 4, 2)
        lat = torch.as_tensor(WB5625.lat)[:, None].expand(32, 64)
        south = x.clone()
        south[..., lat < 0] += 5.0  # far outside the box, e.g. its mirror image
        torch.testing.assert_close(regional(south, 6.0, ["t2m", "z500"], "NorthAmerica"), out)
        north = x.clone()
        north[..., 26, 45] += 5.0  # 59.06N, 253.1E: inside North America
        assert not torch.allclose(regional(north, 6.0, ["t2m", "z500"], "NorthAmerica"), out)


def test_global_region_equals_the_global_model(regional):
    model = ClimaX.from_config(regional.config).eval()
    model.load_state_dict(regional.state_dict())
    x = torch.randn(2, 2, 32, 64)
    with torch.no_grad():
        torch.testing.assert_close(regional(x, 6.0, ["z500", "t2m"], "Global"),
                                   model(x, 6.0, ["z500", "t2m"]))


def test_regional_tokens_use_the_box_position_embeddings(regional):
    """The box run equals the global computation restricted to the box's patches."""
    rp = regional.region("Europe")
    x = torch.randn(1, 2, 32, 64)
    ids = torch.tensor(rp.patch_ids)
    with torch.no_grad():
        tokens, _ = regional.forward_encoder(x, 6.0, ["t2m", "z500"], ids)
        expected = regional.aggregate(x, regional.variable_index(["t2m", "z500"], x.device),
                                      None, False)[0][:, ids] + regional.pos_embed[:, ids]
        expected = expected + regional.lead_time_embedding(6.0, x)
        for block in regional.blocks:
            expected = block(expected)
        torch.testing.assert_close(tokens, regional.norm(expected))


def test_bad_regions_raise():
    with pytest.raises(ValueError, match="unknown region 'Atlantis'"):
        region_patches("Atlantis", WB5625, 2)
    with pytest.raises(ValueError, match=r"lon_range \(-400, 40\) must lie in \[-360, 360\]"):
        region_patches(Box("far", (30, 60), (-400, 40)), WB5625, 2)
    with pytest.raises(ValueError, match="narrower than one 4-cell patch along lat.*smaller --model.patch_size"):
        region_patches(Box("thin", (30, 40), (0, 40)), WB5625, 4)
    with pytest.raises(ValueError, match="the model expects"):
        RegionalClimaX.from_config(preset("tiny"), grid=WB5625)


def test_residual_regional_model_adds_the_box_cells(regional):
    """A residual regional forecast is the regional increment plus the box's own input cells."""
    residual = RegionalClimaX.from_config(regional.config.replace(residual=True), grid=WB5625).eval()
    residual.load_state_dict(regional.state_dict())
    x = torch.randn(1, 2, 32, 64, generator=torch.Generator().manual_seed(2))
    rp = regional.region("NorthAmerica")
    with torch.no_grad():
        increment = regional(x, 6.0, ["t2m", "z500"], rp)
        torch.testing.assert_close(residual(x, 6.0, ["t2m", "z500"], rp), increment + rp.crop(x))
