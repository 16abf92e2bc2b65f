"""Skill against lead time: score forecasts and draw the scorecard, with each axis in the variable's units.

The drawing is ``climax_nb.scorecard.plot_skill``; this adds scoring from
forecasts directly and y-axis labels (RMSE in the variable's units, ACC unitless).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import xarray as xr

from climax_nb.scorecard import plot_skill, scorecard

#: Metrics whose value has the variable's units; the others (ACC, ratios) have none.
SAME_UNITS: frozenset[str] = frozenset({"rmse", "rmse_per_sample", "mae", "bias", "crps"})


def _is_scorecard(obj: object) -> bool:
    return isinstance(obj, xr.Dataset) and {"model", "metric", "lead_time"} <= set(obj.dims)


def _axis_label(metric: str, units: str) -> str:
    if metric == "mse":
        return f"mse [({units})^2]" if units else "mse"
    return f"{metric} [{units}]" if metric in SAME_UNITS and units else metric


def plot_skill_vs_lead(
    forecasts: Mapping[str, xr.Dataset] | xr.Dataset,
    truth: xr.Dataset | None = None,
    clim: xr.Dataset | None = None,
    metrics: Sequence[str] = ("rmse", "acc"),
    variables: Sequence[str] | None = None,
    path: str | Path | None = None,
) -> plt.Figure:
    """Skill against lead time, a line per model: from a scorecard, or from ``{name: forecast}`` and ``truth``.

    Units for the axes come from ``truth`` (or the forecasts); ACC needs ``clim``.
    """
    if _is_scorecard(forecasts):
        card, units_from = forecasts, truth
        metrics = [m for m in metrics if m in card["metric"].values] or [str(m) for m in card["metric"].values]
    elif isinstance(forecasts, Mapping) and not isinstance(forecasts, xr.Dataset):
        if truth is None:
            raise ValueError("scoring needs the truth: pass truth=<canonical dataset covering the valid times>")
        card, units_from = scorecard(forecasts, truth, clim, metrics, variables), truth
    else:
        raise TypeError(
            "plot_skill_vs_lead takes a scorecard (dims model, metric, lead_time) or a mapping "
            "{'model name': forecast}; wrap a single forecast as {'model': forecast}"
        )
    variables = list(variables) if variables is not None else [str(v) for v in card.data_vars]
    fig = plot_skill(card, variables, metrics, path=None)
    for i, var in enumerate(variables):
        units = units_from[var].attrs.get("units", "") if units_from is not None and var in units_from else ""
        for j, metric in enumerate(metrics):
            fig.axes[i * len(metrics) + j].set_ylabel(_axis_label(metric, units))
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
