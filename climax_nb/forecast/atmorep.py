"""The AtmoRep family behind the forecast contract: a global forecast is one masked call over tiled neighbourhoods.

For an initial time t and a lead of ``j`` data steps (1 <= j <= (nt - 1) * tt, with nt time
tokens of tt steps each), the model's window of nt * tt steps ends k = ceil(j / tt) time
slabs after t: its first (nt - k) * tt steps are the observed states up to t, its last k
slabs are hidden (``forecast_mask``) and predicted, so each lead is made from as few hidden
slabs, and as much history, as it can be. The window is cut into neighbourhoods that tile
the globe with overlap (``Tiling``; longitude wraps), all tiles go through the model in
batches, and each cell is the mean of the tiles that hold it. The members of the ensemble
tail are the forecast's members (``forecast`` gives them a ``member`` dimension).

Inputs and predictions cross the contract in the source's overall normalised units, as
ClimaX's do; inside, every step is normalised by its calendar month's statistics
(``MonthlyNormalizer``), as in training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn

from climax_nb.data.monthly import MonthlyNormalizer, months_of
from climax_nb.data.stats import Normalizer
from climax_nb.forecast.leads import LeadTimeError, format_hours
from climax_nb.forecast.model import Family, ForecastModel, register_family, warn_out_of_distribution
from climax_nb.forecast.spec import ForecastSpec, SourceSpec, SpecError
from climax_nb.grid import Grid
from climax_nb.model.atmorep import AtmoRep, AtmoRepConfig, CubeCoords, UnknownFieldError, forecast_mask
from climax_nb.model.atmorep.tiling import Tiling

FAMILY = "atmorep"


def build_atmorep(spec: ForecastSpec) -> nn.Module:
    """A fresh AtmoRep network of the spec's architecture (weights to be loaded)."""
    if spec.model_class != "AtmoRep":
        raise SpecError(f"unknown AtmoRep class {spec.model_class!r}; expected 'AtmoRep'")
    return AtmoRep.from_config(dict(spec.model_config))


def forecast_leads(cfg: AtmoRepConfig, step_hours: float) -> tuple[float, ...]:
    """Every lead one masked call makes: 1 to (nt - 1) * tt data steps (one time slab must stay observed)."""
    steps = (cfg.token_grid[0] - 1) * cfg.token_size[0]
    return tuple(float(step_hours * j) for j in range(1, steps + 1))


def variable_slots(cfg: AtmoRepConfig) -> dict[str, tuple[str, int]]:
    """Each registry id the model carries -> (its field, its level's index in the field's cube)."""
    return {v: (f.id, i) for f in cfg.fields for i, v in enumerate(f.variables)}


def atmorep_spec(model: AtmoRep, grid: Grid, sources: Sequence[SourceSpec], *, time_step_hours: float,
                 training: dict | None = None) -> ForecastSpec:
    """The spec of an AtmoRep network trained on ``sources`` (per-month statistics, the default first)."""
    if grid.shape != model.config.grid:
        raise SpecError(f"grid {grid.name} is {grid.shape[0]}x{grid.shape[1]}; the model was built for "
                        f"{model.config.grid[0]}x{model.config.grid[1]} (model grid)")
    return ForecastSpec(
        family=FAMILY,
        model_class=type(model).__name__,
        model_config=model.config.to_dict(),
        grid=grid,
        sources=tuple(sources),
        trained_leads=forecast_leads(model.config, time_step_hours),
        time_step_hours=float(time_step_hours),
        training=dict(training or {}),
    )


