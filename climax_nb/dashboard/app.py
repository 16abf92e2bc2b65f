"""The Panel app: choose a checkpoint or forecast, then see maps, lead-time skill and attention over variables.

``Dashboard(store, entries).panel()`` is the page; ``dashboard(...)`` builds one
from paths for a notebook cell; ``panel serve`` runs ``serve_app.py``, which
calls the same code once per browser session.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
import panel as pn
import xarray as xr

from climax_nb.dashboard.discover import Entry, entries
from climax_nb.dashboard.errors import DashboardError
from climax_nb.dashboard.figures import FieldMap, SkillPlot, WeightBars, WeightsByLead
from climax_nb.dashboard.projected import PROJECTIONS
from climax_nb.dashboard.settings import DataSpec, Settings
from climax_nb.dashboard.store import Results, ResultStore
from climax_nb.variables import VARIABLES
from climax_nb.viz.limits import colour_limits
from climax_nb.viz.select import units_of

MEAN_OF_HEADS = "mean of heads"
INTRO = (
    "Truth, forecast and error for a variable, initial time and lead time; skill against lead time for the "
    "model and the persistence and climatology baselines; and the variable-aggregation attention of ClimaX. "
    "Click the attention map to see every variable's weight at that place."
)


def _hours(lead: np.timedelta64) -> float:
    return float(lead / np.timedelta64(1, "h"))


def _stamp(t: np.datetime64) -> str:
    return pd.Timestamp(t).strftime("%Y-%m-%d %H:%M")


def _place(lon: float, lat: float) -> str:
    """A place as people write it: 30.0°S, 160.0°W."""
    east = (lon + 180.0) % 360.0 - 180.0
    return f"{abs(lat):.1f}°{'N' if lat >= 0 else 'S'}, {abs(east):.1f}°{'E' if east >= 0 else 'W'}"


def units(variable: str, da: xr.DataArray | None = None) -> str:
    """Units from the data's attributes, else from the registry."""
    return units_of(da) or (VARIABLES[variable].units if variable in VARIABLES else "")


