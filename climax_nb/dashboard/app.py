"""The Panel app: choose a checkpoint or forecast, then see maps, lead-time skill and attention over variables.

``Dashboard(store, entries).panel()`` is the page; ``dashboard(...)`` builds one
from paths for a notebook cell; ``panel serve`` runs ``serve_app.py``, which
calls the same code once per browser session.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import geoviews as gv
import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn

from climax_nb.dashboard import views
from climax_nb.dashboard.discover import Entry, entries
from climax_nb.dashboard.errors import DashboardError
from climax_nb.dashboard.settings import DataSpec, Settings
from climax_nb.dashboard.store import Results, ResultStore

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


class Dashboard:
    """One session's page: widgets, the views bound to them, and a message area for problems."""

    def __init__(self, store: ResultStore, choices: Sequence[Entry], variable: str | None = None,
                 projection: str = "Robinson"):
        self.store = store
        self.results: Results | None = None
        self.wanted_variable = variable
        self.alert = pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width",
                                   css_classes=["cnb-error"])
        self.notes = pn.pane.Markdown("", css_classes=["cnb-notes"])
        self.entry = pn.widgets.Select(name="checkpoint or forecast", options={e.label: e for e in choices},
                                       width=340, css_classes=["cnb-entry"])
        self.variable = pn.widgets.Select(name="variable", width=120, css_classes=["cnb-variable"])
        self.init = pn.widgets.Select(name="initial time", width=170)
        self.lead = pn.widgets.DiscreteSlider(name="lead time", options={"-": np.timedelta64(0, "ns")}, width=360,
                                              css_classes=["cnb-lead"])
        self.projection = pn.widgets.Select(name="projection", options=list(views.PROJECTIONS),
                                            value=projection if projection in views.PROJECTIONS else "Robinson",
                                            width=130)
        self.head = pn.widgets.Select(name="attention head", width=140)
        self.attn_variable = pn.widgets.Select(name="input variable", width=120)
        self.attn_note = pn.pane.Markdown("", css_classes=["cnb-attention-note"])
        self.content = pn.Column(visible=False, sizing_mode="stretch_width")
        self.tap: hv.streams.Tap | None = None  # the click on the attention map, once drawn
        if projection not in views.PROJECTIONS:
            self._show_error(f"unknown projection {projection!r}; choose one of {list(views.PROJECTIONS)}")
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
        with pn.io.hold():
            self._refresh_widgets(results)
        if first:
            self.content[:] = self._sections()
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
            self.attn_variable.options = list(results.model.inputs)
            self.attn_variable.value = next((v for v in results.model.inputs if v in variables),
                                            results.model.inputs[0])

    # -- maps -------------------------------------------------------------------------------
    def _pair(self, variable: str, init: np.datetime64, lead: np.timedelta64):
        r = self.results
        where = {"init_time": init, "lead_time": lead}
        return r.truth[variable].sel(where), r.forecast[variable].sel(where)

    def _map(self, which: str, variable: str, init: np.datetime64, lead: np.timedelta64, proj: str) -> gv.Image:
        truth, fc = self._pair(variable, init, lead)
        unit = views.units(variable, self.results.forecast[variable])
        valid = _stamp(np.datetime64(init) + np.timedelta64(lead))
        if which == "error":
            err = fc - truth
            return views.field_map(err, proj, clim=views.symmetric_limits(err.values), cmap="RdBu_r",
                                   title=f"error (forecast - truth), +{_hours(lead):g} h",
                                   label=f"{variable} error [{unit}]")
        clim = views.shared_limits(truth.values, fc.values)
        title = f"truth at {valid}" if which == "truth" else f"forecast from {_stamp(init)}, +{_hours(lead):g} h"
        return views.field_map(truth if which == "truth" else fc, proj, clim=clim, cmap="viridis", title=title,
                               label=f"{variable} [{unit}]")

    def _maps(self, proj: str) -> pn.Row:
        panes = []
        for which in ("truth", "forecast", "error"):
            dmap = hv.DynamicMap(pn.bind(self._map, which, variable=self.variable, init=self.init, lead=self.lead,
                                         proj=proj))
            panes.append(pn.pane.HoloViews(dmap * views.coastline(), css_classes=[f"cnb-map-{which}"]))
        return pn.Row(*panes)

    # -- skill ------------------------------------------------------------------------------
    def _skill(self, variable: str, metric: str) -> hv.Overlay:
        return views.skill_curves(self.results.scores, variable, metric, f"{variable} {metric.upper()}")

    def _growth(self, variable: str) -> hv.Overlay:
        card = self.results.rollout_scores
        if card is None:
            return views.skill_curves(self.results.scores.sel(model=["model"]), variable, "rmse",
                                      f"{variable} RMSE (no rollout)")
        return views.skill_curves(card, variable, "rmse", f"{variable} RMSE of the iterative rollout")

    # -- attention --------------------------------------------------------------------------
    def _attention(self, init: np.datetime64, head) -> object:
        maps = self.results.attention(init)
        return maps.mean("head") if head == MEAN_OF_HEADS or head is None else maps.sel(head=int(head))

    def _attention_map(self, init, head, variable, proj):
        maps = self._attention(init, head).isel(lead_time=0)
        return views.attention_map(maps, variable, proj, f"weight of {variable} at {_stamp(init)} ({head})")

    def _at(self, weights, x, y):
        on_globe = x is not None and y is not None and np.isfinite([x, y]).all()
        lat, lon = (float(y), float(x) % 360.0) if on_globe else (0.0, 0.0)
        lons = weights["lon"].values
        i_lon = int(np.argmin(np.abs((lons - lon + 180.0) % 360.0 - 180.0)))
        return weights.sel(lat=lat, method="nearest").isel(lon=i_lon), lat, lon

    def _bars(self, init, head, x, y):
        point, lat, lon = self._at(self._attention(init, head).isel(lead_time=0), x, y)
        return views.attention_bars(point, f"weights at {lat:.1f}N, {lon:.1f}E")

    def _by_lead(self, init, head, x, y):
        point, lat, lon = self._at(self._attention(init, head), x, y)
        return views.attention_by_lead(point, f"weights at {lat:.1f}N, {lon:.1f}E against lead time")

    def _attention_row(self, proj: str) -> pn.viewable.Viewable:
        r = self.results
        if r is None or r.model is None:
            return pn.pane.Markdown("Attention needs a checkpoint: choose a checkpoint entry.")
        amap = hv.DynamicMap(pn.bind(self._attention_map, init=self.init, head=self.head,
                                     variable=self.attn_variable, proj=proj))
        tap = self.tap = hv.streams.Tap(source=amap, x=0.0, y=0.0)
        bars = hv.DynamicMap(pn.bind(self._bars, init=self.init, head=self.head, x=tap.param.x, y=tap.param.y))
        by_lead = hv.DynamicMap(pn.bind(self._by_lead, init=self.init, head=self.head, x=tap.param.x,
                                        y=tap.param.y))
        return pn.Row(pn.pane.HoloViews(amap * views.coastline(), css_classes=["cnb-attention-map"]),
                      pn.pane.HoloViews(bars, css_classes=["cnb-attention-bars"]),
                      pn.pane.HoloViews(by_lead, css_classes=["cnb-attention-lead"]))

    # -- layout -----------------------------------------------------------------------------
    def _sections(self) -> list[pn.viewable.Viewable]:
        self.attn_note.object = (
            "ClimaX weighs the variables before the lead time enters, so the weights change with lead time only "
            "through the state the model starts from: the truth at 0 h, then each state of the iterative rollout.")
        maps = pn.Card(pn.Row(self.variable, self.init, self.projection), self.lead,
                       pn.panel(pn.bind(self._maps, proj=self.projection)), title="Maps", collapsible=False,
                       sizing_mode="stretch_width")
        skill = pn.Card(pn.Row(pn.pane.HoloViews(hv.DynamicMap(pn.bind(self._skill, variable=self.variable,
                                                                            metric="rmse")), css_classes=["cnb-rmse"]),
                               pn.pane.HoloViews(hv.DynamicMap(pn.bind(self._skill, variable=self.variable,
                                                                            metric="acc")), css_classes=["cnb-acc"]),
                               pn.pane.HoloViews(hv.DynamicMap(pn.bind(self._growth, variable=self.variable)),
                                                 css_classes=["cnb-growth"])),
                        title="Lead-time behaviour", collapsible=False, sizing_mode="stretch_width")
        attention = pn.Card(pn.Row(self.head, self.attn_variable), self.attn_note,
                            pn.panel(pn.bind(self._attention_row, proj=self.projection)),
                            title="Attention over variables", collapsible=False, sizing_mode="stretch_width")
        return [maps, skill, attention]

    def panel(self) -> pn.Column:
        """The whole page."""
        return pn.Column(pn.pane.Markdown(f"# climax_nb dashboard\n{INTRO}"), self.alert, self.entry, self.notes,
                         self.content, sizing_mode="stretch_width")


def extensions() -> None:
    """Load Panel and HoloViews with the Bokeh backend (resources come from the server, never a CDN)."""
    pn.extension(notifications=False)
    hv.extension("bokeh", logo=False)
    gv.extension("bokeh", logo=False)


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
    from climax_nb.data.embedded.cache import cache_root

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