class AtmoRepForecaster(ForecastModel):
    """AtmoRep on a global grid: inputs are the last observed steps, each lead one masked, tiled call.

    ``overlap`` is the share of a tile its neighbour also covers; ``tile_batch`` the tiles per
    model call (memory).
    """

    model: AtmoRep
    overlap: float = 0.5
    tile_batch: int = 64

    def __init__(self, model: nn.Module, spec: ForecastSpec, **kwargs) -> None:
        super().__init__(model, spec, **kwargs)
        if not isinstance(self.normalizer, MonthlyNormalizer):
            raise SpecError(f"{self.name}: an AtmoRep checkpoint needs per-month statistics for source {self.source!r}")
        if spec.time_step_hours is None:
            raise SpecError(f"{self.name}: an AtmoRep checkpoint must record its data's time step (time_step_hours)")
        cfg, slots = self.config, variable_slots(self.config)
        self.fields = [f.id for f in cfg.fields if any(v in self.inputs for v in f.variables)]
        partial = {f.id: [v for v in f.variables if v not in self.inputs] for f in cfg.fields if f.id in self.fields}
        partial = {f: vs for f, vs in partial.items() if vs}
        if partial:
            raise UnknownFieldError(f"AtmoRep reads whole fields; the inputs lack {partial}: add them, or leave "
                                    "the field out")
        unread = [v for v in self.outputs if slots[v][0] not in self.fields]
        if unread:
            raise ValueError(f"outputs {unread} belong to fields not among the inputs ({self.fields}); a field is "
                             "predicted from its own encoder, so feed it too")
        self.tiling = Tiling.cover(self.grid.shape, cfg.neighbourhood[1:], self.overlap)
        self._cache: tuple[tuple, dict[str, torch.Tensor]] | None = None

    @property
    def config(self) -> AtmoRepConfig:
        return self.model.config

    def reading(self, *, inputs: Sequence[str] | None = None, normalizer: Normalizer | None = None
                ) -> AtmoRepForecaster:
        """As ``ForecastModel.reading``; other statistics must be per month (``compute_monthly_stats``)."""
        if normalizer is not None and not isinstance(normalizer, MonthlyNormalizer):
            raise SpecError("AtmoRep normalises each step by its month: give a MonthlyNormalizer "
                            "(climax_nb.data.monthly.compute_monthly_stats)")
        return super().reading(inputs=inputs, normalizer=normalizer)

    @property
    def known_variables(self) -> tuple[str, ...]:
        return tuple(variable_slots(self.config))

    @property
    def can_roll_out(self) -> bool:
        return False

    @property
    def members(self) -> int:
        return self.config.members

    @property
    def step_hours(self) -> float:
        return float(self.spec.time_step_hours)

    @property
    def history_steps(self) -> int:
        """Observed steps ``read_inputs`` gives per initial time (the window less its last slab)."""
        return (self.config.token_grid[0] - 1) * self.config.token_size[0]

    @property
    def history_hours(self) -> float:
        return (self.history_steps - 1) * self.step_hours

    def check_leads(self, leads: Sequence[float], mode: str) -> None:
        """Leads must be whole data steps from one to (time tokens - 1) x token steps; no rollout."""
        cfg, longest = self.config, forecast_leads(self.config, self.step_hours)[-1]
        why = (f"the neighbourhood holds {cfg.token_grid[0]} time slabs of {cfg.token_size[0]} x "
               f"{self.step_hours:g} h and one must stay observed")
        if mode == "iterative":
            raise LeadTimeError(f"AtmoRep makes every lead up to {longest:g} h in one masked call ({why}) and does "
                                "not roll out: use mode='continuous' or 'auto'")
        bad = [h for h in leads if not (0 < h <= longest + 1e-6 and math.isclose(h / self.step_hours,
                                                                                  round(h / self.step_hours)))]
        if bad:
            raise LeadTimeError(
                f"AtmoRep {self.name} forecasts multiples of {self.step_hours:g} h up to {longest:g} h ({why}), not "
                f"{format_hours(bad)}: choose such leads, or train a model with a longer neighbourhood in time "
                "(--atmorep.neighbourhood)"
            )

    def read_inputs(self, ds: xr.Dataset, times: np.ndarray) -> np.ndarray:
        """Normalised ``[B, V, S, H, W]``: the ``S = history_steps`` states up to each initial time, oldest first."""
        from climax_nb.forecast.state import InitialStateError, read_fields

        times = np.asarray(times, dtype="datetime64[ns]")
        offsets = (np.arange(self.history_steps) - (self.history_steps - 1)) * np.timedelta64(
            round(self.step_hours * 3600), "s")
        wanted = (times[:, None] + offsets[None, :]).reshape(-1)
        have = np.isin(wanted, ds["time"].values.astype("datetime64[ns]"))
        if not have.all():
            first = (ds["time"].values[0] + offsets[-1] - offsets[0]).astype("datetime64[s]")
            raise InitialStateError(
                f"AtmoRep reads the {self.history_steps} states up to each initial time ({self.history_hours:g} h "
                f"of history); {wanted[~have][0].astype('datetime64[s]')} is not in the data: start at {first} or "
                "later, with no gaps before"
            )
        physical = read_fields(ds, self.inputs, wanted)  # [B * S, V, H, W]
        x = self.normalizer.normalize(physical, self.inputs)
        warn_out_of_distribution(x, self.inputs, self.normalizer)
        return np.ascontiguousarray(x.reshape(len(times), self.history_steps, *x.shape[1:]).swapaxes(1, 2))

    def _monthly(self, values: torch.Tensor, variables: Sequence[str], times: np.ndarray, *, inverse: bool
                 ) -> torch.Tensor:
        """``values`` [B, V, S, H, W] at ``times`` [B, S] (or [B, 1] for all S): overall units to each step's month.

        ``inverse``: from month units back to overall ones.
        """
        mean, std = (torch.from_numpy(a).to(values) for a in self.normalizer.vectors(list(variables)))
        m_mean, m_std = (torch.from_numpy(a).to(values).movedim(-1, 1)[..., None, None]
                         for a in self.normalizer.month_vectors(list(variables), months_of(times)))
        mean, std = mean[:, None, None, None], std[:, None, None, None]
        if inverse:
            return (values * m_std + m_mean - mean) / std
        return (values * std + mean - m_mean) / m_std

    def _window(self, x: torch.Tensor, times: np.ndarray, slabs: int) -> tuple[dict[str, torch.Tensor], np.ndarray]:
        """Per field the month-normalised window ``[B, L, T, H, W]`` (hidden steps zero), and its times ``[B, T]``."""
        tt, nt = self.config.token_size[0], self.config.token_grid[0]
        observed = (nt - slabs) * tt
        step = np.timedelta64(round(self.step_hours * 3600), "s")
        window_times = times[:, None] + (np.arange(nt * tt) - (observed - 1)) * step
        seen = self._monthly(x[:, :, x.shape[2] - observed:], self.inputs, window_times[:, :observed], inverse=False)
        window = torch.cat([seen, seen.new_zeros(*seen.shape[:2], slabs * tt, *seen.shape[3:])], dim=2)
        index = {v: i for i, v in enumerate(self.inputs)}
        cubes = {fid: window[:, [index[v] for v in self.config.spec(fid).variables]] for fid in self.fields}
        return cubes, window_times

    def _predict_hidden(self, x: torch.Tensor, times: np.ndarray, slabs: int, fields: Sequence[str]
                        ) -> dict[str, torch.Tensor]:
        """Global ensembles ``[B, M, L, slabs * tt, H, W]`` (month units) of the hidden slabs of ``fields``."""
        cubes, window_times = self._window(x, times, slabs)
        cfg, tiling, b = self.config, self.tiling, x.shape[0]
        n = len(tiling) * b
        tiles = {fid: tiling.cut(c).reshape(n, *c.shape[1:3], *cfg.neighbourhood[1:]) for fid, c in cubes.items()}
        lat = np.repeat(self.grid.lat[tiling.lat], b, axis=0)
        lon = np.repeat(self.grid.lon[tiling.lon], b, axis=0)
        t_all = np.tile(window_times, (len(tiling), 1))
        hidden_steps = slabs * cfg.token_size[0]
        out: dict[str, list[torch.Tensor]] = {fid: [] for fid in fields}
        for start in range(0, n, self.tile_batch):
            part = slice(start, min(n, start + self.tile_batch))
            count = part.stop - part.start
            coords = CubeCoords.from_arrays(t_all[part], lat[part], lon[part])
            masks = [forecast_mask((cfg.spec(fid).num_levels, *cfg.token_grid), slabs).to(x.device)
                     .expand(count, -1, -1, -1, -1) for fid in self.fields]
            preds = self.model([tiles[fid][part] for fid in self.fields], self.fields, coords, token_masks=masks,
                               outputs=list(fields))
            for fid in fields:
                out[fid].append(preds[fid][:, :, :, -hidden_steps:])
        result = {}
        for fid, parts in out.items():
            joined = torch.cat(parts).reshape(len(tiling), b, *parts[0].shape[1:])
            result[fid] = tiling.average(joined)
        return result

    def step(self, x: torch.Tensor, lead_hours: torch.Tensor | float, outputs: Sequence[str],
             times: np.ndarray | None = None) -> torch.Tensor:
        """The ensemble ``[B, M, Vo, H, W]`` (overall normalised units) at ``lead_hours`` after ``times``."""
        if times is None:
            raise ValueError("AtmoRep needs the initial times (step(..., times=...)): they set the auxiliary "
                             "information and the monthly statistics")
        lead = float(torch.as_tensor(lead_hours).reshape(-1)[0])
        self.check_leads([lead], "continuous")
        times = np.asarray(times, dtype="datetime64[ns]")
        j = round(lead / self.step_hours)
        slabs = math.ceil(j / self.config.token_size[0])
        slots = variable_slots(self.config)
        fields = [f for f in self.fields if any(slots[v][0] == f for v in outputs)]
        key = (x.data_ptr(), tuple(x.shape), slabs, tuple(fields), times.tobytes())
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._predict_hidden(x, times, slabs, fields))
        hidden = self._cache[1]
        # the hidden steps follow the initial time: the lead's step is the (j - 1)-th of them
        y = torch.stack([hidden[slots[v][0]][:, :, slots[v][1], j - 1] for v in outputs], dim=2)  # [B, M, Vo, H, W]
        valid = times + np.timedelta64(round(lead * 3600), "s")
        return self._monthly(y.movedim(1, 2), outputs, valid[:, None], inverse=True).movedim(2, 1)


ATMOREP = register_family(Family(FAMILY, build_atmorep, AtmoRepForecaster))


__all__ = ["ATMOREP", "FAMILY", "AtmoRepForecaster", "atmorep_spec", "build_atmorep", "forecast_leads",
           "variable_slots"]
