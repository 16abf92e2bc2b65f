"""Ensemble scores over the ``member`` dim: fair CRPS, spread-skill ratio, rank histogram."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from climax_nb.metrics.align import MetricInputError, align
from climax_nb.metrics.weights import spatial_mean

MEMBER = "member"


def _members(forecast: xr.Dataset, metric: str, at_least: int = 1) -> int:
    if MEMBER not in forecast.dims or forecast.sizes[MEMBER] < at_least:
        have = forecast.sizes.get(MEMBER, 0)
        raise MetricInputError(
            f"{metric} needs a '{MEMBER}' dim with at least {at_least} members; the forecast has {have}; "
            f"stack ensemble members along '{MEMBER}'"
        )
    return forecast.sizes[MEMBER]


def _half_mean_pair_distance(da: xr.DataArray) -> xr.DataArray:
    """``1 / (2 M (M-1)) sum_ij |X_i - X_j|`` via sorted members: ``sum_i (2i - M - 1) X_(i) / (M (M-1))``."""
    m = da.sizes[MEMBER]
    if m < 2:
        return xr.zeros_like(da.isel({MEMBER: 0}, drop=True))
    coef = 2 * np.arange(1, m + 1) - m - 1

    def pairs(x: np.ndarray) -> np.ndarray:
        return np.tensordot(np.sort(x, axis=-1), coef, axes=([-1], [0])) / (m * (m - 1))

    return xr.apply_ufunc(pairs, da, input_core_dims=[[MEMBER]])


def crps(forecast: xr.Dataset, truth: xr.Dataset, variables: Sequence[str] | None = None) -> xr.Dataset:
    """Fair CRPS (WeatherBench 2's ensemble ``CRPS``): ``mean|X-y| - 1/(2M(M-1)) sum|X_i-X_j|``, area-weighted.

    Without a ``member`` dim the forecast is a point mass and CRPS equals MAE.
    """
    fc, obs = align(forecast, truth, variables)
    if MEMBER not in fc.dims:
        fc = fc.expand_dims(MEMBER)
    skill = abs(fc - obs).mean(MEMBER)
    spread = fc.map(_half_mean_pair_distance)
    out = spatial_mean(skill - spread).mean("init_time")
    return out.drop_vars("valid_time", errors="ignore").assign_attrs(metric="crps")


def spread_skill_ratio(
    forecast: xr.Dataset, truth: xr.Dataset, variables: Sequence[str] | None = None, corrected: bool = False
) -> xr.Dataset:
    """Spread / skill, both averaged over init times and space before the square root (WeatherBench 2).

    spread = sqrt(mean of the unbiased (M-1) ensemble variance); skill = RMSE of
    the ensemble mean. The ensemble mean of M exchangeable members errs by
    sqrt((M+1)/M) times the spread, so a calibrated ensemble scores
    sqrt(M/(M+1)); ``corrected=True`` multiplies the spread by sqrt((M+1)/M)
    so it scores 1 at any M.
    """
    m = _members(forecast, "spread_skill_ratio", at_least=2)
    fc, obs = align(forecast, truth, variables)
    spread = np.sqrt(spatial_mean(fc.var(MEMBER, ddof=1)).mean("init_time"))
    skill = np.sqrt(spatial_mean((fc.mean(MEMBER) - obs) ** 2).mean("init_time"))
    ratio = spread / skill * (np.sqrt((m + 1) / m) if corrected else 1.0)
    return ratio.drop_vars("valid_time", errors="ignore").assign_attrs(metric="spread_skill_ratio")


def rank_histogram(forecast: xr.Dataset, truth: xr.Dataset, variables: Sequence[str] | None = None) -> xr.Dataset:
    """Counts of the truth's rank (members strictly below it, 0..M) over init times and grid cells.

    Flat means calibrated; U-shaped, under-dispersive. Counts are unweighted.
    """
    m = _members(forecast, "rank_histogram")
    fc, obs = align(forecast, truth, variables)
    rank = (fc < obs).sum(MEMBER)
    bins = xr.DataArray(np.arange(m + 1), dims="rank", coords={"rank": np.arange(m + 1)})
    out = (rank == bins).sum(("init_time", "lat", "lon"))
    return out.drop_vars("valid_time", errors="ignore").assign_attrs(metric="rank_histogram")
