"""The Panel dashboard: maps, lead-time skill and attention over variables for checkpoints and forecasts.

``climax-nb dashboard`` serves it (``panel serve``, loopback by default); in a
notebook, ``dashboard(checkpoints=[...], data=...)`` returns the same page.
Forecasts, scores and attention are computed once per checkpoint and data and
cached under ``<cache>/dashboard``. Names load on first use, so importing the
command line's options does not load Panel or torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Dashboard": "app",
    "dashboard": "app",
    "make_dashboard": "app",
    "extensions": "app",
    "DashboardError": "errors",
    "DataSpec": "settings",
    "Settings": "settings",
    "Entry": "discover",
    "entries": "discover",
    "find_entries": "discover",
    "Results": "store",
    "ResultStore": "store",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'climax_nb.dashboard' has no attribute {name!r}")
    return getattr(importlib.import_module(f"climax_nb.dashboard.{_WHERE[name]}"), name)
