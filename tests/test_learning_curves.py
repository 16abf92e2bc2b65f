"""The learning-curve experiment: variants from overrides, checkpoints by step, and its table."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.scripts import load_script


@pytest.fixture(scope="module")
def curves():
    return load_script("experiments/learning_curves.py")


def test_a_variant_is_the_packaged_config_with_its_overrides(curves, tmp_path):
    name, overrides = curves.parse_variant("p4:--model.patch_size=4,--optim.lr=0.002")
    assert name == "p4" and overrides == ["--model.patch_size", "4", "--optim.lr", "0.002"]
    config = curves.variant_config(name, overrides, tmp_path, steps=30, every=10, seed=1)
    assert config.model.patch_size == 4 and config.optim.lr == 0.002 and config.model.init is None
    assert config.trainer.max_steps == 30 and config.trainer.checkpoint_every_n_steps == 10
    assert config.trainer.keep_all_checkpoints and config.trainer.seed == 1
    assert config.trainer.run_dir == str(tmp_path / "p4") and config.data.train_years == (2000, 2001)
    assert curves.parse_variant("base") == ("base", [])
    with pytest.raises(SystemExit, match="overrides look like --section.key=value"):
        curves.parse_variant("bad:model.patch_size=4")


def test_checkpoints_are_found_in_step_order(curves, tmp_path):
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    for step in (200, 100, 1000):
        (folder / f"step={step:08d}.ckpt").touch()
    (folder / "last.ckpt").touch()
    assert [s for s, _ in curves.checkpoint_steps(tmp_path / "run")] == [100, 200, 1000]


def test_the_table_gives_the_model_relative_to_both_baselines(curves):
    rows = pd.DataFrame([
        {"variant": "a", "step": 100, "seconds": 50.0, "variable": "z500", "lead_h": 24,
         "model": 90.0, "persistence": 100.0, "climatology": 120.0},
        {"variant": "a", "step": 200, "seconds": 100.0, "variable": "z500", "lead_h": 24,
         "model": 80.0, "persistence": 100.0, "climatology": 120.0},
    ])
    text = curves.table(rows)
    assert "-10.0" in text and "-20.0" in text  # against persistence
    assert "-25.0" in text and "-33.3" in text  # against climatology
