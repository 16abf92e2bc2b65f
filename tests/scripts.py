"""Importing the repository's scripts (experiments/, book/) as modules, so tests can call their functions."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative: str) -> ModuleType:
    """The script at ``relative`` (from the repository root) as a module, e.g. ``"experiments/scaling.py"``."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def refuse_training(monkeypatch) -> None:
    """Training now fails: what follows must come from the cache or the results tables."""
    def refuse(config):
        raise AssertionError("trained again")

    monkeypatch.setattr("climax_nb.train.run.train", refuse)
