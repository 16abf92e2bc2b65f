"""The main job, end to end on the embedded default: data, pretraining, fine-tuning, forecast, scores.

Each step is one library call, so the notebooks, the command line and the
experiment scripts run the same code and share the same cached runs.
``steps_scale`` shrinks the training budgets (and ``days`` the data) to try the
whole path in minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from climax_nb import runs
from climax_nb.defaults import EVAL_LEADS, REANALYSIS_TEST, REANALYSIS_TRAIN
from climax_nb.runs import Setting


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


def forecast_and_score(checkpoint: Path, out: Path, *, days: int | None = None, every_hours: float = 24.0,
                       leads: tuple[float, ...] = EVAL_LEADS):
    """Forecast the reanalysis test year and score it against persistence and climatology."""
    from climax_nb.data import embedded
    from climax_nb.evaluate import evaluate, initial_times, write_scores
    from climax_nb.forecast import forecast, save_forecast

    # a short run (``days``) has no test year: score on what it has, to check the path only
    test = embedded.open_source("reanalysis", years=None if days else list(REANALYSIS_TEST), length=days)
    inits = initial_times(test, max(leads), every_hours)
    fc = forecast(checkpoint, test, list(leads), mode="auto", init_times=inits)
    out.mkdir(parents=True, exist_ok=True)
    save_forecast(fc, out / "forecast.nc", overwrite=True)
    train_data = embedded.open_source("reanalysis", length=days)
    clim_years = [y for y in REANALYSIS_TRAIN if y in set(train_data.time.dt.year.values)] or [
        int(train_data.time.dt.year.values[0])
    ]
    card = evaluate(fc, test, train_data, clim_years, in_sample=days is not None)  # a short run checks the path
    write_scores(card, out / "scores")
    return card


@dataclass(frozen=True)
class MainJobResult:
    pretrained: Path
    finetuned: Path
    scores: Path
    times: StepTimes


def main_job(out: Path, *, steps_scale: float = 1.0, days: int | None = None, seed: int = 0,
             prepare_data: Callable[[], None] | None = None) -> MainJobResult:
    """Data, pretraining, fine-tuning, forecast and scores of the test year, each step timed.

    The runs are the shared cached ones (``climax_nb.runs``): a second call, or a notebook
    in the same setting, trains nothing; forecasts and scores are written under ``out``.
    """
    times = StepTimes()
    if prepare_data is not None:
        with times.step("data"):
            prepare_data()
    setting = Setting(days, steps_scale, seed)
    pretrained, finetuned = pretrain_then_finetune(setting, times=times)
    with times.step("forecast and scores"):
        forecast_and_score(finetuned, out, days=days)
    return MainJobResult(pretrained, finetuned, out / "scores" / "scores.md", times)
