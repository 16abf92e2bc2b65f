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

from climax_nb.dashboard.compute import COUNTERFACTUAL_SST, MASKED_TASKS
from climax_nb.dashboard.discover import Entry, entries
from climax_nb.dashboard.errors import DashboardError
from climax_nb.dashboard.figures import CouplingMatrix, FieldMap, SkillPlot, WeightBars, WeightsByLead
from climax_nb.dashboard.projected import PROJECTIONS
from climax_nb.dashboard.settings import DataSpec, Settings
from climax_nb.dashboard.store import Results, ResultStore
from climax_nb.metrics.weights import spatial_mean
from climax_nb.variables import VARIABLES
from climax_nb.viz.limits import colour_limits
from climax_nb.viz.select import units_of

MEAN_OF_HEADS = "mean of heads"
MEAN_OF_MEMBERS = "mean of members"
INTRO = (
    "Truth, forecast and error for a variable, initial time and lead time; skill against lead time for the "
    "model and the persistence and climatology baselines; and the variable-aggregation attention of ClimaX. "
    "Click the attention map to see every variable's weight at that place. A masked model (AtmoRep) shows its "
    "ensemble's CRPS and spread, and what it reconstructs of a window with part of it hidden."
)
MASKED_NOTE = (
    "One model, three masks of a window around the initial time: **forecast** hides the last time slab, "
    "**interpolation** a middle one, **infill** a box at every step. Hidden cells are blank in the masked "
    "input; the reconstruction is the ensemble's mean or one member, the spread its members' standard "
    "deviation. **sea surface** asks for the same window with the sea warmer (the tokens' forcing), the shift map "
    "shows what that changes. The matrix gives the share of each field's cross-attention that each coupled "
    "field receives (area-weighted mean of the map beside it)."
)
#: Skill panels: which metric, and for ensembles only.
SKILL_PANELS: tuple[tuple[str, bool], ...] = (("rmse", False), ("acc", False), ("growth", False),
                                              ("crps", True), ("spread_skill_ratio", True))


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
        self.skill = {name: SkillPlot() for name, _ in SKILL_PANELS}
        self.attention_map = FieldMap(proj, "magma")
        self.bars, self.by_lead = WeightBars(), WeightsByLead()
        self.point = (0.0, 0.0)  # (lon, lat) of the last click on the attention map
        self._panes: list[pn.pane.Bokeh] = []
        self._quiet = False  # set while the widgets are refilled, so the page is drawn once after
        self.attention_missing = pn.pane.Markdown("", css_classes=["cnb-attention-missing"])
        self.task = pn.widgets.Select(label="masked task", options=list(MASKED_TASKS), width=140,
                                      css_classes=["cnb-task"])
        self.member = pn.widgets.Select(label="member", width=150, css_classes=["cnb-member"])
        self.window_step = pn.widgets.DiscreteSlider(label="step of the window", options={"-": 0}, width=360,
                                                     css_classes=["cnb-window-step"])
        self.pair = pn.widgets.Select(label="field <- coupled field", width=170, css_classes=["cnb-pair"])
        self.forcing = pn.widgets.Select(label="sea surface", width=190, css_classes=["cnb-forcing"],
                                         options={"the source's own": None,
                                                  f"{COUNTERFACTUAL_SST:+g} K (counterfactual)": COUNTERFACTUAL_SST})
        self.masked_maps = {"input": FieldMap(proj), "reconstruction": FieldMap(proj), "truth": FieldMap(proj),
                            "spread": FieldMap(proj, "magma"), "shift": FieldMap(proj, "RdBu_r")}
        self.coupling = CouplingMatrix()
        self.coupling_map = FieldMap(proj, "magma")
        self.attention_controls = pn.Row(self.head, self.attn_variable)
        self.attention_row = pn.Row(self._pane(self.attention_map.figure, "cnb-attention-map"),
                                    self._pane(self.bars.figure, "cnb-attention-bars"),
                                    self._pane(self.by_lead.figure, "cnb-attention-lead"))
        self.masked_card = self._masked_card()
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
        attends = results.has_variable_attention
        self.attention_missing.object = (
            "Attention over variables needs a ClimaX checkpoint: choose a checkpoint entry." if results.model is None
            else "This model has no attention over its input variables; its attention across fields is in the "
                 "masked-model card.")
        self.attention_missing.visible = not attends
        for part in (self.attention_controls, self.attn_note, self.attention_row):
            part.visible = attends
        self.masked_card.visible = results.is_masked_model
        ensemble = "crps" in results.scores["metric"].values
        for name, only_ensemble in SKILL_PANELS:
            self._skill_panes[name].visible = ensemble or not only_ensemble
        self._draw("maps", "skill", "attention", "point", "masked")
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
        if results.is_masked_model:
            self._refresh_masked(results)
        if results.has_variable_attention:
            heads = results.model.model.config.num_heads
            self.head.options = [MEAN_OF_HEADS, *range(heads)]
            if self.head.value not in self.head.options:
                self.head.value = MEAN_OF_HEADS
            self.attn_variable.options = list(results.model.inputs)
            self.attn_variable.value = next((v for v in results.model.inputs if v in variables),
                                            results.model.inputs[0])

    def _refresh_masked(self, results: Results) -> None:
        fm = results.model
        tasks = [str(t) for t in results.masked(results.forecast["init_time"].values[0])["task"].values]
        self.task.options = tasks
        if self.task.value not in tasks:
            self.task.value = tasks[0]
        self.member.options = [MEAN_OF_MEMBERS, *range(fm.members)]
        if self.member.value not in self.member.options:
            self.member.value = MEAN_OF_MEMBERS
        pairs = {f"{f} <- {g}": (f, g) for f in fm.fields for g in fm.fields if g != f}
        self.pair.options = pairs or {"-": None}
        if self.pair.value not in self.pair.options.values():
            self.pair.value = next(iter(self.pair.options.values()))
        self._refresh_steps()

    def _refresh_steps(self) -> None:
        """The window's steps, labelled by their time from the initial time and whether the task hides them; the
        first hidden one shown."""
        if self.results is None or not self.results.is_masked_model:
            return
        ds = self.results.masked(self.init.value).sel(task=self.task.value)
        init = np.datetime64(self.init.value, "ns")
        labels = {}
        for k, t in enumerate(ds["time"].values):
            hidden = bool(ds["hidden"].isel(step=k).any())
            labels[f"{_hours(t - init):+g} h{' (hidden)' if hidden else ''}"] = k
        self.window_step.options = labels
        self.window_step.value = next(k for k in labels.values() if bool(ds["hidden"].isel(step=k).any()))

    # -- drawing ----------------------------------------------------------------------------
    def _watch(self) -> None:
        """Redraw only what a widget changes: each figure is updated in place."""
        self.variable.param.watch(lambda _: self._draw("maps", "skill"), "value")
        self.init.param.watch(lambda _: self._draw("maps", "attention", "point", "masked"), "value")
        self.variable.param.watch(lambda _: self._draw("masked"), "value")
        self.task.param.watch(lambda _: (self._refresh_steps(), self._draw("masked")), "value")
        for widget in (self.member, self.window_step, self.pair, self.forcing):
            widget.param.watch(lambda _: self._draw("masked"), "value")
        self.lead.param.watch(lambda _: self._draw("maps"), "value")
        self.projection.param.watch(lambda _: self._reproject(), "value")
        self.head.param.watch(lambda _: self._draw("attention", "point"), "value")
        self.attn_variable.param.watch(lambda _: self._draw("attention"), "value")
        self.attention_map.on_click(self.select_point)

    def _draw(self, *parts: str) -> None:
        """Update the named parts of the page (maps, skill, attention, point) for the widgets' values."""
        if self._quiet or self.results is None:
            return
        shown = {"maps": True, "skill": True, "attention": self.results.has_variable_attention,
                 "point": self.results.has_variable_attention, "masked": self.results.is_masked_model}
        try:
            with pn.io.hold():
                for part in parts:
                    if shown[part]:
                        getattr(self, f"_draw_{part}")()
        except (DashboardError, ValueError) as err:  # e.g. a field that is all NaN: a message, not a traceback
            self._show_error(str(err))
        pn.io.push_notebook(*self._panes)  # in a notebook, in-place changes travel only when pushed

    def _reproject(self) -> None:
        for fmap in (*self.maps.values(), self.attention_map, *self.masked_maps.values(), self.coupling_map):
            fmap.set_projection(self.projection.value)
        self._draw("maps", "attention", "masked")

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
            damped = ", damped" if r.rollout is not None and "damping" in r.rollout.attrs else ""
            self.skill["growth"].show(r.rollout_scores, variable, "rmse",
                                      f"{variable} RMSE of the iterative rollout{damped}")
        if "crps" in r.scores["metric"].values:  # an ensemble: its models only (baselines have no members)
            ensembles = r.scores.sel(model=["model"])
            self.skill["crps"].show(ensembles, variable, "crps", f"{variable} CRPS of the ensemble")
            self.skill["spread_skill_ratio"].show(ensembles, variable, "spread_skill_ratio",
                                                  f"{variable} spread / RMSE (1: calibrated)")

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

    def masked_fields(self) -> dict[str, tuple[xr.DataArray, tuple[float, float], str, str]]:
        """Masked input, reconstruction, truth and spread for the widgets' task, step, member and variable."""
        r, variable = self.results, self.variable.value
        own = r.masked(self.init.value).sel(task=self.task.value)
        ds = own if self.forcing.value is None else r.masked(self.init.value, self.forcing.value).sel(
            task=self.task.value)
        if variable not in ds.data_vars:
            raise DashboardError(f"the masked model does not carry {variable}; choose one of "
                                 f"{[v for v in ds.data_vars if v not in ('hidden', 'coupling')]}")
        k = int(self.window_step.value)
        time = ds["time"].values[k]
        hidden = ds["hidden"].isel(step=k).astype(bool)
        truth = r.source[variable].sel(time=time).drop_vars("time").load()
        members = ds[variable].isel(step=k)
        member = self.member.value
        rec = members.mean("member") if member == MEAN_OF_MEMBERS else members.sel(member=int(member))
        unit = units(variable, r.source[variable])
        clim = colour_limits([truth, rec])
        spread = members.std("member")
        what = "mean of members" if member == MEAN_OF_MEMBERS else f"member {member}"
        if self.forcing.value is not None:
            what += f", sea {self.forcing.value:+g} K"
        shift = members.mean("member") - own[variable].isel(step=k).mean("member")
        label = f"{variable} [{unit}]"
        return {"input": (truth.where(~hidden), clim, f"{self.task.value}: masked input at {_stamp(time)}", label),
                "reconstruction": (rec, clim, f"reconstruction ({what})", label),
                "truth": (truth, clim, f"truth at {_stamp(time)}", label),
                "spread": (spread, colour_limits([spread]), "spread of the members (std)", f"{variable} std [{unit}]"),
                "shift": (shift, colour_limits([shift], centred=True), "shift of the mean from the source's own "
                          "forcing (choose a sea surface)" if self.forcing.value is None else
                          f"counterfactual shift, sea {self.forcing.value:+g} K", f"{variable} shift [{unit}]")}

    def _draw_masked(self) -> None:
        for which, (field, clim, title, label) in self.masked_fields().items():
            self.masked_maps[which].show(field, clim=clim, title=title, label=label)
        shares = self.results.masked(self.init.value).sel(task=self.task.value)["coupling"]
        self.coupling.show(spatial_mean(shares), f"cross-attention shares, {self.task.value}")
        if self.pair.value is not None:
            f, g = self.pair.value
            share = shares.sel(field=f, source=g)
            self.coupling_map.show(share, clim=colour_limits([share]), title=f"share of {f}'s attention on {g}",
                                   label="share")

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
        self._skill_panes = {k: self._pane(p.figure, f"cnb-{k.replace('_', '-')}") for k, p in self.skill.items()}
        skill = pn.Card(pn.FlexBox(*self._skill_panes.values()),
                        title="Lead-time behaviour", collapsible=False, sizing_mode="stretch_width")
        attention = pn.Card(self.attention_missing, self.attention_controls, self.attn_note, self.attention_row,
                            title="Attention over variables", collapsible=False, sizing_mode="stretch_width")
        return [maps, skill, attention, self.masked_card]

    def _masked_card(self) -> pn.Card:
        note = pn.pane.Markdown(MASKED_NOTE, css_classes=["cnb-masked-note"])
        panes = [self._pane(m.figure, f"cnb-masked-{w}") for w, m in self.masked_maps.items()]
        return pn.Card(note, pn.Row(self.task, self.member, self.pair, self.forcing), self.window_step,
                       pn.Row(*panes),  # a FlexBox in a hidden card stopped the page's other updates
                       pn.Row(self._pane(self.coupling.figure, "cnb-coupling-matrix"),
                              self._pane(self.coupling_map.figure, "cnb-coupling-map")),
                       title="Masked model: reconstruction, ensemble and cross-field attention", collapsible=False,
                       sizing_mode="stretch_width", visible=False)

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
