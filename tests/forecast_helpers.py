"""A tiny ClimaX checkpoint and matching canonical data for the forecast tests; a stand-in for the GCM rows."""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from climax_nb.data.stats import Normalizer
from climax_nb.forecast import ForecastCheckpoint, SourceSpec, climax_spec
from climax_nb.grid import WB5625
from climax_nb.model import ClimaX, preset
from tests.conftest import make_canonical, typical

INPUTS = ("lsm", "lat", "tisr", "t2m", "z500", "t850")
OUTPUTS = ("t2m", "z500", "t850")
STATS = {"lsm": (0.5, 0.3), "lat": (0.0, 50.0), "tisr": (typical("tisr")[0], 1.5), "t2m": (279.0, 2.0),
         "z500": (typical("z500")[0] + 1.0, 0.5), "t850": (280.5, 3.0)}


def tiny_checkpoint(leads=(6.0, 24.0), outputs=OUTPUTS, seed: int = 0) -> ForecastCheckpoint:
    """Random weights, large enough that predictions vary with the inputs and the lead time."""
    torch.manual_seed(seed)
    model = ClimaX.from_config(preset("tiny", variables=INPUTS, img_size=(32, 64), patch_size=4))
    for p in model.parameters():
        if p.ndim >= 2:
            torch.nn.init.normal_(p, std=0.9 / p.shape[-1] ** 0.5)
    norm = Normalizer({k: m for k, (m, _) in STATS.items()}, {k: s for k, (_, s) in STATS.items()})
    spec = climax_spec(model, WB5625, [SourceSpec("sim", norm, INPUTS, tuple(outputs))], trained_leads=leads)
    return ForecastCheckpoint(model.eval(), spec)


def initial_state(steps: int = 8) -> xr.Dataset:
    ds = make_canonical(("lsm", "tisr", "t2m", "z500", "t850"), steps=steps)
    return ds.assign(tisr=ds["tisr"] + np.arange(steps, dtype=np.float32)[:, None, None])


def fake_gcm_pair(calls: list, truth: xr.Dataset | None = None):
    """``gcm_forecast_pair`` without the GCM: the truth itself (twin) and the truth plus 1 (analysis)."""
    from climax_nb.data.embedded import get_config
    from climax_nb.data.embedded.predictability import KINDS
    from climax_nb.forecast.io import forecast_dataset

    def pair(inits, leads, *, kinds, variables, length, progress, **options):
        calls.append((np.asarray(inits), list(leads), list(kinds), list(variables), length))
        attrs = {"config_hash": get_config("reanalysis").config_hash(), "perturbation_K": 0.1}
        out = {}
        for kind in kinds:
            if truth is None:
                values = np.zeros((len(inits), len(leads), len(variables), 32, 64), np.float32)
            else:
                valid = np.asarray(inits)[:, None] + np.array([np.timedelta64(int(h), "h") for h in leads])[None]
                values = np.stack([truth[v].sel(time=xr.DataArray(valid, dims=("i", "l"))).values
                                   for v in variables], axis=2) + (1.0 if kind == "analysis" else 0.0)
            out[KINDS[kind]] = forecast_dataset(values.astype(np.float32), variables, inits, leads, WB5625.lat,
                                                WB5625.lon, attrs=attrs)
        return out

    return pair
