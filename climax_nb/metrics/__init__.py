"""Forecast scores as xarray: per variable and lead time, area-weighted, WeatherBench conventions.

See docs/metrics.md for each formula and the benchmark it follows.
"""

from climax_nb.metrics.align import MetricInputError, align, climatology_at_valid_time, valid_time
from climax_nb.metrics.anomaly import acc, acc_centred, acc_wb1, anomalies
from climax_nb.metrics.deterministic import bias, mae, mse, rmse, rmse_per_sample
from climax_nb.metrics.ensemble import crps, rank_histogram, spread_skill_ratio
from climax_nb.metrics.registry import METRICS, MetricSpec, compute, get_metric
from climax_nb.metrics.weights import lat_weights, spatial_mean

__all__ = [
    "METRICS",
    "MetricInputError",
    "MetricSpec",
    "acc",
    "acc_centred",
    "acc_wb1",
    "align",
    "anomalies",
    "bias",
    "climatology_at_valid_time",
    "compute",
    "crps",
    "get_metric",
    "lat_weights",
    "mae",
    "mse",
    "rank_histogram",
    "rmse",
    "rmse_per_sample",
    "spatial_mean",
    "spread_skill_ratio",
    "valid_time",
]
