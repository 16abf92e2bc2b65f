"""Tiny data, model and trainer shared by the training-runtime tests."""

import numpy as np
import pytest
import torch

from climax_nb.data.pipeline.dataset import ForecastDataset
from climax_nb.data.pipeline.loader import make_loader
from climax_nb.data.stats import compute_stats
from climax_nb.model import preset
from climax_nb.train.datamodule import ForecastDataModule, SplitConfig
from climax_nb.train.module import ForecastModule, OptimConfig
from climax_nb.train.resumable import ResumableLoader
from climax_nb.train.trainer import make_trainer
from tests.conftest import make_canonical, typical

VARS = ("z500", "t850", "t2m", "lsm")


def moving_waves(steps=24):
    """Fields of a travelling wave: predictable from the initial state."""
    ds = make_canonical(ids=VARS, steps=steps)
    lat, lon = np.deg2rad(ds.lat.values)[:, None], np.deg2rad(ds.lon.values)[None, :]
    for k, vid in enumerate(VARS[:3]):
        wave = np.stack([np.cos(lat) * np.cos(2 * lon - 0.3 * t + k) for t in range(steps)])
        centre, spread = typical(vid)
        ds[vid].values[:] = (centre + 10 * spread * wave).astype(np.float32)
    return ds


#: 24 six-hourly steps with 6 h and 12 h leads: 22 pairs, 5 batches of 4 per epoch.
STEPS_PER_EPOCH = 5
WAVES = moving_waves(steps=24)


@pytest.fixture
def single_thread():
    """One intra-op thread: tests share two loaded cores, where more threads only contend."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def waves_datamodule(**split) -> ForecastDataModule:
    settings = {"train_years": (2000,), "leads": (6.0, 12.0), "batch_size": 4, "seed": 1} | split
    return ForecastDataModule({"a": WAVES}, SplitConfig(**settings))


def sized_loader() -> ResumableLoader:
    """Map-style pairs with a length (Lightning then fetches no batch ahead)."""
    dataset = ForecastDataset(WAVES, list(VARS), ["z500", "t850"], compute_stats(WAVES), leads=(6, 12))
    return ResumableLoader(make_loader(dataset, batch_size=4, seed=2), seed=3)


def tiny_module(dropout: float = 0.1, variables=VARS + ("lat",)) -> ForecastModule:
    """A tiny ClimaX with dropout and drop-path, so random state matters."""
    cfg = preset("tiny", variables=variables, img_size=(32, 64), patch_size=4, drop_path=dropout, drop_rate=dropout)
    return ForecastModule.build(cfg, OptimConfig(warmup_steps=2), np.asarray(WAVES.lat))


def quick_trainer(run_dir, max_steps: int, **changes):
    settings = {"accelerator": "cpu", "progress": False, "enable_model_summary": False, "log_every_n_steps": 1,
                "checkpoint_every_n_steps": 1, "seed": 5} | changes
    return make_trainer(run_dir, max_steps=max_steps, **settings)



def pretrain_then_box(folder, region: str, options):
    """Travelling waves on disk, a tiny global model pretrained on them with the run ``options`` and fine-tuned on
    ``region``'s tokens (z500, t850): ``(data, global model.pt, regional model.pt)``."""
    from climax_nb import cli

    data = folder / "waves.nc"
    moving_waves(steps=40).to_netcdf(data)
    glob, box = folder / "global", folder / "box"
    assert cli.main(["pretrain", "--config", "pretrain-tiny", *options, "--data.sources", f"[{data}]",
                     "--trainer.max_steps", "3", "--trainer.run_dir", str(glob)]) == 0
    assert cli.main(["finetune", "--config", "pretrain-tiny", *options, "--data.sources", f"[{data}]",
                     "--data.outputs", "[z500, t850]", "--model.init", str(glob / "model.pt"),
                     "--model.region", region, "--trainer.max_steps", "3", "--trainer.run_dir", str(box)]) == 0
    return data, glob / "model.pt", box / "model.pt"
