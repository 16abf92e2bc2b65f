"""Attention maps on cartopy, skill against lead time with units, and zonal means by lead time."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from climax_nb.grid import WB5625  # noqa: E402
from climax_nb.viz import attention_to_maps, plot_zonal_means  # noqa: E402
from climax_nb.viz.attention import plot_attention_maps  # noqa: E402
from climax_nb.viz.skill import plot_skill_vs_lead  # noqa: E402
from climax_nb.viz.zonal import plot_zonal_means_by_lead, zonal_means_by_lead  # noqa: E402
from tests.viz_helpers import colour_limits, forecast_pair, geo_axes  # noqa: E402


@pytest.mark.usefixtures("offline")
def test_attention_maps_one_panel_per_variable_on_one_scale():
    lat, lon, p = WB5625.lat, WB5625.lon, 4
    h, w = len(lat) // p, len(lon) // p
    attn = torch.full((h * w, 2, 4), 0.25)
    attn[5] = torch.tensor([0.7, 0.1, 0.1, 0.1])
    maps = attention_to_maps(attn, ["t850", "z500", "lsm", "t2m"], lat, lon, p)
    fig = plot_attention_maps(maps, ncols=3)
    axes = geo_axes(fig)
    assert [ax.get_title() for ax in axes] == ["t850", "z500", "lsm", "t2m"]
    assert sum(not ax.get_visible() for ax in fig.axes) == 2  # 2 rows x 3 columns, 4 maps
    for ax in axes:
        assert colour_limits(ax) == pytest.approx((0.1, 0.7))
    assert fig.axes[-1].get_ylabel() == "attention weight [1]"
    plt.close(fig)
    with pytest.raises(ValueError, match="attention_to_maps"):
        plot_attention_maps(maps.isel(variable=0))


def test_skill_vs_lead_from_forecasts_labels_units():
    fc, truth = forecast_pair()
    worse, _ = forecast_pair(offset=1.0)
    clim = truth.mean("time")
    fig = plot_skill_vs_lead({"model": fc, "worse": worse}, truth, clim, variables=["t850", "u250"])
    assert len(fig.axes) == 4
    assert [ax.get_ylabel() for ax in fig.axes] == ["rmse [K]", "acc", "rmse [m s-1]", "acc"]
    model, worse_line = fig.axes[0].get_lines()
    np.testing.assert_allclose(model.get_ydata(), [3.0, 6.0, 12.0], rtol=1e-5)  # 0.5 x lead in hours
    np.testing.assert_allclose(worse_line.get_ydata(), [6.0, 12.0, 24.0], rtol=1e-5)
    np.testing.assert_allclose(model.get_xdata(), [0.25, 0.5, 1.0])
    plt.close(fig)
    with pytest.raises(ValueError, match="needs the truth"):
        plot_skill_vs_lead({"model": fc})
    with pytest.raises(TypeError, match=r"\{'model': forecast\}"):
        plot_skill_vs_lead(fc, truth)


def test_zonal_means_by_lead_follow_the_forecast():
    fc, truth = forecast_pair()
    means = zonal_means_by_lead(fc, truth, "t850", lead_times=[6, 24])
    assert means["forecast"].dims == ("lead_time", "lat")
    np.testing.assert_allclose((means["forecast"] - means["truth"]).isel(lead_time=1), 12.0, rtol=1e-4)
    ax = plot_zonal_means_by_lead(fc, truth, "t850")
    assert [line.get_label() for line in ax.get_lines()] == ["truth", "forecast +6 h", "forecast +12 h",
                                                             "forecast +24 h"]
    assert ax.get_ylabel() == "zonal-mean t850 [K]"
    plt.close(ax.figure)
    ax = plot_zonal_means(fc, ["t850"])  # the dataset plot also averages a forecast's init and lead times
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), fc["t850"].mean(("init_time", "lead_time", "lon")))
    plt.close(ax.figure)
