"""What the dashboard shows, computed from a checkpoint and the truth: forecasts, scores and attention.

Each function is one library call or a thin layer over one, so the numbers in the
page are those ``climax-nb forecast`` / ``evaluate`` would give.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr

from climax_nb.dashboard.settings import Settings
from climax_nb.evaluate import DEFAULT_BASELINES, initial_times
from climax_nb.evaluate import score as score_forecasts
from climax_nb.forecast import ForecastModel, forecast
from climax_nb.forecast.state import states_at_lead


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
    return score_forecasts({name: fc}, truth, clim, baselines=DEFAULT_BASELINES if baselines else ())


def _states_from(fm: ForecastModel, truth: xr.Dataset, rollout: xr.Dataset | None, init: np.datetime64,
                 lead: np.timedelta64) -> torch.Tensor:
    """The model input [1, V, H, W] the rollout starts its step from at ``init + lead``."""
    init = np.datetime64(init, "ns")
    if lead == np.timedelta64(0, "ns") or rollout is None:
        return fm.input_tensor(truth, np.array([init]))
    states = states_at_lead(rollout.sel(init_time=[init]), truth, lead)
    return fm.input_tensor(states, states["time"].values)


def attention(fm: ForecastModel, truth: xr.Dataset, rollout: xr.Dataset | None, init: np.datetime64) -> xr.DataArray:
    """Attention maps (lead_time, head, variable, lat, lon) from ``init`` along the rollout (``fm.attention``).

    ClimaX aggregates variables before the lead time enters, so the weights change with
    lead only through the state the model starts from: the truth at lead 0, then each
    rollout state.
    """
    leads = [np.timedelta64(0, "ns")]
    if rollout is not None:
        leads += [np.timedelta64(v, "ns") for v in rollout["lead_time"].values[:-1]]
    x = torch.cat([_states_from(fm, truth, rollout, init, lead) for lead in leads])
    maps = fm.attention(x)
    if maps is None:
        raise ValueError(f"{fm.name} has no attention to show")
    maps = maps.rename(sample="lead_time").transpose("lead_time", "head", "variable", "lat", "lon")
    return maps.assign_coords(lead_time=np.array(leads, dtype="timedelta64[ns]"))
