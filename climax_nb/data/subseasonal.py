"""Sub-seasonal targets: window means of a run, as anomalies against its training years' climatology.

The S2S benchmarks (and ClimaX's section 4.2.3) forecast two-week means at weeks 3-4
and 5-6. Here a target at day ``d`` (00 UTC) is the mean over the ``days`` days
``d .. d + days - 1`` of every frame, minus the training years' climatology of such
means on that day of the year: the mean and first ``harmonics`` annual harmonics
fitted by least squares per cell, which is smooth where a few years' day-by-day
means would be noise. A model started at ``t`` then forecasts weeks 3-4 at lead
``14 days`` (the window ``t + 14 d .. t + 27 d``) and weeks 5-6 at ``28 days``.

``subseasonal_pair`` gives the model's inputs (the states at 00 UTC) and these
targets on the same days, as ``SampleBuilder(targets=..., output_normalizer=...)``
reads them; the targets keep the variables' ids but hold anomalies, so they get
statistics of their own.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from climax_nb.data.climatology import climatology_at
from climax_nb.data.fields import check_variables
from climax_nb.data.ranges import ANOMALY_QUANTITIES
from climax_nb.data.select import select_years

#: Days averaged per target: the S2S benchmarks' two weeks.
WINDOW_DAYS = 14
#: Lead times (hours) of weeks 3-4 and 5-6 from a 00 UTC start with two-week windows.
SUBSEASONAL_LEADS_H: tuple[float, ...] = (336.0, 672.0)
#: The S2S benchmarks' variables, as far as the embedded data have them (``tp6h``: precipitation).
SUBSEASONAL_VARIABLES: tuple[str, ...] = ("z500", "t850", "t2m", "tp6h")
#: Annual harmonics of the window-mean climatology.
CLIMATOLOGY_HARMONICS = 3
_YEAR_DAYS = 365.25
#: What the targets are, as recorded in their attributes and in a checkpoint's output description (and what
#: ``climax_nb.data.schema.validate`` reads to hold them to ranges of anomalies).
WINDOW_QUANTITY = ANOMALY_QUANTITIES[0]


def week_label(lead_hours: float, days: int = WINDOW_DAYS) -> str:
    """``weeks 3-4`` for a lead of 336 h and two-week windows: which weeks after the start a target covers."""
    first = round(lead_hours / 24) // 7 + 1
    return f"weeks {first}-{first + days // 7 - 1}" if days % 7 == 0 else f"days {round(lead_hours / 24)}+{days}"


def daily_means(ds: xr.Dataset, variables: Sequence[str]) -> xr.Dataset:
    """Each calendar day's mean of ``variables``, at 00 UTC; days without every frame of a full day are dropped.

    The fields are read into memory first (with dask's synchronous scheduler, see docs/embedded.md).
    """
    check_variables(ds, list(variables))
    fields = ds[list(variables)].load(scheduler="synchronous")
    counts = fields[list(variables)[0]].isel(lat=0, lon=0).resample(time="1D").count()
    means = fields.resample(time="1D").mean()
    full = int(counts.max()) if counts.size else 0
    return means.isel(time=np.flatnonzero(counts.values == full)).astype("float32")


def window_means(daily: xr.Dataset, days: int = WINDOW_DAYS) -> xr.Dataset:
    """The mean of the ``days`` days from each day on, at every day whose window lies inside ``daily``.

    ``daily`` must be contiguous (one value per day, no gaps), or windows would span missing days.
    """
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    times = daily["time"].values
    steps = np.diff(times) / np.timedelta64(1, "D") if len(times) > 1 else np.array([])
    if len(steps) and not np.all(steps == 1):
        gap = times[1:][steps != 1][0]
        raise ValueError(f"the daily means have a gap before {np.datetime_as_string(gap, 'D')}: window means need "
                         "one value per day; select a contiguous stretch of the run")
    if len(times) < days:
        raise ValueError(f"{len(times)} day(s) hold no {days}-day window: use a longer run or shorter windows")
    rolled = daily.rolling(time=days).mean().isel(time=slice(days - 1, None))
    return rolled.assign_coords(time=times[: len(times) - days + 1]).astype("float32")


def _harmonics(dayofyear: np.ndarray, harmonics: int) -> np.ndarray:
    """The regressors ``[1, cos, sin, ...]`` of each day of the year, ``[days, 1 + 2 * harmonics]``."""
    phase = 2 * np.pi * np.asarray(dayofyear, dtype=np.float64)[:, None] * np.arange(1, harmonics + 1) / _YEAR_DAYS
    return np.concatenate([np.ones((len(dayofyear), 1)), np.cos(phase), np.sin(phase)], axis=1)


def harmonic_climatology(means: xr.Dataset, years: Sequence[int] | None = None,
                         harmonics: int = CLIMATOLOGY_HARMONICS) -> xr.Dataset:
    """The mean annual cycle of ``means`` over ``years`` (default: all; ``harmonics`` 0: their mean), in the layout of
    ``climax_nb.data.climatology`` (``(hour, dayofyear, lat, lon)``, one hour: the windows' 00 UTC start).

    Needs at least one full year of the years chosen, or the fit would extrapolate the missing seasons.
    """
    chosen = select_years(means, list(years), "the window means") if years else means
    n = chosen.sizes["time"]
    if harmonics > 0 and n < 365:
        raise ValueError(f"{n} day(s) cannot fix an annual cycle: give at least one full year of window means, "
                         "or harmonics 0 (the mean of the stretch)")
    if n == 0:
        raise ValueError("no window means to fit a climatology on: choose years the data have")
    design = _harmonics(chosen["time"].dt.dayofyear.values, harmonics)
    every_day = _harmonics(np.arange(1, 367), harmonics)
    out = {}
    for vid, da in chosen.data_vars.items():
        values = da.values.reshape(n, -1).astype(np.float64)
        coef, *_ = np.linalg.lstsq(design, values, rcond=None)
        out[vid] = xr.DataArray((every_day @ coef).reshape(1, 366, *da.shape[1:]).astype(np.float32),
                                dims=("hour", "dayofyear", *da.dims[1:]), attrs=da.attrs)
    years_used = sorted({int(y) for y in chosen["time"].dt.year.values})
    coords = {"hour": [0], "dayofyear": np.arange(1, 367), "lat": means["lat"], "lon": means["lon"]}
    return xr.Dataset(out, coords=coords, attrs={"kind": "dayofyear_hour", "years": years_used,
                                                 "harmonics": harmonics})


def anomalies(means: xr.Dataset, climatology: xr.Dataset) -> xr.Dataset:
    """``means`` minus ``climatology`` on each day of the year."""
    return (means - climatology_at(climatology, means["time"])[list(means.data_vars)]).astype("float32")


def subseasonal_pair(
    ds: xr.Dataset,
    variables: Sequence[str],
    train_years: Sequence[int],
    days: int = WINDOW_DAYS,
    harmonics: int = CLIMATOLOGY_HARMONICS,
) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    """The model's inputs, its targets and their climatology, from one run ``ds``.

    - inputs: ``ds`` at 00 UTC on every day with a complete window (all of its variables);
    - targets: the ``days``-day means of ``variables`` from each of those days on, as anomalies
      against ``harmonic_climatology`` of the ``train_years`` (in memory);
    - the climatology itself, to add back for full fields or to score against.
    """
    means = window_means(daily_means(ds, variables), days)
    clim = harmonic_climatology(means, train_years, harmonics)
    targets = anomalies(means, clim).load()
    for vid in targets.data_vars:
        targets[vid].attrs = {**ds[vid].attrs, "long_name": f"{days}-day mean anomaly of {vid}", "window_days": days}
    targets = targets.drop_attrs(deep=False).assign_attrs(quantity=WINDOW_QUANTITY, window_days=days,
                                   climatology_years=list(clim.attrs["years"]), harmonics=harmonics)
    inputs = ds.sel(time=targets["time"].values)
    return inputs, targets, clim


def anomaly_climatology(climatology: xr.Dataset) -> xr.Dataset:
    """The climatology of the anomalies: zero on every day of the year (for ACC and the climatology baseline)."""
    return xr.zeros_like(climatology).assign_attrs(climatology.attrs)
