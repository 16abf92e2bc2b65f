"""The training loss: latitude-weighted MSE in normalised space, as ClimaX trains.

On a regular lat-lon grid polar cells are over-represented; weighting by
cos(lat), normalised to mean 1, makes each cell count by its area.
"""

from __future__ import annotations

import numpy as np
import torch


def cos_lat_weights(lat: np.ndarray | torch.Tensor) -> torch.Tensor:
    """cos(latitude) normalised to mean 1, shape [H]."""
    w = torch.cos(torch.deg2rad(torch.as_tensor(lat, dtype=torch.float64)))
    return (w / w.mean()).float()


def lat_weighted_mse(
    pred: torch.Tensor, target: torch.Tensor, lat_weights: torch.Tensor, per_variable: bool = False
) -> torch.Tensor:
    """Mean over batch, variables and grid of w(lat) * (pred - target)^2 for [B, V, H, W] tensors.

    With ``per_variable`` returns the [V] vector of per-variable losses instead.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    if pred.ndim != 4 or lat_weights.shape != (pred.shape[-2],):
        raise ValueError(
            f"expected [B, V, H, W] tensors and [H] weights, got {tuple(pred.shape)} and {tuple(lat_weights.shape)}"
        )
    err = (pred - target) ** 2 * lat_weights.to(pred)[:, None]
    per_var = err.mean(dim=(0, 2, 3))
    return per_var if per_variable else per_var.mean()
