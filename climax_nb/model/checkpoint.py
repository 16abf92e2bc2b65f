"""Checkpoints: released ClimaX files in, our own self-describing files in and out.

Everything is read with ``torch.load(weights_only=True)``: no arbitrary object is ever
unpickled. Lightning files may hold a few harmless extras (hyper-parameter dicts, numpy
scalars, paths); exactly those are allow-listed, anything else is refused with a message.
"""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import pickle
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from climax_nb.grid import Grid
from climax_nb.model.climax import ClimaX, ClimaXBase
from climax_nb.model.config import ClimaXConfig
from climax_nb.model.embed import interpolate_pos_embed
from climax_nb.variables import CLIMAX_DEFAULT_IDS, to_id

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


# -- safe reading -------------------------------------------------------------------------
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
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        error = err
    needed = _unsafe_globals(path)
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
        "(climax_nb.model.checkpoint.ALLOWED_GLOBALS). Re-save only the tensors, e.g. "
        "torch.save({'state_dict': ckpt['state_dict']}, path), in a trusted environment."
    ) from error


# -- released layout ----------------------------------------------------------------------
_OLD_NAMES = (("channel_embed", "var_embed"), ("channel_query", "var_query"),
              ("channel_agg.", "var_agg."))
_PER_VAR_TOKEN = re.compile(r"token_embeds\.(\d+)\.proj\.(weight|bias)$")
_STACKED = {"weight": "token_embeds.proj_weights", "bias": "token_embeds.proj_biases"}
_REQUIRED = ("token_embeds.proj_weights", "token_embeds.proj_biases", "var_embed", "var_query",
             "var_agg.in_proj_weight", "var_agg.in_proj_bias", "var_agg.out_proj.weight",
             "pos_embed", "lead_time_embed.weight", "norm.weight", "head.0.weight")


def canonical_state(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor],
                                                                 dict[str, str]]:
    """Released keys -> this package's keys: drop ``net.``, rename ``channel_*``, stack
    per-variable ``token_embeds.N.proj`` into ``token_embeds.proj_weights/proj_biases``.

    Returns the new state and the renamings made (old key -> new key).
    """
    renamed: dict[str, str] = {}
    out: dict[str, torch.Tensor] = {}
    per_var: dict[str, dict[int, torch.Tensor]] = {"weight": {}, "bias": {}}
    prefixed = any(k.startswith("net.") for k in state)
    for key, value in state.items():
        if prefixed and not key.startswith("net."):
            out[key] = value  # outside the network: reported as skipped on transfer
            continue
        new = key[4:] if prefixed else key
        for old, cur in _OLD_NAMES:
            new = cur + new[len(old):] if new.startswith(old) else new
        match = _PER_VAR_TOKEN.match(new)
        if match:
            per_var[match.group(2)][int(match.group(1))] = value
            new = _STACKED[match.group(2)]
        else:
            out[new] = value
        if new != key:
            renamed[key] = new
    for kind, tensors in per_var.items():
        if tensors:
            if sorted(tensors) != list(range(len(tensors))):
                raise ValueError(f"token_embeds.N.proj.{kind} is missing variables: have "
                                 f"{sorted(tensors)}")
            out[_STACKED[kind]] = torch.stack([tensors[i] for i in sorted(tensors)])
    return out, renamed


def _check_climax_state(state: Mapping[str, torch.Tensor]) -> None:
    missing = [k for k in _REQUIRED if k not in state]
    if missing:
        raise ValueError(
            f"not a ClimaX checkpoint: missing {missing}. Expected a Lightning checkpoint whose "
            "'state_dict' holds net.token_embeds.*, net.var_embed (or channel_embed), "
            "net.var_agg.* (or channel_agg.*), net.pos_embed, net.blocks.N.*, net.head.*"
        )


