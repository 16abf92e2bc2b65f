"""The dashboard inline in a notebook: a Jupyter kernel displays the page and takes widget moves without error."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from tests.dashboard_helpers import SETTINGS, write_tiny

pytestmark = pytest.mark.notebooks  # executes a notebook in a Jupyter kernel

PANEL_MIMETYPE = "application/vnd.holoviews_exec.v0+json"  # Panel's inline output in JupyterLab


def test_the_page_shows_inline_and_follows_its_widgets(tmp_path):
    model, data = write_tiny(tmp_path)
    setup = (f"from climax_nb.dashboard import DataSpec, Settings, extensions, make_dashboard\n"
             f"extensions()\n"
             f"app = make_dashboard([{str(model)!r}], data=DataSpec({str(data)!r}), search=[],\n"
             f"                     settings=Settings(leads={SETTINGS.leads!r}, n_inits={SETTINGS.n_inits}, "
             f"every_hours={SETTINGS.every_hours}), cache_dir={str(tmp_path / 'cache')!r})\n"
             f"app.panel()")
    move = ("before = app.maps['truth'].image.data['image'][0].copy()\n"
            "app.variable.value = 'z500'\n"
            "app.select_point(200.0, -30.0)\n"
            "import numpy as np\n"
            "print(not np.allclose(before, app.maps['truth'].image.data['image'][0], equal_nan=True),\n"
            "      app.bars.figure.title.text)")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(setup), nbformat.v4.new_code_cell(move)])
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    shown, moved = nb.cells[0].outputs, nb.cells[1].outputs
    assert any(PANEL_MIMETYPE in out.get("data", {}) for out in shown), shown
    assert not [out for cell in nb.cells for out in cell.outputs if out.output_type == "error"]
    assert "".join(out.get("text", "") for out in moved).strip() == "True weights at 30.0°S, 160.0°W"
