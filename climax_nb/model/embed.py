"""Tokens in and fields out: sin-cos tables, per-variable patch tokenizer, (un)patchify.

The tokenizer is ClimaX's per-variable ``Conv2d(1, D, p, stride=p)`` stored as one
stacked weight (the layout of ClimaX's ``ParallelVarPatchEmbed``), so all variables
are tokenized by one batched product instead of a Python loop.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def sincos_1d(embed_dim: int, pos: np.ndarray) -> np.ndarray:
    """Sin-cos table [len(pos), embed_dim]: sines then cosines, periods up to 10000."""
    if embed_dim % 2:
        raise ValueError(f"sin-cos embedding needs an even width, got {embed_dim}")
    omega = np.arange(embed_dim // 2, dtype=np.float64) / (embed_dim / 2.0)
    omega = 1.0 / 10000**omega
    out = np.einsum("m,d->md", np.asarray(pos, dtype=np.float64).reshape(-1), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def sincos_2d(embed_dim: int, grid_h: int, grid_w: int) -> np.ndarray:
    """ClimaX's 2-D table [grid_h * grid_w, D], row-major patches.

    As released, the first half encodes the column (longitude) index and the second
    half the row index; keeping this order keeps pretrained position embeddings valid.
    """
    cols, rows = np.meshgrid(np.arange(grid_w, dtype=np.float32),
                             np.arange(grid_h, dtype=np.float32))
    return np.concatenate(
        [sincos_1d(embed_dim // 2, cols), sincos_1d(embed_dim // 2, rows)], axis=1
    )


def patchify(x: torch.Tensor, patch_size: int) -> torch.Tensor:
    """[B, V, H, W] -> [B, V, L, p*p], patches row-major, pixels row-major inside a patch."""
    b, v, h, w = x.shape
    p = patch_size
    x = x.reshape(b, v, h // p, p, w // p, p).permute(0, 1, 2, 4, 3, 5)
    return x.reshape(b, v, (h // p) * (w // p), p * p)


def unpatchify(y: torch.Tensor, patch_size: int, grid_h: int, grid_w: int) -> torch.Tensor:
    """[B, L, p*p*V] (pixel-major, variable-minor as ClimaX's head) -> [B, V, H, W]."""
    b, n, c = y.shape
    p = patch_size
    if n != grid_h * grid_w:
        raise ValueError(f"{n} tokens cannot fill a {grid_h}x{grid_w} patch grid")
    v = c // (p * p)
    y = y.reshape(b, grid_h, grid_w, p, p, v).permute(0, 5, 1, 3, 2, 4)
    return y.reshape(b, v, grid_h * p, grid_w * p)


def interpolate_pos_embed(pos_embed: torch.Tensor, old_grid: tuple[int, int],
                          new_grid: tuple[int, int]) -> torch.Tensor:
    """Resample a [1, h*w, D] position table bicubically to a new patch grid (as ClimaX)."""
    d = pos_embed.shape[-1]
    tokens = pos_embed.reshape(1, old_grid[0], old_grid[1], d).permute(0, 3, 1, 2)
    tokens = nn.functional.interpolate(tokens.float(), size=new_grid, mode="bicubic",
                                       align_corners=False)
    return tokens.permute(0, 2, 3, 1).flatten(1, 2).to(pos_embed.dtype)


class VariableTokenizer(nn.Module):
    """One linear patch embedding per variable, applied to all variables at once."""

    def __init__(self, num_vars: int, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        p = patch_size
        # Names and shapes of ClimaX's ParallelVarPatchEmbed: [V, D, 1, p, p] and [V, D].
        self.proj_weights = nn.Parameter(torch.empty(num_vars, embed_dim, 1, p, p))
        self.proj_biases = nn.Parameter(torch.empty(num_vars, embed_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """ClimaX's init: weights N(0, 0.02); biases as a Conv2d's default."""
        nn.init.trunc_normal_(self.proj_weights, std=0.02)
        bound = 1 / math.sqrt(self.patch_size**2)
        nn.init.uniform_(self.proj_biases, -bound, bound)

    def weight(self, index: torch.Tensor) -> torch.Tensor:
        """Kernels of the selected variables as matrices [Vi, D, p*p]."""
        return self.proj_weights[index].flatten(2)

    def forward(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """[B, Vi, H, W] with model-variable indices ``index`` -> tokens [B, Vi, L, D]."""
        patches = patchify(x, self.patch_size)
        tokens = torch.einsum("bvlk,vdk->bvld", patches, self.weight(index))
        return tokens + self.proj_biases[index].unsqueeze(1)
