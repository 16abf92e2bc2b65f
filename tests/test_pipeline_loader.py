"""Real DataLoaders with two workers and simulated DDP ranks: every sample once per epoch."""

import numpy as np
import pandas as pd
import pytest

from climax_nb.data import open_dataset
from climax_nb.data.pipeline import ForecastDataset, StreamingForecastDataset, make_loader, set_loader_epoch
from climax_nb.data.pipeline.sharding import rank_and_world, shard_bounds, split_evenly
from tests.pipeline_data import encoded, gapped_times, identity

IDS = ("z500", "t2m", "lsm")
INPUTS = ["lsm", "z500", "t2m"]


@pytest.fixture(scope="module")
def ds():
    return encoded(IDS, pd.date_range("2001-01-01", periods=103, freq="6h"))


def epoch_ids(dataset, world_size, epoch=0, batch_size=4, **kwargs):
    """Sample ids per rank, as each rank's two-worker DataLoader yields them."""
    out = []
    for rank in range(world_size):
        loader = make_loader(
            dataset(rank), batch_size, num_workers=2, drop_last=False, rank=rank, world_size=world_size, **kwargs
        )
        set_loader_epoch(loader, epoch)
        out.append([i for batch in loader for i in batch["sample_id"].tolist()])
    return out


def streaming(ds, world_size, **kwargs):
    return lambda rank: StreamingForecastDataset(
        ds,
        INPUTS,
        ["z500"],
        identity(INPUTS),
        leads=[6, 12],
        block_size=5,
        rank=rank,
        world_size=world_size,
        **kwargs,
    )


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_streaming_ranks_and_workers_see_disjoint_samples(ds, world_size):
    n = len(streaming(ds, 1)(0))
    ranks = epoch_ids(streaming(ds, world_size), world_size)
    seen = [i for ids in ranks for i in ids]
    assert len(seen) == len(set(seen))  # nothing twice
    assert all(len(ids) == n // world_size for ids in ranks)  # equal shares keep DDP in step
    assert len(seen) == n - n % world_size


def test_set_epoch_reshuffles_across_workers_and_is_deterministic(ds):
    first = epoch_ids(streaming(ds, 2), 2, epoch=0)
    again = epoch_ids(streaming(ds, 2), 2, epoch=0)
    second = epoch_ids(streaming(ds, 2), 2, epoch=1)
    assert first == again
    assert first != second


def test_ranks_from_the_environment(ds, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    per_rank = []
    for rank in range(2):
        monkeypatch.setenv("RANK", str(rank))
        data = StreamingForecastDataset(ds, INPUTS, ["z500"], identity(INPUTS), block_size=7)
        loader = make_loader(data, 8, num_workers=2, drop_last=False)
        per_rank.append({i for b in loader for i in b["sample_id"].tolist()})
    assert not per_rank[0] & per_rank[1]
    assert len(per_rank[0]) == len(per_rank[1]) == len(data) == (103 - 1) // 2


def test_map_style_loader_uses_a_distributed_sampler(ds):
    ranks = epoch_ids(lambda rank: ForecastDataset(ds, INPUTS, ["z500"], identity(INPUTS)), 2)
    seen = [i for ids in ranks for i in ids]
    assert len(seen) == len(set(seen)) == 102 and len(ranks[0]) == len(ranks[1])


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_workers_read_files_opened_in_the_parent(tmp_path, suffix):
    path = tmp_path / f"data{suffix}"
    data = encoded(IDS, gapped_times())
    if suffix == ".zarr":
        data.chunk({"time": 5}).to_zarr(path, consolidated=False)
    else:
        data.to_netcdf(path)
    opened = open_dataset(str(path), years=[2000, 2002], check_ranges=False)  # values encode variable and time
    ids = epoch_ids(
        lambda rank: StreamingForecastDataset(opened, INPUTS, ["t2m"], identity(INPUTS), rank=rank, world_size=1), 1
    )[0]
    expected = ForecastDataset(data, INPUTS, ["t2m"], identity(INPUTS))
    assert sorted(ids) == list(range(len(expected)))


def test_split_helpers():
    parts = [split_evenly(10, 3, k) for k in range(3)]
    assert parts == [(0, 4), (4, 7), (7, 10)]
    shards = [shard_bounds(11, r, 2, w, 2) for r in range(2) for w in range(2)]
    assert shards == [(0, 3), (3, 5), (5, 8), (8, 10)]
    assert rank_and_world(1, 4) == (1, 4)
    with pytest.raises(ValueError, match="rank < world_size"):
        rank_and_world(4, 4)
    assert np.array_equal(np.sort(np.concatenate([np.arange(*s) for s in shards])), np.arange(10))
