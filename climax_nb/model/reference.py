"""The straightforward ClimaX: a loop of per-variable Conv2d patch embeddings and
``nn.MultiheadAttention`` over all variable tokens, as in the released code.

It is the yardstick for ``benchmarks/model_speed.py`` and the equivalence tests; its
state dict has the released layout (``token_embeds.N.proj.*``), so released weights
load into it after the old-name renaming alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from climax_nb.model.climax import ClimaX, ClimaXBase
from climax_nb.model.config import ClimaXConfig, preset
from climax_nb.model.released import canonical_state, transfer_released
from climax_nb.variables import CLIMAX_DEFAULT_IDS


class PatchEmbed(nn.Module):
    """One variable's ``Conv2d(1, D, p, stride=p)``, tokens flattened row-major."""

    def __init__(self, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(1, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, L, D]


class ReferenceClimaX(ClimaXBase):
    """ClimaX computed the released way; same API and function as ``ClimaX``."""

    def make_tokenizer(self, cfg: ClimaXConfig) -> nn.ModuleList:
        return nn.ModuleList(PatchEmbed(cfg.patch_size, cfg.embed_dim) for _ in cfg.variables)

    def make_aggregation(self, cfg: ClimaXConfig) -> nn.MultiheadAttention:
        return nn.MultiheadAttention(cfg.embed_dim, cfg.num_heads, batch_first=True)

    def reset_tokenizer(self) -> None:
        for embed in self.token_embeds:
            w = embed.proj.weight.data
            nn.init.trunc_normal_(w.view(w.shape[0], -1), std=0.02)

    def aggregate(self, x: torch.Tensor, index: torch.Tensor, patch_ids: torch.Tensor | None,
                  need_weights: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        tokens = torch.stack(
            [self.token_embeds[i](x[:, j : j + 1]) for j, i in enumerate(index.tolist())], dim=1
        )  # B, V, L, D
        tokens = tokens + self.var_embed[:, index].unsqueeze(2)
        if patch_ids is not None:
            tokens = tokens[:, :, patch_ids]
        b, _, n, _ = tokens.shape
        tokens = tokens.transpose(1, 2).flatten(0, 1)  # B*L, V, D
        query = self.var_query.expand(tokens.shape[0], -1, -1)
        out, attn = self.var_agg(query, tokens, tokens, need_weights=need_weights,
                                 average_attn_weights=False)
        out = out.squeeze(1).unflatten(0, (b, n))
        if attn is not None:
            attn = attn.squeeze(2).unflatten(0, (b, n))  # B, L, heads, V
        return out, attn

    def to_fast(self) -> ClimaX:
        """A ``ClimaX`` holding these weights (mapped as released checkpoints are)."""
        fast = ClimaX.from_config(self.config).to(self.pos_embed.device)
        transfer_released(fast, canonical_state(self.state_dict())[0], self.variables)
        return fast.train(self.training)


def write_released_style_checkpoint(path: str | os.PathLike, preset_name: str = "tiny") -> Path:
    """A Lightning-style checkpoint in the released layout (``net.`` keys, 48 variables, 5.625°), random weights.

    It has the structure of the released files, so ``load_official_checkpoint`` reads it
    exactly as it reads ``5.625deg.ckpt``; only its size and weights differ.
    """
    model = ReferenceClimaX.from_config(preset(preset_name, variables=tuple(CLIMAX_DEFAULT_IDS), img_size=(32, 64)))
    state = {f"net.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 0, "global_step": 0}, path)
    return Path(path)
