"""The main job, end to end on the embedded default: data, pretraining, fine-tuning, forecast, scores.

Each step is one library call, so the notebooks, the command line and the
experiment scripts run the same code and share the same cached runs.
``steps_scale`` shrinks the training budgets (and ``days`` the data) to try the
whole path in minutes.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from climax_nb import runs
from climax_nb.defaults import EVAL_LEADS, REANALYSIS_TRAIN
from climax_nb.runs import Setting

if TYPE_CHECKING:
    import xarray as xr

#: The scorecards' GCM rows (``climax_nb.data.embedded.predictability``): the embedded GCM started from
#: the 5.625 degree analysis (WeatherBench's "IFS" row of this world) and its perfect-model twin (the limit).
GCM_ROWS: tuple[str, ...] = ("gcm-analysis", "gcm-twin")
#: Days between the GCM rows' initial times: the test forecast's first and every 7 days after it.
GCM_EVERY_DAYS = 7.0


@dataclass
class StepTimes:
    """Wall-clock seconds of each step of a job, in the order they ran."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - start

    def table(self) -> str:
        """A markdown table of the steps, with training's total (the 20-minute budget)."""
        rows = [f"| {name} | {sec / 60:.1f} min ({sec:.0f} s) |" for name, sec in self.seconds.items()]
        trained = sum(sec for name, sec in self.seconds.items() if name in ("pretraining", "fine-tuning"))
        return "\n".join(["| step | wall time |", "|---|---|", *rows,
                          f"| pretraining + fine-tuning | {trained / 60:.1f} min ({trained:.0f} s) |"])


def pretrain_then_finetune(setting: Setting, *, from_scratch: bool = False,
                           times: StepTimes | None = None) -> tuple[Path | None, Path]:
    """Pretrain on the pretraining sources, then fine-tune on the reanalysis; return both checkpoints.

    With ``from_scratch`` the pretraining is skipped and the same fine-tuning budget starts
    from random weights: the comparison ClimaX's central claim rests on. Runs come from
    the shared cache (``climax_nb.runs``); ``times`` records each step's wall time.
    """
    times = times or StepTimes()
    pretrained = None
    if not from_scratch:
        with times.step("pretraining"):
            pretrained = runs.trained("pretrain", setting)
    with times.step("fine-tuning"):
        finetuned = runs.trained("scratch" if from_scratch else "finetune", setting)
    return pretrained, finetuned


def gcm_initial_times(inits: Any, every_days: float = GCM_EVERY_DAYS) -> np.ndarray:
    """The GCM rows' initial times: the first of ``inits`` and those a whole number of ``every_days`` after it."""
    inits = np.atleast_1d(np.asarray(inits, dtype="datetime64[ns]"))
    if every_days <= 0:
        raise ValueError(f"every_days must be positive, got {every_days}")
    stride = np.timedelta64(int(round(every_days * 86400)), "s").astype("timedelta64[ns]")
    return inits[(inits - inits[0]) % stride == np.timedelta64(0, "ns")]


def _gcm_leads(leads: Sequence[float]) -> list[float]:
    """The leads the GCM saves (multiples of its 6-hour output step); others are NaN in its rows."""
    return sorted({float(h) for h in leads if float(h) > 0 and abs(float(h) / 6.0 - round(float(h) / 6.0)) < 1e-9})


