"""Lightning data modules over canonical datasets: one or several sources, split by year.

Each source keeps its own normalisation statistics from its training years,
as ClimaX normalises each CMIP6 model by its own statistics. Training batches
stream (bounded memory, split over DDP ranks and workers by the pipeline);
validation reads pairs in time order. With ``targets`` each source's outputs come
from its target dataset, at the inputs' times: for downscaling (lead 0) the
statistics of both are the targets'; with ``separate_output_stats`` (sub-seasonal
window-mean anomalies under the inputs' names) the inputs keep their own and the
outputs get the targets'.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pytorch_lightning as pl
import xarray as xr
from torch.utils.data import DataLoader

from climax_nb.data.pipeline.dataset import StreamingForecastDataset
from climax_nb.data.pipeline.loader import make_loader
from climax_nb.data.pipeline.multisource import MultiSourceDataset
from climax_nb.data.select import select_years
from climax_nb.data.stats import Normalizer, compute_stats
from climax_nb.defaults import PRETRAIN_LEADS
from climax_nb.forecast.spec import SourceSpec, make_grid
from climax_nb.train.module import TrainedOn
from climax_nb.train.resumable import ResumableLoader
from climax_nb.variables import is_dynamic


@dataclass(frozen=True)
class SplitConfig:
    """Which years train, validate and test; which variables go in and come out; how batches are made."""

    train_years: tuple[int, ...]
    val_years: tuple[int, ...] = ()
    inputs: tuple[str, ...] | None = None
    outputs: tuple[str, ...] | None = None
    leads: tuple[float, ...] = PRETRAIN_LEADS
    batch_size: int = 8
    num_workers: int = 0
    seed: int = 0
    weights: Mapping[str, float] | None = field(default=None)
    #: K chained steps per sample (targets at lead, ..., K * lead; see ``climax_nb.data.pipeline.samples``)
    rollout_steps: int = 1

    def __post_init__(self) -> None:
        if self.rollout_steps < 1:
            raise ValueError(
                f"rollout_steps must be >= 1 (1: one-step training, K: K chained steps), got {self.rollout_steps}; "
                "use --data.rollout_steps 1 or more"
            )
        overlap = set(self.train_years) & set(self.val_years)
        if overlap:
            raise ValueError(f"years {sorted(overlap)} are both training and validation years; splits must not overlap")
        if not self.train_years:
            raise ValueError("give at least one training year")


def dynamic_variables(ds: xr.Dataset) -> list[str]:
    """Variables that change in time (the ones a model forecasts)."""
    return [str(v) for v in ds.data_vars if is_dynamic(str(v))]


def input_variables(ds: xr.Dataset) -> list[str]:
    """All variables of a source, plus the latitude field every grid implies."""
    return [str(v) for v in ds.data_vars] + ["lat"]


class ForecastDataModule(pl.LightningDataModule):
    """Batches of forecast pairs from one or more named canonical datasets."""

    def __init__(self, sources: Mapping[str, xr.Dataset], split: SplitConfig,
                 targets: Mapping[str, xr.Dataset] | None = None, separate_output_stats: bool = False) -> None:
        super().__init__()
        if not sources:
            raise ValueError("give at least one source dataset")
        self.sources = dict(sources)
        self.targets = dict(targets or {})
        unmatched = sorted(set(self.targets) ^ set(self.sources)) if self.targets else []
        if unmatched:
            raise ValueError(f"downscaling needs a target dataset for every source and no other: {unmatched} unmatched")
        if separate_output_stats and not self.targets:
            raise ValueError("separate_output_stats describes target datasets: give targets too")
        self.split = split
        self.separate_output_stats = separate_output_stats
        self.stats: dict[str, Normalizer] = {}
        self.output_stats: dict[str, Normalizer] = {}

    def _variables(self, name: str) -> tuple[list[str], list[str]]:
        ds = self.sources[name]
        inputs = list(self.split.inputs) if self.split.inputs else input_variables(ds)
        outputs = list(self.split.outputs) if self.split.outputs else dynamic_variables(self.targets.get(name, ds))
        return inputs, outputs

    def setup(self, stage: str | None = None) -> None:
        if self.stats:
            return
        for name, ds in self.sources.items():
            check_leads(select_years(ds, self.split.train_years, name), self.split.leads, name,
                        self.split.rollout_steps)
            inputs, outputs = self._variables(name)
            years = self.split.train_years
            if self.separate_output_stats:
                self.stats[name] = compute_stats(ds, inputs, years=years)
                self.output_stats[name] = compute_stats(self.targets[name], outputs, years=years)
                continue
            needed = inputs + [v for v in outputs if v not in inputs]
            self.stats[name] = compute_stats(self.targets.get(name, ds), needed, years=years)

    def _stream(self, name: str, years: Sequence[int], shuffle: bool) -> StreamingForecastDataset:
        ds = select_years(self.sources[name], years, name)
        targets = select_years(self.targets[name], years, name) if self.targets else None
        inputs, outputs = self._variables(name)
        return StreamingForecastDataset(
            ds, inputs, outputs, self.stats[name], self.split.leads, shuffle=shuffle, seed=self.split.seed, name=name,
            rollout_steps=self.split.rollout_steps, targets=targets, output_normalizer=self.output_stats.get(name),
        )

    def train_dataloader(self) -> ResumableLoader:
        """Streaming multi-source batches that Lightning can stop and resume mid-epoch.

        Raises ``EmptyEpochError`` (a ValueError) before training starts when no
        source has a full batch per epoch: incomplete batches are dropped, so
        such epochs are empty and a step-limited trainer would never finish.
        Statistics from ``setup`` are kept: change the batch size or leads in ``split`` and call this again.
        """
        streams = {name: self._stream(name, self.split.train_years, True) for name in self.sources}
        batches = MultiSourceDataset(streams, self.split.batch_size, self.split.weights, seed=self.split.seed)
        return resumable_batches(batches, self.split.num_workers, self.split.seed)

    def val_dataloader(self) -> DataLoader | list:
        if not self.split.val_years:
            return []
        name = next(iter(self.sources))
        stream = self._stream(name, self.split.val_years, False)
        return make_loader(stream, batch_size=self.split.batch_size, num_workers=0, drop_last=False)

    def trained_on(self) -> TrainedOn:
        """Grid, statistics and variables per source and the leads: what checkpoints record (after ``setup``)."""
        if not self.stats:
            raise RuntimeError("call setup() first: statistics are computed there")
        grid = next(iter(self.sources.values()))
        sources = []
        for name in self.sources:
            inputs, outputs = self._variables(name)
            sources.append(SourceSpec(name, self.stats[name], tuple(inputs), tuple(outputs),
                                      output_stats=self.output_stats.get(name),
                                      output_description=dict(self.targets[name].attrs) if name in self.output_stats
                                      else {}))
        return TrainedOn(make_grid(grid["lat"].values, grid["lon"].values), tuple(sources),
                         tuple(float(h) for h in self.split.leads), time_step_hours(grid), self.split.rollout_steps)

    @property
    def lat(self) -> np.ndarray:
        """The grid's latitudes (all sources share one grid)."""
        return next(iter(self.sources.values()))["lat"].values

    @property
    def lon(self) -> np.ndarray:
        """The grid's longitudes."""
        return next(iter(self.sources.values()))["lon"].values


