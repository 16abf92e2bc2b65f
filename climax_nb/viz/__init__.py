"""Plots of datasets, forecasts and scores."""

from climax_nb.viz.summary import summary_figure

__all__ = ["summary_figure"]