def gcm_forecasts(inits: Any, leads: Sequence[float], folder: Path, *, variables: Sequence[str],
                  length: int | None = None, progress: bool = True, workers: int | None = None,
                  **options: Any) -> dict[str, xr.Dataset]:
    """The embedded GCM's own forecasts of the reanalysis, ``{"gcm-analysis": ..., "gcm-twin": ...}``, made once.

    ``climax_nb.data.embedded.predictability.gcm_forecast_pair`` from ``inits`` to ``leads``
    (hours; those not a multiple of 6 h are left out) for ``variables``, on the reanalysis of
    ``length`` simulated days (None: its whole years), with the default 0.1 K twin perturbation
    and seed. Written to ``folder/<name>.nc`` and read back by any later call that asks for the
    same initial times and leads (and no variable more) of the same reanalysis configuration.
    ``options`` go to ``gcm_forecast_pair`` (``source``, ``cache_dir``, ``chunk_days``).

    Cost (2 cores): the twin re-runs the reanalysis from the restart before the first initial
    time to the last, then each kind runs ``max(leads)`` from every initial time, at 0.25-0.35 s
    per simulated day, plus jcm's compilations (kept in the persistent compilation cache). The
    initial times are split among ``workers`` processes (default: one per core), as one GCM
    process leaves part of the second core idle (1.25 times faster in two processes on 2 cores,
    ``benchmarks/simulate_speed.py --gcm-rows 52``).
    """
    from climax_nb.data.embedded import get_config
    from climax_nb.data.embedded.predictability import DEFAULT_PERTURBATION_K, KINDS, gcm_forecast_pair
    from climax_nb.forecast import open_forecast, save_forecast

    folder = Path(folder)
    inits = np.atleast_1d(np.asarray(inits, dtype="datetime64[ns]"))
    hours = _gcm_leads(leads)
    variables = list(variables)
    if not hours:
        raise ValueError(f"no lead of {list(leads)} h is a multiple of the GCM's 6-hour output step")
    config_hash = get_config(options.get("source", "reanalysis")).config_hash()
    lead_times = np.array([np.timedelta64(round(h * 3600), "s") for h in hours], dtype="timedelta64[ns]")

    def fits(fc: xr.Dataset) -> bool:
        return (fc.attrs.get("config_hash") == config_hash and np.array_equal(fc["init_time"].values, inits)
                and np.array_equal(fc["lead_time"].values.astype("timedelta64[ns]"), lead_times)
                and set(variables) <= set(map(str, fc.data_vars))
                and float(fc.attrs.get("perturbation_K", DEFAULT_PERTURBATION_K)) == DEFAULT_PERTURBATION_K)

    paths = {name: folder / f"{name}.nc" for name in GCM_ROWS}
    cached = {name: open_forecast(path) for name, path in paths.items() if path.is_file()}
    if len(cached) == len(paths) and all(fits(fc) for fc in cached.values()):
        return {name: cached[name][variables] for name in GCM_ROWS}
    print(f"running the embedded GCM's own forecasts once ({len(inits)} initial times, leads {hours} h); "
          f"later calls reuse {folder}", flush=True)
    kinds = [kind for name in GCM_ROWS for kind, kind_name in KINDS.items() if kind_name == name]
    pair = gcm_forecast_pair(inits, hours, kinds=kinds, variables=variables, length=length, progress=progress,
                             workers=workers or os.cpu_count() or 1, **options)
    folder.mkdir(parents=True, exist_ok=True)
    for name, fc in pair.items():
        save_forecast(fc, paths[name], overwrite=True)
    if "gcm-twin" in pair:
        print(pair["gcm-twin"].attrs.get("rerun_check", ""), flush=True)
    return {name: pair[name] for name in GCM_ROWS}


def gcm_note(forecast: xr.Dataset, gcm: dict[str, xr.Dataset], every_days: float = GCM_EVERY_DAYS) -> str:
    """A line for ``scores.md``: what the GCM rows are and which initial times they were scored on."""
    if not gcm:
        return ""
    inits = next(iter(gcm.values()))["init_time"].values
    if len(inits) > 1:
        when = f"{len(inits)} initial times every {every_days:g} days, {str(inits[0])[:10]} to {str(inits[-1])[:10]}"
    else:
        when = f"1 initial time, {str(inits[0])[:13]}"
    return (f"{' and '.join(gcm)}: the embedded GCM's own forecasts (`climax_nb.data.embedded.predictability`; "
            "gcm-analysis from the 5.625 degree analysis, gcm-twin from the data's exact model state perturbed by "
            f"0.1 K), from {when}; the other rows from all {forecast.sizes['init_time']} of the model's.")


def scores_note(truth: xr.Dataset, forecast: xr.Dataset, gcm: dict[str, xr.Dataset],
                every_days: float = GCM_EVERY_DAYS) -> str:
    """The lines above ``scores.md``'s tables: the verifying data's span and fingerprint, and ``gcm_note``.

    The fingerprint says whether two scorecards scored the same data: the embedded GCM's output
    differs slightly from one machine to another.
    """
    from climax_nb.data.fields import fingerprint

    times = truth["time"].values
    data = (f"Verifying data: {len(times)} time steps, {str(times[0])[:13]} to {str(times[-1])[:13]}, fingerprint "
            f"`{fingerprint(truth)}` (`climax_nb.data.fields.fingerprint`).")
    return "\n\n".join(line for line in (data, gcm_note(forecast, gcm, every_days)) if line)


def gcm_rows_of(setting: Setting, variables: Sequence[str] | None = None, *, workers: int | None = None,
                progress: bool = True) -> dict[str, xr.Dataset]:
    """The setting's GCM rows: the embedded GCM's own forecasts of its test period (``gcm_forecasts``), made once.

    From the first of the test period's daily initial times and every ``GCM_EVERY_DAYS`` after it,
    to ``EVAL_LEADS``, for ``variables`` (default: every dynamic variable of the reanalysis, which
    any model's scorecard reads back), kept in ``runs.gcm_dir(setting)``.
    """
    from climax_nb.evaluate import initial_times
    from climax_nb.variables import is_dynamic

    test = runs.reanalysis("test", setting, progress=progress)
    inits = gcm_initial_times(initial_times(test, max(EVAL_LEADS), 24.0))
    chosen = list(variables) if variables is not None else [str(v) for v in test.data_vars if is_dynamic(str(v))]
    return gcm_forecasts(inits, EVAL_LEADS, runs.gcm_dir(setting), variables=chosen, length=setting.reanalysis_days,
                         progress=progress, workers=workers)


