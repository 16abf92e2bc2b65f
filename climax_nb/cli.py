"""The ``climax-nb`` command line: one subcommand per step of the workflow.

``climax-nb data`` simulates (or reuses) the embedded GCM sources;
``climax-nb demo`` runs the main job on the embedded default and writes its
figures. Every subcommand's options are one frozen dataclass (``climax_nb.config``):
the same option system as the YAML run configs, and each ``--help`` explains them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from climax_nb.config import add_options, apply_options, load_yaml, option, parse_options, required
from climax_nb.defaults import CONFIGS, EVAL_LEADS

Handler = Callable[[argparse.Namespace], int]



# -- data and demo -------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataOptions:
    source: tuple[str, ...] = option(
        (), "embedded sources to generate (default: all but those made for downscaling, such as t42); "
        "`--list` shows them"
    )
    days: int | None = option(
        None, "simulated days per source after spin-up (default: each source's whole years); a few days try the path"
    )
    years: int | None = option(
        None, "whole calendar years per source from its start, instead of --days (e.g. 10 reanalysis years for the "
        "sub-seasonal experiment); a longer run is simulated anew and serves every shorter request"
    )
    cache: str | None = option(None, "cache directory (default: $CLIMAX_NB_CACHE or ~/.cache/climax_nb)")
    force: bool = option(False, "regenerate even when a valid cache exists")
    list: bool = option(False, "list the sources and their variables, then exit")

    def length(self, name: str) -> int | None:
        """Simulated days of source ``name``: ``--days``, or ``--years`` whole years, or None (its default)."""
        from climax_nb.data import embedded

        if self.years is not None and self.days is not None:
            raise SystemExit("give --days or --years, not both")
        return embedded.sources()[name].days_in(self.years) if self.years is not None else self.days

    def sources(self) -> list[str]:
        """The chosen embedded sources, checked against the known ones."""
        from climax_nb.data import embedded

        known = embedded.sources()
        chosen = list(self.source) or embedded.default_sources()
        unknown = [s for s in chosen if s not in known]
        if unknown:
            raise SystemExit(f"unknown source(s) {unknown}; choose from {sorted(known)}")
        return chosen


@dataclass(frozen=True)
class DemoOptions:
    source: tuple[str, ...] = option((), "embedded sources to prepare (default: all)")
    days: int | None = option(None, "simulated days per source (default: whole years)")
    cache: str | None = option(None, "cache directory (default: $CLIMAX_NB_CACHE or ~/.cache/climax_nb)")
    out: str = option("outputs", "folder for figures and results")
    data_only: bool = option(False, "stop after the data and its figures")
    steps_scale: float = option(
        1.0, "scale the training budgets of the packaged compact configs (e.g. 0.01 to try the path)"
    )
    gcm_rows: bool = option(
        True, "score the embedded GCM's own forecasts (gcm-analysis, gcm-twin, every 7 days) beside the model; "
        "--no-gcm-rows leaves them out"
    )


def cmd_data(args: argparse.Namespace) -> int:
    """Generate (or reuse) the embedded sources and print where they are."""
    from climax_nb.data import embedded

    opts = parse_options(DataOptions, args)
    if opts.list:
        for name, cfg in embedded.sources().items():
            print(f"{name}: {cfg.description}\n  variables: {' '.join(cfg.variables)}")
        return 0
    if opts.force:
        for name in opts.sources():
            embedded.generate(name, length=opts.length(name), cache_dir=opts.cache, force=True)
    if opts.years is not None:  # lengths differ per source: one at a time
        for name in opts.sources():
            print(f"{name}: {embedded.generate(name, length=opts.length(name), cache_dir=opts.cache)}")
        return 0
    for name, path in embedded.generate_all(opts.sources(), length=opts.days, cache_dir=opts.cache).items():
        print(f"{name}: {path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job: embedded data and its summary figures, pretraining, fine-tuning, forecast and scores."""
    from climax_nb import storage

    opts = parse_options(DemoOptions, args)
    with storage.cache_root_set_to(opts.cache):  # the data, the runs and the GCM rows, in child processes too
        return _demo(opts)


