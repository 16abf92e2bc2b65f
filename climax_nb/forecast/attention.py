"""How far the variable aggregation is from attending to every variable alike, in numbers.

Maps of aggregation weights look alike whether the model learnt something or
not: with 48 inputs every weight is near 1/48. The entropy of the weights over
the variables says it directly. ``relative_entropy`` is the entropy divided by
that of uniform weights (ln V): 1 means the patch spreads its attention evenly, 0
that it reads one variable. ``attention_report`` gives it by region (latitude
band) and, for each variable, its mean weight relative to uniform (1/V).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import xarray as xr

#: Latitude bands of the report: (name, lowest |lat|, highest |lat|, hemisphere sign or 0 for both).
REGIONS: tuple[tuple[str, float, float, int], ...] = (
    ("tropics", 0.0, 23.5, 0),
    ("northern extratropics", 23.5, 66.5, 1),
    ("southern extratropics", 23.5, 66.5, -1),
    ("polar caps", 66.5, 90.0, 0),
)


def relative_entropy(weights: torch.Tensor | np.ndarray) -> np.ndarray:
    """Entropy over the last axis (the variables) of ``weights`` divided by ln V: 1 is uniform, 0 one variable."""
    w = weights.detach().float().cpu().numpy() if isinstance(weights, torch.Tensor) else np.asarray(weights, float)
    if w.shape[-1] < 2:
        raise ValueError(f"relative entropy needs weights over at least 2 variables, got shape {w.shape}")
    entropy = -(w * np.log(np.clip(w, 1e-12, None))).sum(-1)
    return entropy / np.log(w.shape[-1])


def _patch_latitudes(lat: np.ndarray, lon: np.ndarray, patch_size: int) -> np.ndarray:
    """The latitude of each of the L patches, row-major on the patch grid (as the model orders them)."""
    h, w = len(lat) // patch_size, len(lon) // patch_size
    centres = np.asarray(lat, float).reshape(h, patch_size).mean(1)
    return np.repeat(centres, w)


def _region_mask(plat: np.ndarray, low: float, high: float, sign: int) -> np.ndarray:
    inside = (np.abs(plat) >= low) & (np.abs(plat) <= high)
    return inside & (np.sign(plat) == sign) if sign else inside


def attention_report(weights: torch.Tensor | np.ndarray, variables: Sequence[str], lat: np.ndarray,
                     lon: np.ndarray, patch_size: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Relative entropy by region and each variable's weight against uniform, from weights ``[B, L, heads, V]``.

    Means are area-weighted (cos latitude) over patches, and taken over states and heads. The
    first table has one row per region (and ``globe``): ``relative entropy`` (1 = uniform)
    and ``largest weight x V`` (1 = uniform); the second, per variable and region, the mean
    weight times V (2: twice the uniform share).
    """
    w = weights.detach().float().cpu().numpy() if isinstance(weights, torch.Tensor) else np.asarray(weights, float)
    if w.ndim != 4 or w.shape[-1] != len(variables):
        raise ValueError(f"weights must be [B, L, heads, V] with V = {len(variables)}, got shape {w.shape}")
    plat = _patch_latitudes(lat, lon, patch_size)
    if len(plat) != w.shape[1]:
        raise ValueError(f"{w.shape[1]} patches do not match a {len(lat)}x{len(lon)} grid with patch {patch_size}")
    area = np.cos(np.deg2rad(plat))
    ent = relative_entropy(w).mean(axis=(0, 2))  # per patch
    top = w.max(-1).mean(axis=(0, 2)) * len(variables)
    share = w.mean(axis=(0, 2)) * len(variables)  # [L, V]
    masks: Mapping[str, np.ndarray] = {"globe": np.ones_like(plat, bool)}
    masks = {**masks, **{name: _region_mask(plat, lo, hi, s) for name, lo, hi, s in REGIONS}}
    rows, shares = {}, {}
    for name, mask in masks.items():
        if not mask.any():
            continue
        a = area * mask
        rows[name] = {"relative entropy": float((ent * a).sum() / a.sum()),
                      "largest weight x V": float((top * a).sum() / a.sum())}
        shares[name] = (share * a[:, None]).sum(0) / a.sum()
    by_region = pd.DataFrame(rows).T
    by_variable = pd.DataFrame(shares, index=list(variables))
    return by_region, by_variable.sort_values("globe", ascending=False)


def report_maps(weights: torch.Tensor | np.ndarray, lat: np.ndarray, lon: np.ndarray,
                patch_size: int) -> xr.DataArray:
    """Relative entropy per patch (mean over states and heads) as a map on the patch grid."""
    from climax_nb.viz.maps import attention_to_maps

    ent = relative_entropy(weights)  # [B, L, heads]
    return attention_to_maps(ent[..., None], ["relative entropy"], lat, lon, patch_size).sel(
        variable="relative entropy", drop=True)
