"""Forecasting with trained checkpoints: the forecast contract, continuous, direct and iterative modes, ensembles, I/O.

A checkpoint carries a ``ForecastSpec`` (family, grid or region, statistics per
source, inputs, outputs, trained leads); ``open_model`` turns it into a
``ForecastModel``, the one interface forecasting, scoring, the notebooks and the
dashboard use. ``forecast(checkpoint, initial_state, lead_times)`` returns an
xarray Dataset with dims ``(init_time, lead_time, lat, lon)`` (``member`` first for
ensembles), a ``valid_time`` coordinate, and values in physical units.
"""

from climax_nb.forecast import atmorep as _atmorep_family  # noqa: F401  (registers the AtmoRep family)
from climax_nb.forecast import climax as _climax_family  # noqa: F401  (registers the ClimaX family)
from climax_nb.forecast.checkpoint import ForecastCheckpoint, load_forecast_checkpoint, save_forecast_checkpoint
from climax_nb.forecast.climax import ClimaXForecaster, RegionalClimaXForecaster, climax_spec
from climax_nb.forecast.damping import ZonalHyperdiffusion
from climax_nb.forecast.ensemble import Perturbation
from climax_nb.forecast.forecaster import forecast
from climax_nb.forecast.io import forecast_dataset, open_forecast, save_forecast
from climax_nb.forecast.leads import LeadTimeError, RolloutPlan, plan_rollout
from climax_nb.forecast.model import FAMILIES, Family, ForecastModel, open_model, register_family
from climax_nb.forecast.rollout import (
    RolloutError,
    RolloutLayout,
    feed_back,
    feedback_layout,
    rollout,
    rollout_layout,
)
from climax_nb.forecast.spec import SPEC_VERSION, ForecastSpec, SourceSpec, SpecError
from climax_nb.forecast.state import InitialStateError, check_initial_state

__all__ = [
    "FAMILIES",
    "SPEC_VERSION",
    "ClimaXForecaster",
    "Family",
    "ForecastCheckpoint",
    "ForecastModel",
    "ForecastSpec",
    "InitialStateError",
    "LeadTimeError",
    "Perturbation",
    "RegionalClimaXForecaster",
    "RolloutError",
    "RolloutLayout",
    "RolloutPlan",
    "SourceSpec",
    "SpecError",
    "ZonalHyperdiffusion",
    "check_initial_state",
    "climax_spec",
    "feed_back",
    "feedback_layout",
    "forecast",
    "forecast_dataset",
    "load_forecast_checkpoint",
    "open_forecast",
    "open_model",
    "plan_rollout",
    "register_family",
    "rollout",
    "rollout_layout",
    "save_forecast",
    "save_forecast_checkpoint",
]
