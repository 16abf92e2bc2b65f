"""Plots of datasets, forecasts and scores."""

from climax_nb.viz.maps import attention_to_maps, plot_map, plot_maps, plot_zonal_means
from climax_nb.viz.summary import summary_figure

__all__ = ["attention_to_maps", "plot_map", "plot_maps", "plot_zonal_means", "summary_figure"]
