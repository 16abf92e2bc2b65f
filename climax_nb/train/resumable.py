"""What makes a resumed run continue exactly where it stopped, even mid-epoch.

Lightning restores weights, optimiser, scheduler and loop counters, but it only
fast-forwards a training loader that has ``state_dict``/``load_state_dict``, and it
does not store the global random state. ``ResumableLoader`` records the epoch and
the batches the training loop has consumed and skips them on reload;
``StepSeed`` reseeds torch before every batch from (seed, step, batch, rank), so
dropout masks depend on where training is, not on what ran before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from climax_nb.data.pipeline.loader import set_loader_epoch

#: Batches Lightning's training loop fetches ahead of the one it trains on when a loader
#: has no length (it prefetches one to know which batch is the last); none otherwise.
PREFETCH_UNSIZED = 1


def derived_seed(*keys: int) -> int:
    """A 63-bit seed fixed by integer keys, well mixed (nearby keys give unrelated seeds)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(2, np.uint64)[0] >> np.uint64(1))


class ResumableLoader:
    """A training loader that Lightning can stop and resume mid-epoch.

    Wraps a loader whose order is a function of (seed, epoch), as the pipeline's
    loaders are. Its state is ``{"epoch", "consumed"}``; after ``load_state_dict``
    the next iteration uses that epoch's order and skips the consumed batches (by
    reading them: the order is only known by producing it). Lightning fetches one
    batch ahead when the loader has no length, so ``consumed`` is the batches
    yielded minus that look-ahead (``lookahead`` overrides the guess).

    A DataLoader built without a ``generator`` gets one seeded by (seed, epoch),
    so starting an epoch neither draws from nor depends on the global random state.
    """

    def __init__(self, loader: Iterable, *, seed: int = 0, lookahead: int | None = None) -> None:
        if lookahead is not None and lookahead < 0:
            raise ValueError(f"lookahead must be >= 0, got {lookahead}")
        self.loader = loader
        self.seed = int(seed)
        self.epoch = 0
        self.lookahead = lookahead
        self._own_generator = isinstance(loader, DataLoader) and loader.generator is None
        self._skip = 0
        self._yielded = 0
        self._exhausted = False

    def __len__(self) -> int:
        """The inner loader's length; a TypeError (as for any unsized iterable) when it has none."""
        return len(self.loader)  # type: ignore[arg-type]

    def _length(self) -> int | None:
        try:
            return len(self)
        except (TypeError, NotImplementedError):
            return None

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch``'s order from the next iteration on."""
        self.epoch = int(epoch)

    def _start_epoch(self) -> None:
        if isinstance(self.loader, DataLoader):
            set_loader_epoch(self.loader, self.epoch)
        elif hasattr(self.loader, "set_epoch"):
            self.loader.set_epoch(self.epoch)
        if self._own_generator:
            self.loader.generator = torch.Generator().manual_seed(derived_seed(self.seed, self.epoch))

    def __iter__(self) -> Iterator[Any]:
        self._start_epoch()
        skip, self._skip = self._skip, 0
        self._yielded, self._exhausted = 0, False
        batches = iter(self.loader)
        for _ in range(skip):
            if next(batches, StopIteration) is StopIteration:
                break
            self._yielded += 1
        for batch in batches:
            self._yielded += 1
            yield batch
        self._exhausted = True

    @property
    def consumed(self) -> int:
        """Batches of this epoch the training loop has taken (not just fetched)."""
        if self._exhausted:
            return self._yielded
        ahead = self.lookahead
        if ahead is None:
            ahead = 0 if self._length() is not None else PREFETCH_UNSIZED
        return max(0, self._yielded - ahead)

    def state_dict(self) -> dict[str, int]:
        """Epoch and consumed batches; a finished epoch is saved as the start of the next."""
        length = self._length()
        if self._exhausted or (length is not None and self.consumed >= length):
            return {"epoch": self.epoch + 1, "consumed": 0}
        return {"epoch": self.epoch, "consumed": self.consumed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue at ``state``: the next iteration uses its epoch and skips its consumed batches."""
        missing = {"epoch", "consumed"} - set(state)
        if missing:
            raise ValueError(f"a ResumableLoader state needs 'epoch' and 'consumed'; missing {sorted(missing)}")
        self.epoch, self._skip = int(state["epoch"]), int(state["consumed"])


class StepSeed(pl.Callback):
    """Reseed torch before each training batch from (seed, optimiser step, micro-batch, rank).

    Lightning checkpoints keep no random state, and loading, validation and the
    start of an epoch draw from it at different moments in an interrupted and an
    uninterrupted run. Seeding per batch makes dropout and drop-path depend on
    the position in training alone, so a resumed run matches exactly. The
    micro-batch counts batches accumulated into one step (checkpoints fall between
    steps, so it restarts at 0 on resume; Lightning's ``batch_idx`` does not
    restart at 0 when resuming at an epoch's end); the rank gives each DDP process
    its own masks.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self._step: int | None = None
        self._micro = 0

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        self._micro = self._micro + 1 if step == self._step else 0
        self._step = step
        torch.manual_seed(derived_seed(self.seed, step, self._micro, trainer.global_rank))
