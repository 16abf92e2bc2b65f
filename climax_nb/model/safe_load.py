"""Reading checkpoints without unpickling arbitrary objects.

Everything is read with ``torch.load(weights_only=True)``. Lightning files may hold a few
harmless extras (hyper-parameter dicts, numpy scalars, paths); exactly those are
allow-listed, anything else is refused with a message.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import pickle
import zipfile
from typing import Any

import numpy as np
import torch

PathLike = str | os.PathLike


def _allowed_globals() -> dict[str, Any]:
    core = np._core if hasattr(np, "_core") else np.core
    allowed: dict[str, Any] = {
        "numpy.dtype": np.dtype,
        "numpy.ndarray": np.ndarray,
        "pathlib.PosixPath": pathlib.PurePosixPath,
        "pathlib.WindowsPath": pathlib.PureWindowsPath,
        "argparse.Namespace": argparse.Namespace,
    }
    for mod in ("pytorch_lightning.utilities.parsing", "lightning_fabric.utilities.data",
                "lightning.fabric.utilities.data", "lightning.pytorch.utilities.parsing"):
        allowed[f"{mod}.AttributeDict"] = dict  # read Lightning's hparams as a plain dict
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[f"{mod}.scalar"] = core.multiarray.scalar
        allowed[f"{mod}._reconstruct"] = core.multiarray._reconstruct
    for name in dir(np.dtypes):
        if name.endswith("DType"):
            allowed[f"numpy.dtypes.{name}"] = getattr(np.dtypes, name)
    return allowed


#: Fully qualified names a checkpoint may reference beyond torch's own safe set.
ALLOWED_GLOBALS: dict[str, Any] = _allowed_globals()


def _unsafe_globals(path: PathLike) -> list[str] | None:
    """Names of the non-tensor objects a checkpoint references (None: cannot tell)."""
    try:
        return torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # legacy (non-zip) files cannot be inspected
        return None


def safe_load(path: PathLike) -> Any:
    """``torch.load(weights_only=True)`` plus exactly the allow-listed extras needed."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint at {os.fspath(path)}")
    if os.path.getsize(path) == 0:
        raise ValueError(f"{os.fspath(path)} is not a readable checkpoint (an empty file); write it again or pick "
                         "another file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        error = err
    except Exception as err:  # truncated, corrupt, or another kind of file altogether
        detail = str(err).split(". ")[0] if str(err) else type(err).__name__
        raise ValueError(
            f"{os.fspath(path)} is not a readable checkpoint: not a torch zip file, or a truncated or corrupt one "
            f"({detail}); write it again or pick another file"
        ) from err
    needed = _unsafe_globals(path)
    if needed is None and not zipfile.is_zipfile(path):
        raise ValueError(f"{os.fspath(path)} is not a readable checkpoint: not a torch zip file, or a truncated or "
                         "corrupt one; pick a file written by torch.save (a run's model.pt, a .ckpt)") from error
    refused = [g for g in needed if g not in ALLOWED_GLOBALS] if needed is not None else None
    if refused == []:
        # The whole (fixed) list: numpy dtypes are built from classes the scan does not name.
        try:
            with torch.serialization.safe_globals([(o, g) for g, o in ALLOWED_GLOBALS.items()]):
                return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            error = err
    reason = next((ln.strip() for ln in str(error).splitlines()
                   if ln.strip().startswith(("Unsupported", "Can only"))), "")
    raise ValueError(
        f"{os.fspath(path)} cannot be loaded safely: it needs Python objects "
        f"{refused or reason or '(unknown: not a zip checkpoint)'} that are not allow-listed "
        "(climax_nb.model.safe_load.ALLOWED_GLOBALS). Re-save only the tensors, e.g. "
        "torch.save({'state_dict': ckpt['state_dict']}, path), in a trusted environment."
    ) from error
