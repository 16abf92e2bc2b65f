"""How fast the embedded GCM runs here, and how long the default sources take to generate.

For each truncation, builds the model of a default-physics source, times the
first chunk (compilation plus simulation), then further chunks (simulation
only), and the post-processing (vertical interpolation and regridding) of a
chunk. Prints seconds per simulated day (wall clock, and CPU time summed over
threads, which other jobs on the machine disturb less), the compile time, and
the projected time to generate every source at its default length. JAX's persistent
compilation cache is left off, so compile times are honest.

    python benchmarks/simulate_speed.py                 # T21 and T31, 3 x 10-day chunks
    python benchmarks/simulate_speed.py --truncations 21 --chunks 2 --chunk-days 5
    python benchmarks/simulate_speed.py --side-by-side 30   # two sources one after another, then at once

``--side-by-side DAYS`` generates two T21 sources (no spin-up) with
``generate_all`` into fresh caches, first with one worker and then with one per
core, and prints both wall times: what the main job gains from simulating its
sources in parallel processes.

``--gcm-rows N`` times the main job's GCM rows (``gcm_forecast_pair``, both kinds, leads 6-120 h)
from the first N of its weekly initial times of 2003, in one process and then split among one
per core, on the reanalysis already in the cache (``climax-nb data``, ``CLIMAX_NB_CACHE``), with
jcm's programs in the persistent compilation cache after a first untimed run of one initial time.

    python benchmarks/simulate_speed.py --gcm-rows 12
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time

from climax_nb.data.embedded import generate_all, sources
from climax_nb.data.embedded.configs import get_config
from climax_nb.data.embedded.postprocess import Postprocessor
from climax_nb.data.embedded.simulate import Simulation


def _now() -> tuple[float, float]:
    """(wall clock, process CPU time summed over threads) in seconds."""
    return time.perf_counter(), time.process_time()


def _per(a: tuple[float, float], b: tuple[float, float], n: float = 1.0) -> tuple[float, float]:
    return (b[0] - a[0]) / n, (b[1] - a[1]) / n


def measure(truncation: int, chunk_days: int, chunks: int) -> dict[str, tuple[float, float]]:
    """Build, compile and run a default-physics model at ``truncation``.

    Returns (wall, CPU) seconds for: building, compiling, one simulated day,
    and post-processing one day, plus the last chunk's mean t2m as a sanity value.
    """
    config = dataclasses.replace(
        get_config("reanalysis"), name=f"bench-t{truncation}", truncation=truncation, spinup_days=0
    )
    sim = Simulation(config, days=chunk_days * (chunks + 1), chunk_days=chunk_days)
    t0 = _now()
    grid = sim.build()
    t1 = _now()
    stream = sim.chunks(progress=False)
    first = next(stream)
    t2 = _now()
    for _ in range(chunks):
        chunk = next(stream)
    t3 = _now()
    Postprocessor(config, grid)(first, with_constants=True)
    t4 = _now()
    day = _per(t2, t3, chunks * chunk_days)
    first_chunk = _per(t1, t2)
    return {
        "build": _per(t0, t1),
        "compile": (first_chunk[0] - chunk_days * day[0], first_chunk[1] - chunk_days * day[1]),
        "day": day,
        "post_day": _per(t3, t4, chunk_days),
        "t2m": (float(chunk.fields["t2m"].mean()),) * 2,
    }


def project(timings: dict[int, dict], clock: int) -> None:
    """Print the generation time of every source at its default length (0: wall, 1: CPU)."""
    total = 0.0
    for name, cfg in sources().items():
        if cfg.truncation not in timings:
            print(f"  {name:16s} T{cfg.truncation} not measured (add it to --truncations)")
            continue
        t = {k: v[clock] for k, v in timings[cfg.truncation].items()}
        days = cfg.spinup_days + cfg.default_days
        seconds = t["build"] + t["compile"] + days * t["day"] + cfg.default_days * t["post_day"]
        total += seconds
        print(
            f"  {name:16s} T{cfg.truncation}, {cfg.spinup_days} + {cfg.default_days} days: "
            f"{seconds / 60:5.1f} min"
        )
    print(f"  total (measured truncations): {total / 60:.1f} min")


def side_by_side(days: int) -> None:
    """Wall time of generating two T21 sources with one worker, then with one per core."""
    configs = [dataclasses.replace(get_config(name), name=f"bench-{name}", spinup_days=0)
               for name in ("warm-sst", "fast-convection")]
    seconds = {}
    for workers in (1, os.cpu_count() or 1):
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            generate_all(configs, length=days, cache_dir=cache, workers=workers, progress=False)
            seconds[workers] = time.perf_counter() - start
        print(f"{len(configs)} sources x {days} days, {workers} worker(s): {seconds[workers]:.0f} s wall "
              "(compilation included, no compilation cache)")
    one, many = seconds[1], seconds[max(seconds)]
    print(f"speed-up {one / many:.2f}x with {max(seconds)} workers on {os.cpu_count()} cores; "
          f"load average now {os.getloadavg()[0]:.1f}")


def gcm_rows_side_by_side(n_inits: int) -> None:
    """Wall time of the GCM rows from ``n_inits`` weekly initial times, one process against one per core."""
    import numpy as np

    from climax_nb.data.embedded.predictability import gcm_forecast_pair
    from climax_nb.defaults import EVAL_LEADS, REANALYSIS_TEST
    from climax_nb.workflow import GCM_EVERY_DAYS

    if n_inits < 2:
        raise SystemExit(f"--gcm-rows needs at least 2 initial times to split, got {n_inits}")
    step = np.timedelta64(int(GCM_EVERY_DAYS * 86400), "s")
    inits = np.datetime64(f"{REANALYSIS_TEST[0]}-01-01T00", "ns") + np.arange(n_inits) * step
    leads = list(EVAL_LEADS)
    gcm_forecast_pair(inits[:1], leads, variables=["z500"], progress=False)  # compiles, untimed
    seconds = {}
    for workers in (1, os.cpu_count() or 1):
        start = time.perf_counter()
        gcm_forecast_pair(inits, leads, variables=["z500", "t850", "t2m", "u10"], progress=False, workers=workers)
        seconds[workers] = time.perf_counter() - start
        print(f"GCM rows, {n_inits} initial times, {workers} process(es): {seconds[workers]:.0f} s wall")
    one, many = seconds[1], seconds[max(seconds)]
    print(f"speed-up {one / many:.2f}x with {max(seconds)} processes on {os.cpu_count()} cores; "
          f"load average now {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truncations", type=int, nargs="+", default=[21, 31])
    parser.add_argument("--chunk-days", type=int, default=10)
    parser.add_argument("--chunks", type=int, default=3, help="timed chunks after the first")
    parser.add_argument("--side-by-side", type=int, default=None, metavar="DAYS",
                        help="only time generating two sources of DAYS days serially and in parallel")
    parser.add_argument("--gcm-rows", type=int, default=None, metavar="N",
                        help="only time the GCM rows from N weekly initial times, one process against one per core")
    args = parser.parse_args()
    if args.gcm_rows is not None:
        gcm_rows_side_by_side(args.gcm_rows)
        return
    if args.side_by_side:
        side_by_side(args.side_by_side)
        return

    timings = {}
    for truncation in args.truncations:
        t = timings[truncation] = measure(truncation, args.chunk_days, args.chunks)
        print(
            f"T{truncation}: {t['day'][0]:.3f} s per simulated day ({t['day'][1]:.3f} s CPU), "
            f"compile {t['compile'][0]:.1f} s ({t['compile'][1]:.1f} s CPU), "
            f"build {t['build'][0]:.1f} s, post-processing {t['post_day'][0]:.3f} s per day; "
            f"mean t2m {t['t2m'][0]:.1f} K"
        )
    print("\nprojected generation time at the default lengths, wall clock here:")
    project(timings, 0)
    print("same from CPU time (what one otherwise idle core would take):")
    project(timings, 1)


if __name__ == "__main__":
    main()
