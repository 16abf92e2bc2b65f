"""The ClimaX family behind the forecast contract: global ``ClimaX`` and box-only ``RegionalClimaX``.

The regional model reads the whole grid and predicts the box's cells, so its
output grid is the box's part of the input grid and it cannot feed its
predictions back (no rollout).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn

from climax_nb.forecast.model import Family, ForecastModel, register_family
from climax_nb.forecast.spec import ForecastSpec, SpecError
from climax_nb.grid import Grid
from climax_nb.model import MODEL_CLASSES, ClimaXBase, ClimaXConfig, RegionalClimaX
from climax_nb.model.regional import Box, RegionPatches

FAMILY = "climax"


def build_climax(spec: ForecastSpec) -> nn.Module:
    """A fresh ClimaX network of the spec's class and architecture (weights to be loaded)."""
    if spec.model_class not in MODEL_CLASSES:
        raise SpecError(f"unknown ClimaX class {spec.model_class!r}; expected one of {sorted(MODEL_CLASSES)}")
    cls = MODEL_CLASSES[spec.model_class]
    config = ClimaXConfig.from_dict(dict(spec.model_config))
    if issubclass(cls, RegionalClimaX):
        return cls.from_config(config, grid=spec.grid)
    return cls.from_config(config)


def time_tensor(times: np.ndarray | None, like: torch.Tensor) -> torch.Tensor | None:
    """Initial times as the model takes them (int64 nanoseconds since 1970, on ``like``'s device); None stays None."""
    if times is None:
        return None
    ns = np.asarray(times, dtype="datetime64[ns]").astype(np.int64).reshape(-1)
    return torch.from_numpy(ns).to(like.device)


class ClimaXForecaster(ForecastModel):
    """Global ClimaX: any known inputs, any known outputs, lead time in hours."""

    model: ClimaXBase

    @property
    def known_variables(self) -> tuple[str, ...]:
        return tuple(self.model.variables)

    def step(self, x: torch.Tensor, lead_hours: torch.Tensor | float, outputs: Sequence[str],
             times: np.ndarray | None = None) -> torch.Tensor:
        return self.model(x, lead_hours, list(self.inputs), list(outputs), init_times=time_tensor(times, x))

    def aggregation_weights(self, x: torch.Tensor, lead_hours: float = 0.0) -> torch.Tensor:
        """The variable aggregation's weights ``[B, L, heads, V]`` over ``self.inputs``, from inputs ``x``.

        ClimaX aggregates variables before the lead time enters, so they do not depend on it.
        """
        with torch.inference_mode():
            _, attn = self.model.forward_encoder(x, lead_hours, list(self.inputs), need_weights=True)
        return attn

    @property
    def attends_over_variables(self) -> bool:
        return True

    def attention(self, x: torch.Tensor) -> xr.DataArray:
        """Aggregation weights as maps ``(sample, head, variable, lat, lon)`` on the patch grid."""
        from climax_nb.viz.maps import attention_to_maps

        attn = self.aggregation_weights(x).float().cpu().numpy()
        grid, patch = self.output_grid, self.model.config.patch_size
        per_sample = [
            xr.concat([attention_to_maps(a[:, h : h + 1], self.inputs, grid.lat, grid.lon, patch)
                       for h in range(a.shape[1])], "head")
            for a in attn
        ]
        out = xr.concat(per_sample, "sample").transpose("sample", "head", "variable", "lat", "lon")
        return out.assign_coords(head=np.arange(attn.shape[2]))


class RegionalClimaXForecaster(ClimaXForecaster):
    """ClimaX on one box's tokens: inputs on the whole grid, predictions on the box."""

    model: RegionalClimaX

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.spec.region is None:
            raise SpecError(f"{self.name} is a RegionalClimaX checkpoint but its spec names no region")

    @property
    def patches(self) -> RegionPatches:
        return self.model.region(self.spec.region)

    @property
    def output_grid(self) -> Grid:
        rp = self.patches
        return Grid(np.asarray(rp.lat, dtype=np.float64), np.asarray(rp.lon, dtype=np.float64),
                    f"{self.spec.region.name} of {self.grid.name}")

    @property
    def can_roll_out(self) -> bool:
        return False

    def step(self, x: torch.Tensor, lead_hours: torch.Tensor | float, outputs: Sequence[str],
             times: np.ndarray | None = None) -> torch.Tensor:
        return self.model(x, lead_hours, list(self.inputs), self.patches, list(outputs),
                          init_times=time_tensor(times, x))

    def aggregation_weights(self, x: torch.Tensor, lead_hours: float = 0.0) -> torch.Tensor:
        ids = torch.tensor(self.patches.patch_ids, dtype=torch.long, device=x.device)
        with torch.inference_mode():
            _, attn = self.model.forward_encoder(x, lead_hours, list(self.inputs), ids, need_weights=True)
        return attn


def _forecaster(model: nn.Module, spec: ForecastSpec, **kwargs) -> ForecastModel:
    cls = RegionalClimaXForecaster if isinstance(model, RegionalClimaX) else ClimaXForecaster
    return cls(model, spec, **kwargs)


CLIMAX = register_family(Family(FAMILY, build_climax, _forecaster))


def climax_spec(model: ClimaXBase, grid: Grid, sources: Sequence, *, trained_leads: Sequence[float] | None,
                time_step_hours: float | None = None, region: Box | None = None,
                training: dict | None = None) -> ForecastSpec:
    """The spec of a ClimaX network trained on ``sources`` (``SourceSpec``s, the default first).

    A ``RegionalClimaX`` needs the ``region`` it predicts; a global model has none.
    """
    if grid.shape != model.config.img_size:
        raise SpecError(f"grid {grid.name} is {grid.shape[0]}x{grid.shape[1]}; the model expects "
                        f"{model.config.img_size[0]}x{model.config.img_size[1]}")
    if isinstance(model, RegionalClimaX) != (region is not None):
        raise SpecError("a RegionalClimaX checkpoint needs the region it predicts, and only such a checkpoint does")
    return ForecastSpec(
        family=FAMILY,
        model_class=type(model).__name__,
        model_config=model.config.to_dict(),
        grid=grid,
        sources=tuple(sources),
        trained_leads=None if trained_leads is None else tuple(trained_leads),
        time_step_hours=time_step_hours,
        region=region,
        training=dict(training or {}),
    )
