"""The dashboard's Bokeh figures, built once per session and updated in place.

A widget move replaces a column of data, a colour range and a title: nothing is
rebuilt and nothing reprojected, so the browser receives a small patch and the
server's work stays far below a second. Each figure takes xarray and plain
values, so it can be checked without a browser.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import xarray as xr
from bokeh.core.properties import field
from bokeh.events import Tap
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    FactorRange,
    HoverTool,
    Legend,
    LegendItem,
    LinearColorMapper,
    Range1d,
)
from bokeh.palettes import Magma256, RdBu11, Viridis256, interp_palette
from bokeh.plotting import figure

from climax_nb.dashboard import projected

MAP_WIDTH = 330
PLOT_WIDTH, PLOT_HEIGHT = 320, 200
SKILL_WIDTH = 260  # three skill plots with their legends fit beside each other on a laptop screen
#: Pixels per variable in the attention bars and heat map, so a model with 48 inputs stays legible.
PIXELS_PER_VARIABLE = 10
#: Pixels across the projected raster behind each map (finer than the grids the package uses).
RASTER_WIDTH = 256
#: Line colours of the models in the skill plots (the model first, baselines after).
COLORS: tuple[str, ...] = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


#: Colour maps by their matplotlib names; "RdBu_r" runs from blue (negative) through white to red (positive).
PALETTES: dict[str, list[str]] = {"viridis": list(Viridis256), "magma": list(Magma256),
                                  "RdBu_r": list(interp_palette(RdBu11, 256))}


class FieldMap:
    """A (lat, lon) field on a projection with coastlines, a colour bar and lon/lat/value hover."""

    def __init__(self, projection: str, palette: str = "viridis"):
        self.projection = projection
        self.mapper = LinearColorMapper(palette=PALETTES[palette], nan_color=(0, 0, 0, 0))
        self.image = ColumnDataSource({"image": [], "lon": [], "lat": [], "x": [], "y": [], "dw": [], "dh": []})
        self.coast = ColumnDataSource({"x": [], "y": []})
        self.edge = ColumnDataSource({"x": [], "y": []})
        fig = figure(frame_width=MAP_WIDTH, x_range=Range1d(), y_range=Range1d(), toolbar_location="above",
                     tools="pan,wheel_zoom,box_zoom,reset,save", title="")
        glyph = fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=self.image,
                          color_mapper=self.mapper)
        fig.line("x", "y", source=self.coast, line_color="black", line_width=0.6)
        fig.line("x", "y", source=self.edge, line_color="#555555", line_width=1.0)
        self.hover = HoverTool(renderers=[glyph], tooltips=[("value", "@image{0.[000]}"), ("lon", "@lon{0.0}°E"),
                                                             ("lat", "@lat{0.0}°N")])
        fig.add_tools(self.hover)
        self.colorbar = ColorBar(color_mapper=self.mapper, title="", width=10)
        fig.add_layout(self.colorbar, "right")
        fig.axis.visible = False
        fig.grid.visible = False
        self.figure = fig
        self._shown: projected.Raster | None = None  # the raster whose lon/lat the browser already holds
        self.set_projection(projection)

    def set_projection(self, name: str) -> None:
        """Move the map to projection ``name`` (the next ``show`` draws the field on it)."""
        self.projection = name
        self.coast.data = dict(zip(("x", "y"), projected.coastline(name), strict=True))
        self.edge.data = dict(zip(("x", "y"), projected.outline(name), strict=True))
        proj = projected.projection(name)
        (x0, x1), (y0, y1) = proj.x_limits, proj.y_limits
        pad = 0.02 * (x1 - x0)
        limits = ((self.figure.x_range, (x0 - pad, x1 + pad)), (self.figure.y_range, (y0 - pad, y1 + pad)))
        for axis, (lo, hi) in limits:
            axis.start, axis.end, axis.reset_start, axis.reset_end = lo, hi, lo, hi
        self.figure.frame_height = round(MAP_WIDTH * (y1 - y0 + 2 * pad) / (x1 - x0 + 2 * pad))

    def _raster(self, field: xr.DataArray) -> projected.Raster:
        """The (cached) lookup from this map's projected raster to the field's grid."""
        grid = (tuple(field["lat"].values.tolist()), tuple(field["lon"].values.tolist()))
        return projected.raster(*grid, self.projection, RASTER_WIDTH)

    def show(self, field: xr.DataArray, *, clim: tuple[float, float], title: str, label: str) -> None:
        """Draw ``field`` with colour limits ``clim``, a title and a colour-bar label (with units)."""
        r = self._raster(field)
        image = r.sample(field.transpose("lat", "lon").values)
        if r is self._shown:  # same grid and projection: only the image column travels to the browser
            self.image.data["image"] = [image]
        else:
            self.image.data = {"image": [image], "lon": [r.lon], "lat": [r.lat], "x": [r.x0], "y": [r.y0],
                               "dw": [r.dw], "dh": [r.dh]}
            self._shown = r
        self.mapper.low, self.mapper.high = clim
        self.figure.title.text = title
        self.colorbar.title = label
        self.hover.tooltips = [(label, "@image{0.[000]}"), ("lon", "@lon{0.0}°E"), ("lat", "@lat{0.0}°N")]

    def on_click(self, callback: Callable[[float, float], None]) -> None:
        """Call ``callback(lon, lat)`` when the globe is clicked (clicks off the globe are ignored)."""
        def tapped(event: Tap) -> None:
            where = projected.to_lon_lat(self.projection, event.x, event.y)
            if where is not None:
                callback(*where)

        self.figure.on_event(Tap, tapped)


def _frame(title: str = "", **kwargs) -> figure:
    sizes = {"frame_width": PLOT_WIDTH, "frame_height": PLOT_HEIGHT} | kwargs
    return figure(title=title, toolbar_location="above", tools="pan,wheel_zoom,box_zoom,reset,save", **sizes)


class SkillPlot:
    """One line with dots per model of a score against lead time."""

    def __init__(self):
        self.lines = ColumnDataSource({"xs": [], "ys": [], "color": [], "label": []})
        self.dots = ColumnDataSource({"x": [], "y": [], "color": [], "label": []})
        fig = _frame(x_axis_label="lead time (h)", frame_width=SKILL_WIDTH)
        lines = fig.multi_line("xs", "ys", source=self.lines, line_color="color", line_width=2)
        fig.scatter("x", "y", source=self.dots, color="color", size=6)
        fig.add_tools(HoverTool(tooltips=[("model", "@label"), ("lead", "@x h"), ("score", "@y{0.[000]}")]))
        # beside the plot, not over the curves
        fig.add_layout(Legend(items=[LegendItem(label=field("label"), renderers=[lines])], location="top_left"),
                       "right")
        self.figure = fig

    def show(self, card: xr.Dataset, variable: str, metric: str, title: str) -> None:
        """``metric`` of ``variable`` for every model in the scorecard ``card``."""
        hours = card["lead_time"].values / np.timedelta64(1, "h")
        lines = {k: [] for k in self.lines.data}
        dots = {k: [] for k in self.dots.data}
        for i, model in enumerate(card["model"].values):
            values = card[variable].sel(model=model, metric=metric).values
            keep = np.isfinite(values)
            color = COLORS[i % len(COLORS)]
            for key, value in zip(lines, (hours[keep], values[keep], color, str(model)), strict=True):
                lines[key].append(value)
            dots["x"] += hours[keep].tolist()
            dots["y"] += values[keep].tolist()
            dots["color"] += [color] * int(keep.sum())
            dots["label"] += [str(model)] * int(keep.sum())
        self.lines.data, self.dots.data = lines, dots
        self.figure.title.text = title
        self.figure.yaxis.axis_label = metric.upper()


class WeightBars:
    """Every input variable's aggregation weight at one place (they sum to one)."""

    def __init__(self):
        self.source = ColumnDataSource({"variable": [], "weight": []})
        fig = _frame(x_range=FactorRange(), y_range=Range1d(0, 1), y_axis_label="weight")
        fig.vbar(x="variable", top="weight", source=self.source, width=0.8, color=COLORS[0])
        fig.add_tools(HoverTool(tooltips=[("variable", "@variable"), ("weight", "@weight{0.000}")]))
        fig.xaxis.major_label_orientation = np.pi / 2
        fig.xaxis.major_label_text_font_size = "8pt"
        self.figure = fig

    def show(self, weights: xr.DataArray, title: str) -> None:
        """Weights with a ``variable`` dimension; the axis reaches just past the largest."""
        names = [str(v) for v in weights["variable"].values]
        values = np.asarray(weights.values, float)
        _set_factors(self.figure.x_range, names)
        self.figure.frame_width = max(PLOT_WIDTH, PIXELS_PER_VARIABLE * len(names))
        self.source.data = {"variable": names, "weight": values}
        self.figure.y_range.end = 1.1 * max(float(np.nanmax(values, initial=0.0)), 1e-6)
        self.figure.title.text = title


