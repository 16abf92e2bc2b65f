"""Masked tasks of an AtmoRep model on xarray data, all through ``AtmoRepForecaster.reconstruct``.

AtmoRep's claim is that one task-agnostic masked model serves many tasks without retraining: a
task is only which cells of the model's window (``T`` steps of the whole grid) are hidden.

- ``forecast``: the last ``slabs`` time slabs (a slab is one time token: ``token_size[0]`` steps);
- ``interpolation``: ``slabs`` time slabs in the middle, with at least one visible slab before and after;
- ``infill``: a box given in degrees (``Box``), hidden through every step of the window.

``run_task`` slides a task over many windows in batches and returns a **forecast-layout
dataset** (``forecast_dataset``: dims member, init_time, lead_time, lat, lon; physical units),
so ``climax_nb.evaluate.score`` and the metrics score it unchanged, beside the baselines of
``climax_nb.baselines`` in the same layout:

- forecast and interpolation: ``init_time`` is the last visible step before the hidden steps and
  ``lead_time`` the hours into them (interpolation: ``gap_end_hours`` in the attributes is the
  first visible step after the gap, what ``baselines.linear_interpolation`` needs);
- infill: ``init_time`` is the window's first step, ``lead_time`` each step's hours after it (0 to
  ``(T - 1)`` steps: the edges of the window have context on one side only), and lat/lon are
  the box's cells, west to east (a box across 0 deg stays one piece).

The model hides whole tokens: in each tile, a token holding any hidden cell is hidden. Time
tasks hide whole slabs, so nothing more is hidden; a box that does not follow the token
lattice hides the tokens around it too (``unseen_cells``), which is what a fair infilling
baseline must not read either (``baselines.nearest_fill(..., hidden=...)``).

``coupling`` gives the cross-attention between fields under a task's mask: per (attending
field, attended field) a share map over the globe, and the field x field matrix of their
area-weighted global means.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import xarray as xr

from climax_nb.forecast.atmorep import AtmoRepForecaster
from climax_nb.forecast.io import forecast_dataset
from climax_nb.forecast.model import ForecastModel, open_model

Kind = Literal["forecast", "interpolation", "infill"]
KINDS: tuple[str, ...] = ("forecast", "interpolation", "infill")


@dataclass(frozen=True)
class Box:
    """A latitude-longitude box in degrees: ``south <= lat < north`` and longitudes from ``west`` eastwards to
    ``east`` (``west <= lon < east`` on the circle), so ``Box(45, 67.5, -22.5, 22.5)`` or ``Box(45, 67.5, 337.5,
    22.5)`` crosses 0 deg. A cell is in the box when its centre is.
    """

    south: float
    north: float
    west: float
    east: float

    def __post_init__(self) -> None:
        values = (self.south, self.north, self.west, self.east)
        if not all(math.isfinite(float(v)) for v in values):
            raise ValueError(f"a box's edges must be finite degrees, got {values}")
        if not -90.0 <= self.south < self.north <= 90.0:
            raise ValueError(f"a box needs -90 <= south < north <= 90 (degrees north), got south {self.south:g}, "
                             f"north {self.north:g}: swap or clip them")
        if not 0.0 < self.width <= 360.0:
            raise ValueError(f"a box from {self.west:g} east to {self.east:g} has no width: give west and east apart")

    @property
    def width(self) -> float:
        """Degrees of longitude from ``west`` eastwards to ``east`` (360 for a ring)."""
        span = (float(self.east) - float(self.west)) % 360.0
        return 360.0 if span == 0.0 and self.east != self.west else span

    def _east_of_west(self, lon: np.ndarray) -> np.ndarray:
        return (np.asarray(lon, dtype=np.float64) - float(self.west)) % 360.0

    def rows_cols(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the grid's rows and columns in the box, columns west to east; the error names the fix."""
        lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
        rows = np.flatnonzero((lat >= self.south) & (lat < self.north))
        east = self._east_of_west(lon)
        cols = np.flatnonzero(east < self.width)
        cols = cols[np.argsort(east[cols], kind="stable")]
        if not len(rows) or not len(cols):
            spacing = float(np.median(np.abs(np.diff(lat)))) if len(lat) > 1 else float("nan")
            raise ValueError(
                f"{self} holds no cell centre of the grid (rows at {lat.min():g}..{lat.max():g} deg N, columns at "
                f"{lon.min():g}..{lon.max():g} deg E, about {spacing:g} deg apart): move the box onto the grid or "
                "make it larger than a cell"
            )
        return rows, cols

    def cells(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Bool ``[lat, lon]``: the grid's cells whose centres lie in the box."""
        rows, cols = self.rows_cols(lat, lon)
        mask = np.zeros((len(lat), len(lon)), dtype=bool)
        mask[np.ix_(rows, cols)] = True
        return mask

    def label(self) -> str:
        def ns(v: float) -> str:
            return f"{abs(v):g}{'N' if v >= 0 else 'S'}"

        def ew(v: float) -> str:
            v = (float(v) + 180.0) % 360.0 - 180.0
            return f"{abs(v):g}{'E' if v >= 0 else 'W'}"

        return f"{ns(self.south)}-{ns(self.north)}, {ew(self.west)}-{ew(self.east)}"


@dataclass(frozen=True)
class Task:
    """One masked task: ``kind`` (forecast, interpolation, infill), the hidden time ``slabs`` of the first two, the
    ``box`` of an infilling."""

    kind: Kind
    slabs: int = 1
    box: Box | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown masked task {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.kind == "infill" and self.box is None:
            raise ValueError("an infilling needs a box: Task('infill', box=Box(south, north, west, east))")
        if self.kind != "infill" and self.box is not None:
            raise ValueError(f"a {self.kind} hides time slabs, not a box: leave the box out")
        if self.kind != "infill" and (not isinstance(self.slabs, int) or self.slabs < 1):
            raise ValueError(f"hide at least one whole time slab, not {self.slabs!r}")

    @property
    def label(self) -> str:
        if self.kind == "infill":
            return f"infill ({self.box.label()})"
        return f"{self.kind} ({self.slabs} slab{'s' if self.slabs != 1 else ''})"

    def cells(self, fm: AtmoRepForecaster) -> np.ndarray:
        """The hidden cells of the model's window, bool ``[T, H, W]``."""
        if self.kind == "forecast":
            return forecast_cells(fm, self.slabs)
        if self.kind == "interpolation":
            return interpolation_cells(fm, self.slabs)
        return infill_cells(fm, self.box)

    def layout(self, fm: AtmoRepForecaster) -> tuple[int, np.ndarray]:
        """``(offset, steps)``: the window step that is the layout's ``init_time``, and the steps kept as leads."""
        hidden = self.cells(fm).any(axis=(1, 2))
        if self.kind == "infill":
            return 0, np.arange(len(hidden))
        steps = np.flatnonzero(hidden)
        return int(steps[0]) - 1, steps

    def span_hours(self, fm: AtmoRepForecaster) -> tuple[float, float]:
        """Hours of the window before and after its ``init_time`` (what must be in the data around it)."""
        offset, _ = self.layout(fm)
        return offset * fm.step_hours, (fm.window_steps - 1 - offset) * fm.step_hours


def _slabs(fm: AtmoRepForecaster) -> tuple[int, int, int]:
    """(window steps T, steps per slab, slabs per window)."""
    tt = fm.config.token_size[0]
    return fm.window_steps, tt, fm.window_steps // tt


def _window_text(fm: AtmoRepForecaster) -> str:
    t, tt, nt = _slabs(fm)
    return (f"{fm.name}'s window holds {nt} time slabs of {tt} steps ({t} steps of {fm.step_hours:g} h, "
            f"{tt * fm.step_hours:g} h per slab)")


def forecast_cells(fm: AtmoRepForecaster, slabs: int = 1) -> np.ndarray:
    """Bool ``[T, H, W]``: the last ``slabs`` time slabs of the window hidden (a forecast from what comes before)."""
    t, tt, nt = _slabs(fm)
    if not 1 <= slabs <= nt - 1:
        raise ValueError(f"a forecast hides 1 to {nt - 1} time slabs (one must stay visible), not {slabs}: "
                         f"{_window_text(fm)}")
    mask = np.zeros((t, *fm.grid.shape), dtype=bool)
    mask[(nt - slabs) * tt:] = True
    return mask


def interpolation_cells(fm: AtmoRepForecaster, slabs: int = 1) -> np.ndarray:
    """Bool ``[T, H, W]``: ``slabs`` time slabs hidden in the middle of the window, visible slabs on both sides.

    The gap starts at slab ``(nt - slabs) // 2``, as the training's interpolation mask.
    """
    t, tt, nt = _slabs(fm)
    if slabs < 1 or nt < slabs + 2:
        raise ValueError(
            f"a gap of {slabs} time slab(s) ({slabs * tt * fm.step_hours:g} h) needs {slabs + 2} slabs in the window "
            f"(one visible before it and one after), but {_window_text(fm)}: hide at most {max(0, nt - 2)} slab(s), "
            "or use a model with a longer window in time (--atmorep.neighbourhood)"
        )
    first = (nt - slabs) // 2
    mask = np.zeros((t, *fm.grid.shape), dtype=bool)
    mask[first * tt:(first + slabs) * tt] = True
    return mask


def infill_cells(fm: AtmoRepForecaster, box: Box) -> np.ndarray:
    """Bool ``[T, H, W]``: the cells of ``box`` (degrees) hidden through every step of the window."""
    cells = box.cells(fm.grid.lat, fm.grid.lon)
    if cells.all():
        raise ValueError(f"{box} covers every cell of the grid, so the model has nothing to read: make it smaller")
    return np.broadcast_to(cells, (fm.window_steps, *cells.shape)).copy()


def unseen_cells(fm: AtmoRepForecaster, hidden: np.ndarray) -> np.ndarray:
    """Bool ``[T, H, W]``: the cells the model cannot see when ``hidden`` are hidden.

    Each tile hides every token that holds a hidden cell, so a box off the token lattice hides
    the rest of its tokens too; a cell is unseen when some tile hides it.
    """
    hidden = np.asarray(hidden, dtype=bool)
    t, h, w = fm.window_steps, *fm.grid.shape
    if hidden.shape != (t, h, w):
        raise ValueError(f"hidden cells must be bool [steps, lat, lon] = {[t, h, w]}, got {list(hidden.shape)}")
    tt, th, tw = fm.config.token_size
    out = np.zeros_like(hidden)
    for rows, cols in zip(fm.tiling.lat, fm.tiling.lon, strict=True):
        tile = hidden[:, rows[:, None], cols[None, :]]
        nh, nw = tile.shape[1] // th, tile.shape[2] // tw
        tokens = tile.reshape(t // tt, tt, nh, th, nw, tw).any(axis=(1, 3, 5))
        cells = tokens.repeat(tt, 0).repeat(th, 1).repeat(tw, 2)
        out[:, rows[:, None], cols[None, :]] |= cells
    return out


def _atmorep(fm: Any) -> AtmoRepForecaster:
    model = fm if isinstance(fm, ForecastModel) else open_model(fm)
    if not isinstance(model, AtmoRepForecaster):
        raise TypeError(f"masked tasks need an AtmoRep model (family atmorep); {model.name} is a "
                        f"{model.spec.family} model: forecast it with climax_nb.forecast.forecast")
    return model


def task_init_times(fm: AtmoRepForecaster | Any, task: Task, data: xr.Dataset, every_hours: float = 24.0
                    ) -> np.ndarray:
    """The layout's init times every ``every_hours`` whose whole window lies inside ``data``."""
    from climax_nb.evaluate import initial_times

    fm = _atmorep(fm)
    before, after = task.span_hours(fm)
    return initial_times(data, after, every_hours, history_hours=before)


def _windows(fm: AtmoRepForecaster, data: xr.Dataset, task: Task, init_times: Sequence | np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.timedelta64]:
    """The init times, their windows' first steps, and the data step; the error names an init time whose window
    does not fit in ``data``."""
    inits = np.asarray(init_times, dtype="datetime64[ns]").reshape(-1)
    if not len(inits):
        raise ValueError("no init times: give at least one (task_init_times picks them)")
    offset, _ = task.layout(fm)
    step = np.timedelta64(round(fm.step_hours * 3600), "s")
    starts = inits - offset * step
    ends = starts + (fm.window_steps - 1) * step
    times = data["time"].values.astype("datetime64[ns]")
    outside = (starts < times[0]) | (ends > times[-1])
    if outside.any():
        k = int(np.flatnonzero(outside)[0])
        before, after = task.span_hours(fm)
        raise ValueError(
            f"{task.label} at init time {inits[k].astype('datetime64[s]')} reads the window "
            f"{starts[k].astype('datetime64[s]')} to {ends[k].astype('datetime64[s]')} ({before:g} h before the init "
            f"time to {after:g} h after it), not all inside the data ({times[0].astype('datetime64[s]')} to "
            f"{times[-1].astype('datetime64[s]')}): choose init times with task_init_times"
        )
    return inits, starts, step


def run_task(fm: AtmoRepForecaster | Any, data: xr.Dataset, task: Task, init_times: Sequence | np.ndarray, *,
             variables: Sequence[str] | None = None, batch_size: int = 4, device: str | torch.device = "cpu"
             ) -> xr.Dataset:
    """``task`` over one window per init time, ``batch_size`` windows per ``reconstruct`` call: a forecast-layout
    ensemble (dims member, init_time, lead_time, lat, lon; physical units) of the hidden cells.

    ``init_times`` are the layout's (see the module's docstring; ``task_init_times`` picks them); the
    windows' states must be in ``data``, and the values in hidden cells are never read by the model.
    """
    from climax_nb.forecast.forecaster import usable_device

    fm = _atmorep(fm)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    variables = list(variables) if variables is not None else list(fm.outputs)
    unknown = [v for v in variables if v not in fm.inputs]
    if unknown:
        raise ValueError(f"{fm.name} reconstructs the fields it reads ({list(fm.inputs)}), not {unknown}")
    hidden = task.cells(fm)
    offset, steps = task.layout(fm)
    rows, cols = (task.box.rows_cols(fm.grid.lat, fm.grid.lon) if task.kind == "infill"
                  else (np.arange(fm.grid.shape[0]), np.arange(fm.grid.shape[1])))
    inits, starts, step = _windows(fm, data, task, init_times)
    fm.to(usable_device(device))
    pick = [fm.inputs.index(v) for v in variables]
    index = [torch.as_tensor(a) for a in (pick, steps, rows, cols)]
    out = np.empty((fm.members, len(inits), len(steps), len(variables), len(rows), len(cols)), dtype=np.float32)
    begin = time.perf_counter()
    with torch.inference_mode():
        for b in range(0, len(inits), batch_size):
            s = starts[b:b + batch_size]
            x = fm.tensor(fm.read_window(data, s))
            times = s[:, None] + np.arange(fm.window_steps) * step
            y = fm.reconstruct(x, times, hidden).values  # [b, M, V, T, H, W]
            for dim, ix in zip((2, 3, 4, 5), index, strict=True):
                y = y.index_select(dim, ix.to(y.device))
            out[:, b:b + len(s)] = fm.to_physical(y.permute(1, 0, 3, 2, 4, 5), variables)  # [M, b, L, V, h, w]
    leads = (steps - offset) * fm.step_hours
    attrs: dict[str, Any] = {"task": task.kind, "task_label": task.label, "checkpoint": str(fm.name),
                             "windows": len(inits), "window_steps": fm.window_steps,
                             "seconds": round(time.perf_counter() - begin, 2)}
    if task.kind != "infill":
        attrs["slabs"] = task.slabs
    if task.kind == "interpolation":
        attrs["gap_end_hours"] = float((steps[-1] + 1 - offset) * fm.step_hours)
    if task.kind == "infill":
        box = task.box
        attrs.update(box=[box.south, box.north, box.west, box.east],
                     unseen_cells=int(unseen_cells(fm, hidden)[0].sum()), box_cells=int(len(rows) * len(cols)))
    return forecast_dataset(out, variables, inits, list(leads), fm.grid.lat[rows], fm.grid.lon[cols],
                            ensemble=True, attrs=attrs)


def coupling(fm: AtmoRepForecaster | Any, data: xr.Dataset, init_times: Sequence | np.ndarray,
             task: Task | None = None, *, batch_size: int = 4, per_window: bool = False,
             device: str | torch.device = "cpu") -> tuple[xr.DataArray, xr.DataArray]:
    """Cross-attention between fields under ``task``'s mask (default: a one-slab forecast), over one window per
    init time: ``(maps, matrix)``.

    ``maps`` (dims field, source, [init_time,] lat, lon) is the share of field ``field``'s
    cross-attention that goes to field ``source`` (each tile's share, averaged over its layers,
    heads and tokens, spread over its cells and averaged over the tiles holding a cell), averaged
    over the windows unless ``per_window``; a field's shares over its sources sum to one, and a
    field never attends to itself here (its diagonal is NaN). ``matrix`` (field, source) is the
    area-weighted global mean of the window-mean maps (``coupling_matrix``).
    """
    from climax_nb.forecast.forecaster import usable_device

    fm = _atmorep(fm)
    task = task if task is not None else Task("forecast")
    hidden = task.cells(fm)
    inits, starts, step = _windows(fm, data, task, init_times)
    fields = list(fm.fields)
    shares = np.full((len(fields), len(fields), len(inits), *fm.grid.shape), np.nan, dtype=np.float32)
    fm.to(usable_device(device))
    with torch.inference_mode():
        for b in range(0, len(inits), batch_size):
            s = starts[b:b + batch_size]
            x = fm.tensor(fm.read_window(data, s))
            times = s[:, None] + np.arange(fm.window_steps) * step
            maps = fm.reconstruct(x, times, hidden, coupling=True).coupling or {}
            for (f, g), share in maps.items():
                shares[fields.index(f), fields.index(g), b:b + len(s)] = share.float().cpu().numpy()
    coords = {"field": fields, "source": fields, "init_time": inits, "lat": fm.grid.lat, "lon": fm.grid.lon}
    maps = xr.DataArray(shares, dims=("field", "source", "init_time", "lat", "lon"), coords=coords, name="share",
                        attrs={"task": task.label, "windows": len(inits),
                               "long_name": "share of the field's cross-attention given to the source field"})
    matrix = coupling_matrix(maps)
    if not per_window:
        maps = maps.mean("init_time").assign_attrs(maps.attrs)
    return maps, matrix


def coupling_matrix(maps: xr.DataArray) -> xr.DataArray:
    """The field x source matrix of share ``maps``: the area-weighted global mean (over init times too, if any)."""
    from climax_nb.metrics.weights import spatial_mean

    mean = maps.mean("init_time") if "init_time" in maps.dims else maps
    return spatial_mean(mean).rename("share").assign_attrs(maps.attrs)


__all__ = ["KINDS", "Box", "Task", "coupling", "coupling_matrix", "forecast_cells", "infill_cells",
           "interpolation_cells", "run_task", "task_init_times", "unseen_cells"]
