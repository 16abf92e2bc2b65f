"""The command line every experiment script shares: seeds, budget, data, overrides, results and ``--from-results``.

A script adds its own options to ``parser`` and hands ``run`` two functions: one
that trains and scores, returning rows, and one that turns rows into the printed
report. ``run`` writes the rows as ``<out>/<name>.csv`` (with the command in its
header) and the report as ``<out>/<name>.md``; with ``--from-results`` it reads
the CSV back instead, so the report is printed again without training.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from climax_nb.defaults import REANALYSIS_TEST, REANALYSIS_TRAIN
from climax_nb.experiments.tables import RESULTS, read_table, write_table
from climax_nb.experiments.training import EVERY_HOURS, Reanalysis


def parser(doc: str, *, seeds: Sequence[int], steps: int) -> argparse.ArgumentParser:
    """The shared options, with this experiment's default seeds and fine-tuning steps."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0], epilog="\n\n".join(doc.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=list(seeds), help=f"seeds (default: {list(seeds)})")
    p.add_argument("--steps", type=int, default=steps, help=f"fine-tuning steps of every run (default: {steps})")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder of the results table (default: %(default)s)")
    p.add_argument("--from-results", action="store_true", help="print the report of the table in --out, train nothing")
    p.add_argument("--days", type=int, default=None,
                   help="embedded days of data: one short stretch trained on and scored (checks the path only)")
    p.add_argument("--data", default="embedded/reanalysis", help="fine-tuning data (default: %(default)s)")
    p.add_argument("--in-sample", action="store_true", help="train and score on all of --data (a short file)")
    p.add_argument("--every-hours", type=float, default=EVERY_HOURS,
                   help="hours between the test year's initial times (default: %(default)s)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="lay a setting over every run's config, e.g. model.preset=tiny (repeatable; YAML values)")
    return p


def add_pretrained(p: argparse.ArgumentParser) -> None:
    """``--pretrained``: the starting weights of the fine-tuning runs (default: the main job's pretrained model)."""
    p.add_argument("--pretrained", default="main",
                   help="'main' (the main job's pretrained model, trained first if not cached), a model.pt, or 'none'")
    p.add_argument("--pretrain-scale", type=float, default=1.0,
                   help="with --pretrained main: scale of the main job's pretraining budget (default: 1)")


def reanalysis(args: argparse.Namespace) -> Reanalysis:
    """The fine-tuning data and split the options name: an embedded source's own train and test years
    (``embedded/t42``: 1990 and 1991), else the reanalysis's."""
    from climax_nb.data.embedded.configs import get_config
    from climax_nb.data.open import embedded_name

    name = embedded_name(args.data)
    splits = dict(get_config(name).splits) if name is not None else {}
    return Reanalysis(source=args.data, days=args.days, in_sample=args.in_sample,
                      train_years=tuple(splits.get("train", REANALYSIS_TRAIN)),
                      test_years=tuple(splits.get("test", REANALYSIS_TEST)))


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """``--set section.key=value`` as ``{"section.key": value}``, values read as YAML."""
    out = {}
    for text in args.overrides:
        key, sep, value = text.partition("=")
        if not sep or "." not in key:
            raise SystemExit(f"--set {text!r}: give section.key=value, e.g. model.embed_dim=64")
        out[key.strip()] = yaml.safe_load(value)
    return out


def pretrained(args: argparse.Namespace) -> Path | None:
    """The model ``--pretrained`` names (None: 'none', start from random weights)."""
    if args.pretrained == "none":
        return None
    if args.pretrained != "main":
        path = Path(args.pretrained)
        if not path.is_file():
            raise SystemExit(f"--pretrained {path}: no such model file")
        return path
    from climax_nb import runs

    return runs.trained("pretrain", runs.Setting(args.days, args.pretrain_scale))


def run(name: str, script: str, argv: Sequence[str], args: argparse.Namespace,
        make: Callable[[argparse.Namespace], pd.DataFrame], report: Callable[[pd.DataFrame], str]) -> pd.DataFrame:
    """Make the rows (or read them with ``--from-results``), write the table and report, print the report."""
    path = Path(args.out) / f"{name}.csv"
    if args.from_results:
        if not path.is_file():
            raise SystemExit(f"no results at {path}: run without --from-results first")
        frame, header = read_table(path)
    else:
        start = time.perf_counter()
        frame = make(args)
        seconds = time.perf_counter() - start
        header = {"command": shlex.join(["python", script, *argv]), "seconds": f"{seconds:.0f}"}
        write_table(frame, path, command=header["command"], seconds=seconds)
    text = f"made by `{header.get('command', '?')}` ({header.get('seconds', '?')} s)\n\n{report(frame)}"
    path.with_suffix(".md").write_text(text + "\n")
    print(text)
    return frame


def main(name: str, script: str, p: argparse.ArgumentParser, make: Callable[[argparse.Namespace], pd.DataFrame],
         report: Callable[[pd.DataFrame], str], argv: Sequence[str] | None = None) -> pd.DataFrame:
    """Parse ``argv`` (default: the command line) and ``run``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return run(name, script, argv, p.parse_args(argv), make, report)
