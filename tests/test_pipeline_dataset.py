"""Samples hold the right normalised fields at the right times; errors name the problem."""

import numpy as np
import pandas as pd
import pytest
import torch

from climax_nb.data.pipeline import ForecastDataset, StreamingForecastDataset, collate
from climax_nb.data.pipeline.reader import read_plan
from climax_nb.data.select import NotInSourceError
from climax_nb.data.stats import MissingStatsError, Normalizer, compute_stats
from climax_nb.variables import UnknownVariableError
from tests.pipeline_data import code, encoded, gapped_times, identity

IDS = ("z500", "t850", "t2m", "lsm", "orography")
INPUTS = ["lsm", "z500", "lat", "t850", "orography", "t2m"]
OUTPUTS = ["t2m", "z500"]


@pytest.fixture(scope="module")
def ds():
    return encoded(IDS, gapped_times())


def stored(sample_x: torch.Tensor, slot: int) -> float:
    return float(sample_x[slot].mean())


def check_sample(s, ds, lead_hours):
    init = np.datetime64(int(s["init_time"]), "ns")
    assert float(s["lead_time"]) == lead_hours
    for slot, vid in enumerate(INPUTS):
        if vid in ("z500", "t850", "t2m"):
            assert stored(s["x"], slot) == code(vid, init)
    target = init + np.timedelta64(int(lead_hours), "h")
    assert [stored(s["y"], k) for k in range(2)] == [code(v, target) for v in OUTPUTS]
    assert torch.equal(s["x"][0], torch.from_numpy(ds["lsm"].values))
    assert torch.allclose(s["x"][2][:, 0], torch.from_numpy(ds["lat"].values).float())


def test_sample_fields_times_and_constants(ds):
    data = ForecastDataset(ds, INPUTS, OUTPUTS, identity(INPUTS), leads=12, name="gcm")
    assert len(data) == 2 * (12 - 2)
    s = data[5]
    assert s["x"].shape == (6, 8, 16) and s["y"].shape == (2, 8, 16)
    assert s["x"].dtype == s["y"].dtype == torch.float32
    assert s["variables"] == tuple(INPUTS) and s["out_variables"] == tuple(OUTPUTS) and s["source"] == "gcm"
    assert int(s["sample_id"]) == 5
    for i in range(len(data)):
        check_sample(data[i], ds, 12.0)


def test_history_adds_a_leading_time_dimension_oldest_first(ds):
    data = ForecastDataset(ds, INPUTS, OUTPUTS, identity(INPUTS), leads=6, history=2)
    s = data[0]
    init = np.datetime64(int(s["init_time"]), "ns")
    assert s["x"].shape == (3, 6, 8, 16)
    got = [stored(s["x"][k], 1) for k in range(3)]
    assert got == [code("z500", init - np.timedelta64(h, "h")) for h in (12, 6, 0)]
    assert torch.equal(s["x"][0, 0], s["x"][2, 0])  # constants in every step


def test_values_are_normalised_with_training_statistics(ds):
    stats = compute_stats(ds, INPUTS)
    data = ForecastDataset(ds, INPUTS, OUTPUTS, stats, leads=6)
    s = data[3]
    init = np.datetime64(int(s["init_time"]), "ns")
    expected = (code("t850", init) - stats.mean["t850"]) / stats.std["t850"]
    assert stored(s["x"], 3) == pytest.approx(expected, rel=1e-5)
    back = stats.denormalize(s["y"], OUTPUTS)
    assert float(back[1].mean()) == pytest.approx(code("z500", init + np.timedelta64(6, "h")), rel=1e-6)


def test_streaming_and_map_style_give_the_same_samples(ds):
    kwargs = {"leads": [6, 12, 18], "seed": 4}
    mapped = ForecastDataset(ds, INPUTS, OUTPUTS, identity(INPUTS), **kwargs)
    streamed = StreamingForecastDataset(ds, INPUTS, OUTPUTS, identity(INPUTS), block_size=3, **kwargs)
    seen = 0
    for s in streamed:
        ref = mapped[int(s["sample_id"])]
        assert torch.equal(s["x"], ref["x"]) and torch.equal(s["y"], ref["y"])
        assert float(s["lead_time"]) == float(ref["lead_time"]) in (6.0, 12.0, 18.0)
        check_sample(s, ds, float(s["lead_time"]))
        seen += 1
    assert seen == len(mapped) == len(streamed)


def test_one_epoch_streams_every_pair_once_and_set_epoch_reshuffles(ds):
    data = StreamingForecastDataset(ds, INPUTS, OUTPUTS, identity(INPUTS), leads=range(6, 25, 6), block_size=2)
    first = [int(s["sample_id"]) for s in data]
    assert sorted(first) == list(range(len(data)))
    assert [int(s["sample_id"]) for s in data] == first  # same epoch, same order
    leads0 = {int(s["sample_id"]): float(s["lead_time"]) for s in data}
    data.set_epoch(1)
    second = [int(s["sample_id"]) for s in data]
    leads1 = {int(s["sample_id"]): float(s["lead_time"]) for s in data}
    assert sorted(second) == sorted(first) and second != first
    assert leads1 != leads0 and set(leads1.values()) <= {6.0, 12.0, 18.0, 24.0}


