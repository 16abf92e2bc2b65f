"""Sub-seasonal forecasts with a trained checkpoint: window-mean anomalies at weeks 3-4 and 5-6.

A sub-seasonal model (``climax-nb finetune --config subseasonal-compact``, ``data.subseasonal``) reads
the 00 UTC state and predicts, at each lead, the anomaly of the mean over the window that starts
then (``climax_nb.data.subseasonal``). Its outputs are not states, so it cannot roll out;
``subseasonal_forecast`` runs it at its trained leads and marks the result with what it holds,
so ``evaluate`` scores it against the window-mean anomalies beside climatology (a zero anomaly)
and damped persistence (``climax_nb.baselines``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import xarray as xr

from climax_nb.data.subseasonal import WINDOW_QUANTITY
from climax_nb.forecast.forecaster import forecast
from climax_nb.forecast.model import CheckpointLike, ForecastModel, open_model


def check_subseasonal(fm: ForecastModel) -> dict[str, Any]:
    """What a sub-seasonal forecaster's outputs are; refuse any other forecaster, naming the fix."""
    if fm.output_description.get("quantity") != WINDOW_QUANTITY:
        raise ValueError(
            f"{fm.name} predicts {'states' if fm.outputs_are_states else fm.output_description or 'other outputs'}, "
            "not window-mean anomalies: train a sub-seasonal model with climax-nb finetune --config "
            "subseasonal-compact (or --data.subseasonal 14 --data.leads [336, 672] --model.residual false)"
        )
    return fm.output_description


def subseasonal_forecast(
    checkpoint: CheckpointLike | ForecastModel,
    initial: xr.Dataset,
    *,
    init_times: Any = None,
    lead_times: Sequence[float] | None = None,
    variables: Sequence[str] | None = None,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    source: str | None = None,
) -> xr.Dataset:
    """The model's window-mean anomalies from the states of ``initial`` at ``init_times`` (default: all its times).

    ``lead_times`` (hours) default to the trained ones. ``valid_time`` is each window's first day.
    """
    fm = open_model(checkpoint, source=source)
    described = check_subseasonal(fm)
    leads = list(lead_times) if lead_times is not None else list(fm.trained_leads or ())
    out = forecast(fm, initial, leads, mode="continuous", init_times=init_times, variables=variables,
                   batch_size=batch_size, device=device)
    return out.assign_attrs(task="subseasonal", **{k: v for k, v in described.items() if k != "climatology_years"},
                            climatology_years=list(described.get("climatology_years", [])))