def resumable_batches(batches: MultiSourceDataset, num_workers: int, seed: int) -> ResumableLoader:
    """A loader of whole multi-source batches that resumes mid-epoch; refuses epochs without a batch first."""
    batches.check_batches(num_workers)
    return ResumableLoader(make_loader(batches, batch_size=None, num_workers=num_workers), seed=seed)


def check_leads(ds: xr.Dataset, leads: Sequence[float], name: str, rollout_steps: int = 1) -> None:
    """Refuse lead times longer than a source's training period, naming the period and its time step.

    No (input, target) pair spans such a lead, and every pair needs the longest one, so the
    epoch would be empty; saying so here names the data's length instead of a count of 0 pairs.
    With ``rollout_steps`` K a pair spans K leads, so K times each lead must fit.
    """
    times = ds["time"].values if "time" in ds.dims else np.array([], dtype="datetime64[ns]")
    span = float((times[-1] - times[0]) / np.timedelta64(1, "h")) if len(times) > 1 else 0.0
    too_long = [float(h) for h in leads if rollout_steps * float(h) > span]
    if not too_long:
        return
    step = time_step_hours(ds)
    period = f"{len(times)} times {step:g} h apart" if step else f"{len(times)} time(s)"
    chained, fewer = ("", "")
    if rollout_steps > 1:
        chained, fewer = f" chained over {rollout_steps} steps", ", fewer --data.rollout_steps"
    longest = span / rollout_steps
    raise ValueError(
        f"lead time(s) {', '.join(f'{h:g}' for h in too_long)} h{chained} are longer than the training data of source "
        f"'{name}' ({period}: {span:g} h); use --data.leads of at most {longest:g} h"
        f"{f' (multiples of {step:g} h)' if step else ''}{fewer}, or train on more data"
    )


def time_step_hours(ds: xr.Dataset) -> float | None:
    """The data's time step in hours (None for fewer than two times)."""
    if "time" not in ds.dims or ds.sizes["time"] < 2:
        return None
    return float((ds["time"].values[1] - ds["time"].values[0]) / np.timedelta64(1, "h"))
