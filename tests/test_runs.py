"""The main job and the notebooks share their runs: what one trained, the other reads back."""

from __future__ import annotations

from pathlib import Path

import pytest

from climax_nb import runs, tutorial, workflow
from climax_nb.runs import Setting


@pytest.fixture
def trained(monkeypatch, tmp_path):
    """Training replaced by a file write, counted per run folder."""
    monkeypatch.setenv("CLIMAX_NB_CACHE", str(tmp_path))
    calls: list[Path] = []

    def fake_train(config):
        out = Path(config.trainer.run_dir) / "model.pt"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("weights")
        calls.append(out)
        return out

    monkeypatch.setattr(runs, "train", fake_train)
    monkeypatch.setattr(workflow, "forecast_and_score", lambda checkpoint, out, days=None: None)
    return calls


def test_the_notebooks_reuse_the_main_jobs_runs(trained, tmp_path, monkeypatch):
    job = workflow.main_job(tmp_path / "out", steps_scale=tutorial.FAST_STEPS_SCALE, days=tutorial.FAST_DAYS)
    assert [p.parent.name for p in trained] == ["pretrain", "finetune"]
    monkeypatch.setenv(tutorial.FAST_ENV, "1")
    assert tutorial.finetuned_model() == job.finetuned and tutorial.pretrained_model() == job.pretrained
    assert len(trained) == 2  # nothing trained twice
    tutorial.scratch_model()
    assert trained[-1].parent.name == "scratch" and len(trained) == 3


def test_settings_and_configs_key_the_folders(trained):
    fast, seed1 = Setting(12, 0.01), Setting(12, 0.01, seed=1)
    assert runs.setting_dir(fast) != runs.setting_dir(seed1) and runs.setting_dir(fast) == runs.setting_dir(
        Setting(12, 0.01))
    cfg = runs.training_config("finetune", fast)
    assert cfg.model.init == str(runs.run_dir("pretrain", fast) / "model.pt")
    assert cfg.trainer.max_steps == 2 and cfg.trainer.log_every_n_steps == 1 and cfg.data.days == 12
    assert runs.training_config("scratch", fast).model.init is None
    with pytest.raises(ValueError, match="unknown stage 'tune'"):
        runs.run_dir("tune", fast)
