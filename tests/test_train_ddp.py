"""Two-process DDP on CPU (gloo), launched as torchrun would: ranks stay in sync and split the data."""

import os
import socket

import pytest
import pytorch_lightning as pl
import torch
import torch.multiprocessing as mp

from climax_nb.model import preset
from climax_nb.train.datamodule import ForecastDataModule, SplitConfig
from climax_nb.train.module import ForecastModule, OptimConfig
from climax_nb.train.trainer import make_trainer
from tests.train_helpers import VARS, moving_waves

pytestmark = pytest.mark.ddp  # two training processes

STEPS = 3


class RecordSamples(pl.Callback):
    """Remember the ids of the samples this rank trained on."""

    def __init__(self):
        self.seen = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.seen += [(batch["source"], int(i)) for i in batch["sample_id"]]


def train_one_rank(rank: int, world: int, port: int, out_dir: str) -> None:
    """What each process of ``torchrun --nproc_per_node=2`` would run."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world),
                      RANK=str(rank), LOCAL_RANK=str(rank), NODE_RANK="0")
    torch.set_num_threads(1)
    full = moving_waves(steps=40)
    sources = {"a": full, "b": full[["z500", "t2m", "lsm"]]}
    dm = ForecastDataModule(sources, SplitConfig(train_years=(2000,), leads=(6.0,), batch_size=2, seed=3))
    record = RecordSamples()
    trainer = make_trainer(os.path.join(out_dir, "run"), max_steps=STEPS, accelerator="cpu", devices=world,
                           strategy="ddp", seed=7, progress=False, checkpoint_every_n_steps=STEPS,
                           enable_model_summary=False, log_every_n_steps=1, callbacks=[record])
    cfg = preset("tiny", variables=VARS + ("lat",), img_size=(32, 64), patch_size=4, drop_rate=0.1)
    module = ForecastModule.build(cfg, OptimConfig(warmup_steps=1), dm.lat)
    start = {k: v.clone() for k, v in module.state_dict().items()}
    trainer.fit(module, datamodule=dm)
    result = {"state": module.state_dict(), "start": start, "seen": record.seen, "rank": trainer.global_rank,
              "world": trainer.world_size, "step": trainer.global_step}
    torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_end_with_identical_weights_and_see_different_samples(tmp_path):
    mp.start_processes(train_one_rank, args=(2, free_port(), str(tmp_path)), nprocs=2, start_method="fork")
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert (r0["rank"], r1["rank"], r0["world"], r0["step"], r1["step"]) == (0, 1, 2, STEPS, STEPS)
    assert r0["state"].keys() == r1["state"].keys()
    for key in r0["state"]:
        assert torch.equal(r0["state"][key], r1["state"][key]), key
    assert not torch.equal(r0["state"]["net.head.0.weight"], r0["start"]["net.head.0.weight"])
    assert len(r0["seen"]) == len(r1["seen"]) == 2 * STEPS
    assert not set(r0["seen"]) & set(r1["seen"])
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
