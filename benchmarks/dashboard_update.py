"""Time the dashboard's widget updates: what the server does when the lead slider, variable or click moves.

Builds the page for a checkpoint and data (default: a tiny random checkpoint and
tiny data made here), then times, over many updates, the server-side work of one
widget change: the DynamicMap callbacks and the Bokeh model update for the three
maps, the attention bars and the heat map. Prints the median and the maximum.

    python benchmarks/dashboard_update.py                      # tiny model and data, made here
    python benchmarks/dashboard_update.py --checkpoint outputs/runs/finetune/model.pt --data embedded/reanalysis
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _tiny(folder: Path) -> tuple[str, str, list[str]]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.test_dashboard_helpers import SETTINGS, write_tiny

    model, data = write_tiny(folder)
    return str(model), str(data), ["--leads", *map(str, SETTINGS.leads), "--inits", "3", "--every", "12"]


def _time(label: str, action, repeats: int) -> None:
    """Wall-clock and CPU time of ``repeats`` updates (CPU time is what a busy machine does not inflate)."""
    wall, cpu = [], []
    for i in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        action(i)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    print(f"{label:<28} wall median {1000 * statistics.median(wall):7.1f} ms, max {1000 * max(wall):7.1f} ms; "
          f"CPU median {1000 * statistics.median(cpu):7.1f} ms   ({repeats} updates)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--data", default=None)
    parser.add_argument("--repeats", type=int, default=20)
    known, rest = parser.parse_known_args()
    folder = Path(tempfile.mkdtemp(prefix="dashboard-bench-"))
    if known.checkpoint is None:
        model, data, rest = _tiny(folder)
    else:
        model, data = known.checkpoint, known.data or "embedded/reanalysis"
    from bokeh.document import Document

    from climax_nb.dashboard.options import page_parser
    from climax_nb.dashboard.serve import dashboard_from_argv

    argv = ["--checkpoint", model, "--data", data, "--search", str(folder / "none"), *rest]
    if page_parser().parse_known_args(argv)[0].cache is None:
        argv += ["--cache", str(folder / "cache")]
    start = time.perf_counter()
    app = dashboard_from_argv(argv)
    page = app.panel()
    print(f"first build (forecasts, scores)   {time.perf_counter() - start:7.1f} s")
    doc = Document()
    start = time.perf_counter()
    page.server_doc(doc)
    print(f"render the page into a document   {time.perf_counter() - start:7.1f} s")
    leads, variables = list(app.lead.values), list(app.variable.options)
    _time("lead slider", lambda i: setattr(app.lead, "value", leads[(i + 1) % len(leads)]), known.repeats)
    _time("variable", lambda i: setattr(app.variable, "value", variables[(i + 1) % len(variables)]), known.repeats)
    _time("initial time", lambda i: setattr(app.init, "value", list(app.init.values)[(i + 1) % len(app.init.values)]),
          known.repeats)
    if app.results.model is not None:
        _time("click on the attention map", lambda i: app.select_point((37.0 * i) % 360, -60 + (11.0 * i) % 120),
              known.repeats)


if __name__ == "__main__":
    main()