def infer_config(state: Mapping[str, torch.Tensor], checkpoint_variables: Sequence[str],
                 **arch: Any) -> ClimaXConfig:
    """The architecture stored in ``state`` (canonical keys), updated by ``arch``.

    ``embed_dim``, ``depth``, ``decoder_depth``, ``mlp_ratio`` and ``patch_size`` must agree
    with the weights; ``variables``, ``img_size``, ``num_heads`` and the drop rates are free
    (``img_size`` defaults to ClimaX's 1:2 grid with the stored number of patches).
    """
    _check_climax_state(state)
    dim = state["pos_embed"].shape[-1]
    depth = 1 + max((int(k.split(".")[1]) for k in state if k.startswith("blocks.")), default=-1)
    heads = [int(k.split(".")[1]) for k in state if re.match(r"head\.\d+\.weight$", k)]
    patch = state["token_embeds.proj_weights"].shape[-1]
    stored = {
        "embed_dim": dim,
        "depth": depth,
        "decoder_depth": max(heads) // 2,
        "patch_size": patch,
        "mlp_ratio": state["blocks.0.mlp.fc1.weight"].shape[0] / dim if depth else 4.0,
    }
    for name, value in stored.items():
        if name in arch and arch[name] != value:
            raise ValueError(
                f"the checkpoint's architecture has {name}={value}, but {name}={arch[name]} was "
                f"asked for; a ClimaX checkpoint only loads into a model with {name}={value}"
            )
    gh = int((state["pos_embed"].shape[1] // 2) ** 0.5)  # ClimaX assumes lon = 2 x lat
    settings = {"variables": tuple(checkpoint_variables), "img_size": (gh * patch, 2 * gh * patch),
                "num_heads": 16, **stored, **arch}
    return ClimaXConfig(**settings)


@dataclass
class LoadReport:
    """What happened to each tensor when loading released weights."""

    loaded: list[str] = field(default_factory=list)
    interpolated: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)
    new_variables: list[str] = field(default_factory=list)
    dropped_variables: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line per category, for logs and notebooks."""
        lines = [f"loaded {len(self.loaded)} tensors ({len(self.renamed)} renamed from the "
                 "released layout)"]
        lines += [f"interpolated {k}: {a} -> {b}" for k, (a, b) in self.interpolated.items()]
        if self.skipped:
            lines.append(f"skipped {self.skipped}")
        if self.new_variables:
            lines.append(f"fresh init for new variables {self.new_variables}")
        if self.dropped_variables:
            lines.append(f"checkpoint variables not in the model {self.dropped_variables}")
        return "\n".join(lines)


_PER_VARIABLE_AXIS = {"token_embeds.proj_weights": 0, "token_embeds.proj_biases": 0,
                      "var_embed": 1}


def _copy_variables(src: torch.Tensor, dst: torch.Tensor, axis: int,
                    pairs: list[tuple[int, int]], key: str) -> torch.Tensor:
    """``dst`` with the slices ``src[i] -> dst[j]`` along ``axis`` for each (i, j) pair."""
    same = src.dim() == dst.dim() and all(
        a == b for i, (a, b) in enumerate(zip(src.shape, dst.shape, strict=True)) if i != axis
    )
    if not same:
        raise ValueError(f"{key}: checkpoint shape {tuple(src.shape)} does not fit the model's "
                         f"{tuple(dst.shape)}; the checkpoint is of another architecture")
    out = dst.clone()
    if pairs:
        i_src = torch.tensor([i for i, _ in pairs], device=src.device)
        i_dst = torch.tensor([j for _, j in pairs], device=dst.device)
        out.index_copy_(axis, i_dst, src.to(dst.dtype).index_select(axis, i_src))
    return out


def _copy_head_rows(src: torch.Tensor, dst: torch.Tensor, pairs: list[tuple[int, int]],
                    pixels: int, key: str) -> torch.Tensor:
    """The last head layer's rows run (pixel, variable): copy per variable on that view."""
    if src.shape[0] % pixels:
        raise ValueError(f"{key}: {src.shape[0]} output rows are not a multiple of "
                         f"{pixels} pixels per patch; the checkpoint has another patch size")
    moved = _copy_variables(src.unflatten(0, (pixels, -1)), dst.unflatten(0, (pixels, -1)), 1,
                            pairs, key)
    return moved.flatten(0, 1)


def transfer_released(model: ClimaXBase, state: Mapping[str, torch.Tensor],
                      checkpoint_variables: Sequence[str]) -> LoadReport:
    """Copy canonical released weights into ``model``, mapping variables by name.

    Tensors indexed by variable (token embeddings, variable embedding, last head layer)
    are copied row by row for shared variables; the model's other variables keep their
    fresh init. A different patch grid interpolates ``pos_embed``. Shape mismatches
    elsewhere mean another architecture and raise ValueError.
    """
    _check_climax_state(state)
    ck_vars = [to_id(v) for v in checkpoint_variables]
    n_ck = state["var_embed"].shape[1]
    if len(ck_vars) != n_ck:
        raise ValueError(f"the checkpoint has {n_ck} variables but {len(ck_vars)} names were "
                         "given as checkpoint_variables")
    report = LoadReport()
    pairs = [(ck_vars.index(v), j) for j, v in enumerate(model.variables) if v in ck_vars]
    report.new_variables = [v for v in model.variables if v not in ck_vars]
    report.dropped_variables = [v for v in ck_vars if v not in model.variables]
    head_out = f"head.{len(model.head) - 1}"
    pixels = model.config.patch_size**2
    target = model.state_dict()
    new: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key not in target:
            report.skipped.append(key)
            continue
        dst = target[key]
        if key == "pos_embed" and value.shape != dst.shape:
            old = int((value.shape[1] // 2) ** 0.5)
            if 2 * old * old != value.shape[1]:
                raise ValueError(f"pos_embed holds {value.shape[1]} patches, not a lat x 2*lat "
                                 "grid as ClimaX's; cannot interpolate it")
            new[key] = interpolate_pos_embed(value, (old, 2 * old), model.config.grid_size)
            report.interpolated[key] = (tuple(value.shape), tuple(dst.shape))
            if new[key].shape != dst.shape:
                raise ValueError(f"pos_embed of shape {tuple(value.shape)} cannot be "
                                 f"interpolated to {tuple(dst.shape)}")
            continue
        if key in _PER_VARIABLE_AXIS:
            value = _copy_variables(value, dst, _PER_VARIABLE_AXIS[key], pairs, key)
        elif key in (f"{head_out}.weight", f"{head_out}.bias"):
            value = _copy_head_rows(value, dst, pairs, pixels, key)
        if value.shape != dst.shape:
            raise ValueError(
                f"{key}: checkpoint shape {tuple(value.shape)}, model expects "
                f"{tuple(dst.shape)}; the checkpoint is of another architecture"
            )
        new[key] = value
        report.loaded.append(key)
    missing = [k for k in target if k not in new]
    if missing:
        raise ValueError(f"the checkpoint lacks {missing}; it is of another architecture")
    model.load_state_dict(new)
    return report


def _released_state(path: PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    raw = safe_load(path)
    state = raw.get("state_dict", raw) if isinstance(raw, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{os.fspath(path)} holds no state_dict of tensors; expected a "
                         "Lightning checkpoint of ClimaX")
    return canonical_state(state)


def load_official_checkpoint(path: PathLike, *, checkpoint_variables: Sequence[str] | None = None,
                             model_cls: type[ClimaXBase] = ClimaX, **arch: Any
                             ) -> tuple[ClimaXBase, LoadReport]:
    """A model holding released ClimaX weights (5.625deg.ckpt, 1.40625deg.ckpt, ...).

    ``arch`` overrides ``ClimaX`` arguments (e.g. ``variables``, ``img_size``); unspecified
    sizes come from the file. ``checkpoint_variables`` names the file's variables in order
    (default: ClimaX's 48 released variables). Returns the model and a ``LoadReport``.
    """
    state, renamed = _released_state(path)
    _check_climax_state(state)
    if checkpoint_variables is None:
        if state["var_embed"].shape[1] != len(CLIMAX_DEFAULT_IDS):
            raise ValueError(
                f"the checkpoint has {state['var_embed'].shape[1]} variables, not ClimaX's "
                f"{len(CLIMAX_DEFAULT_IDS)}: pass checkpoint_variables=[...] in its order"
            )
        checkpoint_variables = CLIMAX_DEFAULT_IDS
    extra = {k: arch.pop(k) for k in list(arch) if k not in ClimaXConfig.__dataclass_fields__}
    cfg = infer_config(state, checkpoint_variables, **arch)
    model = model_cls.from_config(cfg, **extra)
    report = transfer_released(model, state, checkpoint_variables)
    report.renamed = renamed
    log.info("loaded %s\n%s", os.fspath(path), report.summary())
    return model, report


# -- our own files ------------------------------------------------------------------------
FORMAT = "climax_nb.model"
_PLAIN = (type(None), bool, int, float, str, torch.Tensor)


def _check_plain(value: Any, where: str) -> None:
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{where}: keys must be strings, got {k!r}")
            _check_plain(v, f"{where}[{k!r}]")
        return
    raise ValueError(f"{where} is a {type(value).__name__}; checkpoints hold only tensors, "
                     "numbers, strings, lists and dicts (so they load with weights_only=True)")


@dataclass
class Checkpoint:
    """Everything needed to forecast: model, grid, normalisation statistics, extras."""

    model: ClimaXBase
    grid: Grid
    stats: dict[str, tuple[float, float]] | None
    extra: dict[str, Any] | None


def save_checkpoint(path: PathLike, model: ClimaXBase, *, grid: Grid,
                    stats: Mapping[str, tuple[float, float]] | None = None,
                    extra: Mapping[str, Any] | None = None) -> pathlib.Path:
    """Write model config, weights, grid and statistics atomically (temp file + rename)."""
    if grid.shape != model.config.img_size:
        raise ValueError(f"grid {grid.name} is {grid.shape[0]}x{grid.shape[1]}; the model expects "
                         f"{model.config.img_size[0]}x{model.config.img_size[1]}")
    stats_out = None
    if stats is not None:
        stats_out = {to_id(k): [float(m), float(s)] for k, (m, s) in stats.items()}
    extra_out = dict(extra) if extra is not None else None
    _check_plain(extra_out, "extra")
    payload = {
        "format": FORMAT,
        "version": 1,
        "model_class": type(model).__name__,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "grid": {"lat": torch.from_numpy(np.asarray(grid.lat, dtype=np.float64)),
                 "lon": torch.from_numpy(np.asarray(grid.lon, dtype=np.float64)),
                 "name": grid.name},
        "stats": stats_out,
        "extra": extra_out,
    }
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def load_checkpoint(path: PathLike) -> Checkpoint:
    """Read a file written by ``save_checkpoint`` (safely) and rebuild the model."""
    raw = safe_load(path)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ValueError(f"{os.fspath(path)} is not a climax_nb checkpoint (no format={FORMAT!r});"
                         " for released ClimaX files use load_official_checkpoint")
    from climax_nb.model.reference import ReferenceClimaX
    from climax_nb.model.regional import RegionalClimaX

    classes = {c.__name__: c for c in (ClimaX, RegionalClimaX, ReferenceClimaX)}
    if raw["model_class"] not in classes:
        raise ValueError(f"unknown model class {raw['model_class']!r}; expected one of "
                         f"{sorted(classes)}")
    grid = Grid(raw["grid"]["lat"].numpy(), raw["grid"]["lon"].numpy(), raw["grid"]["name"])
    cls = classes[raw["model_class"]]
    kwargs = {"grid": grid} if issubclass(cls, RegionalClimaX) else {}
    model = cls.from_config(ClimaXConfig.from_dict(raw["config"]), **kwargs)
    try:
        model.load_state_dict(raw["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{os.fspath(path)}: weights do not fit the stored config "
                         f"{raw['config']}: {err}") from err
    stats = raw["stats"]
    stats = {k: (float(m), float(s)) for k, (m, s) in stats.items()} if stats is not None else None
    return Checkpoint(model, grid, stats, raw["extra"])
