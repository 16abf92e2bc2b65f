"""Per-field decoders: cross-attention layers reading the field's own encoder layers in reverse (U-Net skips).

Decoder layer ``l`` of ``D`` attends to the output of encoder layer ``E - 1 - l`` of the same
field, so the first decoder layer reads the deepest encoding and the last the shallowest, as
in AtmoRep; the coupling between fields happens in the encoders only.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from climax_nb.model.atmorep.attention import AttentionLayer
from climax_nb.model.atmorep.config import AtmoRepConfig

#: The name the encoder's skip goes by in a decoder layer's cross-attention.
SKIP = "encoder"


class FieldDecoder(nn.Module):
    """``decoder_depth`` layers of self-attention, cross-attention to an encoder skip, and MLP."""

    def __init__(self, cfg: AtmoRepConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            AttentionLayer(cfg.embed_dim, cfg.num_heads, (SKIP,), cfg.mlp_ratio, cfg.dropout)
            for _ in range(cfg.decoder_depth)
        )

    def forward(self, encoder_outputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Decoded tokens ``[B, N, D]`` from the field's encoder outputs after every layer (first to last)."""
        if len(encoder_outputs) < len(self.layers):
            raise ValueError(f"{len(self.layers)} decoder layers need as many encoder outputs, "
                             f"got {len(encoder_outputs)}")
        x = encoder_outputs[-1]
        for i, layer in enumerate(self.layers):
            x, _ = layer(x, {SKIP: encoder_outputs[-1 - i]})
        return x


__all__ = ["SKIP", "FieldDecoder"]
