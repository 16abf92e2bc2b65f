"""From a checkpoint and a dataset to a scorecard against baselines, as the command line runs it.

``initial_times`` picks initial states whose forecasts can be verified inside
the data; ``evaluate`` scores a forecast and the persistence and climatology
baselines with WeatherBench 2's metrics and writes the scorecard, a table
relative to a reference, and skill-against-lead-time plots.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from climax_nb.baselines import climatology_forecast, persistence
from climax_nb.data.climatology import climatology
from climax_nb.scorecard import plot_skill, relative_table, scorecard


def initial_times(truth: xr.Dataset, max_lead_hours: float, every_hours: float = 24.0) -> np.ndarray:
    """Times every ``every_hours`` whose forecasts up to ``max_lead_hours`` stay inside ``truth``."""
    times = truth["time"].values
    last_valid = times[-1] - np.timedelta64(int(round(max_lead_hours * 3600)), "s")
    start = times[0]
    stride = np.timedelta64(int(round(every_hours * 3600)), "s")
    chosen = [t for t in times if t <= last_valid and (t - start) % stride == np.timedelta64(0, "s")]
    if not chosen:
        raise ValueError(
            f"no initial time leaves room for a {max_lead_hours:g} h forecast inside the data "
            f"({times[0]} to {times[-1]}): give more data or shorter lead times"
        )
    return np.array(chosen)


def evaluate(
    forecast: xr.Dataset,
    truth: xr.Dataset,
    clim_source: xr.Dataset,
    clim_years: Sequence[int],
    *,
    metrics: Sequence[str] = ("rmse", "acc"),
    variables: Sequence[str] | None = None,
    name: str = "model",
) -> xr.Dataset:
    """Scorecard of ``forecast``, persistence and climatology (from ``clim_years`` of ``clim_source``)."""
    ids = list(variables) if variables else [str(v) for v in forecast.data_vars]
    clim = climatology(clim_source, years=clim_years, variables=ids)
    # every score reads the verifying fields again: read them once (only the scored variables)
    truth = truth[ids].load()
    forecast = forecast.load()
    inits, leads = forecast["init_time"].values, forecast["lead_time"].values
    forecasts = {
        name: forecast[ids],
        "persistence": persistence(truth, inits, leads, ids),
        "climatology": climatology_forecast(clim, inits, leads, ids),
    }
    return scorecard(forecasts, truth, clim, metrics=metrics, variables=ids)


def write_scores(card: xr.Dataset, out: str | Path, reference: str = "persistence") -> dict[str, Path]:
    """Save the scorecard (NetCDF), the relative table (CSV and Markdown) and the skill plot (PNG)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"scorecard": out / "scorecard.nc", "table": out / "relative.csv", "markdown": out / "scores.md"}
    card.drop_attrs().to_netcdf(paths["scorecard"])
    table = relative_table(card, reference=reference)
    table.to_csv(paths["table"])
    paths["markdown"].write_text(markdown_scores(card))
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
