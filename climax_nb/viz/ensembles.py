"""Rank histograms of ensemble forecasts: where the truth falls among the members, per variable.

``climax_nb.metrics.rank_histogram`` counts, per lead, how many members lie below the truth
(0 to M) over init times and cells. A calibrated ensemble gives each of the M + 1 ranks the
same share; a U shape means too little spread (the truth falls outside the members too
often), a dome too much, a slope a bias.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from climax_nb.forecast.leads import LeadLike, to_hours


def rank_shares(counts: xr.Dataset, lead: LeadLike | None = None) -> xr.Dataset:
    """``rank_histogram`` counts as shares of the ranks (summing to 1), at one ``lead`` or summed over all leads."""
    if "rank" not in counts.dims:
        raise ValueError(f"rank counts need a 'rank' dim, got {tuple(counts.dims)}: make them with "
                         "climax_nb.metrics.rank_histogram(forecast, truth)")
    if "lead_time" in counts.dims:
        if lead is None:
            counts = counts.sum("lead_time")
        else:
            hours = counts["lead_time"].values / np.timedelta64(1, "h")
            at = np.flatnonzero(np.isclose(hours, to_hours(lead)))
            if not len(at):
                raise ValueError(f"lead {to_hours(lead):g} h is not among the counts' leads {hours.tolist()} h")
            counts = counts.isel(lead_time=int(at[0]), drop=True)
    return counts / counts.sum("rank")


def plot_rank_histograms(counts: Mapping[str, xr.Dataset], variables: Sequence[str] | None = None,
                         lead: LeadLike | None = None) -> plt.Figure:
    """A panel per variable, one group of bars per ensemble (``{name: rank counts}``), the flat share dashed."""
    if not counts:
        raise ValueError("nothing to draw: give {name: rank counts}")
    shares = {name: rank_shares(c, lead) for name, c in counts.items()}
    first = next(iter(shares.values()))
    variables = list(variables) if variables is not None else [str(v) for v in first.data_vars]
    missing = {name: [v for v in variables if v not in s.data_vars] for name, s in shares.items()}
    missing = {k: v for k, v in missing.items() if v}
    if missing:
        raise ValueError(f"rank counts lack variable(s) {missing}")
    fig, axes = plt.subplots(1, len(variables), figsize=(3.2 * len(variables), 2.8), squeeze=False,
                             sharey=True, constrained_layout=True)
    width = 0.8 / len(shares)
    for ax, var in zip(axes[0], variables, strict=True):
        for k, (name, s) in enumerate(shares.items()):
            values = s[var].values
            ranks = np.arange(len(values))
            ax.bar(ranks - 0.4 + width * (k + 0.5), values, width, label=name)
            ax.axhline(1 / len(values), color="0.3", ls="--", lw=1)
        ax.set(title=var, xlabel="members below the truth")
        ax.set_xticks(np.arange(len(first["rank"])))
    axes[0, 0].set_ylabel("share")
    axes[0, -1].legend(fontsize=8)
    at = "all leads" if lead is None else f"{to_hours(lead):g} h"
    fig.suptitle(f"rank histograms ({at}); flat (dashed) is calibrated, U-shaped too little spread")
    return fig


__all__ = ["plot_rank_histograms", "rank_shares"]
