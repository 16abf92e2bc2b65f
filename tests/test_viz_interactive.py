"""Interactive forecast maps: widgets exist, render to Bokeh without a browser, and drive the map."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pytest
from bokeh.models import ColorBar, Select, Slider

from climax_nb.viz.interactive import forecast_explorer
from tests.viz_helpers import forecast_pair


def models_of(root, kind):
    return list(root.select({"type": kind}))


def rendered(overlay) -> tuple[str, ColorBar]:
    """The Bokeh figure's title and colour bar, drawn as the browser would get them (coastline included)."""
    fig = hv.render(overlay, backend="bokeh")
    (colorbar,) = models_of(fig, ColorBar)
    return fig.title.text, colorbar


@pytest.mark.usefixtures("offline")
def test_explorer_has_selectors_and_sliders_and_follows_them():
    fc, truth = forecast_pair()
    layout = forecast_explorer(fc, truth)
    variable, show, lead, init = layout[0].objects
    assert variable.options == ["z500", "t850", "u250"]
    assert show.options == ["forecast", "truth", "forecast − truth"]
    assert list(lead.options) == ["6 h", "12 h", "24 h"]
    assert len(init.options) == 2
    root = layout.get_root()  # the Bokeh document a browser would get
    assert {m.title for m in models_of(root, Select)} == {"variable", "show"}
    assert len(models_of(root, Slider)) == 2  # lead time and init time
    plot = layout[1]
    title, colorbar = rendered(plot.object)
    assert title.startswith("forecast z500") and title.endswith("+6 h")
    variable.value, lead.value, show.value = "t850", lead.options["24 h"], "forecast − truth"
    title, colorbar = rendered(plot.object)
    assert title.startswith("forecast − truth t850") and title.endswith("+24 h")
    assert colorbar.title == "t850 [K]"
    assert colorbar.color_mapper.low == -colorbar.color_mapper.high
    np.testing.assert_allclose(plot.object.get(0).dimension_values(2), 12.0, rtol=1e-5)  # 0.5 K/h x 24 h


def test_explorer_without_truth_and_bad_names():
    fc, _ = forecast_pair()
    layout = forecast_explorer(fc, variables=["t850"])
    assert layout[0].objects[1].options == ["forecast"]
    lons = layout[1].object.get(0).dimension_values("lon")
    assert lons.min() < 0 < lons.max() <= 180  # shifted to the coastline's -180..180
    with pytest.raises(ValueError, match="forecast has no variable 'q700'"):
        forecast_explorer(fc, variables=["q700"])
