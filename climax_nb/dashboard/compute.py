"""What the dashboard shows, computed from a checkpoint and the truth: forecasts, scores and attention.

Each function is one library call or a thin layer over one, so the numbers in the
page are those ``climax-nb forecast`` / ``evaluate`` would give.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr

from climax_nb.baselines import climatology_forecast, persistence
from climax_nb.dashboard.settings import Settings
from climax_nb.evaluate import initial_times
from climax_nb.forecast import ForecastModel, forecast
from climax_nb.forecast.spec import is_dynamic
from climax_nb.forecast.state import read_fields
from climax_nb.scorecard import scorecard
from climax_nb.viz import attention_to_maps


def choose_inits(truth: xr.Dataset, max_lead_hours: float, settings: Settings) -> np.ndarray:
    """At most ``n_inits`` verifiable initial times, spread evenly over the data."""
    times = initial_times(truth, max_lead_hours, settings.every_hours)
    if len(times) <= settings.n_inits:
        return times
    return times[np.unique(np.linspace(0, len(times) - 1, settings.n_inits).round().astype(int))]


def model_forecast(fm: ForecastModel, truth: xr.Dataset, inits: np.ndarray, settings: Settings) -> xr.Dataset:
    """The checkpoint's forecast at the chosen leads (``auto``: continuous where trained, else a rollout)."""
    return forecast(fm, truth, list(settings.leads), mode=settings.mode, init_times=inits,
                    batch_size=settings.batch_size)


def rollout_step(fm: ForecastModel, leads: Sequence[float]) -> float:
    """The shortest trained lead (or the shortest lead asked for), so error growth is seen step by step."""
    return float(min(fm.trained_leads)) if fm.trained_leads else float(min(leads))


def rollout_forecast(fm: ForecastModel, truth: xr.Dataset, inits: np.ndarray, settings: Settings) -> xr.Dataset:
    """An iterative rollout keeping every step up to the longest lead: the error-growth curve."""
    step = rollout_step(fm, settings.leads)
    n = max(1, int(np.ceil(max(settings.leads) / step - 1e-9)))
    return forecast(fm, truth, [step * k for k in range(1, n + 1)], mode="iterative", step=step,
                    init_times=inits, batch_size=settings.batch_size)


def score(fc: xr.Dataset, truth: xr.Dataset, clim: xr.Dataset, name: str = "model",
          baselines: bool = True) -> xr.Dataset:
    """RMSE and ACC of ``fc`` (and of persistence and climatology) per variable and lead time."""
    ids = [str(v) for v in fc.data_vars if v in truth.data_vars]
    forecasts = {name: fc[ids]}
    if baselines:
        inits, leads = fc["init_time"].values, fc["lead_time"].values
        forecasts["persistence"] = persistence(truth, inits, leads, ids)
        forecasts["climatology"] = climatology_forecast(clim, inits, leads, ids)
    return scorecard(forecasts, truth, clim, metrics=("rmse", "acc"), variables=ids).drop_attrs()


def _state_at(fm: ForecastModel, truth: xr.Dataset, rollout: xr.Dataset | None, init: np.datetime64,
              lead: np.timedelta64) -> np.ndarray:
    """The normalised model input [1, V, H, W] the rollout starts its step from at ``init + lead``."""
    valid = np.datetime64(init + lead, "ns")
    if lead == np.timedelta64(0, "ns") or rollout is None:
        fields = read_fields(truth, fm.inputs, np.array([np.datetime64(init, "ns")]))
    else:
        has_time = valid in truth.indexes["time"]
        fields = read_fields(truth, fm.inputs, np.array([valid if has_time else np.datetime64(init, "ns")]))
        step = rollout.sel(init_time=init, lead_time=lead)
        for j, vid in enumerate(fm.inputs):
            if is_dynamic(vid):
                fields[0, j] = step[vid].values
    return fm.normalizer.normalize(fields, list(fm.inputs))


def attention(fm: ForecastModel, truth: xr.Dataset, rollout: xr.Dataset | None, init: np.datetime64) -> xr.DataArray:
    """Variable-aggregation weights (lead_time, head, variable, lat, lon) from ``init`` along the rollout.

    ClimaX aggregates variables before the lead time enters, so the weights change with
    lead only through the state the model starts from: the truth at lead 0, then each
    rollout state.
    """
    leads = [np.timedelta64(0, "ns")]
    if rollout is not None:
        leads += [np.timedelta64(v, "ns") for v in rollout["lead_time"].values[:-1]]
    x = np.concatenate([_state_at(fm, truth, rollout, init, lead) for lead in leads])
    with torch.inference_mode():
        _, attn = fm.model(torch.from_numpy(np.ascontiguousarray(x)), 0.0, list(fm.inputs),
                           list(fm.outputs), return_attention=True)
    attn = attn.float().numpy()  # [leads, L, heads, V]
    lat, lon, patch = truth["lat"].values, truth["lon"].values, fm.model.config.patch_size
    per_head = [
        xr.concat([attention_to_maps(attn[i, :, h : h + 1], fm.inputs, lat, lon, patch) for i in range(len(leads))],
                  "lead_time")
        for h in range(attn.shape[2])
    ]
    out = xr.concat(per_head, "head").transpose("lead_time", "head", "variable", "lat", "lon")
    return out.assign_coords(lead_time=np.array(leads, dtype="timedelta64[ns]"), head=np.arange(attn.shape[2]))
