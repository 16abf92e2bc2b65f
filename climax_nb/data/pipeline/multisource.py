"""Pretraining on several sources, each batch from one source with its own variables.

ClimaX pretrains on CMIP6 models whose variable sets differ, so a batch can
only mix samples that carry the same variables. ``MultiSourceDataset`` draws,
for each batch, a source with probability proportional to its weight among
the sources that still have a full batch left this epoch, and takes the next
``batch_size`` samples from that source's stream.

The draws depend on (seed, epoch, worker) but not on the rank, and every rank
holds equal shares of every source, so all DDP ranks yield the same number of
batches. ``until="all"`` runs until every source is used up (weights then set
the mixing order); ``until="first"`` ends the epoch when the first source runs
out (weights then set the share of batches). No sample is used twice in an
epoch; a source's last incomplete batch per worker is dropped, so when no
source has a full batch the epoch would be empty: that is refused with an
``EmptyEpochError`` (see ``check_batches``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import islice
from typing import Any, Literal

import numpy as np
from torch.utils.data import IterableDataset

from climax_nb.data.pipeline.dataset import StreamingForecastDataset
from climax_nb.data.pipeline.loader import collate
from climax_nb.data.pipeline.sharding import epoch_rng, worker_and_count

_SOURCE_KEY = 4


class EmptyEpochError(ValueError):
    """No source has enough valid (input, target) pairs for one full batch, so every epoch would be empty.

    ``pairs`` maps each source to its valid pairs, ``batch_size`` is the batch size asked for.
    """

    def __init__(self, message: str, *, pairs: Mapping[str, int] | None = None, batch_size: int | None = None):
        super().__init__(message)
        self.pairs = dict(pairs or {})
        self.batch_size = batch_size


class MultiSourceDataset(IterableDataset):
    """Whole batches from several streaming sources; use with ``DataLoader(batch_size=None)``.

    ``collate`` turns one source's samples into a batch (a subclass with other samples sets its own).
    """

    collate = staticmethod(collate)

    def __init__(
        self,
        sources: Mapping[str, StreamingForecastDataset],
        batch_size: int,
        weights: Mapping[str, float] | None = None,
        *,
        seed: int = 0,
        until: Literal["all", "first"] = "all",
    ):
        if not sources:
            raise ValueError("give at least one source")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if until not in ("all", "first"):
            raise ValueError(f"until must be 'all' or 'first', got {until!r}")
        weights = dict(weights) if weights is not None else dict.fromkeys(sources, 1.0)
        if set(weights) != set(sources):
            raise ValueError(f"weights must name exactly the sources {sorted(sources)}, got {sorted(weights)}")
        if any(not (w > 0) for w in weights.values()):
            raise ValueError(f"weights must be positive, got {weights}")
        for name, src in sources.items():
            src.builder.name = name
        self.sources = dict(sources)
        self.names = list(sources)
        self.weights = np.array([float(weights[n]) for n in self.names])
        self.batch_size, self.seed, self.until, self.epoch = int(batch_size), int(seed), until, 0

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle every source and the source draws."""
        self.epoch = int(epoch)
        for src in self.sources.values():
            src.set_epoch(epoch)

    def batches_per_epoch(self, num_workers: int = 0) -> dict[str, int]:
        """Full batches each source gives this rank per epoch with ``num_workers`` DataLoader workers.

        Each worker drops its own incomplete last batch of every source. With
        ``until="first"`` these are upper bounds (the epoch may end earlier).
        """
        workers = max(1, int(num_workers))
        return {
            name: sum(n // self.batch_size for n in src.worker_lengths(workers)) for name, src in self.sources.items()
        }

    def check_batches(self, num_workers: int = 0) -> None:
        """Refuse a setup whose epochs hold no batch at all.

        Incomplete batches are dropped, so with too few pairs an epoch yields
        nothing and a trainer limited by steps loops over empty epochs forever.
        Call this before training (``ForecastDataModule`` does); iterating checks too.
        """
        if sum(self.batches_per_epoch(num_workers).values()) > 0:
            return
        workers = max(1, int(num_workers))
        pairs = {name: len(src.builder) for name, src in self.sources.items()}
        counts = []
        for name, src in self.sources.items():
            shares = []
            if len(src) != pairs[name]:
                shares.append(f"{len(src)} per DDP rank")
            if workers > 1:
                shares.append(f"at most {max(src.worker_lengths(workers))} per DataLoader worker of {workers}")
            counts.append(f"{name}: {pairs[name]} pairs" + (f" ({', '.join(shares)})" if shares else ""))
        longest = max(float(np.max(src.pairs.leads)) for src in self.sources.values())
        fixes = "more days of data, a smaller batch size (--data.batch_size), or shorter lead times (--data.leads)"
        if workers > 1 and any(len(src) >= self.batch_size for src in self.sources.values()):
            fixes += ", or fewer DataLoader workers"
        raise EmptyEpochError(
            f"every epoch would be empty: no source has enough valid (input, target) pairs for one batch of "
            f"{self.batch_size} ({'; '.join(counts)}), and incomplete batches are dropped. "
            f"Use {fixes} (a pair needs its target {longest:g} h after its initial time, the longest lead).",
            pairs=pairs,
            batch_size=self.batch_size,
        )

    def __iter__(self) -> Iterator[dict[str, Any]]:
        worker, workers = worker_and_count()
        self.check_batches(workers)
        rng = epoch_rng(self.seed, self.epoch, _SOURCE_KEY, worker)
        streams: dict[str, Iterator[dict[str, Any]]] = {}  # opened on first draw, so unused sources read nothing
        active = list(range(len(self.names)))
        while active:
            p = self.weights[active] / self.weights[active].sum()
            k = active[int(rng.choice(len(active), p=p))]
            name = self.names[k]
            stream = streams.setdefault(name, iter(self.sources[name]))
            samples = list(islice(stream, self.batch_size))
            if len(samples) == self.batch_size:
                yield self.collate(samples)
                continue
            if self.until == "first":
                return
            active.remove(k)
