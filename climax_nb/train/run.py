"""Pretraining and fine-tuning runs described by one config (YAML + command line).

A run opens its sources, builds (or loads) the model, trains it with Lightning
and exports a one-file forecast checkpoint (weights, grid, statistics). The
same function serves ``climax-nb pretrain``, ``climax-nb finetune``, the
notebooks and the experiment script.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import xarray as xr

from climax_nb.config import option, save_yaml
from climax_nb.data.open import open_dataset
from climax_nb.model import ClimaX, ClimaXConfig, load_checkpoint, load_official_checkpoint, preset
from climax_nb.model.checkpoint import LoadReport, safe_load, transfer_released
from climax_nb.train.checkpointing import export_forecast_checkpoint
from climax_nb.train.datamodule import PRETRAIN_LEADS, ForecastDataModule, SplitConfig
from climax_nb.train.module import ForecastModule, OptimConfig
from climax_nb.train.trainer import make_trainer
from climax_nb.variables import VARIABLES


@dataclass(frozen=True)
class ModelSection:
    preset: str = option("compact", "architecture preset: tiny, compact or paper")
    variables: tuple[str, ...] | None = option(None, "model variables (default: every variable of the sources)")
    embed_dim: int | None = option(None, "override the preset's embedding width")
    depth: int | None = option(None, "override the preset's number of ViT blocks")
    num_heads: int | None = option(None, "override the preset's attention heads")
    patch_size: int | None = option(None, "override the preset's patch size")
    drop_path: float | None = option(None, "override the preset's stochastic-depth rate")
    drop_rate: float | None = option(None, "override the preset's dropout rate")
    residual: bool | None = option(
        None, "predict the change from the input state (persistence + increment) instead of the full state"
    )
    init: str | None = option(
        None, "start from this checkpoint: an exported model of ours (run_dir/model.pt) or a released ClimaX file"
    )


@dataclass(frozen=True)
class DataSection:
    sources: tuple[str, ...] = option(
        ("embedded/warm-sst", "embedded/fast-convection", "embedded/t31"),
        "sources to train on: embedded/<name> or paths understood by open_dataset",
    )
    train_years: tuple[int, ...] = option((), "training years (default: every year of each source)")
    val_years: tuple[int, ...] = option((), "validation years of the first source (default: none)")
    inputs: tuple[str, ...] | None = option(None, "input variables (default: all of each source, plus lat)")
    outputs: tuple[str, ...] | None = option(None, "output variables (default: all time-varying ones)")
    leads: tuple[float, ...] = option(PRETRAIN_LEADS, "lead times in hours, one drawn per sample")
    batch_size: int = option(16, "samples per batch (per device)")
    num_workers: int = option(0, "DataLoader worker processes")
    days: int | None = option(None, "simulated days of embedded sources (default: their whole years)")


@dataclass(frozen=True)
class TrainerSection:
    run_dir: str = option("runs/pretrain", "folder for checkpoints, logs and the exported model")
    max_steps: int = option(1000, "optimizer steps")
    precision: str = option("auto", "auto (bf16/16-mixed on GPUs, 32 on CPU), 32-true, bf16-mixed, 16-mixed")
    accelerator: str = option("auto", "cpu, gpu or auto")
    devices: str = option("auto", "devices per node: auto, a count, or a list such as [0, 1]")
    strategy: str = option("auto", "auto, ddp (many GPUs or nodes) or fsdp (the paper model)")
    num_nodes: int = option(1, "nodes for multi-node DDP/FSDP")
    seed: int = option(0, "seed for initialisation, sampling and dropout")
    log_every_n_steps: int = option(10, "steps between log lines")
    checkpoint_every_n_steps: int = option(200, "steps between checkpoints (the last one is always kept)")
    resume: str | None = option(None, "resume a stopped run: 'last' or a checkpoint path")
    progress: bool = option(True, "show progress bars")


@dataclass(frozen=True)
class RunConfig:
    model: ModelSection = option(ModelSection(), "model")
    data: DataSection = option(DataSection(), "data")
    optim: OptimConfig = option(OptimConfig(), "optimizer")
    trainer: TrainerSection = option(TrainerSection(), "trainer")


def open_sources(data: DataSection) -> dict[str, xr.Dataset]:
    """Each source by a short name (``embedded/t31`` -> ``t31``), lazily opened."""
    out = {}
    for spec in data.sources:
        name = Path(spec).stem if not spec.startswith("embedded/") else spec.removeprefix("embedded/")
        if spec.startswith("embedded/"):
            from climax_nb.data import embedded

            out[name] = embedded.open_source(name, length=data.days)
        else:
            out[name] = open_dataset(spec)
    return out


def model_config(section: ModelSection, sources: dict[str, xr.Dataset]) -> ClimaXConfig:
    """The preset with overrides, on the sources' grid, over the sources' variables."""
    grid = next(iter(sources.values()))
    names = set().union(*(map(str, ds.data_vars) for ds in sources.values())) | {"lat"}
    variables = section.variables or tuple(v for v in VARIABLES if v in names)
    overridable = ("embed_dim", "depth", "num_heads", "patch_size", "drop_path", "drop_rate", "residual")
    changes = {k: getattr(section, k) for k in overridable}
    changes = {k: v for k, v in changes.items() if v is not None}
    img_size = (grid.sizes["lat"], grid.sizes["lon"])
    return preset(section.preset, variables=tuple(variables), img_size=img_size, **changes)


def initialise(net: ClimaX, path: str) -> LoadReport:
    """Copy weights from ``path`` into ``net`` by variable name (new variables keep fresh rows)."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no checkpoint to initialise from at {file}")
    raw = safe_load(file)
    if isinstance(raw, dict) and "model_class" in raw:
        source = load_checkpoint(file).model
        return transfer_released(net, source.state_dict(), source.variables)
    _, report = load_official_checkpoint(file, model_cls=type(net), **_arch(net.config))
    return report


