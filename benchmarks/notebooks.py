"""Wall time and peak memory of every tutorial notebook, against Binder's budget (3 minutes, 2 GB).

    python benchmarks/notebooks.py                    # default setting (prepares its data and models first if absent)
    python benchmarks/notebooks.py --setting binder   # what Binder builds and runs
    python benchmarks/notebooks.py --fast             # the fast setting the tests use (--setting fast)
    python benchmarks/notebooks.py --only 05_forecasting.ipynb 06_evaluation.ipynb
    CLIMAX_NB_CACHE=$(mktemp -d) python benchmarks/notebooks.py --setting binder --build-only   # the build alone

The data, models and forecasts the notebooks share are prepared first, as
``binder/postBuild`` does (``python -m climax_nb.tutorial --setting NAME``: each
embedded source simulated in its own process, then the models trained and the
test period forecast), in a child process whose wall time, peak memory and the
size of the cache it leaves are reported on their own lines: the budget applies
to a notebook run once they exist. From an empty cache
(``CLIMAX_NB_CACHE=$(mktemp -d)``) that is the build's cost. Each notebook then
runs in a fresh kernel (nbclient); peak memory is the largest summed resident
set size of the kernel's process tree, sampled every 0.2 s with psutil. Data and
models are cached in ``$CLIMAX_NB_CACHE`` (default ``~/.cache/climax_nb``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

from climax_nb.storage import cache_root

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
BUDGET_S, BUDGET_MB = 180.0, 2048.0
SETTINGS = ("default", "binder", "fast")  # climax_nb.tutorial.SETTINGS, without importing it


class PeakRSS:
    """Samples the summed RSS of a process tree in a thread; ``peak_mb`` is the largest seen."""

    def __init__(self, roots: Callable[[], list[psutil.Process]], every_s: float = 0.2):
        self.roots, self.every_s, self.peak_mb = roots, every_s, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> float:
        total = 0
        for root in self.roots():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
            for proc in procs:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
        return total / 2**20

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._sample())
            self._stop.wait(self.every_s)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def build_models(env: dict[str, str], setting: str) -> tuple[float, float]:
    """Prepare (or find) the setting's data and models in a child process; return its wall time (s) and peak MB."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "climax_nb.tutorial", "--setting", setting], env=env)
    with PeakRSS(lambda: [psutil.Process(proc.pid)]) as peak:  # with the simulations it starts
        code = proc.wait()
    if code:
        raise SystemExit(f"preparing the {setting} setting failed (exit code {code})")
    return time.perf_counter() - start, peak.peak_mb


def cache_size(root: Path) -> str:
    """``du -sh`` of the cache and of its parts (embedded data, runs, JAX compilation cache)."""
    parts = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
    out = subprocess.run(["du", "-sh", *map(str, parts)], capture_output=True, text=True, check=True).stdout
    return "; ".join(f"{Path(path).name if Path(path) != root else 'all'} {size}"
                     for size, path in (line.split("\t", 1) for line in out.splitlines()))


def run_notebook(path: Path, timeout_s: int) -> tuple[float, float, str]:
    """Execute one notebook in a fresh kernel; return wall time (s), peak kernel memory (MB) and any error."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout_s, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    me = psutil.Process()
    error = ""
    start = time.perf_counter()
    with PeakRSS(lambda: me.children()) as peak:  # the kernel (and anything it starts)
        try:
            client.execute()
        except Exception as err:  # report and go on to the next notebook
            error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1][:120]}"
    return time.perf_counter() - start, peak.peak_mb, error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setting", choices=SETTINGS, default="default", help="the setting to run (CLIMAX_NB_SETTING)")
    parser.add_argument("--fast", action="store_true", help="the fast setting the tests use (--setting fast)")
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME", help="notebooks to run (default: all)")
    parser.add_argument("--build-only", action="store_true", help="prepare the setting and report it; no notebooks")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    args = parser.parse_args()

    setting = "fast" if args.fast else args.setting
    os.environ.pop("CLIMAX_NB_FAST", None)  # it would win over the setting
    os.environ["CLIMAX_NB_SETTING"] = setting
    os.environ.setdefault("MPLBACKEND", "Agg")
    names = args.only or sorted(p.name for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    cache = cache_root()
    print(f"setting: {setting}; cache: {cache}; {psutil.cpu_count()} cores; load average "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)
    build_s, build_mb = build_models(dict(os.environ), setting)
    print(f"\ndata, models and forecasts ready in {build_s:.0f} s (peak {build_mb:.0f} MB); "
          "not part of the notebook budget")
    print(f"cache size: {cache_size(cache)}; load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    if args.build_only:
        return
    print()

    print("| notebook | wall time (s) | budget (s) | peak memory (MB) | budget (MB) | within |")
    print("|---|---|---|---|---|---|")
    for name in names:
        seconds, mb, error = run_notebook(NOTEBOOKS_DIR / name, args.timeout)
        ok = "yes" if seconds <= BUDGET_S and mb <= BUDGET_MB and not error else "no"
        print(f"| {name} | {seconds:.0f} | {BUDGET_S:.0f} | {mb:.0f} | {BUDGET_MB:.0f} | {ok} |"
              + (f" {error}" if error else ""), flush=True)
    print("\nload average " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
