"""Streaming from zarr keeps peak memory flat: four years cost no more than one."""

import json
import subprocess
import sys
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from climax_nb.grid import Grid

GRID = Grid.weatherbench(2.8125)  # 64 x 128
IDS = ("z500", "t2m")

MEASURE = """
import json, sys, tracemalloc
import xarray as xr
from climax_nb.data.pipeline import StreamingForecastDataset
from climax_nb.data.stats import Normalizer

ids = ["z500", "t2m"]
norm = Normalizer(dict.fromkeys(ids, 0.0), dict.fromkeys(ids, 1.0))


def stream(path, samples):
    ds = xr.open_zarr(path, consolidated=False)
    data = StreamingForecastDataset(ds, ids, ids, norm, leads=[24, 48], block_size=8, buffer_blocks=2)
    for n, sample in enumerate(data):
        if n == samples:
            break
    return len(data)


stream(sys.argv[1], 10)  # first use imports and caches things; keep that out of the comparison
out = []
for path in sys.argv[1:]:
    tracemalloc.start()
    pairs = stream(path, 40)
    out.append({"peak": tracemalloc.get_traced_memory()[1], "pairs": pairs})
    tracemalloc.stop()
print(json.dumps(out))
"""


def write_years(path: Path, years: int) -> int:
    """Daily fields for ``years`` years, generated and written chunk by chunk; returns bytes per year."""
    time = pd.date_range("2001-01-01", f"{2000 + years}-12-31", freq="D")
    shape = (len(time), *GRID.shape)
    fields = {}
    for k, vid in enumerate(IDS):
        values = (
            da.arange(len(time), chunks=32, dtype=np.float32)[:, None, None] + k + da.zeros(shape, chunks=(32, -1, -1))
        )
        fields[vid] = xr.DataArray(values.astype(np.float32), dims=("time", "lat", "lon"), attrs={"units": "K"})
    fields["z500"].attrs["units"] = "m2 s-2"
    xr.Dataset(fields, coords={"time": time, "lat": GRID.lat, "lon": GRID.lon}).to_zarr(path, consolidated=False)
    return 365 * len(IDS) * GRID.shape[0] * GRID.shape[1] * 4


def peak_bytes(*paths: Path) -> list[dict]:
    """Peak traced memory while opening and streaming 40 samples from each store, in a fresh process."""
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, *map(str, paths)], capture_output=True, text=True, cwd=root, check=False
    )
    if result.returncode:
        pytest.fail(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_peak_memory_does_not_grow_with_years(tmp_path):
    year_bytes = write_years(tmp_path / "one.zarr", 1)
    write_years(tmp_path / "four.zarr", 4)
    one, four = peak_bytes(tmp_path / "one.zarr", tmp_path / "four.zarr")
    assert four["pairs"] > 3.9 * one["pairs"]
    assert four["peak"] < 1.25 * one["peak"] + 2**20, (one, four)
    assert four["peak"] < year_bytes / 4, (four, year_bytes)