def _arch(cfg: ClimaXConfig) -> dict:
    return {"variables": cfg.variables, "img_size": cfg.img_size}


def train(config: RunConfig) -> Path:
    """Run one training job; return the exported forecast checkpoint (``run_dir/model.pt``)."""
    run_dir = Path(config.trainer.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_yaml(config, run_dir / "config.yaml")
    sources = open_sources(config.data)
    d = config.data
    train_years = d.train_years or tuple(sorted({int(y) for ds in sources.values() for y in ds.time.dt.year.values}))
    split = SplitConfig(
        train_years=train_years,
        val_years=d.val_years,
        inputs=d.inputs,
        outputs=d.outputs,
        leads=d.leads,
        batch_size=d.batch_size,
        num_workers=d.num_workers,
        seed=config.trainer.seed,
    )
    datamodule = ForecastDataModule(sources, split)
    t = config.trainer
    trainer = make_trainer(
        run_dir,
        max_steps=t.max_steps,
        precision=t.precision,
        accelerator=t.accelerator,
        devices=_devices(t.devices),
        strategy=t.strategy,
        num_nodes=t.num_nodes,
        log_every_n_steps=t.log_every_n_steps,
        checkpoint_every_n_steps=t.checkpoint_every_n_steps,
        seed=t.seed,
        progress=t.progress,
    )
    optim = replace(config.optim, max_steps=max(config.optim.max_steps, 1))
    module = ForecastModule.build(model_config(config.model, sources), optim, datamodule.lat)
    if config.model.init and not t.resume:
        report = initialise(module.net, config.model.init)
        (run_dir / "init_report.txt").write_text(report.summary())
    trainer.fit(module, datamodule=datamodule, ckpt_path=t.resume)
    exported = run_dir / "model.pt"
    if trainer.is_global_zero:
        export_forecast_checkpoint(run_dir / "checkpoints" / "last.ckpt", exported)
    trainer.strategy.barrier()
    return exported


def _devices(value: str) -> int | str | list[int]:
    if value.isdigit():
        return int(value)
    if value.startswith("["):
        return [int(v) for v in value.strip("[]").split(",") if v.strip()]
    return value
