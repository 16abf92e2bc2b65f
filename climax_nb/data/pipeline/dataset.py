"""Torch datasets of forecast pairs: map-style for evaluation, streaming for training.

``ForecastDataset`` reads one pair per item (random access; pair it with a
``DistributedSampler``). ``StreamingForecastDataset`` reads contiguous blocks of
initial times and shuffles within a small pool of blocks, so memory is set by
``block_size * buffer_blocks`` time steps, not by the number of years, and it
splits each epoch between DDP ranks and DataLoader workers by itself.
Call ``set_epoch(epoch)`` before each epoch to reshuffle (with
``persistent_workers=False``, the default of ``make_loader``, workers pick it up).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import xarray as xr
from torch.utils.data import Dataset, IterableDataset

from climax_nb.data.pipeline.pairs import PairIndex
from climax_nb.data.pipeline.samples import Block, SampleBuilder
from climax_nb.data.pipeline.sharding import (
    block_order,
    contiguous_pieces,
    epoch_rng,
    rank_and_world,
    shard_bounds,
    split_evenly,
    worker_and_count,
)

_ORDER_KEY, _POOL_KEY = 2, 3
#: Largest block (initial times per read) chosen automatically; longer blocks mix samples less.
MAX_AUTO_BLOCK = 64


class _ForecastBase:
    """What both datasets share: the sample builder, the epoch and the variable lists.

    Their arguments are ``SampleBuilder``'s: ``ds, inputs, outputs, normalizer, leads``
    and the keywords ``history``, ``history_step``, ``seed``, ``name``, ``rollout_steps``.
    """

    def __init__(self, ds: xr.Dataset, *args: Any, **kwargs: Any):
        self.builder = SampleBuilder(ds, *args, **kwargs)
        self.seed = self.builder.seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch``'s order and lead draws (the same on every rank and worker)."""
        self.epoch = int(epoch)

    @property
    def variables(self) -> list[str]:
        return list(self.builder.inputs)

    @property
    def out_variables(self) -> list[str]:
        return list(self.builder.outputs)

    @property
    def pairs(self) -> PairIndex:
        return self.builder.pairs

    @property
    def name(self) -> str:
        return self.builder.name


class ForecastDataset(_ForecastBase, Dataset):
    """Random access to every valid pair; item ``i`` is pair ``i`` with this epoch's lead draw."""

    def __len__(self) -> int:
        return len(self.builder)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"pair {i} out of range for {len(self)} pairs")
        block = self.builder.load(np.array([i % len(self)]), self.epoch)
        return self.builder.sample(block, 0)


class StreamingForecastDataset(_ForecastBase, IterableDataset):
    """Pairs streamed block by block, split over ranks and workers, each once per epoch.

    The epoch order is contiguous blocks of ``block_size`` initial times in a
    random (seed, epoch) order; samples come out in random order from a pool
    of ``buffer_blocks`` loaded blocks. By default ``block_size`` is set so the
    pool holds about ``pool_mb`` MiB (at most 64 initial times per block); each
    DataLoader worker holds its own pool. ``rank``/``world_size`` default to
    torch.distributed, else the RANK/WORLD_SIZE environment variables.
    ``shuffle=False`` streams pairs in time order (for evaluation).
    """

    def __init__(
        self,
        ds: xr.Dataset,
        *args: Any,
        block_size: int | None = None,
        buffer_blocks: int = 4,
        pool_mb: float = 512,
        shuffle: bool = True,
        rank: int | None = None,
        world_size: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(ds, *args, **kwargs)
        if buffer_blocks < 1 or (block_size is not None and block_size < 1):
            raise ValueError(f"block_size and buffer_blocks must be >= 1, got {block_size} and {buffer_blocks}")
        if block_size is None:  # a block reads about (1 + K) times its length (inputs and K targets each)
            fit = pool_mb * 2**20 / buffer_blocks / ((1 + self.builder.pairs.steps) * self.builder.reader.step_bytes)
            block_size = int(min(MAX_AUTO_BLOCK, max(1, fit)))
        self.block_size, self.buffer_blocks, self.shuffle = int(block_size), int(buffer_blocks), bool(shuffle)
        self.rank, self.world_size = rank, world_size
        if rank is not None or world_size is not None:
            rank_and_world(rank, world_size)  # fail early on impossible values

    def __len__(self) -> int:
        """Samples this rank yields per epoch (over all its workers)."""
        _, world = rank_and_world(self.rank, self.world_size)
        return len(self.builder) // world

    def worker_lengths(self, num_workers: int = 1) -> list[int]:
        """Samples each of this rank's ``num_workers`` DataLoader workers yields per epoch (as ``shard_ids`` splits)."""
        if num_workers < 1:
            raise ValueError(f"num_workers must be >= 1 here (0 means the main process: pass 1), got {num_workers}")
        return [hi - lo for lo, hi in (split_evenly(len(self), num_workers, w) for w in range(num_workers))]

    def shard_ids(self, rank: int, world_size: int, worker: int = 0, num_workers: int = 1) -> np.ndarray:
        """Pair ids one rank's worker reads this epoch, in reading order."""
        rng = epoch_rng(self.seed, self.epoch, _ORDER_KEY) if self.shuffle else None
        order = block_order(len(self.builder), self.block_size, rng)
        start, stop = shard_bounds(len(order), rank, world_size, worker, num_workers)
        return order[start:stop]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        rank, world = rank_and_world(self.rank, self.world_size)
        worker, workers = worker_and_count()
        pieces = iter(contiguous_pieces(self.shard_ids(rank, world, worker, workers), self.block_size))
        rng = epoch_rng(self.seed, self.epoch, _POOL_KEY, rank, worker)
        pool: list[tuple[Block, list[int]]] = []

        def load_next() -> tuple[Block, list[int]] | None:
            piece = next(pieces, None)
            if piece is None:
                return None
            block = self.builder.load(piece, self.epoch)
            order = rng.permutation(len(piece)).tolist() if self.shuffle else list(range(len(piece)))[::-1]
            return block, order

        for _ in range(self.buffer_blocks if self.shuffle else 1):
            entry = load_next()
            if entry is not None:
                pool.append(entry)
        while pool:
            k = int(rng.integers(len(pool))) if self.shuffle else 0
            block, order = pool[k]
            yield self.builder.sample(block, order.pop())
            if not order:
                entry = load_next()
                if entry is None:
                    pool.pop(k)
                else:
                    pool[k] = entry
