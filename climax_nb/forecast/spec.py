"""What a forecast needs from a checkpoint: model, grid, statistics, input and output variables, trained leads.

Training checkpoints exported with ``export_forecast_checkpoint`` record, per data
source, the variables fed and predicted and the lead times trained for; older or
hand-made files may not, and then the model's own variables are used.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from climax_nb.data.fields import is_constant
from climax_nb.data.stats import Normalizer
from climax_nb.forecast.leads import trained_leads
from climax_nb.grid import Grid
from climax_nb.model import Checkpoint, load_checkpoint
from climax_nb.model.climax import ClimaXBase
from climax_nb.variables import VARIABLES, to_ids

CheckpointLike = Checkpoint | str | os.PathLike


def is_forcing(vid: str) -> bool:
    """True for prescribed inputs with a time axis that models do not predict (e.g. ``tisr``)."""
    return VARIABLES[vid].kind == "forcing"


def is_dynamic(vid: str) -> bool:
    """True for variables a model must predict to feed them back in a rollout."""
    return not is_constant(vid) and not is_forcing(vid)


@dataclass(frozen=True)
class ForecastModel:
    """A model ready to forecast, with the variables and statistics it was trained with."""

    model: ClimaXBase
    grid: Grid
    normalizer: Normalizer
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    trained_leads: tuple[float, ...] | None
    name: str = "checkpoint"


def _chosen_source(ckpt: Checkpoint, source: str | None) -> dict[str, Any] | None:
    sources = (ckpt.extra or {}).get("sources") or {}
    if source is not None:
        if source not in sources:
            raise ValueError(f"the checkpoint has no source {source!r}; it has {sorted(sources) or 'none'}")
        return sources[source]
    stored = {k: m for k, (m, _) in (ckpt.stats or {}).items()}
    for entry in sources.values():  # the source whose statistics the file carries
        if entry.get("stats", {}).get("mean") == stored:
            return entry
    return next(iter(sources.values()), None) if len(sources) == 1 else None


def resolve(
    checkpoint: CheckpointLike | ForecastModel,
    *,
    source: str | None = None,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
) -> ForecastModel:
    """A ``ForecastModel`` from a checkpoint path or loaded ``Checkpoint`` (``source`` picks its statistics)."""
    if isinstance(checkpoint, ForecastModel):
        return checkpoint
    name = os.fspath(checkpoint) if isinstance(checkpoint, str | os.PathLike) else "checkpoint"
    ckpt = load_checkpoint(checkpoint) if isinstance(checkpoint, str | os.PathLike) else checkpoint
    entry = _chosen_source(ckpt, source)
    if entry is not None and entry.get("stats"):
        normalizer = Normalizer.from_dict(entry["stats"])
    elif ckpt.stats:
        normalizer = Normalizer({k: m for k, (m, _) in ckpt.stats.items()}, {k: s for k, (_, s) in ckpt.stats.items()})
    else:
        raise ValueError(f"{name} holds no normalisation statistics; re-export it with its training statistics")
    default_in = (entry or {}).get("inputs") or [v for v in ckpt.model.variables if v in normalizer.mean]
    ins = tuple(to_ids(list(inputs if inputs is not None else default_in)))
    default_out = (entry or {}).get("outputs") or [v for v in ins if not is_constant(v)]
    outs = tuple(to_ids(list(outputs if outputs is not None else default_out)))
    unknown = [v for v in (*ins, *outs) if v not in ckpt.model.variables]
    if unknown:
        raise ValueError(f"the model of {name} has no variable(s) {unknown}; it knows {list(ckpt.model.variables)}")
    normalizer.vectors(sorted({*ins, *outs}))  # MissingStatsError naming any variable without statistics
    return ForecastModel(ckpt.model, ckpt.grid, normalizer, ins, outs, trained_leads(ckpt.extra), name)
