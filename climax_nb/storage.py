"""Where the package keeps what it makes, and how it writes files without ever leaving half of one.

One cache root serves the embedded data, the tutorial models and the dashboard's
results: the ``cache_dir`` argument, else ``$CLIMAX_NB_CACHE``, else
``~/.cache/climax_nb``. Every file a reader may open while it is being written
(checkpoints, forecasts, cached results) goes through ``atomic_write``: a temporary
file beside the target, flushed and synced, then renamed over it, so a crash or a
concurrent reader sees the old file or the new one, never a torn one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: Environment variable naming the cache root.
CACHE_ENV = "CLIMAX_NB_CACHE"

PathLike = str | os.PathLike


def cache_root(cache_dir: PathLike | None = None) -> Path:
    """The cache root: ``cache_dir``, else ``$CLIMAX_NB_CACHE``, else ``~/.cache/climax_nb``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "climax_nb"


@contextmanager
def cache_root_set_to(cache_dir: PathLike | None) -> Iterator[Path]:
    """Make ``cache_dir`` the cache root inside the block, for this process and those it starts (None: as it is).

    A job that calls many parts of the package (``climax-nb demo --cache``) needs all of them, and
    their worker processes, to read and write one cache; ``$CLIMAX_NB_CACHE`` is restored afterwards.
    """
    if cache_dir is None:
        yield cache_root()
        return
    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(Path(cache_dir).expanduser())
    try:
        yield cache_root()
    finally:
        if before is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = before


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (not possible on every platform; harmless to skip there)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: PathLike, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` on a temporary path beside ``path``, sync it, then rename it over ``path``.

    ``write`` gets a path (not an open file) so that libraries that open files
    themselves (netCDF, torch) can write to it. On any error the temporary file is
    removed and the old ``path``, if any, is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        tmp.chmod(0o666 & ~_umask())  # mkstemp makes the file private; give it the usual permissions
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_torch_save(obj: Any, path: PathLike) -> Path:
    """``torch.save`` through ``atomic_write``."""
    import torch

    return atomic_write(path, lambda tmp: torch.save(obj, tmp))
