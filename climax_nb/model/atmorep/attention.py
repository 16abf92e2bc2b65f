"""The one transformer layer AtmoRep's encoders and decoders are made of.

Self-attention over a field's own tokens, then cross-attention from them to named sources
(the coupled fields in an encoder, the encoder's skip in a decoder), then an MLP; each a
pre-norm residual branch. The cross-attention's keys and values come from one projection per
source, kept in a ``ModuleDict`` under the source's id: a source missing at inference is left
out of the softmax, and a source added later brings its own projection while every existing
parameter keeps its name and shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.nn.functional import layer_norm, scaled_dot_product_attention

from climax_nb.model.blocks import Attention, Mlp


def _heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """[B, N, D] -> [B, heads, N, D / heads]."""
    b, n, d = x.shape
    return x.reshape(b, n, num_heads, d // num_heads).transpose(1, 2)


class CrossAttention(nn.Module):
    """Queries from ``x``; keys and values from the tokens of all given sources, under one softmax."""

    def __init__(self, dim: int, num_heads: int, sources: Sequence[str], proj_drop: float = 0.0) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.sources = tuple(sources)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.ModuleDict({s: nn.Linear(dim, 2 * dim) for s in self.sources})
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, memories: Sequence[tuple[str, torch.Tensor]], need_weights: bool = False
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        """Output ``[B, N, D]`` and, with ``need_weights``, each source's share ``[B]`` of the attention.

        A share is the attention mass the queries put on that source's tokens, averaged over
        queries and heads, so the shares of the sources given sum to 1.
        """
        if not memories:
            raise ValueError("cross-attention needs at least one source; leave the branch out instead")
        names = [name for name, _ in memories]
        # sources are other fields' token states: normalised without parameters of their own here
        kvs = [self.kv[name](layer_norm(mem, mem.shape[-1:])) for name, mem in memories]
        k, v = torch.cat(kvs, dim=1).chunk(2, dim=-1)
        q, k, v = (_heads(t, self.num_heads) for t in (self.q(x), k, v))
        if need_weights:
            weights = torch.softmax(q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5, dim=-1)
            out = weights @ v
            mass = weights.mean(dim=(1, 2))  # [B, keys]
            sizes = [m.shape[1] for _, m in memories]
            shares = {n: part.sum(-1) for n, part in zip(names, mass.split(sizes, dim=-1), strict=True)}
        else:
            out, shares = scaled_dot_product_attention(q, k, v), None
        b, _, n, _ = out.shape
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, n, -1))), shares


class AttentionLayer(nn.Module):
    """x + self(norm(x)); x + cross(norm(x), sources present); x + mlp(norm(x))."""

    def __init__(self, dim: int, num_heads: int, sources: Sequence[str] = (), mlp_ratio: float = 2.0,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.sources = tuple(sources)
        self.norm_self = nn.LayerNorm(dim)
        self.self_attn = Attention(dim, num_heads, proj_drop=dropout)
        self.norm_cross = nn.LayerNorm(dim) if self.sources else None
        self.cross_attn = CrossAttention(dim, num_heads, self.sources, dropout) if self.sources else None
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=dropout)

    def forward(self, x: torch.Tensor, memories: Mapping[str, torch.Tensor] | None = None,
                need_weights: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        """``x`` [B, N, D] updated; ``memories`` holds the sources present (others, and unknown ones, are left out)."""
        x = x + self.self_attn(self.norm_self(x))
        shares = None
        present = [(s, memories[s]) for s in self.sources if memories and s in memories]
        if present:
            out, shares = self.cross_attn(self.norm_cross(x), present, need_weights)
            x = x + out
        return x + self.mlp(self.norm_mlp(x)), shares


__all__ = ["AttentionLayer", "CrossAttention"]