def _demo(opts: DemoOptions) -> int:
    import matplotlib.pyplot as plt

    from climax_nb import workflow
    from climax_nb.data import embedded
    from climax_nb.viz import summary_figure

    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    chosen = DataOptions(source=opts.source).sources()

    def prepare_data(alongside: Mapping[str, Callable[[], object]]) -> None:
        # side by side, one per core; the GCM rows on a core the reanalysis frees (workflow.main_job)
        embedded.generate_all(chosen, length=opts.days, alongside={k: v for k, v in alongside.items() if k in chosen})
        for name in chosen:
            ds = embedded.open_source(name, length=opts.days)
            path = out / f"summary_{name}.png"
            plt.close(summary_figure(ds, path, title=f"embedded/{name}: {embedded.sources()[name].description}"))
            print(f"wrote {path}")

    if opts.data_only:
        prepare_data({})
        return 0
    job = workflow.main_job(out, steps_scale=opts.steps_scale, days=opts.days, prepare_data=prepare_data,
                            gcm_rows=opts.gcm_rows)
    print(f"forecast checkpoint: {job.finetuned}\nscores: {job.scores}\n\n{job.times.table()}")
    return 0


# -- training ------------------------------------------------------------------------------------
def _add_run_options(parser: argparse.ArgumentParser, default_config: str) -> None:
    from climax_nb.train.run import RunConfig

    parser.add_argument(
        "--config",
        default=default_config,
        help=f"YAML run config: a path, or a packaged preset name such as {default_config} "
        f"(packaged: {', '.join(sorted(p.stem for p in CONFIGS.glob('*.yaml')))})",
    )
    add_options(parser, RunConfig)


def load_run_config(args: argparse.Namespace):
    """The YAML config named by ``--config`` with the command-line options laid over it."""
    from climax_nb.train.run import RunConfig

    path = Path(args.config)
    if not path.exists() and (CONFIGS / f"{args.config}.yaml").exists():
        path = CONFIGS / f"{args.config}.yaml"
    return apply_options(load_yaml(RunConfig, path), args)


def cmd_train(args: argparse.Namespace) -> int:
    """Train from a YAML config and print the exported forecast checkpoint."""
    from climax_nb.train.run import train

    path = train(load_run_config(args))
    print(f"forecast checkpoint: {path}")
    return 0


# -- forecasting and scoring -------------------------------------------------------------------------
@dataclass(frozen=True)
class ForecastOptions:
    checkpoint: str = required("forecast checkpoint (a run's model.pt, or one made by `climax-nb import-climax`)")
    data: str = option("embedded/reanalysis", "initial states: embedded/<name> or a path")
    years: tuple[int, ...] | None = option(None, "years to start from (default: all)")
    days: int | None = option(None, "simulated days of an embedded source")
    leads: tuple[float, ...] = option(EVAL_LEADS, "lead times in hours")
    every: float = option(24.0, "hours between initial times")
    mode: str = option("auto", "continuous: one lead-conditioned call per lead; iterative: chain --step; "
                       "auto: continuous where trained, else a rollout plan")
    step: float | None = option(None, "rollout step in hours (iterative/auto)")
    hyperdiffusion: float | None = option(None, "damp each rollout step's small scales: e-folding hours at the "
                                          "highest zonal wavenumber (e.g. 3; iterative only; docs/forecast.md)")
    hyperdiffusion_order: int = option(8, "power of the wavenumber in --hyperdiffusion (8: del^8, 4: del^4)")
    source: str | None = option(None, "use the statistics of this training source (default: the checkpoint's first)")
    members: int = option(0, "ensemble members from perturbed states (0: none)")
    perturbation: float = option(0.05, "perturbation scale in units of each variable's std")
    seed: int = option(0, "seed of the perturbations")
    batch_size: int = option(8, "initial states per model call")
    device: str = option("cpu", "cpu, cuda, cuda:1, ...")
    out: str = option("outputs/forecast.nc", "output file (.nc or .zarr)")
    overwrite: bool = option(False, "replace --out if it is a forecast already (other files are never replaced)")
    check_ranges: bool = option(True, "refuse values outside each variable's plausible range (--no-check-ranges)")

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "continuous", "iterative"):
            raise ValueError(f"--mode must be auto, continuous or iterative, got {self.mode!r}")
        if not self.every > 0:
            raise ValueError(f"--every is the hours between initial times and must be positive, got {self.every}")
        if self.members < 0:
            raise ValueError(f"--members must be >= 0 (0: no ensemble), got {self.members}")


