"""Turning forecast pairs into normalised tensors.

A sample is a dict::

    x            float32 [V_in, H, W], or [history + 1, V_in, H, W] (oldest first) with history
    y            float32 [V_out, H, W]; with rollout_steps K > 1: [K, V_out, H, W], the targets at
                 lead, 2 * lead, ..., K * lead
    forcings     only with K > 1: float32 [K - 1, F, H, W], the true forcing inputs (``tisr``; F may be 0)
                 at lead, ..., (K - 1) * lead, in their order along V_in: the inputs of steps 2..K
    lead_time    float32 scalar, hours (with K > 1: one step's lead)
    init_time    int64 scalar, nanoseconds since 1970 (``np.datetime64(v, "ns")``)
    sample_id    int64 scalar, the pair's index (unique within a source)
    variables    tuple of input ids (the order along V_in)
    out_variables tuple of output ids
    source       str, the source's name

Constants among the inputs (``lsm``, ``orography``, ``lat``) are read once and
copied into every input step. Inputs and outputs use the same statistics.
With ``targets`` (downscaling, sub-seasonal means), outputs are read from that
dataset instead, at the same times and on the same grid as the inputs, and lead
0 is allowed; ``output_normalizer`` then scales them when they are other
quantities than the inputs of the same name (window-mean anomalies).

With several leads and K > 1, each sample draws one lead as usual and that lead
is its step: its targets lie at multiples of the drawn lead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr

from climax_nb.data.fields import check_variables
from climax_nb.data.pipeline.pairs import PairIndex, build_pairs
from climax_nb.data.pipeline.reader import BlockReader, normalised_constants
from climax_nb.data.pipeline.sharding import epoch_rng
from climax_nb.data.schema import validate
from climax_nb.data.stats import Normalizer
from climax_nb.variables import is_constant, is_forcing, to_ids

_LEAD_KEY = 1


@dataclass(frozen=True)
class Block:
    """Normalised values at sorted time ``positions`` for the pairs ``pair_ids`` at ``lead_index``."""

    positions: np.ndarray
    data: np.ndarray
    pair_ids: np.ndarray
    lead_index: np.ndarray
    #: the outputs' values at ``positions`` when they come from another dataset (downscaling)
    targets: np.ndarray | None = None


def _unique_ids(ids: list[str], what: str) -> list[str]:
    if len(set(ids)) != len(ids):
        raise ValueError(f"{what} repeat a variable: {sorted({v for v in ids if ids.count(v) > 1})}")
    return ids


def check_same_times_and_grid(inputs: xr.Dataset, targets: xr.Dataset, name: str = "") -> None:
    """Refuse downscaling targets that are not at the inputs' times and on their grid, naming the fix."""
    where = f" of {name}" if name else ""
    if "time" not in targets.dims or not np.array_equal(inputs["time"].values, targets["time"].values):
        raise ValueError(
            f"the targets{where} are not at the inputs' times ({inputs.sizes.get('time', 0)} input times, "
            f"{targets.sizes.get('time', 0)} target times): select the same times of both"
        )
    same_grid = all(inputs.sizes[d] == targets.sizes[d] and np.allclose(inputs[d].values, targets[d].values)
                    for d in ("lat", "lon"))
    if not same_grid:
        raise ValueError(
            f"the inputs{where} are on a {inputs.sizes['lat']}x{inputs.sizes['lon']} grid and the targets on "
            f"{targets.sizes['lat']}x{targets.sizes['lon']}: upsample the inputs onto the targets' grid first "
            "(climax_nb.data.regrid.regrid(ds, grid, method='bilinear'))"
        )


