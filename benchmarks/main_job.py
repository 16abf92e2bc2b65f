"""Wall time of each step of the README's main job, and whether training fits its 20-minute budget.

Runs ``climax_nb.workflow.main_job`` (what ``climax-nb demo`` runs, without the
summary figures): the embedded data (generated unless cached), compact pretraining,
fine-tuning, the forecast of the test year and its scores, with the embedded GCM's own
forecasts as the rows ``gcm-analysis`` and ``gcm-twin`` (step ``GCM rows``; ``--no-gcm-rows``
leaves them out). The sources are simulated side by side, one per core (``--workers 1``: one
after another, to compare). Prints one row per step and the training total, which should stay
under 20 minutes on 2 CPU cores.

    python benchmarks/main_job.py --out outputs/main_job_benchmark
    python benchmarks/main_job.py --steps-scale 0.02 --days 20   # the path in minutes
"""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from climax_nb import workflow
from climax_nb.data import embedded

BUDGET_MINUTES = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="outputs/main_job_benchmark", help="folder for runs, forecast and scores")
    parser.add_argument("--steps-scale", type=float, default=1.0, help="scale of the packaged step budgets")
    parser.add_argument("--days", type=int, default=None, help="embedded days (default: the full years)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-gcm-rows", dest="gcm_rows", action="store_false",
                        help="leave the embedded GCM's own forecasts (gcm-analysis, gcm-twin) out of the scores")
    parser.add_argument("--workers", type=int, default=None,
                        help="sources simulated at once (default: one per core; 1: one after another)")
    args = parser.parse_args()

    def prepare_data(alongside: Mapping[str, Callable[[], object]]) -> None:
        embedded.generate_all(embedded.default_sources(), length=args.days, workers=args.workers,
                              alongside=alongside)

    load = os.getloadavg()[0]
    job = workflow.main_job(Path(args.out), steps_scale=args.steps_scale, days=args.days, seed=args.seed,
                            prepare_data=prepare_data, gcm_rows=args.gcm_rows)
    trained = job.times.seconds["pretraining"] + job.times.seconds["fine-tuning"]
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
          f"{torch.get_num_threads()}, load average at start {load:.1f}, end {os.getloadavg()[0]:.1f}\n")
    print(job.times.table())
    verdict = "within" if trained <= BUDGET_MINUTES * 60 else "OVER"
    print(f"\ntraining {trained / 60:.1f} min: {verdict} the {BUDGET_MINUTES:.0f}-minute budget")
    print(f"scores: {job.scores}")


if __name__ == "__main__":
    main()
