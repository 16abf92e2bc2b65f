"""Multi-source pretraining batches: one source per batch, weighted draws, deterministic, DDP-safe."""

from collections import Counter

import pytest

from climax_nb.data.pipeline import MultiSourceDataset, make_loader
from tests.pipeline_data import SOURCE_VARS, sources


def run(world_size=2, epoch=0, num_workers=2, **kwargs):
    """(source, sample ids) of every batch, per rank."""
    per_rank = []
    for rank in range(world_size):
        data = MultiSourceDataset(sources(rank=rank, world_size=world_size), batch_size=3, **kwargs)
        data.set_epoch(epoch)
        loader = make_loader(data, None, num_workers=num_workers)
        per_rank.append([(b["source"], tuple(b["sample_id"].tolist()), b["variables"]) for b in loader])
    return per_rank


def test_each_batch_is_one_source_and_no_sample_repeats():
    per_rank = run(weights={"gcm_a": 2.0, "gcm_b": 1.0})
    assert len(per_rank[0]) == len(per_rank[1]) > 0  # ranks stay in step
    seen = [(src, i) for batches in per_rank for src, ids, _ in batches for i in ids]
    assert len(seen) == len(set(seen))
    for src, ids, variables in (b for batches in per_rank for b in batches):
        assert variables == SOURCE_VARS[src] and len(ids) == 3
    assert {src for batches in per_rank for src, _, _ in batches} == set(SOURCE_VARS)


def test_deterministic_given_seed_and_epoch():
    first = run(seed=3, num_workers=0)
    assert first == run(seed=3, num_workers=0)
    assert first != run(seed=3, epoch=1, num_workers=0)
    assert first != run(seed=4, num_workers=0)


def test_weights_set_the_share_of_batches_when_stopping_at_the_first_empty_source():
    data = MultiSourceDataset(sources(steps=400), batch_size=2, weights={"gcm_a": 4.0, "gcm_b": 1.0}, until="first")
    counts = Counter(b["source"] for b in data)
    assert counts["gcm_a"] == (400 - 2) // 2
    assert 0.1 < counts["gcm_b"] / counts["gcm_a"] < 0.45


def test_until_all_uses_every_full_batch():
    data = MultiSourceDataset(sources(), batch_size=4)
    counts = Counter(b["source"] for b in data)
    assert counts == {"gcm_a": (60 - 2) // 4, "gcm_b": (60 - 2) // 4}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"batch_size": 2, "weights": {"gcm_a": 1.0}}, "weights must name exactly the sources"),
        ({"batch_size": 2, "weights": {"gcm_a": 1.0, "gcm_b": 0.0}}, "weights must be positive"),
        ({"batch_size": 2, "until": "never"}, "until must be 'all' or 'first'"),
    ],
)
def test_bad_arguments_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MultiSourceDataset(sources(steps=10), **kwargs)
    with pytest.raises(ValueError, match="at least one source"):
        MultiSourceDataset({}, batch_size=2)
