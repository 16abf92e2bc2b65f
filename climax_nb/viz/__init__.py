"""Plots of datasets, forecasts and scores.

The light plots load with the package; those needing cartopy, hvplot or Panel
load on first use, so ``import climax_nb.viz`` stays quick.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from climax_nb.viz.coastlines import NATURAL_EARTH_DIR, coastline_path, use_shipped_coastlines
from climax_nb.viz.maps import attention_to_maps, plot_map, plot_maps, plot_zonal_means
from climax_nb.viz.summary import summary_figure

_LAZY: dict[str, str] = {
    "draw_panels": "geo",
    "plot_field": "geo",
    "plot_lead_times": "geo",
    "plot_truth_forecast_error": "geo",
    "plot_attention_maps": "attention",
    "plot_coupling_maps": "coupling",
    "plot_coupling_matrix": "coupling",
    "plot_cube": "cubes",
    "plot_rank_histograms": "ensembles",
    "rank_shares": "ensembles",
    "plot_token_masks": "masks",
    "plot_sampler_draws": "sampling",
    "sampler_draws": "sampling",
    "forecast_explorer": "interactive",
    "plot_ablations": "experiments",
    "plot_data_fraction": "experiments",
    "plot_scaling": "experiments",
    "plot_skill_vs_lead": "skill",
    "forecast_spectra": "spectra",
    "plot_spectra": "spectra",
    "plot_spectra_by_forecast": "spectra",
    "zonal_power_spectrum": "spectra",
    "plot_zonal_means_by_lead": "zonal",
    "zonal_means_by_lead": "zonal",
}

__all__ = [
    "NATURAL_EARTH_DIR",
    "attention_to_maps",
    "coastline_path",
    "plot_map",
    "plot_maps",
    "plot_zonal_means",
    "summary_figure",
    "use_shipped_coastlines",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"climax_nb.viz.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'climax_nb.viz' has no attribute {name!r}")
