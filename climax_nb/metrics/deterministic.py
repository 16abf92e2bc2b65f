"""Deterministic scores per variable and lead time: MSE, RMSE (two conventions), bias, MAE, Pearson correlation.

Each reduces the area-weighted error over (lat, lon) for every init time,
then averages over init times. Ensembles are scored through their mean.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import xarray as xr

from climax_nb.metrics.align import align, deterministic
from climax_nb.metrics.weights import spatial_mean

Pointwise = Callable[[xr.Dataset], xr.Dataset]


def _score(
    forecast: xr.Dataset,
    truth: xr.Dataset,
    variables: Sequence[str] | None,
    error: Pointwise,
    per_sample: Pointwise = lambda x: x,
    name: str = "",
) -> xr.Dataset:
    """``mean_init(per_sample(spatial_mean(error(f - o))))`` per variable and lead time."""
    fc, obs = align(forecast, truth, variables)
    out = per_sample(spatial_mean(error(deterministic(fc) - obs))).mean("init_time")
    return out.drop_vars("valid_time", errors="ignore").assign_attrs(metric=name)


def mse(forecast: xr.Dataset, truth: xr.Dataset, variables: Sequence[str] | None = None) -> xr.Dataset:
    """Area-weighted mean squared error."""
    return _score(forecast, truth, variables, lambda e: e**2, name="mse")


def rmse(forecast: xr.Dataset, truth: xr.Dataset, variables: Sequence[str] | None = None) -> xr.Dataset:
    """sqrt of the MSE over init times and space: WeatherBench 2's RMSE (square root after all averaging)."""
    return np.sqrt(mse(forecast, truth, variables)).assign_attrs(metric="rmse")


def rmse_per_sample(forecast: xr.Dataset, truth: xr.Dataset, variables: Sequence[str] | None = None) -> xr.Dataset:
    """Spatial RMSE of each init time, then averaged: ClimaX's ``lat_weighted_rmse`` (never above ``rmse``)."""
    return _score(forecast, truth, variables, lambda e: e**2, np.sqrt, name="rmse_per_sample")


def bias(forecast: xr.Dataset, truth: xr.Dataset, variables: Sequence[str] | None = None) -> xr.Dataset:
    """Area-weighted mean of forecast minus truth (positive: forecast too high)."""
    return _score(forecast, truth, variables, lambda e: e, name="bias")


def mae(forecast: xr.Dataset, truth: xr.Dataset, variables: Sequence[str] | None = None) -> xr.Dataset:
    """Area-weighted mean absolute error."""
    return _score(forecast, truth, variables, abs, name="mae")


def pearson(forecast: xr.Dataset, truth: xr.Dataset, variables: Sequence[str] | None = None) -> xr.Dataset:
    """Area-weighted Pearson correlation of forecast and truth over (lat, lon) for each init time, then averaged.

    The pattern correlation of ClimaX's downscaling table: each field is centred on its own spatial
    mean, so a uniform bias does not lower it (``bias`` reports that).
    """
    fc, obs = align(forecast, truth, variables)
    fc = deterministic(fc)
    df, do = fc - spatial_mean(fc), obs - spatial_mean(obs)
    corr = spatial_mean(df * do) / np.sqrt(spatial_mean(df**2) * spatial_mean(do**2))
    for name in corr.data_vars:
        corr[name].attrs = {"units": "1"}
    out = corr.mean("init_time", keep_attrs=True).drop_vars("valid_time", errors="ignore")
    return out.assign_attrs(metric="pearson")
