"""The ``climax-nb`` command line: one subcommand per step of the workflow.

``climax-nb data`` simulates (or reuses) the embedded GCM sources;
``climax-nb demo`` runs the main job on the embedded default and writes its
figures. Each subcommand's ``--help`` explains every option.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

Handler = Callable[[argparse.Namespace], int]


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        action="append",
        dest="sources",
        metavar="NAME",
        help="embedded source to generate (repeat for several; default: all). `--list` shows them.",
    )
    parser.add_argument(
        "--days",
        type=int,
        default=None,
        help="simulated days per source after spin-up (default: each source's whole years); "
        "a few days is enough to try the workflow",
    )
    parser.add_argument(
        "--cache",
        default=None,
        help="cache directory (default: $CLIMAX_NB_CACHE or ~/.cache/climax_nb)",
    )


def _selected_sources(args: argparse.Namespace) -> list[str]:
    from climax_nb.data import embedded

    known = embedded.sources()
    chosen = args.sources or list(known)
    unknown = [s for s in chosen if s not in known]
    if unknown:
        raise SystemExit(f"unknown source(s) {unknown}; choose from {sorted(known)}")
    return chosen


def cmd_data(args: argparse.Namespace) -> int:
    """Generate (or reuse) the embedded sources and print where they are."""
    from climax_nb.data import embedded

    if args.list:
        for name, cfg in embedded.sources().items():
            print(f"{name}: {cfg.description}\n  variables: {' '.join(cfg.variables)}")
        return 0
    for name in _selected_sources(args):
        path = embedded.generate(name, length=args.days, cache_dir=args.cache, force=args.force)
        print(f"{name}: {path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job: embedded data and its summary figures, pretraining, fine-tuning, forecast and scores."""
    import matplotlib.pyplot as plt

    from climax_nb import workflow
    from climax_nb.data import embedded
    from climax_nb.viz import summary_figure

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def prepare_data() -> None:
        for name in _selected_sources(args):
            ds = embedded.open_source(name, length=args.days, cache_dir=args.cache)
            path = out / f"summary_{name}.png"
            plt.close(summary_figure(ds, path, title=f"embedded/{name}: {embedded.sources()[name].description}"))
            print(f"wrote {path}")

    if args.data_only:
        prepare_data()
        return 0
    job = workflow.main_job(out, steps_scale=args.steps_scale, days=args.days, prepare_data=prepare_data)
    print(f"forecast checkpoint: {job.finetuned}\nscores: {job.scores}\n\n{job.times.table()}")
    return 0


CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def _add_run_options(parser: argparse.ArgumentParser, default_config: str) -> None:
    from climax_nb.config import add_options
    from climax_nb.train.run import RunConfig

    parser.add_argument(
        "--config",
        default=default_config,
        help=f"YAML run config: a path, or a packaged preset name such as {default_config} "
        f"(packaged: {', '.join(sorted(p.stem for p in CONFIG_DIR.glob('*.yaml')))})",
    )
    add_options(parser, RunConfig)


def load_run_config(args: argparse.Namespace):
    """The YAML config named by ``--config`` with the command-line options laid over it."""
    from climax_nb.config import apply_options, load_yaml
    from climax_nb.train.run import RunConfig

    path = Path(args.config)
    if not path.exists() and (CONFIG_DIR / f"{args.config}.yaml").exists():
        path = CONFIG_DIR / f"{args.config}.yaml"
    return apply_options(load_yaml(RunConfig, path), args)


def cmd_train(args: argparse.Namespace) -> int:
    """Train from a YAML config and print the exported forecast checkpoint."""
    from climax_nb.train.run import train

    path = train(load_run_config(args))
    print(f"forecast checkpoint: {path}")
    return 0


def _open_truth(spec: str, years: Sequence[int] | None, days: int | None):
    from climax_nb.data import embedded, open_dataset

    if spec.startswith("embedded/"):
        return embedded.open_source(spec.removeprefix("embedded/"), years=years, length=days)
    return open_dataset(spec, years=years)


