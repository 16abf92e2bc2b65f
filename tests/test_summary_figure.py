import numpy as np
import pytest
from PIL import Image

from climax_nb.viz import summary_figure
from tests.conftest import make_canonical


def test_summary_figure_writes_a_non_blank_png(tmp_path):
    ds = make_canonical(ids=("t2m", "z500", "u250", "lsm"), steps=6)
    path = tmp_path / "out" / "summary.png"
    summary_figure(ds, path, title="test")
    pixels = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert pixels.shape[0] > 300 and pixels.std() > 10


def test_summary_figure_needs_a_drawable_variable():
    ds = make_canonical(ids=("lsm", "sp"), steps=2)
    with pytest.raises(ValueError, match="nothing to draw.*it has"):
        summary_figure(ds)
