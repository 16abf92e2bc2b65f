"""The ClimaX model: any subset of known variables in, forecasts of chosen variables out.

``ClimaXBase`` holds what every implementation shares (embeddings, ViT backbone, head,
input checks); ``ClimaX`` adds the batched tokenizer and the reordered, exact variable
aggregation. ``climax_nb.model.reference`` holds the straightforward version of the two.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Self

import numpy as np
import torch
from torch import nn

from climax_nb.model.aggregation import VariableAggregation
from climax_nb.model.blocks import Block, make_head
from climax_nb.model.config import ClimaXConfig
from climax_nb.model.embed import VariableTokenizer, patchify, sincos_1d, sincos_2d, unpatchify
from climax_nb.variables import CLIMAX_DEFAULT_IDS, to_id

#: Lead times enter the network as hours / 100, the scale of the released weights.
LEAD_TIME_SCALE = 100.0
#: The damped residual's parameters enter multiplied by this, so that Adam's steps (about the learning
#: rate in parameter units) move the mean field and the time scales within a few hundred steps.
DAMPING_PARAMETER_SCALE = 10.0
#: The seasonal mean field's year: a tropical year of days, and nanoseconds (the batches' ``init_time`` unit) per day.
DAYS_PER_YEAR = 365.2422
NANOSECONDS_PER_DAY = 86_400 * 10**9
#: softplus(-4) = 0.018 per LEAD_TIME_SCALE hours: the base starts within 2.2 % of persistence at 120 h.
INITIAL_DAMPING_LOGIT = -4.0


def init_linear_and_norm(m: nn.Module) -> None:
    """ClimaX's init: Linear weights N(0, 0.02) with zero bias, LayerNorm to identity."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


