"""A tiny checkpoint, tiny data and a free loopback port for the dashboard tests (no test here)."""

from __future__ import annotations

import socket
from pathlib import Path

from climax_nb.dashboard.settings import Settings
from climax_nb.model import save_checkpoint
from tests.forecast_helpers import initial_state, tiny_checkpoint

#: Short leads and few initial times: the tiny data covers six days.
SETTINGS = Settings(leads=(6.0, 12.0, 24.0), n_inits=3, every_hours=12.0)


def write_tiny(folder: Path) -> tuple[Path, Path]:
    """A tiny forecast checkpoint (trained leads 6 h and 24 h) and six days of canonical data on disk."""
    ckpt = tiny_checkpoint()
    model_path = save_checkpoint(folder / "run" / "model.pt", ckpt.model, grid=ckpt.grid, stats=ckpt.stats,
                                 extra=ckpt.extra)
    data_path = folder / "data.nc"
    initial_state(steps=24).to_netcdf(data_path)
    return model_path, data_path


def free_port() -> int:
    """A port nobody listens on at the moment, on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