class Dashboard:
    """One session's page: widgets, figures updated in place when they move, and a message area for problems."""

    def __init__(self, store: ResultStore, choices: Sequence[Entry], variable: str | None = None,
                 projection: str = "Robinson"):
        self.store = store
        self.results: Results | None = None
        self.wanted_variable = variable
        self.alert = pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width",
                                   css_classes=["cnb-error"])
        self.notes = pn.pane.Markdown("", css_classes=["cnb-notes"])
        self.entry = pn.widgets.Select(label="checkpoint or forecast", options={e.label: e for e in choices},
                                       width=340, css_classes=["cnb-entry"])
        self.variable = pn.widgets.Select(label="variable", width=120, css_classes=["cnb-variable"])
        self.init = pn.widgets.Select(label="initial time", width=170, css_classes=["cnb-init"])
        self.lead = pn.widgets.DiscreteSlider(label="lead time", options={"-": np.timedelta64(0, "ns")}, width=360,
                                              css_classes=["cnb-lead"])
        self.projection = pn.widgets.Select(label="projection", options=list(PROJECTIONS),
                                            value=projection if projection in PROJECTIONS else "Robinson", width=130)
        self.head = pn.widgets.Select(label="attention head", width=140)
        self.attn_variable = pn.widgets.Select(label="input variable", width=120)
        self.attn_note = pn.pane.Markdown("", css_classes=["cnb-attention-note"])
        self.content = pn.Column(visible=False, sizing_mode="stretch_width")
        proj = self.projection.value
        self.maps = {"truth": FieldMap(proj), "forecast": FieldMap(proj), "error": FieldMap(proj, "RdBu_r")}
        self.skill = {"rmse": SkillPlot(), "acc": SkillPlot(), "growth": SkillPlot()}
        self.attention_map = FieldMap(proj, "magma")
        self.bars, self.by_lead = WeightBars(), WeightsByLead()
        self.point = (0.0, 0.0)  # (lon, lat) of the last click on the attention map
        self._panes: list[pn.pane.Bokeh] = []
        self._quiet = False  # set while the widgets are refilled, so the page is drawn once after
        self.attention_missing = pn.pane.Markdown("Attention needs a checkpoint: choose a checkpoint entry.")
        self.attention_controls = pn.Row(self.head, self.attn_variable)
        self.attention_row = pn.Row(self._pane(self.attention_map.figure, "cnb-attention-map"),
                                    self._pane(self.bars.figure, "cnb-attention-bars"),
                                    self._pane(self.by_lead.figure, "cnb-attention-lead"))
        self._watch()
        if projection not in PROJECTIONS:
            self._show_error(f"unknown projection {projection!r}; choose one of {list(PROJECTIONS)}")
        if not choices:
            self._show_error("no checkpoint or forecast found: pass --checkpoint <run>/model.pt or --forecast "
                             "<file>, or train one with `climax-nb finetune` (results in the cache are listed here)")
        else:
            self.entry.param.watch(lambda _: self._select(), "value")
            self._select()

    # -- state ------------------------------------------------------------------------------
    def _show_error(self, text: str) -> None:
        self.alert.object = f"**Cannot show this choice.** {text}"
        self.alert.visible = True

    def _select(self) -> None:
        """Load the chosen entry's results (computed once) and refresh the choices that depend on it."""
        try:
            results = self.store.get(self.entry.value)
        except DashboardError as err:
            self._show_error(str(err))
            self.content.visible = False
            return
        self.alert.visible = False
        first = self.results is None
        self.results = results
        self._quiet = True
        try:
            self._refresh_widgets(results)
        finally:
            self._quiet = False
        if first:
            self.content[:] = self._sections()
        has_model = results.model is not None
        self.attention_missing.visible = not has_model
        for part in (self.attention_controls, self.attn_note, self.attention_row):
            part.visible = has_model
        self._draw("maps", "skill", "attention", "point")
        self.content.visible = True
        self.notes.object = "\n".join(f"- {n}" for n in self._describe(results))

    def _describe(self, results: Results) -> list[str]:
        fc = results.forecast
        lines = [f"{len(fc.init_time)} initial times, lead times "
                 f"{', '.join(f'{_hours(v):g} h' for v in fc.lead_time.values)}, "
                 f"mode {fc.attrs.get('mode', 'saved forecast')}; data `{self.store.data.path}`"]
        return lines + results.notes

    def _refresh_widgets(self, results: Results) -> None:
        variables = results.variables
        wanted = self.wanted_variable
        if wanted is not None and wanted not in variables:
            self._show_error(f"variable {wanted!r} is not forecast by {results.entry.label}; choose one of "
                             f"{variables} (--variable)")
            wanted = None
        self.variable.options = variables
        self.variable.value = wanted if wanted is not None else (
            self.variable.value if self.variable.value in variables else variables[0])
        inits = {_stamp(t): t for t in results.forecast["init_time"].values}
        self.init.options = inits
        self.init.value = next(iter(inits.values()))
        leads = {f"{_hours(v):g} h": v for v in results.forecast["lead_time"].values}
        self.lead.options = leads
        self.lead.value = next(iter(leads.values()))
        if results.model is not None:
            heads = results.model.model.config.num_heads
            self.head.options = [MEAN_OF_HEADS, *range(heads)]
            if self.head.value not in self.head.options:
                self.head.value = MEAN_OF_HEADS
            self.attn_variable.options = list(results.model.inputs)
            self.attn_variable.value = next((v for v in results.model.inputs if v in variables),
                                            results.model.inputs[0])

    # -- drawing ----------------------------------------------------------------------------
    def _watch(self) -> None:
        """Redraw only what a widget changes: each figure is updated in place."""
        self.variable.param.watch(lambda _: self._draw("maps", "skill"), "value")
        self.init.param.watch(lambda _: self._draw("maps", "attention", "point"), "value")
        self.lead.param.watch(lambda _: self._draw("maps"), "value")
        self.projection.param.watch(lambda _: self._reproject(), "value")
        self.head.param.watch(lambda _: self._draw("attention", "point"), "value")
        self.attn_variable.param.watch(lambda _: self._draw("attention"), "value")
        self.attention_map.on_click(self.select_point)

    def _draw(self, *parts: str) -> None:
        """Update the named parts of the page (maps, skill, attention, point) for the widgets' values."""
        if self._quiet or self.results is None:
            return
        has_model = self.results.model is not None
        try:
            with pn.io.hold():
                for part in parts:
                    if has_model or part in ("maps", "skill"):
                        getattr(self, f"_draw_{part}")()
        except (DashboardError, ValueError) as err:  # e.g. a field that is all NaN: a message, not a traceback
            self._show_error(str(err))
        pn.io.push_notebook(*self._panes)  # in a notebook, in-place changes travel only when pushed

    def _reproject(self) -> None:
        for fmap in (*self.maps.values(), self.attention_map):
            fmap.set_projection(self.projection.value)
        self._draw("maps", "attention")

    def select_point(self, lon: float, lat: float) -> None:
        """Show the attention weights of every variable at (lon, lat), as a click on the attention map does."""
        self.point = (float(lon) % 360.0, float(lat))
        self._draw("point")

    def fields(self) -> dict[str, tuple[xr.DataArray, tuple[float, float], str, str]]:
        """Truth, forecast and error for the widgets' choice: (field, colour limits, title, colour-bar label)."""
        r, variable, init, lead = self.results, self.variable.value, self.init.value, self.lead.value
        where = {"init_time": init, "lead_time": lead}
        truth, fc = r.truth[variable].sel(where), r.forecast[variable].sel(where)
        err = fc - truth
        unit = units(variable, r.forecast[variable])
        clim = colour_limits([truth, fc])
        valid = _stamp(np.datetime64(init) + np.timedelta64(lead))
        return {"truth": (truth, clim, f"truth at {valid}", f"{variable} [{unit}]"),
                "forecast": (fc, clim, f"forecast from {_stamp(init)}, +{_hours(lead):g} h", f"{variable} [{unit}]"),
                "error": (err, colour_limits([err], centred=True), f"error (forecast - truth), +{_hours(lead):g} h",
                          f"{variable} error [{unit}]")}

    def _draw_maps(self) -> None:
        for which, (field, clim, title, label) in self.fields().items():
            self.maps[which].show(field, clim=clim, title=title, label=label)

    def _draw_skill(self) -> None:
        r, variable = self.results, self.variable.value
        for metric in ("rmse", "acc"):
            self.skill[metric].show(r.scores, variable, metric, f"{variable} {metric.upper()}")
        if r.rollout_scores is None:
            self.skill["growth"].show(r.scores.sel(model=["model"]), variable, "rmse", f"{variable} RMSE (no rollout)")
        else:
            self.skill["growth"].show(r.rollout_scores, variable, "rmse",
                                      f"{variable} RMSE of the iterative rollout")

    def weights(self) -> xr.DataArray:
        """Aggregation weights from the chosen initial time for the chosen head (or their mean)."""
        maps = self.results.attention(self.init.value)
        head = self.head.value
        return maps.mean("head") if head == MEAN_OF_HEADS else maps.sel(head=int(head))

    def _draw_attention(self) -> None:
        variable = self.attn_variable.value
        weights = self.weights().isel(lead_time=0).sel(variable=variable)
        # the variable's own range: with dozens of inputs each weight is small, and its pattern is the point
        self.attention_map.show(weights, clim=colour_limits([weights]),
                                title=f"weight of {variable} at {_stamp(self.init.value)} ({self.head.value})",
                                label=f"weight of {variable}")

    def _draw_point(self) -> None:
        weights = self.weights()
        lon, lat = self.point
        lons = weights["lon"].values
        i_lon = int(np.argmin(np.abs((lons - lon + 180.0) % 360.0 - 180.0)))
        point = weights.sel(lat=lat, method="nearest").isel(lon=i_lon)
        self.bars.show(point.isel(lead_time=0), f"weights at {_place(lon, lat)}")
        self.by_lead.show(point, f"weights at {_place(lon, lat)} against lead time")

    # -- layout -----------------------------------------------------------------------------
    def _pane(self, fig, css: str) -> pn.pane.Bokeh:
        """A figure in the page; the CSS class sits on the figure itself so tests and styles can find it."""
        fig.css_classes = [css]
        pane = pn.pane.Bokeh(fig)
        self._panes.append(pane)
        return pane

    def _sections(self) -> list[pn.viewable.Viewable]:
        self.attn_note.object = (
            "ClimaX weighs the variables before the lead time enters, so the weights change with lead time only "
            "through the state the model starts from: the truth at 0 h, then each state of the iterative rollout.")
        maps = pn.Card(pn.Row(self.variable, self.init, self.projection), self.lead,
                       pn.Row(*(self._pane(m.figure, f"cnb-map-{w}") for w, m in self.maps.items())),
                       title="Maps", collapsible=False, sizing_mode="stretch_width")
        skill = pn.Card(pn.Row(*(self._pane(p.figure, f"cnb-{'growth' if k == 'growth' else k}")
                                 for k, p in self.skill.items())),
                        title="Lead-time behaviour", collapsible=False, sizing_mode="stretch_width")
        attention = pn.Card(self.attention_missing, self.attention_controls, self.attn_note, self.attention_row,
                            title="Attention over variables", collapsible=False, sizing_mode="stretch_width")
        return [maps, skill, attention]

    def panel(self) -> pn.Column:
        """The whole page."""
        return pn.Column(pn.pane.Markdown(f"# climax_nb dashboard\n{INTRO}"), self.alert, self.entry, self.notes,
                         self.content, sizing_mode="stretch_width")


