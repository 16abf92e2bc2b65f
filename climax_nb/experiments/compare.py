"""Paired comparisons over seeds: the difference of two arms, its t-interval, and how often one arm won.

Two arms trained with the same seed share their data order and the fresh weights
of whatever they do not transfer, so their difference per seed is the quantity
to average; its spread over seeds, not the spread of each arm, says whether the
mean difference is more than seed noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

#: Confidence of the intervals the tables print.
LEVEL = 0.95


def t_interval(values: Sequence[float] | np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """Mean and Student-t interval of the mean, ``mean +- t(level, n - 1) * sd / sqrt(n)``; NaN bounds for n < 2.

    The t rather than the normal quantile: with three seeds the interval is 2.2 times wider
    than the normal's, which is the honest width for so few pairs.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (np.nan, np.nan, np.nan)
    mean = float(x.mean())
    if x.size < 2:
        return (mean, np.nan, np.nan)
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return (mean, mean - half, mean + half)


def paired_differences(frame: pd.DataFrame, *, column: str, reference: str, other: str, by: Sequence[str],
                       pair: str = "seed", value: str = "rmse", level: float = LEVEL) -> pd.DataFrame:
    """``other - reference`` of ``value`` per ``pair`` (seed), summarised for each group of ``by``.

    Columns: ``n`` (pairs with both arms), the two arms' means (named ``str(arm)``), ``diff`` (mean difference),
    ``low``/``high`` (its t-interval at ``level``), ``pct`` (``diff`` as % of the reference's mean)
    and ``reference_better`` (pairs where ``other`` was larger: for an error, where the reference won).
    """
    missing = [c for c in (column, pair, value, *by) if c not in frame.columns]
    if missing:
        raise KeyError(f"the results have no column(s) {missing}; they have {list(frame.columns)}")
    wide = frame[frame[column].isin([reference, other])].pivot_table(
        index=[*by, pair], columns=column, values=value, aggfunc="first")
    for arm in (reference, other):
        if arm not in wide.columns:
            raise ValueError(f"no rows with {column} == {arm!r}; found {sorted(frame[column].unique())}")
    wide = wide[[reference, other]].dropna()
    rows = []
    for key, group in wide.groupby(level=list(range(len(by)))):
        diff = group[other] - group[reference]
        mean, low, high = t_interval(diff.to_numpy(), level)
        ref = float(group[reference].mean())
        keys = dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True))
        rows.append({**keys, "n": len(diff), str(reference): ref, str(other): float(group[other].mean()),
                     "diff": mean, "low": low, "high": high, "pct": 100 * mean / ref if ref else np.nan,
                     "reference_better": int((diff > 0).sum())})
    return pd.DataFrame(rows)


def verdict(row: pd.Series) -> str:
    """In words, what a row of ``paired_differences`` says about the reference (lower is better)."""
    if not np.isfinite(row["low"]):
        return "one seed: no interval"
    if row["low"] > 0:
        return "reference better"
    if row["high"] < 0:
        return "reference worse"
    return "within seed noise"


def _interval(row: pd.Series) -> str:
    text = f"{row['diff']:+.3g}"
    if np.isfinite(row["low"]):
        text += f" [{row['low']:+.3g}, {row['high']:+.3g}]"
    return text + (f" ({row['pct']:+.1f} %)" if np.isfinite(row["pct"]) else "")


def comparison_table(frame: pd.DataFrame, *, column: str, reference: Any, others: Sequence[Any],
                     by: Sequence[str] = ("variable", "lead_h"), level: float = LEVEL) -> pd.DataFrame:
    """Means of each arm beside each ``other - reference`` with its t-interval, per group of ``by``.

    One row per group: the reference's mean, then for each other arm its mean, the paired
    difference ``diff [low, high] (pct %)``, and in how many seeds the reference was lower
    (``seeds <reference> < <other>``); the baselines' RMSE (persistence, climatology) last, as
    scored with the reference. Rows in the order the groups first appear in ``frame``.
    """
    by = list(by)
    table = None
    for other in others:
        paired = paired_differences(frame, column=column, reference=reference, other=other, by=by, level=level)
        part = paired[by + [str(reference), str(other)]].copy()
        part[f"{other} - {reference}"] = paired.apply(_interval, axis=1)
        part[f"seeds {reference} < {other}"] = [f"{k}/{n}" for k, n in zip(paired["reference_better"], paired["n"],
                                                                               strict=True)]
        table = part if table is None else table.merge(part.drop(columns=[str(reference)]), on=by)
    if table is None:
        raise ValueError("give at least one arm to compare with the reference")
    baselines = [b for b in ("persistence", "climatology") if b in frame.columns]
    means = frame[frame[column] == reference].groupby(by)[baselines].mean().reset_index()
    return in_frame_order(table.merge(means, on=by), frame, by)


def in_frame_order(table: pd.DataFrame, frame: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """``table`` sorted on ``by`` in the order the values first appear in ``frame`` (z500 before t2m, as scored)."""
    ranks = {c: {v: i for i, v in enumerate(dict.fromkeys(frame[c]))} for c in by}
    return table.sort_values(list(by), key=lambda col: col.map(ranks[col.name]), kind="stable").reset_index(drop=True)
