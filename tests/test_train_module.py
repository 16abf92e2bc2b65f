"""The Lightning module trains a tiny ClimaX on pairs from the torch pipeline."""

import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from climax_nb.data.pipeline.dataset import ForecastDataset
from climax_nb.data.pipeline.loader import make_loader
from climax_nb.data.stats import compute_stats
from climax_nb.model import preset
from climax_nb.train.datamodule import ForecastDataModule, SplitConfig
from climax_nb.train.module import ForecastModule, OptimConfig, freeze_parts
from tests.train_helpers import VARS, moving_waves


@pytest.fixture
def loader():
    ds = moving_waves()
    stats = compute_stats(ds)
    dataset = ForecastDataset(ds, list(VARS), ["z500", "t850"], stats, leads=6)
    return make_loader(dataset, batch_size=4)


TINY = preset("tiny", variables=VARS, img_size=(32, 64), patch_size=4)


def tiny_module(**optim):
    settings = {"warmup_steps": 2} | optim
    return ForecastModule.build(TINY, OptimConfig(**settings), np.linspace(-80, 80, 32))


def quiet_trainer(steps):
    return pl.Trainer(max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, limit_val_batches=0, accelerator="cpu")


def test_training_fits_a_batch(loader):
    torch.manual_seed(0)
    module = tiny_module(lr=5e-3, warmup_steps=5)
    batch = next(iter(loader))
    module.eval()
    with torch.no_grad():
        before = module.compute_loss(batch)[0].item()
    repeated = DataLoader([batch] * 40, batch_size=None)
    quiet_trainer(40).fit(module, repeated)
    module.eval()
    with torch.no_grad():
        after = module.compute_loss(batch)[0].item()
    assert after < 0.6 * before


def test_frozen_parts_do_not_change(loader):
    module = tiny_module(freeze=("tokenizer", "backbone"))
    names = set(module.frozen)
    assert any(n.startswith("token_embeds") for n in names) and any(n.startswith("blocks") for n in names)
    assert not any(n.startswith("var_agg") or n.startswith("head") for n in names)
    before = {n: p.detach().clone() for n, p in module.net.named_parameters()}
    quiet_trainer(3).fit(module, loader)
    after = dict(module.net.named_parameters())
    assert all(torch.equal(before[n], after[n]) for n in names)
    assert not torch.equal(before["head.0.weight"], after["head.0.weight"])


def test_unknown_freeze_part_is_refused():
    with pytest.raises(ValueError, match="cannot freeze.*choose among"):
        OptimConfig(freeze=("everything",))


def test_freeze_parts_returns_names():
    net = tiny_module().net
    expected = [n for n, _ in net.named_parameters() if n.startswith(("var_query", "var_agg"))]
    assert freeze_parts(net, ["aggregation"]) == expected


def test_latitudes_must_match_the_grid():
    with pytest.raises(ValueError, match="10 latitudes"):
        ForecastModule.build(TINY, OptimConfig(), np.zeros(10))


def test_datamodule_pretrains_on_two_sources_with_different_variables():
    a = moving_waves(steps=40)
    b = moving_waves(steps=40)[["z500", "t2m", "lsm"]]
    split = SplitConfig(train_years=(2000,), leads=(6.0, 12.0), batch_size=4)
    dm = ForecastDataModule({"a": a, "b": b}, split)
    dm.setup()
    assert set(dm.stats) == {"a", "b"}
    seen = {}
    for batch in dm.train_dataloader():
        seen.setdefault(batch["source"], set(batch["variables"]))
        assert batch["out_variables"] == tuple(v for v in batch["variables"] if v not in ("lsm", "lat"))
    assert seen == {"a": {"z500", "t850", "t2m", "lsm", "lat"}, "b": {"z500", "t2m", "lsm", "lat"}}
    cfg = preset("tiny", variables=("z500", "t850", "t2m", "lsm", "lat"), img_size=(32, 64), patch_size=4)
    module = ForecastModule.build(cfg, OptimConfig(warmup_steps=1), dm.lat)
    quiet_trainer(4).fit(module, datamodule=dm)
    assert module.global_step == 4


def test_split_years_must_not_overlap():
    with pytest.raises(ValueError, match="both training and validation"):
        SplitConfig(train_years=(2000, 2001), val_years=(2001,))


@pytest.mark.parametrize("steps", [6, 12])
def test_the_schedule_follows_the_trainers_max_steps(loader, steps):
    """The learning rate warms up, then decays to its floor exactly at the trainer's last step, whatever it is."""
    module = tiny_module(lr=1e-3, warmup_steps=2, min_factor=0.01)
    seen = []

    class Record(pl.Callback):
        def on_train_batch_start(self, trainer, *args):
            seen.append(trainer.optimizers[0].param_groups[0]["lr"])

    trainer = pl.Trainer(max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0, accelerator="cpu", callbacks=[Record()])
    trainer.fit(module, DataLoader([next(iter(loader))] * steps, batch_size=None))
    assert len(seen) == steps and max(seen) == pytest.approx(1e-3)
    assert seen[-1] == pytest.approx(1e-3 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * (steps - 3) / (steps - 2)))))


def test_settings_of_the_optimiser_are_checked():
    with pytest.raises(ValueError, match="optim.lr must be a positive"):
        OptimConfig(lr=-1)
    with pytest.raises(TypeError):
        OptimConfig(max_steps=10)  # the schedule's length lives in the trainer only
    module = tiny_module(warmup_steps=50)
    with pytest.raises(ValueError, match=r"warmup_steps \(50\) is longer than the run \(4 steps"):
        quiet_trainer(4).fit(module, DataLoader([], batch_size=None))