@dataclass(frozen=True)
class EvaluateOptions:
    forecast: str = required("a forecast written by `climax-nb forecast`")
    clim_years: tuple[int, ...] = required("training years for the climatology (never the test years)")
    truth: str = option("embedded/reanalysis", "verifying data: embedded/<name> or a path")
    years: tuple[int, ...] | None = option(None, "years of the truth to read")
    days: int | None = option(None, "simulated days of an embedded source")
    variables: tuple[str, ...] | None = option(None, "variables to score (default: all)")
    metrics: tuple[str, ...] = option(
        ("rmse", "acc"), "metrics: rmse, acc, bias, pearson, mae, ... (ensembles also get crps and spread_skill_ratio)"
    )
    baselines: tuple[str, ...] = option(
        ("persistence", "climatology"),
        "reference forecasts: persistence, climatology, weekly_climatology; bilinear for downscaling (lead 0)",
    )
    reference: str = option("persistence", "reference of the relative table")
    out: str = option("outputs/scores", "folder for scorecard, tables and plot")
    in_sample: bool = option(False, "allow climatology years that are years of the forecast (refused otherwise)")
    check_ranges: bool = option(True, "refuse values outside each variable's plausible range (--no-check-ranges)")


@dataclass(frozen=True)
class DownscaleOptions:
    checkpoint: str = required("a downscaling checkpoint (`climax-nb finetune --config downscale-compact`)")
    data: str = option("embedded/t42", "the fine dataset: embedded/<name> or a path (its constants are read)")
    coarse: str = option(
        "coarsened", "the coarse input: 'coarsened' (--data coarsened to --coarse-resolution: perfect model) or a path"
    )
    coarse_resolution: float = option(5.625, "grid (degrees) --data is coarsened to with --coarse coarsened")
    years: tuple[int, ...] | None = option(None, "years to downscale (default: all)")
    days: int | None = option(None, "simulated days of an embedded source")
    every: float = option(24.0, "hours between the times downscaled")
    batch_size: int = option(8, "times per model call")
    device: str = option("cpu", "cpu, cuda, cuda:1, ...")
    out: str = option("outputs/downscaled.nc", "output file (.nc or .zarr), a forecast at lead 0")
    overwrite: bool = option(False, "replace --out if it is a forecast already (other files are never replaced)")


@dataclass(frozen=True)
class SubseasonalOptions:
    checkpoint: str = required("a sub-seasonal checkpoint (`climax-nb finetune --config subseasonal-compact`)")
    data: str = option("embedded/reanalysis", "the run it forecasts: embedded/<name> or a path (with the "
                       "checkpoint's climatology years, from which the targets' climatology is made again)")
    days: int | None = option(None, "simulated days of an embedded source (e.g. 3653: the ten years it trained on)")
    years: tuple[int, ...] | None = option(None, "years of the start days (default: those outside the climatology)")
    every: float = option(24.0, "hours between start days")
    batch_size: int = option(8, "start days per model call")
    device: str = option("cpu", "cpu, cuda, cuda:1, ...")
    out: str = option("outputs/subseasonal.nc", "the forecast of window-mean anomalies (.nc or .zarr)")
    targets_out: str = option("outputs/subseasonal_targets.nc",
                              "the window-mean anomalies of every day, the truth to score --out against")
    overwrite: bool = option(False, "replace --out if it is a forecast already (other files are never replaced)")


