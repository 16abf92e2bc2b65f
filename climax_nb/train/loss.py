"""The training loss: latitude-weighted MSE in normalised space, as ClimaX trains.

On a regular lat-lon grid polar cells are over-represented; weighting by
cos(lat), normalised to mean 1, makes each cell count by its area.

MSE is nearly blind to a field's small scales where they carry little variance (z500 above
zonal wavenumber 16): noise there costs almost nothing in one step, yet a 6-hourly rollout
feeds it back and it piles up. ``zonal_power_log_error`` measures it scale by scale, as a
ratio, so an optional term of the loss can hold the forecast's small-scale power to the truth's.
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


def fair_crps(
    members: torch.Tensor, target: torch.Tensor, dim: int, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Fair (unbiased) CRPS of an ensemble, averaged (or ``weights``-averaged) over every other element.

    Per element: ``mean_i |x_i - y| - 1/(2M(M-1)) sum_ij |x_i - x_j|``, with the M members
    ``x_i`` along ``dim`` of ``members`` and ``y`` from ``target`` (``members`` without ``dim``).
    It is a proper score whose expectation does not depend on M, so an ensemble tail trained
    with it is rewarded for a calibrated spread, not for collapsing onto the mean. The pair
    sum is taken over sorted members, ``sum_k (2k - M - 1) x_(k) / (M(M-1))`` (O(M log M),
    exact); sorting keeps gradients, so skill and spread terms are both differentiated.
    ``weights`` (e.g. area weights ``[H, 1]``) broadcast against ``target`` and make the
    result ``sum(w * crps) / sum(w)``.
    """
    if not -members.ndim <= dim < members.ndim:
        raise ValueError(f"dim {dim} is out of range for members of shape {tuple(members.shape)}")
    dim = dim % members.ndim
    m = members.shape[dim]
    if m < 2:
        raise ValueError(
            f"fair CRPS needs at least 2 members along dim {dim}; members has shape {tuple(members.shape)}"
        )
    expected = members.shape[:dim] + members.shape[dim + 1:]
    if tuple(target.shape) != tuple(expected):
        raise ValueError(
            f"target {tuple(target.shape)} must be members {tuple(members.shape)} without dim {dim}, "
            f"i.e. {tuple(expected)}"
        )
    x = members.movedim(dim, -1)
    skill = (x - target.unsqueeze(-1)).abs().mean(-1)
    coef = torch.arange(1, m + 1, dtype=x.dtype, device=x.device) * 2 - m - 1
    spread = (torch.sort(x, dim=-1).values * coef).sum(-1) / (m * (m - 1))
    score = skill - spread
    if weights is None:
        return score.mean()
    try:
        w = torch.broadcast_to(weights.to(score), score.shape)
    except RuntimeError as err:
        raise ValueError(
            f"weights {tuple(weights.shape)} do not broadcast against target {tuple(target.shape)}"
        ) from err
    return (w * score).sum() / w.sum()


def check_min_wavenumber(min_wavenumber: int, n_lon: int, name: str = "min_wavenumber") -> None:
    """Refuse a lowest wavenumber outside the 1..n_lon // 2 that ``n_lon`` longitudes resolve."""
    highest = n_lon // 2
    if not 1 <= min_wavenumber <= highest:
        raise ValueError(f"{name} must be within 1..{highest} (the grid's {n_lon} longitudes), got {min_wavenumber}")


def zonal_power_log_error(
    pred: torch.Tensor, target: torch.Tensor, lat_weights: torch.Tensor, min_wavenumber: int = 16,
    excess_only: bool = False,
) -> torch.Tensor:
    """[V] mean over zonal wavenumbers k >= ``min_wavenumber`` of log(forecast power / target power)^2.

    With ``excess_only`` a wavenumber with less power than the target's counts 0: only added
    noise is penalised, not blurring (which a rollout damps rather than amplifies).

    Power is |rfft along longitude|^2 of [B, V, H, W] fields, averaged over the batch and
    (``lat_weights``-weighted) latitudes before the ratio, so a batch gives one spectrum per
    variable; 0 when the spectra match, the same for a field twice too noisy as for one twice
    too smooth at any amplitude. A floor of 1e-6 of the target's mean power there keeps it finite.
    """
    if pred.shape != target.shape or pred.ndim != 4:
        raise ValueError(f"expected [B, V, H, W] prediction and target of one shape, got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    check_min_wavenumber(min_wavenumber, pred.shape[-1])
    weights = lat_weights.to(pred)[:, None]

    def power(fields: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.rfft(fields.float(), dim=-1, norm="forward")[..., min_wavenumber:]
        return ((spectrum.real**2 + spectrum.imag**2) * weights).mean(dim=(0, 2))  # [V, K]

    truth = power(target)
    floor = 1e-6 * truth.mean(-1, keepdim=True) + 1e-20
    log_ratio = torch.log((power(pred) + floor) / (truth + floor))
    if excess_only:
        log_ratio = log_ratio.clamp(min=0.0)
    return (log_ratio**2).mean(-1)
