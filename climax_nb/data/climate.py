"""Climate projection data (ClimateBench at this scale): forcing maps in, period statistics out.

ClimateBench (Watson-Parris et al., 2022) maps each year's forcing to that year's mean surface
temperature, diurnal temperature range, precipitation and 90th percentile of daily precipitation.
Here each embedded scenario run (``climax_nb.data.embedded.configs.SCENARIOS``, several
initial-condition members each) gives one sample per period (a year by default):

- inputs: ``co2`` (ppmv, a constant map) and ``sst_anomaly`` (K, the scenario's SST change over
  the ocean: its uniform offset plus its pattern), with the constants;
- targets: ``t2m`` (mean), ``pr`` (mean precipitation, mm/day) and ``pr90`` (90th percentile over
  the period's days of daily precipitation, mm/day). ``period_statistics`` also gives ``dtr`` (the
  mean of each day's range of the 6-hourly 2 m temperature), but it is not a target: SPEEDY's
  radiation takes the daily-mean insolation, so the GCM has no diurnal cycle and its "range" (about
  0.7 K in the global mean) is the weather's change within a day.

``projection_samples`` stacks the samples of many runs along ``time``, which is then a sample
axis: one day apart from 2000-01-01, so the forecasting pipeline pairs each sample with itself at
lead 0; ``scenario``, ``member`` and ``period`` coordinates say what each sample is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from climax_nb.data.embedded.configs import SourceConfig, sst_pattern
from climax_nb.data.fields import check_variables

#: ClimateBench's targets the GCM can give, by registry id (its diurnal range is not one: see the module doc).
PROJECTION_TARGETS: tuple[str, ...] = ("t2m", "pr", "pr90")
#: The forcings a projection model reads.
PROJECTION_FORCINGS: tuple[str, ...] = ("co2", "sst_anomaly")
#: What projection targets are, in their attributes and a checkpoint's output description.
PROJECTION_QUANTITY = "period statistics"
#: The name of the one source the stacked scenario samples train as.
PROJECTION_SOURCE = "scenarios"
#: Where the sample axis starts (one day per sample).
SAMPLE_EPOCH = np.datetime64("2000-01-01", "ns")
_M_PER_MM = 1e-3


def period_statistics(ds: xr.Dataset, freq: str = "YS") -> xr.Dataset:
    """ClimateBench's targets of each ``freq`` period (pandas offset: ``YS`` years, ``MS`` months) of a 6-hourly run.

    Only whole periods count: a period needs every day (4 frames each) to be kept.
    """
    check_variables(ds, ["t2m", "tp6h"])
    fields = ds[["t2m", "tp6h"]].load(scheduler="synchronous")
    t2m, tp = fields["t2m"], fields["tp6h"]
    day_range = t2m.resample(time="1D").max() - t2m.resample(time="1D").min()
    daily_pr = tp.resample(time="1D").sum() / _M_PER_MM
    frames = t2m.isel(lat=0, lon=0).resample(time="1D").count()
    full_days = frames == int(frames.max())
    daily = xr.Dataset({"t2m": t2m.resample(time="1D").mean(), "dtr": day_range, "pr": daily_pr}).where(full_days)
    periods = daily.resample(time=freq)
    out = xr.Dataset({
        "t2m": periods.mean()["t2m"], "dtr": periods.mean()["dtr"], "pr": periods.mean()["pr"],
        "pr90": daily["pr"].resample(time=freq).quantile(0.9, skipna=True).drop_vars("quantile"),
    })
    days_in = full_days.resample(time=freq).sum().values
    step = pd.tseries.frequencies.to_offset(freq)
    expected = np.array([(pd.Timestamp(t) + step - pd.Timestamp(t)).days for t in out["time"].values])
    kept = np.flatnonzero(days_in >= expected)
    units = {"t2m": "K", "dtr": "K", "pr": "mm day-1", "pr90": "mm day-1"}
    out = out.isel(time=kept).astype("float32")
    for vid, unit in units.items():
        out[vid].attrs = {"units": unit}
    return out


def scenario_forcing(config: SourceConfig, like: xr.Dataset) -> xr.Dataset:
    """The forcing maps of ``config``'s scenario on ``like``'s grid: ``co2`` everywhere, ``sst_anomaly`` over the
    ocean (``1 - lsm`` of ``like``)."""
    check_variables(like, ["lsm"])
    lat, lon = like["lat"].values, like["lon"].values
    anomaly = np.full((len(lat), len(lon)), config.sst_offset, dtype=np.float64)
    if config.sst_pattern:
        anomaly = anomaly + config.sst_pattern_amplitude * sst_pattern(config.sst_pattern, lat, lon)
    ocean = 1.0 - np.asarray(like["lsm"].values, dtype=np.float64)
    dims = ("lat", "lon")
    return xr.Dataset(
        {"co2": (dims, np.full((len(lat), len(lon)), config.co2_ppmv, dtype=np.float32), {"units": "ppmv"}),
         "sst_anomaly": (dims, (anomaly * ocean).astype(np.float32), {"units": "K"})},
        coords={"lat": lat, "lon": lon},
    )


def projection_samples(runs: Sequence[tuple[SourceConfig, xr.Dataset]], freq: str = "YS") -> xr.Dataset:
    """One sample per period of every run: forcings, constants and targets along a sample axis ``time``.

    ``runs`` pairs each scenario member's configuration with its 6-hourly data. The coordinates
    ``scenario`` (the source name without its member), ``member`` and ``period`` label each sample.
    """
    if not runs:
        raise ValueError("give at least one scenario run")
    parts = []
    for config, ds in runs:
        stats = period_statistics(ds, freq)
        if stats.sizes["time"] == 0:
            raise ValueError(f"{config.name} holds no whole {freq} period: simulate at least one")
        forcing = scenario_forcing(config, ds)
        n = stats.sizes["time"]
        sample = stats.assign({v: forcing[v].expand_dims(time=n).assign_coords(time=stats["time"])
                               for v in forcing.data_vars})
        label = config.name.rsplit("-m", 1)[0].removeprefix("scenario-")
        parts.append(sample.rename(time="period").assign_coords(
            scenario=("period", [label] * n), member=("period", [config.member] * n)))
    stacked = xr.concat(parts, dim="period")
    constants = {v: runs[0][1][v] for v in ("lsm", "orography") if v in runs[0][1].data_vars}
    axis = SAMPLE_EPOCH + np.arange(stacked.sizes["period"]) * np.timedelta64(1, "D")
    samples = stacked.rename(period="time").assign_coords(period=("time", stacked["period"].values), time=axis)
    return samples.assign(constants).assign_attrs(quantity=PROJECTION_QUANTITY, period=freq,
                                                  sample_axis="time is a sample index, one day per sample")


def simulate_scenarios(sources: Sequence[str], days: int | None = None) -> list[str]:
    """Simulate the scenario runs ``sources`` not cached yet, side by side (one process per core); their names.

    Each run keeps about one core busy, so the 21 packaged runs take half the time on two cores that
    they take one after another. Call it once with every run a job needs (training and held-out):
    a second call finds them cached.
    """
    from climax_nb.data import embedded
    from climax_nb.data.open import embedded_name

    names = [embedded_name(s) or s for s in sources]
    embedded.generate_all(names, length=days, progress=False)
    return names


def open_scenario_samples(sources: Sequence[str], days: int | None = None, freq: str = "YS") -> xr.Dataset:
    """``projection_samples`` of the embedded scenario runs ``sources`` (``embedded/<name>``, simulated on first
    use), ``days`` of each (default: their year)."""
    from climax_nb.data import embedded

    names = simulate_scenarios(sources, days)
    return projection_samples([(embedded.sources()[n], embedded.open_source(n, length=days, progress=False))
                               for n in names], freq)


def open_scenario_splits(members: int | None = None, scenarios: Sequence[str] | None = None, days: int | None = None,
                         freq: str = "YS") -> tuple[xr.Dataset, xr.Dataset]:
    """The training and held-out samples (``open_scenario_samples``), every run of both simulated side by side
    first (``simulate_scenarios``)."""
    splits = [scenario_sources(held_out, members, scenarios) for held_out in (False, True)]
    simulate_scenarios(splits[0] + splits[1], days)
    train, test = (open_scenario_samples(sources, days, freq) for sources in splits)
    return train, test


def scenario_sources(held_out: bool, members: int | None = None, scenarios: Sequence[str] | None = None
                     ) -> tuple[str, ...]:
    """The embedded scenario runs (``embedded/scenario-<name>-m<k>``) to train on (``held_out`` False) or to test
    on, ``members`` of each (default: all), of ``scenarios`` (default: all)."""
    from climax_nb.data.embedded.configs import SCENARIO_MEMBERS, SCENARIOS, scenario_source_name

    unknown = sorted(set(scenarios or ()) - {sc.name for sc in SCENARIOS})
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; the scenarios are {[sc.name for sc in SCENARIOS]}")
    chosen = [sc for sc in SCENARIOS if sc.held_out == held_out and (scenarios is None or sc.name in scenarios)]
    return tuple(f"embedded/{scenario_source_name(sc.name, m)}" for sc in chosen
                 for m in range(members or SCENARIO_MEMBERS))
