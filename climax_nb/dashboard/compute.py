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
from climax_nb.forecast import ForecastModel, ZonalHyperdiffusion, forecast
from climax_nb.forecast.atmorep import AtmoRepForecaster
from climax_nb.forecast.forecaster import resolve_mode
from climax_nb.forecast.state import states_at_lead


def choose_inits(truth: xr.Dataset, max_lead_hours: float, settings: Settings, history_hours: float = 0.0
                 ) -> np.ndarray:
    """At most ``n_inits`` verifiable initial times, spread evenly over the data (after the model's history)."""
    times = initial_times(truth, max_lead_hours, settings.every_hours, history_hours)
    if len(times) <= settings.n_inits:
        return times
    return times[np.unique(np.linspace(0, len(times) - 1, settings.n_inits).round().astype(int))]


def rollout_damping(fm: ForecastModel, settings: Settings, leads: Sequence[float], mode: str = "iterative"
                    ) -> ZonalHyperdiffusion | None:
    """The settings' hyperdiffusion (del^8) where this forecast is the package's own rollout, else None
    (forecasts asked once per lead, and a family that rolls out inside its own step, are not damped)."""
    if settings.hyperdiffusion_hours is None or fm.rollout_step_hours is not None:
        return None
    if resolve_mode(fm, leads, mode) != "iterative":
        return None
    return ZonalHyperdiffusion(settings.hyperdiffusion_hours)


def model_forecast(fm: ForecastModel, truth: xr.Dataset, inits: np.ndarray, settings: Settings) -> xr.Dataset:
    """The checkpoint's forecast at the chosen leads (``auto``: continuous where trained, else a rollout,
    damped as the settings ask)."""
    leads = list(settings.leads)
    return forecast(fm, truth, leads, mode=settings.mode, init_times=inits, batch_size=settings.batch_size,
                    damping=rollout_damping(fm, settings, leads, settings.mode))


def rollout_step(fm: ForecastModel, leads: Sequence[float]) -> float:
    """The family's own rollout step, else the shortest trained lead (or lead asked for): error growth step by step."""
    if fm.rollout_step_hours is not None:
        return float(fm.rollout_step_hours)
    return float(min(fm.trained_leads)) if fm.trained_leads else float(min(leads))


def rollout_forecast(fm: ForecastModel, truth: xr.Dataset, inits: np.ndarray, settings: Settings) -> xr.Dataset:
    """An iterative rollout keeping every step up to the longest lead: the error-growth curve.

    ``settings.hyperdiffusion_hours`` damps each step (``rollout_damping``); a family that rolls out
    inside its own step (AtmoRep) is rolled out undamped."""
    step = rollout_step(fm, settings.leads)
    n = max(1, int(np.ceil(max(settings.leads) / step - 1e-9)))
    leads = [step * k for k in range(1, n + 1)]
    return forecast(fm, truth, leads, mode="iterative", step=step, init_times=inits,
                    batch_size=settings.batch_size, damping=rollout_damping(fm, settings, leads))


#: The baselines the dashboard scores a task's file beside (other files: ``DEFAULT_BASELINES``).
TASK_BASELINES: dict[str, tuple[str, ...]] = {"downscaling": ("bilinear",), "subseasonal": ("climatology",),
                                              "projection": ()}


def score(fc: xr.Dataset, truth: xr.Dataset, clim: xr.Dataset, name: str = "model",
          baselines: bool = True) -> xr.Dataset:
    """RMSE and ACC of ``fc`` (and of persistence and climatology) per variable and lead time.

    A task's file is scored beside that task's baselines (``TASK_BASELINES``): a downscaled field beside
    bilinear interpolation (persistence at lead 0 would be the truth itself), sub-seasonal window-mean
    anomalies beside climatology (persistence would read the window being forecast), a climate
    projection beside none (its samples are scenario runs, not a time series).
    """
    named = TASK_BASELINES.get(str(fc.attrs.get("task", "")), DEFAULT_BASELINES)
    return score_forecasts({name: fc}, truth, clim, baselines=named if baselines else ())


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


#: The counterfactual forcing the masked card offers: the sea 2 K warmer (the embedded warm-sst world's).
COUNTERFACTUAL_SST = 2.0

#: The masked model's tasks the dashboard shows: what each hides of a window around the initial time.
MASKED_TASKS: tuple[str, ...] = ("forecast", "interpolation", "infill")


def tasks_for(fm: AtmoRepForecaster) -> list[str]:
    """The tasks the model's window allows: an interpolation needs a slab before and one after the gap."""
    return [t for t in MASKED_TASKS if t != "interpolation" or fm.config.token_grid[0] >= 3]


def dashboard_task(kind: str, box: Sequence[float]):
    """The masked task ``kind`` as the dashboard shows it: one hidden slab, or ``box`` = (south, north, west, east)."""
    from climax_nb.forecast.masked import Box, Task

    return Task(kind, box=Box(*box)) if kind == "infill" else Task(kind, slabs=1)


def masked_tasks(fm: AtmoRepForecaster, truth: xr.Dataset, init: np.datetime64, box: Sequence[float]) -> xr.Dataset:
    """Each task's reconstruction around ``init`` (``fm.reconstruct``): per variable ``(task, member, step, lat,
    lon)`` in physical units, the ``hidden`` cells, the window's ``time`` per task and step, and the
    cross-field attention shares ``coupling`` ``(task, field, source, lat, lon)``."""
    values, hidden, times, coupling = [], [], [], []
    step = np.timedelta64(round(fm.step_hours * 3600), "s")
    tasks = tasks_for(fm)
    for kind in tasks:
        task = dashboard_task(kind, box)
        cells = task.cells(fm)
        start = np.datetime64(init, "ns") - task.layout(fm)[0] * step
        window = start + np.arange(fm.window_steps) * step
        x = fm.tensor(fm.read_window(truth, np.array([start])))
        with torch.inference_mode():
            r = fm.reconstruct(x, window[None], cells, coupling=True)
        values.append(fm.to_physical(r.values[0].movedim(2, 1), fm.inputs))  # [M, T, V, H, W]
        hidden.append(cells)
        times.append(window)
        pairs = sorted(r.coupling)
        coupling.append({pair: r.coupling[pair][0].float().cpu().numpy() for pair in pairs})
    fields = list(fm.fields)
    shares = np.zeros((len(tasks), len(fields), len(fields), *fm.grid.shape), dtype=np.float32)
    for k, maps in enumerate(coupling):
        for (f, g), share in maps.items():
            shares[k, fields.index(f), fields.index(g)] = share
    stacked = np.stack(values)  # [task, M, T, V, H, W]
    dims = ("task", "member", "step", "lat", "lon")
    data = {v: (dims, stacked[:, :, :, j]) for j, v in enumerate(fm.inputs)}
    data["hidden"] = (("task", "step", "lat", "lon"), np.stack(hidden))
    data["coupling"] = (("task", "field", "source", "lat", "lon"), shares)
    return xr.Dataset(data, coords={"task": tasks, "member": np.arange(fm.members),
                                    "step": np.arange(fm.window_steps), "lat": fm.grid.lat, "lon": fm.grid.lon,
                                    "time": (("task", "step"), np.stack(times)), "field": fields,
                                    "source": fields})
