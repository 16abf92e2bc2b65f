"""Zonal power spectra: a field with known waves, Parseval, and blurring seen as lost power."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from climax_nb.grid import WB5625  # noqa: E402
from climax_nb.metrics.weights import lat_weights  # noqa: E402
from climax_nb.viz.spectra import forecast_spectra, plot_spectra, zonal_power_spectrum  # noqa: E402
from tests.viz_helpers import forecast_pair  # noqa: E402


def wave_field(k: int, amplitude: np.ndarray | float, phase: float = 0.7) -> xr.DataArray:
    lon = np.deg2rad(WB5625.lon)
    lat = WB5625.lat
    values = np.asarray(amplitude, float).reshape(-1, 1) * np.cos(k * lon[None, :] + phase) * np.ones((len(lat), 1))
    return xr.DataArray(values, dims=("lat", "lon"), coords={"lat": lat, "lon": WB5625.lon}, name="t850",
                        attrs={"units": "K"})


def test_a_single_wave_puts_its_power_at_its_wavenumber():
    amplitude = np.cos(np.deg2rad(WB5625.lat))  # varies with latitude: the mean must be area-weighted
    spectrum = zonal_power_spectrum(wave_field(5, amplitude) + 3.0)
    w = lat_weights(WB5625.lat).values
    expected = float((w * amplitude**2 / 2).sum() / w.sum())
    assert spectrum.dims == ("wavenumber",) and spectrum.sizes["wavenumber"] == 33
    np.testing.assert_allclose(spectrum.sel(wavenumber=5), expected, rtol=1e-10)
    np.testing.assert_allclose(spectrum.sel(wavenumber=0), 9.0, rtol=1e-10)
    others = spectrum.drop_sel(wavenumber=[0, 5])
    assert float(others.max()) < 1e-20
    assert spectrum.attrs["units"] == "(K)^2"


def test_parseval_and_the_nyquist_wave():
    rng = np.random.default_rng(0)
    da = wave_field(1, 1.0).copy(data=rng.standard_normal((32, 64)))
    spectrum = zonal_power_spectrum(da)
    w = lat_weights(WB5625.lat)
    np.testing.assert_allclose(float(spectrum.sum()), float((da**2).mean("lon").weighted(w).mean()), rtol=1e-10)
    nyquist = zonal_power_spectrum(wave_field(32, 2.0, phase=0.0))
    np.testing.assert_allclose(float(nyquist.sel(wavenumber=32)), 4.0, rtol=1e-10)


def test_other_dims_are_kept():
    da = xr.concat([wave_field(2, 1.0), wave_field(4, 2.0)], dim="lead_time")
    spectrum = zonal_power_spectrum(da)
    assert spectrum.dims == ("lead_time", "wavenumber")
    np.testing.assert_allclose(spectrum.isel(lead_time=1).sel(wavenumber=4), 2.0, rtol=1e-10)


def test_lazy_data_gives_the_same_spectrum():
    da = xr.concat([wave_field(2, 1.0), wave_field(4, 2.0)], dim="time")
    lazy = zonal_power_spectrum(da.chunk({"time": 1, "lon": 16}))
    xr.testing.assert_allclose(lazy.compute(), zonal_power_spectrum(da))


def test_blurred_forecast_loses_small_scale_power():
    fc, truth = forecast_pair(offset=0.0)
    t850 = fc["t850"]
    smooth = ((t850.roll(lon=1) + t850.roll(lon=-1) + t850) / 3).values
    smooth[:, 0] = t850.values[:, 0]  # the first lead stays sharp
    blurred = fc.assign(t850=t850.copy(data=smooth))
    spectra = forecast_spectra(blurred, truth, "t850")
    assert spectra["forecast"].dims == ("lead_time", "wavenumber")
    ratio = spectra["forecast"] / spectra["truth"]
    np.testing.assert_allclose(ratio.isel(lead_time=0), 1.0, rtol=1e-5)
    assert float(ratio.isel(lead_time=1).sel(wavenumber=20)) < 0.5
    fig = plot_spectra(blurred, truth, "t850", lead_times=[6, 24])
    spec_ax, ratio_ax = fig.axes
    assert [line.get_label() for line in spec_ax.get_lines()] == ["truth", "forecast +6 h", "forecast +24 h"]
    assert spec_ax.get_xscale() == "log" and spec_ax.get_ylabel() == "power [(K)^2]"
    np.testing.assert_allclose(ratio_ax.get_lines()[0].get_ydata(), 1.0, rtol=1e-5)
    assert ratio_ax.get_yscale() == "log"  # a ratio: halving and doubling lie equally far from 1
    plt.close(fig)


def test_bad_grids_are_refused():
    with pytest.raises(ValueError, match="no 'lat'"):
        zonal_power_spectrum(wave_field(1, 1.0).isel(lat=0))
    with pytest.raises(ValueError, match="whole circle"):
        zonal_power_spectrum(wave_field(1, 1.0).isel(lon=slice(0, 32)))
    with pytest.raises(ValueError, match="NaN"):
        zonal_power_spectrum(wave_field(1, 1.0).where(lambda x: x > 0))
