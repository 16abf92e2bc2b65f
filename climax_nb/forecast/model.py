"""The one model interface everything downstream of training talks to.

``ForecastModel`` wraps a trained network with its ``ForecastSpec``. It turns a
canonical Dataset into normalised model inputs (``read_inputs``), makes one
prediction step in normalised units (``step``), turns predictions back into
physical units (``to_physical``) and, where the family has it, gives attention
(``attention``). ``forecast`` (every mode), ``evaluate``, the tutorial cache, the
notebooks and the dashboard call only these, so a new model family plugs in by
subclassing ``ForecastModel`` and registering a ``Family`` (``register_family``);
nothing downstream changes.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from climax_nb.data.stats import Normalizer
from climax_nb.forecast.spec import ForecastSpec, SpecError
from climax_nb.grid import Grid
from climax_nb.variables import is_constant, to_ids

#: Median distance (in training standard deviations) beyond which inputs are reported as unlike the training data.
OUT_OF_DISTRIBUTION_SIGMAS = 6.0


class OutOfDistributionWarning(UserWarning):
    """Inputs far from the training statistics: wrong units, another climate, or another source's data."""


def warn_out_of_distribution(x: np.ndarray, variables: Sequence[str], normalizer: Normalizer,
                             sigmas: float = OUT_OF_DISTRIBUTION_SIGMAS) -> None:
    """Warn naming each variable whose normalised inputs ``[B, V, H, W]`` sit a median ``sigmas`` or more away.

    The median, not the maximum, so that heavy tails (heavy rain, jet cores) do not warn, and a
    shifted field (degC under ``K``, metres under ``m2 s-2``) does.
    """
    typical = np.median(np.abs(x), axis=(0, 2, 3))
    far = [(v, float(typical[j]), float(np.mean(x[:, j]))) for j, v in enumerate(variables) if typical[j] >= sigmas]
    if far:
        import warnings

        listed = "; ".join(
            f"{v}: median |z| {z:.1f} (mean z {m:+.1f}; training mean {normalizer.mean[v]:.6g}, "
            f"std {normalizer.std[v]:.3g})"
            for v, z, m in far
        )
        warnings.warn(
            f"inputs far outside the training statistics ({listed}): check their units and source; the forecast "
            "extrapolates and is unlikely to be meaningful",
            OutOfDistributionWarning,
            stacklevel=3,
        )


