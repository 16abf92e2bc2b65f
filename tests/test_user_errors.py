"""Library-side user errors named in docs/errors.md: each says what is wrong and how to fix it."""

from __future__ import annotations

import os
import warnings

import pytest
import xarray as xr

from climax_nb.forecast.leads import LeadTimeError, to_hours
from climax_nb.model import parse_region
from climax_nb.model.safe_load import safe_load


def test_random_bytes_are_not_a_checkpoint(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(ValueError, match=r"noise.pt is not a readable checkpoint: not a torch zip file, or a trunc"):
        safe_load(path)


def test_a_lead_that_is_not_a_duration_is_named():
    with pytest.raises(LeadTimeError, match="'garbage' is not a lead time: give hours"):
        to_hours("garbage")
    assert to_hours("10D") == 240.0


def test_a_region_that_is_neither_a_name_nor_a_box_is_named():
    with pytest.raises(ValueError, match=r"region 'Atlantis' is neither one of \[.*NorthAmerica.*\] nor"):
        parse_region("Atlantis")
    box = parse_region("30,60,350,40")
    assert box.lat_range == (30.0, 60.0) and box.lon_range == (350.0, 40.0)


def test_inputs_in_the_wrong_units_warn_before_forecasting():
    from climax_nb.forecast import forecast
    from climax_nb.forecast.model import OutOfDistributionWarning
    from tests.forecast_helpers import initial_state, tiny_checkpoint

    ckpt, ds = tiny_checkpoint(), initial_state()
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutOfDistributionWarning)
        forecast(ckpt, ds, [6], init_times=ds.time.values[:1])  # the data the statistics describe: no warning
    shifted = ds.assign(t2m=ds["t2m"] - 273.15)  # degC under units "K"
    with pytest.warns(OutOfDistributionWarning, match=r"t2m: median \|z\| 13\d\.\d .*check their units") as record:
        forecast(ckpt, shifted, [6], init_times=ds.time.values[:1])
    assert "z500" not in str(record[0].message)


def test_a_dataset_without_time_steps_is_refused():
    from climax_nb.data import SchemaError, validate
    from climax_nb.forecast import forecast
    from climax_nb.forecast.state import InitialStateError
    from tests.forecast_helpers import initial_state, tiny_checkpoint

    empty = initial_state().isel(time=slice(0, 0))
    with pytest.raises(SchemaError, match="time: no time steps; fix: select times the data have"):
        validate(empty)
    with pytest.raises(SchemaError, match="no time steps"):
        forecast(tiny_checkpoint(), empty, [6])
    with pytest.raises(InitialStateError, match="no initial times to forecast from"):
        forecast(tiny_checkpoint(), initial_state(), [6], init_times=[])


def test_truth_with_repeated_times_is_named():
    from climax_nb.evaluate import score
    from climax_nb.forecast import forecast
    from climax_nb.metrics.align import MetricInputError
    from tests.forecast_helpers import initial_state, tiny_checkpoint

    ds = initial_state()
    fc = forecast(tiny_checkpoint(), ds, [6], init_times=ds.time.values[:2])
    doubled = xr.concat([ds, ds.isel(time=[3])], "time", data_vars="minimal")
    with pytest.raises(MetricInputError, match=r"truth has 1 repeated time\(s\) \(first 2000-01-01 18:00:00\)"):
        score(fc, doubled, None, baselines=["persistence"], metrics=["rmse"])


def test_an_in_sample_climatology_is_refused_unless_asked_for():
    from climax_nb.evaluate import evaluate
    from climax_nb.forecast import forecast
    from tests.forecast_helpers import initial_state, tiny_checkpoint

    ds = initial_state()
    fc = forecast(tiny_checkpoint(), ds, [6], init_times=ds.time.values[:2])
    with pytest.raises(ValueError, match=r"climatology year\(s\) \[2000\] are years of the forecast"):
        evaluate(fc, ds, ds, [2000], metrics=["rmse"], baselines=["persistence"])
    card = evaluate(fc, ds, ds, [2000], metrics=["rmse"], baselines=["persistence"], in_sample=True)
    assert set(card["model"].values) == {"model", "persistence"}


def _zarr_with_damaged_chunks(path, damage):
    from tests.conftest import make_canonical

    make_canonical(steps=8).chunk({"time": 2}).to_zarr(path, mode="w", consolidated=False)
    chunks = sorted(p for p in (path / "t2m").rglob("*") if p.is_file() and p.name != "zarr.json")
    damage(chunks[1])
    return path


def test_a_truncated_zarr_chunk_names_the_store_and_the_variable(tmp_path):
    from climax_nb.data import DataReadError, open_dataset

    store = _zarr_with_damaged_chunks(tmp_path / "inputs.zarr", lambda p: p.write_bytes(p.read_bytes()[:40]))
    with pytest.raises(DataReadError, match=r"cannot read the values of t2m in .*inputs.zarr .*truncated or corrupt"):
        open_dataset(str(store))


def test_a_missing_zarr_chunk_is_reported_as_missing_values(tmp_path):
    from climax_nb.data import SchemaError, open_dataset

    store = _zarr_with_damaged_chunks(tmp_path / "inputs.zarr", lambda p: p.unlink())
    expected = r"(?s)inputs.zarr is not in the canonical.*t2m: 4096 NaN .*missing chunk files"
    with pytest.raises(SchemaError, match=expected):
        open_dataset(str(store))