def extensions() -> None:
    """Load Panel (its resources come from the server, never a CDN)."""
    pn.extension(notifications=False)


def make_dashboard(
    checkpoints: Sequence[str | os.PathLike] = (),
    forecasts: Sequence[str | os.PathLike] = (),
    *,
    data: DataSpec | str | None = None,
    settings: Settings | None = None,
    search: Sequence[str | os.PathLike] | None = None,
    cache_dir: str | os.PathLike | None = None,
    variable: str | None = None,
    projection: str = "Robinson",
) -> Dashboard:
    """The dashboard for these checkpoints, forecasts and data (``.panel()`` is the page).

    ``search`` folders (default: the cache and ``./outputs``) are scanned for ``model.pt`` and forecast files.
    """
    from climax_nb.storage import cache_root

    spec = DataSpec(data) if isinstance(data, str) else (data or DataSpec())
    roots = [cache_root(cache_dir), "outputs"] if search is None else search
    store = shared_store(spec, settings or Settings(), cache_dir)
    return Dashboard(store, entries(checkpoints, forecasts, roots), variable, projection)


def dashboard(*args, **kwargs) -> pn.Column:
    """The dashboard page, for a notebook cell (run ``extensions()`` first) or ``.servable()``.

    Takes the arguments of ``make_dashboard``.
    """
    return make_dashboard(*args, **kwargs).panel()


_STORES: dict[tuple, ResultStore] = {}


def shared_store(data: DataSpec, settings: Settings, cache_dir: str | os.PathLike | None) -> ResultStore:
    """One store per data, settings and cache for the whole process, so sessions share computed results."""
    key = (data, settings, os.fspath(cache_dir) if cache_dir is not None else None)
    if key not in _STORES:
        _STORES[key] = ResultStore(data, settings, cache_dir)
    return _STORES[key]