class ForecastModel:
    """A trained network, its statistics and variables, ready to forecast; subclassed per model family."""

    def __init__(self, model: nn.Module, spec: ForecastSpec, *, source: str | None = None,
                 inputs: Sequence[str] | None = None, outputs: Sequence[str] | None = None,
                 name: str = "checkpoint") -> None:
        chosen = spec.source(source)
        self.model, self.spec, self.name = model, spec, name
        self.source = chosen.name
        self.normalizer = chosen.normalizer
        #: the outputs' statistics: the inputs' unless the outputs are other quantities (window-mean anomalies)
        self.output_normalizer = chosen.output_normalizer
        self.outputs_are_states = chosen.outputs_are_states
        self.output_description = dict(chosen.output_description)
        self.inputs: tuple[str, ...] = tuple(to_ids(list(inputs))) if inputs is not None else chosen.inputs
        default_out = chosen.outputs or tuple(v for v in self.inputs if not is_constant(v))
        self.outputs: tuple[str, ...] = tuple(to_ids(list(outputs))) if outputs is not None else default_out
        unknown = [v for v in (*self.inputs, *self.outputs) if v not in self.known_variables]
        if unknown:
            raise SpecError(f"the model of {name} has no variable(s) {unknown}; it knows {list(self.known_variables)}")
        self._check_stats()

    def _check_stats(self) -> None:
        """A ``MissingStatsError`` naming any input or output without statistics."""
        self.normalizer.vectors(sorted(set(self.inputs) | (set(self.outputs) if self.outputs_are_states else set())))
        self.output_normalizer.vectors(list(self.outputs))

    # -- what the family tells ------------------------------------------------------------------
    @property
    def known_variables(self) -> tuple[str, ...]:
        """Every variable the network can take or give."""
        raise NotImplementedError

    @property
    def grid(self) -> Grid:
        """The grid the model reads its inputs on."""
        return self.spec.grid

    @property
    def output_grid(self) -> Grid:
        """The grid its predictions lie on (the input grid, or a region's part of it)."""
        return self.spec.grid

    @property
    def trained_leads(self) -> tuple[float, ...] | None:
        return self.spec.trained_leads

    @property
    def can_roll_out(self) -> bool:
        """Whether predictions can be fed back as the next inputs (same grid in and out, the inputs' quantities)."""
        return self.outputs_are_states

    @property
    def members(self) -> int:
        """Ensemble members one ``step`` gives: 1 (one prediction), or M and ``step`` returns ``[B, M, Vo, h, w]``."""
        return 1

    @property
    def history_hours(self) -> float:
        """Hours of earlier states ``read_inputs`` reads before each initial time (0: the initial state only)."""
        return 0.0

    @property
    def rollout_step_hours(self) -> float | None:
        """The step a rollout of this family must take (None: any trained lead; ``forecast`` chooses)."""
        return None

    @property
    def attends_over_variables(self) -> bool:
        """Whether ``attention`` gives weights over the input variables (ClimaX's variable aggregation)."""
        return False

    def rolling_out(self, step: Any = None) -> ForecastModel | None:
        """A forecaster whose ``step`` rolls out by itself (iterative mode), for families that feed back more than
        one state; None (the default): ``forecast`` chains ``step`` calls through ``rollout``."""
        return None

    def check_leads(self, leads: Sequence[float], mode: str) -> None:
        """Raise a ``LeadTimeError`` for leads (hours) or a mode this family cannot make; by default all can be."""

    def step(self, x: torch.Tensor, lead_hours: torch.Tensor | float, outputs: Sequence[str],
             times: np.ndarray | None = None) -> torch.Tensor:
        """One prediction ``[B, Vo, h, w]`` (normalised) of ``outputs`` at ``lead_hours`` from inputs ``x``.

        ``times`` are the batch's initial times, for families that read when they are (AtmoRep's
        auxiliary information and monthly statistics); others ignore them.
        """
        raise NotImplementedError

    def attention(self, x: torch.Tensor) -> xr.DataArray | None:
        """Attention the family exposes, as maps ``(sample, head, variable, lat, lon)``; None if it has none."""
        return None

    # -- shared by every family --------------------------------------------------------------------
    def read_inputs(self, ds: xr.Dataset, times: np.ndarray) -> np.ndarray:
        """Normalised inputs ``[B, V, H, W]`` (float32) of ``ds`` at ``times``; errors name the bad variable."""
        from climax_nb.forecast.state import read_fields

        x = self.normalizer.normalize(read_fields(ds, self.inputs, np.asarray(times)), self.inputs)
        warn_out_of_distribution(x, self.inputs, self.normalizer)
        return x

    def input_tensor(self, ds: xr.Dataset, times: np.ndarray) -> torch.Tensor:
        """``read_inputs`` as a tensor on the model's device."""
        return self.tensor(self.read_inputs(ds, times))

    def tensor(self, x: np.ndarray) -> torch.Tensor:
        """``x`` as a tensor on the model's device."""
        device = next(self.model.parameters()).device
        return torch.from_numpy(np.ascontiguousarray(x)).to(device)

    def to_physical(self, y: torch.Tensor, outputs: Sequence[str]) -> np.ndarray:
        """Predictions in physical units, as float32 numpy on the CPU."""
        return self.output_normalizer.denormalize(y.float().cpu().numpy(), list(outputs))

    def predict(self, ds: xr.Dataset, times: Sequence | np.ndarray, lead_hours: float,
                outputs: Sequence[str] | None = None) -> xr.Dataset:
        """One step from the states of ``ds`` at ``times``, in physical units on the output grid.

        Dims ``([member,] init_time, lat, lon)`` with ``valid_time``; ``forecast`` is the many-lead,
        many-mode version of this.
        """
        outputs = list(outputs) if outputs is not None else list(self.outputs)
        times = np.asarray(times, dtype="datetime64[ns]")
        with torch.inference_mode():
            y = self.step(self.input_tensor(ds, times), float(lead_hours), outputs, times=times)
        values = self.to_physical(y, outputs)
        grid = self.output_grid
        lead = np.timedelta64(round(lead_hours * 3600), "s").astype("timedelta64[ns]")
        dims = ("init_time", "lat", "lon")
        if self.members > 1:  # [B, M, V, h, w]: members first, as in forecasts
            values, dims = np.moveaxis(values, 1, 0), ("member", *dims)
        return xr.Dataset(
            {v: (dims, values[..., j, :, :]) for j, v in enumerate(outputs)},
            coords={"init_time": times, "lat": grid.lat, "lon": grid.lon, "lead_time": lead,
                    "valid_time": ("init_time", times + lead)},
        )

    def reading(self, *, inputs: Sequence[str] | None = None, normalizer: Normalizer | None = None) -> ForecastModel:
        """The same network fed other ``inputs`` or normalised by other statistics (e.g. the target data's)."""
        other = copy.copy(self)
        if inputs is not None:
            other.inputs = tuple(to_ids(list(inputs)))
        if normalizer is not None:
            other.normalizer = normalizer
            if other.outputs_are_states:
                other.output_normalizer = normalizer
        other._check_stats()
        return other

    def to(self, device: str | torch.device) -> ForecastModel:
        """Move the network to ``device`` and put it in inference mode (no dropout)."""
        self.model.to(torch.device(device)).eval()
        return self

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.name!r}, source={self.source!r}, inputs={len(self.inputs)}, "
                f"outputs={list(self.outputs)}, grid={self.grid.name}, trained_leads={self.trained_leads})")


