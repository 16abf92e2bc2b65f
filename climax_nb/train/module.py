"""The Lightning module that pretrains and fine-tunes ClimaX.

Lightning runs the loop (progress bars, checkpoints, resume, precision, DDP/FSDP);
this module only says what a step is: forecast, latitude-weighted MSE in
normalised space, AdamW with warm-up and cosine decay.

Batches of rollout samples (``y`` of shape [B, K, V_out, H, W], ``data.rollout_steps``
K > 1) train on K chained steps: step 1 from ``x``, each prediction fed back as the
next input of the dynamic channels (forcings from the batch's ``forcings``, constants
as they are), the loss the mean over steps of the latitude-weighted MSE, with
gradients through the whole chain. A model trained so still forecasts one step
(its trained leads are the step leads).

``LossConfig.spectral_weight`` > 0 adds, at each step, the zonal-power log error at the small
scales (``climax_nb.train.loss.zonal_power_log_error``): MSE barely sees noise there, a rollout does.
``LossConfig.rollout_log_mse`` weighs a chain's steps by their relative error instead of their error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from climax_nb.data.pipeline.loader import set_loader_epoch
from climax_nb.forecast.climax import climax_spec
from climax_nb.forecast.rollout import RolloutError, RolloutLayout, feed_back, feedback_layout
from climax_nb.forecast.spec import READ_VERSIONS, SPEC_VERSION, ForecastSpec, SourceSpec, make_grid
from climax_nb.grid import Grid
from climax_nb.model import Box, ClimaX, ClimaXConfig, RegionalClimaX
from climax_nb.train.checkpointing import CONTEXT_KEY
from climax_nb.train.loss import check_min_wavenumber, cos_lat_weights, lat_weighted_mse, zonal_power_log_error
from climax_nb.train.optim import parameter_groups, warmup_cosine

#: Model parts that can be frozen when fine-tuning, by the parameter-name prefixes they own.
FREEZABLE: dict[str, tuple[str, ...]] = {
    "tokenizer": ("token_embeds", "var_embed"),
    "aggregation": ("var_query", "var_agg"),
    "backbone": ("pos_embed", "lead_time_embed", "blocks", "norm"),
}


class NonFiniteLossError(FloatingPointError):
    """A NaN or infinite loss: training stops at once, so no bad weights are saved."""


def _times(batch: dict[str, Any]) -> str:
    """The batch's initial times (nanoseconds since 1970 in the pipeline's batches) as text."""
    times = batch.get("init_time")
    if times is None:
        return "not recorded"
    ns = torch.as_tensor(times).reshape(-1).tolist()
    values = [str(np.datetime64(int(v), "ns")) for v in ns]
    return ", ".join(values[:4]) + (" ..." if len(values) > 4 else "")


@dataclass(frozen=True)
class TrainedOn:
    """What the data promise a checkpoint: the grid, each source's statistics and variables, the leads.

    ``rollout_steps`` K > 1: the data give K chained targets per sample (multi-step training).
    """

    grid: Grid
    sources: tuple[SourceSpec, ...]
    leads: tuple[float, ...]
    time_step_hours: float | None = None
    rollout_steps: int = 1


@dataclass(frozen=True)
class OptimConfig:
    """AdamW and schedule settings (ClimaX's pretraining values by default).

    The schedule's length is the trainer's ``max_steps``, its only home: change the
    number of steps and the cosine decay stretches with it.
    """

    lr: float = 5e-4
    weight_decay: float = 1e-5
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 100
    warmup_start_factor: float = 0.01
    min_factor: float = 0.01
    freeze: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"optim.lr must be a positive learning rate, got {self.lr}")
        if self.warmup_steps < 0:
            raise ValueError(f"optim.warmup_steps must be >= 0, got {self.warmup_steps}")
        unknown = sorted(set(self.freeze) - set(FREEZABLE))
        if unknown:
            raise ValueError(f"cannot freeze {unknown}: choose among {sorted(FREEZABLE)}")
        object.__setattr__(self, "betas", tuple(self.betas))
        object.__setattr__(self, "freeze", tuple(self.freeze))


@dataclass(frozen=True)
class LossConfig:
    """Terms added to the latitude-weighted MSE (none by default: ClimaX's loss).

    ``spectral_weight`` scales the mean over output variables of ``zonal_power_log_error`` at
    zonal wavenumbers >= ``spectral_min_wavenumber``: it holds the small scales' power to the
    truth's, which a rollout's feedback would otherwise inflate (whole-globe ClimaX models only);
    ``spectral_excess_only`` penalises power above the truth's only, not blurring;
    ``spectral_from_step`` n counts it from a chain's n-th step on (1: every step), leaving the
    first steps, whose small scales are still the truth's, to the MSE alone.

    ``rollout_log_mse`` (rollout batches, ``data.rollout_steps`` > 1): the MSE term is the mean over
    the chain's steps of the log of each step's MSE (its mean over variables), in place of the mean
    MSE, so each step's relative error weighs alike: with the mean, the late steps' errors, many
    times the early ones', set the gradient, and the early leads pay for it.
    """

    spectral_weight: float = 0.0
    spectral_min_wavenumber: int = 16
    spectral_excess_only: bool = False
    spectral_from_step: int = 1
    rollout_log_mse: bool = False

    def __post_init__(self) -> None:
        if not (self.spectral_weight >= 0 and np.isfinite(self.spectral_weight)):
            raise ValueError(f"loss.spectral_weight must be a finite weight >= 0, got {self.spectral_weight}")
        if self.spectral_min_wavenumber < 1:
            raise ValueError(f"loss.spectral_min_wavenumber must be >= 1, got {self.spectral_min_wavenumber}")
        if self.spectral_from_step < 1:
            raise ValueError(f"loss.spectral_from_step must be >= 1 (1: every step of a chain), got "
                             f"{self.spectral_from_step}")


def freeze_parts(model: torch.nn.Module, parts: Sequence[str]) -> list[str]:
    """Turn off gradients for the named parts; return the frozen parameter names."""
    prefixes = tuple(p for part in parts for p in FREEZABLE[part])
    frozen = []
    for name, param in model.named_parameters():
        if name.startswith(prefixes):
            param.requires_grad_(False)
            frozen.append(name)
    return frozen


class ScheduledModule(pl.LightningModule):
    """What every family's module shares: AdamW on ``self.net`` with warm-up and cosine decay, epoch-reshuffled loaders.

    Subclasses set ``self.net`` (the network), ``self.optim_config`` (an ``OptimConfig``) and
    ``self.trained_on``, say what a step is and what spec checkpoints carry (``forecast_spec``).
    """

    net: torch.nn.Module
    optim_config: OptimConfig
    trained_on: TrainedOn | None

    def attach(self, trained_on: TrainedOn) -> None:
        """Record what the data promise checkpoints (``self.trained_on``), refusing data the model cannot take."""
        raise NotImplementedError

    def forecast_spec(self) -> ForecastSpec | None:
        """The contract a checkpoint of this module promises (None until the data are attached)."""
        raise NotImplementedError

    def training_record(self) -> dict[str, Any]:
        """Where training stands and how it optimises, for the spec's ``training`` entry."""
        return {"global_step": int(self.global_step), "epoch": int(self.current_epoch),
                "optim": dict(self.hparams["optim"])}

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if self.trained_on is None and hasattr(datamodule, "trained_on"):
            self.attach(datamodule.trained_on())

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        spec = self.forecast_spec()
        checkpoint[CONTEXT_KEY] = {"version": SPEC_VERSION, "spec": None if spec is None else spec.to_dict()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get(CONTEXT_KEY) or {}
        if self.trained_on is None and saved.get("version") in READ_VERSIONS and saved.get("spec"):
            spec = ForecastSpec.from_dict(saved["spec"])
            steps = int(spec.training.get("rollout_steps", 1))
            self.trained_on = TrainedOn(spec.grid, spec.sources, spec.trained_leads or (), spec.time_step_hours, steps)

    def on_train_epoch_start(self) -> None:
        # Lightning reshuffles samplers only; the streaming datasets reshuffle themselves by epoch.
        loader = self.trainer.train_dataloader
        for part in loader if isinstance(loader, list | tuple) else [loader]:
            if isinstance(part, DataLoader):
                set_loader_epoch(part, self.current_epoch)
            elif hasattr(part, "set_epoch"):  # e.g. ResumableLoader
                part.set_epoch(self.current_epoch)

    def configure_optimizers(self) -> dict[str, Any]:
        cfg = self.optim_config
        optimizer = torch.optim.AdamW(parameter_groups(self.net, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas)
        total = self.schedule_steps()
        if cfg.warmup_steps > total:
            raise ValueError(
                f"optim.warmup_steps ({cfg.warmup_steps}) is longer than the run ({total} steps, trainer.max_steps): "
                "lower --optim.warmup_steps or raise --trainer.max_steps"
            )
        scheduler = warmup_cosine(optimizer, cfg.warmup_steps, total, cfg.warmup_start_factor, cfg.min_factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def schedule_steps(self) -> int:
        """The schedule's length: the trainer's ``max_steps`` (or its estimate when the run is bounded by epochs)."""
        steps = int(self.trainer.max_steps)
        if steps < 1:
            steps = int(self.trainer.estimated_stepping_batches)
        return max(steps, 1)


class ForecastModule(ScheduledModule):
    """ClimaX (global, or one region's tokens) trained on batches of (x, y, lead_time, variables, out_variables).

    ``trained_on`` (set by ``climax_nb.train.run.train``, else taken from a
    ``ForecastDataModule`` at ``setup``) is what checkpoints record as their
    ``ForecastSpec``; a regional model (``region``: a box) is scored on the box's cells.
    """

    def __init__(self, model: dict[str, Any], optim: dict[str, Any], lat: Sequence[float],
                 lon: Sequence[float] | None = None, region: dict[str, Any] | None = None,
                 loss: dict[str, Any] | None = None) -> None:
        super().__init__()
        lat = [float(v) for v in lat]  # Lightning compares init arguments; arrays cannot be compared
        lon = [float(v) for v in lon] if lon is not None else None
        optim = {k: v for k, v in dict(optim).items() if k != "max_steps"}  # its home is the trainer now
        # plain dicts and lists only, so checkpoints load with weights_only=True
        loss = dict(loss or {})
        self.save_hyperparameters({"model": dict(model), "optim": optim, "lat": lat, "lon": lon, "region": region,
                                   "loss": loss})
        self.model_config = ClimaXConfig.from_dict(dict(model))
        self.optim_config = OptimConfig(**optim)
        self.loss_config = LossConfig(**loss)
        if len(lat) != self.model_config.img_size[0]:
            raise ValueError(f"{len(lat)} latitudes given for a model with img_size {self.model_config.img_size}")
        self.region = Box(region["name"], tuple(region["lat_range"]), tuple(region["lon_range"])) if region else None
        weights = cos_lat_weights(np.asarray(lat))
        if self.region is None:
            self.net = ClimaX.from_config(self.model_config)
            self.patches = None
        else:
            grid = make_grid(lat, lon) if lon is not None else None
            self.net = RegionalClimaX.from_config(self.model_config, grid=grid)
            self.patches = self.net.region(self.region)
            weights = cos_lat_weights(np.asarray(lat)[self.patches.rows[0] : self.patches.rows[1]])
        self._check_spectral_term()
        self.frozen = freeze_parts(self.net, self.optim_config.freeze)
        self.register_buffer("lat_weights", weights, persistent=False)
        self.trained_on: TrainedOn | None = None

    @classmethod
    def build(cls, model: ClimaXConfig, optim: OptimConfig, lat: Sequence[float], lon: Sequence[float] | None = None,
              region: Box | None = None, loss: LossConfig | None = None) -> ForecastModule:
        """A module from config objects (``region``: fine-tune on that box's tokens only)."""
        box = None if region is None else {"name": region.name, "lat_range": list(region.lat_range),
                                           "lon_range": list(region.lon_range)}
        return cls(model.to_dict(), asdict(optim), lat, lon, box, asdict(loss or LossConfig()))

    def _check_spectral_term(self) -> None:
        """Refuse a spectral term the outputs cannot carry: a box is not periodic in longitude."""
        cfg = self.loss_config
        if not cfg.spectral_weight:
            return
        if self.region is not None:
            raise ValueError(f"loss.spectral_weight compares zonal spectra of whole latitude circles; the regional "
                             f"model predicts the box {self.region.name} only: use --loss.spectral_weight 0")
        check_min_wavenumber(cfg.spectral_min_wavenumber, self.model_config.img_size[1], "loss.spectral_min_wavenumber")

    def attach(self, trained_on: TrainedOn) -> None:
        """Record the grid, statistics, variables and leads that checkpoints of this module will carry.

        Refuses data the model cannot take here, before training, rather than at the first step.
        """
        if trained_on.grid.shape != self.model_config.img_size:
            raise ValueError(
                f"the data grid is {trained_on.grid.shape[0]}x{trained_on.grid.shape[1]}; the model expects "
                f"{self.model_config.img_size}"
            )
        if trained_on.rollout_steps > 1:
            self._check_rollout(trained_on)
        known = self.model_config.variables
        for source in trained_on.sources:
            missing = [v for v in dict.fromkeys((*source.inputs, *source.outputs)) if v not in known]
            if missing:
                raise ValueError(
                    f"source '{source.name}' has input or output variable(s) {missing} that the model does not "
                    f"know (model variables: {list(known)}); add them to --model.variables, or leave them out "
                    "with --data.inputs and --data.outputs"
                )
        self.trained_on = trained_on

    def _check_rollout(self, trained_on: TrainedOn) -> None:
        """Refuse, before training, multi-step training of a model whose predictions cannot be fed back."""
        for source in trained_on.sources:
            self._rollout_layout(source.inputs, source.outputs, trained_on.rollout_steps,
                                 f"the model trained on source '{source.name}'")

    def _rollout_layout(self, inputs: Sequence[str], outputs: Sequence[str], steps: int,
                        who: str = "the model") -> RolloutLayout:
        """How predictions (in ``outputs`` order, as the targets) feed back into ``inputs`` in a training rollout."""
        if self.region is not None:
            raise RolloutError(
                f"data.rollout_steps {steps} feeds predictions back as inputs, but a regional model predicts only "
                f"its box ({self.region.name}), not the whole grid it reads: use --data.rollout_steps 1, or leave "
                "out --model.region"
            )
        return feedback_layout(
            tuple(inputs), tuple(outputs), who=who,
            fix=f"add them to --data.outputs (or leave it unset: every dynamic input), or use --data.rollout_steps 1 "
            f"(not {steps})",
        )

    def forecast_spec(self) -> ForecastSpec | None:
        """The contract a checkpoint of this module promises (None until ``attach``)."""
        if self.trained_on is None:
            return None
        on = self.trained_on
        training = self.training_record()
        if on.rollout_steps > 1:
            training["rollout_steps"] = on.rollout_steps
        return climax_spec(self.net, on.grid, on.sources, trained_leads=on.leads, time_step_hours=on.time_step_hours,
                           region=self.region, training=training)

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        x, lead, ins, outs = batch["x"], batch["lead_time"], list(batch["variables"]), list(batch["out_variables"])
        init = batch.get("init_time")
        if self.patches is None:
            return self.net(x, lead, ins, outs, init_times=init)
        return self.net(x, lead, ins, self.patches, outs, init_times=init)

    def compute_loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss and its [V_out] per-variable parts for one batch (on the box's cells for a regional model).

        For a rollout batch (``y`` [B, K, V_out, H, W]) both are means over the K steps (``step_losses``).
        """
        loss, per_var, _, _ = self._losses(batch)
        return loss, per_var

    def _losses(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """The loss, its [V_out] MSE parts, for a rollout batch the [K, V_out] MSE of each step, and the spectral term.

        The loss is the mean MSE (of a chain: its mean log MSE with ``LossConfig.rollout_log_mse``)
        plus the spectral term (``LossConfig``), zero when off."""
        if batch["y"].ndim == 5:
            per_step, spectral = self._chain_losses(batch)
            per_var = per_step.mean(0)
            fit = per_step.mean(1).clamp_min(1e-12).log().mean() if self.loss_config.rollout_log_mse else per_var.mean()
            return fit + spectral, per_var, per_step, spectral
        target = batch["y"] if self.patches is None else self.patches.crop(batch["y"])
        pred = self(batch)
        per_var = lat_weighted_mse(pred, target, self.lat_weights, per_variable=True)
        spectral = self._spectral_term(pred, target)
        return per_var.mean() + spectral, per_var, None, spectral

    def _spectral_term(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``spectral_weight`` times the mean over variables of the zonal-power log error (0 when off)."""
        cfg = self.loss_config
        if not cfg.spectral_weight:
            return pred.new_zeros(())
        error = zonal_power_log_error(pred, target, self.lat_weights, cfg.spectral_min_wavenumber,
                                      cfg.spectral_excess_only)
        return cfg.spectral_weight * error.mean()

    def step_losses(self, batch: dict[str, Any]) -> torch.Tensor:
        """[K, V_out] latitude-weighted MSE of each of K chained steps of a rollout batch (``_chain_losses``)."""
        return self._chain_losses(batch)[0]

    def _chain_losses(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """[K, V_out] latitude-weighted MSE of each of K chained steps of a rollout batch, and the mean spectral
        term of the steps from ``LossConfig.spectral_from_step`` on.

        Step k + 1 reads step k's prediction in the dynamic input channels and the batch's true
        ``forcings`` at its time (without them the forcings keep their initial values); constants
        stay as they are. The chain is not detached, so step 1 learns from every later step's error.
        """
        targets, x = batch["y"], batch["x"]
        layout = self._rollout_layout(batch["variables"], batch["out_variables"], targets.shape[1])
        if x.ndim != 4:
            raise ValueError(f"rollout batches take inputs [B, V_in, H, W] (no history), got {tuple(x.shape)}")
        forcings = batch.get("forcings")
        losses, spectral = [], []
        init = batch.get("init_time")
        for k in range(targets.shape[1]):  # step k starts k leads after the initial time
            start = None if init is None else init + torch.round(k * batch["lead_time"].double() * 3.6e12).long()
            pred = self({**batch, "x": x, "init_time": start})
            losses.append(lat_weighted_mse(pred, targets[:, k], self.lat_weights, per_variable=True))
            if k + 1 >= self.loss_config.spectral_from_step:
                spectral.append(self._spectral_term(pred, targets[:, k]))
            if k + 1 < targets.shape[1]:
                x = feed_back(x, pred, layout, None if forcings is None else forcings[:, k])
        return torch.stack(losses), torch.stack(spectral).mean() if spectral else x.new_zeros(())

    def _step(self, batch: dict[str, Any], stage: str) -> torch.Tensor:
        loss, per_var, per_step, spectral = self._losses(batch)
        if not bool(torch.isfinite(loss)):
            raise NonFiniteLossError(
                f"{stage} loss is {loss.item()} at step {self.global_step} (batch from source "
                f"{batch.get('source', '?')!r}, initial times {_times(batch)}): training stopped before the weights "
                "or any checkpoint changed; check these times for NaN (validate with check_values=True), "
                "or lower --optim.lr"
            )
        size = batch["x"].shape[0]
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=size, sync_dist=stage != "train")
        if self.loss_config.spectral_weight:
            self.log(f"{stage}/loss_spectral", spectral.detach(), batch_size=size, sync_dist=stage != "train")
        if stage != "train":
            for vid, value in zip(batch["out_variables"], per_var, strict=True):
                self.log(f"{stage}/mse_{vid}", value, batch_size=size, sync_dist=True)
            for k, value in enumerate([] if per_step is None else per_step.mean(1), start=1):
                self.log(f"{stage}/loss_step{k}", value, batch_size=size, sync_dist=True)
        return loss

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val")
