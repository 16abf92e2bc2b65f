"""Lead times: conversion, checks against what a model was trained for, and rollout plans.

A model asked for a lead time it never saw in training extrapolates silently, so
every lead is checked against the checkpoint's record (``ForecastSpec.trained_leads``); when a
lead is not trained for, an explicit iterative plan (``plan_rollout``) is the way on.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

LeadLike = float | int | str | np.timedelta64 | pd.Timedelta


class LeadTimeError(ValueError):
    """A lead time the model was not trained for, or one a rollout cannot reach."""


def to_hours(lead: Any) -> float:
    """Hours in ``lead``: a number (hours), a timedelta, or a string such as ``"6h"`` or ``"10D"``."""
    if isinstance(lead, bool):
        raise TypeError(f"a lead time must be hours or a timedelta, got {lead!r}")
    if isinstance(lead, int | float | np.integer | np.floating) and not isinstance(lead, np.timedelta64):
        hours = float(lead)
    else:
        try:
            hours = pd.to_timedelta(lead) / pd.Timedelta(hours=1)
        except (ValueError, TypeError):
            raise LeadTimeError(
                f"{lead!r} is not a lead time: give hours (6, 24.0) or a duration such as '6h' or '10D'"
            ) from None
    if not math.isfinite(hours) or hours <= 0:
        raise LeadTimeError(f"lead times must be positive, got {lead!r}")
    return float(hours)


def leads_in_hours(leads: LeadLike | Iterable[LeadLike]) -> list[float]:
    """A lead or several as sorted, unique hours."""
    items = [leads] if isinstance(leads, str | int | float | np.timedelta64 | pd.Timedelta) else list(leads)
    if not items:
        raise LeadTimeError("no lead times given")
    return sorted({to_hours(v) for v in items})


def as_timedelta(hours: Sequence[float]) -> np.ndarray:
    """Hours as ``timedelta64[ns]`` (exact for whole seconds)."""
    return np.array([np.timedelta64(round(h * 3600), "s") for h in hours], dtype="timedelta64[ns]")


def format_hours(hours: Iterable[float]) -> str:
    return ", ".join(f"{h:g} h" for h in hours)


def check_trained(leads: Sequence[float], trained: Sequence[float] | None, what: str = "the model") -> None:
    """Raise ``LeadTimeError`` for leads outside ``trained``; warn when nothing is recorded."""
    if trained is None:
        warnings.warn(
            f"{what} records no trained lead times, so {format_hours(leads)} cannot be checked against "
            "training; results at untrained leads are extrapolations",
            UserWarning,
            stacklevel=3,
        )
        return
    untrained = [h for h in leads if not any(math.isclose(h, t) for t in trained)]
    if untrained:
        raise LeadTimeError(
            f"{what} was trained for {format_hours(trained)}, not {format_hours(untrained)}: use "
            "mode='auto' or mode='iterative' with step=<a trained lead> to reach them by rollout "
            "(see plan_rollout)"
        )


@dataclass(frozen=True)
class RolloutPlan:
    """``n_steps`` model calls of ``step`` hours; ``emit[k]`` is the lead reached after step k."""

    step: float
    n_steps: int
    emit: dict[int, float]

    def __str__(self) -> str:
        return (
            f"{self.n_steps} steps of {self.step:g} h, keeping steps {sorted(self.emit)} "
            f"({format_hours(self.emit.values())})"
        )


def plan_rollout(target_leads: LeadLike | Iterable[LeadLike], step: LeadLike) -> RolloutPlan:
    """The steps that reach every target lead by chaining ``step``; each target must be a multiple of it."""
    hours = leads_in_hours(target_leads)
    step_h = to_hours(step)
    emit: dict[int, float] = {}
    bad = []
    for h in hours:
        k = round(h / step_h)
        if k < 1 or not math.isclose(k * step_h, h, abs_tol=1e-6):
            bad.append(h)
        else:
            emit[k] = h
    if bad:
        raise LeadTimeError(
            f"{format_hours(bad)} cannot be reached with steps of {step_h:g} h; choose leads that are "
            f"multiples of {step_h:g} h or another step"
        )
    return RolloutPlan(step_h, max(emit), emit)


def choose_step(leads: Sequence[float], trained: Sequence[float] | None) -> float:
    """The longest trained lead that divides every target (fewest model calls, least error growth)."""
    if trained is None:
        raise LeadTimeError(
            "the checkpoint records no trained lead times, so no rollout step can be chosen: pass step=<hours> "
            "(a lead it was trained for) or mode='continuous'"
        )
    for step in sorted(trained, reverse=True):
        if all(math.isclose(round(h / step) * step, h, abs_tol=1e-6) and h >= step for h in leads):
            return float(step)
    raise LeadTimeError(
        f"no trained lead ({format_hours(trained)}) divides every target ({format_hours(leads)}); pass step="
    )