def test_unshuffled_stream_is_in_time_order(ds):
    data = StreamingForecastDataset(ds, INPUTS, OUTPUTS, identity(INPUTS), leads=6, shuffle=False, block_size=4)
    inits = [int(s["init_time"]) for s in data]
    assert inits == sorted(inits) and len(inits) == len(data)


def test_automatic_block_size_follows_the_memory_budget(ds):
    step_bytes = 3 * 8 * 16 * 4  # three time-varying variables on 8 x 16
    small = StreamingForecastDataset(ds, INPUTS, OUTPUTS, identity(INPUTS), pool_mb=10 * 4 * 2 * step_bytes / 2**20)
    tiny = StreamingForecastDataset(ds, INPUTS, OUTPUTS, identity(INPUTS), pool_mb=1e-6)
    large = StreamingForecastDataset(ds, INPUTS, OUTPUTS, identity(INPUTS))
    assert (small.block_size, tiny.block_size, large.block_size) == (10, 1, 64)


def test_collate_stacks_and_keeps_variable_lists_once(ds):
    data = ForecastDataset(ds, INPUTS, OUTPUTS, identity(INPUTS), leads=[6, 12])
    batch = collate([data[i] for i in range(4)])
    assert batch["x"].shape == (4, 6, 8, 16) and batch["y"].shape == (4, 2, 8, 16)
    assert batch["lead_time"].shape == (4,) and batch["lead_time"].dtype == torch.float32
    assert batch["init_time"].dtype == torch.int64 and batch["sample_id"].tolist() == [0, 1, 2, 3]
    assert batch["variables"] == tuple(INPUTS) and batch["out_variables"] == tuple(OUTPUTS)
    other = ForecastDataset(ds, ["z500"], ["z500"], identity(["z500"]))
    with pytest.raises(ValueError, match="must share 'variables'"):
        collate([data[0], other[0]])
    with pytest.raises(ValueError, match="empty"):
        collate([])


@pytest.mark.parametrize(
    ("inputs", "outputs", "stats", "error", "message"),
    [
        (["z500", "nope"], ["z500"], INPUTS, UnknownVariableError, "unknown variable 'nope'"),
        (["z500", "q700"], ["z500"], INPUTS + ["q700"], NotInSourceError, "no variable.*q700"),
        (INPUTS, OUTPUTS, ["z500", "t850"], MissingStatsError, "no statistics for lsm, lat, orography, t2m"),
        (INPUTS, ["lsm"], INPUTS, ValueError, "constants cannot be forecast targets"),
        (["z500", "z500"], ["z500"], INPUTS, ValueError, r"inputs repeat a variable: \['z500'\]"),
    ],
)
def test_bad_variables_are_explained(ds, inputs, outputs, stats, error, message):
    with pytest.raises(error, match=message):
        ForecastDataset(ds, inputs, outputs, identity(stats))


def test_bad_lead_and_data_are_explained(ds):
    with pytest.raises(ValueError, match="not a positive multiple of the data interval"):
        StreamingForecastDataset(ds, INPUTS, OUTPUTS, identity(INPUTS), leads=8)
    with pytest.raises(ValueError, match="no time axis"):
        ForecastDataset(ds[["lsm"]], ["lsm"], [], identity(["lsm"]))
    flipped = ds.isel(lat=slice(None, None, -1))
    with pytest.raises(ValueError, match="latitude is not ascending"):
        ForecastDataset(flipped, ["z500"], ["z500"], identity(["z500"]))
    with pytest.raises(IndexError, match="out of range"):
        ForecastDataset(ds, ["z500"], None, identity(["z500"]))[10_000]
    with pytest.raises(ValueError, match="rank < world_size"):
        StreamingForecastDataset(ds, ["z500"], None, identity(["z500"]), rank=2, world_size=2)


def test_outputs_default_to_the_time_varying_inputs():
    ds = encoded(("z500", "lsm"), pd.date_range("2001-01-01", periods=5, freq="6h"))
    data = ForecastDataset(ds, ["lsm", "z500"], None, Normalizer({"lsm": 0, "z500": 0}, {"lsm": 1, "z500": 1}))
    assert data.out_variables == ["z500"] and data[0]["y"].shape == (1, 8, 16)


def test_dask_backed_and_grouped_reads_give_the_same_samples(ds, monkeypatch):
    plain = ForecastDataset(ds, INPUTS, OUTPUTS, identity(INPUTS), leads=[6, 48], seed=2)
    monkeypatch.setattr("climax_nb.data.pipeline.reader.SPAN_BYTES", 1)  # one variable per dask graph
    chunked = StreamingForecastDataset(
        ds.chunk({"time": 5}), INPUTS, OUTPUTS, identity(INPUTS), leads=[6, 48], seed=2, block_size=3
    )
    for s in chunked:
        ref = plain[int(s["sample_id"])]
        assert torch.equal(s["x"], ref["x"]) and torch.equal(s["y"], ref["y"])


def test_read_plan_reads_slices_not_scattered_steps():
    slices, rows = read_plan(np.array([3, 4, 20]))  # mostly unused span: two runs
    assert slices == [slice(3, 5), slice(20, 21)] and rows is None
    slices, rows = read_plan(np.array([3, 5, 6, 8]))  # dense: one covering slice, keep some rows
    assert slices == [slice(3, 9)] and rows.tolist() == [0, 2, 3, 5]
    slices, rows = read_plan(np.arange(0, 40, 2))  # too many runs: one slice
    assert slices == [slice(0, 39)] and len(rows) == 20
