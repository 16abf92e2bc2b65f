"""What the experiment scripts in ``experiments/`` share, and what the notebooks read of them.

- ``training``: short runs of the packaged configs with overrides (outputs, leads,
  architecture, a fraction of the training years), cached by their config, and their
  scores on the test year beside persistence and climatology;
- ``compare``: paired differences over seeds with a t-interval;
- ``tables``: the results tables (CSV with the command that made them) and Markdown;
- ``reports``: the printed reports of each experiment, for the scripts and notebook 11;
- ``cli``: the scripts' shared command line.

Importing this package is light (no torch): a notebook reads the tables with
``results`` without loading a model; ``training`` loads on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from climax_nb.experiments.compare import LEVEL, paired_differences, t_interval, verdict
from climax_nb.experiments.tables import COMMANDS, RESULTS, markdown_table, read_table, results, write_table

__all__ = ["COMMANDS", "LEVEL", "RESULTS", "markdown_table", "paired_differences", "read_table", "results",
           "t_interval", "verdict", "write_table"]


def __getattr__(name: str) -> Any:
    if name in ("training", "cli", "reports"):
        return import_module(f"climax_nb.experiments.{name}")
    raise AttributeError(f"module 'climax_nb.experiments' has no attribute {name!r}")
