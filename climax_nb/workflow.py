"""The main job, end to end on the embedded default: data, pretraining, fine-tuning, forecast, scores.

Each step is one library call, so the notebooks, the command line and the
experiment scripts run the same code. ``steps_scale`` shrinks the training
budgets (and ``days`` the data) to try the whole path in minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from climax_nb.config import load_yaml
from climax_nb.defaults import CONFIGS, EVAL_LEADS, REANALYSIS_TEST, REANALYSIS_TRAIN
from climax_nb.train.run import RunConfig, train


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


def run_config(name: str, run_dir: Path, *, steps_scale: float = 1.0, days: int | None = None,
               init: str | None = None, seed: int = 0) -> RunConfig:
    """A packaged config with its run folder, seed, budget scale, data length and starting weights."""
    cfg = load_yaml(RunConfig, CONFIGS / f"{name}.yaml")
    data = replace(cfg.data, days=days)
    if days is not None:  # a short run holds only its first year: train on all of it, no validation
        data = replace(data, train_years=(), val_years=())
    steps = max(2, int(cfg.trainer.max_steps * steps_scale))
    warmup = max(1, int(cfg.optim.warmup_steps * steps_scale))
    return replace(
        cfg,
        model=replace(cfg.model, init=init),
        data=data,
        optim=replace(cfg.optim, warmup_steps=min(warmup, steps)),
        trainer=replace(cfg.trainer, run_dir=str(run_dir), max_steps=steps, seed=seed),
    )


def pretrain_then_finetune(out: Path, *, steps_scale: float = 1.0, days: int | None = None,
                           seed: int = 0, from_scratch: bool = False,
                           times: StepTimes | None = None) -> tuple[Path | None, Path]:
    """Pretrain on the pretraining sources, then fine-tune on the reanalysis; return both checkpoints.

    With ``from_scratch`` the pretraining is skipped and the same fine-tuning budget starts
    from random weights: the comparison ClimaX's central claim rests on. ``times`` records
    each step's wall time.
    """
    times = times or StepTimes()
    pretrained = None
    if not from_scratch:
        with times.step("pretraining"):
            pretrained = train(run_config("pretrain-compact", out / "pretrain", steps_scale=steps_scale, days=days,
                                          seed=seed))
    tag = "scratch" if from_scratch else "finetune"
    with times.step("fine-tuning"):
        finetuned = train(run_config("finetune-compact", out / tag, steps_scale=steps_scale, days=days,
                                     init=str(pretrained) if pretrained else None, seed=seed))
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
    save_forecast(fc, out / "forecast.nc")
    train_data = embedded.open_source("reanalysis", length=days)
    clim_years = [y for y in REANALYSIS_TRAIN if y in set(train_data.time.dt.year.values)] or [
        int(train_data.time.dt.year.values[0])
    ]
    card = evaluate(fc, test, train_data, clim_years)
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
    """Data, pretraining, fine-tuning, forecast and scores of the test year, each step timed."""
    times = StepTimes()
    if prepare_data is not None:
        with times.step("data"):
            prepare_data()
    pretrained, finetuned = pretrain_then_finetune(out / "runs", steps_scale=steps_scale, days=days, seed=seed,
                                                   times=times)
    with times.step("forecast and scores"):
        forecast_and_score(finetuned, out, days=days)
    return MainJobResult(pretrained, finetuned, out / "scores" / "scores.md", times)
