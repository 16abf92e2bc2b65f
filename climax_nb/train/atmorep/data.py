"""The Lightning data module of AtmoRep runs: cubes from one or several sources, split by year.

Each source keeps its own per-month statistics from its training years (as each ClimaX
source keeps its own statistics), or, with ``shared_stats``, every source is normalised by
the first source's (so a warmer world stays warmer in the data); ``normalisation`` is
``local`` (a mean per grid point and month) or ``global``. Each source's forcing
(``source_forcing``) goes into its samples and its ``SourceSpec``. Training years select,
per source, the years it holds:
the embedded pretraining runs (1990) and the reanalysis's training years (2000-2001) train
together with ``train_years: [2000, 2001]``; a source that holds none of the training years
trains on all of its years, and at least one source must hold some. Validation reads the
first source's validation years in time order, with fixed neighbourhoods.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pytorch_lightning as pl
import xarray as xr
from torch.utils.data import DataLoader

from climax_nb.data.monthly import MonthlyNormalizer, compute_monthly_stats
from climax_nb.data.pipeline.cubes import (
    CubeBatches,
    CubeBuilder,
    CubeStream,
    collate_cubes,
    fields_in,
    source_forcing,
)
from climax_nb.data.select import available_years, select_years
from climax_nb.forecast.atmorep import forecast_leads
from climax_nb.forecast.spec import SourceSpec, make_grid
from climax_nb.model.atmorep import AtmoRepConfig
from climax_nb.train.datamodule import resumable_batches, time_step_hours
from climax_nb.train.module import TrainedOn
from climax_nb.train.resumable import ResumableLoader


@dataclass(frozen=True)
class CubeSplit:
    """Years, batching and seed of an AtmoRep run's data."""

    train_years: tuple[int, ...] = ()
    val_years: tuple[int, ...] = ()
    batch_size: int = 8
    num_workers: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        overlap = set(self.train_years) & set(self.val_years)
        if overlap:
            raise ValueError(f"years {sorted(overlap)} are both training and validation years; splits must not overlap")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")


def training_years(sources: Mapping[str, xr.Dataset], years: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Per source the training years it holds; all of its years when it holds none (see the module doc)."""
    held = {name: available_years(ds) for name, ds in sources.items()}
    if not years:
        return {name: tuple(h) for name, h in held.items()}
    chosen = {name: tuple(y for y in years if y in h) for name, h in held.items()}
    if not any(chosen.values()):
        listing = "; ".join(f"{n}: {h}" for n, h in held.items())
        raise ValueError(f"no source holds any of the training years {list(years)} ({listing}); choose years a source "
                         "holds with --data.train_years")
    return {name: c or tuple(held[name]) for name, c in chosen.items()}


class CubeDataModule(pl.LightningDataModule):
    """Batches of cubes (``climax_nb.data.pipeline.cubes``) for the fields of ``config``."""

    def __init__(self, sources: Mapping[str, xr.Dataset], config: AtmoRepConfig, split: CubeSplit, *,
                 normalisation: str = "global", shared_stats: bool = False) -> None:
        super().__init__()
        if not sources:
            raise ValueError("give at least one source dataset")
        if normalisation not in ("local", "global"):
            raise ValueError(f"normalisation must be 'local' or 'global', got {normalisation!r}")
        self.sources, self.config, self.split = dict(sources), config, split
        self.normalisation, self.shared_stats = normalisation, bool(shared_stats)
        self.years = training_years(self.sources, split.train_years)
        self.stats: dict[str, MonthlyNormalizer] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.stats:
            return
        absent = [f.id for f in self.config.fields
                  if not any(fields_in(ds, [f]) for ds in self.sources.values())]
        if absent:
            raise ValueError(
                f"field(s) {absent} of the model are in no source ({', '.join(self.sources)}); add a source that "
                "has them, or choose other fields with --model.variables"
            )
        local = self.normalisation == "local"
        first = next(iter(self.sources))
        for name, ds in self.sources.items():
            train = select_years(ds, self.years[name], name)
            variables = [v for f in fields_in(train, self.config.fields) for v in f.variables]
            if self.shared_stats and name != first:
                lacking = [v for v in variables if v not in self.stats[first].monthly_mean]
                if lacking:
                    raise ValueError(
                        f"shared statistics come from the first source {first!r}, which lacks {lacking} of source "
                        f"{name!r}: put a source holding every field first in --data.sources, or set "
                        "--atmorep.shared_stats false"
                    )
                self.stats[name] = self.stats[first]  # one object: a checkpoint stores its local means once
            else:
                self.stats[name] = compute_monthly_stats(train, variables, local=local)
            self._builder(name, self.years[name])  # refuses, before training, a source without a whole window

    def _builder(self, name: str, years: tuple[int, ...]) -> CubeBuilder:
        ds = select_years(self.sources[name], years, name)
        return CubeBuilder(ds, self.config.fields, self.stats[name], self.config.neighbourhood, seed=self.split.seed,
                           name=name)

    def train_dataloader(self) -> ResumableLoader:
        """Streaming multi-source batches that Lightning can stop and resume mid-epoch."""
        streams = {name: CubeStream(self._builder(name, self.years[name])) for name in self.sources}
        batches = CubeBatches(streams, self.split.batch_size, seed=self.split.seed)
        return resumable_batches(batches, self.split.num_workers, self.split.seed)

    def val_dataloader(self) -> DataLoader | list:
        if not self.split.val_years:
            return []
        name = next(iter(self.sources))
        stream = CubeStream(self._builder(name, self.split.val_years), shuffle=False)
        return DataLoader(stream, batch_size=self.split.batch_size, collate_fn=collate_cubes, drop_last=False)

    def trained_on(self) -> TrainedOn:
        """Grid, per-month statistics and fields per source, and the leads a forecast can ask for (after ``setup``)."""
        if not self.stats:
            raise RuntimeError("call setup() first: statistics are computed there")
        first = next(iter(self.sources.values()))
        specs = []
        for name, ds in self.sources.items():
            variables = tuple(v for f in fields_in(ds, self.config.fields) for v in f.variables)
            specs.append(SourceSpec(name, self.stats[name], variables, variables, source_forcing(ds, name)))
        step = time_step_hours(first)
        if step is None:
            raise ValueError("the first source needs at least two time steps to know the data's time step")
        return TrainedOn(make_grid(first["lat"].values, first["lon"].values), tuple(specs),
                         forecast_leads(self.config, step), step)

    @property
    def lat(self) -> np.ndarray:
        """The grid's latitudes (all sources share one grid)."""
        return next(iter(self.sources.values()))["lat"].values


__all__ = ["CubeDataModule", "CubeSplit", "training_years"]
