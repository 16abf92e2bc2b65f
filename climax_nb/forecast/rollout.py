"""Iterative rollout on tensors: each step's prediction becomes the next step's input.

Only the current state lives on the device; each yielded prediction should be
copied off it by the caller, so memory does not grow with the number of steps.
Inputs and outputs share one set of statistics, so predictions are fed back in
normalised units (the same as denormalising and normalising again).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from climax_nb.forecast.model import ForecastModel
from climax_nb.variables import is_dynamic, is_forcing


class RolloutError(ValueError):
    """A model that cannot be rolled out, e.g. because it does not predict all its dynamic inputs."""


@dataclass(frozen=True)
class RolloutLayout:
    """Which predicted channels feed which input channels, and where forcings go."""

    inputs: tuple[str, ...]
    predicted: tuple[str, ...]
    feed_in: tuple[int, ...]
    feed_out: tuple[int, ...]
    forcings: tuple[str, ...]
    forcing_pos: tuple[int, ...]


def feedback_layout(inputs: Sequence[str], predicted: Sequence[str], *, who: str, fix: str) -> RolloutLayout:
    """Which channels of a prediction of ``predicted`` feed which of ``inputs`` (tensors only, no model).

    Shared by forecasting (``rollout_layout``) and multi-step training, so both feed back the same
    channels. Refuses, naming ``who`` and ``fix``, predictions that leave out a dynamic input.
    """
    dynamic = [v for v in inputs if is_dynamic(v)]
    missing = [v for v in dynamic if v not in predicted]
    if missing:
        raise RolloutError(
            f"iterative rollout feeds predictions back as inputs, but {who} does not predict its input(s) "
            f"{', '.join(missing)}; {fix}"
        )
    forcings = tuple(v for v in inputs if is_forcing(v))
    return RolloutLayout(
        inputs=tuple(inputs),
        predicted=tuple(predicted),
        feed_in=tuple(inputs.index(v) for v in dynamic),
        feed_out=tuple(predicted.index(v) for v in dynamic),
        forcings=forcings,
        forcing_pos=tuple(inputs.index(v) for v in forcings),
    )


def rollout_layout(fm: ForecastModel, outputs: Sequence[str]) -> RolloutLayout:
    """Predict every dynamic input (to feed back) and the requested ``outputs``."""
    if not fm.can_roll_out:
        why = (f"predicts {', '.join(fm.outputs)} as other quantities than its inputs (outputs with statistics of "
               "their own, such as window-mean anomalies)" if not fm.outputs_are_states else
               f"predicts on {fm.output_grid.name}, not on the grid it reads ({fm.grid.name})")
        raise RolloutError(f"{fm.name} {why}, so its predictions cannot be fed back: use mode='continuous' or "
                           "'direct' (at its trained leads)")
    fed = [v for v in fm.inputs if is_dynamic(v) and v in fm.outputs]
    return feedback_layout(
        fm.inputs, fed + [v for v in outputs if v not in fed], who=fm.name,
        fix="use a model trained with these among its outputs, or mode='continuous'/'direct'",
    )


def feed_back(x: torch.Tensor, y: torch.Tensor, layout: RolloutLayout,
              forcings: torch.Tensor | None = None) -> torch.Tensor:
    """The next step's inputs ``[B, V_in, H, W]``: ``x`` with its dynamic channels taken from the prediction ``y``.

    ``forcings`` (``[B, F, H, W]``, normalised, in ``layout.forcings`` order) replace the forcing
    channels; without them the forcings keep their values in ``x``, as constants always do. Out of
    place, so gradients flow through the chain when training on several steps.
    """
    index = torch.tensor(layout.feed_in, dtype=torch.long, device=x.device)
    picked = y.index_select(1, torch.tensor(layout.feed_out, dtype=torch.long, device=y.device))
    x = x.index_copy(1, index, picked.to(x.dtype))
    if forcings is not None and layout.forcings:
        x = x.index_copy(1, torch.tensor(layout.forcing_pos, dtype=torch.long, device=x.device), forcings.to(x.dtype))
    return x


#: Gives the normalised forcings [B, F, H, W] for the state after k steps, from those of the state before.
ForcingFn = Callable[[int, torch.Tensor], torch.Tensor]
#: Filters a step's prediction [B, V, H, W] made over ``step_hours`` (``damping.ZonalHyperdiffusion``).
Damping = Callable[[torch.Tensor, float], torch.Tensor]


def rollout(
    fm: ForecastModel,
    x: torch.Tensor,
    layout: RolloutLayout,
    step_hours: float,
    n_steps: int,
    forcing: ForcingFn | None = None,
    times: np.ndarray | None = None,
    damping: Damping | None = None,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(k, prediction)`` after each of ``n_steps`` steps; predictions hold ``layout.predicted``.

    ``times`` are the initial times; each step is told its own start (for families that read the time).
    ``damping`` (e.g. ``damping.ZonalHyperdiffusion``) filters each prediction before it is yielded
    and fed back, so the state a step emits is the state the next one reads."""
    lead = torch.full((x.shape[0],), float(step_hours), dtype=x.dtype, device=x.device)
    forcing_pos = torch.tensor(layout.forcing_pos, dtype=torch.long, device=x.device)
    for k in range(1, n_steps + 1):
        start = None if times is None else (np.asarray(times, dtype="datetime64[ns]")
                                            + np.timedelta64(round((k - 1) * step_hours * 3600), "s"))
        y = fm.step(x, lead, list(layout.predicted), times=start)
        if damping is not None:
            y = damping(y, step_hours)
        yield k, y
        if k == n_steps:
            return
        forced = forcing(k, x.index_select(1, forcing_pos)) if forcing is not None and layout.forcings else None
        x = feed_back(x, y, layout, forced)
        del y
