"""What the damped residual base, its seasonal mean field, the head smoothing and the zonal filter cost per step.

The main job's fine-tuning step of the compact model (batch 16, 32x64 grid, patches of 4, every
variable in and out, residual) with each optional part (``ClimaXConfig.residual_damping``,
``seasonal_harmonics``, ``head_smoothing``, ``head_zonal_filter``) on and off: forward, loss and
backward, median wall time over repeats with the variants interleaved, so that machine load hits
them alike. Run it on an idle machine.

    python benchmarks/head_parts_speed.py
    python benchmarks/head_parts_speed.py --repeats 20 --smoothing 3 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from climax_nb.model import ClimaX, preset
from climax_nb.variables import CLIMAX_DEFAULT_IDS


def step_seconds(model: ClimaX, x: torch.Tensor, lead: torch.Tensor, inputs: list[str], outputs: list[str],
                 init_times: torch.Tensor) -> float:
    """One forward, MSE and backward, in seconds."""
    model.zero_grad(set_to_none=True)
    start = time.perf_counter()
    model(x, lead, inputs, outputs, init_times=init_times).pow(2).mean().backward()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--smoothing", type=int, nargs="+", default=[5], help="kernel widths to time")
    parser.add_argument("--harmonics", type=int, default=3, help="annual harmonics of the seasonal variant")
    args = parser.parse_args()

    outputs = [v for v in CLIMAX_DEFAULT_IDS if v not in ("lsm", "orography", "lat")]  # the 45 dynamic ones
    base = preset("compact", patch_size=4, residual=True, drop_path=0.0, drop_rate=0.0)
    variants = {"plain residual": base, "damped residual": base.replace(residual_damping=True)}
    for k in args.smoothing:
        variants[f"smoothing {k}"] = base.replace(head_smoothing=k)
        variants[f"damped + smoothing {k}"] = base.replace(residual_damping=True, head_smoothing=k)
        variants[f"damped, {args.harmonics} harmonics + smoothing {k}"] = base.replace(
            residual_damping=True, seasonal_harmonics=args.harmonics, head_smoothing=k)
        variants[f"damped, {args.harmonics} harmonics + smoothing {k} + zonal filter"] = base.replace(
            residual_damping=True, seasonal_harmonics=args.harmonics, head_smoothing=k, head_zonal_filter=True)
    torch.manual_seed(0)
    models = {name: ClimaX.from_config(cfg).train() for name, cfg in variants.items()}
    x = torch.randn(args.batch, len(CLIMAX_DEFAULT_IDS), *base.img_size)
    lead = torch.full((args.batch,), 72.0)
    init_times = torch.arange(args.batch, dtype=torch.int64) * 86_400 * 10**9  # a day apart from 1970-01-01
    every = list(CLIMAX_DEFAULT_IDS)
    times: dict[str, list[float]] = {name: [] for name in models}
    for model in models.values():  # warm-up
        step_seconds(model, x, lead, every, outputs, init_times)
    for _ in range(args.repeats):
        for name, model in models.items():
            times[name].append(step_seconds(model, x, lead, every, outputs, init_times))
    plain = statistics.median(times["plain residual"])
    print(f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}, batch {args.batch}, "
          f"{len(every)} variables in, {len(outputs)} out, {args.repeats} repeats, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| variant | step (ms, median) | against plain |\n|---|---|---|")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"| {name} | {1000 * median:.0f} | {100 * (median / plain - 1):+.1f} % |")


if __name__ == "__main__":
    main()
