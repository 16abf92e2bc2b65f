"""Downscaling with a trained checkpoint: coarse fields in, the model's fine fields out, in the forecast layout.

A downscaling model (``climax-nb finetune`` with ``data.downscale``) reads coarse fields
upsampled onto its fine grid (``climax_nb.data.downscaling.upsample``) and predicts the
fine fields at the same time. ``downscale`` returns them as a forecast at lead 0
(dims ``init_time, lead_time, lat, lon``, ``valid_time`` = ``init_time``), so
``evaluate``, the scorecards and the dashboard read it like any forecast;
its baseline is ``climax_nb.baselines.bilinear``, the upsampled input itself in the same layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import xarray as xr

from climax_nb.data.downscaling import upsample
from climax_nb.forecast.forecaster import at_lead_zero
from climax_nb.forecast.io import forecast_dataset
from climax_nb.forecast.model import CheckpointLike, ForecastModel, open_model
from climax_nb.forecast.state import check_initial_state

#: The lead time of a downscaled field: it is valid at its input's time.
DOWNSCALING_LEAD: tuple[float, ...] = (0.0,)


def check_downscaler(fm: ForecastModel) -> None:
    """Refuse a forecaster that was not trained to downscale (its trained leads are not [0])."""
    if tuple(fm.trained_leads or ()) != DOWNSCALING_LEAD:
        raise ValueError(
            f"{fm.name} was trained for lead times {list(fm.trained_leads or [])} h, not to downscale: "
            "train one with climax-nb finetune --data.downscale coarsened --data.leads [0]"
        )


def downscale(
    checkpoint: CheckpointLike | ForecastModel,
    coarse: xr.Dataset,
    fine: xr.Dataset,
    *,
    init_times: Any = None,
    variables: Sequence[str] | None = None,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    source: str | None = None,
) -> xr.Dataset:
    """The model's fine fields from ``coarse`` at ``init_times`` (default: all of its times), at lead 0.

    ``fine`` is any dataset on the model's grid holding its constants (land-sea mask,
    orography); only those are read from it. Values come back in physical units.
    """
    fm = open_model(checkpoint, source=source)
    check_downscaler(fm)
    inputs = upsample(coarse, fine)
    times = check_initial_state(inputs, [fm], init_times)
    outputs = list(variables) if variables is not None else list(fm.outputs)
    values = at_lead_zero(fm, inputs, times, outputs, batch_size, device)
    grid = fm.output_grid
    return forecast_dataset(values, outputs, times, DOWNSCALING_LEAD, grid.lat, grid.lon,
                            attrs={"task": "downscaling", "input_grid": f"{coarse.sizes['lat']}x{coarse.sizes['lon']}"})
