"""Forecasting with trained checkpoints: continuous, direct and iterative (rollout) modes, ensembles, I/O.

``forecast(checkpoint, initial_state, lead_times)`` returns an xarray Dataset with
dims ``(init_time, lead_time, lat, lon)`` (``member`` first for ensembles), a
``valid_time`` coordinate, and values in physical units.
"""

from climax_nb.forecast.ensemble import Perturbation
from climax_nb.forecast.forecaster import forecast
from climax_nb.forecast.io import forecast_dataset, open_forecast, save_forecast
from climax_nb.forecast.leads import LeadTimeError, RolloutPlan, plan_rollout
from climax_nb.forecast.rollout import RolloutError, RolloutLayout, rollout, rollout_layout
from climax_nb.forecast.spec import ForecastModel, resolve
from climax_nb.forecast.state import InitialStateError, check_initial_state

__all__ = [
    "ForecastModel",
    "InitialStateError",
    "LeadTimeError",
    "Perturbation",
    "RolloutError",
    "RolloutLayout",
    "RolloutPlan",
    "check_initial_state",
    "forecast",
    "forecast_dataset",
    "open_forecast",
    "plan_rollout",
    "resolve",
    "rollout",
    "rollout_layout",
    "save_forecast",
]
