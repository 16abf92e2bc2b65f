"""Metrics by name, with what each needs, so scorecards can ask for them as strings."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import xarray as xr

from climax_nb.metrics import anomaly, deterministic, ensemble
from climax_nb.metrics.align import MetricInputError


@dataclass(frozen=True)
class MetricSpec:
    """A metric function and how to call and read it."""

    func: Callable[..., xr.Dataset]
    needs_climatology: bool = False
    ensemble_only: bool = False
    higher_is_better: bool = False


METRICS: dict[str, MetricSpec] = {
    "rmse": MetricSpec(deterministic.rmse),
    "rmse_per_sample": MetricSpec(deterministic.rmse_per_sample),
    "mse": MetricSpec(deterministic.mse),
    "mae": MetricSpec(deterministic.mae),
    "bias": MetricSpec(deterministic.bias),
    "pearson": MetricSpec(deterministic.pearson, higher_is_better=True),
    "acc": MetricSpec(anomaly.acc, needs_climatology=True, higher_is_better=True),
    "acc_centred": MetricSpec(anomaly.acc_centred, needs_climatology=True, higher_is_better=True),
    "crps": MetricSpec(ensemble.crps),
    "spread_skill_ratio": MetricSpec(ensemble.spread_skill_ratio, ensemble_only=True),
}


def get_metric(name: str) -> MetricSpec:
    """The registered metric ``name``; the error lists the known names."""
    if name not in METRICS:
        raise MetricInputError(f"unknown metric {name!r}; choose from {sorted(METRICS)}")
    return METRICS[name]


def compute(
    name: str,
    forecast: xr.Dataset,
    truth: xr.Dataset,
    clim: xr.Dataset | None = None,
    variables: Sequence[str] | None = None,
) -> xr.Dataset:
    """Score ``forecast`` with metric ``name``, passing ``clim`` to the metrics that need one."""
    spec = get_metric(name)
    if spec.needs_climatology:
        if clim is None:
            raise MetricInputError(f"{name} needs a climatology: pass clim=climatology(train_ds)")
        return spec.func(forecast, truth, clim, variables)
    return spec.func(forecast, truth, variables)
