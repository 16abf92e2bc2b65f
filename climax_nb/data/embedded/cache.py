"""The on-disk cache: one zarr store per source and a manifest saying what made it.

Layout: ``<root>/embedded/<source>/{data.zarr, manifest.json, global_mean_t.nc}``
and ``<root>/jax`` (JAX's compilation cache), with ``<root>`` from the
``cache_dir`` argument, else ``$CLIMAX_NB_CACHE``, else ``~/.cache/climax_nb``.
A store is built in a hidden ``.partial`` directory next to it and moved into
place only when complete, so an interrupted run never leaves a store that
looks valid.

A store is reused when its manifest has the same configuration hash, the
same pipeline version and the same jcm version, and holds at least the
requested number of days; otherwise it is regenerated. The jax and climax_nb
versions are recorded too, but a change in them alone does not force hours
of regeneration.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import xarray as xr

from climax_nb.data.embedded.configs import SourceConfig
from climax_nb.storage import CACHE_ENV, cache_root

#: Bump when post-processing changes what is written for the same configuration.
PIPELINE_VERSION = 1
ENV_VAR = CACHE_ENV
STORE = "data.zarr"
MANIFEST = "manifest.json"
SERIES = "global_mean_t.nc"
#: jcm checkpoints of the run at its output chunks' ends (``restart_path``): a re-run (the GCM's twin
#: forecasts) starts from the last one before the time it needs instead of from the source's start.
RESTARTS = "restarts"
#: Zarr v2 with consolidated metadata: opens quickly and with any zarr reader.
ZARR_FORMAT = 2
JAX_CACHE = "jax"


def source_dir(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Directory holding one source's store, manifest and diagnostics."""
    return cache_root(cache_dir) / "embedded" / name


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the data."""
    versions = {}
    for package in ("jcm", "jax", "climax_nb"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            module = __import__(package)
            versions[package] = getattr(module, "__version__", "unknown")
    return versions


def make_manifest(config: SourceConfig, days: int, spinup_days: int) -> dict:
    """The manifest of a complete store of ``days`` days of ``config``."""
    return {
        "source": config.name,
        "config": config.to_dict(),
        "config_hash": config.config_hash(),
        "pipeline_version": PIPELINE_VERSION,
        "versions": package_versions(),
        "days": days,
        "spinup_days_run": spinup_days,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def read_manifest(directory: Path) -> dict | None:
    """The manifest in ``directory``, or None when there is none or it is unreadable."""
    try:
        return json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def stale_reason(directory: Path, config: SourceConfig, days: int) -> str | None:
    """Why the store in ``directory`` cannot serve ``days`` days of ``config``; None if it can."""
    manifest = read_manifest(directory)
    if manifest is None or not (directory / STORE).exists():
        return "no complete store yet"
    if manifest.get("config_hash") != config.config_hash():
        return (
            f"configuration changed (hash {manifest.get('config_hash')} -> {config.config_hash()})"
        )
    if manifest.get("pipeline_version") != PIPELINE_VERSION:
        old = manifest.get("pipeline_version")
        return f"post-processing changed (version {old} -> {PIPELINE_VERSION})"
    jcm_now = package_versions()["jcm"]
    if manifest.get("versions", {}).get("jcm") != jcm_now:
        return f"jcm version changed ({manifest.get('versions', {}).get('jcm')} -> {jcm_now})"
    if int(manifest.get("days", 0)) < days:
        return f"holds {manifest.get('days')} days, {days} requested"
    return None


def restart_path(folder: Path, time: np.datetime64) -> Path:
    """The restart file of the model state at ``time`` (a chunk boundary) in a store folder."""
    return folder / RESTARTS / f"{np.datetime_as_string(np.datetime64(time, 's')).replace(':', '')}.msgpack"


def restart_times(folder: Path) -> np.ndarray:
    """The times of the restart files a store folder holds, sorted (empty for stores written without them)."""
    names = sorted(p.stem for p in (folder / RESTARTS).glob("*.msgpack"))
    stamps = [f"{n[:13]}:{n[13:15]}:{n[15:17]}" for n in names]
    return np.array(stamps, dtype="datetime64[ns]")


class StoreWriter:
    """Appends chunks to a zarr store built aside and moved into place by ``finish``."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.partial = directory.parent / f".{directory.name}.partial"
        if self.partial.exists():
            shutil.rmtree(self.partial)
        self.partial.mkdir(parents=True)
        self._constants: list[str] | None = None

    def append(self, ds: xr.Dataset) -> None:
        """Write the first chunk (with constants), then append along time."""
        store = self.partial / STORE
        if self._constants is None:
            self._constants = [str(v) for v in ds.data_vars if "time" not in ds[v].dims]
            encoding = {"time": {"units": "hours since 1970-01-01", "dtype": "int64"}}
            ds.to_zarr(store, mode="w", encoding=encoding, zarr_format=ZARR_FORMAT)
        else:
            appended = ds.drop_vars(self._constants, errors="ignore")
            appended.to_zarr(store, append_dim="time", zarr_format=ZARR_FORMAT)

    def finish(self, manifest: dict, series: xr.DataArray) -> Path:
        """Write diagnostics and the manifest (last), then swap the store into place."""
        series.to_netcdf(self.partial / SERIES)
        (self.partial / MANIFEST).write_text(json.dumps(manifest, indent=2))
        if self.directory.exists():
            shutil.rmtree(self.directory)
        self.partial.rename(self.directory)
        return self.directory

    def abort(self) -> None:
        """Remove the partial store."""
        shutil.rmtree(self.partial, ignore_errors=True)
