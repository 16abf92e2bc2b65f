"""Forecasts, scores and attention computed once per checkpoint (or forecast file) and data, kept on disk.

The first session that opens an entry computes its results; later sessions, and
later server starts, read them from ``<cache>/dashboard/<key>/``. The key changes
whenever the file, the data or the settings change, so stale results are never
shown. One lock per key makes concurrent sessions wait for a single computation.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from climax_nb.dashboard import compute
from climax_nb.dashboard.data import Truth, open_truth
from climax_nb.dashboard.discover import Entry
from climax_nb.dashboard.errors import DashboardError
from climax_nb.dashboard.settings import DataSpec, Settings
from climax_nb.evaluate import on_forecast_grid
from climax_nb.storage import atomic_write

#: Bump when what is stored changes, so old caches are ignored.
STORE_VERSION = 2


def _read(path: Path) -> xr.Dataset | None:
    if not path.exists():
        return None
    with xr.open_dataset(path, decode_timedelta=True) as ds:
        return ds.load()


def _write(ds: xr.Dataset | xr.DataArray, path: Path) -> None:
    """Write atomically so a session never reads a half-written file."""
    atomic_write(path, ds.to_netcdf)


@dataclass
class Results:
    """Everything the page shows for one entry: forecast, truth at its valid times, scores, rollout.

    ``forecast`` holds one field per lead (an ensemble's mean); ``members`` the ensemble itself
    when the model or file gives one (its scores then include CRPS and the spread-skill ratio).
    """

    entry: Entry
    forecast: xr.Dataset
    truth: xr.Dataset
    scores: xr.Dataset
    rollout_scores: xr.Dataset | None
    notes: list[str]
    folder: Path
    model: object | None = None
    rollout: xr.Dataset | None = None
    source: xr.Dataset | None = None
    members: xr.Dataset | None = None
    box: tuple[float, ...] = ()
    _per_init: dict[tuple[str, str], xr.Dataset] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def variables(self) -> list[str]:
        """Variables forecast and present in the truth, in the forecast's order."""
        return [str(v) for v in self.forecast.data_vars if v in self.truth.data_vars]

    @property
    def has_variable_attention(self) -> bool:
        """Whether the entry's model weighs its input variables (ClimaX): the attention card."""
        return self.model is not None and self.model.attends_over_variables

    @property
    def is_masked_model(self) -> bool:
        """Whether the entry's model reconstructs masked windows (AtmoRep): the masked-model card."""
        from climax_nb.forecast.atmorep import AtmoRepForecaster

        return isinstance(self.model, AtmoRepForecaster)

    def _once(self, kind: str, init: np.datetime64, make) -> xr.Dataset:
        """``make()`` for one initial time, computed on first request, then read from memory or disk."""
        stamp = pd.Timestamp(init).strftime("%Y%m%dT%H%M")
        with self._lock:
            if (kind, stamp) not in self._per_init:
                path = self.folder / f"{kind}-{stamp}.nc"
                stored = _read(path)
                if stored is None:
                    stored = make()
                    _write(stored, path)
                self._per_init[kind, stamp] = stored
            return self._per_init[kind, stamp]

    def attention(self, init: np.datetime64) -> xr.DataArray:
        """Aggregation weights from one initial time (computed on first request, then cached)."""
        if self.model is None or self.source is None:
            raise DashboardError(
                f"attention needs a checkpoint; {self.entry.label} is a saved forecast: pick a checkpoint entry"
            )
        if not self.has_variable_attention:
            raise DashboardError(f"{self.entry.label} has no attention over its input variables; a masked model's "
                                 "attention across fields is in the masked-model card")
        return self._once("attention", init, lambda: compute.attention(
            self.model, self.source, self.rollout, np.datetime64(init, "ns")).to_dataset(name="attention"))["attention"]

    def masked(self, init: np.datetime64, sst_offset: float | None = None) -> xr.Dataset:
        """The masked model's tasks around one initial time (``compute.masked_tasks``), computed once; with
        ``sst_offset`` (K) the counterfactual, its tokens carrying that forcing instead of the source's own."""
        if not self.is_masked_model or self.source is None:
            raise DashboardError(f"{self.entry.label} is not a masked model's checkpoint: choose an AtmoRep "
                                 "checkpoint (`climax-nb pretrain --config atmorep-compact`)")
        fm = self.model if sst_offset is None else self.model.conditioned(sst_offset=sst_offset)
        kind = "masked" if sst_offset is None else f"masked-sst{sst_offset:+g}"
        return self._once(kind, init, lambda: compute.masked_tasks(fm, self.source, np.datetime64(init, "ns"),
                                                                    self.box))


def _fingerprint(path: Path) -> dict[str, object]:
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _describe(entry: Entry, err: Exception) -> DashboardError:
    """The entry's problem in one message with a fix, for the page."""
    from climax_nb.forecast import InitialStateError, LeadTimeError
    from climax_nb.metrics.align import MetricInputError

    text = str(err).strip() or type(err).__name__
    if isinstance(err, DashboardError):
        return err
    if isinstance(err, FileNotFoundError):
        return DashboardError(f"{entry.label} does not exist ({entry.path}); pass an existing file, e.g. a run's "
                              "model.pt (`climax-nb finetune`) or a forecast (`climax-nb forecast`)")
    if isinstance(err, InitialStateError):
        return DashboardError(f"the data cannot start {entry.label}: {text}")
    if isinstance(err, LeadTimeError):
        return DashboardError(f"{entry.label} cannot forecast the lead times asked for: {text}; choose --leads")
    if isinstance(err, MetricInputError):
        return DashboardError(f"{entry.label} cannot be scored against the data: {text}")
    if entry.kind == "checkpoint":
        return DashboardError(f"{entry.label} is not a usable forecast checkpoint: {text}. Pass a model.pt "
                              "exported by `climax-nb finetune` (or `export_forecast_checkpoint`)")
    return DashboardError(f"{entry.label} is not a usable forecast file: {text}. Pass a file written by "
                          "`climax-nb forecast` (dims init_time, lead_time, lat, lon)")


class ResultStore:
    """Results per entry for one dataset and one set of settings, in memory and on disk."""

    def __init__(self, data: DataSpec | None = None, settings: Settings | None = None,
                 cache_dir: str | os.PathLike | None = None):
        from climax_nb.storage import cache_root

        self.data = data or DataSpec()
        self.settings = settings or Settings()
        self.root = cache_root(cache_dir) / "dashboard"
        self._truth: Truth | None = None
        self._results: dict[str, Results] = {}
        self._errors: dict[str, DashboardError] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def truth(self) -> Truth:
        """The verifying data, opened once."""
        with self._guard:
            if self._truth is None:
                self._truth = open_truth(self.data)
            return self._truth

    def key(self, entry: Entry) -> str:
        """Cache key of an entry: its file, the data and the settings."""
        if not entry.path.exists():
            raise FileNotFoundError(entry.path)
        text = json.dumps({"entry": _fingerprint(entry.path), "kind": entry.kind, "data": self.data.key(),
                           "settings": asdict(self.settings), "version": STORE_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def get(self, entry: Entry) -> Results:
        """The entry's results, computed or read once; raises ``DashboardError`` naming the problem and fix."""
        ident = f"{entry.kind}:{entry.path}"
        with self._guard:
            lock = self._locks.setdefault(ident, threading.Lock())
        with lock:
            if ident in self._errors:
                raise self._errors[ident]
            if ident not in self._results:
                try:
                    self._results[ident] = self._load(entry)
                except Exception as err:  # every failure reaches the page as a message
                    self._errors[ident] = _describe(entry, err)
                    raise self._errors[ident] from err
            return self._results[ident]

    def _load(self, entry: Entry) -> Results:
        folder = self.root / self.key(entry)
        folder.mkdir(parents=True, exist_ok=True)
        truth = self.truth()
        notes = []
        if truth.in_sample:
            notes.append(f"climatology from {list(truth.clim_years)}, the same years as the forecasts (in-sample)")
        fm = None
        if entry.kind == "checkpoint":
            from climax_nb.forecast import open_model

            fm = open_model(entry.path)
        fc = self._cached(folder / "forecast.nc", lambda: self._forecast(entry, fm, truth))
        if "damping" in fc.attrs:
            notes.append(f"the forecast rolls out with {fc.attrs['damping']} on each step")
        members = fc if "member" in fc.dims else None
        shown = fc.mean("member", keep_attrs=True) if members is not None else fc
        valid_truth = self._truth_at(entry, shown, truth)
        ids = [str(v) for v in fc.data_vars if v in truth.data.data_vars]
        clim = functools.cache(lambda: self._climatology(truth, ids))  # only when a score is missing
        unscorable = [str(v) for v in fc.data_vars if not bool(np.isfinite(fc[v]).all())]
        if unscorable:  # scores never average around missing values: leave these out and say so
            notes.append(f"not scored, NaN or infinite values in the forecast: {', '.join(unscorable)}")
        scored = fc.drop_vars(unscorable)
        scores = self._cached(folder / "scores.nc", lambda: compute.score(scored, truth.data, clim()))
        rollout = rollout_scores = None
        if fm is not None:
            try:
                rollout = self._cached(folder / "rollout.nc", lambda: compute.rollout_forecast(
                    fm, truth.data, fc["init_time"].values, self.settings))
                rollout_scores = self._cached(folder / "rollout_scores.nc", lambda: compute.score(
                    rollout, truth.data, clim(), name="rollout", baselines=False))
            except ValueError as err:  # e.g. RolloutError: a model that does not predict its inputs
                notes.append(f"no iterative rollout: {err}")
        if members is not None:
            notes.append(f"{members.sizes['member']} members: the maps show their mean, the scores include CRPS "
                         "and the spread-skill ratio")
        results = Results(entry, shown, valid_truth, scores, rollout_scores, notes, folder, fm, rollout,
                          truth.data if fm is not None else None, members, tuple(self.settings.box))
        for init in fc["init_time"].values:  # every initial time's results now, so a widget never waits on the model
            if results.has_variable_attention:
                results.attention(init)
            if results.is_masked_model:
                results.masked(init)
                results.masked(init, compute.COUNTERFACTUAL_SST)
        return results

    def _forecast(self, entry: Entry, fm, truth: Truth) -> xr.Dataset:
        if fm is None:
            from climax_nb.forecast import open_forecast

            return open_forecast(entry.path)
        max_lead = max(self.settings.leads)
        inits = compute.choose_inits(truth.data, max_lead, self.settings, fm.history_hours)
        return compute.model_forecast(fm, truth.data, inits, self.settings)

    def _climatology(self, truth: Truth, ids: list[str]) -> xr.Dataset:
        from climax_nb.data.climatology import climatology

        return climatology(truth.clim_source, years=list(truth.clim_years), variables=ids)

    @staticmethod
    def _truth_at(entry: Entry, fc: xr.Dataset, truth: Truth) -> xr.Dataset:
        ids = [str(v) for v in fc.data_vars if v in truth.data.data_vars]
        if not ids:
            raise DashboardError(f"{entry.label} forecasts {list(map(str, fc.data_vars))}, none of which is in the "
                                 f"data ({list(map(str, truth.data.data_vars))}); pass --data with these variables")
        times = truth.data.indexes["time"]
        valid = pd.DatetimeIndex(fc["valid_time"].values.ravel())
        missing = valid[~valid.isin(times)]
        if len(missing):
            raise DashboardError(f"the data has no truth at {len(missing)} valid time(s) of {entry.label} (first "
                                 f"{missing[0]}); pass --data/--years covering {valid.min()} to {valid.max()}")
        verifying = on_forecast_grid(truth.data[ids], fc)  # a regional forecast is shown and scored on its box
        return verifying.sel(time=fc["valid_time"]).drop_vars("time").load()

    @staticmethod
    def _cached(path: Path, make) -> xr.Dataset:
        stored = _read(path)
        if stored is not None:
            return stored
        ds = make().load()
        _write(ds, path)
        return ds
