"""The ensemble tail: several linear heads per field, each turning a token's state into one member's values.

AtmoRep's tail is a list of ``LayerNorm + Linear`` heads; here one parameter-free layer norm is
shared and the heads are stacked into one ``[members, D, values]`` weight, the same functions
(a LayerNorm's affine part folds into the Linear after it) evaluated in one product.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.functional import layer_norm


class EnsembleTail(nn.Module):
    """``[B, N, D]`` token states -> ``[B, members, N, values]`` predictions, one linear head per member."""

    def __init__(self, dim: int, members: int, values: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(members, dim, values))
        self.bias = nn.Parameter(torch.empty(members, values))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Each head as a Linear's default init, drawn independently, so the members differ from the start."""
        bound = 1 / math.sqrt(self.weight.shape[1])
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    @property
    def members(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = layer_norm(x, x.shape[-1:])
        return torch.einsum("bnd,mdk->bmnk", x, self.weight) + self.bias[None, :, None]


__all__ = ["EnsembleTail"]
