"""Space-time cubes for AtmoRep: neighbourhoods at random places and times, per field and level, from several sources.

A *window* is ``T`` consecutive time steps of a source (never across a gap or the data's
ends); each epoch reads every window once, and each window gets a neighbourhood drawn
area-uniformly over the sphere (``NeighbourhoodSampler``), fixed by (seed, epoch, window),
so an epoch's samples do not depend on how it is split over ranks and workers. Values are
normalised per time step by the statistics of its calendar month (``MonthlyNormalizer``:
global, or local with a mean per grid point; another source's when sources share statistics).
Each sample carries its source's forcing (``source_forcing``: the SST offset the embedded
sources record in their attributes, 0 for data that records none, such as ERA5).

The order, the split over DDP ranks and DataLoader workers and the shuffle pool are those of
``StreamingForecastDataset`` (``CubeStream`` gives it windows instead of forecast pairs), and
``CubeBatches`` mixes sources as ``MultiSourceDataset`` does. A sample is a dict::

    cubes      tuple of float32 [levels, T, H, W], one per field of ``fields``
    fields     tuple of the field ids the source holds (AtmoRep reads any subset of its fields)
    time       int64 [T], nanoseconds since 1970
    lat, lon   float32 [H] and [W], the cells' latitudes and longitudes (degrees; lon wrapped)
    sst_offset float32, the source's SST offset (K) from the control climate
    sample_id  int64, the window's index in its source
    source     str
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch.utils.data import IterableDataset

from climax_nb.data.monthly import MonthlyNormalizer, months_of
from climax_nb.data.pipeline.dataset import StreamingForecastDataset
from climax_nb.data.pipeline.multisource import EmptyEpochError, MultiSourceDataset
from climax_nb.data.pipeline.pairs import data_interval
from climax_nb.data.pipeline.reader import BlockReader
from climax_nb.data.pipeline.sharding import epoch_rng, rank_and_world
from climax_nb.data.stats import Normalizer
from climax_nb.model.atmorep.config import FieldSpec
from climax_nb.model.atmorep.sampling import NeighbourhoodSampler
from climax_nb.model.atmorep.tokens import FORCINGS

_CUBE_KEY = 5
#: Windows per read (consecutive windows share all but one of their steps).
BLOCK_WINDOWS = 32


def window_starts(times: np.ndarray, steps: int) -> np.ndarray:
    """Positions ``p`` where ``times[p : p + steps]`` are consecutive steps of the data interval (no gap)."""
    times = np.asarray(times, dtype="datetime64[ns]")
    if steps < 1:
        raise ValueError(f"a window needs at least one time step, got {steps}")
    if len(times) < steps:
        return np.zeros(0, dtype=np.int64)
    if steps == 1:
        return np.arange(len(times), dtype=np.int64)
    interval = data_interval(times)
    starts = np.arange(len(times) - steps + 1)
    return starts[times[starts + steps - 1] - times[starts] == (steps - 1) * interval].astype(np.int64)


def source_forcing(ds: xr.Dataset, name: str = "") -> dict[str, float]:
    """The source's forcings (``FORCINGS``, e.g. ``sst_offset`` in K) from its attributes; 0 where it records none.

    The embedded sources record their configuration's ``sst_offset`` (``warm-sst``: 2.0); data
    from outside (ERA5, WeatherBench) record none and are the control climate, 0.
    """
    out = {}
    for key in FORCINGS:
        raw = ds.attrs.get(key, 0.0)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = float("nan")
        if not np.isfinite(value):
            raise ValueError(f"source {name!r} has attribute {key}={raw!r}; it must be a finite number (K), or "
                             "absent for the control climate (0)")
        out[key] = value
    return out


def fields_in(ds: xr.Dataset, fields: Sequence[FieldSpec]) -> list[FieldSpec]:
    """The fields all of whose level variables ``ds`` holds (a source may lack some fields)."""
    return [f for f in fields if all(v in ds.data_vars for v in f.variables)]


@dataclass(frozen=True)
class CubeBlock:
    """Normalised values ``[positions, V, H, W]`` of a run of windows, and each window's neighbourhood cells."""

    positions: np.ndarray
    data: np.ndarray
    window_ids: np.ndarray
    lat: np.ndarray
    lon: np.ndarray


