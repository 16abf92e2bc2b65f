"""Rollout (multi-step) fine-tuning's cost per optimiser step and its peak memory, against the chain's length.

The packaged ``finetune-rollout-compact`` model (every variable of the embedded reanalysis
in and out, patches of 4, the seasonal damped residual, head smoothing and zonal filter) on
a batch of ``data.batch_size`` random states with ``data.rollout_steps`` K chained 6-hour
steps: forward through the chain, the loss (with ``--spectral-weight``, the spectral term),
backward through every step, an AdamW step. Each K runs in a fresh process, so its peak
resident set (RSS) is its own; the chain keeps every step's activations for the backward
pass, so time and memory grow with K. The last column multiplies the step time by
``--budget`` optimiser steps (the README's 24-step runs took 56). A real run holds more: the
training years in memory and the loaders (`/usr/bin/time -v` gave 9.8 GB peak for 24 steps,
against 5.5 GB here, and 6.0 min wall for its 56 steps and start-up, against 5.7 min here).

    python benchmarks/rollout_training_speed.py
    python benchmarks/rollout_training_speed.py --rollout-steps 4 24 --repeats 5
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
import torch
import xarray as xr

from climax_nb.config import load_yaml
from climax_nb.data.embedded import get_config
from climax_nb.defaults import CONFIGS
from climax_nb.grid import WB5625
from climax_nb.train.module import ForecastModule, LossConfig
from climax_nb.train.run import RunConfig
from climax_nb.variables import is_constant, is_forcing

CONFIG = "finetune-rollout-compact"


def module_and_batch(steps: int, spectral_weight: float) -> tuple[ForecastModule, dict]:
    """The packaged rollout config's module (random weights) and a random batch of ``steps``-step chains."""
    cfg = load_yaml(RunConfig, CONFIGS / f"{CONFIG}.yaml")
    names = [v for v in get_config("reanalysis").variables if v != "lat"]  # lat: the coordinate
    grid = xr.Dataset({v: (("lat", "lon"), np.zeros(WB5625.shape, np.float32)) for v in names},
                      coords={"lat": WB5625.lat, "lon": WB5625.lon})
    torch.manual_seed(0)
    loss = LossConfig(spectral_weight=spectral_weight)
    module = ForecastModule.build(cfg.model.build({"reanalysis": grid}), cfg.optim, WB5625.lat, WB5625.lon,
                                  loss=loss).train()
    inputs = list(module.net.variables)
    outputs = [v for v in inputs if not is_constant(v) and not is_forcing(v)]
    forcings = [v for v in inputs if is_forcing(v)]
    b, shape = cfg.data.batch_size, WB5625.shape
    batch = {
        "x": torch.randn(b, len(inputs), *shape), "y": torch.randn(b, steps, len(outputs), *shape),
        "forcings": torch.randn(b, steps - 1, len(forcings), *shape),
        "lead_time": torch.full((b,), 6.0), "variables": inputs, "out_variables": outputs,
        "init_time": torch.arange(b, dtype=torch.int64) * 86_400 * 10**9,
    }
    return module, batch


def worker(steps: int, repeats: int, threads: int, spectral_weight: float) -> dict[str, float]:
    torch.set_num_threads(threads)
    module, batch = module_and_batch(steps, spectral_weight)
    optimiser = torch.optim.AdamW(module.parameters(), lr=1e-4)

    def step() -> float:
        start = time.perf_counter()
        optimiser.zero_grad(set_to_none=True)
        loss, _ = module.compute_loss(batch)
        loss.backward()
        optimiser.step()
        return time.perf_counter() - start

    step()  # warm-up
    seconds = statistics.median(step() for _ in range(repeats))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return {"seconds": seconds, "peak_rss_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rollout-steps", type=int, nargs="+", default=[1, 4, 8, 16, 24])
    parser.add_argument("--repeats", type=int, default=3, help="timed optimiser steps per chain length (median)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--spectral-weight", type=float, default=0.1, help="loss.spectral_weight (0: MSE only)")
    parser.add_argument("--budget", type=int, default=56, help="optimiser steps of the last column")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.repeats, args.threads, args.spectral_weight)))
        return
    batch = load_yaml(RunConfig, CONFIGS / f"{CONFIG}.yaml").data.batch_size
    print(f"{CONFIG} (random weights, batch {batch}), {args.threads} threads, spectral weight "
          f"{args.spectral_weight:g}, {args.repeats} timed steps each, load average {os.getloadavg()[0]:.2f}\n")
    print(f"| chain steps | s per optimiser step | peak RSS (GB) | {args.budget} steps (min) |\n|---|---|---|---|")
    for k in args.rollout_steps:
        cmd = [sys.executable, __file__, "--worker", str(k), "--repeats", str(args.repeats),
               "--threads", str(args.threads), "--spectral-weight", str(args.spectral_weight)]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
        print(f"| {k} | {r['seconds']:.2f} | {r['peak_rss_mb'] / 1024:.1f} | {args.budget * r['seconds'] / 60:.1f} |")


if __name__ == "__main__":
    main()
