"""Cartopy maps of forecasts: panels, shared colour scales, units and errors for bad input."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from cartopy.mpl.geoaxes import GeoAxes  # noqa: E402

from climax_nb.viz.geo import plot_field, plot_lead_times, plot_truth_forecast_error  # noqa: E402
from tests.viz_helpers import colour_limits, forecast_pair, geo_axes  # noqa: E402


@pytest.mark.usefixtures("offline")
def test_truth_forecast_error_panels_share_a_scale():
    fc, truth = forecast_pair()
    fig = plot_truth_forecast_error(fc, truth, "t850", lead_time="12h", init_time=fc["init_time"].values[1])
    axes = geo_axes(fig)
    assert [ax.get_title() for ax in axes] == ["truth", "forecast", "forecast − truth"]
    assert colour_limits(axes[0]) == colour_limits(axes[1])
    np.testing.assert_allclose(colour_limits(axes[2]), (-6.0, 6.0), rtol=1e-5)  # error is 0.5 K/h x 12 h
    labels = [ax.get_ylabel() for ax in fig.axes if not isinstance(ax, GeoAxes)]
    assert labels == ["t850 [K]", "forecast − truth [K]"]
    assert "lead 12 h" in fig._suptitle.get_text()
    fig.savefig(__import__("io").BytesIO(), format="png")  # draws the shipped coastlines offline
    plt.close(fig)


@pytest.mark.usefixtures("offline")
def test_lead_times_side_by_side():
    fc, truth = forecast_pair()
    fig = plot_lead_times(fc, "u250", lead_times=[6, 24], truth=truth)
    axes = geo_axes(fig)
    assert [ax.get_title() for ax in axes] == [
        "truth +6 h", "truth +24 h", "forecast +6 h", "forecast +24 h", "error +6 h", "error +24 h"
    ]
    assert len({colour_limits(ax) for ax in axes[:4]}) == 1
    lo, hi = colour_limits(axes[0])
    assert lo == -hi  # winds are centred on zero
    np.testing.assert_allclose(colour_limits(axes[4]), (-12.0, 12.0), rtol=1e-5)
    plt.close(fig)
    fig = plot_lead_times(fc, "z500")
    assert [ax.get_title() for ax in geo_axes(fig)] == ["forecast +6 h", "forecast +12 h", "forecast +24 h"]
    plt.close(fig)


@pytest.mark.usefixtures("offline")
def test_plot_field_labels_units():
    _, truth = forecast_pair()
    ax = plot_field(truth["t850"].isel(time=0))
    assert isinstance(ax, GeoAxes) and ax.get_title() == "t850"
    assert ax.figure.axes[-1].get_ylabel() == "t850 [K]"
    plt.close(ax.figure)


def test_bad_input_names_the_fix():
    fc, truth = forecast_pair()
    with pytest.raises(ValueError, match=r"no lead time\(s\) \['36 h'\]; it has \['6 h', '12 h', '24 h'\]"):
        plot_lead_times(fc, "t850", lead_times=[36])
    with pytest.raises(ValueError, match="forecast has no variable 'q700'"):
        plot_lead_times(fc, "q700")
    with pytest.raises(ValueError, match="no init_time 1999-01-01"):
        plot_truth_forecast_error(fc, truth, "t850", init_time="1999-01-01")
    with pytest.raises(ValueError, match="truth has no variable 'z500'"):
        plot_truth_forecast_error(fc, truth[["t850"]], "z500")
    with pytest.raises(ValueError, match="select one time"):
        plot_field(truth["t850"])
    with pytest.raises(TypeError, match="GeoAxes"):
        plot_field(truth["t850"].isel(time=0), ax=plt.subplots()[1])
    plt.close("all")


def test_every_public_name_of_the_package_resolves():
    import climax_nb.viz as viz

    assert all(callable(getattr(viz, name)) or name == "NATURAL_EARTH_DIR" for name in viz.__all__)
    with pytest.raises(AttributeError, match="no attribute 'plot_everything'"):
        viz.plot_everything  # noqa: B018
