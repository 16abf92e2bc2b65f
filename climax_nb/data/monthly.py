"""Per-calendar-month normalisation statistics, from training years only (as AtmoRep normalises).

The atmosphere's mean and variability change through the year (a January t850 is not a July
one), so AtmoRep normalises each field by statistics of its month. Here each variable has a
mean and std per calendar month, over every training year (AtmoRep keeps one per year and
month, which cannot normalise a year it did not train on). Each time step is normalised by
its own month's statistics; the overall statistics stay as the plain ``Normalizer`` part, so
a ``MonthlyNormalizer`` is also a ``Normalizer`` and sits in a checkpoint's ``SourceSpec``.

A month the training years do not cover has no statistics: asking for it raises a
``MissingMonthError`` naming the months there are and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from climax_nb.data.fields import check_variables, default_chunk_size, time_chunks
from climax_nb.data.select import available_years, select_years
from climax_nb.data.stats import Moments, Normalizer, ZeroStdError
from climax_nb.variables import is_constant

MONTHS = 12
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class MissingMonthError(ValueError):
    """Statistics were asked for a calendar month that no training year covers."""


def months_of(times: np.ndarray) -> np.ndarray:
    """Calendar months (1..12) of ``datetime64`` times, any shape."""
    t = np.asarray(times, dtype="datetime64[ns]")
    return (t.astype("datetime64[M]").astype(np.int64) % MONTHS + 1).astype(np.int64)


def _month_list(values: Any, where: str) -> tuple[float | None, ...]:
    items = list(values)
    if len(items) != MONTHS:
        raise ValueError(f"{where} must hold {MONTHS} monthly values (None for a month without data), got {len(items)}")
    return tuple(None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in items)


@dataclass(frozen=True)
class MonthlyNormalizer(Normalizer):
    """A ``Normalizer`` (overall mean and std) that also holds each variable's mean and std per calendar month.

    ``monthly_mean[v][m - 1]`` and ``monthly_std[v][m - 1]`` are those of month ``m``; None
    where the training years have no data in that month.
    """

    monthly_mean: dict[str, tuple[float | None, ...]] = field(default_factory=dict)
    monthly_std: dict[str, tuple[float | None, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        means = {str(v): _month_list(m, f"monthly_mean[{v}]") for v, m in self.monthly_mean.items()}
        stds = {str(v): _month_list(s, f"monthly_std[{v}]") for v, s in self.monthly_std.items()}
        object.__setattr__(self, "monthly_mean", means)
        object.__setattr__(self, "monthly_std", stds)
        if set(means) != set(stds) or not set(means) <= set(self.mean):
            raise ValueError("monthly mean and std must cover the same variables, each with overall statistics")
        for v in means:
            if [m is None for m in means[v]] != [s is None for s in stds[v]]:
                raise ValueError(f"monthly mean and std of {v} must have data in the same months")
            bad = [MONTH_NAMES[k] for k, s in enumerate(stds[v]) if s is not None and not (s > 0 and math.isfinite(s))]
            if bad:
                raise ZeroStdError(f"the monthly std of {v} must be positive and finite; not so in {bad}")

    def months(self, variable: str) -> list[int]:
        """The calendar months (1..12) with statistics for ``variable``."""
        self.vectors([variable])
        stds = self.monthly_std.get(variable, (None,) * MONTHS)
        return [k + 1 for k, s in enumerate(stds) if s is not None]

    def month_vectors(self, variables: Sequence[str], months: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std ``[*months.shape, V]`` (float32) of ``variables`` in each calendar month of ``months``."""
        self.vectors(variables)  # MissingStatsError naming variables without any statistics
        months = np.asarray(months, dtype=np.int64)
        table_mean = np.full((MONTHS, len(variables)), np.nan, dtype=np.float64)
        table_std = np.full_like(table_mean, np.nan)
        for j, v in enumerate(variables):
            if v not in self.monthly_mean:
                raise MissingMonthError(
                    f"no monthly statistics for {v}: compute them with compute_monthly_stats(ds, [..., {v!r}], years)"
                )
            table_mean[:, j] = [np.nan if m is None else m for m in self.monthly_mean[v]]
            table_std[:, j] = [np.nan if s is None else s for s in self.monthly_std[v]]
        lacking = {int(m): [v for j, v in enumerate(variables) if np.isnan(table_std[m - 1, j])]
                   for m in np.unique(months)}
        lacking = {m: vs for m, vs in lacking.items() if vs}
        if lacking:
            covered = sorted(set.intersection(*(set(self.months(v)) for v in variables)))
            raise MissingMonthError(
                f"no training data in {', '.join(MONTH_NAMES[m - 1] for m in lacking)} for "
                f"{sorted({v for vs in lacking.values() for v in vs})}: the training years {list(self.years)} cover "
                f"{', '.join(MONTH_NAMES[m - 1] for m in covered) or 'no month'}; train on data covering these months "
                "(more days or years), or forecast dates in the covered months"
            )
        return table_mean[months - 1].astype(np.float32), table_std[months - 1].astype(np.float32)

    def normalize_steps(self, values: np.ndarray, variables: Sequence[str], times: np.ndarray) -> np.ndarray:
        """``values`` ``[..., V, H, W]`` at ``times`` (its leading shape) normalised by each step's month."""
        mean, std = self.month_vectors(list(variables), months_of(times))
        return ((values - mean[..., None, None]) / std[..., None, None]).astype(np.float32)

    def denormalize_steps(self, values: np.ndarray, variables: Sequence[str], times: np.ndarray) -> np.ndarray:
        """The inverse of ``normalize_steps``."""
        mean, std = self.month_vectors(list(variables), months_of(times))
        return (values * std[..., None, None] + mean[..., None, None]).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """The ``Normalizer`` dict plus ``monthly`` (12 values per variable, None for months without data)."""
        return super().to_dict() | {"monthly": {"mean": {v: list(m) for v, m in self.monthly_mean.items()},
                                                "std": {v: list(s) for v, s in self.monthly_std.items()}}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MonthlyNormalizer:
        base = Normalizer.from_dict({k: v for k, v in d.items() if k != "monthly"})
        monthly = d.get("monthly") or {}
        return cls(base.mean, base.std, base.years, dict(monthly.get("mean", {})), dict(monthly.get("std", {})))


def compute_monthly_stats(
    ds: xr.Dataset,
    variables: Sequence[str] | None = None,
    years: Iterable[int] | int | None = None,
    *,
    chunk_size: int | None = None,
) -> MonthlyNormalizer:
    """Overall and per-calendar-month mean and std of time-varying ``variables`` over the training ``years``.

    One bounded-memory pass (moments merged chunk by chunk in float64, as ``compute_stats``);
    months without data in those years are left empty. Constants have no months: they are refused.
    """
    ids = check_variables(ds, variables)
    constants = [v for v in ids if is_constant(v)]
    if constants:
        raise ValueError(f"{constants} are constants and have no monthly statistics; give time-varying variables")
    ds = select_years(ds, years)
    overall, monthly_mean, monthly_std = {}, {}, {}
    for vid in ids:
        per_month = [Moments() for _ in range(MONTHS)]
        for times, values in time_chunks(ds[vid], chunk_size or default_chunk_size(ds[vid])):
            months = months_of(times)
            for m in np.unique(months):
                per_month[m - 1] = per_month[m - 1].merge(Moments.of(values[months == m]))
        total = Moments()
        for moments in per_month:
            total = total.merge(moments)
        if total.count == 0:
            raise ValueError(f"{vid} has no finite values in the selected years")
        zero = [MONTH_NAMES[k] for k, m in enumerate(per_month) if m.count and not m.std > 0]
        if zero:
            raise ZeroStdError(f"{vid} is constant over the training data of {zero}: it cannot be normalised per month")
        overall[vid] = total
        monthly_mean[vid] = tuple(m.mean if m.count else None for m in per_month)
        monthly_std[vid] = tuple(m.std if m.count else None for m in per_month)
    base = Normalizer.from_moments(overall, years=tuple(available_years(ds)))
    return MonthlyNormalizer(base.mean, base.std, base.years, monthly_mean, monthly_std)


__all__ = ["MONTHS", "MissingMonthError", "MonthlyNormalizer", "compute_monthly_stats", "months_of"]
