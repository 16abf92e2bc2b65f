"""The package's defaults that several parts share, each defined once (light: no heavy imports).

The embedded reanalysis is split by year (train, validation, test), forecasts are
scored at four leads, and the packaged run configs live in one folder.
"""

from __future__ import annotations

from pathlib import Path

#: Folder of the packaged YAML run configs (``tiny``, ``compact``, ``paper``).
CONFIGS = Path(__file__).resolve().parent / "configs"
#: The embedded reanalysis's years: training (statistics, climatology), validation and test.
REANALYSIS_TRAIN, REANALYSIS_VAL, REANALYSIS_TEST = (2000, 2001), (2002,), (2003,)
#: Lead times (hours) forecasts are scored at: 6 h, 1, 3 and 5 days.
EVAL_LEADS: tuple[float, ...] = (6.0, 24.0, 72.0, 120.0)
#: ClimaX's pretraining lead times: 6 h to 7 days in steps of 6 h, one drawn per sample.
PRETRAIN_LEADS: tuple[float, ...] = tuple(float(h) for h in range(6, 169, 6))
