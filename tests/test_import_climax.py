"""Released ClimaX weights and ClimaX's statistics files become one forecast checkpoint (`climax-nb import-climax`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from climax_nb import cli
from climax_nb.defaults import PRETRAIN_LEADS
from climax_nb.forecast import SpecError, forecast, open_model
from climax_nb.forecast.importing import import_climax
from climax_nb.model import load_official_checkpoint, write_released_style_checkpoint
from climax_nb.variables import CLIMAX_DEFAULT_IDS, CLIMAX_DEFAULT_VARS, VARIABLES, is_dynamic
from tests.conftest import make_canonical


def _stats_files(folder, drop=()):
    """``normalize_mean.npz`` / ``normalize_std.npz`` keyed by ClimaX's long names, as its preprocessing writes them."""
    names = [n for n in CLIMAX_DEFAULT_VARS if n not in drop]
    np.savez(folder / "normalize_mean.npz", **{n: np.array([0.0 if n == "lattitude" else 280.0]) for n in names})
    np.savez(folder / "normalize_std.npz", **{n: np.array([50.0 if n == "lattitude" else 2.0]) for n in names})
    return folder / "normalize_mean.npz", folder / "normalize_std.npz"


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    folder = tmp_path_factory.mktemp("released")
    torch.manual_seed(0)
    return write_released_style_checkpoint(folder / "5.625deg.ckpt"), folder


def test_the_command_writes_a_checkpoint_that_forecasts(released, tmp_path, capsys):
    ckpt, folder = released
    _stats_files(folder)
    out = tmp_path / "climax.pt"
    assert cli.main(["import-climax", "--checkpoint", str(ckpt), "--stats", str(folder), "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    fm = open_model(out)
    assert fm.inputs == CLIMAX_DEFAULT_IDS and fm.outputs == tuple(v for v in CLIMAX_DEFAULT_IDS if is_dynamic(v))
    assert fm.trained_leads == PRETRAIN_LEADS and fm.grid.name == "5.625deg"
    assert fm.normalizer.mean["t2m"] == 280.0 and fm.normalizer.std["lat"] == 50.0
    # the imported network is the released one, weight for weight
    reference, _ = load_official_checkpoint(ckpt)
    for key, value in reference.state_dict().items():
        assert torch.equal(fm.model.state_dict()[key], value), key
    state = make_canonical(ids=tuple(v for v in CLIMAX_DEFAULT_IDS if v != "lat"), steps=2)
    fc = forecast(out, state, [6], init_times=state.time.values[:1], variables=["z500", "t2m"])
    assert fc.sizes == {"init_time": 1, "lead_time": 1, "lat": 32, "lon": 64}
    assert fc["t2m"].attrs.get("units", VARIABLES["t2m"].units) == "K" and np.isfinite(fc["z500"].values).all()


def test_missing_files_and_statistics_are_named(released, tmp_path):
    ckpt, _ = released
    mean, std = _stats_files(tmp_path, drop=("2m_temperature",))
    with pytest.raises(SpecError, match=r"no statistics for the model's variable\(s\) \['t2m'\]"):
        import_climax(ckpt, mean, std, tmp_path / "out.pt")
    with pytest.raises(FileNotFoundError, match="normalize_mean.npz and normalize_std.npz"):
        import_climax(ckpt, tmp_path / "nothing.npz", std, tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()
