"""The hyperdiffusion sweep: chosen on one year, reported on another, on tiny data."""

from __future__ import annotations

import pandas as pd
import pytest

from climax_nb.forecast import save_forecast_checkpoint
from tests.forecast_helpers import initial_state, tiny_checkpoint
from tests.scripts import load_script


@pytest.fixture(scope="module")
def sweep():
    return load_script("experiments/rollout_hyperdiffusion.py")


def test_the_choice_is_made_on_validation_and_reported_on_test(sweep, tmp_path, capsys):
    ckpt = tiny_checkpoint(leads=(6.0, 24.0))
    path = save_forecast_checkpoint(tmp_path / "model.pt", ckpt.model, ckpt.spec)
    data = tmp_path / "truth.nc"
    initial_state(steps=17).to_netcdf(data)  # 4 days of 2000: both "years" are 2000 here
    out = tmp_path / "out"
    args = ["--checkpoint", str(path), "--data", str(data), "--validation-year", "2000", "--test-year", "2000",
            "--days", "2", "--every-days", "1", "--settings", "8:3", "4:1", "--out", str(out)]
    text = sweep.main(args)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["2000-4-1", "2000-8-3", "2000-none"]
    chosen = text.split("Chosen: ")[1].split(" ")[0]
    assert chosen in ("8:3", "4:1")
    rows = {s: sweep.summary(out, 2000, s) for s in ("none", "8:3", "4:1")}
    best = min(("8:3", "4:1"), key=lambda s: rows[s]["worst |log ratio|"])
    assert chosen == best and rows["4:1"]["highest power"] < rows["none"]["highest power"]
    capsys.readouterr()
    again = sweep.main(["--out", str(out), "--from-results", "--validation-year", "2000", "--test-year", "2000",
                        "--settings", "8:3", "4:1"])
    assert again == text and (out / sweep.REPORT).read_text().strip() == text.strip()
    assert "made by `python experiments/rollout_hyperdiffusion.py --checkpoint" in text


def test_a_choice_needs_the_rmse_target_and_settings_have_one_form(sweep):
    table = pd.DataFrame([{"setting": "none", "worst |log ratio|": 2.0, "120 h within 10 %": True},
                          {"setting": "8:3", "worst |log ratio|": 0.1, "120 h within 10 %": False},
                          {"setting": "8:6", "worst |log ratio|": 0.5, "120 h within 10 %": True}])
    assert sweep.choose(table) == "8:6"
    with pytest.raises(SystemExit, match="no setting keeps the 120 h RMSE within 10 %"):
        sweep.choose(table[table["setting"] != "8:6"])
    with pytest.raises(SystemExit, match="ORDER:HOURS, e.g. 8:3"):
        sweep.main(["--settings", "3h", "--from-results"])
