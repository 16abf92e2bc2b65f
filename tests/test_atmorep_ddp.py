"""AtmoRep on two DDP processes (CPU, gloo): sources with other fields, ranks in step, data split between them."""

import os

import pytest
import torch
import torch.multiprocessing as mp

from climax_nb.model.atmorep import preset
from climax_nb.train.atmorep import AtmoRepModule, AtmoRepSection, CubeDataModule, CubeSplit, ddp_strategy
from climax_nb.train.module import OptimConfig
from climax_nb.train.trainer import make_trainer
from tests.conftest import make_canonical
from tests.test_train_ddp import RecordSamples, free_port

pytestmark = pytest.mark.ddp  # two training processes

STEPS = 3
IDS = ("z500", "z850", "t850", "t2m")


def train_one_rank(rank: int, world: int, port: int, out_dir: str) -> None:
    """What each process of ``torchrun --nproc_per_node=2`` would run."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world),
                      RANK=str(rank), LOCAL_RANK=str(rank), NODE_RANK="0")
    torch.set_num_threads(1)
    full = make_canonical(ids=IDS, steps=40)
    dm = CubeDataModule({"a": full, "b": full[list(IDS[:3])]}, preset("tiny"), CubeSplit(batch_size=2, seed=3))
    record = RecordSamples()
    trainer = make_trainer(os.path.join(out_dir, "run"), max_steps=STEPS, accelerator="cpu", devices=world,
                           strategy=ddp_strategy("ddp"), seed=7, progress=False, checkpoint_every_n_steps=STEPS,
                           enable_model_summary=False, log_every_n_steps=1, callbacks=[record])
    module = AtmoRepModule.build(preset("tiny"), OptimConfig(warmup_steps=1), AtmoRepSection(), full.lat.values)
    trainer.fit(module, datamodule=dm)
    result = {"state": module.state_dict(), "seen": record.seen, "rank": trainer.global_rank,
              "step": trainer.global_step}
    torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))


def test_two_ranks_train_atmorep_in_step_on_different_windows(tmp_path):
    mp.start_processes(train_one_rank, args=(2, free_port(), str(tmp_path)), nprocs=2, start_method="fork")
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert (r0["rank"], r1["rank"], r0["step"], r1["step"]) == (0, 1, STEPS, STEPS)
    for key in r0["state"]:
        assert torch.equal(r0["state"][key], r1["state"][key]), key
    assert len(r0["seen"]) == len(r1["seen"]) == 2 * STEPS and not set(r0["seen"]) & set(r1["seen"])
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
