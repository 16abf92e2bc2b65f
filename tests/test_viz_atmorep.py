"""The AtmoRep figures of notebooks 09 and 10: a cube with its token edges, token masks, the sampler's draws, the
coupling matrix and maps, and rank histograms."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import xarray as xr  # noqa: E402

from climax_nb.grid import WB5625  # noqa: E402
from climax_nb.model.atmorep import MaskConfig, MaskKind, NeighbourhoodSampler, draw_masks, forecast_mask  # noqa: E402
from climax_nb.viz import (  # noqa: E402
    plot_coupling_maps,
    plot_coupling_matrix,
    plot_cube,
    plot_rank_histograms,
    plot_sampler_draws,
    plot_token_masks,
    rank_shares,
    sampler_draws,
)
from climax_nb.viz.masks import KIND_LABELS, as_kinds  # noqa: E402


def _cube(steps: int = 8, h: int = 16, w: int = 32) -> xr.Dataset:
    rng = np.random.default_rng(0)
    coords = {"time": pd.date_range("2003-01-01", periods=steps, freq="6h"), "lat": WB5625.lat[8:8 + h],
              "lon": WB5625.lon[np.arange(60, 60 + w) % 64]}  # longitudes across 0 deg
    dims = ("time", "lat", "lon")
    return xr.Dataset({"z500": (dims, 5e4 + rng.standard_normal((steps, h, w)), {"units": "m2 s-2"}),
                       "u850": (dims, rng.standard_normal((steps, h, w)), {"units": "m s-1"})}, coords=coords)


def test_a_cube_has_a_panel_per_step_and_variable_with_the_token_edges():
    fig = plot_cube(_cube(), (2, 4, 4))
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2 * 8
    first = panels[0]
    horizontal = [line for line in first.get_lines() if len(set(line.get_ydata())) == 1]
    assert len(horizontal) == 3 and len(first.get_lines()) == 3 + 7  # 4 x 8 tokens: 3 and 7 inner edges
    assert [ax.get_title().split(" ·")[0] for ax in panels[:8]] == [f"slab {t // 2}" for t in range(8)]
    assert "4 x 4 x 8 tokens of 2 x 4 x 4" in fig._suptitle.get_text()
    wind = panels[8].images[0].get_clim()
    assert wind[0] == pytest.approx(-wind[1])  # winds centred on zero
    assert fig.axes[-1].get_ylabel() == "m s-1"  # each row's colour bar in its units
    plt.close(fig)
    pair = xr.Dataset({"a": _cube()["u850"], "b": 2 * _cube()["u850"]})
    fig = plot_cube(pair, (2, 4, 4), same_scale=True)
    limits = [ax.images[0].get_clim() for ax in fig.axes if ax.images]
    assert limits[0] == limits[-1] and len(limits) == 16
    plt.close(fig)
    with pytest.raises(ValueError, match="does not divide"):
        plot_cube(_cube(), (3, 4, 4))
    with pytest.raises(ValueError, match=r"a cube is \(time, lat, lon\)"):
        plot_cube(_cube()["z500"].isel(time=0), (2, 4, 4))


def test_token_masks_are_drawn_by_kind_one_column_per_slab():
    grid = (1, 4, 4, 8)
    bert = draw_masks(grid, torch.tensor([0.5]), MaskConfig(), generator=torch.Generator().manual_seed(0))
    hidden = forecast_mask(grid)[0]
    kinds = as_kinds(hidden)
    assert set(np.unique(kinds)) == {int(MaskKind.KEEP), int(MaskKind.ZERO)} and (kinds[-1] == MaskKind.ZERO).all()
    fig = plot_token_masks({"bert": bert.kind[0, 0], "forecast": hidden})
    assert len([ax for ax in fig.axes if ax.images]) == 2 * 4
    legend = {t.get_text() for t in fig.legends[0].get_texts()}
    drawn = {KIND_LABELS[MaskKind(int(k))] for k in np.unique(bert.kind)} | {KIND_LABELS[MaskKind.KEEP]}
    assert legend == drawn
    plt.close(fig)
    with pytest.raises(ValueError, match="one token grid"):
        plot_token_masks({"a": hidden, "b": hidden[:, :2]})
    with pytest.raises(ValueError, match="one level's token grid"):
        as_kinds(bert.kind)


def test_sampler_draws_follow_the_area_law_with_no_seam():
    sampler = NeighbourhoodSampler(WB5625.lat, WB5625.lon, n_times=40, size=(8, 16, 32))
    draws = sampler_draws(sampler, 100_000, seed=1)
    # every draw covers 16 x 32 cells; the centres are area-uniform and latitudes uniform in degrees are not
    assert float(draws["cover"].sum()) == pytest.approx(16 * 32)
    assert draws.attrs["ks_area_p"] > 1e-3 and draws.attrs["ks_degrees_p"] < 1e-10
    band = draws["centre_density"].where(np.isfinite(draws["centre_density"]), drop=True)
    assert float(band.mean()) == pytest.approx(1.0, abs=0.01) and set(band["lat"].values) < set(WB5625.lat)
    assert draws.attrs["lon_starts_p"] > 1e-3 and draws.attrs["seam_p"] > 1e-3
    assert draws.attrs["seam_expected"] == 31 / 64 and draws.attrs["seam_share"] == pytest.approx(31 / 64, abs=0.01)
    fig = plot_sampler_draws(draws)
    assert len(fig.axes) == 7  # the histogram, two maps with colour bars, two profiles
    plt.close(fig)
    with pytest.raises(ValueError, match="at least one"):
        sampler_draws(sampler, 0)


def _coupling() -> tuple[xr.DataArray, xr.DataArray]:
    fields = ["z", "t", "u"]
    share = np.full((3, 3, len(WB5625.lat), len(WB5625.lon)), 0.5)
    for i in range(3):
        share[i, i] = np.nan
    share[0, 1] += 0.1 * np.cos(np.deg2rad(WB5625.lat))[:, None]
    share[0, 2] = 1 - share[0, 1]
    maps = xr.DataArray(share, dims=("field", "source", "lat", "lon"),
                        coords={"field": fields, "source": fields, "lat": WB5625.lat, "lon": WB5625.lon},
                        attrs={"task": "forecast (1 slab)"})
    return maps, maps.mean(("lat", "lon"))


def test_the_coupling_matrix_writes_every_share_and_greys_the_diagonal():
    maps, matrix = _coupling()
    ax = plot_coupling_matrix(matrix)
    assert len(ax.texts) == 6 and ax.get_title().startswith("forecast (1 slab)")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["z", "t", "u"]
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="masked.coupling"):
        plot_coupling_matrix(maps)


def test_coupling_maps_centred_on_each_pairs_mean():
    maps, _ = _coupling()
    fig = plot_coupling_maps(maps)
    panels = [ax for ax in fig.axes if ax.get_title()]  # not the colour bar
    assert len(panels) == 6 and panels[0].get_title().startswith("z reads t (mean")
    low, high = panels[0].collections[0].get_clim()
    assert low == pytest.approx(-high) and high > 0
    plt.close(fig)
    fig = plot_coupling_maps(maps, pairs=[("z", "t")], centre=False)
    assert len([ax for ax in fig.axes if ax.get_title()]) == 1
    plt.close(fig)


def test_rank_histograms_as_shares_per_lead_with_the_flat_share():
    from climax_nb.metrics import rank_histogram
    from tests.viz_helpers import forecast_pair

    fc, truth = forecast_pair()
    rng = np.random.default_rng(0)
    members = xr.concat([fc + rng.standard_normal() for _ in range(4)], "member")  # 4 members: ranks 0-4
    counts = rank_histogram(members, truth)
    shares = rank_shares(counts, lead=12)
    assert float(shares["z500"].sum()) == pytest.approx(1.0) and shares.sizes["rank"] == 5
    assert float(rank_shares(counts)["t850"].sum()) == pytest.approx(1.0)
    fig = plot_rank_histograms({"a": counts, "b": counts}, ["z500", "t850"], lead="12h")
    assert [ax.get_title() for ax in fig.axes] == ["z500", "t850"]
    assert len(fig.axes[0].patches) == 2 * 5
    assert fig.axes[0].get_lines()[0].get_ydata()[0] == pytest.approx(1 / 5)
    plt.close(fig)
    with pytest.raises(ValueError, match="not among"):
        rank_shares(counts, lead=18)
    with pytest.raises(ValueError, match="rank_histogram"):
        rank_shares(truth)