class ClimaXBase(nn.Module):
    """Shared ClimaX parts; subclasses provide the tokenizer and the variable aggregation."""

    def __init__(
        self,
        variables: Sequence[str] = CLIMAX_DEFAULT_IDS,
        img_size: Sequence[int] = (32, 64),
        patch_size: int = 2,
        embed_dim: int = 1024,
        depth: int = 8,
        decoder_depth: int = 2,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.1,
        drop_rate: float = 0.1,
        residual: bool = False,
        residual_damping: bool = False,
        head_smoothing: int = 0,
        seasonal_harmonics: int = 0,
        head_zonal_filter: bool = False,
    ) -> None:
        super().__init__()
        cfg = ClimaXConfig(tuple(variables), tuple(img_size), patch_size, embed_dim, depth,
                           decoder_depth, num_heads, mlp_ratio, drop_path, drop_rate, residual,
                           residual_damping, head_smoothing, seasonal_harmonics, head_zonal_filter)
        self.config = cfg
        self.variables: tuple[str, ...] = cfg.variables
        self._position = {v: i for i, v in enumerate(cfg.variables)}
        self._index_cache: dict[tuple[Any, ...], torch.Tensor] = {}
        nvar, dim = len(cfg.variables), cfg.embed_dim

        self.token_embeds = self.make_tokenizer(cfg)
        self.var_embed = nn.Parameter(torch.zeros(1, nvar, dim))
        self.var_query = nn.Parameter(torch.zeros(1, 1, dim))
        self.var_agg = self.make_aggregation(cfg)
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_patches, dim))
        self.lead_time_embed = nn.Linear(1, dim)
        self.pos_drop = nn.Dropout(drop_rate)
        rates = torch.linspace(0, drop_path, depth).tolist()  # stochastic depth grows with depth
        self.blocks = nn.ModuleList(
            [Block(dim, num_heads, mlp_ratio, drop=drop_rate, drop_path=r) for r in rates]
        )
        self.norm = nn.LayerNorm(dim)
        self.head = make_head(dim, nvar * patch_size**2, decoder_depth)
        if cfg.residual_damping:  # per variable: softplus(rate) per LEAD_TIME_SCALE hours, and the field relaxed to
            self.damping_rate = nn.Parameter(torch.zeros(nvar))
            self.mean_field = nn.Parameter(torch.zeros(nvar, *cfg.img_size))
        if cfg.seasonal_harmonics:  # cos and sin of each annual harmonic of the mean field, per variable and cell
            self.mean_field_cycle = nn.Parameter(torch.zeros(nvar, 2 * cfg.seasonal_harmonics, *cfg.img_size))
        if cfg.head_smoothing:
            self.head_smoother = nn.Parameter(torch.zeros(nvar, 1, cfg.head_smoothing, cfg.head_smoothing))
        if cfg.head_zonal_filter:
            self.head_zonal_gain = nn.Parameter(torch.ones(nvar, cfg.img_size[0], cfg.img_size[1] // 2 + 1))
        self.initialize_weights()

    # -- implementation hooks -------------------------------------------------------------
    def make_tokenizer(self, cfg: ClimaXConfig) -> nn.Module:
        raise NotImplementedError

    def make_aggregation(self, cfg: ClimaXConfig) -> nn.Module:
        raise NotImplementedError

    def reset_tokenizer(self) -> None:
        raise NotImplementedError

    def aggregate(self, x: torch.Tensor, index: torch.Tensor, patch_ids: torch.Tensor | None,
                  need_weights: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Tokens [B, L, D] (and attention [B, L, heads, Vi]) from fields [B, Vi, H, W]."""
        raise NotImplementedError

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_config(cls, cfg: ClimaXConfig, **kwargs: Any) -> Self:
        """Build from a ``ClimaXConfig`` (e.g. ``preset('compact')``)."""
        return cls(**cfg.to_dict(), **kwargs)

    def reset_damped_base(self) -> list[str]:
        """The damped base at its start (a base close to persistence: slow damping toward a zero mean field).

        Its mean field and rate belong to the data it was learnt on, in their normalisation; fine-tuning
        on another world can start them afresh (``--model.init_fresh_base``). Returns the reset names.
        """
        reset = []
        if self.config.residual_damping:
            self.damping_rate.data.fill_(INITIAL_DAMPING_LOGIT / DAMPING_PARAMETER_SCALE)
            self.mean_field.data.zero_()
            reset += ["damping_rate", "mean_field"]
        if self.config.seasonal_harmonics:
            self.mean_field_cycle.data.zero_()
            reset.append("mean_field_cycle")
        return reset

    def initialize_weights(self) -> None:
        """Sin-cos position and variable embeddings, then ClimaX's Linear/LayerNorm init."""
        cfg = self.config
        pos = sincos_2d(cfg.embed_dim, *cfg.grid_size)
        self.pos_embed.data.copy_(torch.from_numpy(pos).float().unsqueeze(0))
        var = sincos_1d(cfg.embed_dim, np.arange(len(cfg.variables)))
        self.var_embed.data.copy_(torch.from_numpy(var).float().unsqueeze(0))
        self.reset_tokenizer()
        self.apply(init_linear_and_norm)
        self.reset_damped_base()
        if cfg.head_smoothing:  # the identity kernel
            self.head_smoother.data.zero_()
            self.head_smoother.data[:, :, cfg.head_smoothing // 2, cfg.head_smoothing // 2] = 1.0
        if cfg.head_zonal_filter:  # every wavenumber passed unchanged
            self.head_zonal_gain.data.fill_(1.0)

    # -- inputs ---------------------------------------------------------------------------
    def variable_index(self, variables: Sequence[str], device: torch.device) -> torch.Tensor:
        """Positions of ``variables`` (ids or long names) among the model's variables."""
        key = (tuple(variables), str(device))
        if key not in self._index_cache:
            ids = [to_id(v) for v in variables]  # UnknownVariableError (a ValueError)
            missing = [v for v in ids if v not in self._position]
            if missing:
                raise ValueError(
                    f"this model has no variable(s) {missing}; it knows {list(self.variables)}"
                )
            if len(set(ids)) != len(ids):
                raise ValueError(f"variables must be unique, got {list(variables)}")
            idx = torch.tensor([self._position[v] for v in ids], dtype=torch.long, device=device)
            self._index_cache[key] = idx
        return self._index_cache[key]

    def check_input(self, x: torch.Tensor, variables: Sequence[str]) -> torch.Tensor:
        """Validate x [B, V, H, W] against ``variables`` and the grid; return the index."""
        if isinstance(variables, str):
            raise ValueError(f"variables must be a list of names, got the string {variables!r}")
        if x.ndim != 4:
            raise ValueError(f"x must be [batch, variables, lat, lon], got shape {tuple(x.shape)}")
        if x.shape[1] != len(variables):
            raise ValueError(
                f"x has {x.shape[1]} channels but {len(variables)} variables were listed "
                f"({list(variables)}); pass one name per channel, in channel order"
            )
        if tuple(x.shape[-2:]) != self.config.img_size:
            raise ValueError(
                f"x is on a {x.shape[-2]}x{x.shape[-1]} grid; this model expects "
                f"{self.config.img_size[0]}x{self.config.img_size[1]} (regrid, or load the "
                "weights into a model built with that img_size to interpolate positions)"
            )
        return self.variable_index(variables, x.device)

    def lead_time_embedding(self, lead_times: torch.Tensor | float, like: torch.Tensor
                            ) -> torch.Tensor:
        """[B, 1, D] embedding of lead times in hours (entered as hours / 100)."""
        lead = torch.as_tensor(lead_times, dtype=like.dtype, device=like.device)
        lead = lead.expand(like.shape[0]) if lead.ndim == 0 else lead
        if lead.shape != (like.shape[0],):
            raise ValueError(
                f"lead_times must hold one value per sample, shape ({like.shape[0]},); "
                f"got {tuple(lead.shape)}"
            )
        if not bool(torch.all(torch.isfinite(lead) & (lead >= 0))):
            raise ValueError(f"lead times must be finite and >= 0 hours, got {lead.tolist()}")
        return self.lead_time_embed((lead / LEAD_TIME_SCALE).unsqueeze(-1)).unsqueeze(1)

    # -- forward --------------------------------------------------------------------------
    def forward_encoder(self, x: torch.Tensor, lead_times: torch.Tensor | float,
                        variables: Sequence[str], patch_ids: torch.Tensor | None = None,
                        need_weights: bool = False
                        ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Backbone output [B, L, D] for all patches, or for ``patch_ids`` only."""
        index = self.check_input(x, variables)
        tokens, attn = self.aggregate(x, index, patch_ids, need_weights)
        tokens = tokens + (self.pos_embed if patch_ids is None else self.pos_embed[:, patch_ids])
        tokens = tokens + self.lead_time_embedding(lead_times, x)
        tokens = self.pos_drop(tokens)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens), attn

    def predict_patches(self, x: torch.Tensor, lead_times: torch.Tensor | float,
                        variables: Sequence[str], out_variables: Sequence[str] | None,
                        return_attention: bool, patch_ids: torch.Tensor | None,
                        patch_grid: tuple[int, int],
                        crop: Callable[[torch.Tensor], torch.Tensor] | None = None,
                        init_times: torch.Tensor | None = None
                        ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Encoder, head and unpatchify for a rectangle of ``patch_grid`` patches.

        ``crop`` cuts the rectangle's cells out of full fields (the residual's base); ``init_times``
        (the inputs' times) place a seasonal mean field in the year.
        """
        tokens, attn = self.forward_encoder(x, lead_times, variables, patch_ids, return_attention)
        preds = unpatchify(self.head(tokens), self.config.patch_size, *patch_grid)
        if self.config.head_smoothing:
            preds = self.smooth(preds, wraps=patch_grid[1] == self.config.grid_size[1])
        out_variables = out_variables or self.variables
        out_index = self.variable_index(out_variables, x.device)
        preds = preds[:, out_index]
        inputs = None
        if self.config.residual:
            base = inputs = x if crop is None else crop(x)
            if self.config.residual_damping:
                base = self.damped_base(base, lead_times, variables, crop, init_times)
            preds = self.add_persistence(preds, base, variables, out_variables)
        if self.config.head_zonal_filter and tuple(patch_grid) == self.config.grid_size:
            # the change from the input is filtered (the damped base's pull included; the whole field of an
            # output that is not an input): scales whose gain is 0 persist
            anchor = (torch.zeros_like(preds) if inputs is None
                      else self.add_persistence(torch.zeros_like(preds), inputs, variables, out_variables))
            preds = anchor + self.zonal_filter(preds - anchor, out_index)
        return (preds, attn) if return_attention else preds

    def smooth(self, fields: torch.Tensor, wraps: bool) -> torch.Tensor:
        """The learnt per-variable smoothing of the head's fields [B, V, h, w]; periodic in longitude when
        ``wraps`` (the whole globe), edge values repeated at the poles and at a box's sides."""
        pad = self.config.head_smoothing // 2
        fields = nn.functional.pad(fields, (0, 0, pad, pad), mode="replicate")
        fields = nn.functional.pad(fields, (pad, pad, 0, 0), mode="circular" if wraps else "replicate")
        return nn.functional.conv2d(fields, self.head_smoother.to(fields.dtype), groups=fields.shape[1])

    def zonal_filter(self, fields: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """Whole-globe fields [B, V, H, W] of the variables at ``index`` (default: all) with each zonal
        wavenumber scaled by its learnt gain per variable and latitude row; in float32, as the FFT needs."""
        gain = self.head_zonal_gain if index is None else self.head_zonal_gain[index]
        spectrum = torch.fft.rfft(fields.float(), dim=-1) * gain.float()
        return torch.fft.irfft(spectrum, n=fields.shape[-1], dim=-1).to(fields.dtype)

    def damped_base(self, x: torch.Tensor, lead_times: torch.Tensor | float, variables: Sequence[str],
                    crop: Callable[[torch.Tensor], torch.Tensor] | None,
                    init_times: torch.Tensor | None = None) -> torch.Tensor:
        """The inputs relaxed toward the learnt mean field: m + exp(-rate * lead) (x - m), per input variable.

        With ``seasonal_harmonics`` the mean field is a learnt annual cycle taken at each sample's valid
        time. Inputs that are not outputs keep their values; ``add_persistence`` only reads the outputs' inputs."""
        index = self.variable_index(variables, x.device)
        lead = torch.as_tensor(lead_times, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
        mean = self.mean_field[index].unsqueeze(0)
        if self.config.seasonal_harmonics:
            phases = self.annual_phases(init_times, lead.reshape(-1), x)
            mean = mean + torch.einsum("bk,vkhw->bvhw", phases, self.mean_field_cycle[index])
        mean = DAMPING_PARAMETER_SCALE * (mean if crop is None else crop(mean))
        rate = nn.functional.softplus(DAMPING_PARAMETER_SCALE * self.damping_rate[index]).view(1, -1, 1, 1)
        keep = torch.exp(-rate * lead / LEAD_TIME_SCALE)
        return mean + keep.to(x.dtype) * (x - mean.to(x.dtype))

    def annual_phases(self, init_times: torch.Tensor | None, lead_hours: torch.Tensor, like: torch.Tensor
                      ) -> torch.Tensor:
        """[B, 2K] cos and sin of the K annual harmonics at each sample's valid time (init + lead)."""
        if init_times is None:
            raise ValueError(
                f"this model's mean field follows the season (seasonal_harmonics={self.config.seasonal_harmonics}): "
                "pass init_times, the inputs' times as int64 nanoseconds since 1970 (a batch's 'init_time'; "
                "ForecastModel.predict passes them)"
            )
        init = torch.as_tensor(init_times, device=like.device).reshape(-1)
        if init.dtype != torch.int64 or init.shape[0] not in (1, like.shape[0]):
            raise ValueError(f"init_times must be int64 nanoseconds since 1970, one per sample ({like.shape[0]}); "
                             f"got dtype {init.dtype}, shape {tuple(init.shape)}")
        # days in float64: nanoseconds since 1970 lose no precision there, and the phase is taken per tropical year
        days = init.to(torch.float64) / NANOSECONDS_PER_DAY + lead_hours.to(torch.float64) / 24.0
        angle = 2 * math.pi * torch.remainder(days / DAYS_PER_YEAR, 1.0)
        k = torch.arange(1, self.config.seasonal_harmonics + 1, device=like.device, dtype=torch.float64)
        phases = torch.cat([torch.cos(angle[:, None] * k), torch.sin(angle[:, None] * k)], dim=1)
        return phases.expand(like.shape[0], -1).to(self.mean_field.dtype)

    def add_persistence(self, preds: torch.Tensor, x: torch.Tensor, variables: Sequence[str],
                        out_variables: Sequence[str]) -> torch.Tensor:
        """``preds`` plus the input field (or its damped base) of every output that is also an input
        (residual models)."""
        key = ("persistence", tuple(variables), tuple(out_variables), str(x.device))
        if key not in self._index_cache:  # index tensors built once per variable lists, as variable_index does
            in_pos = {to_id(v): i for i, v in enumerate(variables)}
            pairs = [(o, in_pos[to_id(v)]) for o, v in enumerate(out_variables) if to_id(v) in in_pos]
            self._index_cache[key] = (torch.tensor([p for pair in pairs for p in pair], dtype=torch.long,
                                                   device=x.device).view(-1, 2).T.contiguous())
        outs, ins = self._index_cache[key]
        if not len(outs):
            return preds
        return preds.index_add(1, outs, x[:, ins].to(preds.dtype))

    def forward(self, x: torch.Tensor, lead_times: torch.Tensor | float,
                variables: Sequence[str], out_variables: Sequence[str] | None = None,
                return_attention: bool = False, init_times: torch.Tensor | None = None
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Forecast [B, Vo, H, W] from x [B, V, H, W] holding ``variables`` (any order/subset).

        ``lead_times`` are in hours (ClimaX's released ``forward`` took hours / 100 from its
        data pipeline; here the division happens inside). ``out_variables`` defaults to all
        model variables. With ``return_attention`` also returns the aggregation weights
        [B, L, heads, V] (over the listed input variables, in their order). ``init_times`` (int64
        nanoseconds since 1970, one per sample) are needed by models with ``seasonal_harmonics``.
        """
        return self.predict_patches(x, lead_times, variables, out_variables, return_attention,
                                    None, self.config.grid_size, init_times=init_times)


class ClimaX(ClimaXBase):
    """ClimaX with a batched tokenizer and an aggregation whose cost does not grow with V·D².

    Same function and parameters as the released model (see ``aggregation``); the
    per-variable token embeddings are stored stacked, as ClimaX's parallel layout.
    """

    def make_tokenizer(self, cfg: ClimaXConfig) -> VariableTokenizer:
        return VariableTokenizer(len(cfg.variables), cfg.patch_size, cfg.embed_dim)

    def make_aggregation(self, cfg: ClimaXConfig) -> VariableAggregation:
        return VariableAggregation(cfg.embed_dim, cfg.num_heads)

    def reset_tokenizer(self) -> None:
        self.token_embeds.reset_parameters()

    def aggregate(self, x: torch.Tensor, index: torch.Tensor, patch_ids: torch.Tensor | None,
                  need_weights: bool) -> tuple[torch.Tensor, torch.Tensor]:
        patches = patchify(x, self.config.patch_size)
        if patch_ids is not None:
            patches = patches[:, :, patch_ids]
        # token of variable v: kernel_v @ patch + (conv bias_v + variable embedding_v)
        bias = self.token_embeds.proj_biases[index] + self.var_embed[0, index]
        query = self.var_query.reshape(-1)
        return self.var_agg(query, patches, self.token_embeds.weight(index), bias)