class CellGrid:
    """Values on a grid of labelled cells (x categories by y categories), coloured from 0 to the largest shown."""

    def __init__(self, x_label: str = "", y_label: str = "", names: tuple[str, str, str] = ("x", "y", "value")):
        self.names = names
        x, y, v = names
        self.mapper = LinearColorMapper(palette=PALETTES["magma"], low=0.0, high=1.0)
        self.source = ColumnDataSource({x: [], y: [], v: []})
        fig = _frame(x_range=FactorRange(), y_range=FactorRange(), x_axis_label=x_label, y_axis_label=y_label)
        fig.rect(x=x, y=y, width=1, height=1, source=self.source,
                 fill_color={"field": v, "transform": self.mapper}, line_color=None)
        fig.add_tools(HoverTool(tooltips=[(x, f"@{x}"), (y, f"@{y}"), (v, f"@{v}{{0.000}}")]))
        fig.add_layout(ColorBar(color_mapper=self.mapper, width=10), "right")
        fig.yaxis.major_label_text_font_size = "8pt"
        self.figure = fig

    def show_cells(self, xs: Sequence[str], ys: Sequence[str], values: np.ndarray, title: str) -> None:
        """``values`` ``[len(xs), len(ys)]`` in the cells of categories ``xs`` (across) and ``ys`` (up)."""
        x, y, v = self.names
        _set_factors(self.figure.x_range, list(xs))
        _set_factors(self.figure.y_range, list(ys))
        self.figure.frame_height = max(PLOT_HEIGHT, PIXELS_PER_VARIABLE * len(ys))
        flat = np.asarray(values, float).ravel()
        self.source.data = {x: np.repeat(list(xs), len(ys)).tolist(), y: list(ys) * len(xs), v: flat}
        self.mapper.high = max(float(np.nanmax(flat, initial=0.0)), 1e-6)  # 0 to the largest value shown
        self.figure.title.text = title


