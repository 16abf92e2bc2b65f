"""The index of valid forecast pairs, found by timestamps.

A pair is an initial time t with inputs at t (and, with history, at
t - k * history_step) and a target at t + lead. Every one of those timestamps
must be in the data: datasets with gaps (selected years, missing days) never
pair across the gap, which index arithmetic would silently do. When several
lead times are allowed (one drawn per sample, as in ClimaX pretraining), an
initial time is kept only if every lead is available, so the draw is unbiased.
For multi-step (rollout) training with ``steps`` K > 1, a pair also needs the
targets at 2 * lead, ..., K * lead of every lead, each present, so a rollout
never steps across a gap either. Downscaling pairs a time with itself (lead 0,
``same_time=True``): the input and the target are two datasets at one time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

HOUR = np.timedelta64(1, "h")


def data_interval(times: np.ndarray) -> np.timedelta64:
    """The usual step of a time axis (the most common difference); gaps must be whole steps."""
    times = np.asarray(times, dtype="datetime64[ns]")
    if len(times) < 2:
        raise ValueError("need at least two time steps to know the data interval")
    steps = np.diff(times)
    if np.any(steps <= np.timedelta64(0)):
        raise ValueError("time must be strictly increasing: sort the dataset by time and drop duplicates")
    values, counts = np.unique(steps, return_counts=True)
    base = values[np.argmax(counts)]
    if np.any(steps % base != np.timedelta64(0)):
        raise ValueError(f"time steps are not whole multiples of the usual {base / HOUR:g} h step")
    return base


def _as_hours(values: float | Iterable[float], name: str) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64)).ravel()
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    return arr


@dataclass(frozen=True)
class PairIndex:
    """Positions on the time axis of each valid pair's inputs and targets.

    ``inputs[i]`` holds the positions of the input steps of pair ``i``, oldest
    first (``history + 1`` of them); ``targets[i, j]`` the position of the
    target at ``leads[j]`` hours; ``chain[i, j, k]`` that of the target at
    ``(k + 1) * leads[j]`` hours (``chain[:, :, 0]`` is ``targets``).
    """

    times: np.ndarray
    leads: np.ndarray
    inputs: np.ndarray
    targets: np.ndarray
    interval_hours: float
    chain: np.ndarray

    @property
    def steps(self) -> int:
        """Targets per lead: 1, or K for rollout training."""
        return int(self.chain.shape[2])

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def init_positions(self) -> np.ndarray:
        return self.inputs[:, -1]


def build_pairs(
    times: np.ndarray,
    leads: float | Iterable[float],
    history: int = 0,
    history_step: float | None = None,
    steps: int = 1,
    same_time: bool = False,
) -> PairIndex:
    """All initial times whose inputs and targets at every lead (hours) are present.

    ``history_step`` (hours) defaults to the data interval; every lead and the
    history step must be positive multiples of the data interval. ``steps`` K
    asks for the targets at 1..K times every lead (rollout training).
    ``same_time`` also allows lead 0, for targets read from another dataset (downscaling).
    """
    times = np.asarray(times, dtype="datetime64[ns]")
    interval = data_interval(times)
    step_h = interval / HOUR
    lead_h = _as_hours(leads, "leads")
    hist_h = step_h if history_step is None else float(history_step)
    if history < 0:
        raise ValueError(f"history must be >= 0 previous steps, got {history}")
    if steps < 1:
        raise ValueError(f"rollout steps must be >= 1 (1: one target per lead), got {steps}")
    for name, value in [("lead time", h) for h in lead_h] + [("history step", hist_h)]:
        if same_time and name == "lead time" and value == 0:
            continue
        if value <= 0 or not np.isclose(value / step_h, round(value / step_h)):
            raise ValueError(
                f"{name} {value:g} h is not a positive multiple of the data interval ({step_h:g} h); "
                f"use e.g. {step_h:g}, {2 * step_h:g}, ..."
            )

    def positions(offset_hours: float) -> tuple[np.ndarray, np.ndarray]:
        wanted = times + np.timedelta64(int(round(offset_hours * 3600e9)), "ns")
        pos = np.clip(np.searchsorted(times, wanted), 0, len(times) - 1)
        return pos, times[pos] == wanted

    offsets = [-k * hist_h for k in range(history, 0, -1)] + [0.0]
    found = [positions(o) for o in offsets] + [positions(k * h) for h in lead_h for k in range(1, steps + 1)]
    ok = np.logical_and.reduce([hit for _, hit in found])
    inputs = np.stack([pos[ok] for pos, _ in found[: len(offsets)]], axis=1).astype(np.int64)
    chain = np.stack([pos[ok] for pos, _ in found[len(offsets) :]], axis=1).astype(np.int64)
    chain = chain.reshape(len(inputs), len(lead_h), steps)
    return PairIndex(times, lead_h, inputs, np.ascontiguousarray(chain[:, :, 0]), float(step_h), chain)
