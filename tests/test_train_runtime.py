"""The trainer factory: precision, strategies, logs, progress bars, checkpoints that are enough to forecast."""

import csv

import numpy as np
import pytest
import torch
import tqdm.auto
from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.callbacks.progress import tqdm_progress
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.strategies import DDPStrategy, FSDPStrategy

import climax_nb.train.trainer as trainer_mod
from climax_nb.forecast import ForecastSpec, load_forecast_checkpoint
from climax_nb.model.blocks import Block
from climax_nb.train.checkpointing import CONTEXT_KEY, LAST, AtomicCheckpointIO, export_forecast_checkpoint
from climax_nb.train.datamodule import ForecastDataModule
from climax_nb.train.trainer import make_strategy, make_trainer, resolve_precision
from tests.train_helpers import (  # noqa: F401  (single_thread is a fixture)
    WAVES,
    quick_trainer,
    single_thread,
    tiny_module,
    waves_datamodule,
)

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize(
    ("cuda", "bf16", "accelerator", "expected"),
    [(False, False, "auto", "32-true"), (True, True, "auto", "bf16-mixed"), (True, False, "gpu", "16-mixed"),
     (True, True, "cpu", "32-true")],
)
def test_auto_precision_follows_the_hardware(monkeypatch, cuda, bf16, accelerator, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert resolve_precision("auto", accelerator) == expected
    assert resolve_precision("64-true", accelerator) == "64-true"


def test_fsdp_wraps_each_vit_block_and_saves_single_files():
    fsdp = make_strategy("fsdp")
    assert isinstance(fsdp, FSDPStrategy) and fsdp._state_dict_type == "full"
    assert fsdp.kwargs["auto_wrap_policy"]._module_classes == {Block}
    assert make_strategy("ddp") == "ddp"


def test_trainer_defaults_cpu_fp32_atomic_io_csv_logs_and_a_progress_bar(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer_mod, "tensorboard_available", lambda: False)
    trainer = make_trainer(tmp_path, max_steps=3, accelerator="cpu")
    assert trainer.precision == "32-true"
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    assert [type(lg) for lg in trainer.loggers] == [CSVLogger]
    assert isinstance(trainer.progress_bar_callback, TQDMProgressBar)
    assert make_trainer(tmp_path, max_steps=3, accelerator="cpu", progress=False).progress_bar_callback is None
    for strategy in ("ddp", DDPStrategy()):
        built = make_trainer(tmp_path, max_steps=3, accelerator="cpu", strategy=strategy, devices=1)
        assert isinstance(built.strategy.checkpoint_io, AtomicCheckpointIO)
    own = AtomicCheckpointIO()
    assert make_trainer(tmp_path, max_steps=3, accelerator="cpu", strategy=DDPStrategy(checkpoint_io=own),
                        devices=1).strategy.checkpoint_io is own
    with pytest.raises(ImportError, match="pip install tensorboard"):
        make_trainer(tmp_path, max_steps=3, accelerator="cpu", tensorboard=True)


def test_progress_bars_are_notebook_widgets_in_notebooks():
    # Lightning draws with tqdm.auto (a widget in Jupyter, text in a terminal) when ipywidgets is installed
    assert tqdm_progress._tqdm is tqdm.auto.tqdm


@pytest.mark.parametrize(("kwargs", "message"), [({"max_steps": 0}, "max_steps must be >= 1"),
                                                 ({"max_steps": 5, "checkpoint_every_n_steps": 0}, "checkpoint_every")])
def test_bad_settings_are_refused(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_trainer(tmp_path, accelerator="cpu", **kwargs)


@pytest.fixture
def trained(tmp_path):
    """A two-step run on the wave data, with its datamodule and module."""
    dm, module = waves_datamodule(), tiny_module(dropout=0.0)
    quick_trainer(tmp_path, 2, tensorboard=False).fit(module, datamodule=dm)
    return tmp_path, dm, module


def test_run_logs_to_csv_and_checkpoints_everything_needed_to_forecast(trained):
    run_dir, dm, module = trained
    with open(next(run_dir.glob("csv/version_*/metrics.csv"))) as f:
        rows = list(csv.DictReader(f))
    assert any(row["train/loss"] for row in rows) and any(row["lr-AdamW/pg1"] for row in rows)
    saved = torch.load(run_dir / "checkpoints" / LAST, weights_only=True)  # plain data only
    spec = ForecastSpec.from_dict(saved[CONTEXT_KEY]["spec"])
    assert dict(spec.model_config) == module.model_config.to_dict() and spec.model_class == "ClimaX"
    assert spec.grid.lat.tolist() == WAVES.lat.values.tolist() and spec.grid.lon.tolist() == WAVES.lon.values.tolist()
    assert spec.grid.name == "5.625deg" and spec.time_step_hours == 6.0
    assert spec.source("a").normalizer == dm.stats["a"]
    assert spec.source("a").outputs == ("z500", "t850", "t2m")
    assert spec.trained_leads == (6.0, 12.0) and spec.training["global_step"] == 2


def test_export_writes_one_file_that_forecasts_like_the_module(trained, tmp_path):
    run_dir, dm, module = trained
    out = export_forecast_checkpoint(run_dir / "checkpoints" / LAST, tmp_path / "forecast.pt")
    loaded = load_forecast_checkpoint(out)
    assert loaded.spec.source().normalizer == dm.stats["a"]
    assert loaded.spec.grid.lon.tolist() == WAVES.lon.values.tolist() and loaded.spec.grid.name == "5.625deg"
    assert loaded.spec.training["global_step"] == 2 and loaded.spec.source().inputs[-1] == "lat"
    batch = next(iter(dm.train_dataloader()))
    module.eval()
    loaded.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(batch["x"], batch["lead_time"], list(batch["variables"]),
                                                list(batch["out_variables"])), module(batch))
    with pytest.raises(ValueError, match="no source 'b'.*\\['a'\\]"):
        export_forecast_checkpoint(run_dir / "checkpoints" / LAST, tmp_path / "x.pt", source="b")


def test_export_explains_what_is_missing(tmp_path):
    module = tiny_module()
    checkpoint = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(checkpoint)  # trained on plain loaders: no grid or statistics known
    torch.save(checkpoint, tmp_path / "plain.ckpt")
    with pytest.raises(ValueError, match="records no grid, statistics or leads.*ForecastModule.attach"):
        export_forecast_checkpoint(tmp_path / "plain.ckpt", tmp_path / "out.pt")
    with pytest.raises(FileNotFoundError, match="missing.ckpt.*plain.ckpt"):
        export_forecast_checkpoint(tmp_path / "missing.ckpt", tmp_path / "out.pt")


def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    from climax_nb.train.module import NonFiniteLossError

    dm, module = waves_datamodule(), tiny_module(dropout=0.0)
    quick_trainer(tmp_path, 2, tensorboard=False).fit(module, datamodule=dm)
    good = torch.load(tmp_path / "checkpoints" / LAST, weights_only=True)
    poisoned = WAVES.copy(deep=True)
    poisoned["z500"][:] = np.nan
    bad_dm = ForecastDataModule({"a": poisoned}, dm.split)
    bad_dm.stats = dm.stats  # the statistics of the good data; the fields are NaN
    expected = r"train loss is nan at step 2 \(batch from source 'a', initial times 2000-01"
    with pytest.raises(NonFiniteLossError, match=expected):
        quick_trainer(tmp_path, 4, tensorboard=False).fit(module, datamodule=bad_dm, ckpt_path="last")
    kept = torch.load(tmp_path / "checkpoints" / LAST, weights_only=True)
    assert kept["global_step"] == good["global_step"] == 2
    for key, value in good["state_dict"].items():
        assert torch.equal(kept["state_dict"][key], value), key


def test_negative_or_nan_lead_times_are_refused():
    net = tiny_module().net
    x = torch.zeros(1, len(net.variables), *net.config.img_size)
    for lead in (-6.0, float("nan")):
        with pytest.raises(ValueError, match="lead times must be finite and >= 0 hours"):
            net(x, lead, list(net.variables))
