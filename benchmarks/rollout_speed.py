"""Iterative rollout speed and memory: a 10-day forecast (40 steps of 6 h) with the compact model on the CPU.

One initial state on the 5.625 degree grid, the ``compact`` preset (48 variables,
random weights, a checkpoint built in memory), ``climax_nb.forecast.forecast`` in
``iterative`` mode. Each case runs in a fresh subprocess, so its peak resident set
(RSS) is its own: after one warm-up forecast, it times a second one and reports the
RSS before it and the peak after. Keeping only the last lead, 10 and 40 steps should
need the same memory (each step's output leaves the model at once); keeping every
lead adds only the returned numpy array (40 x 45 fields x 32 x 64 x 4 bytes, 14 MB).

    python benchmarks/rollout_speed.py
    python benchmarks/rollout_speed.py --threads 1 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import torch
import xarray as xr

from climax_nb.data.stats import Normalizer
from climax_nb.forecast import ForecastCheckpoint, SourceSpec, climax_spec, forecast
from climax_nb.grid import WB5625
from climax_nb.model import ClimaX, preset
from climax_nb.variables import VARIABLES, is_constant

STEP_HOURS = 6
CASES = (("10 steps, last lead", 10, "last"), ("40 steps, last lead", 40, "last"), ("40 steps, every lead", 40, "all"))


def compact_checkpoint() -> ForecastCheckpoint:
    """The compact preset with random weights and unit statistics, trained (as recorded) for 6 h steps."""
    torch.manual_seed(0)
    model = ClimaX.from_config(preset("compact", drop_path=0.0, drop_rate=0.0)).eval()
    norm = Normalizer({v: 0.0 for v in model.variables}, {v: 50.0 if v == "lat" else 1.0 for v in model.variables})
    outputs = tuple(v for v in model.variables if not is_constant(v))
    source = SourceSpec("bench", norm, tuple(model.variables), outputs)
    return ForecastCheckpoint(model, climax_spec(model, WB5625, [source], trained_leads=[float(STEP_HOURS)]))


def initial_state(variables: list[str]) -> xr.Dataset:
    """One canonical time step of standard-normal fields (``lat`` comes from the coordinate)."""
    rng = np.random.default_rng(0)
    shape = WB5625.shape
    fields = {}
    for vid in variables:
        if vid == "lat":
            continue
        const = is_constant(vid)
        data = rng.standard_normal(shape if const else (1, *shape)).astype(np.float32)
        fields[vid] = xr.DataArray(data, dims=("lat", "lon") if const else ("time", "lat", "lon"),
                                   attrs={"units": VARIABLES[vid].units})
    return xr.Dataset(fields, coords={"time": pd.to_datetime(["2020-01-01"]), "lat": WB5625.lat, "lon": WB5625.lon})


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(steps: int, keep: str, repeats: int, threads: int) -> dict[str, float]:
    torch.set_num_threads(threads)
    ckpt = compact_checkpoint()
    ds = initial_state(list(ckpt.model.variables))
    leads = [STEP_HOURS * k for k in range(1, steps + 1)] if keep == "all" else [STEP_HOURS * steps]
    forecast(ckpt, ds, [STEP_HOURS], mode="iterative", step=STEP_HOURS)  # warm-up
    before = rss_mb()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fc = forecast(ckpt, ds, leads, mode="iterative", step=STEP_HOURS)
        times.append(time.perf_counter() - start)
    assert fc.sizes["lead_time"] == len(leads) and np.isfinite(fc["z500"].values).all()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return {"seconds": statistics.median(times), "rss_before_mb": before, "peak_rss_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed forecasts per case (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--worker", nargs=2, metavar=("STEPS", "KEEP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(int(args.worker[0]), args.worker[1], args.repeats, args.threads)))
        return
    print(f"compact preset, 48 variables, 32x64 grid, batch 1, {STEP_HOURS} h steps, {args.threads} threads, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'case':<22} {'time (s)':>9} {'ms/step':>8} {'RSS before (MB)':>16} {'peak RSS (MB)':>14}")
    for name, steps, keep in CASES:
        cmd = [sys.executable, __file__, "--worker", str(steps), keep, "--repeats", str(args.repeats),
               "--threads", str(args.threads)]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
        print(f"{name:<22} {r['seconds']:>9.2f} {1000 * r['seconds'] / steps:>8.1f} "
              f"{r['rss_before_mb']:>16.0f} {r['peak_rss_mb']:>14.0f}")


if __name__ == "__main__":
    main()
