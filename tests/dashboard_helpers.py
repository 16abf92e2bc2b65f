"""A tiny checkpoint, tiny data, a free loopback port and a served dashboard for the tests (no test here)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from climax_nb.dashboard.settings import Settings
from climax_nb.forecast import save_forecast_checkpoint
from tests.conftest import make_canonical
from tests.forecast_helpers import initial_state, tiny_checkpoint

#: Short leads and few initial times: the tiny data covers six days.
SETTINGS = Settings(leads=(6.0, 12.0, 24.0), n_inits=3, every_hours=12.0)


def write_tiny(folder: Path) -> tuple[Path, Path]:
    """A tiny forecast checkpoint (trained leads 6 h and 24 h) and six days of canonical data on disk."""
    ckpt = tiny_checkpoint()
    model_path = save_forecast_checkpoint(folder / "run" / "model.pt", ckpt.model, ckpt.spec)
    data_path = folder / "data.nc"
    state = initial_state(steps=24)
    z850 = make_canonical(("z850",), steps=24)  # the tiny masked model's fields (z on 500 and 850 hPa)
    state.assign(z850=z850["z850"]).to_netcdf(data_path)
    return model_path, data_path


def write_tiny_masked(folder: Path) -> Path:
    """A tiny AtmoRep checkpoint (z500, z850, t850, t2m) whose statistics come from the same month as the data."""
    from tests.atmorep_helpers import checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    return checkpoint(folder)


def free_port() -> int:
    """A port nobody listens on at the moment, on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


START_TIMEOUT = 600  # s: the command imports torch, Lightning and Panel on two loaded cores
CHROMIUM = os.environ.get("CLIMAX_NB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def chromium() -> str:
    """Debian's chromium, or a failure saying how to install it (the test never skips silently)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium` "
                    "(make test does, through tools/ensure-chromium.sh), or set CLIMAX_NB_CHROMIUM to chromium")
    return CHROMIUM


class Server:
    """``climax-nb dashboard`` in a child process with its output in a log file."""

    def __init__(self, folder: Path, *extra: str):
        model, data = write_tiny(folder)
        bad = folder / "broken.pt"
        bad.write_bytes(b"not a checkpoint")
        masked = write_tiny_masked(folder / "masked")
        self.port = free_port()
        self.log_path = folder / "server.log"
        leads = [f"{h:g}" for h in SETTINGS.leads]
        argv = [sys.executable, "-m", "climax_nb.cli", "dashboard", "--checkpoint", str(model), "--checkpoint",
                str(bad), "--checkpoint", str(masked), "--data", str(data), "--leads", *leads, "--inits",
                str(SETTINGS.n_inits), "--every", f"{SETTINGS.every_hours:g}", "--cache", str(folder / "cache"),
                "--search", str(folder / "none"),
                "--port", str(self.port), "--no-show", *extra]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.url = f"http://127.0.0.1:{self.port}/dashboard"
        self._wait()

    def output(self) -> str:
        return self.log_path.read_text()

    def _wait(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the dashboard server exited with {self.proc.returncode}:\n{self.output()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(1)
        self.stop()
        pytest.fail(f"the dashboard server did not listen within {START_TIMEOUT} s:\n{self.output()}")

    def stop(self) -> None:
        """Stop the server by its process id."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