class WeightsByLead(CellGrid):
    """Weights at one place against lead time (along the rollout) and variable, as coloured cells."""

    def __init__(self):
        super().__init__("lead time (h)", names=("lead", "variable", "weight"))

    def show(self, weights: xr.DataArray, title: str) -> None:
        """Weights with ``lead_time`` and ``variable`` dimensions."""
        weights = weights.transpose("lead_time", "variable")
        leads = [f"{h:g}" for h in weights["lead_time"].values / np.timedelta64(1, "h")]
        self.show_cells(leads, [str(v) for v in weights["variable"].values], weights.values, title)


class CouplingMatrix(CellGrid):
    """The share of each field's cross-attention (rows: attending) that each coupled field receives (columns)."""

    def __init__(self):
        super().__init__("attended field", "attending field", names=("attended", "attending", "share"))

    def show(self, shares: xr.DataArray, title: str) -> None:
        """Shares with ``field`` (attending) and ``source`` (attended) dimensions."""
        shares = shares.transpose("source", "field")
        self.show_cells([str(v) for v in shares["source"].values], [str(v) for v in shares["field"].values],
                        shares.values, title)


def _set_factors(axis: FactorRange, factors: Sequence[str]) -> None:
    """Change a categorical axis only when its categories change (each change re-lays the plot out)."""
    if list(axis.factors) != list(factors):
        axis.factors = list(factors)
