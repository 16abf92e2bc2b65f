"""Counterfactuals through conditioning, measured against the GCM: the masked model's shift under another forcing.

AtmoRep asked how a storm would look in another year and answered with pictures. Here the
question has a ground truth: the embedded ``warm-sst`` source is the reanalysis's GCM with the
sea surface 2 K warmer everywhere. The masked model reconstructs the hidden cells of the
reanalysis's windows twice, once with the forcing its tokens carry by default (the source's
own, 0 K) and once with another (``fm.conditioned(sst_offset=2.0)``); the mean difference is
the model's shift (``model_shift``). The GCM's shift is the difference of the two worlds'
monthly means in the same calendar months (``world_shift``), weighted as the windows fall in
them. ``compare_shifts`` says whether the global means have the same sign, how large each
is, and how well the patterns agree (centred, area-weighted correlation over the globe).

What a forecast mask can show: the visible history comes from the control world, so a model
that reads it closely shifts less than the GCM's climate does, and more hidden slabs leave
more room for the forcing. That is part of the result, not a flaw of the measure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from climax_nb.data.monthly import months_of
from climax_nb.data.select import select_years
from climax_nb.forecast.masked import Task, run_task
from climax_nb.metrics.weights import lat_weights, spatial_mean


def model_shift(fm, data: xr.Dataset, task: Task, init_times: Sequence | np.ndarray, *,
                variables: Sequence[str] | None = None, batch_size: int = 4, **forcing: float) -> xr.Dataset:
    """The ensemble mean of ``task`` under ``forcing`` minus that under the default forcing, averaged over the
    windows and hidden steps: one ``(lat, lon)`` map per variable (physical units)."""
    if not forcing:
        raise ValueError("give the forcing to change, e.g. model_shift(..., sst_offset=2.0)")
    base = run_task(fm, data, task, init_times, variables=variables, batch_size=batch_size)
    other = run_task(fm.conditioned(**forcing), data, task, init_times, variables=variables, batch_size=batch_size)
    diff = (other - base).drop_vars("valid_time", errors="ignore")
    return diff.mean(("member", "init_time", "lead_time")).assign_attrs(
        task=task.label, windows=len(base["init_time"]), **{f"forcing_{k}": float(v) for k, v in forcing.items()})


def world_shift(control: xr.Dataset, other: xr.Dataset, variables: Sequence[str], months: Sequence[int] | np.ndarray,
                *, control_years: Sequence[int] | None = None, other_years: Sequence[int] | None = None
                ) -> xr.Dataset:
    """``other``'s mean minus ``control``'s, per calendar month, averaged with each month weighted by how often it
    occurs in ``months`` (e.g. the months of the windows scored): the GCM's own shift between the worlds."""
    months = np.asarray(months, dtype=np.int64).reshape(-1)
    if not len(months):
        raise ValueError("give the calendar months (1-12) to compare, e.g. those of the windows")
    missing = [v for v in variables if v not in control.data_vars or v not in other.data_vars]
    if missing:
        raise ValueError(f"{missing} are not in both worlds' data; choose variables both hold")
    control = select_years(control[list(variables)], control_years)
    other = select_years(other[list(variables)], other_years)
    counts = np.bincount(months, minlength=13)[1:]
    total = None
    for m in np.flatnonzero(counts) + 1:
        means = []
        for ds, name in ((control, "control"), (other, "other")):
            in_month = months_of(ds["time"].values) == m
            if not in_month.any():
                raise ValueError(f"the {name} world has no data in month {m}: give years covering the months of "
                                 "the windows")
            means.append(ds.isel(time=np.flatnonzero(in_month)).mean("time"))
        term = (means[1] - means[0]) * (counts[m - 1] / counts.sum())
        total = term if total is None else total + term
    return total.load()


def pattern_correlation(a: xr.DataArray, b: xr.DataArray) -> float:
    """Centred, area-weighted correlation of two ``(lat, lon)`` maps."""
    w = lat_weights(a["lat"]) * xr.ones_like(a)
    da, db = a - spatial_mean(a), b - spatial_mean(b)
    return float((w * da * db).sum() / np.sqrt((w * da**2).sum() * (w * db**2).sum()))


def compare_shifts(model: xr.Dataset, gcm: xr.Dataset) -> list[dict[str, float | str | bool]]:
    """Per variable the global means of both shifts, their ratio, whether their signs agree, and the pattern
    correlation of the maps."""
    rows = []
    for v in model.data_vars:
        if v not in gcm.data_vars:
            continue
        m, g = model[v], gcm[v].sel(lat=model["lat"], lon=model["lon"])
        mean_m, mean_g = float(spatial_mean(m)), float(spatial_mean(g))
        rows.append({"variable": str(v), "model_global_mean": mean_m, "gcm_global_mean": mean_g,
                     "ratio": mean_m / mean_g if mean_g else float("nan"),
                     "same_sign": bool(np.sign(mean_m) == np.sign(mean_g)),
                     "pattern_correlation": pattern_correlation(m, g)})
    return rows


__all__ = ["compare_shifts", "model_shift", "pattern_correlation", "world_shift"]
