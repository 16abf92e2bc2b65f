"""The book: one page per notebook, built from the copies the notebook test writes, never stale.

The build itself (``book/build.py``) runs after the test suite in ``make test``, on the notebooks
that ``tests/test_notebooks.py`` executed; these tests check its configuration, the hook in
``tests/conftest.py`` that writes the copies, and the refusal of missing or outdated copies.
"""

from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat
import pytest
import yaml

from tests.conftest import NOTEBOOKS_DIR, _keep_executed_notebooks
from tests.scripts import load_script

BOOK = Path(__file__).resolve().parents[1] / "book"


def _build_module():
    return load_script("book/build.py")


def test_toc_has_every_notebook_in_order_and_nothing_is_executed():
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    pages = [chapter["file"] for chapter in toc["chapters"]]
    assert pages == [f"notebooks/{p.stem}" for p in sorted(NOTEBOOKS_DIR.glob("*.ipynb"))]
    config = yaml.safe_load((BOOK / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"


def _fake_execute(self, **kwargs):
    for cell in self.nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
    return self.nb


def test_executed_tutorial_notebooks_are_kept_and_others_are_not(tmp_path, monkeypatch):
    monkeypatch.setattr(nbclient.NotebookClient, "execute", _fake_execute)
    _keep_executed_notebooks(tmp_path)
    name = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))[0].name
    nbclient.NotebookClient(nbformat.read(NOTEBOOKS_DIR / name, as_version=4)).execute()
    nbclient.NotebookClient(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])).execute()
    assert [p.name for p in tmp_path.iterdir()] == [name]
    kept = nbformat.read(tmp_path / name, as_version=4)
    assert all(c.outputs for c in kept.cells if c.cell_type == "code")


def test_a_failing_notebook_is_not_kept(tmp_path, monkeypatch):
    def fail(self, **kwargs):
        raise nbclient.exceptions.CellExecutionError("a cell failed", "ValueError", "boom")

    monkeypatch.setattr(nbclient.NotebookClient, "execute", fail)
    _keep_executed_notebooks(tmp_path)
    name = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))[0].name
    with pytest.raises(nbclient.exceptions.CellExecutionError):
        nbclient.NotebookClient(nbformat.read(NOTEBOOKS_DIR / name, as_version=4)).execute()
    assert not list(tmp_path.iterdir())


def test_build_refuses_missing_and_outdated_copies(tmp_path, monkeypatch):
    build = _build_module()
    monkeypatch.setattr(build, "EXECUTED", tmp_path)
    monkeypatch.setattr(build, "BOOK", tmp_path.parent)
    names = [p.name for p in sorted(NOTEBOOKS_DIR.glob("*.ipynb"))]
    assert len(build.stale_copies()) == len(names)
    for name in names:
        nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
        _fake_execute(type("Client", (), {"nb": nb})())
        nbformat.write(nb, tmp_path / name)
    assert build.stale_copies() == []
    changed = nbformat.read(tmp_path / names[0], as_version=4)
    changed.cells[0].source += "\nedited"
    nbformat.write(changed, tmp_path / names[0])
    assert build.stale_copies() == [f"{names[0]}: changed since it was executed"]
