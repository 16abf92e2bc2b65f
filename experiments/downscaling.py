"""Perfect-model downscaling (ClimaX paper section 4.4) at this scale: 5.625 deg in, the 2.8125 deg T42 run out.

The embedded ``t42`` source (T42 SPEEDY written on the 2.8125 deg grid, 64 x 128) is the
truth; its own fields coarsened conservatively to 5.625 deg (32 x 64) are the input, so
the two differ only by resolution (setting (a) of the issue: no change of model). Each arm
is scored on the test year 1991 (``--every-hours`` apart) on the fine grid:

- ``pretrained``: the main job's pretrained compact model fine-tuned to downscale
  (``climax_nb/configs/downscale-compact.yaml``: the input bilinearly upsampled to the
  fine grid with the fine grid's land-sea mask and orography, the position embeddings
  interpolated from 8 x 16 to 16 x 32 patches, the residual on the upsampled field),
  trained on 1990 for ``--steps`` steps;
- ``scratch``: the same model from random weights (same budget, data order and seed);
- ``bilinear``: the coarse input bilinearly upsampled, the baseline of the paper's table.

Per variable (z500, t850, t2m, u10, those the data have): RMSE, mean bias and Pearson correlation (the paper's
table), and the zonal power of the fine scales against the truth's, wavenumbers 17-32 (which
the 5.625 deg grid holds, but its cells smooth) and 33-42 (beyond the coarse grid, within what
T42 resolves): 1 is the truth's power, below 1 too smooth, above 1 invented detail.

    python experiments/downscaling.py --seeds 0           # 2 runs of 600 steps; simulates t42 first (~16 min)
    python experiments/downscaling.py --from-results      # the report again, nothing trained

``--days 12 --pretrain-scale 0.01 --steps 4`` checks the path in minutes (one stretch is
trained on and scored; the numbers are then meaningless).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import xarray as xr

from climax_nb.experiments import cli, reports

NAME = "downscaling"
CONFIG = "downscale-compact"
VARIABLES = ("z500", "t850", "t2m", "u10")
#: Zonal wavenumber bands whose power is compared with the truth's.
BANDS = ((17, 32), (33, 42))


def fine_scale_power(forecast: xr.Dataset, truth: xr.Dataset, variable: str) -> dict[str, float]:
    """Each band's zonal power in ``forecast`` over the truth's at the same times (lead 0)."""
    from climax_nb.viz.spectra import forecast_spectra

    spectra = forecast_spectra(forecast, truth, variable).isel(lead_time=0)
    out = {}
    for low, high in BANDS:
        band = slice(low, high)
        ratio = spectra["forecast"].sel(wavenumber=band).sum() / spectra["truth"].sel(wavenumber=band).sum()
        out[f"power_{low}_{high}"] = float(ratio)
    return out


def score_rows(forecasts: dict[str, xr.Dataset], truth: xr.Dataset, variables: Sequence[str]) -> list[dict]:
    """RMSE, bias and Pearson per arm and variable, and the fine-scale power ratios against ``truth``."""
    from climax_nb.evaluate import score

    card = score(forecasts, truth, None, baselines=(), metrics=("rmse", "bias", "pearson"), variables=list(variables))
    rows = []
    for arm, fc in forecasts.items():
        for var in variables:
            at = card[var].sel(model=arm).isel(lead_time=0)
            scores = {m: float(at.sel(metric=m)) for m in ("rmse", "bias", "pearson")}
            rows.append({"arm": arm, "variable": var, **scores, **fine_scale_power(fc, truth, var)})
    return rows


def make(args: argparse.Namespace) -> pd.DataFrame:
    """Train the pretrained and scratch arms for every seed; score them and bilinear on the test year."""
    from climax_nb.baselines import perfect_model_bilinear
    from climax_nb.data.downscaling import coarsen
    from climax_nb.evaluate import initial_times
    from climax_nb.experiments import training
    from climax_nb.forecast.downscale import downscale

    init, sets = cli.pretrained(args), cli.overrides(args)
    truth = training.downscale_test(args.days, args.data, args.in_sample).load()
    coarse = coarsen(truth)
    variables = [v for v in VARIABLES if v in truth.data_vars]
    times = initial_times(truth, 0.0, args.every_hours)
    rows = []
    for seed in args.seeds:
        def config(start: Path | None, seed: int = seed):
            return training.downscale_config(steps=args.steps, seed=seed, init=start, days=args.days,
                                             source=args.data, in_sample=args.in_sample, overrides=sets)

        arms = {"pretrained": training.trained(f"downscale-seed{seed}", config(init)),
                "scratch": training.trained(f"downscale-scratch-seed{seed}", config(None))}
        forecasts = {arm: downscale(path, coarse, truth, init_times=times, batch_size=16)
                     for arm, path in arms.items()}
        forecasts["bilinear"] = perfect_model_bilinear(truth, times, variables)
        for row in score_rows(forecasts, truth, variables):
            path = arms.get(row["arm"])
            budget = {"steps": training.steps_of(path), "train_s": training.train_seconds(path)} if path else {
                "steps": 0, "train_s": 0.0}
            rows.append({"seed": seed, "times": len(times), **row, **budget})
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    p = cli.parser(__doc__, seeds=(0,), steps=600)
    cli.add_pretrained(p)
    p.set_defaults(data="embedded/t42", every_hours=24.0)
    return cli.main(NAME, "experiments/downscaling.py", p, make, reports.downscaling, argv)


if __name__ == "__main__":
    main()
