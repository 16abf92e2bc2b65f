"""AtmoRep neighbourhoods and masks: area-preserving sampling, time edges, seam wrap, masking rates and kinds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from climax_nb.grid import WB5625
from climax_nb.model.atmorep import (
    MaskConfig,
    MaskKind,
    NeighbourhoodSampler,
    TokenMasks,
    apply_masks,
    draw_masks,
    draw_rates,
    forecast_mask,
    infill_mask,
    interpolation_mask,
    preset,
    tokenize,
)
from climax_nb.model.atmorep.masking import coarsened

LAT, LON = WB5625.lat, WB5625.lon
DRAWS = 200_000


def area_cdf(lat: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """CDF of latitude under the area (cosine) law on ``band``."""
    lo, hi = np.sin(np.deg2rad(band))
    return (np.sin(np.deg2rad(lat)) - lo) / (hi - lo)


# -- the sampler --------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(4, 1, 1), (4, 8, 16), (12, 16, 32)])
def test_centres_follow_the_area_law(size):
    sampler = NeighbourhoodSampler(LAT, LON, n_times=100, size=size)
    hood = sampler.sample(DRAWS, np.random.default_rng(0))
    band = sampler.band
    assert stats.kstest(hood.centre_lat, lambda x: area_cdf(x, band)).pvalue > 1e-3
    # the test has power: latitudes uniform in degrees (AtmoRep's draw) are rejected
    uniform = np.random.default_rng(1).uniform(*band, DRAWS)
    assert stats.kstest(uniform, lambda x: area_cdf(x, band)).pvalue < 1e-6
    # snapped to the grid, each first latitude index is as frequent as its share of the band's area
    counts = np.bincount(hood.lat[:, 0], minlength=len(sampler.centres))
    expected = sampler.start_probabilities() * DRAWS
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    # north and south alike
    assert abs(np.mean(np.sin(np.deg2rad(hood.centre_lat)))) < 4 * np.sqrt(1 / 3 / DRAWS)


def test_single_cells_are_drawn_by_their_area():
    """With 1 x 1 neighbourhoods each cell's latitude is drawn in proportion to its area (the cosine law)."""
    sampler = NeighbourhoodSampler(LAT, LON, n_times=10, size=(1, 1, 1))
    law = sampler.start_probabilities()
    area = WB5625.area_weights()
    # inside the band every row's chance is its cell's area; the band ends at the outermost centres,
    # so the two polar rows keep only the half cell nearer the equator
    assert np.allclose(law[1:-1] / area[1:-1], law[1] / area[1])
    assert law[0] == pytest.approx(law[-1]) and 0.5 < law[0] / (law[1] / area[1] * area[0]) < 1
    counts = np.bincount(sampler.sample(DRAWS, np.random.default_rng(2)).lat[:, 0], minlength=len(LAT))
    assert stats.chisquare(counts, law * DRAWS).pvalue > 1e-3
    assert counts[0] < counts[len(LAT) // 2] / 10  # polar rows are rare, as their area: no pole bias


def test_longitudes_are_uniform_and_wrap_across_the_seam():
    sampler = NeighbourhoodSampler(LAT, LON, n_times=10, size=(2, 8, 16))
    hood = sampler.sample(DRAWS, np.random.default_rng(3))
    counts = np.bincount(hood.lon[:, 0], minlength=len(LON))
    assert stats.chisquare(counts).pvalue > 1e-3  # every start equally likely: no seam bias
    steps = np.diff(hood.lon, axis=1) % len(LON)
    assert np.all(steps == 1) and np.all((hood.lon >= 0) & (hood.lon < len(LON)))
    assert np.any(hood.lon[:, 0] > hood.lon[:, -1])  # some neighbourhoods cross 0 deg
    # the drawn centre lies within half a cell of the neighbourhood's centre, on the circle
    middle = (LON[hood.lon[:, 7]] + 2.8125) % 360
    gap = (hood.centre_lon - middle + 180) % 360 - 180
    assert np.all(np.abs(gap) <= 2.8125 + 1e-9)


def test_times_never_cross_the_data_edges():
    sampler = NeighbourhoodSampler(LAT, LON, n_times=20, size=(12, 4, 4))
    hood = sampler.sample(20_000, np.random.default_rng(4))
    assert hood.time.min() == 0 and hood.time.max() == 19  # both edges are reached, never crossed
    assert np.all(np.diff(hood.time, axis=1) == 1)
    starts = np.bincount(hood.time[:, 0], minlength=9)
    assert len(starts) == 9 and stats.chisquare(starts).pvalue > 1e-3


def test_cut_and_coords():
    sampler = NeighbourhoodSampler(LAT, LON, n_times=6, size=(2, 4, 8))
    hood = sampler.sample(5, np.random.default_rng(5))
    t, i, j = np.meshgrid(np.arange(6), np.arange(32), np.arange(64), indexing="ij")
    data = np.stack([t * 10_000 + i * 100 + j, -(t * 10_000 + i * 100 + j)])  # [level, time, lat, lon]
    cubes = hood.cut(data)
    assert cubes.shape == (5, 2, 2, 4, 8)
    s = 3
    expected = (hood.time[s][:, None, None] * 10_000 + hood.lat[s][None, :, None] * 100 + hood.lon[s][None, None, :])
    assert np.array_equal(cubes[s, 0], expected) and np.array_equal(cubes[s, 1], -expected)
    assert torch.equal(hood.cut(torch.from_numpy(data)), torch.from_numpy(cubes))
    times = np.datetime64("2001-01-01") + np.arange(6) * np.timedelta64(6, "h")
    coords = hood.coords(times, LAT, LON)
    assert coords.shape == (5, 2, 4, 8)
    assert torch.allclose(coords.lon[s], torch.from_numpy(LON[hood.lon[s]]).float())


def test_sampler_errors():
    with pytest.raises(ValueError, match="larger than the 32 x 64 grid"):
        NeighbourhoodSampler(LAT, LON, n_times=10, size=(2, 40, 8))
    with pytest.raises(ValueError, match="does not fit in data of 3 steps"):
        NeighbourhoodSampler(LAT, LON, n_times=3, size=(4, 8, 8))
    with pytest.raises(ValueError, match="evenly spaced"):
        NeighbourhoodSampler(LAT, LON[:40], n_times=10, size=(2, 8, 8))
    with pytest.raises(ValueError, match="ascending"):
        NeighbourhoodSampler(LAT[::-1], LON, n_times=10, size=(2, 8, 8))


# -- masks ---------------------------------------------------------------------------------------------
GRID = (2, 4, 4, 8)  # levels, nt, nh, nw
CFG = MaskConfig(rate_max=0.6, zero=0.7, noise=0.15, coarsen=0.1)


def test_masked_fraction_and_kinds_as_configured():
    gen = torch.Generator().manual_seed(6)
    rates = draw_rates(4000, CFG.rate_max, gen)
    assert rates.min() >= 0 and rates.max() <= CFG.rate_max
    masks = draw_masks(GRID, rates, CFG, gen)
    per_sample = masks.masked.flatten(1).float().mean(1)
    assert per_sample.mean().item() == pytest.approx(CFG.rate_max / 2, abs=0.01)
    assert torch.allclose(per_sample, rates.float(), atol=1 / 256 + 1e-6)  # each sample at its own rate
    kinds = masks.kind[masks.masked]
    shares = {k: (kinds == k).float().mean().item() for k in MaskKind if k != MaskKind.KEEP}
    assert shares[MaskKind.ZERO] == pytest.approx(0.7, abs=0.01)
    assert shares[MaskKind.NOISE] == pytest.approx(0.15, abs=0.01)
    assert shares[MaskKind.COARSEN] == pytest.approx(0.1, abs=0.01)
    assert shares[MaskKind.UNCHANGED] == pytest.approx(CFG.unchanged, abs=0.01)
    assert torch.equal(masks.hidden, masks.kind == MaskKind.ZERO)


def test_apply_masks_replaces_each_kind_as_documented():
    gen = torch.Generator().manual_seed(7)
    size = (2, 4, 4)
    cube = torch.randn(64, 2, 8, 16, 32, generator=gen)
    masks = draw_masks(GRID, torch.full((64,), 0.5), CFG, gen)
    original = cube.clone()
    out = apply_masks(cube, masks, size, CFG, gen)
    assert torch.equal(cube, original)  # the input is left as it is
    before, after, kind = tokenize(cube, size), tokenize(out, size), masks.kind
    assert torch.equal(after[kind == MaskKind.KEEP], before[kind == MaskKind.KEEP])
    assert torch.equal(after[kind == MaskKind.UNCHANGED], before[kind == MaskKind.UNCHANGED])
    assert torch.all(after[kind == MaskKind.ZERO] == 0)
    assert torch.allclose(after[kind == MaskKind.COARSEN], coarsened(before, size, 2)[kind == MaskKind.COARSEN])
    noised = kind == MaskKind.NOISE
    assert not torch.isclose(after[noised], before[noised]).all(dim=-1).any()


def test_coarsened_tokens_keep_their_block_means():
    tokens = torch.arange(32.0).reshape(1, 32)
    c = coarsened(tokens, (2, 4, 4), 2).reshape(2, 4, 4)
    assert torch.equal(c[0, :2, :2], torch.full((2, 2), (0 + 1 + 4 + 5) / 4))
    assert torch.allclose(c.mean(), tokens.mean())
    with pytest.raises(ValueError, match="must divide"):
        coarsened(tokens, (2, 4, 4), 3)


def test_task_masks():
    f = forecast_mask(GRID)
    assert f.shape == GRID and f[:, -1].all() and not f[:, :-1].any()
    assert forecast_mask(GRID, slabs=2)[:, 2:].all()
    i = interpolation_mask(GRID)
    assert i[:, 1].all() and i.sum() == GRID[0] * GRID[2] * GRID[3]
    h = infill_mask(GRID)
    assert h[:, :, 1:3, 2:6].all() and h.sum() == 2 * 4 * 2 * 4
    assert infill_mask(GRID, (0, 1, 6, 8))[:, :, 0, 6:].all()
    hiding = TokenMasks.hiding(f, batch=3)
    assert hiding.kind.shape == (3, *GRID) and torch.equal(hiding.hidden[1], f) and torch.equal(hiding.masked[2], f)


def test_mask_errors_name_the_fix():
    one_slab = (2, 1, 4, 8)
    with pytest.raises(ValueError, match="at least 2 time tokens"):
        forecast_mask(one_slab)
    with pytest.raises(ValueError, match="at least 3 time tokens"):
        interpolation_mask((2, 2, 4, 8))
    with pytest.raises(ValueError, match="nothing to read"):
        infill_mask(GRID, (0, 4, 0, 8))
    with pytest.raises(ValueError, match="must lie in"):
        infill_mask(GRID, (0, 5, 0, 2))
    with pytest.raises(ValueError, match="sum to at most 1"):
        MaskConfig(zero=0.9, noise=0.2)
    with pytest.raises(ValueError, match="rate_max"):
        MaskConfig(rate_max=0.0)
    with pytest.raises(ValueError, match="do not fit"):
        apply_masks(torch.zeros(2, 2, 8, 16, 32), draw_masks((2, 4, 4, 4), torch.ones(2), CFG), (2, 4, 4), CFG)
    # the tiny preset's two time tokens allow a forecast but not an interpolation
    grid = (1, *preset("tiny").token_grid)
    assert forecast_mask(grid).any()
    with pytest.raises(ValueError, match="interpolation mask"):
        interpolation_mask(grid)
