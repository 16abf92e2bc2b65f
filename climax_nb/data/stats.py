"""Per-variable normalisation statistics from training years, in one streaming pass.

Each variable's (count, mean, M2) is accumulated chunk by chunk over time in
float64 and merged with Chan et al.'s parallel formula, so statistics of
several years (or of several files) combine exactly, whatever the chunking.
ClimaX's preprocessing keeps only the last year's statistics for pressure-level
variables; here every training year counts.

A ``Normalizer`` is plain data (floats in dicts) so it can sit in a JSON file
beside the data or inside a checkpoint loaded with ``weights_only=True``.
Tensors and arrays carry variables along dimension -3 (``[..., V, H, W]``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
import xarray as xr

from climax_nb.data.fields import check_variables, constant_field, default_chunk_size, time_chunks
from climax_nb.data.select import available_years, select_years
from climax_nb.variables import is_constant

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, torch.Tensor, xr.Dataset)

FORMAT_VERSION = 1


class MissingStatsError(KeyError, ValueError):
    """Statistics were asked for a variable they do not cover."""

    def __str__(self) -> str:
        return str(self.args[0])


class ZeroStdError(ValueError):
    """A variable is constant over the training data, so it cannot be scaled to unit variance."""


@dataclass(frozen=True)
class Moments:
    """Count, mean and sum of squared deviations (M2) of a set of values, in float64."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    @classmethod
    def of(cls, values: np.ndarray) -> Moments:
        """Moments of the finite values in ``values`` (NaN marks missing data)."""
        x = np.asarray(values, dtype=np.float64).ravel()
        if not np.all(np.isfinite(x)):
            x = x[np.isfinite(x)]
        if x.size == 0:
            return cls()
        mean = float(x.mean())
        return cls(int(x.size), mean, float(np.square(x - mean).sum()))

    def merge(self, other: Moments) -> Moments:
        """The moments of both sets together (Chan, Golub and LeVeque's pairwise update)."""
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        n = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * other.count / n
        m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / n
        return Moments(n, mean, m2)

    @property
    def std(self) -> float:
        """Population standard deviation (ddof=0), as numpy's default."""
        return math.sqrt(self.m2 / self.count) if self.count else float("nan")


def compute_moments(
    ds: xr.Dataset,
    variables: Sequence[str] | None = None,
    years: Iterable[int] | int | None = None,
    chunk_size: int | None = None,
) -> dict[str, Moments]:
    """Moments per variable over ``years`` (all when None), reading ``chunk_size`` steps at a time."""
    ids = check_variables(ds, variables)
    ds = select_years(ds, years)
    out: dict[str, Moments] = {}
    for vid in ids:
        if is_constant(vid):
            out[vid] = Moments.of(constant_field(ds, vid))
            continue
        total = Moments()
        for _, values in time_chunks(ds[vid], chunk_size or default_chunk_size(ds[vid])):
            total = total.merge(Moments.of(values))
        if total.count == 0:
            raise ValueError(f"{vid} has no finite values in the selected years")
        out[vid] = total
    return out


def compute_stats(
    ds: xr.Dataset,
    variables: Sequence[str] | None = None,
    years: Iterable[int] | int | None = None,
    *,
    chunk_size: int | None = None,
    min_std: float | None = None,
) -> Normalizer:
    """Mean and std of each variable over the training ``years``, in one bounded-memory pass.

    A variable with zero std raises ``ZeroStdError`` unless ``min_std`` is given,
    in which case the std used is ``max(std, min_std)``.
    """
    moments = compute_moments(ds, variables, years, chunk_size)
    chosen = available_years(select_years(ds, years)) if "time" in ds.dims else []
    return Normalizer.from_moments(moments, min_std=min_std, years=tuple(chosen))


def _float_dict(d: dict[str, Any], name: str) -> dict[str, float]:
    if not isinstance(d, dict):
        raise TypeError(f"'{name}' must be a dict of variable id -> number, got {type(d).__name__}")
    return {str(k): float(v) for k, v in d.items()}


