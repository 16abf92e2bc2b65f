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

        Each variable is read as one contiguous slice covering all positions (backends
        read slices far faster than scattered steps), then the rows needed are kept;
        variables go in groups so the slices in memory stay near ``SPAN_BYTES``.
        """
        positions = np.asarray(positions, dtype=np.int64)
        out = np.empty((len(positions), len(self.variables), *self.shape), dtype=np.float32)
        if len(positions) == 0:
            return out
        span = slice(int(positions[0]), int(positions[-1]) + 1)
        rows = positions - positions[0]
        contiguous = len(rows) == rows[-1] + 1
        span_bytes = 4 * (span.stop - span.start) * self.shape[0] * self.shape[1]
        per_group = max(1, SPAN_BYTES // span_bytes)
        lazy = [k for k, f in enumerate(self._fields) if f.chunks is not None]
        for start in range(0, len(lazy), per_group):  # one dask graph per group: far less overhead than one each
            group = lazy[start : start + per_group]
            values = dask.compute(*[self._fields[k].data[span] for k in group], scheduler="synchronous")
            for k, v in zip(group, values, strict=True):
                out[:, k] = v if contiguous else v[rows]
        for k, field in enumerate(self._fields):
            if field.chunks is None:  # numpy or a backend's lazily indexed array: read directly
                v = field[span].values
                out[:, k] = v if contiguous else v[rows]
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
