"""Maps, zonal means and attention maps: shapes, placement and errors."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from climax_nb.grid import WB5625  # noqa: E402
from climax_nb.viz import attention_to_maps, plot_map, plot_maps, plot_zonal_means  # noqa: E402


def test_attention_maps_place_each_patch_at_its_cells(canonical):
    lat, lon, p = WB5625.lat, WB5625.lon, 2
    h, w = len(lat) // p, len(lon) // p
    variables = ["t850", "z500", "lsm"]
    attn = torch.zeros(h * w, 4, 3)
    attn[..., 0] = 1.0  # everything on t850 ...
    attn[w + 3] = torch.tensor([0.0, 0.0, 1.0])  # ... except patch row 1, column 3, on lsm
    maps = attention_to_maps(attn.unsqueeze(0), variables, lat, lon, p)
    assert maps.dims == ("variable", "lat", "lon") and maps.shape == (3, h, w)
    np.testing.assert_allclose(maps.sum("variable"), 1.0)
    assert float(maps.sel(variable="lsm").isel(lat=1, lon=3)) == 1.0
    assert float(maps.sel(variable="lsm").sum()) == 1.0
    np.testing.assert_allclose(maps["lat"][0], lat[:2].mean())
    np.testing.assert_allclose(maps["lon"][3], lon[6:8].mean())


def test_attention_maps_reject_bad_shapes():
    lat, lon = WB5625.lat, WB5625.lon
    with pytest.raises(ValueError, match="3 variables"):
        attention_to_maps(torch.zeros(512, 4, 2), ["a", "b", "c"], lat, lon, 2)
    with pytest.raises(ValueError, match="patch grid"):
        attention_to_maps(torch.zeros(100, 4, 3), ["a", "b", "c"], lat, lon, 2)
    with pytest.raises(ValueError, match="does not divide"):
        attention_to_maps(torch.zeros(512, 4, 3), ["a", "b", "c"], lat, lon, 3)


def test_maps_and_zonal_means_draw(canonical):
    fig = plot_maps({v: canonical[v].isel(time=0) for v in ("t850", "z500")}, lsm=canonical["lsm"], ncols=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0].startswith("t850: ") and titles[1].startswith("z500: ") and len(titles) == 2
    assert sum(not ax.axison for ax in fig.axes) == 1
    plt.close(fig)
    ax = plot_zonal_means(canonical, ["t850", "t2m"])
    assert [line.get_label() for line in ax.get_lines()[:2]] == ["t850", "t2m"]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), canonical["t850"].mean(("time", "lon")).values)
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="not in the dataset"):
        plot_zonal_means(canonical, ["u250"])
    with pytest.raises(ValueError, match="select a time"):
        plot_map(canonical["t850"])
