"""The experiments' results tables: CSV with the command that made them in header lines, and Markdown.

A table is one row per (run, variable, lead): the run's keys (seed, arm, fraction, ...),
its RMSE and the baselines' RMSE on the same initial times. The header says how to make
it again, so a table committed under ``experiments/results/`` carries its provenance.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

#: Where the experiment scripts write their tables by default and the notebooks read them.
RESULTS = Path(__file__).resolve().parents[2] / "experiments" / "results"
#: The command that makes each table, for the message when it is not there yet.
COMMANDS: dict[str, str] = {
    "data_fraction": "python experiments/data_fraction.py --seeds 0 1 2",
    "ablations": "python experiments/ablations.py --seeds 0 1",
    "scaling": "python experiments/scaling.py --seeds 0",
    "regional": "python experiments/regional.py --seeds 0 1",
}


def _git_commit() -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def write_table(frame: pd.DataFrame, path: str | Path, *, command: str, seconds: float | None = None,
                notes: Mapping[str, str] | None = None) -> Path:
    """Write ``frame`` as CSV under ``# key: value`` lines: the command, when, at which commit, how long."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"command": command, "made": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "commit": _git_commit(), **({"seconds": f"{seconds:.0f}"} if seconds is not None else {}),
              **dict(notes or {})}
    lines = [f"# {key}: {' '.join(str(value).split())}" for key, value in header.items()]
    path.write_text("\n".join(lines) + "\n" + frame.to_csv(index=False))
    return path


def read_table(path: str | Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """A table written by ``write_table`` and its header (``command``, ``made``, ``commit``, ``seconds``, ...)."""
    text = Path(path).read_text()
    header, body = {}, []
    for line in text.splitlines():
        if line.startswith("# ") and not body:
            key, _, value = line[2:].partition(": ")
            header[key] = value
        else:
            body.append(line)
    return pd.read_csv(io.StringIO("\n".join(body))), header


def results(name: str, folder: str | Path | None = None) -> tuple[pd.DataFrame, dict[str, str]] | None:
    """The table ``name`` (``data_fraction``, ``ablations``, ``scaling``) from ``folder`` (default ``RESULTS``).

    None, after printing the command that makes it, when it has not been made yet: the
    notebooks show the results where they exist and say how to get them where they do not.
    """
    path = Path(folder if folder is not None else RESULTS) / f"{name}.csv"
    if path.is_file():
        return read_table(path)
    command = COMMANDS.get(name, f"python experiments/{name}.py")
    print(f"{path} has not been made yet: run `{command}` from the repository root "
          f"(it writes {path.name} to experiments/results/), then run this cell again")
    return None


def _cell(value: object, digits: int) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.{digits}g}"
    return str(value)


def markdown_table(frame: pd.DataFrame, digits: int = 4) -> str:
    """``frame`` as a Markdown table, floats to ``digits`` significant digits, NaN as an empty cell."""
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(_cell(v, digits) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])