class CubeBuilder:
    """The windows of one source and the cubes of any of them, for the fields of ``fields`` it holds."""

    def __init__(self, ds: xr.Dataset, fields: Sequence[FieldSpec], normalizer: MonthlyNormalizer,
                 size: Sequence[int], *, seed: int = 0, name: str = "") -> None:
        self.fields = fields_in(ds, fields)
        if not self.fields:
            wanted = [v for f in fields for v in f.variables]
            raise ValueError(
                f"source {name!r} holds none of the model's fields (variables {wanted}); it has "
                f"{list(map(str, ds.data_vars))}: leave it out of --data.sources or choose fields it has"
            )
        self.size = tuple(int(s) for s in size)
        self.variables = [v for f in self.fields for v in f.variables]
        self.normalizer, self.seed, self.name = normalizer, int(seed), name
        self.times = ds["time"].values.astype("datetime64[ns]")
        self.starts = window_starts(self.times, self.size[0])
        if not len(self.starts):
            raise ValueError(
                f"source {name!r} has no {self.size[0]} consecutive time steps ({len(self.times)} steps) for a "
                f"neighbourhood of {self.size[0]} steps: give more data, or a shorter neighbourhood in time"
            )
        normalizer.month_vectors(self.variables, np.unique(months_of(self.times)))  # every month has statistics
        normalizer.check_grid((ds.sizes["lat"], ds.sizes["lon"]), f"source {name!r}")
        self.forcing = source_forcing(ds, name)
        identity = Normalizer(dict.fromkeys(self.variables, 0.0), dict.fromkeys(self.variables, 1.0))
        self.reader = BlockReader(ds, self.variables, identity)  # raw values: normalised per month below
        self.lat, self.lon = ds["lat"].values.astype(np.float32), ds["lon"].values.astype(np.float32)
        self.sampler = NeighbourhoodSampler(self.lat, self.lon, n_times=self.size[0], size=self.size)
        self._split = np.cumsum([f.num_levels for f in self.fields])[:-1]

    def __len__(self) -> int:
        return len(self.starts)

    def load(self, window_ids: np.ndarray, epoch: int) -> CubeBlock:
        """Read the steps of ``window_ids`` (a run of windows) at once and draw their neighbourhoods."""
        window_ids = np.asarray(window_ids, dtype=np.int64)
        positions = np.unique(self.starts[window_ids][:, None] + np.arange(self.size[0]))
        data = self.normalizer.normalize_steps(self.reader.read(positions), self.variables, self.times[positions])
        hoods = [self.sampler.sample(1, epoch_rng(self.seed, epoch, _CUBE_KEY, int(w))) for w in window_ids]
        return CubeBlock(positions, data, window_ids, np.concatenate([h.lat for h in hoods]),
                         np.concatenate([h.lon for h in hoods]))

    def sample(self, block: CubeBlock, j: int) -> dict[str, Any]:
        """The ``j``-th window of ``block`` as a sample dict (see the module doc)."""
        wid = int(block.window_ids[j])
        steps = self.starts[wid] + np.arange(self.size[0])
        rows = np.searchsorted(block.positions, steps)
        lat, lon = block.lat[j], block.lon[j]
        cube = block.data[np.ix_(rows, np.arange(len(self.variables)), lat, lon)].transpose(1, 0, 2, 3)
        return {
            "cubes": tuple(np.ascontiguousarray(c) for c in np.split(cube, self._split)),
            "fields": tuple(f.id for f in self.fields),
            "time": self.times[steps].astype(np.int64),
            "lat": self.lat[lat],
            "lon": self.lon[lon],
            "sst_offset": np.float32(self.forcing["sst_offset"]),
            "sample_id": np.int64(wid),
            "source": self.name,
        }


class CubeStream(StreamingForecastDataset):
    """A source's windows streamed like ``StreamingForecastDataset``'s pairs: blocks, ranks, workers, a shuffle pool.

    Only the builder differs (``CubeBuilder`` instead of forecast pairs); ``shuffle=False``
    streams windows in time order with fixed neighbourhoods (for validation).
    """

    def __init__(self, builder: CubeBuilder, *, block_size: int = BLOCK_WINDOWS, buffer_blocks: int = 4,
                 shuffle: bool = True, rank: int | None = None, world_size: int | None = None) -> None:
        IterableDataset.__init__(self)  # StreamingForecastDataset.__init__ would build forecast pairs
        if block_size < 1 or buffer_blocks < 1:
            raise ValueError(f"block_size and buffer_blocks must be >= 1, got {block_size} and {buffer_blocks}")
        self.builder, self.seed, self.epoch = builder, builder.seed, 0
        self.block_size, self.buffer_blocks, self.shuffle = int(block_size), int(buffer_blocks), bool(shuffle)
        self.rank, self.world_size = rank, world_size
        if rank is not None or world_size is not None:
            rank_and_world(rank, world_size)


def collate_cubes(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack cube samples of one source into a batch: ``cubes`` a list of ``[B, levels, T, H, W]`` per field."""
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    first = samples[0]
    for key in ("fields", "source"):
        odd = [s[key] for s in samples if s[key] != first[key]]
        if odd:
            raise ValueError(f"samples in one batch must share '{key}': got {first[key]!r} and {odd[0]!r}")
    batch: dict[str, Any] = {
        "cubes": [torch.from_numpy(np.stack([s["cubes"][i] for s in samples])) for i in range(len(first["fields"]))],
    }
    for key in ("time", "lat", "lon", "sample_id", "sst_offset"):
        if key in first:
            batch[key] = torch.from_numpy(np.stack([np.asarray(s[key]) for s in samples]))
    batch.update(fields=first["fields"], source=first["source"])
    return batch


class CubeBatches(MultiSourceDataset):
    """Whole batches of cubes, each from one source (its own fields), sources mixed as ``MultiSourceDataset`` does."""

    collate = staticmethod(collate_cubes)

    def check_batches(self, num_workers: int = 0) -> None:
        """Refuse a setup whose epochs hold no batch at all (incomplete batches are dropped)."""
        if sum(self.batches_per_epoch(num_workers).values()) > 0:
            return
        windows = {name: len(src.builder) for name, src in self.sources.items()}
        steps = next(iter(self.sources.values())).builder.size[0]
        counts = "; ".join(f"{n}: {w} windows" for n, w in windows.items())
        raise EmptyEpochError(
            f"every epoch would be empty: no source has enough windows of {steps} consecutive steps for one batch of "
            f"{self.batch_size} per DDP rank and worker ({counts}); "
            "use more days of data, a smaller batch size (--data.batch_size), fewer DataLoader workers, or a "
            "shorter neighbourhood in time",
            pairs=windows, batch_size=self.batch_size,
        )


__all__ = [
    "CubeBatches",
    "CubeBlock",
    "CubeBuilder",
    "CubeStream",
    "collate_cubes",
    "fields_in",
    "source_forcing",
    "window_starts",
]
