"""Time the dashboard's widget updates: on the server, and as seen in a browser.

Server: builds the page for a checkpoint and data (default: a tiny random
checkpoint and tiny data on the package's 5.625-degree grid, made here) and times
the work one widget change does in Python (updating the figures in place).

Browser (``--browser``): serves the tiny page with ``climax-nb dashboard``, opens it
in Debian's chromium through Playwright and times each widget move from the input
event until the affected map's canvas shows new pixels: the whole round trip of
the server's work, the websocket and the browser's drawing. Prints medians and maxima.

    python benchmarks/dashboard_update.py                      # tiny model and data, made here
    python benchmarks/dashboard_update.py --browser            # also the round trip in chromium
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
    from tests.dashboard_helpers import SETTINGS, write_tiny

    model, data = write_tiny(folder)
    return str(model), str(data), ["--leads", *map(str, SETTINGS.leads), "--inits", "3", "--every", "12"]


def _report(label: str, wall: list[float], repeats: int, cpu: list[float] | None = None) -> None:
    text = f"{label:<28} wall median {1000 * statistics.median(wall):7.1f} ms, max {1000 * max(wall):7.1f} ms"
    if cpu is not None:
        text += f"; CPU median {1000 * statistics.median(cpu):7.1f} ms"
    print(f"{text}   ({repeats} updates)")


def _time(label: str, action, repeats: int) -> None:
    """Wall-clock and CPU time of ``repeats`` updates (CPU time is what a busy machine does not inflate)."""
    wall, cpu = [], []
    for i in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        action(i)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    _report(label, wall, repeats, cpu)


def _round_trip(label: str, canvas, action, repeats: int, timeout: float = 30.0) -> None:
    """Time from ``action(i)`` until ``canvas`` shows different pixels (polled as fast as the page answers).

    Moves are 0.6 s apart, as a person's are: two clicks closer in time count as a double click.
    """
    wall = []
    for i in range(repeats):
        time.sleep(0.6)
        before = canvas.evaluate("c => c.toDataURL()")
        start = time.perf_counter()
        action(i)
        while canvas.evaluate("c => c.toDataURL()") == before:
            if time.perf_counter() - start > timeout:
                raise RuntimeError(f"{label}: the map did not change within {timeout} s (update {i})")
        wall.append(time.perf_counter() - start)
    _report(f"{label} (browser)", wall, repeats)


def browser(repeats: int) -> None:
    """Round trips of each widget move in chromium, against ``climax-nb dashboard`` on loopback."""
    from playwright.sync_api import sync_playwright

    from tests.dashboard_helpers import SETTINGS, Server, chromium

    server = Server(Path(tempfile.mkdtemp(prefix="dashboard-browser-")))
    try:
        with sync_playwright() as pw:
            chrome = pw.chromium.launch(executable_path=chromium(), headless=True, args=["--no-sandbox"])
            page = chrome.new_page(viewport={"width": 1400, "height": 1600})
            page.goto(server.url, timeout=300_000)
            canvas = {name: page.locator(f".cnb-{name} canvas").first
                      for name in ("map-truth", "map-forecast", "attention-bars")}
            for c in canvas.values():
                c.wait_for(timeout=300_000)
            page.wait_for_timeout(2000)
            handle = page.locator(".cnb-lead .noUi-handle").first
            handle.focus()
            _round_trip("lead slider", canvas["map-forecast"],
                        lambda i: page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft"), repeats)
            variables = ["z500", "t850", "t2m"]
            _round_trip("variable", canvas["map-truth"], lambda i: page.locator(".cnb-variable select").first
                        .select_option(variables[i % len(variables)]), repeats)
            _round_trip("initial time", canvas["map-truth"], lambda i: page.locator(".cnb-init select").first
                        .select_option(index=(i + 1) % SETTINGS.n_inits), repeats)
            amap = page.locator(".cnb-attention-map canvas").first
            amap.scroll_into_view_if_needed()
            box = amap.bounding_box()
            _round_trip("click on the attention map", canvas["attention-bars"], lambda i: page.mouse.click(
                box["x"] + box["width"] * (0.25 + 0.5 * (i % 2)), box["y"] + box["height"] * 0.5), repeats)
            chrome.close()
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--data", default=None)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--browser", action="store_true", help="also time the round trip in chromium")
    known, rest = parser.parse_known_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' tiny checkpoint and server
    folder = Path(tempfile.mkdtemp(prefix="dashboard-bench-"))
    if known.checkpoint is None:
        model, data, rest = _tiny(folder)
    else:
        model, data = known.checkpoint, known.data or "embedded/reanalysis"
    from bokeh.document import Document

    from climax_nb.dashboard.options import page_options
    from climax_nb.dashboard.serve import dashboard_from_argv

    argv = ["--checkpoint", model, "--data", data, "--search", str(folder / "none"), *rest]
    if known.checkpoint is None and page_options(argv).cache is None:
        argv += ["--cache", str(folder / "cache")]  # the tiny results stay out of the user's cache
    start = time.perf_counter()
    app = dashboard_from_argv(argv)
    if app.alert.visible:
        raise SystemExit(f"the page shows a problem instead of maps: {app.alert.object}")
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
    if known.browser:
        browser(known.repeats)


if __name__ == "__main__":
    main()