@dataclass(frozen=True)
class ProjectOptions:
    checkpoint: str = required("a climate-projection checkpoint (`climax-nb finetune --config projection-compact`)")
    scenarios: tuple[str, ...] = option(("mid",), "embedded scenarios to project (default: the held-out one)")
    members: int | None = option(None, "members of each (default: all)")
    days: int | None = option(None, "simulated days of each run (default: its year)")
    batch_size: int = option(8, "samples per model call")
    device: str = option("cpu", "cpu, cuda, cuda:1, ...")
    out: str = option("outputs/projection.nc", "the projection: a forecast at lead 0 over the samples")
    samples_out: str = option("outputs/projection_samples.nc", "the samples (forcing and the GCM's statistics)")
    overwrite: bool = option(False, "replace --out if it is a forecast already (other files are never replaced)")


@dataclass(frozen=True)
class ImportOptions:
    checkpoint: str = required("a released ClimaX checkpoint (e.g. 5.625deg.ckpt)")
    stats: str = required("folder with ClimaX's normalize_mean.npz and normalize_std.npz")
    out: str = option("outputs/climax-released/model.pt", "forecast checkpoint to write")
    variables: tuple[str, ...] | None = option(None, "the checkpoint's variables in order (default: ClimaX's 48)")
    leads: tuple[float, ...] | None = option(None, "leads to record as trained (default: ClimaX's 6 h to 7 days)")


