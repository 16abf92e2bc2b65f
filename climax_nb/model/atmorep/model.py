"""The AtmoRep model: per-field encoders coupled by cross-attention, per-field decoders and ensemble tails.

``forward`` takes one cube ``[B, levels, T, lat, lon]`` per field (normalised values), the
list of field ids the cubes hold, the neighbourhoods' ``CubeCoords`` and, optionally, a
boolean token mask per field, and returns per decoded field the ensemble
``[B, members, levels, T, lat, lon]``.

Masking: the caller chooses the tokens (``climax_nb.model.atmorep.masking``) and replaces
the noised and coarsened ones itself (``apply_masks``); the tokens it passes as
``token_masks`` (True = hidden, e.g. ``TokenMasks.hidden``) are zeroed inside the model and
get the field's learnt mask embedding, so a forecast is the cube with its last time slab
marked hidden, whatever that slab holds.

Plug and play: any subset of the model's fields may be fed; a field reads those of its
coupled fields that are present, and a field missing at inference is left out of the
others' cross-attention.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import torch
from torch import nn

from climax_nb.model.atmorep.config import AtmoRepConfig, UnknownFieldError
from climax_nb.model.atmorep.decoder import FieldDecoder
from climax_nb.model.atmorep.encoder import FieldEncoder, encode_fields
from climax_nb.model.atmorep.prior import nearest_visible, visible_cells
from climax_nb.model.atmorep.tail import EnsembleTail
from climax_nb.model.atmorep.tokens import (
    SURFACE_LEVEL_HPA,
    CubeCoords,
    space_time_table,
    token_aux,
    tokenize,
    untokenize,
)
from climax_nb.model.climax import init_linear_and_norm


class AtmoRep(nn.Module):
    """AtmoRep's multi-field masked token model for the fields of ``config``."""

    def __init__(self, config: AtmoRepConfig) -> None:
        super().__init__()
        self.config = config
        dim, cells = config.embed_dim, config.token_cells
        self.register_buffer("position", space_time_table(dim, config.token_grid), persistent=False)
        self.encoders = nn.ModuleDict({f.id: FieldEncoder(f, config) for f in config.fields})
        self.decoders = nn.ModuleDict({f.id: FieldDecoder(config) for f in config.fields})
        self.tails = nn.ModuleDict({f.id: EnsembleTail(dim, config.members, cells) for f in config.fields})
        for module in (self.encoders, self.decoders):
            module.apply(init_linear_and_norm)

    @classmethod
    def from_config(cls, cfg: AtmoRepConfig | dict) -> Self:
        """Build from an ``AtmoRepConfig`` or its dict form (e.g. ``preset('compact')``)."""
        return cls(cfg if isinstance(cfg, AtmoRepConfig) else AtmoRepConfig.from_dict(cfg))

    @property
    def fields(self) -> tuple[str, ...]:
        return self.config.field_ids

    # -- inputs -----------------------------------------------------------------------------------
    def check_inputs(self, cubes: Sequence[torch.Tensor], fields: Sequence[str], coords: CubeCoords,
                     token_masks: Sequence[torch.Tensor | None] | None) -> None:
        """Raise naming the field and the expected shape when inputs do not fit this model."""
        if isinstance(fields, str):
            raise ValueError(f"fields must be a list of field ids, got the string {fields!r}")
        if len(cubes) != len(fields):
            raise ValueError(f"{len(cubes)} cubes but {len(fields)} field ids ({list(fields)}); pass one id per cube")
        if not fields:
            raise ValueError(f"pass at least one field; this model has {list(self.fields)}")
        unknown = [f for f in fields if f not in self.encoders]
        if unknown:
            raise UnknownFieldError(f"this model has no field(s) {unknown}; it has {list(self.fields)}")
        if len(set(fields)) != len(fields):
            raise ValueError(f"field ids must be unique, got {list(fields)}")
        t, h, w = self.config.neighbourhood
        batch = cubes[0].shape[0] if cubes[0].ndim else 0
        if coords.shape != (batch, t, h, w):
            raise ValueError(f"coords describe {coords.shape} (batch, T, lat, lon); the cubes need "
                             f"({batch}, {t}, {h}, {w})")
        if token_masks is not None and len(token_masks) != len(fields):
            raise ValueError(f"{len(token_masks)} token masks for {len(fields)} fields; pass one (or None) per field")
        grid = self.config.token_grid
        for i, (fid, cube) in enumerate(zip(fields, cubes, strict=True)):
            levels = self.config.spec(fid).num_levels
            if tuple(cube.shape) != (batch, levels, t, h, w):
                raise ValueError(
                    f"field {fid!r} must be [batch, levels, T, lat, lon] = [{batch}, {levels}, {t}, {h}, {w}] "
                    f"(neighbourhood {self.config.neighbourhood}); got {tuple(cube.shape)}"
                )
            mask = None if token_masks is None else token_masks[i]
            if mask is not None and (mask.dtype != torch.bool or tuple(mask.shape) != (batch, levels, *grid)):
                raise ValueError(
                    f"the token mask of {fid!r} must be bool [batch, levels, nt, nh, nw] = "
                    f"[{batch}, {levels}, {', '.join(map(str, grid))}]; got {mask.dtype} {tuple(mask.shape)}"
                )

    def levels_hpa(self, fid: str) -> tuple[float, ...]:
        """The pressures the level feature of field ``fid`` holds (single-level fields at the surface)."""
        return tuple(float(p) for p in self.config.spec(fid).levels) or (SURFACE_LEVEL_HPA,)

    # -- the network --------------------------------------------------------------------------------
    def encode(self, cubes: Sequence[torch.Tensor], fields: Sequence[str], coords: CubeCoords,
               token_masks: Sequence[torch.Tensor | None] | None = None, need_weights: bool = False
               ) -> tuple[dict[str, list[torch.Tensor]], list[dict[str, dict[str, torch.Tensor]]]]:
        """Each field's encoder outputs after every layer, and the cross-attention shares (see ``encode_fields``)."""
        self.check_inputs(cubes, fields, coords, token_masks)
        coords = coords.to(cubes[0].device)
        size = self.config.token_size
        embedded = {}
        for i, (fid, cube) in enumerate(zip(fields, cubes, strict=True)):
            aux = token_aux(coords, self.levels_hpa(fid), size)
            hidden = None if token_masks is None else token_masks[i]
            embedded[fid] = self.encoders[fid].embed(tokenize(cube, size), aux, self.position, hidden)
        return encode_fields(self.encoders, embedded, need_weights)

    def decode(self, fid: str, encoder_outputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """The ensemble ``[B, members, levels, T, lat, lon]`` of field ``fid`` from its encoder outputs."""
        x = self.tails[fid](self.decoders[fid](encoder_outputs))  # [B, M, L * tokens, cells]
        b, m = x.shape[:2]
        x = x.reshape(b, m, self.config.spec(fid).num_levels, *self.config.token_grid, -1)
        return untokenize(x, self.config.token_size)

    def forward(self, cubes: Sequence[torch.Tensor], fields: Sequence[str], coords: CubeCoords,
                token_masks: Sequence[torch.Tensor | None] | None = None, outputs: Sequence[str] | None = None,
                return_attention: bool = False
                ) -> dict[str, torch.Tensor] | tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Ensembles of the ``outputs`` fields (default: all fed) from ``cubes`` holding ``fields``.

        With ``return_attention`` also returns the field x field coupling matrix ``[F, F]``
        over ``fields`` (rows: the attending field; columns: the field attended to): each
        row's share of cross-attention on each coupled field present, averaged over batch,
        layers, heads and tokens. Rows sum to 1; a field that reads no field present has a
        row of zeros.
        """
        outputs = list(fields) if outputs is None else list(outputs)
        missing = [f for f in outputs if f not in fields]
        if missing:
            raise ValueError(f"cannot decode {missing}: a field is decoded from its own encoder, so feed it too "
                             f"(fed: {list(fields)})")
        encoded, shares = self.encode(cubes, fields, coords, token_masks, need_weights=return_attention)
        preds = {fid: self.decode(fid, encoded[fid]) for fid in outputs}
        if self.config.prior == "nearest":
            preds = {fid: preds[fid] + self.prior(cubes[fields.index(fid)],
                                                  None if token_masks is None else token_masks[fields.index(fid)])
                     for fid in outputs}
        if not return_attention:
            return preds
        return preds, coupling_matrix(shares, list(fields), cubes[0].device)


    def prior(self, cube: torch.Tensor, token_mask: torch.Tensor | None) -> torch.Tensor:
        """The nearest visible step of each cell ``[B, 1, L, T, H, W]`` (``config.prior`` nearest), broadcast over
        the members; with nothing hidden, the cube itself."""
        if token_mask is None:
            return cube[:, None]
        return nearest_visible(cube, visible_cells(token_mask, self.config.token_size))[:, None]


def coupling_matrix(shares: Sequence[dict[str, dict[str, torch.Tensor]]], fields: Sequence[str],
                    device: torch.device | None = None) -> torch.Tensor:
    """Average per-layer cross-attention shares into a ``[F, F]`` matrix over ``fields`` (see ``AtmoRep.forward``)."""
    index = {f: i for i, f in enumerate(fields)}
    matrix = torch.zeros(len(fields), len(fields), device=device)
    for f in fields:
        layers = [layer[f] for layer in shares if f in layer]
        for layer in layers:
            for source, share in layer.items():
                matrix[index[f], index[source]] += share.detach().float().mean() / len(layers)
    return matrix


__all__ = ["AtmoRep", "coupling_matrix"]
