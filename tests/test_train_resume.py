"""Checkpoints survive failed writes, and a run stopped anywhere resumes to the same weights."""

import os

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, IterableDataset

import climax_nb.train.checkpointing as checkpointing
from climax_nb.train.checkpointing import LAST, AtomicCheckpointIO
from climax_nb.train.resumable import ResumableLoader
from tests.train_helpers import (  # noqa: F401  (single_thread is a fixture)
    STEPS_PER_EPOCH,
    quick_trainer,
    single_thread,
    sized_loader,
    tiny_module,
    waves_datamodule,
)

pytestmark = pytest.mark.usefixtures("single_thread")

#: A resumed run must match an uninterrupted one to this absolute tolerance. On CPU in
#: float32 both runs do the same operations in the same order, so they agree exactly;
#: the margin only allows for other BLAS builds.
RESUME_ATOL = 1e-6
TOTAL_STEPS = 8


# -- atomic writes ----------------------------------------------------------------------
def test_failed_write_keeps_previous_checkpoint_and_leaves_no_temp_file(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / LAST
    io.save_checkpoint({"step": 1, "w": torch.ones(3)}, path)
    real_save = torch.save

    def crash_midway(obj, target):
        real_save({"step": 2, "w": torch.zeros(1000)}, target)
        os.truncate(target, 100)  # half a file on disk, then the process "dies"
        raise OSError("disk full")

    monkeypatch.setattr(checkpointing.torch, "save", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"step": 2}, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == [LAST]
    kept = io.load_checkpoint(path, weights_only=True)
    assert kept["step"] == 1 and torch.equal(kept["w"], torch.ones(3))


def test_write_replaces_the_file_whole(tmp_path):
    io = AtomicCheckpointIO()
    for step in (1, 2):
        io.save_checkpoint({"step": step}, tmp_path / "sub" / LAST)
    assert os.listdir(tmp_path / "sub") == [LAST]
    assert io.load_checkpoint(tmp_path / "sub" / LAST, weights_only=True) == {"step": 2}


# -- the loader's state -----------------------------------------------------------------
class EpochOrder(IterableDataset):
    """0..n-1 in an order fixed by the epoch, with no length."""

    def __init__(self, n=10):
        self.n, self.epoch = n, 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __iter__(self):
        return iter(torch.randperm(self.n, generator=torch.Generator().manual_seed(self.epoch)).tolist())


def batches(loader, count=None):
    out = []
    for batch in loader:
        out.append(batch.tolist())
        if count is not None and len(out) == count:
            break
    return out


def test_unsized_loader_counts_the_batch_fetched_ahead_as_not_consumed():
    loader = ResumableLoader(DataLoader(EpochOrder(), batch_size=2))
    loader.set_epoch(4)
    whole = batches(loader)
    assert len(whole) == 5 and batches(loader, 3) == whole[:3]
    assert loader.state_dict() == {"epoch": 4, "consumed": 2}
    again = ResumableLoader(DataLoader(EpochOrder(), batch_size=2))
    again.load_state_dict(loader.state_dict())
    assert batches(again) == whole[2:]
    assert again.state_dict() == {"epoch": 5, "consumed": 0}  # a finished epoch resumes at the next


def test_sized_loader_has_no_look_ahead_and_epochs_change_the_order():
    loader = ResumableLoader(DataLoader(list(range(10)), batch_size=2, shuffle=False))
    batches(loader, 3)
    assert loader.state_dict() == {"epoch": 0, "consumed": 3}
    shuffled = ResumableLoader(DataLoader(EpochOrder(), batch_size=5), lookahead=0)
    first = batches(shuffled)
    shuffled.set_epoch(1)
    assert sorted(sum(batches(shuffled), [])) == sorted(sum(first, [])) and batches(shuffled) != first
    with pytest.raises(ValueError, match="missing \\['consumed'\\]"):
        shuffled.load_state_dict({"epoch": 1})


# -- resuming a Lightning run -----------------------------------------------------------
class StopAt(pl.Callback):
    """Stop the run after step ``n``, as a killed job would (the schedule still plans the whole run)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step >= self.n:
            trainer.should_stop = True


def fit(run_dir, max_steps, loader_kind, ckpt_path=None, every=1, stop_at=None):
    torch.manual_seed(0)
    module = tiny_module()  # the schedule follows the trainer's max_steps: the whole run
    callbacks = [StopAt(stop_at)] if stop_at else []
    trainer = quick_trainer(run_dir, max_steps, checkpoint_every_n_steps=every, callbacks=callbacks)
    if loader_kind == "stream":
        trainer.fit(module, datamodule=waves_datamodule(), ckpt_path=ckpt_path)
    else:
        trainer.fit(module, train_dataloaders=sized_loader(), ckpt_path=ckpt_path)
    assert trainer.global_step == (stop_at or max_steps)
    return module


@pytest.mark.parametrize(
    ("loader_kind", "stop"),
    [("stream", 3), ("stream", STEPS_PER_EPOCH), ("sized", 3)],
    ids=["streaming-mid-epoch", "streaming-end-of-epoch", "sized-mid-epoch"],
)
def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, loader_kind, stop):
    whole = fit(tmp_path / "whole", TOTAL_STEPS, loader_kind)
    fit(tmp_path / "cut", TOTAL_STEPS, loader_kind, stop_at=stop)
    saved = torch.load(tmp_path / "cut" / "checkpoints" / LAST, weights_only=True)
    assert saved["global_step"] == stop
    resumed = fit(tmp_path / "cut", TOTAL_STEPS, loader_kind, ckpt_path="last")
    expected = whole.state_dict()
    for key, value in resumed.state_dict().items():
        torch.testing.assert_close(value, expected[key], atol=RESUME_ATOL, rtol=0, msg=key)


def test_the_last_step_is_saved_when_it_falls_between_two_saves(tmp_path):
    fit(tmp_path, 3, "stream", every=2)
    saved = torch.load(tmp_path / "checkpoints" / LAST, weights_only=True)
    assert saved["global_step"] == 3


def test_missing_resume_checkpoint_is_named_with_the_ones_found(tmp_path):
    fit(tmp_path, 2, "stream")
    with pytest.raises(FileNotFoundError, match=r"at .*nowhere\.ckpt; checkpoints found: .*last\.ckpt"):
        fit(tmp_path, 3, "stream", ckpt_path=tmp_path / "nowhere.ckpt")


class Payload:
    """Unpickling this would create a file."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_resume_never_unpickles_code_even_when_the_environment_asks(tmp_path, monkeypatch):
    fit(tmp_path, 2, "stream")
    last = tmp_path / "checkpoints" / LAST
    ckpt = torch.load(last, weights_only=True)
    ckpt["hyper_parameters"] = Payload()
    torch.save(ckpt, last)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(ValueError, match=r"cannot be loaded safely: it needs Python objects \['posix.system'\]"):
        fit(tmp_path, 3, "stream", ckpt_path="last")
    assert not (tmp_path / "pwned").exists()