def prepare_gcm_rows(setting: Setting, *, workers: int | None = None, progress: bool = True) -> None:
    """``gcm_rows_of`` every dynamic variable, made ahead of the scorecard that reads them back.

    They need the reanalysis alone, so the main job makes them in its data step, on the core
    that finishes the reanalysis while the other still simulates the pretraining sources
    (``embedded.generate_all``'s ``alongside``), instead of after the training. Nothing is
    returned, so nothing comes back from the worker process.
    """
    gcm_rows_of(setting, workers=workers, progress=progress)


def forecast_and_score(checkpoint: Path, out: Path, *, days: int | None = None, every_hours: float = 24.0,
                       leads: tuple[float, ...] = EVAL_LEADS, gcm_rows: bool = True,
                       gcm_every_days: float = GCM_EVERY_DAYS, gcm_dir: Path | None = None,
                       times: StepTimes | None = None):
    """Forecast the reanalysis test year and score it against persistence, climatology and the GCM rows.

    With ``gcm_rows`` (the default) the scorecard also has ``gcm-analysis`` and ``gcm-twin``,
    the embedded GCM's own forecasts (``gcm_forecasts``), from the model's first initial time
    and every ``gcm_every_days`` days after it (scored on those; the other rows on all of the
    model's), kept in ``gcm_dir`` (default ``out/gcm``; the main job uses the setting's
    ``runs.gcm_dir``, which the notebooks share). The main job makes them in its data step
    (``prepare_gcm_rows``), so here they are read back; made here instead, the default's 52
    initial times (2003, every 7 days) took 3.0 minutes after the training on 2 idle cores (the
    README's timing table). A short run (``days``, as in the
    tests) has one initial time, its first day, and adds about 50 s in a fresh cache (25 s once
    jcm's programs are in the persistent compilation cache).
    ``times`` records the GCM rows' wall time as the step ``GCM rows``.
    """
    from climax_nb.data import embedded
    from climax_nb.evaluate import evaluate, initial_times, write_scores
    from climax_nb.forecast import forecast, save_forecast

    # a short run (``days``) has no test year: score on what it has, to check the path only
    test = runs.reanalysis("test", Setting(days=days))
    inits = initial_times(test, max(leads), every_hours)
    fc = forecast(checkpoint, test, list(leads), mode="auto", init_times=inits)
    out.mkdir(parents=True, exist_ok=True)
    save_forecast(fc, out / "forecast.nc", overwrite=True)
    gcm = {}
    if gcm_rows:
        with (times or StepTimes()).step("GCM rows"):
            gcm = gcm_forecasts(gcm_initial_times(inits, gcm_every_days), leads, gcm_dir or out / "gcm",
                                variables=[str(v) for v in fc.data_vars], length=days)
    train_data = embedded.open_source("reanalysis", length=days)
    clim_years = [y for y in REANALYSIS_TRAIN if y in set(train_data.time.dt.year.values)] or [
        int(train_data.time.dt.year.values[0])
    ]
    # a short run checks the path
    card = evaluate(fc, test, train_data, clim_years, in_sample=days is not None, others=gcm)
    write_scores(card, out / "scores", note=scores_note(test, fc, gcm, gcm_every_days))
    return card


@dataclass(frozen=True)
class MainJobResult:
    pretrained: Path
    finetuned: Path
    scores: Path
    times: StepTimes


#: What the main job's data step runs: it generates the sources, and hands ``embedded.generate_all`` the work
#: it is given to run alongside (``{"reanalysis": make the GCM rows}``).
PrepareData = Callable[[Mapping[str, Callable[[], object]]], None]


def main_job(out: Path, *, steps_scale: float = 1.0, days: int | None = None, seed: int = 0,
             prepare_data: PrepareData | None = None, gcm_rows: bool = True) -> MainJobResult:
    """Data, pretraining, fine-tuning, forecast and scores of the test year, each step timed.

    The runs are the shared cached ones (``climax_nb.runs``): a second call, or a notebook
    in the same setting, trains nothing; forecasts and scores are written under ``out``.
    With ``gcm_rows`` the scores also have the embedded GCM's own forecasts
    (``forecast_and_score``), kept in the setting's ``runs.gcm_dir`` so a notebook in the
    same setting reuses them. ``prepare_data`` is handed them to make alongside the data
    (``prepare_gcm_rows``; the step is then ``data and GCM rows``); what it leaves undone is
    made after the fine-tuning, as the step ``GCM rows``, apart from ``forecast and scores``.
    """
    times = StepTimes()
    setting = Setting(days, steps_scale, seed)
    if prepare_data is not None:
        alongside = {"reanalysis": functools.partial(prepare_gcm_rows, setting, workers=1, progress=False)}
        with times.step("data and GCM rows" if gcm_rows else "data"):
            prepare_data(alongside if gcm_rows else {})
    pretrained, finetuned = pretrain_then_finetune(setting, times=times)
    start = time.perf_counter()
    try:
        forecast_and_score(finetuned, out, days=days, gcm_rows=gcm_rows, gcm_dir=runs.gcm_dir(setting), times=times)
    finally:
        times.seconds["forecast and scores"] = time.perf_counter() - start - times.seconds.get("GCM rows", 0.0)
    return MainJobResult(pretrained, finetuned, out / "scores" / "scores.md", times)
