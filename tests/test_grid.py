import numpy as np
import pytest

from climax_nb.grid import WB5625, Grid


@pytest.mark.parametrize(("res", "shape"), [(5.625, (32, 64)), (2.8125, (64, 128)), (1.40625, (128, 256))])
def test_weatherbench_grids(res, shape):
    grid = Grid.weatherbench(res)
    assert grid.shape == shape
    assert grid.lat[0] == pytest.approx(-90 + res / 2)
    assert grid.lon[-1] == pytest.approx(360 - res)


def test_default_grid_matches_weatherbench_values():
    assert WB5625.lat[0] == -87.1875 and WB5625.lat[-1] == 87.1875
    assert WB5625.lon[0] == 0 and WB5625.lon[-1] == 354.375


def test_area_weights_are_proportional_to_cell_area():
    w = WB5625.area_weights()
    assert w.mean() == pytest.approx(1.0)
    bounds = np.deg2rad(WB5625.lat_bounds())
    area = np.sin(bounds[1:]) - np.sin(bounds[:-1])
    np.testing.assert_allclose(w / w[16], area / area[16])
    assert w[0] < 0.1 * w[16]


def test_unknown_resolution_is_refused():
    with pytest.raises(ValueError, match="5.625"):
        Grid.weatherbench(3.0)


def test_lon_bounds_are_periodic():
    b = WB5625.lon_bounds()
    assert b[0] == pytest.approx(-2.8125) and b[-1] == pytest.approx(357.1875)