def cmd_forecast(args: argparse.Namespace) -> int:
    """Forecast from initial states of a dataset with a checkpoint and save the forecast."""
    from climax_nb.evaluate import initial_times
    from climax_nb.forecast import Perturbation, forecast, save_forecast

    data = _open_truth(args.data, args.years, args.days)
    inits = initial_times(data, max(args.leads), args.every)
    ensemble = Perturbation(args.members, scale=args.perturbation, seed=args.seed) if args.members else None
    fc = forecast(args.checkpoint, data, args.leads, mode=args.mode, step=args.step, init_times=inits,
                  batch_size=args.batch_size, device=args.device, ensemble=ensemble)
    print(f"wrote {save_forecast(fc, args.out)} ({len(inits)} initial times, leads {args.leads} h)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a saved forecast and the persistence and climatology baselines against the truth."""
    from climax_nb.evaluate import evaluate, write_scores
    from climax_nb.forecast import open_forecast

    fc = open_forecast(args.forecast)
    truth = _open_truth(args.truth, args.years, args.days)
    clim_source = _open_truth(args.truth, args.clim_years, args.days)
    card = evaluate(fc, truth, clim_source, args.clim_years, variables=args.variables)
    for kind, path in write_scores(card, args.out, args.reference).items():
        print(f"{kind}: {path}")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve the dashboard (maps, skill against lead time, attention) with `panel serve`, on loopback by default."""
    from climax_nb.dashboard.serve import serve

    return serve(args)


def _add_forecast_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="forecast checkpoint (a run's model.pt)")
    parser.add_argument("--data", default="embedded/reanalysis", help="initial states: embedded/<name> or a path")
    parser.add_argument("--years", type=int, nargs="+", default=None, help="years to start from (default: all)")
    parser.add_argument("--days", type=int, default=None, help="simulated days of an embedded source")
    parser.add_argument("--leads", type=float, nargs="+", default=[6, 24, 72, 120], help="lead times in hours")
    parser.add_argument("--every", type=float, default=24.0, help="hours between initial times")
    parser.add_argument("--mode", default="auto", choices=["auto", "continuous", "iterative"],
                        help="continuous: one lead-conditioned call per lead; iterative: chain --step; "
                        "auto: continuous where trained, else a rollout plan")
    parser.add_argument("--step", type=float, default=None, help="rollout step in hours (iterative/auto)")
    parser.add_argument("--members", type=int, default=0, help="ensemble members from perturbed states (0: none)")
    parser.add_argument("--perturbation", type=float, default=0.05, help="perturbation scale in units of std")
    parser.add_argument("--seed", type=int, default=0, help="seed of the perturbations")
    parser.add_argument("--batch-size", type=int, default=8, help="initial states per model call")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--out", default="outputs/forecast.nc", help="output file (.nc or .zarr)")


def _add_evaluate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--forecast", required=True, help="a forecast written by `climax-nb forecast`")
    parser.add_argument("--truth", default="embedded/reanalysis", help="verifying data: embedded/<name> or a path")
    parser.add_argument("--years", type=int, nargs="+", default=None, help="years of the truth to read")
    parser.add_argument("--clim-years", type=int, nargs="+", required=True,
                        help="training years for the climatology (never the test years)")
    parser.add_argument("--days", type=int, default=None, help="simulated days of an embedded source")
    parser.add_argument("--variables", nargs="+", default=None, help="variables to score (default: all)")
    parser.add_argument("--reference", default="persistence", help="reference of the relative table")
    parser.add_argument("--out", default="outputs/scores", help="folder for scorecard, tables and plot")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="climax-nb", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="generate or reuse the embedded GCM data", description=cmd_data.__doc__)
    _add_data_options(data)
    data.add_argument("--force", action="store_true", help="regenerate even when a valid cache exists")
    data.add_argument("--list", action="store_true", help="list the sources and their variables, then exit")
    data.set_defaults(handler=cmd_data)

    demo = sub.add_parser("demo", help="run the main job on the embedded default", description=cmd_demo.__doc__)
    _add_data_options(demo)
    demo.add_argument("--out", default="outputs", help="folder for figures and results (default: outputs)")
    demo.add_argument("--data-only", action="store_true", help="stop after the data and its figures")
    demo.add_argument("--steps-scale", type=float, default=1.0,
                      help="scale the training budgets of the packaged compact configs (e.g. 0.01 to try the path)")
    demo.set_defaults(handler=cmd_demo)

    for name, default, text in (
        ("pretrain", "pretrain-compact", "pretrain on heterogeneous sources with random lead times"),
        ("finetune", "finetune-compact", "fine-tune for forecasting, from a checkpoint or from scratch"),
    ):
        sub_parser = sub.add_parser(name, help=text, description=f"{text[0].upper()}{text[1:]}. {cmd_train.__doc__}")
        _add_run_options(sub_parser, default)
        sub_parser.set_defaults(handler=cmd_train)

    fc = sub.add_parser("forecast", help="forecast with a checkpoint", description=cmd_forecast.__doc__)
    _add_forecast_options(fc)
    fc.set_defaults(handler=cmd_forecast)
    ev = sub.add_parser("evaluate", help="score a forecast against baselines", description=cmd_evaluate.__doc__)
    _add_evaluate_options(ev)
    ev.set_defaults(handler=cmd_evaluate)
    from climax_nb.dashboard.options import add_options as add_dashboard_options
    from climax_nb.dashboard.options import add_server_options

    dash = sub.add_parser("dashboard", help="serve the dashboard in a browser", description=cmd_dashboard.__doc__)
    add_dashboard_options(dash)
    add_server_options(dash)
    dash.set_defaults(handler=cmd_dashboard)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``climax-nb``."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
