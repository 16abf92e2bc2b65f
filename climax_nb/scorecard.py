"""Scorecards: several forecasts scored with several metrics, a relative table, and skill plots."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from climax_nb.metrics.align import MetricInputError
from climax_nb.metrics.registry import compute, get_metric

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _score_one(
    fc: xr.Dataset, truth: xr.Dataset, clim: xr.Dataset | None, metric: str, variables: Sequence[str] | None
) -> xr.Dataset:
    """One metric of one forecast; ensemble-only metrics of a deterministic forecast are NaN."""
    if get_metric(metric).ensemble_only and "member" not in fc.dims:
        return np.nan * compute("rmse", fc, truth, clim, variables)
    return compute(metric, fc, truth, clim, variables)


def scorecard(
    forecasts: Mapping[str, xr.Dataset],
    truth: xr.Dataset,
    clim: xr.Dataset | None = None,
    metrics: Sequence[str] = ("rmse", "acc"),
    variables: Sequence[str] | None = None,
) -> xr.Dataset:
    """Scores with dims (model, metric, lead_time), one data variable per variable scored.

    Lead times missing from a forecast are NaN. ``clim`` is needed for ACC.
    """
    if not forecasts:
        raise MetricInputError("no forecasts to score: pass {'name': forecast, ...}")
    rows = []
    for name, fc in forecasts.items():
        per_metric = [_score_one(fc, truth, clim, m, variables).expand_dims(metric=[m]).drop_attrs() for m in metrics]
        rows.append(xr.concat(per_metric, "metric").expand_dims(model=[name]))
    card = xr.concat(rows, "model", join="outer")
    return card.transpose("model", "metric", "lead_time").assign_attrs(
        higher_is_better=[m for m in metrics if get_metric(m).higher_is_better]
    )


def relative_table(card: xr.Dataset, reference: str = "persistence") -> pd.DataFrame:
    """Percent change of each model's score relative to ``reference``: 100 (score - ref) / |ref|.

    Rows are (variable, metric, lead time in hours), columns the other models.
    Negative is better for errors (RMSE, CRPS), positive for ACC.
    """
    models = [str(m) for m in card["model"].values]
    if reference not in models:
        raise MetricInputError(f"reference {reference!r} is not in the scorecard; it has models {models}")
    ref = card.sel(model=reference)
    rel = (100 * (card - ref) / abs(ref)).drop_sel(model=reference)
    frame = rel.to_array("variable").to_dataframe(name="change").reset_index()
    frame["lead_hours"] = frame["lead_time"] / pd.Timedelta(hours=1)
    table = frame.pivot_table(index=["variable", "metric", "lead_hours"], columns="model", values="change")
    table.columns.name = f"% change vs {reference}"
    return table


#: A scored run in a folder: the scorecard, and what it was run on (plain JSON).
CARD_FILE, RUN_FILE = "scores.nc", "run.json"


def save_scored_run(out: Path, card: xr.Dataset, info: Mapping[str, Any]) -> None:
    """Write a scorecard and its run's facts to ``out``, so ``--from-results`` can print them again."""
    out.mkdir(parents=True, exist_ok=True)
    card.to_netcdf(out / CARD_FILE)
    (out / RUN_FILE).write_text(json.dumps(dict(info), indent=2))


def load_scored_run(out: Path) -> tuple[xr.Dataset, dict[str, Any]]:
    """The scorecard and run facts ``save_scored_run`` wrote to ``out``."""
    missing = [name for name in (CARD_FILE, RUN_FILE) if not (out / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{out} has no {' or '.join(missing)}: run the script without --from-results first")
    return xr.load_dataset(out / CARD_FILE), json.loads((out / RUN_FILE).read_text())


def lead_tables(card: xr.Dataset, variables: Sequence[str], models: Sequence[str] | None = None) -> str:
    """One Markdown table per metric of a scorecard: rows variable x forecast, columns the leads in hours.

    ``models`` picks and orders the forecasts (default: the card's order); those the card lacks are left out."""
    leads = [int(pd.Timedelta(t) / pd.Timedelta(hours=1)) for t in card["lead_time"].values]
    have = [str(m) for m in card["model"].values]
    rows_of = [m for m in (models or have) if m in have]
    blocks = []
    for metric in card["metric"].values:
        rows = [f"{str(metric).upper()}", "", "| variable | forecast | " + " | ".join(f"{h} h" for h in leads) + " |",
                "|---|---|" + "---|" * len(leads)]
        for var in (v for v in variables if v in card.data_vars):
            for i, model in enumerate(rows_of):
                values = card[var].sel(model=model, metric=metric).values
                cells = " | ".join("" if np.isnan(v) else f"{v:.4g}" for v in values)
                rows.append(f"| {var if i == 0 else ''} | {model} | {cells} |")
        blocks.append("\n".join(rows))
    return "\n\n".join(blocks)


def plot_skill(
    card: xr.Dataset,
    variables: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Skill against lead time (days), one panel per variable (row) and metric (column), a line per model."""
    import matplotlib.pyplot as plt

    variables = list(variables) if variables is not None else [str(v) for v in card.data_vars]
    missing = [v for v in variables if v not in card.data_vars]
    if missing:
        raise MetricInputError(f"scorecard has no variable(s) {missing}; it has {list(map(str, card.data_vars))}")
    metrics = list(metrics) if metrics is not None else [str(m) for m in card["metric"].values]
    fig, axes = plt.subplots(
        len(variables), len(metrics), figsize=(3.6 * len(metrics), 2.8 * len(variables)), squeeze=False
    )
    days = card["lead_time"].values / np.timedelta64(1, "D")
    for i, var in enumerate(variables):
        for j, metric in enumerate(metrics):
            ax = axes[i, j]
            for model in card["model"].values:
                ax.plot(days, card[var].sel(model=model, metric=metric).values, marker="o", label=str(model))
            ax.set_title(f"{var} {metric}")
            ax.set_xlabel("lead time (days)")
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize="small")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
