"""Pretraining and fine-tuning runs described by one config (YAML + command line).

A run opens its sources, builds (or loads) the model, trains it with Lightning
and exports a one-file forecast checkpoint (weights and ``ForecastSpec``). Each
config section builds its own object (``ModelSection.build``,
``DataSection.split``, ``TrainerSection.build``), so every setting has one home:
the schedule's length is ``trainer.max_steps``. ``model.family`` picks the family's
module and data (``climax_parts`` or ``climax_nb.train.atmorep.atmorep_parts``); the
trainer, checkpoints, resume and export are shared. The same function serves
``climax-nb pretrain``, ``climax-nb finetune``, the notebooks and the experiments.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
import xarray as xr

from climax_nb.config import differences, load_yaml, option, save_yaml
from climax_nb.data.climate import PROJECTION_FORCINGS, PROJECTION_SOURCE, PROJECTION_TARGETS, projection_samples
from climax_nb.data.downscaling import perfect_model_input
from climax_nb.data.open import open_source, source_label
from climax_nb.data.schema import validate
from climax_nb.data.subseasonal import SUBSEASONAL_VARIABLES, subseasonal_pair
from climax_nb.defaults import PRETRAIN_LEADS
from climax_nb.forecast.checkpoint import FORMAT, LEGACY_FORMAT, load_forecast_checkpoint
from climax_nb.grid import Grid
from climax_nb.model import ClimaX, ClimaXConfig, load_official_checkpoint, parse_region, preset
from climax_nb.model.regional import Box
from climax_nb.model.released import LoadReport, transfer_released
from climax_nb.model.safe_load import safe_load
from climax_nb.train.atmorep import AtmoRepSection, atmorep_parts
from climax_nb.train.checkpointing import export_forecast_checkpoint
from climax_nb.train.datamodule import ForecastDataModule, SplitConfig
from climax_nb.train.module import ForecastModule, LossConfig, OptimConfig
from climax_nb.train.trainer import make_trainer
from climax_nb.variables import VARIABLES

#: Inputs of downscaling (``data.downscale``): ``coarsened`` is perfect-model downscaling.
DOWNSCALING_INPUTS = ("coarsened",)

#: Model families a run can train (``model.family``).
TRAINABLE_FAMILIES = ("climax", "atmorep")


@dataclass(frozen=True)
class ModelSection:
    family: str = option(
        "climax", "model family: climax, or atmorep (masked space-time tokens; its settings in the atmorep section)")
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
    residual_damping: bool | None = option(
        None, "with residual: relax the increment's base from the input toward a learnt mean field over a learnt "
        "time scale per variable, so long leads need not undo persistence")
    head_smoothing: int | None = option(
        None, "odd kernel width of a learnt per-variable smoothing of the head's fields (0: none, as ClimaX); "
        "smooths the steps at patch edges")
    seasonal_harmonics: int | None = option(
        None, "with residual_damping: annual harmonics of the mean field the base relaxes to (0: one fixed field), "
        "so the base follows the seasonal cycle at the valid time as climatology does")
    head_zonal_filter: bool | None = option(
        None, "a learnt gain per variable, latitude and zonal wavenumber on the forecast's whole-globe change from "
        "the input, started at 1, so training can damp the head's small-scale noise (a scale with gain 0 persists)")
    init: str | None = option(
        None, "start from this checkpoint: an exported model of ours (run_dir/model.pt) or a released ClimaX file"
    )
    init_fresh_base: bool = option(
        False, "with --model.init: start the damped base (mean field, damping rate, seasonal cycle) afresh instead "
        "of taking the init model's, which is the climate of the data it was trained on")
    region: str | None = option(
        None,
        "fine-tune on one box's tokens only: a name (NorthAmerica, Europe, ...) or 'lat_min,lat_max,lon_min,lon_max'",
    )
    freeze: str | None = option(
        None, "'backbone': keep the ViT blocks as initialised and train the embeddings, aggregation and head only "
        "(the paper's ClimaX-frozen)",
    )

    def __post_init__(self) -> None:
        if self.family not in TRAINABLE_FAMILIES:
            raise ValueError(f"unknown model.family {self.family!r}; choose one of {list(TRAINABLE_FAMILIES)}")
        if self.freeze not in (None, "backbone"):
            raise ValueError(f"unknown --model.freeze {self.freeze!r}; use 'backbone' or leave it out")
        if self.init_fresh_base and not self.init:
            raise ValueError("--model.init_fresh_base starts an init model's damped base afresh, but there is no "
                             "--model.init: a model from scratch starts afresh anyway; drop it or give --model.init")

    def build(self, sources: dict[str, xr.Dataset]) -> ClimaXConfig:
        """The preset with overrides, on the sources' grid, over the sources' variables."""
        grid = next(iter(sources.values()))
        names = set().union(*(map(str, ds.data_vars) for ds in sources.values())) | {"lat"}
        variables = self.variables or tuple(v for v in VARIABLES if v in names)
        overridable = ("embed_dim", "depth", "num_heads", "patch_size", "drop_path", "drop_rate", "residual",
                       "residual_damping", "head_smoothing", "seasonal_harmonics", "head_zonal_filter")
        changes = {k: getattr(self, k) for k in overridable if getattr(self, k) is not None}
        img_size = (grid.sizes["lat"], grid.sizes["lon"])
        return preset(self.preset, variables=tuple(variables), img_size=img_size, **changes)

    def box(self) -> Box | None:
        """The region to fine-tune on (None: the whole globe)."""
        return None if self.region is None else parse_region(self.region)


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
    rollout_steps: int = option(
        1,
        "train on K chained steps per sample: the drawn lead is the step, targets at lead, 2 lead, ..., K lead, each "
        "prediction fed back as the next input, the loss averaged over steps (needs every dynamic input among the "
        "outputs; K forward passes per sample)",
    )
    batch_size: int = option(16, "samples per batch (per device)")
    num_workers: int = option(0, "DataLoader worker processes")
    days: int | None = option(None, "simulated days of embedded sources (default: their whole years)")
    in_memory: bool = option(
        False, "load the training (and validation) years into memory first: every batch is then read by array "
        "indexing instead of a lazy read (4 bytes per variable and cell per step: 1.7 GB for three reanalysis years)")
    downscale: str | None = option(
        None,
        "downscaling instead of forecasting: 'coarsened' trains on each source's fields at the same time from the "
        "source coarsened to --data.coarse_resolution and upsampled back (perfect-model downscaling; leads [0])",
    )
    coarse_resolution: float = option(5.625, "grid (degrees) of the coarse input of downscaling")
    projection: str | None = option(
        None,
        "climate projection instead: every source is an embedded scenario run, each of its whole periods (a pandas "
        "offset: YS for years, MS for months) one sample, from its forcing maps (co2, sst_anomaly) to ClimateBench's "
        "t2m, pr and pr90 (climax_nb.data.climate; leads [0])",
    )
    subseasonal: int | None = option(
        None,
        "sub-seasonal forecasting instead: targets are the means over this many days (14: two weeks) from each valid "
        "day, as anomalies against the training years' climatology, predicted from the 00 UTC states (leads in "
        "whole days, e.g. [336, 672] for weeks 3-4 and 5-6; outputs default to z500, t850, t2m and tp6h)",
    )
    climatology_harmonics: int = option(
        3, "annual harmonics of the sub-seasonal targets' climatology (0: the mean, for stretches shorter than a year)")

    def __post_init__(self) -> None:
        if self.projection is not None and (self.downscale or self.subseasonal or tuple(self.leads) != (0.0,)):
            raise ValueError("--data.projection pairs each period's forcing with its statistics: use --data.leads [0] "
                             "without --data.downscale or --data.subseasonal")
        if self.subseasonal is not None:
            if self.subseasonal < 1 or self.downscale:
                raise ValueError(f"--data.subseasonal is a number of days >= 1 and excludes --data.downscale, got "
                                 f"{self.subseasonal} with downscale {self.downscale!r}")
            partial = [h for h in self.leads if float(h) <= 0 or float(h) % 24]
            if partial:
                raise ValueError(f"sub-seasonal inputs are daily (00 UTC): leads must be whole days in hours, got "
                                 f"{partial}; use e.g. --data.leads [336, 672]")
        if self.downscale not in (None, *DOWNSCALING_INPUTS):
            raise ValueError(f"unknown --data.downscale {self.downscale!r}; choose one of {list(DOWNSCALING_INPUTS)} "
                             "or leave it out to forecast")
        if self.downscale and tuple(self.leads) != (0.0,):
            raise ValueError(f"downscaling pairs each time with itself: use --data.leads [0], not {list(self.leads)}")

    def open(self) -> dict[str, xr.Dataset]:
        """Each source by a short name (``embedded/t31`` -> ``t31``), lazily opened, or with ``in_memory`` its
        training years (and the first source's validation years) loaded and then validated in memory."""
        if not self.in_memory:
            return {source_label(spec): open_source(spec, days=self.days) for spec in self.sources}
        opened = {}
        for i, spec in enumerate(self.sources):
            years = (*self.train_years, *(self.val_years if i == 0 else ())) if self.train_years else None
            lazy = open_source(spec, years=years, days=self.days, check_values=False)
            opened[source_label(spec)] = validate(lazy.load(), check_values=True, allow_gaps=years is not None,
                                                  where=spec)
        return opened

    def model_data(self, sources: dict[str, xr.Dataset]
                   ) -> tuple[dict[str, xr.Dataset], dict[str, xr.Dataset] | None]:
        """What the model reads of each source, and where its outputs come from (None: the same data, later).

        Forecasting reads the sources themselves; downscaling reads each source coarsened and upsampled back and
        predicts the source; sub-seasonal forecasting reads the 00 UTC states of the days with a target and
        predicts the window-mean anomalies (computed in memory, ``climax_nb.data.subseasonal``).
        """
        if self.projection is not None:
            samples = {PROJECTION_SOURCE: projection_samples(
                [(scenario_run_config(name), ds) for name, ds in sources.items()], self.projection)}
            return samples, samples
        if self.subseasonal is not None:
            pairs = {name: subseasonal_pair(ds, self.subseasonal_outputs(ds), self.train_years or _years(ds),
                                            self.subseasonal, self.climatology_harmonics)[:2]
                     for name, ds in sources.items()}
            return {name: p[0] for name, p in pairs.items()}, {name: p[1] for name, p in pairs.items()}
        if self.downscale is None:
            return sources, None
        coarse = Grid.weatherbench(self.coarse_resolution)
        return {name: perfect_model_input(ds, coarse) for name, ds in sources.items()}, sources

    def subseasonal_outputs(self, ds: xr.Dataset) -> tuple[str, ...]:
        """The variables of the sub-seasonal targets: ``outputs``, or those of ``SUBSEASONAL_VARIABLES`` in ``ds``."""
        return tuple(self.outputs) if self.outputs else tuple(v for v in SUBSEASONAL_VARIABLES if v in ds.data_vars)

    def split(self, sources: dict[str, xr.Dataset], seed: int) -> SplitConfig:
        """Years, variables, leads and batching of this section (training years default to every year)."""
        years = self.train_years or tuple(sorted({y for ds in sources.values() for y in _years(ds)}))
        outputs, inputs = self.outputs, self.inputs
        if self.subseasonal is not None and not outputs:
            outputs = self.subseasonal_outputs(next(iter(sources.values())))
        if self.projection is not None:
            outputs = outputs or PROJECTION_TARGETS
            inputs = inputs or (*PROJECTION_FORCINGS, "lsm", "orography", "lat")
        return SplitConfig(train_years=years, val_years=self.val_years, inputs=inputs, outputs=outputs,
                           leads=self.leads, batch_size=self.batch_size, num_workers=self.num_workers, seed=seed,
                           rollout_steps=self.rollout_steps)


def scenario_run_config(name: str):
    """The embedded configuration of the scenario run ``name`` (its forcing), or an error naming the fix."""
    from climax_nb.data.embedded.configs import UnknownSourceError, get_config

    try:
        return get_config(name)
    except UnknownSourceError:
        raise ValueError(f"--data.projection reads embedded scenario runs, whose forcing is known; {name!r} is not "
                         "one: use sources such as embedded/scenario-control-m0 (climax-nb data --list)") from None


def _years(ds: xr.Dataset) -> tuple[int, ...]:
    """The calendar years ``ds`` covers."""
    return tuple(sorted({int(y) for y in ds.time.dt.year.values}))


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
    keep_all_checkpoints: bool = option(False, "keep every checkpoint as step=N.ckpt, e.g. to draw learning curves")
    val_every_n_epochs: int = option(
        1, "epochs between validation passes: a short epoch with a long validation year spends much of its time there")
    resume: str | None = option(None, "resume a stopped run: 'last' or a checkpoint path")
    allow_changed_config: bool = option(
        False, "resume even if settings differ from run_dir/config.yaml (the earlier one is kept as config.N.yaml)"
    )
    progress: bool = option(True, "show progress bars")
    threads: int | None = option(
        None, "torch's CPU threads per process (default: torch's); 1 on a busy machine, where more threads contend")

    def build(self) -> pl.Trainer:
        """The Lightning trainer of this section (``make_trainer``); ``threads`` sets torch's CPU threads."""
        if self.val_every_n_epochs < 1:
            raise ValueError(f"trainer.val_every_n_epochs must be >= 1, got {self.val_every_n_epochs}")
        if self.threads is not None:
            if self.threads < 1:
                raise ValueError(f"trainer.threads must be >= 1 (or unset for torch's default), got {self.threads}")
            torch.set_num_threads(self.threads)
        return make_trainer(
            self.run_dir, max_steps=self.max_steps, precision=self.precision, accelerator=self.accelerator,
            devices=_devices(self.devices), strategy=self.strategy, num_nodes=self.num_nodes,
            log_every_n_steps=self.log_every_n_steps, checkpoint_every_n_steps=self.checkpoint_every_n_steps,
            keep_all_checkpoints=self.keep_all_checkpoints, seed=self.seed, progress=self.progress,
            check_val_every_n_epoch=self.val_every_n_epochs,
        )


@dataclass(frozen=True)
class RunConfig:
    model: ModelSection = option(ModelSection(), "model")
    data: DataSection = option(DataSection(), "data")
    optim: OptimConfig = option(OptimConfig(), "optimizer")
    loss: LossConfig = option(LossConfig(), "terms added to the MSE (ClimaX family)")
    trainer: TrainerSection = option(TrainerSection(), "trainer")
    atmorep: AtmoRepSection = option(AtmoRepSection(), "AtmoRep settings (read when model.family is atmorep)")


def open_sources(data: DataSection) -> dict[str, xr.Dataset]:
    """Each source of ``data`` by its short name, lazily opened."""
    return data.open()


#: ``ClimaXConfig`` fields that fix the shapes or meaning of the weights: a run initialised from a
#: checkpoint shares them (variables are matched by name, position embeddings interpolated to the grid).
ARCHITECTURE = ("patch_size", "embed_dim", "depth", "decoder_depth", "num_heads", "mlp_ratio")


def check_same_architecture(path: Path, stored: ClimaXConfig, wanted: ClimaXConfig) -> None:
    """Refuse to start from weights of another architecture, naming each difference and the options that fix it.

    Without this a deeper checkpoint would load with blocks silently dropped, and others fail on a tensor shape.
    """
    differ = [k for k in ARCHITECTURE if getattr(stored, k) != getattr(wanted, k)]
    if not differ:
        return
    settings = ", ".join(f"{k} {getattr(stored, k)} (this run: {getattr(wanted, k)})" for k in differ)
    options = [f"--model.{k} {getattr(stored, k)}" for k in differ if k in ModelSection.__dataclass_fields__]
    if len(options) < len(differ):  # decoder_depth and mlp_ratio come with a preset only
        options.insert(0, "the checkpoint's --model.preset")
    raise ValueError(
        f"--model.init {path} is a model of another architecture: {settings}; build its architecture "
        f"({' '.join(options)}), or leave out --model.init to train from scratch"
    )


def initialise(net: ClimaX, path: str) -> LoadReport:
    """Copy weights from ``path`` into ``net`` by variable name (new variables keep fresh rows).

    ``path`` is a forecast checkpoint of ours (either layout) or a released ClimaX file of the
    same architecture (``check_same_architecture``); a regional ``net`` takes a global model's
    weights as they are (its position embeddings are cut to the box by the patches it selects).
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no checkpoint to initialise from at {file}")
    raw = safe_load(file)
    if isinstance(raw, dict) and raw.get("format") in (FORMAT, LEGACY_FORMAT):
        source = load_forecast_checkpoint(file).model
        check_same_architecture(file, source.config, net.config)
        return transfer_released(net, source.state_dict(), source.variables)
    released, report = load_official_checkpoint(
        file, variables=net.config.variables, img_size=net.config.img_size, num_heads=net.config.num_heads
    )
    check_same_architecture(file, released.config, net.config)
    net.load_state_dict(released.state_dict())
    return report


#: Settings a resumed run may change without ``trainer.allow_changed_config``: they shape logs and
#: files, not the training (``model.init`` is not read on resume).
RESUME_MAY_CHANGE = (
    "trainer.resume",
    "trainer.allow_changed_config",
    "trainer.run_dir",
    "trainer.progress",
    "trainer.keep_all_checkpoints",
    "trainer.log_every_n_steps",
    "trainer.checkpoint_every_n_steps",
    "trainer.threads",
    "model.init",
)


def record_config(config: RunConfig) -> Path:
    """Write ``run_dir/config.yaml``, so the run can be repeated; a resume must not change the run silently.

    A resumed run whose settings differ from those in ``run_dir/config.yaml`` (batch size, leads,
    seed, learning rate, max_steps, ...) continues a checkpoint made under other ones, so it is
    refused, naming each difference, and the file is left as it is. With
    ``trainer.allow_changed_config`` it goes on: the earlier file is kept as ``config.N.yaml``
    (N = 1, 2, ... in the order they were replaced) and ``config.yaml`` holds the new settings.
    Lightning restores the optimizer from the checkpoint, its learning rate included, so a
    changed ``optim.lr`` does not take effect on resume.
    """
    run_dir = Path(config.trainer.run_dir)
    path = run_dir / "config.yaml"
    if config.trainer.resume and path.is_file():
        changes = differences(load_yaml(RunConfig, path), config, ignore=RESUME_MAY_CHANGE)
        if changes and not config.trainer.allow_changed_config:
            raise ValueError(
                f"resuming {run_dir} with settings other than its {path.name}: {'; '.join(changes)}; resume with "
                "the same settings, or pass --trainer.allow_changed_config true to go on with these "
                f"({path.name} is then kept as config.N.yaml)"
            )
        if changes:
            n = 1
            while (run_dir / f"config.{n}.yaml").exists():
                n += 1
            path.replace(run_dir / f"config.{n}.yaml")
    save_yaml(config, path)
    return path


def climax_parts(config: RunConfig, sources: dict[str, xr.Dataset], run_dir: Path
                 ) -> tuple[pl.Trainer, ForecastModule, ForecastDataModule]:
    """Trainer, module and data module of a ClimaX run, the data attached and ``model.init`` loaded."""
    if config.data.subseasonal is not None and config.model.residual:
        raise ValueError("sub-seasonal targets are window-mean anomalies, not the input fields plus a change: "
                         "train them with --model.residual false")
    inputs, targets = config.data.model_data(sources)
    datamodule = ForecastDataModule(inputs, config.data.split(inputs, config.trainer.seed), targets=targets,
                                    separate_output_stats=targets is not None and not config.data.downscale)
    trainer = config.trainer.build()
    module = ForecastModule.build(config.model.build(inputs), config.optim, datamodule.lat, datamodule.lon,
                                  region=config.model.box(), loss=config.loss)
    datamodule.setup()
    module.attach(datamodule.trained_on())
    if config.model.init and not config.trainer.resume:
        report = initialise(module.net, config.model.init)
        fresh = module.net.reset_damped_base() if config.model.init_fresh_base else []
        note = f"\nstarted afresh (--model.init_fresh_base): {fresh}" if fresh else ""
        (run_dir / "init_report.txt").write_text(report.summary() + note)
    if config.model.freeze == "backbone":
        module.net.blocks.requires_grad_(False)
    return trainer, module, datamodule


def train(config: RunConfig) -> Path:
    """Run one training job of ``model.family``; return the exported forecast checkpoint (``run_dir/model.pt``)."""
    task = next((k for k in ("downscale", "subseasonal", "projection") if getattr(config.data, k) is not None), None)
    if config.model.family == "atmorep" and task:
        raise ValueError(f"--data.{task} trains ClimaX models: use --model.family climax with it")
    if config.model.family == "atmorep" and config.loss != LossConfig():
        raise ValueError("the loss section sets terms of ClimaX's MSE; AtmoRep trains with its own score "
                         "(the atmorep section): leave out --loss.* with --model.family atmorep")
    if config.loss.spectral_from_step > config.data.rollout_steps:
        raise ValueError(f"loss.spectral_from_step {config.loss.spectral_from_step} is past the chain's "
                         f"{config.data.rollout_steps} step(s): the spectral term would count nowhere; lower it or "
                         "lengthen --data.rollout_steps")
    if config.loss.rollout_log_mse and config.data.rollout_steps < 2:
        raise ValueError("loss.rollout_log_mse weighs the steps of a rollout chain; this run trains one step: "
                         "add --data.rollout_steps K (K >= 2) or leave out --loss.rollout_log_mse")
    run_dir = Path(config.trainer.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    record_config(config)
    sources = config.data.open()
    parts = atmorep_parts if config.model.family == "atmorep" else climax_parts
    trainer, module, datamodule = parts(config, sources, run_dir)
    trainer.fit(module, datamodule=datamodule, ckpt_path=config.trainer.resume)
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
