"""A tiny AtmoRep checkpoint and its data, shared by the forecast, task, counterfactual and dashboard tests."""

from __future__ import annotations

import torch

from climax_nb.data.monthly import compute_monthly_stats
from climax_nb.forecast import SourceSpec, save_forecast_checkpoint
from climax_nb.forecast.atmorep import atmorep_spec
from climax_nb.forecast.spec import make_grid
from climax_nb.model.atmorep import AtmoRep, preset
from tests.conftest import make_canonical

IDS = ("z500", "z850", "t850", "t2m")
CFG = preset("tiny")
DATA = make_canonical(ids=IDS, steps=24)
INITS = DATA.time.values[[1, 5, 9]]


def checkpoint(tmp_path, ds=DATA, *, local=False, forcing=None):
    """A fresh tiny AtmoRep with per-month statistics of ``ds`` (``local``: per grid point), and a source without
    t2m; ``forcing`` is source a's."""
    torch.manual_seed(0)
    net = AtmoRep(CFG).eval()
    stats = compute_monthly_stats(ds, IDS, local=local)
    sources = [SourceSpec("a", stats, IDS, IDS, forcing or {}), SourceSpec("b", stats, IDS[:3], IDS[:3])]
    spec = atmorep_spec(net, make_grid(ds.lat.values, ds.lon.values), sources, time_step_hours=6.0)
    return save_forecast_checkpoint(tmp_path / "m.pt", net, spec)
