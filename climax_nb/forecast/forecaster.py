"""``forecast``: checkpoint(s) + initial state (xarray) -> forecast Dataset (init_time, lead_time, lat, lon).

Three modes, as in the ClimaX paper:

- ``continuous``: one lead-time-conditioned model, asked once per lead time;
- ``direct``: one model per lead time (``{lead_hours: checkpoint}``);
- ``iterative``: a short step chained out to every lead, predictions fed back as inputs;
- ``auto``: continuous when every lead was trained for, else an iterative plan with
  the longest trained lead that divides every target as step (recorded in the
  result's ``rollout_plan`` attribute).

An iterative rollout can damp each step's smallest scales (``damping``, a
``damping.ZonalHyperdiffusion``), as a GCM's hyperdiffusion does.

Initial states are read into memory a block of batches at a time (``state.state_blocks``), then go
through the model ``batch_size`` at a time (times x members), under ``torch.inference_mode()``;
each prediction is moved to CPU numpy at once.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
import xarray as xr

from climax_nb.forecast.damping import ZonalHyperdiffusion
from climax_nb.forecast.ensemble import Perturbation
from climax_nb.forecast.io import forecast_dataset
from climax_nb.forecast.leads import (
    LeadLike,
    LeadTimeError,
    RolloutPlan,
    check_trained,
    choose_step,
    format_hours,
    leads_in_hours,
    plan_rollout,
    to_hours,
)
from climax_nb.forecast.model import CheckpointLike, ForecastModel, open_model
from climax_nb.forecast.rollout import Damping, RolloutLayout, rollout, rollout_layout
from climax_nb.forecast.state import ForcingReader, check_initial_state, state_blocks

log = logging.getLogger(__name__)

Mode = Literal["continuous", "direct", "iterative", "auto"]


class _States:
    """Normalised (and perturbed) model inputs for a batch of (initial time, member) samples."""

    def __init__(self, ds: xr.Dataset, ensemble: Perturbation | None):
        self.ds, self.ensemble = ds, ensemble

    def inputs(self, fm: ForecastModel, times: np.ndarray, members: np.ndarray) -> torch.Tensor:
        x = fm.read_inputs(self.ds, times)
        if self.ensemble is not None:
            x = self.ensemble.apply(x, fm.inputs, members, times)
        return fm.tensor(x)


class _PerLead:
    """Continuous and direct modes: one model call per lead, each lead with its own (or the same) model."""

    def __init__(self, models: Sequence[tuple[float, ForecastModel]], outputs: Sequence[str]):
        self.models, self.outputs = list(models), list(outputs)

    def __call__(self, states: _States, times: np.ndarray, members: np.ndarray, out: np.ndarray) -> None:
        inputs: dict[int, torch.Tensor] = {}
        for i, (lead, fm) in enumerate(self.models):
            x = inputs.setdefault(id(fm), states.inputs(fm, times, members))
            hours = torch.full((x.shape[0],), lead, dtype=x.dtype, device=x.device)
            y = fm.to_physical(fm.step(x, hours, self.outputs, times=times), self.outputs)
            out[:, i] = y.reshape(out[:, i].shape)  # [b, members, V, h, w]; members 1 for one prediction


class _Iterative:
    """Iterative mode: ``plan.n_steps`` chained steps, forcings read at each valid time when available."""

    def __init__(self, fm: ForecastModel, plan: RolloutPlan, outputs: Sequence[str], forcings: ForcingReader,
                 damping: Damping | None = None):
        self.fm, self.plan, self.outputs, self.forcings, self.damping = fm, plan, list(outputs), forcings, damping
        self.layout: RolloutLayout = rollout_layout(fm, outputs)
        self.keep = [self.layout.predicted.index(v) for v in self.outputs]
        self.held: dict[str, int] = {}
        self.slot = {k: i for i, k in enumerate(sorted(plan.emit))}

    def _forcing(self, times: np.ndarray) -> Any:
        def fill(k: int, current: torch.Tensor) -> torch.Tensor:
            valid = times + np.timedelta64(round(k * self.plan.step * 3600), "s")
            new = current.clone()
            for j, vid in enumerate(self.layout.forcings):
                values, found = self.forcings.read(vid, valid)
                if (~found).any():
                    self.held[vid] = self.held.get(vid, 0) + int((~found).sum())
                if found.any():
                    norm = self.fm.normalizer.normalize(values[:, None], [vid])[:, 0]
                    mask = torch.from_numpy(found).to(current.device)
                    new[mask, j] = torch.from_numpy(norm[found]).to(current.device, current.dtype)
            return new

        return fill

    def __call__(self, states: _States, times: np.ndarray, members: np.ndarray, out: np.ndarray) -> None:
        x = states.inputs(self.fm, times, members)
        steps = rollout(self.fm, x, self.layout, self.plan.step, self.plan.n_steps, self._forcing(times), times,
                        self.damping)
        for k, y in steps:
            if k in self.plan.emit:
                out[:, self.slot[k], 0] = self.fm.to_physical(y[:, self.keep], self.outputs)

    def warn_held(self) -> None:
        for vid, count in self.held.items():
            warnings.warn(
                f"forcing {vid} is not in the initial state at {count} rollout valid time(s); held at its last "
                "known value there (provide it at every valid time to avoid this)",
                UserWarning,
                stacklevel=3,
            )


def _direct_models(
    checkpoints: Mapping[Any, CheckpointLike | ForecastModel], leads: list[float] | None, source: str | None
) -> list[tuple[float, ForecastModel]]:
    by_lead = {to_hours(k): open_model(v, source=source) for k, v in checkpoints.items()}
    wanted = leads if leads is not None else sorted(by_lead)
    absent = [h for h in wanted if h not in by_lead]
    if absent:
        raise LeadTimeError(
            f"direct mode has models for {format_hours(sorted(by_lead))}, not {format_hours(absent)}: add a "
            "checkpoint for each lead, or use mode='iterative'"
        )
    for h in wanted:
        by_lead[h].check_leads([h], "direct")
        check_trained([h], by_lead[h].trained_leads, f"the {h:g} h model")
    if len({by_lead[h].members for h in wanted}) > 1:
        raise ValueError("direct mode needs models that give as many members each; these differ")
    return [(h, by_lead[h]) for h in wanted]


def _check_outputs(models: Sequence[ForecastModel], variables: Sequence[str] | None) -> list[str]:
    outputs = list(variables) if variables is not None else list(models[0].outputs)
    for fm in models:
        missing = [v for v in outputs if v not in fm.outputs]
        if missing:
            raise ValueError(f"{fm.name} does not predict {', '.join(missing)}; it predicts {list(fm.outputs)}")
    return outputs


def resolve_mode(fm: ForecastModel, leads: Sequence[float], mode: Mode, step: LeadLike | None = None) -> Mode:
    """What ``mode`` does for these leads: ``auto`` asks once per lead (continuous) when every lead is
    trained and no step is given, else it rolls out (iterative); other modes are themselves."""
    if mode != "auto":
        return mode
    trained = fm.trained_leads
    if trained is not None and all(any(np.isclose(h, t) for t in trained) for h in leads) and step is None:
        return "continuous"
    return "iterative"


def _single_mode_runner(
    fm: ForecastModel, mode: Mode, leads: list[float], step: LeadLike | None, outputs: list[str], ds: xr.Dataset,
    damping: ZonalHyperdiffusion | None = None,
) -> tuple[_PerLead | _Iterative, dict[str, Any]]:
    fm.check_leads(leads, mode)
    requested, mode = mode, resolve_mode(fm, leads, mode, step)
    own = None if mode == "continuous" else fm.rolling_out(step)
    if damping is not None and (mode == "continuous" or own is not None):
        why = (f"{fm.name} rolls out inside its own step" if own is not None else
               "every lead is one the model was trained for, so auto asks it once per lead" if requested == "auto"
               else "mode 'continuous' asks the model once per lead")
        raise ValueError(f"damping filters the steps of an iterative rollout, and this forecast makes none ({why}): "
                         "drop damping, or use mode='iterative' with a step")
    if mode == "continuous":
        check_trained(leads, fm.trained_leads)
        return _PerLead([(h, fm) for h in leads], outputs), {"mode": "continuous"}
    if own is not None:  # the family rolls out inside its step (e.g. AtmoRep's windows of several states)
        return _PerLead([(h, own) for h in leads], outputs), {"mode": "iterative", "step_hours": own.rollout_step_hours}
    step_h = to_hours(step) if step is not None else choose_step(leads, fm.trained_leads)
    check_trained([step_h], fm.trained_leads, f"{fm.name} (as rollout step)")
    plan = plan_rollout(leads, step_h)
    log.info("iterative rollout: %s", plan)
    runner = _Iterative(fm, plan, outputs, ForcingReader(ds, fm.inputs), damping)
    attrs = {"mode": "iterative", "step_hours": step_h, "rollout_plan": str(plan)}
    return runner, attrs | ({"damping": str(damping)} if damping is not None else {})


def usable_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch device, or an error saying why this machine cannot run on it."""
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"{device!r} is not a device: use cpu, cuda, cuda:1, mps") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        build = "a CPU-only build of torch" if torch.version.cuda is None else "no visible GPU"
        raise ValueError(f"device {str(device)!r} asked for, but this machine has {build}: use device='cpu'")
    if chosen.type == "cuda" and chosen.index is not None and chosen.index >= torch.cuda.device_count():
        raise ValueError(f"device {str(device)!r} asked for, but only {torch.cuda.device_count()} GPU(s) are visible")
    return chosen


