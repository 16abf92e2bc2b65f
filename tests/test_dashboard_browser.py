"""The dashboard in a real browser (Debian's chromium driven by Playwright) and under 20 concurrent sessions.

One server per module, started with ``climax-nb dashboard`` on a free loopback
port with a tiny checkpoint and tiny data, and stopped by its process id.
"""

from __future__ import annotations

import io
import threading
import time
from urllib.parse import urlparse

import numpy as np
import pytest

from tests.dashboard_helpers import Server, chromium

pytestmark = pytest.mark.browser  # drives Debian's chromium with Playwright

LOAD_TIMEOUT = 900  # s: 20 sessions built one after another by one server on two loaded cores


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("dashboard"))
    yield srv
    srv.stop()


def _colours(png: bytes) -> int:
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    return len(np.unique(image.reshape(-1, 3), axis=0))


def _changed(locator, before: bytes, timeout: float = 60.0) -> bytes:
    """The element's screenshot once it differs from ``before`` (fails after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        after = locator.screenshot()
        if after != before:
            return after
        time.sleep(0.5)
    pytest.fail(f"{locator} did not change within {timeout} s")


def test_page_in_chromium(server):
    """Load, move the lead slider, change the variable, click the attention map, open a masked model and change
    its task; all local, no console error."""
    from playwright.sync_api import sync_playwright

    requests, problems = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(server.url, timeout=300_000)
            maps = {w: page.locator(f".cnb-map-{w} canvas").first for w in ("truth", "forecast", "error")}
            for loc in maps.values():
                loc.wait_for(timeout=300_000)
            page.wait_for_timeout(2000)
            shots = {w: loc.screenshot() for w, loc in maps.items()}
            for which, png in shots.items():
                assert _colours(png) > 30, f"the {which} map looks blank"

            page.locator(".cnb-lead .noUi-handle").first.focus()
            page.keyboard.press("ArrowRight")
            after_lead = {w: _changed(maps[w], shots[w]) for w in ("forecast", "error")}
            assert _colours(after_lead["forecast"]) > 30

            page.locator(".cnb-variable select").first.select_option("z500")
            _changed(maps["truth"], shots["truth"])

            bars = page.locator(".cnb-attention-bars canvas").first
            bars.scroll_into_view_if_needed()
            before_bars = bars.screenshot()
            amap = page.locator(".cnb-attention-map canvas").first
            box = amap.bounding_box()
            page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.35)
            _changed(bars, before_bars)

            page.locator(".cnb-entry select").first.select_option(index=1)
            # the message lives in the alert's shadow DOM, which text locators pierce
            page.locator(".cnb-error").get_by_text("is not a usable forecast checkpoint").first.wait_for(
                timeout=120_000)

            page.locator(".cnb-entry select").first.select_option(index=2)  # the masked model's card
            masked = {w: page.locator(f".cnb-masked-{w} canvas").first for w in ("input", "reconstruction", "spread")}
            for loc in masked.values():
                loc.wait_for(timeout=300_000)
            masked["reconstruction"].scroll_into_view_if_needed()
            page.wait_for_timeout(2000)
            before = {w: loc.screenshot() for w, loc in masked.items()}
            assert _colours(before["reconstruction"]) > 30, "the reconstruction looks blank"
            page.locator(".cnb-task select").first.select_option("infill")
            _changed(masked["input"], before["input"])  # the box instead of the whole last slab
            page.locator(".cnb-coupling-matrix canvas").first.wait_for(timeout=60_000)
            page.locator(".cnb-crps canvas").first.wait_for(timeout=60_000)
        finally:
            browser.close()
    outside = [u for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss")
               and urlparse(u).hostname != "127.0.0.1"]
    assert not outside, f"requests left the machine: {outside}"
    assert not problems, f"browser console errors: {problems}"
    assert "Traceback" not in server.output(), server.output()


def test_twenty_sessions_at_once(server, monkeypatch):
    """20 concurrent sessions on loopback, each pulling its whole document over the websocket; all served."""
    from tornado.httpclient import HTTPRequest

    # the client's 20 s connect and request timeouts would fail sessions queued behind others on two loaded
    # cores; the bound on the whole run is LOAD_TIMEOUT below
    for name in ("connect_timeout", "request_timeout"):
        monkeypatch.setitem(HTTPRequest._DEFAULTS, name, float(LOAD_TIMEOUT))
    import geoviews.models  # noqa: F401  (registers the custom Bokeh models the documents hold)
    import panel.models  # noqa: F401
    from bokeh.client import pull_session

    n, documents, errors = 20, [], []

    def one() -> None:
        try:
            with pull_session(url=server.url) as session:
                classes = {c for m in session.document.models for c in (getattr(m, "css_classes", None) or [])}
                documents.append(classes)
        except Exception as err:  # collected and reported below
            errors.append(repr(err))

    start = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=LOAD_TIMEOUT)
    elapsed = time.monotonic() - start
    assert not errors, errors
    assert len(documents) == n, f"{n - len(documents)} of {n} sessions unanswered after {elapsed:.0f} s"
    # every session carries its own document, with the three maps in it
    maps = {f"cnb-map-{w}" for w in ("truth", "forecast", "error")}
    missing = [sorted(maps - classes) for classes in documents if not maps <= classes]
    assert not missing, f"{len(missing)} of {n} sessions without maps: {missing[0]}"
    assert elapsed < LOAD_TIMEOUT, f"20 sessions took {elapsed:.0f} s"
    log = server.output()
    assert "Traceback" not in log and "ERROR" not in log, log
