"""The ``atmorep`` section of a run config: sizes beyond the preset, masking, task masks and the loss.

A run trains AtmoRep when ``model.family`` is ``atmorep``; ``model.preset``,
``model.variables`` (grouped into fields: ``z500``, ``z850`` -> ``z`` on 500 and 850 hPa),
``model.embed_dim``, ``model.num_heads`` and ``model.drop_rate`` mean what they mean for
ClimaX, and this section holds the rest. Empty sizes keep the preset's.

``normalisation`` and ``shared_stats`` say how steps are normalised (per calendar month
always): ``local`` subtracts each grid point's monthly mean, so zero is the monthly
climatology and the network learns anomalies, not the pole-to-equator gradient;
``shared_stats`` normalises every source by the first source's statistics, so the
differences between the sources' climates (a +2 K SST world is warmer) stay in the data and
the forcing features can explain them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import xarray as xr

from climax_nb.config import option
from climax_nb.model.atmorep import TASK_MASKS, AtmoRepConfig, MaskConfig, coupled_all, preset
from climax_nb.variables import VARIABLES, is_constant

#: How steps are normalised per calendar month (``climax_nb.data.monthly``).
NORMALISATIONS = ("local", "global")

#: ClimaX-only model options, and what an AtmoRep run uses instead.
CLIMAX_ONLY = {
    "depth": "--atmorep.encoder_depth and --atmorep.decoder_depth",
    "patch_size": "--atmorep.token_size",
    "drop_path": "--model.drop_rate",
    "residual": "nothing (AtmoRep predicts masked tokens, not increments)",
    "region": "nothing (neighbourhoods cover the globe)",
}


@dataclass(frozen=True)
class AtmoRepSection:
    """AtmoRep settings of a run (``model.family: atmorep``)."""

    neighbourhood: tuple[int, ...] | None = option(
        None, "cells of a neighbourhood: time steps, lat, lon (default: the preset's; tiny 4 8 8, compact 8 16 32)")
    token_size: tuple[int, ...] | None = option(None, "cells of a token: time steps, lat, lon (default: 2 4 4)")
    encoder_depth: int | None = option(None, "override the preset's encoder layers")
    decoder_depth: int | None = option(None, "override the preset's decoder layers (at most encoder_depth)")
    members: int | None = option(None, "override the preset's ensemble members (at least 2 for the fair CRPS)")
    prior: str | None = option(
        None, "none: predict hidden values outright (AtmoRep, the presets'); nearest: predict departures from each "
        "cell's nearest visible step (persistence for a forecast)")
    rate_max: float = option(0.5, "each sample masks a share of its tokens drawn from U(0, rate_max)")
    zero: float = option(0.8, "share of the masked tokens zeroed (hidden from the model)")
    noise: float = option(0.1, "share of the masked tokens blended with noise")
    coarsen: float = option(0.05, "share of the masked tokens coarsened (2 x 2 cell means); the rest stay as they are")
    tasks: tuple[str, ...] = option(
        (), "task masks some samples get instead of BERT masking: forecast (last time slab), interpolation (a middle "
        "slab), infill (a spatial hole)")
    task_share: float = option(0.5, "share of samples given one of the task masks (when tasks are set)")
    stats_weight: float = option(
        1.0, "weight of the statistical loss (ensemble-mean MSE + spread term) beside the fair CRPS")
    normalisation: str = option(
        "global", "per-month normalisation: local (a mean per grid point and month, one std per month: zero is the "
        "monthly climatology) or global (one mean and std per month)")
    shared_stats: bool = option(
        False, "normalise every source by the first source's statistics, so the differences between the sources' "
        "climates stay in the data (for forcing counterfactuals); otherwise each source by its own")

    def __post_init__(self) -> None:
        self.masking()  # checks the rate and shares
        unknown = [t for t in self.tasks if t not in TASK_MASKS]
        if unknown:
            raise ValueError(f"unknown task mask(s) {unknown}; choose among {sorted(TASK_MASKS)}")
        if not 0.0 <= self.task_share <= 1.0:
            raise ValueError(f"atmorep.task_share is a share of samples in [0, 1], got {self.task_share}")
        if not self.stats_weight >= 0:
            raise ValueError(f"atmorep.stats_weight must be >= 0, got {self.stats_weight}")
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"atmorep.normalisation must be one of {list(NORMALISATIONS)}, got {self.normalisation!r}")

    def masking(self) -> MaskConfig:
        """The BERT masking of this section."""
        return MaskConfig(rate_max=self.rate_max, zero=self.zero, noise=self.noise, coarsen=self.coarsen)

    def training(self) -> dict[str, Any]:
        """The settings the Lightning module needs, as plain data (saved in its checkpoints)."""
        return {"rate_max": self.rate_max, "zero": self.zero, "noise": self.noise, "coarsen": self.coarsen,
                "tasks": list(self.tasks), "task_share": self.task_share, "stats_weight": self.stats_weight,
                "normalisation": self.normalisation, "shared_stats": bool(self.shared_stats)}


def fields_from_variables(variables: Sequence[str]) -> tuple:
    """Registry ids grouped into fields, each coupled with all others: ``z500, z850, t2m`` -> ``z(500, 850), t2m``."""
    constants = [v for v in variables if is_constant(v)]
    if constants:
        raise ValueError(f"AtmoRep fields vary in time; leave the constant(s) {constants} out of --model.variables")
    unknown = [v for v in variables if v not in VARIABLES]
    if unknown:
        raise ValueError(f"unknown variable(s) {unknown} in --model.variables")
    grouped: dict[str, list[int]] = {}
    for v in variables:
        var = VARIABLES[v]
        if var.kind == "level":
            grouped.setdefault(v[: -len(str(var.level))], []).append(int(var.level))
        else:
            grouped.setdefault(v, [])
    return coupled_all(*((fid, tuple(sorted(levels))) for fid, levels in grouped.items()))


def build_config(model: Any, section: AtmoRepSection, sources: Mapping[str, xr.Dataset]) -> AtmoRepConfig:
    """The AtmoRep config of a run: ``model.preset`` with the run's overrides, on the sources' grid.

    ``model`` is the run's ``ModelSection``; ClimaX-only options set there are refused, naming
    what an AtmoRep run uses instead.
    """
    for name, instead in CLIMAX_ONLY.items():
        if getattr(model, name) is not None:
            raise ValueError(f"--model.{name} is a ClimaX option; an AtmoRep run (model.family atmorep) uses {instead}")
    grid = next(iter(sources.values()))
    changes: dict[str, Any] = {"grid": (grid.sizes["lat"], grid.sizes["lon"])}
    if model.variables:
        changes["fields"] = fields_from_variables(model.variables)
    for key, value in (("embed_dim", model.embed_dim), ("num_heads", model.num_heads), ("dropout", model.drop_rate),
                       *((k, getattr(section, k)) for k in ("neighbourhood", "token_size", "encoder_depth",
                                                            "decoder_depth", "members", "prior"))):
        if value is not None:
            changes[key] = value
    cfg = preset(model.preset, **changes)
    if cfg.members < 2:
        raise ValueError(f"the fair CRPS needs at least 2 ensemble members; got {cfg.members} (--atmorep.members)")
    return cfg


__all__ = ["CLIMAX_ONLY", "NORMALISATIONS", "AtmoRepSection", "build_config", "fields_from_variables"]