def forecast(
    checkpoint: CheckpointLike | ForecastModel | Mapping[Any, CheckpointLike | ForecastModel],
    initial: xr.Dataset,
    lead_times: LeadLike | Sequence[LeadLike] | None = None,
    *,
    mode: Mode = "continuous",
    step: LeadLike | None = None,
    init_times: Any = None,
    variables: Sequence[str] | None = None,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    ensemble: Perturbation | None = None,
    source: str | None = None,
    damping: ZonalHyperdiffusion | None = None,
) -> xr.Dataset:
    """Forecast from every initial time in ``initial`` (or ``init_times``) to every lead in ``lead_times``.

    ``lead_times`` are hours or timedeltas (direct mode: defaults to the models' leads);
    ``variables`` the outputs to keep (default: all the checkpoint predicts); ``step`` the
    rollout step for ``iterative`` / ``auto``; ``ensemble`` adds a ``member`` dimension of
    perturbed initial states; ``source`` picks the statistics of one training source. A model
    that draws its own members (``ForecastModel.members`` > 1) gives a ``member`` dimension too
    (with ``ensemble``: each perturbed state's members in turn). ``damping`` filters each step of
    an iterative rollout (``damping.ZonalHyperdiffusion``; refused where no step is rolled out).
    Values come back in physical units. The model is moved to ``device``.
    """
    if mode not in ("continuous", "direct", "iterative", "auto"):
        raise ValueError(f"unknown mode {mode!r}; choose continuous, direct, iterative or auto")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    leads = leads_in_hours(lead_times) if lead_times is not None else None
    if mode == "direct" or isinstance(checkpoint, Mapping):
        if mode != "direct" or not isinstance(checkpoint, Mapping):
            raise ValueError("direct mode takes a dict {lead_hours: checkpoint}, and only direct mode does")
        if damping is not None:
            raise ValueError("damping filters the steps of an iterative rollout; direct mode makes none: drop it")
        pairs = _direct_models(checkpoint, leads, source)
        leads = [h for h, _ in pairs]
        models = [fm for _, fm in pairs]
        outputs = _check_outputs(models, variables)
        runner: _PerLead | _Iterative = _PerLead(pairs, outputs)
        attrs: dict[str, Any] = {"mode": "direct"}
    else:
        if leads is None:
            raise LeadTimeError("pass lead_times (hours or timedeltas) to forecast")
        models = [open_model(checkpoint, source=source)]
        outputs = _check_outputs(models, variables)
        runner, attrs = _single_mode_runner(models[0], mode, leads, step, outputs, initial, damping)
    times = check_initial_state(initial, models, init_times)
    device = usable_device(device)
    for fm in models:
        fm.to(device)
    n_members = ensemble.members if ensemble is not None else 1
    drawn = models[0].members  # members each model call gives
    out_grid = models[0].output_grid
    grid = out_grid.shape
    values = np.empty((n_members, len(times), len(leads), drawn, len(outputs), *grid), dtype=np.float32)
    members, inits = np.divmod(np.arange(n_members * len(times)), len(times))
    flat = values.reshape(-1, *values.shape[2:])  # (member, init) flattened: batches write in place
    inputs = sorted({v for fm in models for v in fm.inputs})
    history = max(fm.history_hours for fm in models)
    with torch.inference_mode():
        for first, last, block in state_blocks(initial, inputs, times[inits], batch_size=batch_size,
                                               history_hours=history):
            states = _States(block, ensemble)
            for start in range(first, last, batch_size):
                batch = slice(start, min(start + batch_size, last))
                runner(states, times[inits[batch]], members[batch], flat[batch])
    if isinstance(runner, _Iterative):
        runner.warn_held()
    if ensemble is not None:
        attrs.update(perturbation_scale=ensemble.scale, perturbation_seed=ensemble.seed)
    if drawn == 1:
        values = values[:, :, :, 0]
    else:  # (perturbation, init, lead, drawn, ...) -> (member, init, lead, ...)
        values = np.moveaxis(values, 3, 1).reshape(n_members * drawn, *values.shape[1:3], *values.shape[4:])
    members_dim = ensemble is not None or drawn > 1
    return forecast_dataset(
        values if members_dim else values[0],
        outputs,
        times,
        leads,
        out_grid.lat,
        out_grid.lon,
        ensemble=members_dim,
        attrs=attrs,
    )


def at_lead_zero(fm: ForecastModel, inputs: xr.Dataset, times: np.ndarray, outputs: Sequence[str],
                 batch_size: int = 8, device: str | torch.device = "cpu") -> np.ndarray:
    """Predictions valid at their inputs' times (downscaling, climate projection), ``[time, 1, V, h, w]`` in
    physical units: ``forecast`` asks for leads after the start, these tasks for lead 0."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    unknown = [v for v in outputs if v not in fm.outputs]
    if unknown:
        raise ValueError(f"{fm.name} does not predict {unknown}; it predicts {list(fm.outputs)}")
    fm.to(usable_device(device))
    values = np.empty((len(times), 1, len(outputs), *fm.output_grid.shape), dtype=np.float32)
    with torch.inference_mode():
        for first, last, block in state_blocks(inputs, fm.inputs, times, batch_size=batch_size,
                                               history_hours=fm.history_hours):
            for start in range(first, last, batch_size):
                batch = times[start : min(start + batch_size, last)]
                y = fm.step(fm.input_tensor(block, batch), 0.0, outputs, times=batch)
                values[start : start + len(batch), 0] = fm.to_physical(y, outputs)
    return values
