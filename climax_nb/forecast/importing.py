"""Released ClimaX weights plus ClimaX's statistics files become one forecast checkpoint of ours.

The released files (``5.625deg.ckpt``, ...) carry weights only; forecasting with
them needs the normalisation they were trained with, which ClimaX ships as
``normalize_mean.npz`` and ``normalize_std.npz`` beside its data. ``import_climax``
joins the two into a forecast checkpoint whose ``ForecastSpec`` records the grid,
the statistics, the inputs (every variable with statistics), the outputs (the
dynamic ones) and the leads ClimaX pretrained for, so ``forecast``, ``evaluate`` and
the dashboard take it like any checkpoint of ours.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from climax_nb.data.sources.climax_npz import read_normalization
from climax_nb.defaults import PRETRAIN_LEADS
from climax_nb.forecast.checkpoint import save_forecast_checkpoint
from climax_nb.forecast.climax import climax_spec
from climax_nb.forecast.spec import SourceSpec, SpecError
from climax_nb.grid import WEATHERBENCH_RESOLUTIONS, Grid
from climax_nb.model import load_official_checkpoint
from climax_nb.variables import is_dynamic

PathLike = str | os.PathLike



def released_grid(img_size: Sequence[int]) -> Grid:
    """The WeatherBench grid a released model's ``img_size`` stands for (ClimaX's grids are lat x 2 lat)."""
    h, w = img_size
    resolution = 180 / h
    if resolution not in WEATHERBENCH_RESOLUTIONS or w != 2 * h:
        raise SpecError(f"img_size {tuple(img_size)} is not one of ClimaX's WeatherBench grids "
                        f"({', '.join(f'{r} deg' for r in WEATHERBENCH_RESOLUTIONS)})")
    return Grid.weatherbench(resolution)


def import_climax(
    checkpoint: PathLike,
    mean_npz: PathLike,
    std_npz: PathLike,
    out: PathLike,
    *,
    checkpoint_variables: Sequence[str] | None = None,
    leads: Sequence[float] = PRETRAIN_LEADS,
    source: str = "climax",
) -> Path:
    """Write a forecast checkpoint from released ClimaX weights and its statistics files; return its path.

    ``checkpoint_variables`` names the file's variables in order (default: ClimaX's 48);
    ``leads`` are recorded as trained (default: ClimaX's pretraining leads); ``source``
    names the statistics in the spec.
    """
    for path in (checkpoint, mean_npz, std_npz):
        if not Path(path).is_file():
            raise FileNotFoundError(f"no file at {path}: import-climax needs the released checkpoint and ClimaX's "
                                    "normalize_mean.npz and normalize_std.npz")
    model, _ = load_official_checkpoint(checkpoint, checkpoint_variables=checkpoint_variables)
    normalizer = read_normalization(mean_npz, std_npz)
    inputs = tuple(v for v in model.variables if v in normalizer.mean)
    missing = [v for v in model.variables if v not in normalizer.mean]
    if missing:
        raise SpecError(f"{mean_npz} has no statistics for the model's variable(s) {missing}: use the statistics "
                        "files of the data the checkpoint was trained on")
    outputs = tuple(v for v in inputs if is_dynamic(v))
    spec = climax_spec(model, released_grid(model.config.img_size), [SourceSpec(source, normalizer, inputs, outputs)],
                       trained_leads=leads, time_step_hours=6.0,
                       training={"imported_from": os.fspath(checkpoint)})
    return save_forecast_checkpoint(out, model, spec)
