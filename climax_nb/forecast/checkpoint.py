"""Forecast checkpoints: one file with the weights and the ``ForecastSpec``, written and read by one pair.

``save_forecast_checkpoint`` writes ``{"format": "climax_nb.forecast", "spec": ..., "state_dict": ...}``
atomically; ``load_forecast_checkpoint`` reads it safely (``weights_only``), rebuilds the
network through the spec's family and returns both. Files of the earlier layout
(``format: climax_nb.model``, version 1: config, grid, stats and an untyped ``extra``)
load too, their spec derived by ``climax_nb.forecast.spec.from_legacy``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from climax_nb.forecast.model import family_of
from climax_nb.forecast.spec import ForecastSpec, SpecError, from_legacy
from climax_nb.grid import Grid
from climax_nb.model.safe_load import safe_load
from climax_nb.storage import atomic_torch_save

PathLike = str | os.PathLike

FORMAT = "climax_nb.forecast"
#: The version-1 layout, still read.
LEGACY_FORMAT = "climax_nb.model"


@dataclass(frozen=True)
class ForecastCheckpoint:
    """A network and its spec, as a forecast checkpoint holds them."""

    model: nn.Module
    spec: ForecastSpec
    name: str = "checkpoint"


def save_forecast_checkpoint(path: PathLike, model: nn.Module, spec: ForecastSpec) -> Path:
    """Write ``model``'s weights and ``spec`` to ``path`` atomically (a temporary file renamed over it)."""
    family_of(spec)  # refuse specs no reader could rebuild
    payload = {
        "format": FORMAT,
        "spec": spec.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    return atomic_torch_save(payload, path)


def _load_weights(model: nn.Module, state: dict, where: str, config: object) -> None:
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        odd = [line.strip() for line in str(err).splitlines() if "size mismatch" in line or "Missing key" in line
               or "Unexpected key" in line]
        first = odd[0][:200] if odd else str(err).splitlines()[0][:200]
        raise SpecError(
            f"{where}: the weights do not fit the architecture stored beside them ({len(odd) or 1} problem(s), "
            f"first: {first}); the file was edited or written by other code: export it again from its training run "
            "(export_forecast_checkpoint) or import it with climax-nb import-climax"
        ) from err


def _legacy_spec(raw: dict, where: str) -> ForecastSpec:
    grid = Grid(np.asarray(raw["grid"]["lat"], dtype=np.float64), np.asarray(raw["grid"]["lon"], dtype=np.float64),
                str(raw["grid"]["name"]))
    return from_legacy(raw["model_class"], raw["config"], grid, raw.get("stats"), raw.get("extra"), where)


def load_forecast_checkpoint(path: PathLike) -> ForecastCheckpoint:
    """The network (weights loaded, in eval mode) and spec of a forecast checkpoint, read safely."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no forecast checkpoint at {path}: give a run's model.pt")
    raw = safe_load(path)
    fmt = raw.get("format") if isinstance(raw, dict) else None
    if fmt == FORMAT:
        spec = ForecastSpec.from_dict(raw["spec"])
    elif fmt == LEGACY_FORMAT:
        spec = _legacy_spec(raw, str(path))
    else:
        raise SpecError(
            f"{path} is not a climax_nb forecast checkpoint (no format={FORMAT!r}): for a training run's "
            "Lightning file use climax_nb.train.export_forecast_checkpoint; for released ClimaX weights "
            "use `climax-nb import-climax` (climax_nb.forecast.import_climax)"
        )
    model = family_of(spec).build(spec)
    _load_weights(model, raw["state_dict"], str(path), spec.model_config)
    return ForecastCheckpoint(model.eval(), spec, os.fspath(path))
