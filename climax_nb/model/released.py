"""Released ClimaX checkpoints (``5.625deg.ckpt``, ``1.40625deg.ckpt``, ...): their layout and how it maps to ours.

The released files are Lightning checkpoints whose ``state_dict`` holds ``net.``-prefixed
keys, older names (``channel_embed``, ``channel_query``, ``channel_agg.*``) and one patch
embedding per variable. ``canonical_state`` renames them, ``transfer_released`` copies
them into a model by variable name, ``load_official_checkpoint`` does both from a file.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from climax_nb.model.climax import ClimaX, ClimaXBase
from climax_nb.model.config import ClimaXConfig
from climax_nb.model.embed import interpolate_pos_embed
from climax_nb.model.safe_load import safe_load
from climax_nb.variables import CLIMAX_DEFAULT_IDS, to_id

log = logging.getLogger(__name__)

PathLike = str | os.PathLike

#: The released ClimaX weights (Nguyen et al. 2023) on the 5.625 degree grid.
RELEASED_CHECKPOINT_URL = "https://huggingface.co/tungnd/climax/resolve/main/5.625deg.ckpt"


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
    #: optional parts of the model (``OPTIONAL_PARTS``) the checkpoint lacks, kept at their initial values
    initialised: list[str] = field(default_factory=list)
    #: parts tied to the checkpoint's grid by wavenumber (``_PER_WAVENUMBER``), kept at their initial values
    fresh_on_grid: list[str] = field(default_factory=list)

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
        if self.initialised:
            lines.append(f"not in the checkpoint, kept at their initial values: {self.initialised}")
        if self.fresh_on_grid:
            lines.append(f"learnt per wavenumber of another grid, kept at their initial values: {self.fresh_on_grid}")
        return "\n".join(lines)


_PER_VARIABLE_AXIS = {"token_embeds.proj_weights": 0, "token_embeds.proj_biases": 0,
                      "var_embed": 1, "damping_rate": 0, "mean_field": 0, "mean_field_cycle": 0,
                      "head_smoother": 0, "head_zonal_gain": 0}
#: Parts of our models that ClimaX lacks (``ClimaXConfig.residual_damping``, ``seasonal_harmonics``,
#: ``head_smoothing``, ``head_zonal_filter``): a checkpoint without them (a released file, or a model
#: trained without them) leaves them as initialised.
OPTIONAL_PARTS = ("damping_rate", "mean_field", "mean_field_cycle", "head_smoother", "head_zonal_gain")
#: Per-cell parts (variable, [harmonic,] lat, lon): on another grid they are regridded, as pos_embed is.
_PER_CELL = ("mean_field", "mean_field_cycle")
#: Per-row-and-wavenumber parts: on another grid a wavenumber is another scale, so they start afresh.
_PER_WAVENUMBER = ("head_zonal_gain",)


def _linear_taps(n_src: int, n_dst: int, periodic: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Neighbours and weights of linear interpolation between cell centres of two regular 1-D grids."""
    x = (torch.arange(n_dst, dtype=torch.float64) + 0.5) * n_src / n_dst - 0.5
    if not periodic:
        x = x.clamp(0, n_src - 1)
    lo = torch.floor(x)
    weight = x - lo
    lo = lo.long()
    hi = (lo + 1) % n_src if periodic else (lo + 1).clamp(max=n_src - 1)
    return lo % n_src, hi, weight


def regrid_cells(field: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """``field`` [..., lat, lon] on another regular grid of the same extent: bilinear between cell
    centres, periodic in longitude, held at the outermost rows' centres toward the poles."""
    lo_y, hi_y, wy = _linear_taps(field.shape[-2], shape[0], periodic=False)
    lo_x, hi_x, wx = _linear_taps(field.shape[-1], shape[1], periodic=True)
    f = field.detach().double()
    rows = f[..., lo_y, :] * (1 - wy)[:, None] + f[..., hi_y, :] * wy[:, None]
    return (rows[..., lo_x] * (1 - wx) + rows[..., hi_x] * wx).to(field.dtype)


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
    fresh init. A different patch grid interpolates ``pos_embed``; another image grid regrids the
    per-cell mean field and its annual cycle (``regrid_cells``) and starts the per-wavenumber zonal
    filter afresh. Shape mismatches elsewhere mean another architecture and raise ValueError.
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
        if key in _PER_WAVENUMBER and value.shape[-2:] != dst.shape[-2:]:
            report.fresh_on_grid.append(key)
            continue
        if key in _PER_CELL and value.shape[-2:] != dst.shape[-2:]:
            report.interpolated[key] = (tuple(value.shape), tuple(dst.shape))
            value = regrid_cells(value, tuple(dst.shape[-2:]))
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
    for key in OPTIONAL_PARTS:
        if key in target and key not in new:
            new[key] = target[key]
            if key not in report.fresh_on_grid:
                report.initialised.append(key)
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
