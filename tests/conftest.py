"""Shared fixtures: small canonical datasets made in the test.

With ``CLIMAX_NB_KEEP_EXECUTED=<folder>`` set, every tutorial notebook that a test executes
(``tests/test_notebooks.py``) is also written, with its outputs, to ``<folder>/<name>.ipynb``
once it ran without error: the book (``make book``, ``book/README.md``) is built from those
copies, so the notebooks are executed once for both the test and the book.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from climax_nb.data.ranges import PLAUSIBLE
from climax_nb.grid import WB5625
from climax_nb.variables import VARIABLES


def typical(vid: str) -> tuple[float, float]:
    """A plausible ``(centre, spread)`` of ``vid`` for synthetic fields: 280 +- 1 where that is plausible."""
    low, high = PLAUSIBLE[vid]
    centre = 280.0 if low < 270 and high > 290 else (low + high) / 2
    return centre, min(1.0, (high - low) / 100)


def make_canonical(ids=("z500", "t850", "t2m", "lsm"), steps: int = 8, start: str = "2000-01-01") -> xr.Dataset:
    """A tiny canonical dataset on the 5.625 degree grid with plausible values."""
    rng = np.random.default_rng(0)
    time = pd.date_range(start, periods=steps, freq="6h")
    lat, lon = WB5625.lat, WB5625.lon
    fields = {}
    for vid in ids:
        var = VARIABLES[vid]
        if var.kind == "constant":
            data, dims = rng.random((len(lat), len(lon))), ("lat", "lon")
        else:
            centre, spread = typical(vid)
            data, dims = centre + spread * rng.standard_normal((steps, len(lat), len(lon))), ("time", "lat", "lon")
        fields[vid] = xr.DataArray(data.astype(np.float32), dims=dims, attrs={"units": var.units})
    return xr.Dataset(fields, coords={"time": time, "lat": lat, "lon": lon})


@pytest.fixture
def canonical() -> xr.Dataset:
    return make_canonical()


@pytest.fixture
def offline(monkeypatch):
    """Any cartopy download raises; the default (unset) data folder; an empty geometry cache."""
    from pathlib import Path

    import cartopy
    import cartopy.feature
    import cartopy.io

    def refuse(*args, **kwargs):
        raise AssertionError("cartopy tried to download a file")

    import cartopy.io.shapereader  # noqa: F401  (registers the Natural Earth and GSHHS downloaders)

    classes = [cartopy.io.Downloader]
    while classes:
        cls = classes.pop()
        monkeypatch.setattr(cls, "acquire_resource", refuse)
        classes.extend(cls.__subclasses__())
    monkeypatch.setattr(cartopy.io, "urlopen", refuse)
    monkeypatch.setattr("urllib.request.urlopen", refuse)
    monkeypatch.setattr("socket.create_connection", refuse)
    monkeypatch.delenv("CARTOPY_DATA_DIR", raising=False)
    monkeypatch.setitem(cartopy.config, "pre_existing_data_dir", Path(""))
    monkeypatch.setattr(cartopy.feature, "_NATURAL_EARTH_GEOM_CACHE", {})


NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"


def _cell_sources(nb) -> tuple[str, ...]:
    return tuple(cell.source for cell in nb.cells)


def _keep_executed_notebooks(folder: Path) -> None:
    """Wrap ``nbclient.NotebookClient.execute`` to save each executed tutorial notebook in ``folder``."""
    import nbclient
    import nbformat

    sources = {
        _cell_sources(nbformat.read(path, as_version=4)): path.name for path in sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
    }
    execute = nbclient.NotebookClient.execute
    if getattr(execute, "keeps_notebooks_in", None) == folder:
        return

    def execute_and_keep(self, *args, **kwargs):
        result = execute(self, *args, **kwargs)  # raises on a failing cell: nothing is kept
        name = sources.get(_cell_sources(self.nb))
        if name is not None:
            folder.mkdir(parents=True, exist_ok=True)
            partial = folder / f".{name}.partial"
            nbformat.write(self.nb, partial)
            partial.replace(folder / name)
        return result

    execute_and_keep.keeps_notebooks_in = folder
    nbclient.NotebookClient.execute = execute_and_keep


def pytest_configure(config):
    folder = os.environ.get("CLIMAX_NB_KEEP_EXECUTED")
    if folder:
        _keep_executed_notebooks(Path(folder).resolve())
