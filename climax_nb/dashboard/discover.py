"""The checkpoints and forecasts the dashboard offers: named on the command line, or found on disk.

Scientists rarely remember where a run wrote its ``model.pt``; the dashboard
looks in the cache (``$CLIMAX_NB_CACHE``) and in the folders it is given
(``outputs/`` by default) so the page lists every result without typing paths.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["checkpoint", "forecast"]

#: File names of forecast checkpoints written by ``climax-nb pretrain/finetune`` (``run_dir/model.pt``).
CHECKPOINT_NAMES: tuple[str, ...] = ("model.pt",)
#: Forecast files written by ``climax-nb forecast`` / ``save_forecast``.
FORECAST_SUFFIXES: tuple[str, ...] = (".nc", ".zarr")
#: Folders under the cache that hold data or intermediate results, never checkpoints to show.
SKIP_DIRS: frozenset[str] = frozenset({"embedded", "jax", "dashboard", "lightning_logs", "checkpoints"})


@dataclass(frozen=True)
class Entry:
    """One choice in the dashboard: a checkpoint to forecast with, or a saved forecast to score."""

    name: str
    path: Path
    kind: Kind

    @property
    def label(self) -> str:
        """What the page shows in the choice list."""
        return f"{self.kind}: {self.name}"


def is_forecast_file(path: Path) -> bool:
    """True when ``path`` holds the forecast layout (``init_time`` and ``lead_time`` dimensions)."""
    import xarray as xr

    try:
        opener = xr.open_zarr if path.suffix == ".zarr" else xr.open_dataset
        with opener(path, decode_times=False) as ds:
            return {"init_time", "lead_time"} <= set(ds.dims)
    except Exception:  # unreadable or not a dataset: simply not offered
        return False


def _walk(root: Path, max_depth: int) -> Iterator[Path]:
    """Files and ``*.zarr`` folders under ``root``, skipping data stores and caches."""
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        depth = len(here.relative_to(root).parts)
        zarrs = [d for d in dirnames if d.endswith(".zarr")]
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".") and d not in zarrs]
        if depth >= max_depth:
            dirnames[:] = []
        yield from (here / d for d in sorted(zarrs))
        yield from (here / f for f in sorted(filenames))


def find_entries(root: str | os.PathLike, max_depth: int = 5) -> list[Entry]:
    """Checkpoints (``model.pt``) and forecast files under ``root``, named by their path relative to it."""
    root = Path(root).expanduser()
    found = []
    for path in _walk(root, max_depth):
        name = str(path.relative_to(root))
        if path.name in CHECKPOINT_NAMES:
            found.append(Entry(name, path, "checkpoint"))
        elif path.suffix in FORECAST_SUFFIXES and is_forecast_file(path):
            found.append(Entry(name, path, "forecast"))
    return found


def entries(
    checkpoints: Iterable[str | os.PathLike] = (),
    forecasts: Iterable[str | os.PathLike] = (),
    search: Iterable[str | os.PathLike] = (),
) -> list[Entry]:
    """Named checkpoints and forecasts first (even missing ones, so the page can say so), then those found.

    A file named and found is listed once.
    """
    listed = [Entry(str(p), Path(p).expanduser(), "checkpoint") for p in checkpoints]
    listed += [Entry(str(p), Path(p).expanduser(), "forecast") for p in forecasts]
    for root in search:
        listed += find_entries(root)
    seen: set[tuple[Path, str]] = set()
    unique = []
    for entry in listed:
        key = (entry.path.resolve(), entry.kind)
        if key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique
