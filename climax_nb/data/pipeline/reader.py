"""Reading normalised blocks of time steps from a lazy canonical dataset.

One read fetches a set of time positions for all time-varying variables at
once, so per-read overhead (dask graphs, zarr/NetCDF calls) is shared by every
sample in the block. Dask runs synchronously here: DataLoader workers supply
the parallelism, and a thread pool inside each worker would fight them for cores.
"""

from __future__ import annotations

from collections.abc import Sequence

import dask
import numpy as np
import xarray as xr

from climax_nb.data.fields import constant_field
from climax_nb.data.stats import Normalizer

#: Bytes of covering slices held at once while reading a block.
SPAN_BYTES = 64 * 2**20


#: Read runs of consecutive positions separately when the covering slice is this many times longer...
SPARSE_RATIO = 2
#: ...and there are at most this many runs.
MAX_RUNS = 8


def read_plan(positions: np.ndarray) -> tuple[list[slice], np.ndarray | None]:
    """Slices to read for sorted unique ``positions``, and the rows to keep (None: keep all)."""
    runs = np.split(positions, np.flatnonzero(np.diff(positions) != 1) + 1)
    span = int(positions[-1] - positions[0] + 1)
    if len(runs) == 1 or (span > SPARSE_RATIO * len(positions) and len(runs) <= MAX_RUNS):
        return [slice(int(r[0]), int(r[-1]) + 1) for r in runs], None
    return [slice(int(positions[0]), int(positions[-1]) + 1)], positions - positions[0]


def _keep(parts: Sequence[np.ndarray], rows: np.ndarray | None) -> np.ndarray:
    values = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return values if rows is None else values[rows]


class BlockReader:
    """Normalised float32 ``[n, V, H, W]`` blocks of ``variables`` at given time positions."""

    def __init__(self, ds: xr.Dataset, variables: Sequence[str], normalizer: Normalizer):
        self.variables = list(variables)
        self._fields = [ds[v].variable for v in self.variables]
        mean, std = normalizer.vectors(self.variables)
        self._mean = mean[None, :, None, None]
        self._scale = (1.0 / std)[None, :, None, None]
        self.shape = (ds.sizes["lat"], ds.sizes["lon"])

    def read(self, positions: np.ndarray) -> np.ndarray:
        """Normalised values at the sorted, unique time ``positions``.

        Backends read contiguous slices far faster than scattered steps, so each
        variable is read as the slice covering all positions (keeping the rows
        needed), or, when that slice would be mostly unused, as a few slices, one
        per run of consecutive positions. Variables go in groups (one dask graph
        each) so the slices held at once stay near ``SPAN_BYTES``.
        """
        positions = np.asarray(positions, dtype=np.int64)
        out = np.empty((len(positions), len(self.variables), *self.shape), dtype=np.float32)
        if len(positions) == 0:
            return out
        slices, rows = read_plan(positions)
        steps = sum(sl.stop - sl.start for sl in slices)
        per_group = max(1, SPAN_BYTES // (4 * steps * self.shape[0] * self.shape[1]))
        lazy = [k for k, f in enumerate(self._fields) if f.chunks is not None]
        for start in range(0, len(lazy), per_group):
            group = lazy[start : start + per_group]
            parts = dask.compute(*[self._fields[k].data[sl] for k in group for sl in slices], scheduler="synchronous")
            for i, k in enumerate(group):
                out[:, k] = _keep(parts[i * len(slices) : (i + 1) * len(slices)], rows)
        for k, field in enumerate(self._fields):
            if field.chunks is None:  # numpy or a backend's lazily indexed array: read directly
                out[:, k] = _keep([field[sl].values for sl in slices], rows)
        out -= self._mean
        out *= self._scale
        return out

    @property
    def step_bytes(self) -> int:
        """Bytes of one time step of all variables, as read."""
        return 4 * len(self.variables) * self.shape[0] * self.shape[1]


def normalised_constants(ds: xr.Dataset, variables: Sequence[str], normalizer: Normalizer) -> np.ndarray:
    """Constants as a normalised float32 ``[C, H, W]`` array, read once and broadcast into every input."""
    if not variables:
        return np.zeros((0, ds.sizes["lat"], ds.sizes["lon"]), dtype=np.float32)
    mean, std = normalizer.vectors(list(variables))
    fields = np.stack([constant_field(ds, v) for v in variables])
    return ((fields - mean[:, None, None]) / std[:, None, None]).astype(np.float32)
