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
    """The main job: generate the embedded data and write a summary figure per source."""
    from climax_nb.data import embedded
    from climax_nb.viz import summary_figure

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in _selected_sources(args):
        ds = embedded.open_source(name, length=args.days, cache_dir=args.cache)
        path = out / f"summary_{name}.png"
        summary_figure(ds, path, title=f"embedded/{name}: {embedded.sources()[name].description}")
        print(f"wrote {path}")
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
    demo.set_defaults(handler=cmd_demo)

    for name, default, text in (
        ("pretrain", "pretrain-compact", "pretrain on heterogeneous sources with random lead times"),
        ("finetune", "finetune-compact", "fine-tune for forecasting, from a checkpoint or from scratch"),
    ):
        sub_parser = sub.add_parser(name, help=text, description=f"{text[0].upper()}{text[1:]}. {cmd_train.__doc__}")
        _add_run_options(sub_parser, default)
        sub_parser.set_defaults(handler=cmd_train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``climax-nb``."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
