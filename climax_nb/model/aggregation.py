"""Variable aggregation: one learned query attends over the V variable tokens of a patch.

ClimaX runs ``nn.MultiheadAttention(query, tokens, tokens)`` at every patch, which
projects every variable token to keys and values: 2·V·D² multiply-adds per patch,
as much as the whole ViT backbone at 48 variables. Because the query is one learned
vector and the tokens are affine in the patch pixels, the same function costs far less:

* scores: ``q_h·(W_k,h x_v + b_k,h) / sqrt(d_h) = u_h·x_v + const_h`` with
  ``u_h = W_k,hᵀ q_h / sqrt(d_h)``; the constant is the same for every variable, so
  softmax removes it. With ``x_v = A_v p_v`` (tokenizer kernel, bias and variable
  embedding folded into ``A_v`` by appending a constant 1 to the patch ``p_v``), the
  scores are ``(A_vᵀ u_h)·p_v``: p*p+1 multiply-adds per variable and head.
* values: ``Σ_v a_hv (W_v,h x_v + b_v,h) = Σ_v (W_v,h A_v)(a_hv p_v) + b_v,h`` since the
  weights sum to one; ``W_v,h A_v`` is computed once per call, not once per patch.

Nothing is approximated: only the order of the sums changes (float rounding).
Parameter names match ``nn.MultiheadAttention`` so released weights load unchanged.
"""

from __future__ import annotations

import torch
from torch import nn


class VariableAggregation(nn.Module):
    """Cross-attention from one query to the affine tokens ``x_v = A_v [p_v, 1]``."""

    def __init__(self, embed_dim: int, num_heads: int) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} must be a multiple of num_heads {num_heads}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim))
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """As ``nn.MultiheadAttention``: Xavier-uniform projections, zero biases."""
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.in_proj_bias)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, query: torch.Tensor, patches: torch.Tensor, weight: torch.Tensor,
                bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Aggregate the tokens ``weight_v @ patches[:, v, l] + bias_v`` over v.

        query [D]; patches [B, V, L, K]; weight [V, D, K]; bias [V, D].
        Returns the aggregated tokens [B, L, D] and the attention weights [B, L, heads, V].
        """
        h = self.num_heads
        d = self.embed_dim
        w_q, w_k, w_v = self.in_proj_weight.view(3, h, d // h, d).unbind(0)
        b_q, _, b_v = self.in_proj_bias.view(3, h, d // h).unbind(0)  # b_k drops out (softmax)

        q = torch.einsum("hjd,d->hj", w_q, query) + b_q
        u = torch.einsum("hj,hjd->hd", q, w_k) * (d // h) ** -0.5  # [H, D]
        affine = torch.cat([weight, bias.unsqueeze(-1)], dim=-1)  # [V, D, K+1]
        ones = patches.new_ones(patches.shape[:-1] + (1,))
        p = torch.cat([patches, ones], dim=-1)  # [B, V, L, K+1]

        scores = torch.einsum("bvlk,vkh->blhv", p, torch.einsum("vdk,hd->vkh", affine, u))
        attn = scores.softmax(dim=-1)  # [B, L, H, V]

        mixed = attn.unsqueeze(-1) * p.permute(0, 2, 1, 3).unsqueeze(2)  # [B, L, H, V, K+1]
        value_maps = torch.einsum("hjd,vdk->hvkj", w_v, affine).flatten(1, 2)  # [H, V(K+1), dh]
        heads = torch.einsum("blhn,hnj->blhj", mixed.flatten(3), value_maps) + b_v
        return self.out_proj(heads.flatten(2)), attn
