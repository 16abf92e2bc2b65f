"""Anomaly correlation: WeatherBench 2's uncentred ACC and WeatherBench 1's centred one."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from climax_nb.metrics.align import align, climatology_at_valid_time, deterministic
from climax_nb.metrics.weights import lat_weights, spatial_mean


def anomalies(
    forecast: xr.Dataset, truth: xr.Dataset, clim: xr.Dataset, variables: Sequence[str] | None = None
) -> tuple[xr.Dataset, xr.Dataset]:
    """(forecast anomaly, truth anomaly) against ``clim`` at each valid time."""
    fc, obs = align(forecast, truth, variables)
    c = climatology_at_valid_time(fc, clim, list(fc.data_vars))
    return deterministic(fc) - c, obs - c


def acc(
    forecast: xr.Dataset, truth: xr.Dataset, clim: xr.Dataset, variables: Sequence[str] | None = None
) -> xr.Dataset:
    """WeatherBench 2's ACC: uncentred spatial correlation of anomalies per init time, averaged over init times.

    ``clim`` is normally the day-of-year x hour climatology of the training years.
    """
    fa, oa = anomalies(forecast, truth, clim, variables)
    per_init = spatial_mean(fa * oa) / np.sqrt(spatial_mean(fa**2) * spatial_mean(oa**2))
    return per_init.mean("init_time").drop_vars("valid_time", errors="ignore").assign_attrs(metric="acc")


def acc_centred(
    forecast: xr.Dataset, truth: xr.Dataset, clim: xr.Dataset, variables: Sequence[str] | None = None
) -> xr.Dataset:
    """WeatherBench 1's ``compute_weighted_acc``: one centred correlation per lead time.

    Anomalies are taken against ``clim`` (WeatherBench 1 and ClimaX use the
    time-mean climatology); their plain means over (init_time, lat, lon) are
    removed, and the weighted sums run over all init times and grid cells.
    """
    fa, oa = anomalies(forecast, truth, clim, variables)
    dims = ("init_time", "lat", "lon")
    fa, oa = fa - fa.mean(dims), oa - oa.mean(dims)
    w = lat_weights(fa["lat"])
    out = (w * fa * oa).sum(dims) / np.sqrt((w * fa**2).sum(dims) * (w * oa**2).sum(dims))
    return out.drop_vars("valid_time", errors="ignore").assign_attrs(metric="acc_centred")


#: WeatherBench 1's name for the centred form.
acc_wb1 = acc_centred