def cmd_forecast(args: argparse.Namespace) -> int:
    """Forecast from initial states of a dataset with a checkpoint and save the forecast."""
    from climax_nb.data.open import open_source
    from climax_nb.evaluate import initial_times
    from climax_nb.forecast import Perturbation, ZonalHyperdiffusion, forecast, open_model, save_forecast

    opts = parse_options(ForecastOptions, args)
    damping = (None if opts.hyperdiffusion is None
               else ZonalHyperdiffusion(opts.hyperdiffusion, opts.hyperdiffusion_order))
    model = open_model(opts.checkpoint, source=opts.source)
    data = open_source(opts.data, years=opts.years, days=opts.days, check_ranges=opts.check_ranges)
    inits = initial_times(data, max(opts.leads), opts.every, history_hours=model.history_hours)
    ensemble = Perturbation(opts.members, scale=opts.perturbation, seed=opts.seed) if opts.members else None
    fc = forecast(model, data, list(opts.leads), mode=opts.mode, step=opts.step, init_times=inits,
                  batch_size=opts.batch_size, device=opts.device, ensemble=ensemble, damping=damping)
    path = save_forecast(fc, opts.out, overwrite=opts.overwrite)
    print(f"wrote {path} ({len(inits)} initial times, leads {list(opts.leads)} h)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a saved forecast and the baselines against the truth (CRPS and spread-skill for ensembles)."""
    from climax_nb.data.open import open_source
    from climax_nb.evaluate import evaluate, write_scores
    from climax_nb.forecast import open_forecast

    opts = parse_options(EvaluateOptions, args)
    fc = open_forecast(opts.forecast)
    truth = open_source(opts.truth, years=opts.years, days=opts.days, check_ranges=opts.check_ranges)
    clim_source = open_source(opts.truth, years=opts.clim_years, days=opts.days, check_ranges=opts.check_ranges)
    card = evaluate(fc, truth, clim_source, opts.clim_years, variables=opts.variables, metrics=opts.metrics,
                    baselines=opts.baselines, in_sample=opts.in_sample)
    for kind, path in write_scores(card, opts.out, opts.reference).items():
        print(f"{kind}: {path}")
    return 0


def cmd_downscale(args: argparse.Namespace) -> int:
    """Downscale coarse fields with a downscaling checkpoint and save them as a forecast at lead 0."""
    from climax_nb.data.downscaling import coarsen
    from climax_nb.data.open import open_source
    from climax_nb.evaluate import initial_times
    from climax_nb.forecast import save_forecast
    from climax_nb.forecast.downscale import downscale
    from climax_nb.grid import Grid

    opts = parse_options(DownscaleOptions, args)
    fine = open_source(opts.data, years=opts.years, days=opts.days)
    if opts.coarse == "coarsened":
        coarse = coarsen(fine, Grid.weatherbench(opts.coarse_resolution))
    else:
        coarse = open_source(opts.coarse, years=opts.years)
    times = initial_times(coarse, 0.0, opts.every)
    out = downscale(opts.checkpoint, coarse, fine, init_times=times, batch_size=opts.batch_size, device=opts.device)
    path = save_forecast(out, opts.out, overwrite=opts.overwrite)
    print(f"wrote {path} ({len(times)} times on the {out.sizes['lat']}x{out.sizes['lon']} grid)")
    return 0


def _write_truth(ds, path: str, overwrite: bool) -> Path:
    """Write the dataset a task's output is scored against to ``path`` (NetCDF); an existing file is refused unless
    ``overwrite``."""
    out = Path(path)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists: choose another path or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(out)
    return out


def cmd_subseasonal(args: argparse.Namespace) -> int:
    """Forecast window-mean anomalies with a sub-seasonal checkpoint; save them and the targets they are scored on."""
    import numpy as np

    from climax_nb.data.open import open_source
    from climax_nb.data.subseasonal import subseasonal_pair
    from climax_nb.evaluate import initial_times
    from climax_nb.forecast import open_model, save_forecast
    from climax_nb.forecast.subseasonal import check_subseasonal, subseasonal_forecast

    opts = parse_options(SubseasonalOptions, args)
    fm = open_model(opts.checkpoint)
    described = check_subseasonal(fm)
    window, clim_years = int(described["window_days"]), [int(y) for y in described["climatology_years"]]
    ds = open_source(opts.data, days=opts.days)
    inputs, targets, _ = subseasonal_pair(ds, fm.outputs, clim_years, window, int(described["harmonics"]))
    years = list(opts.years or [y for y in sorted(set(targets.time.dt.year.values.tolist())) if y not in clim_years]
                 or clim_years)
    starts = targets.sel(time=targets.time.dt.year.isin(years))
    span = max(fm.trained_leads or (0.0,)) + 24.0 * (window - 1)
    inits = initial_times(starts, 0.0, opts.every)
    inits = inits[inits + np.timedelta64(round(span), "h") <= targets["time"].values[-1]]
    if not len(inits):
        raise ValueError(f"no start day in {years} has its window {span:g} h later inside the data: "
                         "simulate more days (--days) or choose earlier --years")
    out = subseasonal_forecast(fm, inputs, init_times=inits, batch_size=opts.batch_size, device=opts.device)
    path = save_forecast(out, opts.out, overwrite=opts.overwrite)
    targets_path = _write_truth(targets, opts.targets_out, opts.overwrite)
    print(f"wrote {path} ({len(inits)} start days in {years}, leads {list(fm.trained_leads or [])} h) and the "
          f"targets {targets_path}")
    return 0


def cmd_project(args: argparse.Namespace) -> int:
    """Project the period statistics of embedded scenarios with a climate-projection checkpoint; save them and the
    samples they are scored on."""
    from climax_nb.data.climate import open_scenario_samples, scenario_sources
    from climax_nb.forecast import open_model, save_forecast
    from climax_nb.forecast.projection import check_projector, project

    opts = parse_options(ProjectOptions, args)
    fm = open_model(opts.checkpoint)
    period = str(check_projector(fm).get("period", "YS"))
    sources = [s for held_out in (True, False) for s in scenario_sources(held_out, opts.members, opts.scenarios)]
    samples = open_scenario_samples(sources, opts.days, period)
    out = project(fm, samples, batch_size=opts.batch_size, device=opts.device)
    path = save_forecast(out, opts.out, overwrite=opts.overwrite)
    samples_path = _write_truth(samples, opts.samples_out, opts.overwrite)
    print(f"wrote {path} ({samples.sizes['time']} samples of {', '.join(opts.scenarios)}, period {period}) and the "
          f"samples {samples_path}")
    return 0


def cmd_import_climax(args: argparse.Namespace) -> int:
    """Turn a released ClimaX checkpoint and ClimaX's statistics files into a forecast checkpoint."""
    from climax_nb.defaults import PRETRAIN_LEADS
    from climax_nb.forecast.importing import import_climax

    opts = parse_options(ImportOptions, args)
    stats = Path(opts.stats)
    path = import_climax(opts.checkpoint, stats / "normalize_mean.npz", stats / "normalize_std.npz", opts.out,
                         checkpoint_variables=opts.variables, leads=opts.leads or PRETRAIN_LEADS)
    print(f"forecast checkpoint: {path}")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve the dashboard (maps, skill against lead time, attention) with `panel serve`, on loopback by default."""
    from climax_nb.dashboard.serve import serve

    return serve(args)


# -- the parser ----------------------------------------------------------------------------------
def _subcommand(sub, name: str, text: str, handler: Handler, *options: type) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=text, description=handler.__doc__, allow_abbrev=False)
    for cls in options:
        add_options(parser, cls)
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    from climax_nb.dashboard.options import PageOptions, ServerOptions

    # no abbreviations: a mistyped --trainer.max_step must not silently mean --trainer.max_steps
    parser = argparse.ArgumentParser(prog="climax-nb", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error (by default a user error is one line, exit 2)")
    sub = parser.add_subparsers(dest="command", required=True)
    _subcommand(sub, "data", "generate or reuse the embedded GCM data", cmd_data, DataOptions)
    _subcommand(sub, "demo", "run the main job on the embedded default", cmd_demo, DemoOptions)
    for name, default, text in (
        ("pretrain", "pretrain-compact", "pretrain on heterogeneous sources with random lead times"),
        ("finetune", "finetune-compact", "fine-tune for forecasting, from a checkpoint or from scratch"),
    ):
        sub_parser = sub.add_parser(name, help=text, description=f"{text[0].upper()}{text[1:]}. {cmd_train.__doc__}",
                                    allow_abbrev=False)
        _add_run_options(sub_parser, default)
        sub_parser.set_defaults(handler=cmd_train)
    _subcommand(sub, "forecast", "forecast with a checkpoint", cmd_forecast, ForecastOptions)
    _subcommand(sub, "evaluate", "score a forecast against baselines", cmd_evaluate, EvaluateOptions)
    _subcommand(sub, "subseasonal", "forecast two-week mean anomalies with a sub-seasonal checkpoint",
                cmd_subseasonal, SubseasonalOptions)
    _subcommand(sub, "project", "project the yearly climate of scenarios with a climate-projection checkpoint",
                cmd_project, ProjectOptions)
    _subcommand(sub, "downscale", "downscale coarse fields with a downscaling checkpoint", cmd_downscale,
                DownscaleOptions)
    _subcommand(sub, "import-climax", "make a forecast checkpoint of released ClimaX weights", cmd_import_climax,
                ImportOptions)
    _subcommand(sub, "dashboard", "serve the dashboard in a browser", cmd_dashboard, PageOptions, ServerOptions)
    return parser


#: What a user can cause and fix: bad values, missing or unreadable files, bad YAML (all named by their message).
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, KeyError)


def one_line(err: BaseException) -> str:
    """The error's message on one line (a KeyError's message is its first argument)."""
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    return " ".join(text.split()) or type(err).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``climax-nb``: a user error prints one line and exits with 2 (``--debug``: the traceback)."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except USER_ERRORS as err:
        if args.debug:
            raise
        print(f"climax-nb {args.command}: error: {one_line(err)} (--debug shows the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
