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
(``MonthlyNormalizer``: global, or local with a mean per grid point), as in training.

Every token carries the forcing (``sst_offset``, K): by default the source's own (from the
spec), and ``conditioned(sst_offset=...)`` gives a forecaster of another forcing, to ask what
a field would look like in a world with that SST offset.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import xarray as xr
from torch import nn

from climax_nb.data.monthly import MonthlyNormalizer
from climax_nb.data.stats import Normalizer
from climax_nb.forecast.leads import LeadLike, LeadTimeError, format_hours, to_hours
from climax_nb.forecast.model import Family, ForecastModel, register_family, warn_out_of_distribution
from climax_nb.forecast.spec import ForecastSpec, SourceSpec, SpecError
from climax_nb.grid import Grid
from climax_nb.model.atmorep import FORCINGS, AtmoRep, AtmoRepConfig, CubeCoords, UnknownFieldError
from climax_nb.model.atmorep.tiling import Tiling
from climax_nb.model.atmorep.tokens import tokenize

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
        own = spec.source(self.source).forcing
        #: the forcing every token carries (K): the source's own unless ``conditioned`` says otherwise
        self.forcing: dict[str, float] = {k: float(own.get(k, 0.0)) for k in FORCINGS}
        # the last batch's hidden slabs, for its other leads: held with the input itself and compared by identity
        # (a freed tensor's address can come back for the next batch, so an address would not do)
        self._cache: tuple[torch.Tensor, tuple, dict[str, torch.Tensor]] | None = None
        self._trajectory: _Trajectory | None = None
        self.rolls_out = False

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

    def conditioned(self, **forcing: float) -> AtmoRepForecaster:
        """The same network with tokens carrying another forcing, e.g. ``conditioned(sst_offset=2.0)`` (K).

        Forcings left out keep this forecaster's; the source's statistics stay, so one can compare
        a forecast in another world with the source's own (``forecast(fm.conditioned(...), ...)``).
        """
        unknown = sorted(set(forcing) - set(FORCINGS))
        if unknown:
            raise ValueError(f"unknown forcing(s) {unknown}; AtmoRep is conditioned on {list(FORCINGS)}")
        values = {k: float(v) for k, v in forcing.items()}
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if bad:
            raise ValueError(f"forcings must be finite numbers, got {bad}")
        other = copy.copy(self)
        other.forcing = {**self.forcing, **values}
        other._cache, other._trajectory = None, None
        return other

    @property
    def known_variables(self) -> tuple[str, ...]:
        return tuple(variable_slots(self.config))

    @property
    def can_roll_out(self) -> bool:
        return True

    def rolling_out(self, step: LeadLike | None = None) -> AtmoRepForecaster:
        """This forecaster rolling out: every lead made by one-slab steps, each member feeding back its own
        prediction (``forecast(..., mode="iterative")``); ``step`` must be the slab's hours if given."""
        if step is not None and not math.isclose(to_hours(step), self.slab_hours):
            raise LeadTimeError(
                f"AtmoRep {self.name} rolls out one time slab ({self.slab_hours:g} h) per model call, not "
                f"{to_hours(step):g} h: leave the step out or give {self.slab_hours:g}"
            )
        other = copy.copy(self)
        other.rolls_out, other._cache, other._trajectory = True, None, None
        return other

    @property
    def members(self) -> int:
        return self.config.members

    @property
    def step_hours(self) -> float:
        return float(self.spec.time_step_hours)

    @property
    def slab_hours(self) -> float:
        """Hours one time slab of tokens spans: a rollout's step."""
        return self.config.token_size[0] * self.step_hours

    @property
    def rollout_step_hours(self) -> float:
        return self.slab_hours

    @property
    def history_steps(self) -> int:
        """Observed steps ``read_inputs`` gives per initial time (the window less its last slab)."""
        return (self.config.token_grid[0] - 1) * self.config.token_size[0]

    @property
    def history_hours(self) -> float:
        return (self.history_steps - 1) * self.step_hours

    def check_leads(self, leads: Sequence[float], mode: str) -> None:
        """Leads must be whole data steps; in one masked call at most (time tokens - 1) x token steps, any
        number of steps when rolled out (``mode`` iterative or auto)."""
        cfg, longest = self.config, forecast_leads(self.config, self.step_hours)[-1]
        steps = [h for h in leads if not (h > 0 and math.isclose(h / self.step_hours, round(h / self.step_hours)))]
        if steps:
            raise LeadTimeError(f"AtmoRep {self.name} forecasts whole multiples of its {self.step_hours:g} h data "
                                f"step, not {format_hours(steps)}: choose such leads")
        far = [h for h in leads if h > longest + 1e-6]
        if far and mode in ("continuous", "direct"):
            raise LeadTimeError(
                f"AtmoRep {self.name} makes leads up to {longest:g} h in one masked call (the neighbourhood holds "
                f"{cfg.token_grid[0]} time slabs of {cfg.token_size[0]} x {self.step_hours:g} h and one must stay "
                f"observed), not {format_hours(far)}: use mode='iterative' or 'auto' to roll out in "
                f"{self.slab_hours:g} h slabs, or train a model with a longer neighbourhood in time "
                "(--atmorep.neighbourhood)"
            )

    def read_inputs(self, ds: xr.Dataset, times: np.ndarray) -> np.ndarray:
        """Normalised ``[B, V, S, H, W]``: the ``S = history_steps`` states up to each initial time, oldest first."""
        return self.read_steps(ds, times, np.arange(self.history_steps) - (self.history_steps - 1),
                               f"{self.history_hours:g} h of history before an initial time")

    def read_window(self, ds: xr.Dataset, starts: np.ndarray) -> np.ndarray:
        """Normalised ``[B, V, T, H, W]``: the model's window of ``T`` steps from each of ``starts``."""
        return self.read_steps(ds, starts, np.arange(self.window_steps), "a window from each start")

    def read_steps(self, ds: xr.Dataset, times: np.ndarray, offsets: np.ndarray, what: str) -> np.ndarray:
        """Normalised ``[B, V, S, H, W]`` of ``ds`` at ``times + offsets`` data steps; all must be in ``ds``."""
        from climax_nb.forecast.state import InitialStateError, read_fields

        times = np.asarray(times, dtype="datetime64[ns]")
        step = np.timedelta64(round(self.step_hours * 3600), "s")
        wanted = (times[:, None] + np.asarray(offsets)[None, :] * step).reshape(-1)
        have = np.isin(wanted, ds["time"].values.astype("datetime64[ns]"))
        if not have.all():
            first = (ds["time"].values[0] - int(np.min(offsets)) * step).astype("datetime64[s]")
            raise InitialStateError(
                f"AtmoRep reads {len(offsets)} consecutive {self.step_hours:g}-hourly states per sample ({what}); "
                f"{wanted[~have][0].astype('datetime64[s]')} is not in the data: start at {first} or later, with "
                "no gaps"
            )
        physical = read_fields(ds, self.inputs, wanted)  # [B * S, V, H, W]
        x = self.normalizer.normalize(physical, self.inputs)
        warn_out_of_distribution(x, self.inputs, self.normalizer)
        return np.ascontiguousarray(x.reshape(len(times), len(offsets), *x.shape[1:]).swapaxes(1, 2))

    def _monthly(self, values: torch.Tensor, variables: Sequence[str], times: np.ndarray, *, inverse: bool
                 ) -> torch.Tensor:
        """``values`` [B, V, S, H, W] at ``times`` [B, S] (or [B, 1] for all S): overall units to each step's month.

        ``inverse``: from month units back to overall ones.
        """
        if inverse:
            return self.normalizer.monthly_to_overall(values, variables, times)
        return self.normalizer.overall_to_monthly(values, variables, times)

    def _field_cubes(self, window: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per field its levels ``[B, L, T, H, W]`` of a window over ``self.inputs``."""
        index = {v: i for i, v in enumerate(self.inputs)}
        return {fid: window[:, [index[v] for v in self.config.spec(fid).variables]] for fid in self.fields}

    def _window(self, x: torch.Tensor, times: np.ndarray, slabs: int) -> tuple[dict[str, torch.Tensor], np.ndarray]:
        """Per field the month-normalised window ``[B, L, T, H, W]`` (hidden steps zero), and its times ``[B, T]``."""
        tt, nt = self.config.token_size[0], self.config.token_grid[0]
        observed = (nt - slabs) * tt
        window_times = times[:, None] + (np.arange(nt * tt) - (observed - 1)) * self._step
        seen = self._monthly(x[:, :, x.shape[2] - observed:], self.inputs, window_times[:, :observed], inverse=False)
        window = torch.cat([seen, seen.new_zeros(*seen.shape[:2], slabs * tt, *seen.shape[3:])], dim=2)
        return self._field_cubes(window), window_times

    @property
    def _step(self) -> np.timedelta64:
        return np.timedelta64(round(self.step_hours * 3600), "s")

    def _tiled(self, cubes: dict[str, torch.Tensor], window_times: np.ndarray, hidden: torch.Tensor,
               fields: Sequence[str], coupling: bool = False
               ) -> tuple[dict[str, torch.Tensor], dict[tuple[str, str], torch.Tensor] | None]:
        """Global ensembles ``[B, M, L, T, H, W]`` (month units) of ``fields`` from windows whose ``hidden`` cells
        ``[B, T, H, W]`` are masked: every tile hides the tokens holding a hidden cell; cells average over tiles.

        With ``coupling``, also each (field, coupled field) share of cross-attention as maps ``[B, H, W]``
        (a tile's share, averaged over its layers, heads and tokens, spread over its cells and averaged).
        """
        cfg, tiling, b = self.config, self.tiling, hidden.shape[0]
        n = len(tiling) * b
        tiles = {fid: tiling.cut(c).reshape(n, *c.shape[1:3], *cfg.neighbourhood[1:]) for fid, c in cubes.items()}
        hidden_tiles = tiling.cut(hidden).reshape(n, *cfg.neighbourhood)
        token_hidden = tokenize(hidden_tiles.float(), cfg.token_size).amax(-1) > 0  # [n, nt, nh, nw]
        lat = np.repeat(self.grid.lat[tiling.lat], b, axis=0)
        lon = np.repeat(self.grid.lon[tiling.lon], b, axis=0)
        t_all = np.tile(window_times, (len(tiling), 1))
        fed = list(cubes)
        out: dict[str, list[torch.Tensor]] = {fid: [] for fid in fields}
        shares: dict[tuple[str, str], list[torch.Tensor]] = {}
        for start in range(0, n, self.tile_batch):
            part = slice(start, min(n, start + self.tile_batch))
            count = part.stop - part.start
            coords = self.coords(t_all[part], lat[part], lon[part])
            masks = [token_hidden[part, None].expand(count, cfg.spec(fid).num_levels, -1, -1, -1) for fid in fed]
            inputs = [tiles[fid][part] for fid in fed]
            if coupling:
                encoded, layer_shares = self.model.encode(inputs, fed, coords, masks, need_weights=True)
                preds = {fid: self.model.decode(fid, encoded[fid]) for fid in fields}
                for f in fed:
                    layers = [layer[f] for layer in layer_shares if f in layer]
                    for g in layers[0] if layers else ():
                        shares.setdefault((f, g), []).append(sum(layer[g].float() for layer in layers) / len(layers))
            else:
                preds = self.model(inputs, fed, coords, token_masks=masks, outputs=list(fields))
            for fid in fields:
                out[fid].append(preds[fid])
        result = {fid: tiling.average(torch.cat(parts).reshape(len(tiling), b, *parts[0].shape[1:]))
                  for fid, parts in out.items()}
        if not coupling:
            return result, None
        h, w = cfg.neighbourhood[1:]
        maps = {pair: tiling.average(torch.cat(parts).reshape(len(tiling), b, 1, 1).expand(-1, -1, h, w))
                for pair, parts in shares.items()}
        return result, maps

    def coords(self, times: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> CubeCoords:
        """The auxiliary information of tiles at ``times`` [n, T] on cells ``lat`` [n, h] and ``lon`` [n, w], with
        this forecaster's forcing."""
        return CubeCoords.from_arrays(times, lat, lon, self.forcing["sst_offset"])

    def reconstruct(self, x: torch.Tensor, times: np.ndarray, hidden: torch.Tensor | np.ndarray, *,
                    coupling: bool = False) -> Reconstruction:
        """Predict the ``hidden`` cells of windows ``x`` ``[B, V, T, H, W]`` (``read_window``'s overall units).

        ``times`` ``[B, T]`` are the windows' steps; ``hidden`` is bool ``[T, H, W]`` or ``[B, T, H, W]``:
        a forecast hides the last steps, an interpolation middle ones, an infilling a box. The
        values ``x`` holds in hidden cells are never seen. Every cell comes back as the ensemble
        ``[B, M, V, T, H, W]`` (overall units): in hidden cells a prediction, elsewhere a
        reconstruction of what the model was shown.
        """
        cfg = self.config
        window = (cfg.neighbourhood[0], *self.grid.shape)
        times = np.asarray(times, dtype="datetime64[ns]")
        if x.ndim != 5 or tuple(x.shape[1:]) != (len(self.inputs), *window):
            raise ValueError(f"windows must be [batch, {len(self.inputs)} inputs, {window[0]} steps, {window[1]}, "
                             f"{window[2]}] (read_window); got {tuple(x.shape)}")
        if times.shape != (x.shape[0], window[0]):
            raise ValueError(f"times must be [batch, steps] = [{x.shape[0]}, {window[0]}], got {times.shape}")
        hidden = torch.as_tensor(hidden, dtype=torch.bool, device=x.device)
        if hidden.shape[-3:] != window or hidden.ndim not in (3, 4):
            raise ValueError(f"hidden cells must be bool [steps, lat, lon] = {list(window)} (or with a batch "
                             f"dimension first), got {tuple(hidden.shape)}")
        hidden = hidden.expand(x.shape[0], *window)
        if not hidden.any():
            raise ValueError("no cell is hidden: mark the cells to predict in `hidden`")
        if hidden.all():
            raise ValueError("every cell is hidden, so the model has nothing to read: leave some cells visible")
        cubes = self._field_cubes(self._monthly(x, self.inputs, times, inverse=False))
        preds, maps = self._tiled(cubes, times, hidden, self.fields, coupling)
        slots = variable_slots(cfg)
        y = torch.stack([preds[slots[v][0]][:, :, slots[v][1]] for v in self.inputs], dim=2)  # [B, M, V, T, H, W]
        y = self._monthly(y.flatten(0, 1), self.inputs, np.repeat(times, self.members, axis=0), inverse=True)
        return Reconstruction(y.unflatten(0, (x.shape[0], self.members)), hidden, maps)

    def _predict_hidden(self, x: torch.Tensor, times: np.ndarray, slabs: int, fields: Sequence[str]
                        ) -> dict[str, torch.Tensor]:
        """Global ensembles ``[B, M, L, slabs * tt, H, W]`` (month units) of the hidden slabs of ``fields``."""
        cubes, window_times = self._window(x, times, slabs)
        hidden_steps = slabs * self.config.token_size[0]
        hidden = torch.zeros(x.shape[0], self.window_steps, *self.grid.shape, dtype=torch.bool, device=x.device)
        hidden[:, -hidden_steps:] = True
        preds, _ = self._tiled(cubes, window_times, hidden, fields)
        return {fid: p[:, :, :, -hidden_steps:] for fid, p in preds.items()}

    def _rolled(self, x: torch.Tensor, times: np.ndarray, slabs: int) -> dict[str, torch.Tensor]:
        """Per field ``[B, M, L, slabs * tt, H, W]`` (month units): ``slabs`` one-slab steps, each member its own
        trajectory (member m's prediction is fed back and read by the same member's head next)."""
        key = times.tobytes()
        if self._trajectory is None or self._trajectory.x is not x or self._trajectory.key != key:
            cubes, window_times = self._window(x, times, 1)
            self._trajectory = _Trajectory(x, key, cubes, window_times)
        path, tt, m = self._trajectory, self.config.token_size[0], self.members
        b = x.shape[0]
        while len(path.slabs) < slabs:
            k = next(iter(path.cubes.values())).shape[0] // b  # windows per sample: 1 before the first step, then M
            hidden = torch.zeros(b * k, self.window_steps, *self.grid.shape, dtype=torch.bool, device=x.device)
            hidden[:, -tt:] = True
            preds, _ = self._tiled(path.cubes, path.times, hidden, self.fields)
            new = {}
            for fid, p in preds.items():  # [b * k, M, L, T, H, W] -> each trajectory's own member
                p = p[:, :, :, -tt:].unflatten(0, (b, k))
                new[fid] = p[:, 0] if k == 1 else p[:, torch.arange(m), torch.arange(m)]  # [b, M, L, tt, H, W]
            path.slabs.append(new)
            path.cubes = {fid: torch.cat([c.unflatten(0, (b, k)).expand(b, m, *c.shape[1:])[:, :, :, tt:-tt],
                                          new[fid], torch.zeros_like(new[fid])], dim=3).flatten(0, 1)
                          for fid, c in path.cubes.items()}
            path.times = np.repeat(path.times[::k] + tt * self._step, m, axis=0)
        return {fid: torch.cat([s[fid] for s in path.slabs[:slabs]], dim=3) for fid in self.fields}

    @property
    def window_steps(self) -> int:
        """Steps in the model's window (its neighbourhood in time)."""
        return self.config.neighbourhood[0]

    def step(self, x: torch.Tensor, lead_hours: torch.Tensor | float, outputs: Sequence[str],
             times: np.ndarray | None = None) -> torch.Tensor:
        """The ensemble ``[B, M, Vo, H, W]`` (overall normalised units) at ``lead_hours`` after ``times``."""
        if times is None:
            raise ValueError("AtmoRep needs the initial times (step(..., times=...)): they set the auxiliary "
                             "information and the monthly statistics")
        lead = float(torch.as_tensor(lead_hours).reshape(-1)[0])
        self.check_leads([lead], "iterative" if self.rolls_out else "continuous")
        times = np.asarray(times, dtype="datetime64[ns]")
        j = round(lead / self.step_hours)
        slabs = math.ceil(j / self.config.token_size[0])
        slots = variable_slots(self.config)
        if self.rolls_out:
            hidden = self._rolled(x, times, slabs)
        else:
            fields = [f for f in self.fields if any(slots[v][0] == f for v in outputs)]
            key = (slabs, tuple(fields), times.tobytes())
            if self._cache is None or self._cache[0] is not x or self._cache[1] != key:
                self._cache = (x, key, self._predict_hidden(x, times, slabs, fields))
            hidden = self._cache[2]
        # the hidden steps follow the initial time: the lead's step is the (j - 1)-th of them
        y = torch.stack([hidden[slots[v][0]][:, :, slots[v][1], j - 1] for v in outputs], dim=2)  # [B, M, Vo, H, W]
        valid = times + np.timedelta64(round(lead * 3600), "s")
        return self._monthly(y.movedim(1, 2), outputs, valid[:, None], inverse=True).movedim(2, 1)


@dataclass
class _Trajectory:
    """A rollout in progress from the input ``x`` (held, and compared by identity) at the initial times ``key``:
    the current windows per field ``[B * k, L, T, H, W]`` (month units), their times ``[B * k, T]`` and the slabs
    predicted so far (per field ``[B, M, L, tt, H, W]``)."""

    x: torch.Tensor
    key: bytes
    cubes: dict[str, torch.Tensor]
    times: np.ndarray
    slabs: list[dict[str, torch.Tensor]] = field(default_factory=list)


@dataclass(frozen=True)
class Reconstruction:
    """``AtmoRepForecaster.reconstruct``'s result: ``values`` ``[B, M, V, T, H, W]`` (overall normalised units),
    the ``hidden`` cells ``[B, T, H, W]``, and with ``coupling`` the cross-attention share maps ``[B, H, W]``
    keyed by (attending field, attended field)."""

    values: torch.Tensor
    hidden: torch.Tensor
    coupling: dict[tuple[str, str], torch.Tensor] | None = None


ATMOREP = register_family(Family(FAMILY, build_atmorep, AtmoRepForecaster))


__all__ = ["ATMOREP", "FAMILY", "AtmoRepForecaster", "Reconstruction", "atmorep_spec", "build_atmorep",
           "forecast_leads", "variable_slots"]
