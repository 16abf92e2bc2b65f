"""The tutorial notebooks: stored without outputs, with the cookbook sections, and running offline.

Each notebook is executed with nbclient in the fast setting (``CLIMAX_NB_FAST=1``),
offline, in their numbered order. All share one cache of data and models for the
module: ``$CLIMAX_NB_CACHE`` if set (reuse a session cache), else a temporary
directory, so the embedded GCM is simulated and the tutorial models are trained
at most once.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.notebooks  # executes the tutorial notebooks (which simulate with the GCM)

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = (
    "00_quickstart.ipynb",
    "01_data.ipynb",
    "02_model_anatomy.ipynb",
    "03_pretraining.ipynb",
    "04_finetuning.ipynb",
    "05_forecasting.ipynb",
    "06_evaluation.ipynb",
    "07_attention.ipynb",
    "08_real_data.ipynb",
    "09_masked_pretraining.ipynb",
    "10_masked_tasks.ipynb",
    "11_ablations.ipynb",
    "12_regional_forecasting.ipynb",
    "13_downscaling.ipynb",
    "14_subseasonal.ipynb",
    "15_climate_projection.ipynb",
)
SECTIONS = ("Overview", "Prerequisites", "Imports", "Summary", "What's next")
#: What the outputs of a notebook must show: the scorecards' GCM rows (the embedded GCM's own forecasts).
SHOWN = {
    "00_quickstart.ipynb": ("gcm-analysis", "gcm-twin"),
    "06_evaluation.ipynb": ("| gcm-analysis |", "| gcm-twin |", "of the way from persistence to gcm-analysis"),
}
#: Notebooks that draw results tables only (``experiments/results/<name>.csv``), with the figures each table gives:
#: a table not made yet gives the command that makes it instead.
FROM_TABLES = {"11_ablations.ipynb": {"data_fraction": 2, "ablations": 1, "scaling": 1}}
RESULTS_DIR = NOTEBOOKS_DIR.parent / "experiments" / "results"
TIMEOUT_S = 900  # per cell; the first notebook simulates the data and trains the models


def _headings(nb: nbformat.NotebookNode) -> list[str]:
    return [
        line.lstrip("#").strip()
        for cell in nb.cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("#")
    ]


def test_every_notebook_is_listed():
    assert sorted(p.name for p in NOTEBOOKS_DIR.glob("*.ipynb")) == sorted(NOTEBOOKS)
    index = (NOTEBOOKS_DIR / "README.md").read_text()
    assert all(name in index for name in NOTEBOOKS)


def test_notebooks_link_to_the_next_one():
    for name, following in zip(NOTEBOOKS[:-1], NOTEBOOKS[1:], strict=True):
        nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
        last = nb.cells[-1].source
        assert "What's next" in last and f"({following})" in last, f"{name} should point to {following}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_clean_with_sections(name):
    nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook without code"
    assert all(c.outputs == [] and c.execution_count is None for c in code), "outputs not stripped"
    headings = _headings(nb)
    assert headings[0][:2].isdigit(), f"the title should start with the notebook number, got {headings[0]!r}"
    positions = [next((i for i, h in enumerate(headings) if h == s), None) for s in SECTIONS]
    missing = [s for s, p in zip(SECTIONS, positions, strict=True) if p is None]
    assert not missing, f"missing sections: {missing}"
    assert positions == sorted(positions), f"sections out of order: {headings}"
    content = headings[positions[2] + 1 : positions[3]]
    assert content, "no content sections between Imports and Summary"
    fast_cell = next(c.source for c in code if "CLIMAX_NB_FAST" in c.source)
    assert "CLIMAX_NB_CACHE" in fast_cell


def _output_text(output: nbformat.NotebookNode) -> str:
    """The text of one cell output: a stream, or a result's plain text and HTML."""
    if output.output_type == "stream":
        return output.text
    data = output.get("data", {})
    return "\n".join(str(data.get(kind, "")) for kind in ("text/plain", "text/html"))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> str:
    return os.environ.get("CLIMAX_NB_CACHE") or str(tmp_path_factory.mktemp("notebook_cache"))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_fast_setting(name, cache_dir, monkeypatch):
    monkeypatch.setenv("CLIMAX_NB_FAST", "1")
    monkeypatch.setenv("CLIMAX_NB_CACHE", cache_dir)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("CLIMAX_NB_OFFLINE", "1")  # the cells that need the network are skipped
    nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    client = NotebookClient(
        nb, timeout=TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError naming the failing cell
    elapsed = time.perf_counter() - start
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    text = "\n".join(_output_text(o) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    if name in FROM_TABLES:
        made = {t: n for t, n in FROM_TABLES[name].items() if (RESULTS_DIR / f"{t}.csv").is_file()}
        assert images == sum(made.values()), "a results table was not drawn"
        assert text.count("has not been made yet") == len(FROM_TABLES[name]) - len(made), "a missing table unsaid"
    else:
        assert images >= 2, "figures were not displayed"
    missing = [s for s in SHOWN.get(name, ()) if s not in text]
    assert not missing, f"the outputs do not show {missing}"
    print(f"{name}: {elapsed:.0f} s")
