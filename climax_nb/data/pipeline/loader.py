"""Batching samples and building DataLoaders for any of the pipeline's datasets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset

from climax_nb.data.pipeline.sharding import rank_and_world

_STACKED = ("x", "y", "lead_time", "init_time", "sample_id")
_STACKED_IF_PRESENT = ("forcings",)  # rollout samples only
_SHARED = ("variables", "out_variables", "source")


def collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack sample tensors into a batch; variable lists and source must agree and are kept once."""
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    first = samples[0]
    for key in _SHARED:
        odd = [s[key] for s in samples if s[key] != first[key]]
        if odd:
            raise ValueError(
                f"samples in one batch must share '{key}': got {first[key]!r} and {odd[0]!r}; "
                "batch each source separately (see MultiSourceDataset)"
            )
    # numpy stacks on one thread: torch.stack's thread pool crawls when the cores are busy (e.g. with workers)
    stacked = _STACKED + tuple(k for k in _STACKED_IF_PRESENT if k in first)
    batch = {key: torch.from_numpy(np.stack([s[key].numpy() for s in samples])) for key in stacked}
    batch.update({key: first[key] for key in _SHARED})
    return batch


def _as_is(batch: dict[str, Any]) -> dict[str, Any]:
    """Batches made by the dataset itself pass through unchanged (keeping tuples as tuples)."""
    return batch


def make_loader(
    dataset: Dataset | IterableDataset,
    batch_size: int | None = 16,
    *,
    num_workers: int = 0,
    shuffle: bool = True,
    drop_last: bool = True,
    seed: int = 0,
    rank: int | None = None,
    world_size: int | None = None,
    **loader_kwargs: Any,
) -> DataLoader:
    """A DataLoader with ``collate`` and the right splitting for ``dataset``.

    Map-style datasets get a ``DistributedSampler`` (also with one process, for
    its seeded shuffle and ``set_epoch``) that drops the uneven tail rather than
    repeating samples. Streaming datasets split themselves; ``MultiSourceDataset``
    yields whole batches (pass ``batch_size=None``). Extra keywords go to DataLoader.
    """
    common: dict[str, Any] = {"num_workers": num_workers, "pin_memory": False} | loader_kwargs
    if num_workers > 0:
        common.setdefault("persistent_workers", False)
    if batch_size is None:
        return DataLoader(dataset, batch_size=None, collate_fn=_as_is, **common)
    if isinstance(dataset, IterableDataset):
        return DataLoader(dataset, batch_size=batch_size, collate_fn=collate, drop_last=drop_last, **common)
    rank, world_size = rank_and_world(rank, world_size)
    sampler = DistributedSampler(
        dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed, drop_last=True
    )
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate, drop_last=drop_last, **common
    )


def set_loader_epoch(loader: DataLoader, epoch: int) -> None:
    """Call ``set_epoch`` on the loader's dataset and sampler, whichever have it."""
    for part in (loader.dataset, getattr(loader, "sampler", None)):
        if hasattr(part, "set_epoch"):
            part.set_epoch(epoch)
