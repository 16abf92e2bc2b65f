"""Plots of datasets, forecasts and scores."""

from climax_nb.viz.coastlines import NATURAL_EARTH_DIR, coastline_path, use_shipped_coastlines
from climax_nb.viz.maps import attention_to_maps, plot_map, plot_maps, plot_zonal_means
from climax_nb.viz.summary import summary_figure

__all__ = [
    "NATURAL_EARTH_DIR",
    "attention_to_maps",
    "coastline_path",
    "plot_map",
    "plot_maps",
    "plot_zonal_means",
    "summary_figure",
    "use_shipped_coastlines",
]
