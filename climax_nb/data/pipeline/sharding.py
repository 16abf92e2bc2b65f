"""Who reads what: epoch-seeded orders and the split over ranks and workers.

Every rank computes the same epoch order from (seed, epoch) alone, then takes
its own equal-length slice; each DataLoader worker takes a slice of its rank's
slice. Equal lengths per rank keep DDP ranks in step (the last
``len % world_size`` samples of an epoch's order are dropped); slices never
overlap, so no sample is seen twice in an epoch.
"""

from __future__ import annotations

import os

import numpy as np
import torch.distributed as dist
from torch.utils.data import get_worker_info


def rank_and_world(rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    """This process's rank and the world size: explicit values, else torch.distributed, else RANK/WORLD_SIZE."""
    if rank is None or world_size is None:
        if dist.is_available() and dist.is_initialized():
            found = (dist.get_rank(), dist.get_world_size())
        else:
            found = (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)))
        rank = found[0] if rank is None else rank
        world_size = found[1] if world_size is None else world_size
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
    return int(rank), int(world_size)


def worker_and_count() -> tuple[int, int]:
    """This DataLoader worker's id and the number of workers (0, 1 in the main process)."""
    info = get_worker_info()
    return (0, 1) if info is None else (info.id, info.num_workers)


def split_evenly(n: int, parts: int, index: int) -> tuple[int, int]:
    """``[start, stop)`` of part ``index`` when ``n`` items are cut into ``parts`` nearly equal runs."""
    base, extra = divmod(n, parts)
    start = index * base + min(index, extra)
    return start, start + base + (1 if index < extra else 0)


def shard_bounds(n: int, rank: int, world_size: int, worker: int = 0, num_workers: int = 1) -> tuple[int, int]:
    """This rank's and worker's ``[start, stop)`` in an epoch order of ``n`` items.

    Every rank gets ``n // world_size`` items, so all ranks see the same
    number of samples and batches per worker.
    """
    per_rank = n // world_size
    lo, hi = split_evenly(per_rank, num_workers, worker)
    offset = rank * per_rank
    return offset + lo, offset + hi


def epoch_rng(seed: int, epoch: int, *keys: int) -> np.random.Generator:
    """A generator fixed by (seed, epoch, keys): the same on every rank and worker that passes the same keys."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch), *map(int, keys)]))


def block_order(n: int, block_size: int, rng: np.random.Generator | None) -> np.ndarray:
    """``0..n-1`` cut into contiguous blocks of ``block_size``, blocks permuted by ``rng`` (kept in order when None)."""
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    starts = np.arange(0, n, block_size)
    if rng is not None:
        starts = rng.permutation(starts)
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.arange(s, min(n, s + block_size)) for s in starts]).astype(np.int64)


def contiguous_pieces(ids: np.ndarray, block_size: int) -> list[np.ndarray]:
    """Cut ``ids`` into runs of consecutive values within one block, each read from disk at once."""
    if len(ids) == 0:
        return []
    cut = (np.diff(ids) != 1) | (ids[1:] % block_size == 0)
    return np.split(ids, np.flatnonzero(cut) + 1)
