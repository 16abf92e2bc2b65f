"""ClimaX npz shards, read lazily and written, so data moves both ways with ClimaX's own code.

Layout (ClimaX ``src/data_preprocessing/nc2np_equally_era5.py``)::

    <root>/train/1979_0.npz ... 1979_7.npz  one dict per shard: {key: (N, 1, H, W) float32}
    <root>/train/climatology.npz             {key: (1, H, W)}: time mean over the split, no constants
    <root>/val/..., <root>/test/...          the same for the other splits
    <root>/normalize_mean.npz                {key: (1,)}: mean over the training years, constants included
    <root>/normalize_std.npz                 {key: (1,)}: standard deviation, likewise
    <root>/lat.npy, <root>/lon.npy           the grid (latitude ascending, as WeatherBench 1)

Keys are long names, level fields as ``<stem>_<level>`` (``geopotential_500``); the
constants ``land_sea_mask``, ``orography`` and ``lattitude`` repeat along N in every
shard. ClimaX's ``total_precipitation`` holds 1-hour totals and is read as ``tp6h``
(six hours summed); ``tp6h`` is written as ``total_precipitation_6hr``. ``lattitude``
is not read back: it is the ``lat`` coordinate broadcast over longitude.

Times: shards carry none. A year's shards, in shard order, are consecutive steps from
00 UTC on 1 January, and ClimaX keeps ``HOURS_PER_YEAR`` = 8760 hours of them (31
December of a leap year is dropped). The step is read from ``time_step.json``, which
``write_climax_npz`` adds; without it the step is ClimaX's 1 hour, or ``time_step=``.
Shards named by a CMIP6 period (``185001010600-185501010000_0.npz``) run from the
period's first to its last stamp, with the step rounded to the hour (model calendars
without leap days make the period a little longer in the standard calendar).
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import dask
import dask.array
import numpy as np
import pandas as pd
import xarray as xr

from climax_nb.data.schema import validate
from climax_nb.data.select import select_years
from climax_nb.data.sources._common import (
    accumulate_6h,
    finish,
    in_registry_order,
    native_step,
    open_file,
    wanted_ids,
    wanted_years,
)
from climax_nb.data.sources.lexicons import CLIMAX_NPZ, HOURLY_ACCUMULATIONS, field_id
from climax_nb.data.stats import Normalizer
from climax_nb.variables import VARIABLES

HOURS_PER_YEAR = 8760
SPLITS: tuple[str, ...] = ("train", "val", "test")
TIME_STEP_FILE = "time_step.json"
_SHARD = re.compile(r"^(\d{4}|\d{12}-\d{12})_(\d+)\.npz$")

Header = dict[str, tuple[tuple[int, ...], np.dtype]]


def looks_like(path: str) -> bool:
    """A folder with ``normalize_mean.npz``, or ``lat.npy`` beside a split folder."""
    root = Path(path)
    if (root / "normalize_mean.npz").is_file():
        return True
    return (root / "lat.npy").is_file() and any((root / s).is_dir() for s in SPLITS)


def _read_header(path: Path) -> Header:
    """Shape and dtype of every array in one npz, without reading the data."""
    out: Header = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            with archive.open(name) as member:
                version = np.lib.format.read_magic(member)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _, dtype = read(member)
            out[name.removesuffix(".npy")] = (shape, dtype)
    return out


def _length(header: Header) -> int:
    """Steps in one shard (N of its first array)."""
    return next(iter(header.values()))[0][0]


def _read_key(path: Path, key: str, first: bool = False) -> np.ndarray:
    with np.load(path) as npz:
        data = npz[key]
    return data[0, 0] if first else data[:, 0]


def _lazy(path: Path, key: str, shape: tuple[int, ...], dtype: np.dtype, first: bool = False) -> dask.array.Array:
    task = dask.delayed(open_file)(path, _read_key, key=key, first=first)
    return dask.array.from_delayed(task, shape=shape, dtype=dtype)


@dataclass(frozen=True)
class _Period:
    """The shards of one year (or CMIP6 period) of one split, in shard order."""

    name: str
    shards: tuple[Path, ...]

    @property
    def years(self) -> range:
        if len(self.name) == 4:
            return range(int(self.name), int(self.name) + 1)
        return range(int(self.name[:4]), int(self.name[13:17]) + 1)

    def start(self) -> np.datetime64:
        if len(self.name) == 4:
            return np.datetime64(f"{self.name}-01-01T00:00", "ns")
        return np.datetime64(pd.Timestamp(self.name[:12]).to_datetime64(), "ns")

    def times(self, total: int, step: np.timedelta64 | None) -> np.ndarray:
        if step is None and len(self.name) > 4:
            end = np.datetime64(pd.Timestamp(self.name[13:]).to_datetime64(), "ns")
            hours = max(1, round((end - self.start()) / np.timedelta64(1, "h") / max(total - 1, 1)))
            step = np.timedelta64(hours, "h")
        return self.start() + np.arange(total) * (step if step is not None else np.timedelta64(1, "h"))


def _periods(root: Path, splits: Sequence[str]) -> list[_Period]:
    found: dict[tuple[str, str], list[tuple[int, Path]]] = {}
    for split in splits:
        for path in (root / split).glob("*.npz"):
            if match := _SHARD.match(path.name):
                found.setdefault((split, match.group(1)), []).append((int(match.group(2)), path))
    periods = [_Period(name, tuple(p for _, p in sorted(shards))) for (_, name), shards in found.items()]
    return sorted(periods, key=lambda p: p.start())


def _time_step(root: Path, given: str | pd.Timedelta | None) -> np.timedelta64 | None:
    if given is not None:
        return pd.Timedelta(given).to_timedelta64()
    sidecar = root / TIME_STEP_FILE
    if sidecar.is_file():
        return np.timedelta64(round(float(json.loads(sidecar.read_text())["hours"]) * 3600), "s")
    return None


def _key_ids(keys: Iterable[str]) -> dict[str, str]:
    """key -> id for the keys the registry knows; ``total_precipitation_6hr`` wins over hourly totals."""
    out: dict[str, str] = {}
    for key in sorted(keys, key=lambda k: k in HOURLY_ACCUMULATIONS, reverse=True):
        vid = field_id(key, CLIMAX_NPZ)
        if vid is not None:
            out[vid] = key
    return {out[vid]: vid for vid in in_registry_order(out)}


def _period_field(period: _Period, headers: list[Header], key: str) -> dask.array.Array:
    parts = []
    for path, header in zip(period.shards, headers, strict=True):
        if key not in header:
            raise OSError(f"{path}: has no {key!r} while the first shard has it")
        shape, dtype = header[key]
        parts.append(_lazy(path, key, (shape[0], *shape[2:]), dtype))
    return dask.array.concatenate(parts, axis=0)


def open_climax_npz(
    root: str | Path,
    variables: Sequence[str] | None = None,
    years: Iterable[int] | int | None = None,
    *,
    splits: Sequence[str] | None = None,
    time_step: str | pd.Timedelta | None = None,
) -> xr.Dataset:
    """Read ClimaX npz shards lazily as a canonical Dataset, times rebuilt as the module says.

    ``splits`` limits the folders read (default: all of train, val, test present);
    ``time_step`` gives the step of shards without ``time_step.json`` (default 1 h).
    """
    root = Path(root)
    for name in ("lat.npy", "lon.npy"):
        if not (root / name).is_file():
            raise FileNotFoundError(f"{root} is not a ClimaX npz folder: no {name}")
    periods = _periods(root, splits or [s for s in SPLITS if (root / s).is_dir()])
    if not periods:
        raise FileNotFoundError(f"{root} has no <year>_<shard>.npz files in {list(splits or SPLITS)}")
    picked = wanted_years(years, [y for p in periods for y in p.years], str(root))
    if picked is not None:
        periods = [p for p in periods if set(p.years) & set(picked)]
    headers = [[open_file(path, _read_header) for path in p.shards] for p in periods]
    key_ids = _key_ids(headers[0][0])
    ids = wanted_ids(variables, key_ids.values(), str(root))
    lat, lon = np.load(root / "lat.npy"), np.load(root / "lon.npy")
    step = _time_step(root, time_step)
    time = np.concatenate([p.times(sum(_length(h) for h in hs), step) for p, hs in zip(periods, headers, strict=True)])
    coords = {"time": time, "lat": lat, "lon": lon}
    fields: dict[str, xr.DataArray] = {}
    for key, vid in key_ids.items():
        if vid not in ids:
            continue
        if VARIABLES[vid].kind == "constant":
            shape, dtype = headers[0][0][key]
            data = _lazy(periods[0].shards[0], key, shape[2:], dtype, first=True)
            fields[vid] = xr.DataArray(data, dims=("lat", "lon"), coords={"lat": lat, "lon": lon}, name=vid)
            continue
        data = dask.array.concatenate([_period_field(p, hs, key) for p, hs in zip(periods, headers, strict=True)])
        da = xr.DataArray(data, dims=("time", "lat", "lon"), coords=coords, name=vid)
        fields[vid] = accumulate_6h(da, str(root)) if key in HOURLY_ACCUMULATIONS else da
    ds = finish(fields, str(root))
    return ds if picked is None else select_years(ds, picked, str(root))


@dataclass(frozen=True)
class ClimaxStats:
    """ClimaX's normalisation statistics and a split's climatology, by registry id.

    ``mean``/``std`` hold one 0-d variable per id; ``climatology`` one ``(lat, lon)``
    field per time-varying id. Statistics of 1-hour ``total_precipitation`` are left
    out: they are not those of 6-hour totals.
    """

    mean: xr.Dataset
    std: xr.Dataset
    climatology: xr.Dataset


def _stats(path: Path) -> xr.Dataset:
    with open_file(path, np.load) as npz:
        arrays = {vid: npz[key] for key, vid in _key_ids(npz.files).items() if key not in HOURLY_ACCUMULATIONS}
    units = {vid: {"units": VARIABLES[vid].units} for vid in arrays}
    return xr.Dataset({vid: xr.DataArray(np.asarray(a).reshape(()), attrs=units[vid]) for vid, a in arrays.items()})


def read_normalization(mean_npz: str | Path, std_npz: str | Path) -> Normalizer:
    """ClimaX's ``normalize_mean.npz`` and ``normalize_std.npz`` as a ``Normalizer`` over registry ids.

    ``lattitude`` (the latitude input, no data variable of a dataset) becomes the id ``lat``.
    """
    tables = []
    for path in (Path(mean_npz), Path(std_npz)):
        values = {str(v): float(a) for v, a in _stats(path).data_vars.items()}
        with open_file(path, np.load) as npz:
            if "lattitude" in npz.files:
                values["lat"] = float(np.asarray(npz["lattitude"]).reshape(-1)[0])
        tables.append(values)
    mean, std = tables
    shared = [v for v in mean if v in std]
    if not shared:
        raise ValueError(f"{mean_npz} and {std_npz} share no variable this package knows; expected keys such as "
                         "geopotential_500, 2m_temperature, land_sea_mask")
    return Normalizer({v: mean[v] for v in shared}, {v: std[v] for v in shared})


def read_climax_stats(root: str | Path, split: str = "train") -> ClimaxStats:
    """Read ``normalize_mean.npz``, ``normalize_std.npz`` and ``<split>/climatology.npz``."""
    root = Path(root)
    clim_path = root / split / "climatology.npz"
    clim_path = clim_path if clim_path.is_file() else root / "climatology.npz"
    lat, lon = np.load(root / "lat.npy"), np.load(root / "lon.npy")
    with open_file(clim_path, np.load) as npz:
        fields = {
            vid: xr.DataArray(np.asarray(npz[key]).reshape(len(lat), len(lon)), dims=("lat", "lon"))
            for key, vid in _key_ids(npz.files).items()
            if key not in HOURLY_ACCUMULATIONS
        }
    climatology = finish({vid: da.assign_coords(lat=lat, lon=lon) for vid, da in fields.items()}, str(clim_path))
    return ClimaxStats(_stats(root / "normalize_mean.npz"), _stats(root / "normalize_std.npz"), climatology)


def _year_steps(ds: xr.Dataset, year: int, step: np.timedelta64) -> np.ndarray:
    """The stamps of ``year`` that ClimaX keeps, checked to be rebuildable from the year start."""
    start = np.datetime64(f"{year}-01-01T00:00", "ns")
    time = ds["time"].values[ds["time"].dt.year.values == year]
    time = time[time < start + np.timedelta64(HOURS_PER_YEAR, "h")]
    expected = start + np.arange(len(time)) * step
    if len(time) == 0 or not np.array_equal(time, expected):
        raise ValueError(
            f"year {year} does not run in regular {step / np.timedelta64(1, 'h'):g} h steps from "
            f"{year}-01-01T00: ClimaX npz shards carry no time stamps, so a year must start there without gaps"
        )
    return time


def _shard_arrays(part: xr.Dataset, constants: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    part = part.load()
    n = part.sizes["time"]
    arrays = {VARIABLES[str(v)].long_name: part[v].values[:, None] for v in part.data_vars}
    for key, field in constants.items():
        arrays[key] = np.broadcast_to(field, (n, 1, *field.shape))
    return arrays


def _mean_std(fields: Mapping[str, xr.DataArray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    mean = {k: np.array([float(da.astype(np.float64).mean())], np.float32) for k, da in fields.items()}
    std = {k: np.array([float(da.astype(np.float64).std())], np.float32) for k, da in fields.items()}
    return mean, std


def _write_split(
    ds: xr.Dataset,
    root: Path,
    split: str,
    years: Iterable[int] | int,
    step: np.timedelta64,
    shards_per_year: int,
    constants: Mapping[str, np.ndarray],
) -> xr.Dataset:
    """Shards and climatology of one split; returns the steps written, for the statistics."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: ClimaX reads {SPLITS}")
    years = [years] if isinstance(years, int) else list(years)
    data = select_years(ds, years, "dataset")
    stamps = {year: _year_steps(data, year, step) for year in years}
    short = [year for year, t in stamps.items() if len(t) < shards_per_year]
    if short:
        raise ValueError(f"{split}: year(s) {short} have fewer steps than shards_per_year={shards_per_year}")
    (root / split).mkdir(parents=True, exist_ok=True)
    for year, times in stamps.items():
        for index, chunk in enumerate(np.array_split(times, shards_per_year)):
            np.savez(root / split / f"{year}_{index}.npz", **_shard_arrays(data.sel(time=chunk), constants))
    data = data.sel(time=np.concatenate(list(stamps.values())))
    climatology = {VARIABLES[str(v)].long_name: data[v].mean("time").values[None] for v in data.data_vars}
    np.savez(root / split / "climatology.npz", **{k: v.astype(np.float32) for k, v in climatology.items()})
    return data


