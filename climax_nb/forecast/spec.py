"""The forecast contract: what a checkpoint promises to everything downstream of training.

A ``ForecastSpec`` is frozen, typed and versioned. Training writes it, every
forecast checkpoint carries it, and ``forecast``, ``evaluate``, the tutorial cache,
the notebooks and the dashboard read only it (through ``ForecastModel``):

- ``family`` and ``model_class`` say which builder rebuilds the network
  (``climax``: ``ClimaX`` or ``RegionalClimaX``); ``model_config`` is that
  family's architecture as plain data;
- ``grid`` is the grid the model reads, ``region`` the box it predicts (None: the
  whole grid);
- ``sources`` hold, per training source, the normalisation statistics (from its
  training years only) and the variables fed and predicted; the first is the one
  used unless another is asked for. Outputs that are not states (sub-seasonal
  window-mean anomalies) carry statistics of their own, ``output_stats``;
- ``trained_leads`` (hours) and ``time_step_hours`` (the data's step) bound what a
  forecast may ask for.

``to_dict``/``from_dict`` turn it into plain lists and dicts (loadable with
``torch.load(weights_only=True)``); ``from_legacy`` reads the untyped version-1
dicts of earlier files; version 2 is version 3 without output statistics.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from climax_nb.data.stats import Normalizer
from climax_nb.grid import WEATHERBENCH_RESOLUTIONS, Grid
from climax_nb.model.regional import Box
from climax_nb.variables import is_constant, to_ids

#: Version of the spec's dict layout; 1 is the untyped dict of earlier files, 3 added ``output_stats``.
SPEC_VERSION = 3
#: Dict layouts ``ForecastSpec.from_dict`` reads.
READ_VERSIONS = (2, 3)


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as JSON numbers and lists."""
    return value.tolist() if isinstance(value, np.ndarray | np.generic) else str(value)


class SpecError(ValueError):
    """A forecast spec that cannot be read or does not fit what is asked of it."""


def grid_name(lat: Sequence[float], lon: Sequence[float]) -> str:
    """The WeatherBench name of a grid ("5.625deg", ...), else "custom"."""
    for res in WEATHERBENCH_RESOLUTIONS:
        grid = Grid.weatherbench(res)
        if grid.matches(np.asarray(lat), np.asarray(lon)):
            return grid.name
    return "custom"


def make_grid(lat: Sequence[float], lon: Sequence[float]) -> Grid:
    """A ``Grid`` of these coordinates, named after its WeatherBench resolution when it has one."""
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    return Grid(lat, lon, grid_name(lat, lon))


@dataclass(frozen=True)
class SourceSpec:
    """One training source: its statistics and the variables fed to and predicted by the model."""

    name: str
    normalizer: Normalizer
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    #: the source's forcing (e.g. AtmoRep's ``sst_offset`` in K); empty for families that take none
    forcing: Mapping[str, float] = field(default_factory=dict)
    #: statistics of the outputs when they are not the inputs' quantities (window-mean anomalies); None: ``normalizer``
    output_stats: Normalizer | None = None
    #: what such outputs are, as plain data (``{"quantity": "window-mean anomaly", "window_days": 14, ...}``)
    output_description: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(to_ids(list(self.inputs))))
        object.__setattr__(self, "outputs", tuple(to_ids(list(self.outputs))))
        object.__setattr__(self, "forcing", {str(k): float(v) for k, v in dict(self.forcing).items()})
        object.__setattr__(self, "output_description", json.loads(json.dumps(dict(self.output_description),
                                                                             default=_plain)))

    @property
    def output_normalizer(self) -> Normalizer:
        """The statistics that turn predictions into physical units."""
        return self.normalizer if self.output_stats is None else self.output_stats

    @property
    def outputs_are_states(self) -> bool:
        """Whether the outputs are the inputs' quantities (so they can be fed back in a rollout)."""
        return self.output_stats is None

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "stats": self.normalizer.to_dict(), "inputs": list(self.inputs),
               "outputs": list(self.outputs)}
        out |= {"forcing": dict(self.forcing)} if self.forcing else {}
        if self.output_stats is not None:
            out |= {"output_stats": self.output_stats.to_dict(), "output_description": dict(self.output_description)}
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SourceSpec:
        output_stats = d.get("output_stats")
        return cls(str(d["name"]), Normalizer.from_dict(dict(d["stats"])), tuple(d["inputs"]), tuple(d["outputs"]),
                   dict(d.get("forcing") or {}),
                   None if output_stats is None else Normalizer.from_dict(dict(output_stats)),
                   dict(d.get("output_description") or {}))


