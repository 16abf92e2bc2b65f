"""``data.in_memory``: the chosen years loaded and validated in memory, the same values as the lazy read."""

from __future__ import annotations

import numpy as np
import pytest

from climax_nb.data.schema import SchemaError
from climax_nb.train.run import DataSection
from tests.conftest import make_canonical


@pytest.fixture
def three_years(tmp_path):
    ds = make_canonical(steps=3 * 1461, start="2000-01-01")  # 2000 to 2002, 6-hourly
    path = tmp_path / "data.zarr"
    ds.chunk({"time": 500}).to_zarr(path)
    return path


def test_in_memory_keeps_the_training_and_validation_years_as_arrays(three_years):
    lazy = DataSection(sources=(str(three_years),)).open()["data"]
    loaded = DataSection(sources=(str(three_years),), train_years=(2000,), val_years=(2002,), in_memory=True).open()
    ds = loaded["data"]
    assert sorted(set(ds.time.dt.year.values)) == [2000, 2002]
    assert all(ds[v].chunks is None for v in ds.data_vars)  # numpy-backed: batches are array indexing
    same = lazy.sel(time=ds.time)
    for v in ds.data_vars:
        np.testing.assert_array_equal(ds[v].values, same[v].values)


def test_in_memory_still_finds_bad_values(three_years, tmp_path):
    ds = make_canonical(steps=20, start="2000-01-01")
    ds["t850"][3, 5, 7] = np.nan
    path = tmp_path / "bad.zarr"
    ds.to_zarr(path)
    with pytest.raises(SchemaError, match="t850"):
        DataSection(sources=(str(path),), in_memory=True).open()
