"""``climax-nb dashboard``: run ``panel serve`` on the dashboard page, on loopback unless told otherwise.

The command-line options are parsed twice with the same parser: once by the
command (to warm the cache and choose a port) and once per session by the page
(``panel serve ... --args <options>``). Both run in one process, so sessions share
the results computed in memory.
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from climax_nb.config import parse_options
from climax_nb.dashboard.options import DEFAULT_PORT, PageOptions, ServerOptions, page_options

PAGE = Path(__file__).resolve().parent / "pages" / "dashboard.py"


def dashboard_from_argv(argv: Sequence[str]):
    """The ``Dashboard`` for the page's options (widgets and views, before layout)."""
    from climax_nb.dashboard.app import extensions, make_dashboard

    extensions()
    opts = page_options(list(argv))
    data, settings = opts.settings()
    return make_dashboard(list(opts.checkpoint), list(opts.forecast), data=data, settings=settings,
                          search=opts.search_roots(), cache_dir=opts.cache, variable=opts.variable,
                          projection=opts.projection)


def page_from_argv(argv: Sequence[str]):
    """The page for the options after ``--args`` (called once per session by ``panel serve``)."""
    return dashboard_from_argv(argv).panel()


def free_port(address: str, preferred: int = DEFAULT_PORT) -> int:
    """``preferred`` if nothing listens there, else a port the system picks."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind((address, port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise OSError(f"no free port on {address}")


def serve_argv(server: ServerOptions, port: int, page_args: Sequence[str]) -> list[str]:
    """``panel serve`` arguments for the page on ``address:port``."""
    hosts = {f"{server.address}:{port}", f"localhost:{port}", f"127.0.0.1:{port}", *server.allow_websocket_origin}
    argv = ["panel", "serve", str(PAGE), "--address", server.address, "--port", str(port)]
    for host in sorted(hosts):
        argv += ["--allow-websocket-origin", host]
    if server.show:
        argv.append("--show")
    return [*argv, "--args", *page_args]


def warm(page: PageOptions) -> None:
    """Compute (or read) the first entry's results before the first visitor arrives."""
    from climax_nb.dashboard.app import shared_store
    from climax_nb.dashboard.discover import entries
    from climax_nb.dashboard.errors import DashboardError

    data, settings = page.settings()
    found = entries(list(page.checkpoint), list(page.forecast), page.search_roots())
    if not found:
        return
    print(f"preparing {found[0].label} ...", flush=True)
    try:
        shared_store(data, settings, page.cache).get(found[0])
    except DashboardError as err:
        print(f"the page will show: {err}", flush=True)


def serve(args: argparse.Namespace) -> int:
    """Run ``panel serve`` in this process (same process id) until interrupted."""
    from panel.command import main as panel_main

    page, server = parse_options(PageOptions, args), parse_options(ServerOptions, args)
    port = server.port if server.port is not None else free_port(server.address)
    warm(page)
    print(f"dashboard: http://{server.address}:{port}/dashboard", flush=True)
    saved = sys.argv
    sys.argv = serve_argv(server, port, page.to_args())
    try:
        panel_main()
    finally:
        sys.argv = saved
    return 0
