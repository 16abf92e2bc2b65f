"""Climate projection with a trained checkpoint: forcing maps in, ClimateBench's period statistics out.

A projection model (``climax-nb finetune --config projection-compact``, ``data.projection``) reads
each sample's forcing maps (``co2``, ``sst_anomaly``) and constants and predicts its period's
``t2m``, ``pr`` and ``pr90`` (``climax_nb.data.climate``). ``project`` returns them in the
forecast layout at lead 0 (``init_time`` is the sample axis, with its ``scenario``, ``member`` and
``period``), so files, ``evaluate`` and the dashboard read it like any forecast; ``as_samples``
turns it back into the samples' layout that ClimateBench's scores and baselines use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import xarray as xr

from climax_nb.data.climate import PROJECTION_QUANTITY
from climax_nb.forecast.forecaster import at_lead_zero
from climax_nb.forecast.io import forecast_dataset
from climax_nb.forecast.model import CheckpointLike, ForecastModel, open_model
from climax_nb.forecast.state import check_initial_state

_LABELS = ("scenario", "member", "period")


def check_projector(fm: ForecastModel) -> dict[str, Any]:
    """What a projection model's outputs are; refuse any other model, naming the fix."""
    if fm.output_description.get("quantity") != PROJECTION_QUANTITY:
        raise ValueError(
            f"{fm.name} was not trained for climate projection (its outputs are "
            f"{'states' if fm.outputs_are_states else fm.output_description or 'other outputs'}): train one with "
            "climax-nb finetune --config projection-compact"
        )
    return fm.output_description


def project(checkpoint: CheckpointLike | ForecastModel, samples: xr.Dataset, *,
            variables: Sequence[str] | None = None, batch_size: int = 8, device: str | torch.device = "cpu",
            source: str | None = None) -> xr.Dataset:
    """The model's period statistics for every sample of ``samples`` (``climax_nb.data.climate.projection_samples``)."""
    fm = open_model(checkpoint, source=source)
    described = check_projector(fm)
    times = check_initial_state(samples, [fm], None)
    outputs = list(variables) if variables is not None else list(fm.outputs)
    values = at_lead_zero(fm, samples, times, outputs, batch_size, device)
    grid = fm.output_grid
    out = forecast_dataset(values, outputs, times, (0.0,), grid.lat, grid.lon)
    labels = {k: ("init_time", samples[k].values) for k in _LABELS if k in samples.coords}
    return out.assign_coords(labels).assign_attrs(task="projection", period=str(described.get("period", "")))


def as_samples(projected: xr.Dataset) -> xr.Dataset:
    """A lead-0 forecast (``project``'s) in the samples' layout: dims ``(time, lat, lon)``."""
    if projected.sizes.get("lead_time") != 1:
        raise ValueError(f"a projection has one lead time (0), this one {projected.sizes.get('lead_time')}")
    out = projected.isel(lead_time=0, drop=True).drop_vars("valid_time", errors="ignore")
    return out.rename(init_time="time")
