"""The attention report: entropy against uniform weights, by region and by variable."""

import numpy as np
import pytest

from climax_nb.forecast.attention import attention_report, relative_entropy, report_maps
from climax_nb.grid import WB5625

LAT, LON, PATCH = WB5625.lat, WB5625.lon, 4
L = (len(LAT) // PATCH) * (len(LON) // PATCH)
VARS = ["z500", "t850", "t2m", "u10"]


def test_uniform_weights_have_relative_entropy_one_and_one_hot_zero():
    uniform = np.full((2, L, 3, 4), 0.25)
    assert np.allclose(relative_entropy(uniform), 1.0)
    one_hot = np.zeros((2, L, 3, 4))
    one_hot[..., 2] = 1.0
    assert np.allclose(relative_entropy(one_hot), 0.0)
    by_region, by_variable = attention_report(one_hot, VARS, LAT, LON, PATCH)
    assert np.allclose(by_region["relative entropy"], 0.0) and np.allclose(by_region["largest weight x V"], 4.0)
    assert by_variable.index[0] == "t2m" and np.isclose(by_variable.loc["t2m", "globe"], 4.0)
    assert np.isclose(by_variable.loc["z500", "tropics"], 0.0)


def test_regions_are_told_apart_and_area_weighted():
    weights = np.full((1, L, 1, 4), 0.25)
    plat = np.repeat(np.asarray(LAT).reshape(-1, PATCH).mean(1), len(LON) // PATCH)
    tropics = np.abs(plat) <= 23.5
    weights[0, tropics, 0] = [1.0, 0.0, 0.0, 0.0]
    by_region, _ = attention_report(weights, VARS, LAT, LON, PATCH)
    assert by_region.loc["tropics", "relative entropy"] == pytest.approx(0.0)
    assert by_region.loc["northern extratropics", "relative entropy"] == pytest.approx(1.0)
    area = np.cos(np.deg2rad(plat))
    assert by_region.loc["globe", "relative entropy"] == pytest.approx(area[~tropics].sum() / area.sum())
    entropy_map = report_maps(weights, LAT, LON, PATCH)
    assert entropy_map.sizes == {"lat": 8, "lon": 16} and float(entropy_map.min()) == pytest.approx(0.0)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r"weights must be \[B, L, heads, V\] with V = 4"):
        attention_report(np.full((L, 1, 4), 0.25), VARS, LAT, LON, PATCH)
    with pytest.raises(ValueError, match="patches do not match"):
        attention_report(np.full((1, L + 1, 1, 4), 0.25), VARS, LAT, LON, PATCH)
    with pytest.raises(ValueError, match="at least 2 variables"):
        relative_entropy(np.ones((3, 1)))