@dataclass(frozen=True)
class ForecastSpec:
    """Everything beyond the weights that a forecast needs, typed and versioned."""

    family: str
    model_class: str
    model_config: Mapping[str, Any] = field(repr=False)
    grid: Grid
    sources: tuple[SourceSpec, ...]
    trained_leads: tuple[float, ...] | None = None
    time_step_hours: float | None = None
    region: Box | None = None
    training: Mapping[str, Any] = field(default_factory=dict, repr=False)
    version: int = SPEC_VERSION

    def __post_init__(self) -> None:
        if not self.sources:
            raise SpecError("a forecast spec needs at least one source with its statistics")
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise SpecError(f"source names must be unique, got {names}")
        if self.trained_leads is not None:
            object.__setattr__(self, "trained_leads", tuple(sorted({float(h) for h in self.trained_leads})))
        object.__setattr__(self, "sources", tuple(self.sources))

    def source(self, name: str | None = None) -> SourceSpec:
        """The source ``name`` (default: the first, the one the model was trained or fine-tuned on last)."""
        if name is None:
            return self.sources[0]
        for s in self.sources:
            if s.name == name:
                return s
        raise SpecError(f"the checkpoint has no source {name!r}; it has {[s.name for s in self.sources]}")

    def with_source_first(self, name: str) -> ForecastSpec:
        """The same spec with ``name`` as its default source."""
        chosen = self.source(name)
        return replace(self, sources=(chosen, *[s for s in self.sources if s.name != name]))

    def to_dict(self) -> dict[str, Any]:
        """Plain lists, dicts, numbers and strings."""
        return {
            "version": self.version,
            "family": self.family,
            "model_class": self.model_class,
            "model_config": dict(self.model_config),
            "grid": {"lat": [float(v) for v in self.grid.lat], "lon": [float(v) for v in self.grid.lon],
                     "name": self.grid.name},
            "region": None if self.region is None else {
                "name": self.region.name, "lat_range": list(self.region.lat_range),
                "lon_range": list(self.region.lon_range)},
            "sources": [s.to_dict() for s in self.sources],
            "trained_leads": None if self.trained_leads is None else list(self.trained_leads),
            "time_step_hours": self.time_step_hours,
            "training": dict(self.training),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ForecastSpec:
        """Read a dict written by ``to_dict`` (versions 2 and 3)."""
        version = d.get("version")
        if version not in READ_VERSIONS:
            raise SpecError(
                f"forecast spec version {version!r} is not one of {list(READ_VERSIONS)}; version-1 files are read by "
                "climax_nb.forecast.load_forecast_checkpoint, newer ones need a newer climax_nb"
            )
        region = d.get("region")
        return cls(
            family=str(d["family"]),
            model_class=str(d["model_class"]),
            model_config=dict(d["model_config"]),
            grid=Grid(np.asarray(d["grid"]["lat"], dtype=np.float64), np.asarray(d["grid"]["lon"], dtype=np.float64),
                      str(d["grid"].get("name", "custom"))),
            sources=tuple(SourceSpec.from_dict(s) for s in d["sources"]),
            trained_leads=None if d.get("trained_leads") is None else tuple(d["trained_leads"]),
            time_step_hours=d.get("time_step_hours"),
            region=None if region is None else Box(region["name"], tuple(region["lat_range"]),
                                                   tuple(region["lon_range"])),
            training=dict(d.get("training") or {}),
        )


def _legacy_sources(stats: Mapping[str, Any] | None, extra: Mapping[str, Any], variables: Sequence[str]
                    ) -> tuple[SourceSpec, ...]:
    """Version-1 sources: ``extra["sources"]`` per name, else the file's single ``stats`` table."""
    stored = dict(stats or {})
    entries = dict(extra.get("sources") or {})
    chosen_mean = {k: float(m) for k, (m, _) in stored.items()}
    out = []
    for name, entry in entries.items():
        norm = Normalizer.from_dict(entry["stats"])
        inputs = entry.get("inputs") or [v for v in variables if v in norm.mean]
        outputs = entry.get("outputs") or [v for v in inputs if not is_constant(v)]
        source = SourceSpec(name, norm, tuple(inputs), tuple(outputs))
        if norm.mean == chosen_mean:  # the source whose statistics the file carried at top level was the default
            out.insert(0, source)
        else:
            out.append(source)
    if not out and stored:
        norm = Normalizer({k: m for k, (m, _) in stored.items()}, {k: s for k, (_, s) in stored.items()})
        inputs = [v for v in variables if v in norm.mean]
        out.append(SourceSpec("checkpoint", norm, tuple(inputs), tuple(v for v in inputs if not is_constant(v))))
    return tuple(out)


def from_legacy(model_class: str, config: Mapping[str, Any], grid: Grid, stats: Mapping[str, Any] | None,
                extra: Mapping[str, Any] | None, where: str) -> ForecastSpec:
    """The spec of a version-1 file (``format: climax_nb.model``): config, grid, stats and an untyped extra."""
    extra = dict(extra or {})
    sources = _legacy_sources(stats, extra, list(config.get("variables", ())))
    if not sources:
        raise SpecError(f"{where} holds no normalisation statistics; re-export it with its training statistics")
    leads = extra.get("leads")
    training = {k: extra[k] for k in ("global_step", "epoch", "optim") if extra.get(k) is not None}
    return ForecastSpec(
        family="climax",
        model_class=model_class,
        model_config=dict(config),
        grid=grid,
        sources=sources,
        trained_leads=None if leads is None else tuple([leads] if isinstance(leads, int | float) else leads),
        time_step_hours=None,
        training=training,
    )