@dataclass(frozen=True)
class Normalizer:
    """Per-variable mean and std; ``normalize`` maps data to zero mean and unit variance."""

    mean: dict[str, float]
    std: dict[str, float]
    years: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", _float_dict(self.mean, "mean"))
        object.__setattr__(self, "std", _float_dict(self.std, "std"))
        object.__setattr__(self, "years", tuple(int(y) for y in self.years))
        if set(self.mean) != set(self.std):
            odd = sorted(set(self.mean) ^ set(self.std))
            raise ValueError(f"mean and std must cover the same variables; they differ on {odd}")
        bad = sorted(v for v, s in self.std.items() if not (s > 0 and math.isfinite(s)))
        if bad:
            raise ZeroStdError(
                f"std must be positive and finite; not so for {bad}: drop these variables "
                "or recompute with compute_stats(..., min_std=1e-6)"
            )

    @classmethod
    def from_moments(
        cls, moments: dict[str, Moments], min_std: float | None = None, years: tuple[int, ...] = ()
    ) -> Normalizer:
        """Statistics from accumulated moments; see ``compute_stats`` for ``min_std``."""
        std = {v: m.std for v, m in moments.items()}
        if min_std is not None:
            std = {v: max(s, float(min_std)) for v, s in std.items()}
        zero = sorted(v for v, s in std.items() if not s > 0)
        if zero:
            raise ZeroStdError(
                f"{', '.join(zero)} has zero standard deviation over the training data; "
                "drop it, or pass min_std (e.g. 1e-6) to scale by that instead"
            )
        return cls({v: m.mean for v, m in moments.items()}, std, years)

    @property
    def variables(self) -> list[str]:
        return list(self.mean)

    def vectors(self, variables: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std as float32 arrays in the order of ``variables``."""
        missing = [v for v in variables if v not in self.mean]
        if missing:
            raise MissingStatsError(
                f"no statistics for {', '.join(missing)}; these cover {', '.join(self.mean)}. "
                "Recompute with compute_stats(ds, variables=[...]) including them"
            )
        mean = np.array([self.mean[v] for v in variables], dtype=np.float32)
        std = np.array([self.std[v] for v in variables], dtype=np.float32)
        return mean, std

    def _apply(self, data: ArrayOrTensor, variables: Sequence[str] | None, inverse: bool) -> ArrayOrTensor:
        if isinstance(data, xr.Dataset):
            names = list(variables) if variables is not None else [str(v) for v in data.data_vars]
            mean, std = self.vectors(names)
            out = data.copy()
            for name, m, s in zip(names, mean.tolist(), std.tolist(), strict=True):
                out[name] = (data[name] * s + m) if inverse else (data[name] - m) / s
                out[name].attrs = dict(data[name].attrs)
            return out
        if variables is None:
            raise ValueError("pass the variable ids carried along dimension -3 of the tensor/array")
        if data.ndim < 3 or data.shape[-3] != len(variables):
            raise ValueError(
                f"expected variables along dimension -3 with size {len(variables)}, got shape {tuple(data.shape)}"
            )
        mean, std = self.vectors(list(variables))
        if isinstance(data, torch.Tensor):
            m = torch.from_numpy(mean).to(data.device, data.dtype)[:, None, None]
            s = torch.from_numpy(std).to(data.device, data.dtype)[:, None, None]
        else:
            m, s = mean.astype(data.dtype)[:, None, None], std.astype(data.dtype)[:, None, None]
        return data * s + m if inverse else (data - m) / s

    def normalize(self, data: ArrayOrTensor, variables: Sequence[str] | None = None) -> ArrayOrTensor:
        """``(data - mean) / std`` per variable: a Dataset by name, a tensor/array along dim -3."""
        return self._apply(data, variables, inverse=False)

    def denormalize(self, data: ArrayOrTensor, variables: Sequence[str] | None = None) -> ArrayOrTensor:
        """``data * std + mean`` per variable; the inverse of ``normalize``."""
        return self._apply(data, variables, inverse=True)

    def to_dict(self) -> dict[str, Any]:
        """Plain floats and lists: JSON-safe and loadable with ``torch.load(weights_only=True)``."""
        return {"version": FORMAT_VERSION, "mean": dict(self.mean), "std": dict(self.std), "years": list(self.years)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalizer:
        """Read ``to_dict``'s layout; one with per-month statistics gives a ``MonthlyNormalizer``."""
        if not isinstance(d, dict) or "mean" not in d or "std" not in d:
            raise ValueError("a Normalizer dict needs 'mean' and 'std' entries (id -> number)")
        if "monthly" in d:
            from climax_nb.data.monthly import MonthlyNormalizer

            return MonthlyNormalizer.from_dict(d)
        return cls(d["mean"], d["std"], tuple(d.get("years", ())))

    def save(self, path: str | Path) -> Path:
        """Write JSON (e.g. ``era5.zarr.stats.json`` beside the data)."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Normalizer:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no statistics file at {path}; compute one with compute_stats(...).save(path)")
        return cls.from_dict(json.loads(path.read_text()))
