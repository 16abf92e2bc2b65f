"""AtmoRep's training loss on the masked tokens only: the ensemble's fair CRPS and a statistical loss.

Per field, every cell of a masked token counts with its area weight (cos(latitude) over the
grid's mean, as ClimaX's loss weights cells); unmasked cells weigh nothing, so what the model
predicts for them does not change the loss. The parts:

- ``crps``: ``fair_crps`` of the members (proper: a calibrated spread is rewarded);
- ``mse``: the squared error of the ensemble mean, which sharpens the mean;
- ``spread``: ``((1 + 1/M) * mean var - mse)^2`` with the members' unbiased variance and the
  mse held fixed: for a calibrated ensemble the mean's squared error is ``(1 + 1/M)`` times
  the variance, so this pulls the spread towards the error without pulling the mean.

The loss is ``crps + stats_weight * (mse + spread)``. AtmoRep trains with the MSE of every
member and a Gaussian-likelihood term instead; see docs/atmorep.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from climax_nb.model.atmorep.tokens import untokenize
from climax_nb.train.loss import fair_crps

PARTS = ("crps", "mse", "spread")


def cell_mask(token_mask: torch.Tensor, token_size: Sequence[int]) -> torch.Tensor:
    """A token grid ``[..., nt, nh, nw]`` (bool) as cells ``[..., T, H, W]``: 1.0 in each cell of a marked token."""
    cells = int(token_size[0]) * int(token_size[1]) * int(token_size[2])
    return untokenize(token_mask.float().unsqueeze(-1).expand(*token_mask.shape, cells), token_size)


def lat_cell_weights(lat: torch.Tensor, grid_lat: torch.Tensor) -> torch.Tensor:
    """cos(latitude) of cells ``[B, H]`` over the mean of the grid's, as ``[B, 1, 1, H, 1]`` for cubes."""
    scale = torch.cos(torch.deg2rad(grid_lat.double())).mean()
    return (torch.cos(torch.deg2rad(lat.double())) / scale).float()[:, None, None, :, None]


def masked_losses(members: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> dict[str, torch.Tensor]:
    """The loss parts of one field: ``members`` [B, M, L, T, H, W], ``target`` and ``weights`` [B, L, T, H, W].

    ``weights`` are the area weights of the masked cells, zero elsewhere; returns an empty dict
    when nothing is masked.
    """
    weights = torch.broadcast_to(weights.to(members), target.shape)
    total = weights.sum()
    if not bool(total > 0):
        return {}
    m = members.shape[1]
    mse = (weights * (members.mean(1) - target) ** 2).sum() / total
    variance = (weights * members.var(1)).sum() / total
    return {
        "crps": fair_crps(members, target, dim=1, weights=weights),
        "mse": mse,
        "spread": ((1 + 1 / m) * variance - mse.detach()) ** 2,
    }


def combine(parts: Sequence[dict[str, torch.Tensor]], stats_weight: float, fallback: torch.Tensor
            ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The loss (mean over fields with masked cells) and its mean parts; ``fallback * 0`` when nothing is masked.

    ``fallback`` is any tensor of the graph (e.g. the predictions' sum), so a batch without masked
    tokens still gives a zero loss that back-propagates.
    """
    scored = [p for p in parts if p]
    if not scored:
        zero = fallback * 0.0
        return zero, dict.fromkeys(PARTS, zero.detach())
    mean = {k: torch.stack([p[k] for p in scored]).mean() for k in PARTS}
    return mean["crps"] + stats_weight * (mean["mse"] + mean["spread"]), {k: v.detach() for k, v in mean.items()}


__all__ = ["PARTS", "cell_mask", "combine", "lat_cell_weights", "masked_losses"]
