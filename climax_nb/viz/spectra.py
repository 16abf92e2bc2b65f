"""Zonal power spectra of forecasts against truth: how much variance each scale keeps as lead time grows.

Models trained on mean-squared error blur: scales they cannot predict lose power
with lead time. A patch-based model rolled out step by step can instead gain
power at its patch scale (noise fed back each step). The spectrum here is the power of the Fourier transform along each
latitude circle, as a function of zonal wavenumber k (waves around the circle),
averaged over latitudes with area weights. It is normalised so that summing
over k gives the area-weighted mean of the squared field (Parseval), so its units
are the field's units squared.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from climax_nb.metrics.weights import lat_weights
from climax_nb.viz.select import forecast_and_truth, lead_label, pick_leads, units_of


def _power_along_last_axis(values: np.ndarray) -> np.ndarray:
    n = values.shape[-1]
    power = np.abs(np.fft.rfft(values, axis=-1) / n) ** 2
    power[..., 1 : (n + 1) // 2] *= 2  # both +k and -k, except k = 0 and the Nyquist wave of an even n
    return power


def _power_units(units: str) -> str:
    return f"({units})^2" if units else ""


def zonal_power_spectrum(da: xr.DataArray) -> xr.DataArray:
    """Power per zonal wavenumber, area-weighted mean over latitudes; other dims (times, leads) are kept.

    ``da`` needs ``lon`` (equally spaced, the whole circle) and ``lat``; the
    result has ``wavenumber`` 0 .. nlon // 2 in place of both.
    """
    for dim in ("lat", "lon"):
        if dim not in da.dims:
            raise ValueError(f"a zonal spectrum needs dims lat and lon; got {tuple(da.dims)} (no {dim!r})")
    lon = np.asarray(da["lon"].values, float)
    step = np.diff(lon)
    if len(lon) < 2 or not np.allclose(step, step[0]) or not np.isclose(step[0] * len(lon), 360.0):
        raise ValueError(
            "a zonal spectrum needs equally spaced longitudes around the whole circle "
            f"({len(lon)} from {lon[:1]} to {lon[-1:]}); regrid to a global regular grid first"
        )
    if da.isnull().any():
        raise ValueError("the field has NaN values; fill or mask them before taking a spectrum")
    n_waves = len(lon) // 2 + 1
    spectrum = xr.apply_ufunc(
        _power_along_last_axis, da, input_core_dims=[["lon"]], output_core_dims=[["wavenumber"]], keep_attrs=False,
        dask="parallelized", output_dtypes=[float],  # data opened lazily (dask) stays lazy, chunk by chunk
        dask_gufunc_kwargs={"output_sizes": {"wavenumber": n_waves}, "allow_rechunk": True},
    ).assign_coords(wavenumber=np.arange(n_waves))
    weights = lat_weights(da["lat"]).assign_coords(lat=da["lat"].values)
    units = units_of(da)
    return (
        spectrum.assign_coords(lat=da["lat"].values)
        .weighted(weights)
        .mean("lat")
        .rename(f"{da.name}_power" if da.name is not None else "power")
        .assign_attrs(long_name=f"zonal power spectrum of {da.name}", units=_power_units(units))
    )


def forecast_spectra(
    forecast: xr.Dataset, truth: xr.Dataset, variable: str, lead_times: Sequence[Any] | None = None
) -> xr.Dataset:
    """Spectra of forecast and truth at the forecast's valid times, averaged over initial times.

    Returns ``forecast`` and ``truth`` with dims (lead_time, wavenumber); their
    ratio below 1 at high wavenumbers is blurring, above 1 added small-scale noise.
    """
    leads = pick_leads(forecast, lead_times)
    fc, at = forecast_and_truth(forecast.sel(lead_time=leads), truth, variable)
    spectra = {name: zonal_power_spectrum(da).mean("init_time") for name, da in (("forecast", fc), ("truth", at))}
    return xr.Dataset(spectra, attrs={"variable": variable, "units": _power_units(units_of(fc, at))})


def plot_spectra(
    forecast: xr.Dataset,
    truth: xr.Dataset,
    variable: str,
    lead_times: Sequence[Any] | None = None,
) -> plt.Figure:
    """Two panels: spectra of forecast (one line per lead) and truth, and their ratio forecast / truth."""
    spectra = forecast_spectra(forecast, truth, variable, lead_times)
    k = spectra["wavenumber"].values[1:]  # k = 0 (the zonal mean) has no place on a log axis
    fig, (ax, ratio_ax) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, spectra.sizes["lead_time"]))
    ax.loglog(k, spectra["truth"].mean("lead_time").values[1:], color="k", lw=1.8, ls="--", zorder=3, label="truth")
    for colour, lead in zip(colours, spectra["lead_time"].values, strict=True):
        one = spectra.sel(lead_time=lead)
        ax.loglog(k, one["forecast"].values[1:], color=colour, label=f"forecast +{lead_label(lead)}")
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (one["forecast"] / one["truth"]).values[1:]
        ratio_ax.loglog(k, ratio, color=colour, label=f"+{lead_label(lead)}")  # gains and losses alike
    ratio_ax.axhline(1.0, color="k", lw=0.8)
    ax.set_ylabel(f"power [{spectra.attrs['units']}]")
    ax.set_title(f"{variable}: zonal power spectrum", fontsize=10)
    ax.legend(fontsize="small")
    ratio_ax.set_ylabel("forecast / truth power")
    ratio_ax.set_title("forecast / truth (below 1: blurred; above 1: added noise)", fontsize=10)
    for a in (ax, ratio_ax):
        a.set_xlabel("zonal wavenumber")
        a.grid(alpha=0.3, which="both")
    return fig


def plot_spectra_by_forecast(forecasts: dict[str, xr.Dataset], truth: xr.Dataset, variable: str) -> plt.Figure:
    """Zonal power of several forecasts at their first lead beside the truth's, and each one's ratio to it.

    For downscaled fields (lead 0): the ratio at wavenumbers the coarse grid cannot hold says whether
    a model gives back the fine scales (1), leaves them out (below 1) or invents them (above 1).
    """
    fig, (ax, ratio_ax) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    truth_drawn = False
    for name, fc in forecasts.items():
        spectra = forecast_spectra(fc, truth, variable).isel(lead_time=0)
        k = spectra["wavenumber"].values[1:]
        if not truth_drawn:
            ax.loglog(k, spectra["truth"].values[1:], color="k", lw=1.8, ls="--", zorder=3, label="truth")
            truth_drawn = True
        ax.loglog(k, spectra["forecast"].values[1:], label=name)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio_ax.loglog(k, (spectra["forecast"] / spectra["truth"]).values[1:], label=name)
    ratio_ax.axhline(1.0, color="k", lw=0.8)
    ax.set(ylabel=f"power [{_power_units(units_of(truth[variable]))}]", title=f"{variable}: zonal power spectrum")
    ratio_ax.set(ylabel="forecast / truth power", title="forecast / truth (below 1: smoothed; above 1: invented)")
    for a in (ax, ratio_ax):
        a.set_xlabel("zonal wavenumber")
        a.grid(alpha=0.3, which="both")
        a.legend(fontsize="small")
    return fig