class SampleBuilder:
    """The valid pairs of one dataset, and the reads and tensors for any of them.

    ``leads`` is one lead time in hours or several (one drawn per sample and
    epoch from ``seed``); ``history`` adds that many earlier input steps,
    ``history_step`` hours apart (default: the data interval). ``rollout_steps``
    K > 1 gives each sample the targets of K chained steps and the forcings
    between them (see the module doc), for multi-step training.
    """

    def __init__(
        self,
        ds: xr.Dataset,
        inputs: Sequence[str],
        outputs: Sequence[str] | None,
        normalizer: Normalizer,
        leads: float | Iterable[float] = 6,
        history: int = 0,
        history_step: float | None = None,
        seed: int = 0,
        name: str = "",
        rollout_steps: int = 1,
        targets: xr.Dataset | None = None,
        output_normalizer: Normalizer | None = None,
    ):
        self.inputs = _unique_ids(to_ids(list(inputs)), "inputs")
        self.outputs = _unique_ids(
            to_ids(list(outputs)) if outputs is not None else [v for v in self.inputs if not is_constant(v)], "outputs"
        )
        constant_outputs = [v for v in self.outputs if is_constant(v)]
        if constant_outputs:
            raise ValueError(f"constants cannot be forecast targets: {constant_outputs}; list them as inputs only")
        if "time" not in ds.dims:
            raise ValueError("the dataset has no time axis to build forecast pairs from")
        check_variables(ds, self.inputs + self.outputs)
        validate(
            ds[[v for v in dict.fromkeys(self.inputs + self.outputs) if v in ds.data_vars]],
            check_values=False,
            allow_gaps=True,
        )
        if output_normalizer is not None and targets is None:
            raise ValueError("output_normalizer scales outputs read from targets: give the targets dataset too, "
                             "or leave output_normalizer out to scale outputs like the inputs")
        out_norm = normalizer if output_normalizer is None else output_normalizer
        normalizer.vectors(self.inputs + (self.outputs if output_normalizer is None else []))  # every variable
        out_norm.vectors(self.outputs)  # needs statistics
        if rollout_steps > 1 and history > 0:
            raise ValueError(
                f"rollout_steps {rollout_steps} feeds one predicted state back per step, and history inputs are not "
                "rolled forward: use history 0 with rollout_steps > 1, or rollout_steps 1"
            )
        self.name, self.seed, self.history = name, int(seed), int(history)
        self.pairs: PairIndex = build_pairs(ds["time"].values, leads, history, history_step, rollout_steps,
                                            same_time=targets is not None)
        if targets is not None and rollout_steps > 1:
            raise ValueError("rollout_steps > 1 feeds predictions back as inputs, which downscaling targets on "
                             "another grid cannot be: use rollout_steps 1 with targets")
        if targets is None:
            time_vars = list(dict.fromkeys(v for v in self.inputs + self.outputs if not is_constant(v)))
            self.reader = self.target_reader = BlockReader(ds, time_vars, normalizer)
            out_vars = time_vars
        else:
            check_same_times_and_grid(ds, targets, name)
            check_variables(targets, self.outputs)
            time_vars = [v for v in self.inputs if not is_constant(v)]
            self.reader = BlockReader(ds, time_vars, normalizer)
            out_vars = list(self.outputs)
            self.target_reader = BlockReader(targets, out_vars, out_norm)
        consts = [v for v in self.inputs if is_constant(v)]
        self.constants = normalised_constants(ds, consts, normalizer)
        self._const_slots = [self.inputs.index(v) for v in consts]
        self._time_slots = [k for k, v in enumerate(self.inputs) if not is_constant(v)]
        self._in_cols = [time_vars.index(self.inputs[k]) for k in self._time_slots]
        self._out_cols = [out_vars.index(v) for v in self.outputs]
        self._forcing_cols = np.array([time_vars.index(v) for v in self.inputs if is_forcing(v)], dtype=np.int64)
        self._lead_cache: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.pairs)

    def lead_index(self, epoch: int) -> np.ndarray:
        """Which lead each pair uses this epoch: drawn from (seed, epoch), the same in every process."""
        if self._lead_cache is None or self._lead_cache[0] != epoch:
            n, k = len(self.pairs), len(self.pairs.leads)
            choice = np.zeros(n, np.int64) if k == 1 else epoch_rng(self.seed, epoch, _LEAD_KEY).integers(k, size=n)
            self._lead_cache = (epoch, choice)
        return self._lead_cache[1]

    def load(self, pair_ids: np.ndarray, epoch: int) -> Block:
        """Read everything ``pair_ids`` need, in one call."""
        pair_ids = np.asarray(pair_ids, dtype=np.int64)
        lead_index = self.lead_index(epoch)[pair_ids]
        needed = np.concatenate([self.pairs.inputs[pair_ids].ravel(), self.pairs.chain[pair_ids, lead_index].ravel()])
        positions = np.unique(needed)
        if self.target_reader is self.reader:
            return Block(positions, self.reader.read(positions), pair_ids, lead_index)
        return Block(positions, self.reader.read(positions), pair_ids, lead_index, self.target_reader.read(positions))

    def sample(self, block: Block, j: int) -> dict[str, Any]:
        """The ``j``-th pair of ``block`` as a sample dict (see the module doc)."""
        pid, lead = int(block.pair_ids[j]), int(block.lead_index[j])
        in_rows = np.searchsorted(block.positions, self.pairs.inputs[pid])
        out_rows = np.searchsorted(block.positions, self.pairs.chain[pid, lead])
        steps = len(in_rows)
        x = np.empty((steps, len(self.inputs), *self.reader.shape), dtype=np.float32)
        x[:, self._time_slots] = block.data[np.ix_(in_rows, self._in_cols)]
        if self._const_slots:
            x[:, self._const_slots] = self.constants
        init = self.pairs.times[self.pairs.init_positions[pid]]
        targets = block.data if block.targets is None else block.targets
        y = targets[np.ix_(out_rows, self._out_cols)]
        chained = {}
        if self.pairs.steps > 1:
            chained["forcings"] = torch.from_numpy(block.data[np.ix_(out_rows[:-1], self._forcing_cols)])
        return {
            "x": torch.from_numpy(x[0] if self.history == 0 else x),
            "y": torch.from_numpy(np.ascontiguousarray(y[0] if self.pairs.steps == 1 else y)),
            **chained,
            "lead_time": torch.tensor(float(self.pairs.leads[lead]), dtype=torch.float32),
            "init_time": torch.tensor(int(init.astype("datetime64[ns]").astype(np.int64)), dtype=torch.int64),
            "sample_id": torch.tensor(pid, dtype=torch.int64),
            "variables": tuple(self.inputs),
            "out_variables": tuple(self.outputs),
            "source": self.name,
        }
