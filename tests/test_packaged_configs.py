"""Every packaged run config loads, with the values its comments promise."""

from __future__ import annotations

import pytest

from climax_nb.config import load_yaml
from climax_nb.defaults import CONFIGS
from climax_nb.train.run import RunConfig


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_packaged_config_loads(path):
    cfg = load_yaml(RunConfig, path)
    assert cfg.trainer.max_steps >= cfg.optim.warmup_steps >= 0


def test_the_rollout_config_chains_six_hour_steps_from_the_shipped_model():
    cfg = load_yaml(RunConfig, CONFIGS / "finetune-rollout-compact.yaml")
    shipped = load_yaml(RunConfig, CONFIGS / "finetune-compact.yaml")
    assert cfg.data.leads == (6.0,) and cfg.data.rollout_steps == 4
    assert cfg.model.init == f"{shipped.trainer.run_dir}/model.pt"
    assert cfg.data.outputs is None  # every dynamic input, so predictions can be fed back
    assert (cfg.model.patch_size, cfg.data.train_years) == (shipped.model.patch_size, shipped.data.train_years)
