"""The Lightning module that pretrains and fine-tunes ClimaX.

Lightning runs the loop (progress bars, checkpoints, resume, precision, DDP/FSDP);
this module only says what a step is: forecast, latitude-weighted MSE in
normalised space, AdamW with warm-up and cosine decay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from climax_nb.data.pipeline.loader import set_loader_epoch
from climax_nb.data.stats import Normalizer
from climax_nb.grid import WEATHERBENCH_RESOLUTIONS, Grid
from climax_nb.model import ClimaX, ClimaXConfig
from climax_nb.train.checkpointing import CONTEXT_KEY
from climax_nb.train.loss import cos_lat_weights, lat_weighted_mse
from climax_nb.train.optim import parameter_groups, warmup_cosine

#: Model parts that can be frozen when fine-tuning, by the parameter-name prefixes they own.
FREEZABLE: dict[str, tuple[str, ...]] = {
    "tokenizer": ("token_embeds", "var_embed"),
    "aggregation": ("var_query", "var_agg"),
    "backbone": ("pos_embed", "lead_time_embed", "blocks", "norm"),
}


def grid_name(lat: Sequence[float], lon: Sequence[float]) -> str:
    """The WeatherBench name of a grid ("5.625deg", ...), else "custom"."""
    for res in WEATHERBENCH_RESOLUTIONS:
        grid = Grid.weatherbench(res)
        if grid.matches(np.asarray(lat), np.asarray(lon)):
            return grid.name
    return "custom"


def make_forecast_context(
    lat: Sequence[float],
    lon: Sequence[float],
    stats: Mapping[str, Normalizer],
    variables: Mapping[str, tuple[Sequence[str], Sequence[str]]] | None = None,
    leads: Sequence[float] | None = None,
) -> dict[str, Any]:
    """What a checkpoint needs beyond weights to forecast, as plain lists and dicts.

    ``stats`` and ``variables`` (inputs, outputs) are per source name.
    """
    variables = variables or {}
    sources = {
        name: {
            "stats": norm.to_dict(),
            "inputs": list(variables[name][0]) if name in variables else norm.variables,
            "outputs": list(variables[name][1]) if name in variables else None,
        }
        for name, norm in stats.items()
    }
    lat, lon = [float(v) for v in lat], [float(v) for v in lon]
    return {
        "grid": {"lat": lat, "lon": lon, "name": grid_name(lat, lon)},
        "sources": sources,
        "leads": [float(h) for h in leads] if leads is not None else None,
    }


@dataclass(frozen=True)
class OptimConfig:
    """AdamW and schedule settings (ClimaX's pretraining values by default)."""

    lr: float = 5e-4
    weight_decay: float = 1e-5
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 100
    max_steps: int = 1000
    warmup_start_factor: float = 0.01
    min_factor: float = 0.01
    freeze: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        unknown = sorted(set(self.freeze) - set(FREEZABLE))
        if unknown:
            raise ValueError(f"cannot freeze {unknown}: choose among {sorted(FREEZABLE)}")
        object.__setattr__(self, "betas", tuple(self.betas))
        object.__setattr__(self, "freeze", tuple(self.freeze))


def freeze_parts(model: torch.nn.Module, parts: Sequence[str]) -> list[str]:
    """Turn off gradients for the named parts; return the frozen parameter names."""
    prefixes = tuple(p for part in parts for p in FREEZABLE[part])
    frozen = []
    for name, param in model.named_parameters():
        if name.startswith(prefixes):
            param.requires_grad_(False)
            frozen.append(name)
    return frozen


class ForecastModule(pl.LightningModule):
    """ClimaX trained on batches of (x, y, lead_time, variables, out_variables)."""

    def __init__(self, model: dict[str, Any], optim: dict[str, Any], lat: Sequence[float]) -> None:
        super().__init__()
        lat = [float(v) for v in lat]  # Lightning compares init arguments; arrays cannot be compared
        # plain dicts and lists only, so checkpoints load with weights_only=True
        self.save_hyperparameters({"model": dict(model), "optim": dict(optim), "lat": lat})
        self.model_config = ClimaXConfig.from_dict(dict(model))
        self.optim_config = OptimConfig(**optim)
        if len(lat) != self.model_config.img_size[0]:
            raise ValueError(f"{len(lat)} latitudes given for a model with img_size {self.model_config.img_size}")
        self.net = ClimaX.from_config(self.model_config)
        self.frozen = freeze_parts(self.net, self.optim_config.freeze)
        self.register_buffer("lat_weights", cos_lat_weights(np.asarray(lat)), persistent=False)
        self.forecast_context: dict[str, Any] | None = None

    @classmethod
    def build(cls, model: ClimaXConfig, optim: OptimConfig, lat: Sequence[float]) -> ForecastModule:
        """A module from config objects."""
        return cls(model.to_dict(), asdict(optim), lat)

    def set_forecast_context(self, context: Mapping[str, Any]) -> None:
        """Grid and statistics to store in checkpoints (``make_forecast_context``); set from the datamodule."""
        lat, lon = context["grid"]["lat"], context["grid"]["lon"]
        if (len(lat), len(lon)) != self.model_config.img_size:
            raise ValueError(
                f"the data grid is {len(lat)}x{len(lon)}; the model expects {self.model_config.img_size}"
            )
        self.forecast_context = dict(context)

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if hasattr(datamodule, "forecast_context"):
            self.set_forecast_context(datamodule.forecast_context())

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # plain lists and dicts: enough to forecast from this file alone, and weights_only-safe
        context = self.forecast_context or {"grid": {"lat": list(self.hparams["lat"])}}
        checkpoint[CONTEXT_KEY] = {
            "version": 1,
            "model": self.model_config.to_dict(),
            "optim": dict(self.hparams["optim"]),
            **context,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get(CONTEXT_KEY) or {}
        if self.forecast_context is None and "sources" in saved:
            self.forecast_context = {key: saved[key] for key in ("grid", "sources", "leads")}

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.net(batch["x"], batch["lead_time"], list(batch["variables"]), list(batch["out_variables"]))

    def compute_loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss and its [V_out] per-variable parts for one batch."""
        per_var = lat_weighted_mse(self(batch), batch["y"], self.lat_weights, per_variable=True)
        return per_var.mean(), per_var

    def _step(self, batch: dict[str, Any], stage: str) -> torch.Tensor:
        loss, per_var = self.compute_loss(batch)
        size = batch["x"].shape[0]
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=size, sync_dist=stage != "train")
        if stage != "train":
            for vid, value in zip(batch["out_variables"], per_var, strict=True):
                self.log(f"{stage}/mse_{vid}", value, batch_size=size, sync_dist=True)
        return loss

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val")

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
        scheduler = warmup_cosine(optimizer, cfg.warmup_steps, cfg.max_steps, cfg.warmup_start_factor, cfg.min_factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
