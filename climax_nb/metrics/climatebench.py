"""ClimateBench's scores of a climate emulator (Watson-Parris et al., 2022, section 3.3).

For predictions and truths with a ``time`` axis (here: the test scenario's samples) and
``<.>`` the area-weighted global mean:

- ``nrmse_spatial``: sqrt(<(mean_t pred - mean_t truth)^2>) / |mean_t <truth>|, how well the
  time-mean map is placed;
- ``nrmse_global``: sqrt(mean_t (<pred> - <truth>)^2) / |mean_t <truth>|, how well the global
  mean follows each sample;
- ``nrmse_total``: spatial + 5 * global, ClimateBench's ranking score.

Each is a Dataset with one value per variable (lower is better; 0 is perfect).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from climax_nb.metrics.align import MetricInputError
from climax_nb.metrics.weights import spatial_mean

#: ClimateBench's weight of the global score in the total.
GLOBAL_WEIGHT = 5.0


def _pair(pred: xr.Dataset, truth: xr.Dataset, variables: Sequence[str] | None) -> tuple[xr.Dataset, xr.Dataset]:
    ids = list(variables) if variables is not None else [str(v) for v in pred.data_vars if v in truth.data_vars]
    missing = [v for v in ids if v not in pred.data_vars or v not in truth.data_vars]
    if missing:
        raise MetricInputError(f"{missing} are not in both the prediction and the truth: score common variables")
    if "time" not in pred.dims or pred.sizes["time"] != truth.sizes.get("time"):
        raise MetricInputError(f"prediction and truth need the same samples along time: {pred.sizes.get('time')} "
                               f"and {truth.sizes.get('time')}; select the test samples of both")
    return pred[ids].drop_vars("time").assign_coords(time=truth["time"]), truth[ids]


def _scale(truth: xr.Dataset) -> xr.Dataset:
    return np.abs(spatial_mean(truth).mean("time"))


def nrmse_spatial(pred: xr.Dataset, truth: xr.Dataset, variables: Sequence[str] | None = None) -> xr.Dataset:
    """The time-mean map's area-weighted RMSE over the truth's time-mean global mean."""
    pred, truth = _pair(pred, truth, variables)
    error = np.sqrt(spatial_mean((pred.mean("time") - truth.mean("time")) ** 2))
    return error / _scale(truth)


def nrmse_global(pred: xr.Dataset, truth: xr.Dataset, variables: Sequence[str] | None = None) -> xr.Dataset:
    """The RMSE over samples of the global mean, over the truth's time-mean global mean."""
    pred, truth = _pair(pred, truth, variables)
    error = np.sqrt(((spatial_mean(pred) - spatial_mean(truth)) ** 2).mean("time"))
    return error / _scale(truth)


def nrmse_total(pred: xr.Dataset, truth: xr.Dataset, variables: Sequence[str] | None = None) -> xr.Dataset:
    """ClimateBench's total: ``nrmse_spatial + 5 * nrmse_global``."""
    return nrmse_spatial(pred, truth, variables) + GLOBAL_WEIGHT * nrmse_global(pred, truth, variables)


def climatebench_scores(pred: xr.Dataset, truth: xr.Dataset, variables: Sequence[str] | None = None
                        ) -> dict[str, dict[str, float]]:
    """``{variable: {"nrmse_spatial": ..., "nrmse_global": ..., "nrmse_total": ...}}``."""
    spatial, global_ = nrmse_spatial(pred, truth, variables), nrmse_global(pred, truth, variables)
    return {str(v): {"nrmse_spatial": float(spatial[v]), "nrmse_global": float(global_[v]),
                     "nrmse_total": float(spatial[v] + GLOBAL_WEIGHT * global_[v])} for v in spatial.data_vars}
