"""Per-field encoders: a field's tokens embedded with their auxiliary information, then attention layers.

Everything a field owns is in its ``FieldEncoder`` (its token and auxiliary projections, its
level and mask embeddings, its layers and their key/value projections for the fields it
reads), so a model's encoders sit in a ``ModuleDict`` keyed by field id and a field can be
left out or added without touching another field's parameters. The fields' layers run in
lockstep (``encode_fields``): layer ``l`` of every field reads the other fields' outputs of
layer ``l - 1``, so the result does not depend on the order the fields are listed in.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from climax_nb.model.atmorep.attention import AttentionLayer
from climax_nb.model.atmorep.config import AtmoRepConfig, FieldSpec
from climax_nb.model.atmorep.tokens import AUX_FEATURES


def pad_aux_weight(weight: torch.Tensor) -> torch.Tensor:
    """An auxiliary projection's weight ``[D, A]`` from a checkpoint with fewer features (made before the last
    of ``AUX_FEATURES`` were added), widened with zero columns: the old features keep their weights and the new
    ones (the forcing) start without effect, so the old model computes what it did."""
    missing = len(AUX_FEATURES) - weight.shape[-1]
    if weight.ndim != 2 or missing <= 0:
        return weight
    return torch.cat([weight, weight.new_zeros(weight.shape[0], missing)], dim=1)


def pad_aux_weights(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with every field's ``embed.aux.weight`` widened by ``pad_aux_weight`` (other entries as they are)."""
    return {k: pad_aux_weight(v) if k.endswith("embed.aux.weight") else v for k, v in state.items()}


class AuxProjection(nn.Linear):
    """The linear layer of the auxiliary features; loads the narrower weight of an older checkpoint (zero-padded)."""

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # noqa: ANN001 - torch's hook
        key = prefix + "weight"
        if key in state_dict:
            state_dict[key] = pad_aux_weight(state_dict[key])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class FieldEmbedding(nn.Module):
    """Token values and auxiliary features of one field -> embeddings ``[B, levels * tokens, D]``."""

    def __init__(self, spec: FieldSpec, cfg: AtmoRepConfig) -> None:
        super().__init__()
        dim = cfg.embed_dim
        self.proj = nn.Linear(cfg.token_cells, dim)
        self.aux = AuxProjection(len(AUX_FEATURES), dim)
        self.level_embed = nn.Parameter(torch.zeros(spec.num_levels, dim))
        #: added to hidden tokens, so the model can tell a hidden token from one that is zero; starts at zero
        self.mask_embed = nn.Parameter(torch.zeros(dim))
        nn.init.trunc_normal_(self.level_embed, std=0.02)

    def forward(self, tokens: torch.Tensor, aux: torch.Tensor, position: torch.Tensor,
                hidden: torch.Tensor | None = None) -> torch.Tensor:
        """``tokens`` [B, L, nt, nh, nw, k], ``aux`` [B, L, nt, nh, nw, A], ``position`` [nt*nh*nw, D].

        ``hidden`` [B, L, nt, nh, nw] marks tokens the model must not see: their values are
        replaced by zero (the normalised mean) and the mask embedding is added.
        """
        if hidden is not None:
            tokens = tokens.masked_fill(hidden.unsqueeze(-1), 0.0)
        nt, nh, nw = tokens.shape[2:5]
        x = self.proj(tokens) + self.aux(aux.to(tokens.dtype))
        x = x + self.level_embed[:, None, None, None] + position.reshape(nt, nh, nw, -1)
        if hidden is not None:
            x = x + hidden.unsqueeze(-1).to(x.dtype) * self.mask_embed
        return x.flatten(1, 4)


class FieldEncoder(nn.Module):
    """One field's embedding and its ``encoder_depth`` layers of self-attention and coupling."""

    def __init__(self, spec: FieldSpec, cfg: AtmoRepConfig) -> None:
        super().__init__()
        self.field = spec.id
        self.embed = FieldEmbedding(spec, cfg)
        self.layers = nn.ModuleList(
            AttentionLayer(cfg.embed_dim, cfg.num_heads, spec.coupled, cfg.mlp_ratio, cfg.dropout)
            for _ in range(cfg.encoder_depth)
        )


def encode_fields(encoders: Mapping[str, FieldEncoder], embedded: Mapping[str, torch.Tensor],
                  need_weights: bool = False
                  ) -> tuple[dict[str, list[torch.Tensor]], list[dict[str, dict[str, torch.Tensor]]]]:
    """Run the fields' encoder layers in lockstep on their embeddings.

    Returns each field's outputs after every layer (the decoder's skips; the last is the
    encoding) and, with ``need_weights``, per layer each field's cross-attention shares on the
    coupled fields present (``{field: {source: [B]}}``).
    """
    states = dict(embedded)
    outputs: dict[str, list[torch.Tensor]] = {f: [] for f in states}
    shares: list[dict[str, dict[str, torch.Tensor]]] = []
    depth = len(next(iter(encoders.values())).layers)
    for layer in range(depth):
        new, layer_shares = {}, {}
        for f, x in states.items():
            new[f], share = encoders[f].layers[layer](x, states, need_weights)
            if share is not None:
                layer_shares[f] = share
            outputs[f].append(new[f])
        states = new
        shares.append(layer_shares)
    return outputs, shares


__all__ = ["FieldEmbedding", "FieldEncoder", "encode_fields"]