def write_climax_npz(
    ds: xr.Dataset,
    root: str | Path,
    splits: Mapping[str, Iterable[int]],
    shards_per_year: int = 8,
    *,
    add_lattitude: bool = True,
) -> Path:
    """Write a canonical Dataset as ClimaX npz shards (the layout in the module docstring).

    ``splits`` maps ``train``/``val``/``test`` to years. Each year must start at 00 UTC on
    1 January and run in regular steps (shards carry no times); it is cut at 8760 h and
    split into ``shards_per_year`` consecutive shards. Statistics come from the ``train``
    years only. ``add_lattitude`` adds ClimaX's ``lattitude`` input from the grid.
    """
    validate(ds, check_values=False, allow_gaps=True)
    step = native_step(ds["time"].values)
    if step is None:
        raise ValueError("write_climax_npz needs at least two time steps to know the step")
    root = Path(root)
    timed = [str(v) for v in ds.data_vars if "time" in ds[v].dims]
    constants = {VARIABLES[str(v)].long_name: ds[v].values for v in ds.data_vars if str(v) not in timed}
    if add_lattitude:
        constants["lattitude"] = np.broadcast_to(ds["lat"].values[:, None], ds["lat"].shape + ds["lon"].shape)
    constants = {k: np.asarray(v, np.float32) for k, v in constants.items()}
    for split, years in splits.items():
        data = _write_split(ds[timed], root, split, years, step, shards_per_year, constants)
        if split == "train":
            fields = {VARIABLES[str(v)].long_name: data[v] for v in data.data_vars}
            fields.update({k: xr.DataArray(v) for k, v in constants.items()})
            mean, std = _mean_std(fields)
            np.savez(root / "normalize_mean.npz", **mean)
            np.savez(root / "normalize_std.npz", **std)
    np.save(root / "lat.npy", ds["lat"].values)
    np.save(root / "lon.npy", ds["lon"].values)
    (root / TIME_STEP_FILE).write_text(json.dumps({"hours": step / np.timedelta64(1, "h")}))
    return root
