"""Too few pairs for one batch: refused before training instead of looping over empty epochs."""

import pytest

from climax_nb.data.pipeline import EmptyEpochError, MultiSourceDataset
from tests.pipeline_data import sources
from tests.train_helpers import (  # noqa: F401  (single_thread is a fixture)
    quick_trainer,
    single_thread,
    tiny_module,
    waves_datamodule,
)

pytestmark = pytest.mark.usefixtures("single_thread")

#: ``waves_datamodule`` has 24 six-hourly steps and 6 h / 12 h leads: 22 valid pairs.
PAIRS = 22


def test_datamodule_refuses_a_batch_larger_than_every_source():
    dm = waves_datamodule(batch_size=PAIRS + 1)
    dm.setup()
    stats = dm.stats["a"]
    with pytest.raises(EmptyEpochError, match=r"batch of 23 \(a: 22 pairs\)") as info:
        dm.train_dataloader()
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    for fix in ("more days of data", "smaller batch size", "shorter lead times", "12 h"):
        assert fix in message
    assert info.value.pairs == {"a": PAIRS} and info.value.batch_size == PAIRS + 1
    assert dm.stats["a"] is stats  # statistics survive the error


def test_exactly_one_batch_of_pairs_is_enough():
    dm = waves_datamodule(batch_size=PAIRS)
    dm.setup()
    batches = list(dm.train_dataloader())
    assert len(batches) == 1 and len(batches[0]["sample_id"]) == PAIRS


def test_workers_that_each_hold_less_than_a_batch_are_refused_before_starting():
    dm = waves_datamodule(batch_size=12, num_workers=2)  # 11 pairs per worker
    dm.setup()
    with pytest.raises(EmptyEpochError, match="at most 11 per DataLoader worker of 2.*fewer DataLoader workers"):
        dm.train_dataloader()


def test_every_source_and_rank_share_is_counted():
    short = sources(steps=10, rank=0, world_size=2)  # 8 pairs per source, 4 per rank
    assert MultiSourceDataset(short, batch_size=4).batches_per_epoch() == {"gcm_a": 1, "gcm_b": 1}
    data = MultiSourceDataset(short, batch_size=5)
    with pytest.raises(EmptyEpochError, match=r"gcm_a: 8 pairs \(4 per DDP rank\); gcm_b: 8 pairs"):
        data.check_batches()
    with pytest.raises(EmptyEpochError):  # iterating directly checks too, rather than yielding nothing
        next(iter(data))


def test_fit_fails_before_the_first_step(tmp_path):
    dm, module = waves_datamodule(batch_size=PAIRS + 1), tiny_module(dropout=0.0)
    trainer = quick_trainer(tmp_path, 2, max_epochs=3)  # max_epochs: ends the test even if epochs are empty
    with pytest.raises(EmptyEpochError, match="every epoch would be empty"):
        trainer.fit(module, datamodule=dm)
    assert trainer.global_step == 0


def test_fit_trains_with_exactly_one_batch_per_epoch(tmp_path):
    dm, module = waves_datamodule(batch_size=PAIRS), tiny_module(dropout=0.0)
    trainer = quick_trainer(tmp_path, 2, max_epochs=3)
    trainer.fit(module, datamodule=dm)
    assert trainer.global_step == 2 and trainer.current_epoch == 2
