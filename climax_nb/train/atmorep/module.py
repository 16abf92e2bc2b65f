"""The Lightning module that pretrains AtmoRep: BERT for space and time on cubes of several fields.

A step masks each sample's tokens (a rate from U(0, rate_max), the masked tokens zeroed,
noised, coarsened or left as they are; or, for a share of samples, one of the task masks),
predicts every field's ensemble and scores the masked tokens only (``loss``). Masks come
from a generator seeded from torch's global state, which ``StepSeed`` sets per batch, so a
resumed run draws the same masks. Validation scores fixed masks (seeded per batch) and the
forecast task (the last time slab hidden). Optimiser, schedule, checkpoint spec and epoch
reshuffling are ``ScheduledModule``'s, as for ClimaX.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from climax_nb.forecast.atmorep import atmorep_spec, variable_slots
from climax_nb.forecast.spec import ForecastSpec
from climax_nb.model.atmorep import (
    TASK_MASKS,
    AtmoRep,
    AtmoRepConfig,
    CubeCoords,
    MaskKind,
    TokenMasks,
    apply_masks,
    draw_masks,
    draw_rates,
    forecast_mask,
)
from climax_nb.train.atmorep.loss import PARTS, cell_mask, combine, lat_cell_weights, masked_losses
from climax_nb.train.atmorep.section import AtmoRepSection
from climax_nb.train.module import NonFiniteLossError, OptimConfig, ScheduledModule, TrainedOn
from climax_nb.train.resumable import derived_seed

_VAL_KEY = 7


def batch_coords(batch: dict[str, Any]) -> CubeCoords:
    """The ``CubeCoords`` of a cube batch (times in ns, cell latitudes and longitudes, the samples' SST offsets)."""
    times = batch["time"].cpu().numpy().astype("datetime64[ns]")
    offset = batch.get("sst_offset")
    return CubeCoords.from_arrays(times, batch["lat"].cpu(), batch["lon"].cpu(),
                                  0.0 if offset is None else offset.cpu().numpy())


class AtmoRepModule(ScheduledModule):
    """AtmoRep trained on batches of cubes (``climax_nb.data.pipeline.cubes``); see the module doc."""

    def __init__(self, model: dict[str, Any], optim: dict[str, Any], training: dict[str, Any],
                 lat: Sequence[float]) -> None:
        super().__init__()
        lat = [float(v) for v in lat]
        optim = {k: v for k, v in dict(optim).items() if k != "max_steps"}
        self.save_hyperparameters({"model": dict(model), "optim": optim, "training": dict(training), "lat": lat})
        self.model_config = AtmoRepConfig.from_dict(dict(model))
        self.optim_config = OptimConfig(**optim)
        if self.optim_config.freeze:
            raise ValueError(f"optim.freeze {list(self.optim_config.freeze)} names ClimaX parts; leave it out for "
                             "an AtmoRep run")
        section = AtmoRepSection(**{**training, "tasks": tuple(training.get("tasks", ()))})
        self.mask_config, self.section = section.masking(), section
        cfg = self.model_config
        # built now, so a neighbourhood too short for a task fails before training
        self.task_masks = {f.id: [TASK_MASKS[t]((f.num_levels, *cfg.token_grid)) for t in section.tasks]
                           for f in cfg.fields}
        self.net = AtmoRep(cfg)
        self.register_buffer("grid_lat", torch.tensor(lat, dtype=torch.float64), persistent=False)
        self.trained_on: TrainedOn | None = None

    @classmethod
    def build(cls, model: AtmoRepConfig, optim: OptimConfig, section: AtmoRepSection, lat: Sequence[float]
              ) -> AtmoRepModule:
        """A module from config objects."""
        return cls(model.to_dict(), asdict(optim), section.training(), lat)

    def attach(self, trained_on: TrainedOn) -> None:
        """Record the grid, per-month statistics and fields checkpoints carry; refuse data the model cannot read."""
        if trained_on.grid.shape != self.model_config.grid:
            raise ValueError(f"the data grid is {trained_on.grid.shape[0]}x{trained_on.grid.shape[1]}; the model "
                             f"expects {self.model_config.grid}")
        known = variable_slots(self.model_config)
        for source in trained_on.sources:
            unknown = [v for v in source.inputs if v not in known]
            if unknown:
                raise ValueError(f"source '{source.name}' gives {unknown}, which no field of the model holds")
        self.trained_on = trained_on

    def forecast_spec(self) -> ForecastSpec | None:
        if self.trained_on is None:
            return None
        on = self.trained_on
        training = self.training_record() | {"masking": dict(self.hparams["training"])}
        return atmorep_spec(self.net, on.grid, on.sources, time_step_hours=on.time_step_hours, training=training)

    # -- masks and loss -----------------------------------------------------------------------------
    def draw_masks(self, batch: dict[str, Any], generator: torch.Generator) -> list[TokenMasks]:
        """One ``TokenMasks`` per field of ``batch``: BERT masks at one rate per sample, or a task mask."""
        cubes, fields = batch["cubes"], list(batch["fields"])
        b, grid = cubes[0].shape[0], self.model_config.token_grid
        rates = draw_rates(b, self.mask_config.rate_max, generator)
        tasks = self.section.tasks
        use_task = torch.rand(b, generator=generator) < self.section.task_share if tasks else torch.zeros(b, dtype=bool)
        which = torch.randint(len(tasks) or 1, (b,), generator=generator)
        masks = []
        for fid, cube in zip(fields, cubes, strict=True):
            kind = draw_masks((cube.shape[1], *grid), rates, self.mask_config, generator).kind
            for i, task in enumerate(self.task_masks[fid]):
                chosen = use_task & (which == i)
                kind[chosen] = torch.where(task, int(MaskKind.ZERO), int(MaskKind.KEEP)).to(kind.dtype)
            masks.append(TokenMasks(kind))
        return masks

    def losses(self, batch: dict[str, Any], masks: Sequence[TokenMasks], generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss on the masked tokens of every field, and its parts (``PARTS``, means over fields)."""
        cubes, fields, size = batch["cubes"], list(batch["fields"]), self.model_config.token_size
        inputs = [apply_masks(c, m, size, self.mask_config, generator) for c, m in zip(cubes, masks, strict=True)]
        hidden = [m.hidden.to(c.device) for c, m in zip(cubes, masks, strict=True)]
        preds = self.net(inputs, fields, batch_coords(batch), token_masks=hidden)
        area = lat_cell_weights(batch["lat"], self.grid_lat)
        parts = [masked_losses(preds[f], c, area * cell_mask(m.masked.to(c.device), size))
                 for f, c, m in zip(fields, cubes, masks, strict=True)]
        return combine(parts, self.section.stats_weight, sum(p.sum() for p in preds.values()))

    def _check_finite(self, loss: torch.Tensor, batch: dict[str, Any], stage: str) -> None:
        if not bool(torch.isfinite(loss)):
            first = np.datetime64(int(batch["time"][0, 0]), "ns")
            raise NonFiniteLossError(
                f"{stage} loss is {loss.item()} at step {self.global_step} (batch from source "
                f"{batch.get('source', '?')!r}, first window starting {first}): training stopped before the weights "
                "or any checkpoint changed; check the data for NaN (validate with check_values=True), or lower "
                "--optim.lr"
            )

    def _log_parts(self, stage: str, loss: torch.Tensor, parts: dict[str, torch.Tensor], size: int) -> None:
        sync = stage != "train"
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=size, sync_dist=sync)
        for name in PARTS:
            self.log(f"{stage}/{name}", parts[name], batch_size=size, sync_dist=sync)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
        loss, parts = self.losses(batch, self.draw_masks(batch, generator), generator)
        self._check_finite(loss, batch, "train")
        self._log_parts("train", loss, parts, batch["cubes"][0].shape[0])
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(derived_seed(_VAL_KEY, batch_idx))
        loss, parts = self.losses(batch, self.draw_masks(batch, generator), generator)
        self._check_finite(loss, batch, "val")
        size = batch["cubes"][0].shape[0]
        self._log_parts("val", loss, parts, size)
        grid = self.model_config.token_grid
        if grid[0] > 1:  # the forecast task: the last time slab hidden
            forecast = [TokenMasks.hiding(forecast_mask((c.shape[1], *grid)), size) for c in batch["cubes"]]
            _, task_parts = self.losses(batch, forecast)
            self.log("val/forecast_crps", task_parts["crps"], batch_size=size, sync_dist=True)
        return loss


__all__ = ["AtmoRepModule", "batch_coords"]
