"""From a checkpoint and a dataset to a scorecard against baselines, as the command line runs it.

``initial_times`` picks initial states whose forecasts can be verified inside
the data; ``score`` is the one scorer (forecasts beside persistence, climatology or
weekly climatology, WeatherBench 2's metrics, CRPS and spread-skill for ensembles,
on the forecast's own cells); ``evaluate`` adds the climatology of training
years; ``write_scores`` writes the scorecard, a table relative to a reference,
and skill-against-lead-time plots.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from climax_nb.baselines import climatology_forecast, perfect_model_bilinear, persistence, weekly_climatology
from climax_nb.data.climatology import climatology
from climax_nb.metrics.align import MetricInputError, check_time_index
from climax_nb.scorecard import plot_skill, relative_table, scorecard


def initial_times(truth: xr.Dataset, max_lead_hours: float, every_hours: float = 24.0,
                  history_hours: float = 0.0) -> np.ndarray:
    """Times every ``every_hours`` whose forecasts up to ``max_lead_hours`` stay inside ``truth``.

    ``history_hours``: the model also reads that many hours before each initial time (AtmoRep), so
    the first initial time lies that far after the data's start.
    """
    times = truth["time"].values
    last_valid = times[-1] - np.timedelta64(int(round(max_lead_hours * 3600)), "s")
    start = times[0] + np.timedelta64(int(round(history_hours * 3600)), "s")
    stride = np.timedelta64(int(round(every_hours * 3600)), "s")
    chosen = [t for t in times if start <= t <= last_valid and (t - start) % stride == np.timedelta64(0, "s")]
    if not chosen:
        raise ValueError(
            f"no initial time leaves room for a {max_lead_hours:g} h forecast"
            f"{f' after {history_hours:g} h of history' if history_hours else ''} inside the data "
            f"({times[0]} to {times[-1]}): give more data or shorter lead times"
        )
    return np.array(chosen)


#: Reference forecasts ``score`` can add beside a model, by name.
BASELINES: dict[str, Callable[..., xr.Dataset]] = {
    "persistence": lambda truth, clim, inits, leads, ids: persistence(truth, inits, leads, ids),
    "climatology": lambda truth, clim, inits, leads, ids: climatology_forecast(clim, inits, leads, ids),
    "weekly_climatology": lambda truth, clim, inits, leads, ids: weekly_climatology(clim, inits, leads, ids),
    # downscaling (lead 0): the truth coarsened to 5.625 deg and bilinearly upsampled back
    "bilinear": lambda truth, clim, inits, leads, ids: perfect_model_bilinear(truth, inits, ids),
}
DEFAULT_BASELINES: tuple[str, ...] = ("persistence", "climatology")
#: Scores added for forecasts with a ``member`` dimension.
ENSEMBLE_METRICS: tuple[str, ...] = ("crps", "spread_skill_ratio")


def on_forecast_grid(ds: xr.Dataset, forecast: xr.Dataset, what: str = "truth") -> xr.Dataset:
    """``ds`` cut to the forecast's cells: a regional forecast is scored on its box, with the box's own weights.

    The cells keep the forecast's order: a box across 0 deg runs west to east, e.g. lon 337.5 ... 354.4, 0 ... 39.4.
    ``what`` names ``ds`` in the error.
    """
    if ds.sizes["lat"] == forecast.sizes["lat"] and ds.sizes["lon"] == forecast.sizes["lon"]:
        return ds
    try:
        return ds.sel(lat=forecast["lat"].values, lon=forecast["lon"].values, method="nearest", tolerance=1e-4)
    except KeyError as err:
        hint = ("list the regional forecast first: the others are cut to its box" if what != "truth"
                else "regrid one onto the other first")
        raise MetricInputError(
            f"the forecast's {forecast.sizes['lat']}x{forecast.sizes['lon']} cells are not cells of the {what}'s "
            f"{ds.sizes['lat']}x{ds.sizes['lon']} grid: {hint}"
        ) from err


def score(
    forecasts: Mapping[str, xr.Dataset] | xr.Dataset,
    truth: xr.Dataset,
    clim: xr.Dataset | None,
    *,
    baselines: Sequence[str] = DEFAULT_BASELINES,
    metrics: Sequence[str] = ("rmse", "acc"),
    variables: Sequence[str] | None = None,
) -> xr.Dataset:
    """The one scorer: forecasts and the named baselines, scored on the forecasts' cells and leads.

    The command line, the main job, the tutorial and the dashboard all score through this.
    ``forecasts`` is one Dataset (named ``model``) or ``{name: Dataset}``; every score is on the first
    forecast's cells, with their own area weights: when it is regional, the truth, the climatology and
    every other forecast (a global model beside a regional one) are cut to its box. Baselines start
    from the first forecast's initial times, at every lead of any forecast. Ensemble forecasts (a
    ``member`` dimension) also get ``ENSEMBLE_METRICS``. ``clim`` (from training years only) is needed for ACC and the
    climatology baselines.
    """
    forecasts = {"model": forecasts} if isinstance(forecasts, xr.Dataset) else dict(forecasts)
    if not forecasts:
        raise MetricInputError("no forecasts to score: pass {'name': forecast, ...}")
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise MetricInputError(f"unknown baseline(s) {unknown}; choose from {sorted(BASELINES)}")
    first = next(iter(forecasts.values()))
    ids = list(variables) if variables else [str(v) for v in first.data_vars if v in truth.data_vars]
    missing = [v for v in ids if v not in truth.data_vars]
    if missing:
        raise MetricInputError(f"the truth has no variable(s) {missing} to score; it has {list(truth.data_vars)}")
    check_time_index(truth)
    truth = on_forecast_grid(truth[ids], first).load()  # every score reads the verifying fields: read them once
    clim = None if clim is None else on_forecast_grid(clim[[v for v in ids if v in clim.data_vars]], first)
    inits = first["init_time"].values
    leads = np.array(sorted({t for fc in forecasts.values() for t in fc["lead_time"].values}))
    scored = {name: on_forecast_grid(fc[ids], first, f"forecast {name!r}").load() for name, fc in forecasts.items()}
    for name in baselines:
        if name not in scored:
            scored[name] = BASELINES[name](truth, clim, inits, leads, ids)
    if any("member" in fc.dims for fc in scored.values()):
        metrics = [*metrics, *(m for m in ENSEMBLE_METRICS if m not in metrics)]
    return scorecard(scored, truth, clim, metrics=metrics, variables=ids).drop_attrs()


def evaluate(
    forecast: xr.Dataset,
    truth: xr.Dataset,
    clim_source: xr.Dataset,
    clim_years: Sequence[int],
    *,
    metrics: Sequence[str] = ("rmse", "acc"),
    variables: Sequence[str] | None = None,
    name: str = "model",
    baselines: Sequence[str] = DEFAULT_BASELINES,
    in_sample: bool = False,
    others: Mapping[str, xr.Dataset] | None = None,
) -> xr.Dataset:
    """``score`` of ``forecast`` with a climatology of ``clim_years`` of ``clim_source`` (training years only).

    A climatology that includes the years being forecast has seen the answers; it is refused
    unless ``in_sample=True`` says that is meant. ``others`` (``{name: Dataset}``) are scored
    beside ``forecast``, each on its own initial times, after it and before the baselines (which
    start from ``forecast``'s initial times).
    """
    others = dict(others or {})
    clash = [n for n in others if n == name or n in baselines]
    if clash:
        raise ValueError(f"forecast name(s) {clash} are already taken by the forecast or a baseline")
    if not in_sample:
        for fc in (forecast, *others.values()):
            check_out_of_sample(fc, clim_years)
    ids = list(variables) if variables else [str(v) for v in forecast.data_vars]
    clim = climatology(clim_source, years=clim_years, variables=ids)
    return score({name: forecast, **others}, truth, clim, baselines=baselines, metrics=metrics, variables=ids)


def check_out_of_sample(forecast: xr.Dataset, clim_years: Sequence[int]) -> None:
    """Raise when a climatology year is a year the forecast starts in or verifies in."""
    from climax_nb.metrics.align import valid_time

    inits = pd.DatetimeIndex(np.ravel(forecast["init_time"].values))
    valid = pd.DatetimeIndex(np.ravel(valid_time(forecast).values))
    shared = sorted({int(y) for y in clim_years} & (set(inits.year) | set(valid.year)))
    if shared:
        raise ValueError(
            f"climatology year(s) {shared} are years of the forecast: an in-sample climatology has seen the answers "
            "and flatters the climatology baseline and ACC; give training years only (--clim-years), or pass "
            "in_sample=True (--in-sample) if that is meant"
        )


def write_scores(
    card: xr.Dataset, out: str | Path, reference: str = "persistence", note: str = ""
) -> dict[str, Path]:
    """Save the scorecard (NetCDF), the relative table (CSV and Markdown) and the skill plot (PNG).

    ``note`` (say, which initial times each row was scored on) goes above the tables of ``scores.md``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"scorecard": out / "scorecard.nc", "table": out / "relative.csv", "markdown": out / "scores.md"}
    card.drop_attrs().to_netcdf(paths["scorecard"])
    table = relative_table(card, reference=reference)
    table.to_csv(paths["table"])
    paths["markdown"].write_text((f"{note.strip()}\n\n" if note.strip() else "") + markdown_scores(card))
    paths["plot"] = out / "skill.png"
    plot_skill(card, path=paths["plot"])
    return paths


def markdown_scores(card: xr.Dataset) -> str:
    """RMSE and ACC per variable and lead time (hours) for every model, as a Markdown table."""
    frame = card.to_dataframe().reset_index()
    frame["lead_h"] = (pd.to_timedelta(frame["lead_time"]) / pd.Timedelta(hours=1)).astype(int)
    lines = []
    for metric in card["metric"].values:
        sub = frame[frame["metric"] == metric]
        for var in card.data_vars:
            pivot = sub.pivot(index="model", columns="lead_h", values=var)
            header = "| " + f"{var} {metric}" + " | " + " | ".join(f"{h} h" for h in pivot.columns) + " |"
            lines += [header, "|" + "---|" * (len(pivot.columns) + 1)]
            lines += [f"| {m} | " + " | ".join(f"{v:.4g}" for v in row) + " |" for m, row in pivot.iterrows()]
            lines.append("")
    return "\n".join(lines)