@dataclass(frozen=True)
class Family:
    """A model family: how to build its network from a spec and which ``ForecastModel`` speaks for it."""

    name: str
    build: Callable[[ForecastSpec], nn.Module]
    forecaster: Callable[..., ForecastModel]


FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Make a family known to checkpoints, ``open_model`` and everything downstream."""
    FAMILIES[family.name] = family
    return family


def family_of(spec: ForecastSpec) -> Family:
    """The registered family of ``spec``; the error lists the known ones."""
    if spec.family not in FAMILIES:
        raise SpecError(f"unknown model family {spec.family!r}; known: {sorted(FAMILIES)}")
    return FAMILIES[spec.family]


CheckpointLike = str | os.PathLike


def open_model(checkpoint: Any, *, source: str | None = None, inputs: Sequence[str] | None = None,
               outputs: Sequence[str] | None = None) -> ForecastModel:
    """A ``ForecastModel`` from a checkpoint path, a loaded ``ForecastCheckpoint`` or a ``ForecastModel``.

    ``source`` picks the statistics and variables of one training source (default: the
    checkpoint's first); ``inputs``/``outputs`` narrow what is fed and predicted.
    """
    from climax_nb.forecast.checkpoint import ForecastCheckpoint, load_forecast_checkpoint

    if isinstance(checkpoint, ForecastModel):
        if source is None and inputs is None and outputs is None:
            return checkpoint
        checkpoint = ForecastCheckpoint(checkpoint.model, checkpoint.spec, checkpoint.name)
    if isinstance(checkpoint, str | os.PathLike):
        checkpoint = load_forecast_checkpoint(checkpoint)
    if not isinstance(checkpoint, ForecastCheckpoint):
        raise TypeError(
            f"expected a checkpoint path, ForecastCheckpoint or ForecastModel, got {type(checkpoint).__name__}"
        )
    family = family_of(checkpoint.spec)
    return family.forecaster(checkpoint.model, checkpoint.spec, source=source, inputs=inputs, outputs=outputs,
                             name=checkpoint.name)
