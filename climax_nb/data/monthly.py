"""Per-calendar-month normalisation statistics, from training years only (as AtmoRep normalises).

The atmosphere's mean and variability change through the year (a January t850 is not a July
one), so AtmoRep normalises each field by statistics of its month. Here each variable has a
mean and std per calendar month, over every training year (AtmoRep keeps one per year and
month, which cannot normalise a year it did not train on). Each time step is normalised by
its own month's statistics; the overall statistics stay as the plain ``Normalizer`` part, so
a ``MonthlyNormalizer`` is also a ``Normalizer`` and sits in a checkpoint's ``SourceSpec``.

Two modes (``compute_monthly_stats(..., local=...)``):

- **global**: one mean and std per variable and month over all grid points; the field's
  spatial pattern (the pole-to-equator gradient of z500, ...) stays in the normalised data.
- **local** (AtmoRep's "local" normalisation, per calendar month here): a mean per grid point
  and month (``local_mean[v]``, ``[12, H, W]``), and one std per variable and month, the RMS
  of the anomalies about those means (the square root of the pooled per-point variance). A
  normalised value of zero is then the training years' monthly climatology at that point, so
  a model starts from climatology instead of having to learn the spatial pattern first.

``overall_to_monthly``/``monthly_to_overall`` convert values normalised by the overall
statistics (what crosses the forecast contract) to month units and back.

A month the training years do not cover has no statistics: asking for it raises a
``MissingMonthError`` naming the months there are and the fix.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
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


def _local_table(values: Any, variable: str) -> np.ndarray:
    table = np.array(values, dtype=np.float32)  # a copy, frozen below
    if table.ndim != 3 or table.shape[0] != MONTHS:
        raise ValueError(f"local_mean[{variable}] must be [{MONTHS}, lat, lon] (NaN for a month without data), got "
                         f"shape {table.shape}")
    table.setflags(write=False)
    return table


def _encode(table: np.ndarray) -> dict[str, Any]:
    """A float32 array as plain data: shape, dtype and its little-endian bytes in base64 (JSON- and
    ``weights_only``-safe, and a quarter of the size of a list of Python floats)."""
    raw = np.ascontiguousarray(table, dtype="<f4").tobytes()
    return {"shape": list(table.shape), "dtype": "float32", "base64": base64.b64encode(raw).decode("ascii")}


def _decode(d: Any, variable: str) -> np.ndarray:
    if not isinstance(d, dict) or not {"shape", "base64"} <= set(d) or d.get("dtype", "float32") != "float32":
        raise ValueError(f"local_mean[{variable}] must be written by MonthlyNormalizer.to_dict (shape, dtype float32, "
                         "base64); recompute the statistics with compute_monthly_stats(..., local=True)")
    shape = tuple(int(n) for n in d["shape"])
    raw = base64.b64decode(d["base64"])
    if len(raw) != 4 * math.prod(shape):
        raise ValueError(f"local_mean[{variable}] holds {len(raw)} bytes, not the {4 * math.prod(shape)} of float32 "
                         f"{shape}: the statistics are damaged; recompute them")
    return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)


@dataclass(frozen=True, eq=False)
class MonthlyNormalizer(Normalizer):
    """A ``Normalizer`` (overall mean and std) that also holds each variable's mean and std per calendar month.

    ``monthly_mean[v][m - 1]`` and ``monthly_std[v][m - 1]`` are those of month ``m``; None
    where the training years have no data in that month. With ``local_mean`` (local mode)
    ``local_mean[v][m - 1]`` is the ``[H, W]`` mean of month ``m`` at each grid point (NaN in
    months without data), steps are normalised by it and ``monthly_std`` (the RMS of the
    anomalies about it); ``monthly_mean`` is then the spatial mean, for information.
    """

    monthly_mean: dict[str, tuple[float | None, ...]] = field(default_factory=dict)
    monthly_std: dict[str, tuple[float | None, ...]] = field(default_factory=dict)
    local_mean: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

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
        local = {str(v): _local_table(t, str(v)) for v, t in self.local_mean.items()}
        object.__setattr__(self, "local_mean", local)
        object.__setattr__(self, "_encoded", {})
        if not local:
            return
        if set(local) != set(means):
            raise ValueError(f"local monthly means must cover every variable with monthly statistics "
                             f"({sorted(means)}); they cover {sorted(local)}")
        grids = {v: t.shape[1:] for v, t in local.items()}
        if len(set(grids.values())) > 1:
            raise ValueError(f"local monthly means must share one grid; got {grids}")
        for v, table in local.items():
            for k, s in enumerate(stds[v]):
                finite = np.isfinite(table[k])
                if s is None and finite.any():
                    raise ValueError(f"local_mean[{v}] has values in {MONTH_NAMES[k]}, a month without monthly "
                                     "statistics; months without data must be NaN")
                if s is not None and not finite.all():
                    raise ValueError(f"local_mean[{v}] is not finite at {int((~finite).sum())} grid point(s) in "
                                     f"{MONTH_NAMES[k]}: every point needs data in a month with statistics (use "
                                     "global statistics, compute_monthly_stats(..., local=False), for gappy data)")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return (self.mean, self.std, self.years, self.monthly_mean, self.monthly_std) == (
            other.mean, other.std, other.years, other.monthly_mean, other.monthly_std
        ) and set(self.local_mean) == set(other.local_mean) and all(
            np.array_equal(t, other.local_mean[v], equal_nan=True) for v, t in self.local_mean.items())

    __hash__ = None  # type: ignore[assignment]  # dict fields: not hashable

    @property
    def local(self) -> bool:
        """Whether steps are normalised by per-grid-point monthly means (local mode)."""
        return bool(self.local_mean)

    @property
    def grid_shape(self) -> tuple[int, int] | None:
        """``(lat, lon)`` of the local means; None in global mode (any grid)."""
        return tuple(next(iter(self.local_mean.values())).shape[1:]) if self.local_mean else None  # type: ignore[return-value]

    def months(self, variable: str) -> list[int]:
        """The calendar months (1..12) with statistics for ``variable``."""
        self.vectors([variable])
        stds = self.monthly_std.get(variable, (None,) * MONTHS)
        return [k + 1 for k, s in enumerate(stds) if s is not None]

    def month_vectors(self, variables: Sequence[str], months: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std ``[*months.shape, V]`` (float32) of ``variables`` in each calendar month of ``months``.

        In local mode the mean is the spatial mean of the local means (normalising uses ``month_fields``).
        """
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

    def check_grid(self, shape: Sequence[int], where: str = "the data") -> None:
        """Raise unless ``shape`` (ending in lat, lon) fits the local means' grid (any grid in global mode)."""
        grid = self.grid_shape
        if grid is not None and tuple(int(n) for n in shape[-2:]) != grid:
            h, w = (int(n) for n in shape[-2:])
            raise ValueError(
                f"the local monthly means are on a {grid[0]}x{grid[1]} grid; {where} is on a {h}x{w} grid (shape "
                f"{tuple(int(n) for n in shape)}): compute the statistics on this grid (compute_monthly_stats(ds, ..., "
                f"local=True)), or regrid the data to {grid[0]}x{grid[1]}"
            )

    def month_fields(self, variables: Sequence[str], months: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean ``[*months.shape, V, H, W]`` (local; ``[..., V, 1, 1]`` global) and std ``[*months.shape, V, 1, 1]``."""
        variables = list(variables)
        months = np.asarray(months, dtype=np.int64)
        mean, std = self.month_vectors(variables, months)  # refuses months without statistics
        if self.local:
            mean = np.stack([self.local_mean[v][months - 1] for v in variables], axis=-3)
        else:
            mean = mean[..., None, None]
        return mean, std[..., None, None]

    def normalize_steps(self, values: np.ndarray, variables: Sequence[str], times: np.ndarray) -> np.ndarray:
        """``values`` ``[..., V, H, W]`` at ``times`` (its leading shape) normalised by each step's month."""
        self.check_grid(np.shape(values))
        mean, std = self.month_fields(list(variables), months_of(times))
        return ((values - mean) / std).astype(np.float32)

    def denormalize_steps(self, values: np.ndarray, variables: Sequence[str], times: np.ndarray) -> np.ndarray:
        """The inverse of ``normalize_steps``."""
        self.check_grid(np.shape(values))
        mean, std = self.month_fields(list(variables), months_of(times))
        return (values * std + mean).astype(np.float32)

    def _conversion(self, values: Any, variables: Sequence[str], times: np.ndarray) -> tuple:
        """Overall std ``[V, 1, 1, 1]``, month mean less overall mean and month std ``[..., V, S, H|1, W|1]``.

        The difference of the means is taken in float64, so float32 values keep their precision.
        """
        variables = list(variables)
        shape = tuple(values.shape)
        if len(shape) < 4 or shape[-4] != len(variables):
            raise ValueError(f"expected values [..., V={len(variables)}, S, H, W] of {variables}, got shape {shape}")
        self.check_grid(shape)
        times = np.asarray(times, dtype="datetime64[ns]")
        lead = shape[:-4]
        if times.shape[:-1] != lead or times.shape[-1] not in (1, shape[-3]):
            raise ValueError(f"times must be [{', '.join(map(str, (*lead, 'S')))}] (S = {shape[-3]} steps, or 1 for "
                             f"all) for values of shape {shape}; got {times.shape}")
        mean = np.array([self.mean[v] for v in variables], dtype=np.float64)[:, None, None, None]
        std = np.array([self.std[v] for v in variables], dtype=np.float64)[:, None, None, None]
        self.month_vectors(variables, np.unique(months_of(times)))  # refuses months without statistics
        months = months_of(times)
        if self.local:
            m_mean = np.stack([self.local_mean[v].astype(np.float64)[months - 1] for v in variables], axis=-4)
        else:
            m_mean = np.stack([np.array([np.nan if x is None else x for x in self.monthly_mean[v]])[months - 1]
                               for v in variables], axis=-2)[..., None, None]
        m_std = np.stack([np.array([np.nan if x is None else x for x in self.monthly_std[v]])[months - 1]
                          for v in variables], axis=-2)[..., None, None]
        arrays = (std, m_mean - mean, m_std)
        if isinstance(values, torch.Tensor):
            return tuple(torch.from_numpy(np.ascontiguousarray(a)).to(values) for a in arrays)
        return tuple(a.astype(values.dtype, copy=False) for a in arrays)

    def overall_to_monthly(self, values: Any, variables: Sequence[str], times: np.ndarray) -> Any:
        """``values`` ``[..., V, S, H, W]`` (numpy or torch) normalised by the overall statistics, in month units.

        ``times`` ``[..., S]`` are each step's times (``[..., 1]``: one time for all S); month
        units are ``normalize_steps``'s (in local mode zero is the point's monthly climatology).
        """
        std, shift, m_std = self._conversion(values, variables, times)
        return (values * std - shift) / m_std

    def monthly_to_overall(self, values: Any, variables: Sequence[str], times: np.ndarray) -> Any:
        """The inverse of ``overall_to_monthly``: month units back to overall normalised units."""
        std, shift, m_std = self._conversion(values, variables, times)
        return (values * m_std + shift) / std

    def to_dict(self) -> dict[str, Any]:
        """The ``Normalizer`` dict plus ``monthly`` (12 values per variable, None for months without data).

        Local means go as base64 float32 (``local_mean``, about 4 bytes a value: 98 kB a variable
        at 32 x 64); the encoded strings are kept, so sources sharing one normalizer store them
        once in a checkpoint (pickle writes an object it has seen as a reference).
        """
        monthly: dict[str, Any] = {"mean": {v: list(m) for v, m in self.monthly_mean.items()},
                                   "std": {v: list(s) for v, s in self.monthly_std.items()}}
        if self.local_mean:
            encoded = self._encoded  # type: ignore[attr-defined]
            for v, table in self.local_mean.items():
                if v not in encoded:
                    encoded[v] = _encode(table)
            monthly["local_mean"] = {v: encoded[v] for v in self.local_mean}
        return super().to_dict() | {"monthly": monthly}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MonthlyNormalizer:
        base = Normalizer.from_dict({k: v for k, v in d.items() if k != "monthly"})
        monthly = d.get("monthly") or {}
        encoded = dict(monthly.get("local_mean") or {})
        out = cls(base.mean, base.std, base.years, dict(monthly.get("mean", {})), dict(monthly.get("std", {})),
                  {v: _decode(e, v) for v, e in encoded.items()})
        out._encoded.update(encoded)  # type: ignore[attr-defined]  # written back as read: shared strings stay shared
        return out


class _PointMoments:
    """Count, mean and M2 per calendar month and grid point (float64 ``[12, H, W]``), merged chunk by chunk
    with the pairwise update ``Moments`` uses, so the chunking does not change the result."""

    def __init__(self, lat: int, lon: int) -> None:
        self.count = np.zeros((MONTHS, lat, lon), dtype=np.int64)
        self.mean = np.zeros((MONTHS, lat, lon), dtype=np.float64)
        self.m2 = np.zeros((MONTHS, lat, lon), dtype=np.float64)

    def add(self, month: int, values: np.ndarray) -> None:
        """Merge ``values`` ``[n, H, W]`` of calendar month ``month`` (NaN: missing) into its per-point moments."""
        k = month - 1
        finite = np.isfinite(values)
        n = finite.sum(axis=0)
        mean = np.where(finite, values, 0.0).sum(axis=0) / np.maximum(n, 1)
        m2 = np.square(np.where(finite, values - mean, 0.0)).sum(axis=0)
        before = self.count[k]
        total = before + n
        delta = mean - self.mean[k]
        safe = np.maximum(total, 1)
        self.mean[k] += delta * n / safe
        self.m2[k] += m2 + delta * delta * before * n / safe
        self.count[k] = total


def compute_monthly_stats(
    ds: xr.Dataset,
    variables: Sequence[str] | None = None,
    years: Iterable[int] | int | None = None,
    *,
    chunk_size: int | None = None,
    local: bool = False,
) -> MonthlyNormalizer:
    """Overall and per-calendar-month mean and std of time-varying ``variables`` over the training ``years``.

    One bounded-memory pass (moments merged chunk by chunk in float64, as ``compute_stats``);
    months without data in those years are left empty. Constants have no months: they are refused.
    ``local``: per-grid-point monthly means, and per month the RMS of the anomalies about
    them (the square root of the pooled per-point variance) as the std (see the module doc);
    memory grows with 12 x lat x lon per variable, not with time.
    """
    ids = check_variables(ds, variables)
    constants = [v for v in ids if is_constant(v)]
    if constants:
        raise ValueError(f"{constants} are constants and have no monthly statistics; give time-varying variables")
    ds = select_years(ds, years)
    overall, monthly_mean, monthly_std, local_mean = {}, {}, {}, {}
    for vid in ids:
        per_month = [Moments() for _ in range(MONTHS)]
        points = _PointMoments(ds.sizes["lat"], ds.sizes["lon"]) if local else None
        for times, values in time_chunks(ds[vid], chunk_size or default_chunk_size(ds[vid])):
            months = months_of(times)
            for m in np.unique(months):
                chunk = values[months == m]
                per_month[m - 1] = per_month[m - 1].merge(Moments.of(chunk))
                if points is not None:
                    points.add(int(m), chunk)
        total = Moments()
        for moments in per_month:
            total = total.merge(moments)
        if total.count == 0:
            raise ValueError(f"{vid} has no finite values in the selected years")
        overall[vid] = total
        monthly_mean[vid] = tuple(m.mean if m.count else None for m in per_month)
        if points is None:
            stds = [m.std if m.count else None for m in per_month]
        else:
            gappy = [MONTH_NAMES[k] for k in range(MONTHS) if per_month[k].count and not points.count[k].all()]
            if gappy:
                raise ValueError(f"{vid} has grid points without any finite value in {gappy}: local statistics need "
                                 "every point in every month with data; use global ones (local=False)")
            stds = [math.sqrt(points.m2[k].sum() / points.count[k].sum()) if per_month[k].count else None
                    for k in range(MONTHS)]
            local_mean[vid] = np.where(points.count > 0, points.mean, np.nan)
        zero = [MONTH_NAMES[k] for k, s in enumerate(stds) if s is not None and not s > 0]
        if zero:
            where = " at every grid point" if local else ""
            raise ZeroStdError(f"{vid} is constant{where} over the training data of {zero}: it cannot be normalised "
                               "per month")
        monthly_std[vid] = tuple(stds)
    base = Normalizer.from_moments(overall, years=tuple(available_years(ds)))
    return MonthlyNormalizer(base.mean, base.std, base.years, monthly_mean, monthly_std, local_mean)


__all__ = ["MONTHS", "MissingMonthError", "MonthlyNormalizer", "compute_monthly_stats", "months_of"]
