"""Figures of the experiments' results tables (``experiments/results/*.csv``): data fraction, ablations, scaling.

Each takes the table as ``climax_nb.experiments.results`` reads it (one row per run,
variable and lead, with the baselines' RMSE beside the model's) and draws means over
seeds with Student-t intervals, so notebooks 04 and 09 draw the same figure from
the same call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from climax_nb.experiments.compare import LEVEL, paired_differences, t_interval
from climax_nb.experiments.reports import fraction_label

TARGETS = ("z500", "t850", "t2m", "u10")


def _summary(frame: pd.DataFrame, by: Sequence[str], value: str, level: float) -> pd.DataFrame:
    """Mean and t-interval half-width of ``value`` over seeds, per group of ``by``."""
    rows = []
    for key, group in frame.groupby(list(by)):
        mean, low, _ = t_interval(group[value].to_numpy(), level)
        rows.append({**dict(zip(by, key, strict=True)), "mean": mean, "half": mean - low if np.isfinite(low) else 0.0})
    return pd.DataFrame(rows)


def _fraction_axis(ax: plt.Axes, fractions: Sequence[float]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(fractions), [fraction_label(f) for f in fractions])
    ax.minorticks_off()


def plot_data_fraction(frame: pd.DataFrame, *, kind: Literal["rmse", "difference"] = "rmse",
                       variables: Sequence[str] = TARGETS, leads: Sequence[int] | None = None,
                       level: float = LEVEL) -> plt.Figure:
    """Pretrained against scratch by fraction of the training years, a panel per (lead, variable).

    ``kind="rmse"``: each arm's mean RMSE over seeds with its t-interval, persistence and
    climatology dashed; ``kind="difference"``: scratch - pretrained per seed, as % of the
    pretrained RMSE, with its paired t-interval (above zero: pretraining helped).
    """
    if kind not in ("rmse", "difference"):
        raise ValueError(f"kind is 'rmse' or 'difference', got {kind!r}")
    variables = [v for v in variables if v in set(frame["variable"])]
    leads = sorted(frame["lead_h"].unique()) if leads is None else list(leads)
    fractions = sorted(frame["fraction"].unique())
    fig, axes = plt.subplots(len(leads), len(variables), figsize=(3.2 * len(variables), 2.6 * len(leads)),
                             squeeze=False, sharex=True, constrained_layout=True)
    if kind == "difference":
        paired = paired_differences(frame, column="arm", reference="pretrained", other="scratch",
                                    by=["fraction", "variable", "lead_h"], level=level)
    else:
        arms = _summary(frame, ["arm", "fraction", "variable", "lead_h"], "rmse", level)
        base = frame.groupby(["fraction", "variable", "lead_h"])[["persistence", "climatology"]].mean()
    for i, lead in enumerate(leads):
        for j, var in enumerate(variables):
            ax = axes[i, j]
            if kind == "difference":
                at = paired[(paired["variable"] == var) & (paired["lead_h"] == lead)].sort_values("fraction")
                ref = at["pretrained"].to_numpy()
                half = np.nan_to_num((at["high"] - at["diff"]).to_numpy())
                ax.errorbar(at["fraction"], at["pct"], yerr=100 * half / ref, marker="o", capsize=3)
                ax.axhline(0, color="k", lw=0.8)
                ax.set_ylabel("scratch - pretrained, %" if j == 0 else "")
            else:
                for arm, style, shift in (("pretrained", "o-", 0.96), ("scratch", "s--", 1.04)):  # bars side by side
                    at = arms[(arms["arm"] == arm) & (arms["variable"] == var) & (arms["lead_h"] == lead)]
                    at = at.sort_values("fraction")
                    ax.errorbar(at["fraction"] * shift, at["mean"], yerr=at["half"], fmt=style, capsize=3, label=arm)
                for name, color in (("persistence", "0.4"), ("climatology", "0.7")):
                    ax.axhline(base.xs((var, lead), level=["variable", "lead_h"])[name].mean(), color=color,
                               ls=":", label=name)
                ax.set_ylabel("RMSE" if j == 0 else "")
            _fraction_axis(ax, fractions)
            ax.set_title(f"{var}, {lead} h", fontsize=10)
            if i == len(leads) - 1:
                ax.set_xlabel("fraction of the training years")
    if kind == "rmse":
        axes[0, 0].legend(fontsize=8)
    seeds = frame["seed"].nunique()
    fig.suptitle(f"pretrained against scratch by data fraction ({seeds} seed{'s' * (seeds > 1)}, "
                 f"{round(100 * level)} % t-intervals)")
    return fig


def plot_ablations(frame: pd.DataFrame, *, variables: Sequence[str] = TARGETS, level: float = LEVEL) -> plt.Figure:
    """RMSE relative to persistence (%) of each variant, bars per variable, a row per comparison, a column per lead.

    The bars are means over seeds of ``100 * (rmse / persistence - 1)`` with t-intervals:
    below zero beats persistence, and variants side by side compare at the same budget.
    """
    frame = frame.assign(relative=100 * (frame["rmse"] / frame["persistence"] - 1))
    comparisons = list(dict.fromkeys(frame["comparison"]))
    leads = sorted(frame["lead_h"].unique())
    fig, axes = plt.subplots(len(comparisons), len(leads), figsize=(3.6 * len(leads), 2.8 * len(comparisons)),
                             squeeze=False, constrained_layout=True)
    for i, comparison in enumerate(comparisons):
        rows = frame[frame["comparison"] == comparison]
        variants = list(dict.fromkeys(rows["variant"]))
        summary = _summary(rows, ["variant", "variable", "lead_h"], "relative", level)
        names = [v for v in variables if v in set(rows["variable"])]
        width = 0.8 / len(variants)
        for j, lead in enumerate(leads):
            ax = axes[i, j]
            for k, variant in enumerate(variants):
                at = summary[(summary["variant"] == variant) & (summary["lead_h"] == lead)].set_index("variable")
                at = at.reindex(names)
                ax.bar(np.arange(len(names)) + (k - (len(variants) - 1) / 2) * width, at["mean"], width,
                       yerr=at["half"], capsize=2, label=variant)
            ax.axhline(0, color="k", lw=0.8)
            ax.set_xticks(np.arange(len(names)), names)
            ax.set_title(f"{comparison}, {lead} h", fontsize=10)
            ax.set_ylabel("RMSE vs persistence, %" if j == 0 else "")
        axes[i, 0].legend(fontsize=8)
    fig.suptitle(f"ablations at equal budget ({frame['seed'].nunique()} seeds, {round(100 * level)} % t-intervals)")
    return fig


def plot_scaling(frame: pd.DataFrame, *, lead: int = 72, variables: Sequence[str] = TARGETS,
                 level: float = LEVEL) -> plt.Figure:
    """RMSE at ``lead`` against pretraining steps, a line per embedding width, a panel per variable."""
    at = frame[frame["lead_h"] == lead]
    if at.empty:
        raise ValueError(f"no rows at {lead} h; the table has leads {sorted(frame['lead_h'].unique())}")
    names = [v for v in variables if v in set(at["variable"])]
    summary = _summary(at, ["dim", "pretrain_steps", "variable"], "rmse", level)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.0), squeeze=False, constrained_layout=True)
    for j, var in enumerate(names):
        ax = axes[0, j]
        for dim in sorted(summary["dim"].unique()):
            line = summary[(summary["dim"] == dim) & (summary["variable"] == var)].sort_values("pretrain_steps")
            ax.errorbar(line["pretrain_steps"], line["mean"], yerr=line["half"], marker="o", capsize=3,
                        label=f"embed {dim}")
        ax.axhline(at.loc[at["variable"] == var, "persistence"].mean(), color="0.4", ls=":", label="persistence")
        ax.set_xticks(sorted(summary["pretrain_steps"].unique()))
        ax.set(title=f"{var}, {lead} h", xlabel="pretraining steps", ylabel="RMSE" if j == 0 else "")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"scaling: RMSE at {lead} h against pretraining, by model width")
    return fig
