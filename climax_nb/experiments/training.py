"""Short runs of the packaged configs with overrides, cached by their whole config, and their scores.

Every experiment is a set of variants of ``finetune-compact`` (and, for scaling,
``pretrain-compact``): another number of steps, seed, starting weights, outputs,
leads, architecture or fraction of the training years. ``finetune_config`` and
``pretrain_config`` build them; ``trained`` trains each once into
``<cache root>/experiments/runs/<name>-<key>/``, where ``key`` hashes the config
(the starting weights by their content, embedded sources by their GCM configuration),
so a changed config trains anew and identical runs are shared between experiments;
a pretraining identical to the main job's is the main job's cached run
(``climax_nb.runs``). ``score`` forecasts the test year and scores it beside
persistence and climatology, cached under ``experiments/scores/``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr

from climax_nb import runs, storage
from climax_nb.config import differences, from_dict, option, to_dict
from climax_nb.data.climate import scenario_sources
from climax_nb.data.open import embedded_name
from climax_nb.data.pipeline.pairs import build_pairs, data_interval
from climax_nb.data.select import select_years
from climax_nb.defaults import REANALYSIS_TEST, REANALYSIS_TRAIN
from climax_nb.grid import Grid
from climax_nb.train.run import DataSection, RunConfig

#: ClimaX's four fine-tuning targets, the variables every experiment scores.
TARGETS: tuple[str, ...] = ("z500", "t850", "t2m", "u10")
#: Lead times (hours) the experiments score: 1, 3 and 5 days.
LEADS_H: tuple[float, ...] = (24.0, 72.0, 120.0)
#: Hours between the test year's initial times: 2003 gives 120 of them, every season, in seconds per model.
EVERY_HOURS = 72.0
#: Settings that shape files and logs, not the weights: left out of a run's key.
NOT_TRAINING: tuple[str, ...] = ("trainer.run_dir", "trainer.progress", "trainer.log_every_n_steps",
                                 "trainer.checkpoint_every_n_steps", "trainer.keep_all_checkpoints", "data.in_memory")
Split = Literal["train", "test"]


@dataclass(frozen=True)
class Reanalysis:
    """The fine-tuning data and its split: train on ``train_years``, score ``test_years``.

    With ``days`` (embedded sources: the first ``days`` simulated days) or ``in_sample`` (all of
    a short file) one stretch is both trained on and scored: it checks the path, it proves nothing.
    """

    source: str = "embedded/reanalysis"
    days: int | None = None
    in_sample: bool = False
    train_years: tuple[int, ...] = REANALYSIS_TRAIN
    test_years: tuple[int, ...] = REANALYSIS_TEST

    @property
    def short(self) -> bool:
        """True when training and scoring share one stretch (``days`` or ``in_sample``)."""
        return self.days is not None or self.in_sample

    def years(self, split: Split) -> tuple[int, ...]:
        """The years of ``split``; empty: all the data there are."""
        if split not in ("train", "test"):
            raise ValueError(f"unknown split {split!r}; choose train or test")
        return () if self.short else (self.train_years if split == "train" else self.test_years)

    def open(self, split: Split) -> xr.Dataset:
        """The split of the data, lazily opened."""
        from climax_nb.data.open import open_source

        return open_source(self.source, years=list(self.years(split)) or None, days=self.days)


def fraction_windows(n: int, fraction: float, windows: int) -> list[tuple[int, int]]:
    """``(start, stop)`` positions of ``windows`` contiguous stretches holding ``fraction`` of ``n`` time steps.

    The time axis is cut into ``windows`` equal parts and each keeps its first ``fraction``:
    contiguous, so forecast pairs (input and every target lead) still fit inside a stretch,
    and spread, so a small fraction still samples every season instead of one winter.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"a fraction of the training data is in (0, 1], got {fraction}")
    if windows < 1:
        raise ValueError(f"windows must be >= 1, got {windows}")
    if fraction == 1:
        return [(0, n)]
    length = int(round(fraction * n / windows))
    if length < 1:
        raise ValueError(f"{fraction:g} of {n} time steps in {windows} windows leaves empty windows: use fewer")
    starts = [int(k * n // windows) for k in range(windows)]
    return [(s, min(s + length, n)) for s in starts]


def thin_training_times(ds: xr.Dataset, fraction: float, windows: int, years: Sequence[int] = (),
                        leads: Sequence[float] = ()) -> xr.Dataset:
    """``ds`` with the time steps of ``years`` (all: every year) cut to ``fraction_windows``; others kept whole.

    Refuses windows no longer than the longest of ``leads`` (hours): they would hold no pair.
    """
    if fraction == 1 or "time" not in ds.dims:
        return ds
    time = ds["time"].values
    chosen = np.isin(ds["time"].dt.year.values, list(years)) if years else np.ones(len(time), bool)
    positions = np.flatnonzero(chosen)
    spans = fraction_windows(len(positions), fraction, windows)
    step_h = data_interval(time) / np.timedelta64(1, "h")
    shortest_h = min(stop - start - 1 for start, stop in spans) * step_h
    if leads and shortest_h <= max(leads):
        raise ValueError(
            f"{fraction:g} of the training times in {windows} windows leaves windows of {shortest_h:g} h, no longer "
            f"than the longest lead ({max(leads):g} h), so they hold no forecast pair: use fewer windows or more data"
        )
    kept = np.concatenate([positions[start:stop] for start, stop in spans])
    return ds.isel(time=np.sort(np.concatenate([np.flatnonzero(~chosen), kept])))


def _open_source(spec: str, days: int | None) -> xr.Dataset:
    """A source as ``DataSection.open`` opens it, embedded data without the re-read of every value."""
    from climax_nb.data import embedded
    from climax_nb.data.open import open_source

    name = embedded_name(spec)
    return open_source(spec, days=days) if name is None else embedded.open_source(name, length=days)


@functools.lru_cache(maxsize=1)
def _in_memory(spec: str, days: int | None, years: tuple[int, ...], fraction: float, windows: int,
               leads: tuple[float, ...]) -> xr.Dataset:
    ds = _open_source(spec, days)
    ds = select_years(ds, list(years)) if years else ds
    return thin_training_times(ds, fraction, windows, years, leads).load()


@dataclass(frozen=True)
class ExperimentData(DataSection):
    """A ``DataSection`` that can train on a fraction of its training years, and opens embedded data quickly.

    Embedded sources are read with ``climax_nb.data.embedded.open_source``, which checks their
    layout: their values were checked for NaN as they were simulated, and the full re-read that
    ``open_dataset`` adds (20-50 s for the four-year reanalysis on 2 cores) would be paid again
    by every one of an experiment's runs. With ``in_memory`` the training years are read into
    memory once per process (1.2 GB for the reanalysis's two), so the runs that follow on the
    same data skip reading them again for their statistics and batches.
    """

    fraction: float = option(1.0, "fraction of the training years' time steps to train on")
    windows: int = option(8, "contiguous stretches the fraction is spread over (8: one starting each season)")
    in_memory: bool = option(False, "read the training years into memory once, for every run on them")

    def open(self) -> dict[str, xr.Dataset]:
        """Each source by its short name, its training years thinned (``thin_training_times``)."""
        from climax_nb.data.open import source_label

        def one(spec: str) -> xr.Dataset:
            if self.in_memory and not self.val_years:
                leads = tuple(self.leads) if self.fraction < 1 else ()  # the whole years serve any leads
                return _in_memory(spec, self.days, tuple(self.train_years), self.fraction, self.windows, leads)
            return thin_training_times(_open_source(spec, self.days), self.fraction, self.windows, self.train_years,
                                       self.leads)

        return {source_label(spec): one(spec) for spec in self.sources}


def experiment_data(data: DataSection, fraction: float = 1.0, windows: int = 8,
                    in_memory: bool = False) -> ExperimentData:
    """``data`` as an ``ExperimentData`` with every setting kept, training on ``fraction`` of its years."""
    fields = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
    return ExperimentData(**{**fields, "fraction": fraction, "windows": windows, "in_memory": in_memory})


def with_overrides(config: RunConfig, overrides: Mapping[str, Any] | None) -> RunConfig:
    """``config`` with dotted settings laid over it (``{"model.embed_dim": 64, "data.outputs": None}``)."""
    if not overrides:
        return config
    values = to_dict(config)
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = values
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise KeyError(f"{dotted!r} is not a setting: the sections are {sorted(to_dict(config))}")
            node = node[part]
        if leaf not in node:
            raise KeyError(f"{dotted!r} is not a setting; {'.'.join(parents)} has {sorted(node)}")
        node[leaf] = value
    return from_dict(RunConfig, values, "the overrides")


def with_budget(config: RunConfig, steps: int) -> RunConfig:
    """``config`` trained for ``steps``: warm-up scaled with them, one checkpoint at the end, no progress bars."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    warmup = max(1, min(steps, round(config.optim.warmup_steps * steps / config.trainer.max_steps)))
    trainer = replace(config.trainer, max_steps=steps, checkpoint_every_n_steps=steps, progress=False,
                      log_every_n_steps=max(1, min(config.trainer.log_every_n_steps, steps // 10)))
    return replace(config, optim=replace(config.optim, warmup_steps=warmup), trainer=trainer)


def finetune_config(data: Reanalysis, *, steps: int, seed: int = 0, init: str | Path | None = None,
                    fraction: float = 1.0, windows: int = 8,
                    overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """The packaged fine-tuning on ``data``'s training years, ``steps`` long, without validation.

    Batch, learning rate and architecture are the packaged ones unless ``overrides`` change them;
    ``fraction`` < 1 trains on that fraction of the training times (``ExperimentData``).
    """
    cfg = runs.run_config(runs.FINETUNE_CONFIG, Path("unset"), days=data.days, years=(data.years("train"), ()),
                          init=None if init is None else str(init), seed=seed)
    cfg = replace(cfg, data=replace(cfg.data, sources=(data.source,)))
    cfg = with_overrides(with_budget(cfg, steps), overrides)
    return replace(cfg, data=experiment_data(cfg.data, fraction, windows, in_memory=True))


#: The embedded run downscaling trains on and is scored on: ``t42``'s two years, 1990 to train, 1991 to test.
DOWNSCALE_SOURCE = "embedded/t42"
DOWNSCALE_TRAIN, DOWNSCALE_TEST = (1990,), (1991,)


def _downscale_data(days: int | None, source: str, in_sample: bool) -> tuple[bool, int | None]:
    """Whether one short stretch is trained on and scored, and the simulated days to open (embedded only)."""
    return days is not None or in_sample, days if embedded_name(source) is not None else None


def _task_config(name: str, *, steps: int | None, seed: int, init: str | Path | None, sim_days: int | None,
                 train_years: tuple[int, ...], source: str | Sequence[str],
                 overrides: Mapping[str, Any] | None) -> RunConfig:
    """The packaged task config ``name`` on the ``train_years`` (empty: all there are) of ``source`` (or several),
    ``steps`` long."""
    cfg = runs.run_config(name, Path("unset"), days=sim_days, years=(train_years, ()),
                          init=None if init is None else str(init), seed=seed)
    sources = (source,) if isinstance(source, str) else tuple(source)
    cfg = replace(cfg, data=replace(cfg.data, sources=sources))
    return with_overrides(with_budget(cfg, steps or cfg.trainer.max_steps), overrides)


def downscale_config(*, steps: int | None = None, seed: int = 0, init: str | Path | None = None,
                     days: int | None = None, source: str = DOWNSCALE_SOURCE, in_sample: bool = False,
                     overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """The packaged downscaling (``downscale-compact``) on ``source``, ``steps`` long (default: its own budget).

    By default the source's whole run, trained on ``DOWNSCALE_TRAIN``; with ``days`` (that many
    simulated days) or ``in_sample`` (a short file), all of it is trained on: that checks the path.
    """
    short, sim_days = _downscale_data(days, source, in_sample)
    return _task_config("downscale-compact", steps=steps, seed=seed, init=init, sim_days=sim_days,
                        train_years=() if short else DOWNSCALE_TRAIN, source=source, overrides=overrides)


def downscale_test(days: int | None = None, source: str = DOWNSCALE_SOURCE, in_sample: bool = False) -> xr.Dataset:
    """The fine fields downscaling is scored on: ``DOWNSCALE_TEST``, or all of a short stretch (as trained)."""
    from climax_nb.data.open import open_source

    short, sim_days = _downscale_data(days, source, in_sample)
    return open_source(source, years=None if short else list(DOWNSCALE_TEST), days=sim_days)


#: Sub-seasonal forecasting's data: ten reanalysis years, 2000-2007 to train, 2009 to test (2008 validates
#: the packaged run and is left out of the experiments, as in ``finetune_config``).
SUBSEASONAL_SOURCE = "embedded/reanalysis"
SUBSEASONAL_YEARS = 10
SUBSEASONAL_TRAIN, SUBSEASONAL_TEST = tuple(range(2000, 2008)), (2009,)


def _subseasonal_data(days: int | None, source: str, in_sample: bool) -> tuple[bool, int | None]:
    """Whether one stretch is trained on and scored, and the simulated days to open (ten years by default)."""
    from climax_nb.data.embedded.configs import get_config

    name = embedded_name(source)
    if name is None:
        return True if in_sample else days is not None, None
    return days is not None or in_sample, days or get_config(name).days_in(SUBSEASONAL_YEARS)


def subseasonal_config(*, steps: int | None = None, seed: int = 0, init: str | Path | None = None,
                       days: int | None = None, source: str = SUBSEASONAL_SOURCE, in_sample: bool = False,
                       overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """The packaged sub-seasonal run (``subseasonal-compact``) on ``source``, ``steps`` long, without validation.

    By default ten simulated years, trained on ``SUBSEASONAL_TRAIN``; with ``days`` or ``in_sample`` all of one
    stretch is trained on (at least a year and the windows: the climatology needs a whole year).
    """
    short, sim_days = _subseasonal_data(days, source, in_sample)
    return _task_config("subseasonal-compact", steps=steps, seed=seed, init=init, sim_days=sim_days,
                        train_years=() if short else SUBSEASONAL_TRAIN, source=source, overrides=overrides)


def subseasonal_test(config: RunConfig) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset, xr.Dataset]:
    """What ``config``'s run is scored on: its inputs and window-mean anomalies in the test years (all of a short
    stretch), the anomalies of every day (for damped persistence's fit and recent windows) and the climatology."""
    from climax_nb.data.open import open_source
    from climax_nb.data.subseasonal import subseasonal_pair

    data = config.data
    ds = _open_source(data.sources[0], data.days) if embedded_name(data.sources[0]) else open_source(data.sources[0])
    train = data.train_years or tuple(sorted({int(y) for y in ds.time.dt.year.values}))
    inputs, anomalies, clim = subseasonal_pair(ds, data.subseasonal_outputs(ds), train, data.subseasonal,
                                               data.climatology_harmonics)
    if data.train_years:
        inputs, test = (select_years(x, list(SUBSEASONAL_TEST)) for x in (inputs, anomalies))
    else:
        test = anomalies
    return inputs, test, anomalies, clim


def projection_config(*, steps: int | None = None, seed: int = 0, init: str | Path | None = None,
                      freeze: bool = False, sources: Sequence[str] | None = None, days: int | None = None,
                      overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """The packaged climate projection (``projection-compact``) on ``sources`` (default: every training scenario
    run), ``steps`` long; ``freeze`` keeps the backbone as initialised (ClimaX-frozen)."""
    cfg = _task_config("projection-compact", steps=steps, seed=seed, init=init, sim_days=days, train_years=(),
                       source=tuple(sources or scenario_sources(held_out=False)), overrides=overrides)
    return replace(cfg, model=replace(cfg.model, freeze="backbone" if freeze else None))


def pretrain_config(*, steps: int, seed: int = 0, days: int | None = None, sources: Sequence[str] | None = None,
                    overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """The packaged pretraining, ``steps`` long, on its sources (or ``sources``) of ``days`` simulated days."""
    cfg = runs.run_config(runs.PRETRAIN_CONFIG, Path("unset"), days=days, seed=seed)
    if sources:
        cfg = replace(cfg, data=replace(cfg.data, sources=tuple(sources)))
    cfg = with_overrides(with_budget(cfg, steps), overrides)
    return replace(cfg, data=experiment_data(cfg.data))


@functools.lru_cache(maxsize=64)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:16]


def file_digest(path: str | Path) -> str:
    """Short hash of a file's content (a checkpoint is known by its weights, not where it lies)."""
    st = Path(path).stat()
    return _digest(str(Path(path).resolve()), st.st_mtime_ns, st.st_size)


def _source_identity(spec: str) -> str:
    name = embedded_name(spec)
    if name is None:
        return str(spec)
    from climax_nb.data.embedded import get_config

    return f"{spec}@{get_config(name).config_hash()}"


def _hash(values: Any) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:12]


def run_key(config: RunConfig) -> str:
    """Short hash of everything that shapes a run's weights: a new key means a new run."""
    values = to_dict(config)
    for dotted in NOT_TRAINING:
        section, leaf = dotted.split(".")
        values[section].pop(leaf, None)
    if values["model"]["init"]:
        values["model"]["init"] = file_digest(values["model"]["init"])
    values["data"]["sources"] = [_source_identity(s) for s in values["data"]["sources"]]
    return _hash(values)


def experiments_dir() -> Path:
    """``<cache root>/experiments``: the runs and scores of every experiment, shared between them."""
    return storage.cache_root() / "experiments"


def main_job_run(config: RunConfig) -> Path | None:
    """The main job's pretrained model when ``config`` is its pretraining (trained there first if need be)."""
    setting = runs.Setting(config.data.days, 1.0, config.trainer.seed)
    reference = runs.training_config("pretrain", setting)
    if getattr(config.data, "fraction", 1.0) != 1 or differences(reference, config, ignore=NOT_TRAINING):
        return None
    return runs.trained("pretrain", setting)


def _recorded_as(config: RunConfig, record: Mapping[str, Any]) -> bool:
    """True when a run's recorded ``config.yaml`` (as read) trained what ``config`` would.

    Settings the record lacks count as equal when ``config`` has them at their defaults: they
    were added to the options after the run, and their defaults keep what the code did before.
    Starting weights are compared by content.
    """
    values, defaults = to_dict(config), to_dict(RunConfig())
    for dotted in NOT_TRAINING:
        section, leaf = dotted.split(".")
        values[section].pop(leaf, None)
    for section, fields in values.items():
        kept = record.get(section) or {}
        for leaf, value in fields.items():
            if leaf not in kept:
                if value != defaults.get(section, {}).get(leaf, value):
                    return False
                continue
            old = kept[leaf]
            if section == "model" and leaf == "init" and value and old:
                if not Path(old).is_file() or file_digest(old) != file_digest(value):
                    return False
            elif json.dumps(old, default=str) != json.dumps(value, default=str):
                return False
    return True


def recorded_run(config: RunConfig, root: Path) -> Path | None:
    """A finished run under ``root`` whose ``config.yaml`` trained what ``config`` would (``_recorded_as``).

    Adding an option changes every key, though a run made before it trained the same weights: this
    finds those runs again instead of training them anew.
    """
    import yaml

    for path in sorted(root.glob("*/config.yaml")):
        if not (path.parent / "model.pt").is_file():
            continue
        try:
            record = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        if _recorded_as(config, record):
            return path.parent / "model.pt"
    return None


def trained(name: str, config: RunConfig) -> Path:
    """The exported model of ``config``, trained unless a run of its key is cached; ``name`` labels the folder.

    A run recorded before options were added to the configs (another key, the same training) is
    reused too (``recorded_run``).
    """
    shared = main_job_run(config)
    if shared is not None:
        return shared
    key = run_key(config)
    root = experiments_dir() / "runs"
    cached = sorted(root.glob(f"*-{key}/model.pt")) or [p for p in [recorded_run(config, root)] if p is not None]
    if cached:
        return cached[0]
    folder = root / f"{name}-{key}"
    if folder.exists():  # an interrupted run: start it again cleanly
        shutil.rmtree(folder)
    from climax_nb.train.run import train

    print(f"training {name} ({config.trainer.max_steps} steps) into {folder}", flush=True)
    start = time.perf_counter()
    exported = train(replace(config, trainer=replace(config.trainer, run_dir=str(folder))))
    seconds = time.perf_counter() - start
    (folder / "timing.json").write_text(json.dumps({"seconds": round(seconds, 1), "steps": config.trainer.max_steps}))
    print(f"trained {name} in {seconds:.0f} s", flush=True)
    return exported


def train_seconds(checkpoint: Path) -> float:
    """Wall seconds the run of ``checkpoint`` took to train here (NaN: trained elsewhere, e.g. by the main job)."""
    timing = Path(checkpoint).parent / "timing.json"
    return float(json.loads(timing.read_text())["seconds"]) if timing.is_file() else float("nan")


def steps_of(checkpoint: Path) -> int:
    """Optimizer steps the run of ``checkpoint`` trained (its ``timing.json``, else its ``config.yaml``; 0: unknown)."""
    folder = Path(checkpoint).parent
    timing, config = folder / "timing.json", folder / "config.yaml"
    if timing.is_file():
        return int(json.loads(timing.read_text())["steps"])
    if config.is_file():
        from climax_nb.config import load_yaml

        return int(load_yaml(RunConfig, config).trainer.max_steps)
    return 0


def training_pairs(config: RunConfig) -> int:
    """Initial times of the first source's training years with a target at every lead: the run's examples."""
    ds = next(iter(config.data.open().values()))
    ds = select_years(ds, list(config.data.train_years) or None)
    return len(build_pairs(ds["time"].values, config.data.leads))


@functools.lru_cache(maxsize=2)
def _test_data(data: Reanalysis) -> xr.Dataset:
    return data.open("test").load()  # every model's forecast reads its initial states: read them once


@functools.lru_cache(maxsize=2)
def _climatology(data: Reanalysis, variables: tuple[str, ...]) -> tuple[xr.Dataset, tuple[int, ...]]:
    from climax_nb.data.climatology import climatology
    from climax_nb.data.select import available_years

    train = data.open("train")
    years = data.years("train") or tuple(available_years(train))
    return climatology(train, years=list(years), variables=list(variables)).load(), years


Checkpoints = str | Path | Mapping[float, str | Path]


def score(checkpoint: Checkpoints, data: Reanalysis, *, leads: Sequence[float] = LEADS_H,
          mode: str = "continuous", step: float | None = None, every_hours: float = EVERY_HOURS,
          variables: Sequence[str] = TARGETS, cells: Grid | None = None) -> xr.Dataset:
    """RMSE of a model's forecasts of the test years beside persistence and climatology (cached by key).

    ``checkpoint`` is one model (``mode`` continuous, or iterative with ``step`` hours) or
    ``{lead_hours: model}`` for direct mode. Initial times every ``every_hours`` with room for
    the longest lead; the climatology is the training years'. Models ``model``, ``persistence``,
    ``climatology``; metric ``rmse``. With ``cells`` (a regional model's ``output_grid``) the
    forecast is cut to those cells first, so a global model is scored on a box as a regional
    model is (``evaluate.score``: the box's own area weights, baselines on the box).
    """
    from climax_nb.evaluate import check_out_of_sample, initial_times, on_forecast_grid
    from climax_nb.evaluate import score as score_forecasts
    from climax_nb.forecast import forecast

    models = {float(k): v for k, v in checkpoint.items()} if isinstance(checkpoint, Mapping) else {None: checkpoint}
    values = {"models": {str(k): file_digest(v) for k, v in models.items()}, "data": dataclasses.asdict(data),
              "source": _source_identity(data.source), "leads": [float(h) for h in leads], "mode": mode,
              "step": step, "every_hours": float(every_hours), "variables": list(variables)}
    if cells is not None:  # keys of scores on the whole grid stay as they were
        values["cells"] = [[round(float(v), 6) for v in cells.lat], [round(float(v), 6) for v in cells.lon]]
    path = experiments_dir() / "scores" / f"{_hash(values)}.nc"
    if path.is_file():
        return xr.load_dataset(path)
    truth = _test_data(data)
    clim, clim_years = _climatology(data, tuple(variables))
    inits = initial_times(truth, max(leads), every_hours)
    target = {k: str(v) for k, v in models.items()} if mode == "direct" else str(models[None])
    fc = forecast(target, truth, list(leads), mode=mode, step=step, init_times=inits, variables=list(variables),
                  batch_size=32)
    if cells is not None:
        fc = on_forecast_grid(fc, xr.Dataset(coords={"lat": np.asarray(cells.lat), "lon": np.asarray(cells.lon)}),
                              "forecast")
    if not data.short:
        check_out_of_sample(fc, clim_years)
    card = score_forecasts(fc, truth, clim, metrics=["rmse"], variables=list(variables))
    storage.atomic_write(path, card.to_netcdf)
    return card


def score_rows(card: xr.Dataset, **keys: Any) -> list[dict[str, Any]]:
    """One row per (variable, lead) of a scorecard from ``score``: ``keys``, the model's RMSE, the baselines'."""
    rmse = card.sel(metric="rmse")
    rows = []
    for var in rmse.data_vars:
        for lead in rmse["lead_time"].values:
            at = rmse[var].sel(lead_time=lead)
            rows.append({**keys, "variable": str(var), "lead_h": int(lead / np.timedelta64(1, "h")),
                         "rmse": float(at.sel(model="model")), "persistence": float(at.sel(model="persistence")),
                         "climatology": float(at.sel(model="climatology"))})
    return rows
