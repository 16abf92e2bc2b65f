"""Which tokens to mask and how: BERT-style masks at a random rate, and the task masks.

Pretraining (BERT for space-time): per sample a rate ``r ~ U(0, rate_max)``; that share of a
field's tokens is chosen uniformly (``floor(r N + u)`` tokens with ``u ~ U(0, 1)``, so the
expected share is exactly ``r``; a sample may have none). Each chosen token is, independently,
zeroed (``zero``), blended with noise (``noise``), coarsened (``coarsen``) or left as it is
(the rest), and all chosen tokens are scored by the loss. AtmoRep draws the three kinds
independently, so one token can be zeroed and noised and the shares only hold on average;
here the kind is one categorical draw per token.

The tasks are masks too, all zeroed: the last time slab (forecasting), a middle slab
(temporal interpolation) and a spatial box through all times and levels (infilling).

Masks are token grids ``[B, levels, nt, nh, nw]``. ``apply_masks`` replaces the values of the
noised, coarsened and zeroed tokens in a cube; ``TokenMasks.hidden`` (the zeroed tokens) is
what the model takes as its ``token_masks``, so it knows those are missing rather than zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import torch

from climax_nb.model.atmorep.tokens import tokenize, untokenize


class MaskKind(IntEnum):
    """What happens to a token: kept out of the loss, or masked in one of four ways."""

    KEEP = 0
    ZERO = 1
    NOISE = 2
    COARSEN = 3
    UNCHANGED = 4


@dataclass(frozen=True)
class MaskConfig:
    """Masking rate bound and the shares of the masked tokens zeroed, noised and coarsened (the rest unchanged).

    ``coarsen_factor`` is the block of lat x lon cells a coarsened token is averaged over
    (it must divide the token's lat and lon sizes).
    """

    rate_max: float = 0.5
    zero: float = 0.8
    noise: float = 0.1
    coarsen: float = 0.05
    coarsen_factor: int = 2

    def __post_init__(self) -> None:
        if not 0.0 < self.rate_max <= 1.0:
            raise ValueError(f"rate_max must be in (0, 1], got {self.rate_max}")
        shares = {"zero": self.zero, "noise": self.noise, "coarsen": self.coarsen}
        if min(shares.values()) < 0 or sum(shares.values()) > 1 + 1e-9:
            raise ValueError(f"the masked shares must be >= 0 and sum to at most 1, got {shares}")
        if self.coarsen_factor < 1:
            raise ValueError(f"coarsen_factor must be >= 1, got {self.coarsen_factor}")

    @property
    def unchanged(self) -> float:
        """Share of masked tokens left as they are (still scored)."""
        return max(0.0, 1.0 - self.zero - self.noise - self.coarsen)


@dataclass(frozen=True)
class TokenMasks:
    """One field's masks: ``kind`` [B, levels, nt, nh, nw] holds a ``MaskKind`` per token."""

    kind: torch.Tensor

    @property
    def masked(self) -> torch.Tensor:
        """Tokens the loss scores (every kind but KEEP)."""
        return self.kind != MaskKind.KEEP

    @property
    def hidden(self) -> torch.Tensor:
        """Zeroed tokens: the model's ``token_masks``."""
        return self.kind == MaskKind.ZERO

    @classmethod
    def hiding(cls, mask: torch.Tensor, batch: int) -> TokenMasks:
        """All tokens of a task mask ``[levels, nt, nh, nw]`` zeroed, for every sample."""
        kind = torch.where(mask, int(MaskKind.ZERO), int(MaskKind.KEEP)).to(torch.int8)
        return cls(kind.expand(batch, *mask.shape).contiguous())


def _check_grid(grid: Sequence[int]) -> tuple[int, int, int, int]:
    grid = tuple(int(g) for g in grid)
    if len(grid) != 4 or min(grid) < 1:
        raise ValueError(f"grid must be (levels, nt, nh, nw) token counts, got {grid}")
    return grid  # type: ignore[return-value]


def draw_rates(batch: int, rate_max: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-sample masking rates ``[batch]`` from U(0, rate_max); share them across a sample's fields or not."""
    return torch.rand(batch, generator=generator) * rate_max


def draw_masks(grid: Sequence[int], rates: torch.Tensor, cfg: MaskConfig,
               generator: torch.Generator | None = None) -> TokenMasks:
    """BERT masks on a token grid ``(levels, nt, nh, nw)``, one sample per rate in ``rates``."""
    grid = _check_grid(grid)
    rates = torch.as_tensor(rates, dtype=torch.float64).reshape(-1)
    if bool(((rates < 0) | (rates > 1)).any()):
        raise ValueError(f"rates must be in [0, 1], got {rates.tolist()}")
    b, n = len(rates), grid[0] * grid[1] * grid[2] * grid[3]
    count = torch.floor(rates * n + torch.rand(b, generator=generator, dtype=torch.float64)).clamp(max=n)
    rank = torch.rand(b, n, generator=generator).argsort(dim=1).argsort(dim=1)
    chosen = rank < count[:, None]
    u = torch.rand(b, n, generator=generator)
    edges = torch.tensor([cfg.zero, cfg.zero + cfg.noise, cfg.zero + cfg.noise + cfg.coarsen])
    kind = torch.bucketize(u, edges, right=True) + 1  # ZERO, NOISE, COARSEN, UNCHANGED
    kind = torch.where(chosen, kind, int(MaskKind.KEEP)).to(torch.int8)
    return TokenMasks(kind.reshape(b, *grid))


def coarsened(tokens: torch.Tensor, token_size: Sequence[int], factor: int) -> torch.Tensor:
    """Tokens ``[..., k]`` averaged over blocks of ``factor`` x ``factor`` cells in lat and lon, same shape."""
    tt, th, tw = token_size
    if th % factor or tw % factor:
        raise ValueError(f"coarsen_factor {factor} must divide the token's {th} x {tw} lat x lon cells")
    x = tokens.reshape(*tokens.shape[:-1], tt, th // factor, factor, tw // factor, factor)
    x = x.mean(dim=(-3, -1), keepdim=True).expand_as(x)
    return x.reshape(tokens.shape)


def apply_masks(cube: torch.Tensor, masks: TokenMasks, token_size: Sequence[int], cfg: MaskConfig,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """``cube`` [B, levels, T, H, W] with its masked tokens replaced; the input is left as it is.

    Zeroed tokens become 0 (the normalised mean); noised ones ``(1 - w) x + w e`` with
    ``w ~ U(0, 1)`` per token and ``e ~ N(0, 1)`` per value (normalised units); coarsened ones
    their block means (``coarsened``).
    """
    tokens = tokenize(cube, token_size)
    if tuple(masks.kind.shape) != tuple(tokens.shape[:-1]):
        raise ValueError(
            f"masks {tuple(masks.kind.shape)} do not fit the cube's token grid {tuple(tokens.shape[:-1])}"
        )
    kind = masks.kind.to(cube.device).unsqueeze(-1)
    w = torch.rand(*tokens.shape[:-1], 1, generator=generator).to(tokens)
    noise = torch.randn(tokens.shape, generator=generator).to(tokens)
    out = torch.where(kind == MaskKind.NOISE, (1 - w) * tokens + w * noise, tokens)
    if bool((kind == MaskKind.COARSEN).any()):
        out = torch.where(kind == MaskKind.COARSEN, coarsened(tokens, token_size, cfg.coarsen_factor), out)
    out = out.masked_fill(kind == MaskKind.ZERO, 0.0)
    return untokenize(out, token_size)


def _time_slabs(grid: Sequence[int], start: int, slabs: int) -> torch.Tensor:
    mask = torch.zeros(_check_grid(grid), dtype=torch.bool)
    mask[:, start:start + slabs] = True
    return mask


def forecast_mask(grid: Sequence[int], slabs: int = 1) -> torch.Tensor:
    """The last ``slabs`` time slabs of a token grid ``(levels, nt, nh, nw)``: predict the future from the past."""
    nt = _check_grid(grid)[1]
    if slabs < 1 or nt < slabs + 1:
        raise ValueError(
            f"a forecast mask of {slabs} time slab(s) needs at least {slabs + 1} time tokens (one to read), and the "
            f"neighbourhood has {nt}; lengthen the neighbourhood in time or shorten the token"
        )
    return _time_slabs(grid, nt - slabs, slabs)


def interpolation_mask(grid: Sequence[int], slabs: int = 1) -> torch.Tensor:
    """``slabs`` time slabs in the middle of a token grid: fill in between a past and a future slab."""
    nt = _check_grid(grid)[1]
    if slabs < 1 or nt < slabs + 2:
        raise ValueError(
            f"an interpolation mask of {slabs} time slab(s) needs at least {slabs + 2} time tokens (one before and "
            f"one after), and the neighbourhood has {nt}; lengthen the neighbourhood in time or shorten the token"
        )
    return _time_slabs(grid, (nt - slabs) // 2, slabs)


def infill_mask(grid: Sequence[int], box: Sequence[int] | None = None) -> torch.Tensor:
    """A spatial hole through all levels and times: ``box`` = (lat start, lat stop, lon start, lon stop) in tokens.

    The default hole is centred and half the tokens wide in each direction (at least one).
    """
    grid = _check_grid(grid)
    _, _, nh, nw = grid
    if box is None:
        h, w = max(1, nh // 2), max(1, nw // 2)
        box = ((nh - h) // 2, (nh - h) // 2 + h, (nw - w) // 2, (nw - w) // 2 + w)
    i0, i1, j0, j1 = (int(b) for b in box)
    if not (0 <= i0 < i1 <= nh and 0 <= j0 < j1 <= nw):
        raise ValueError(f"infilling box {tuple(box)} must lie in the {nh} x {nw} lat x lon tokens and not be empty")
    if (i1 - i0) * (j1 - j0) == nh * nw:
        raise ValueError(f"an infilling box over all {nh} x {nw} tokens leaves nothing to read; make it smaller")
    mask = torch.zeros(grid, dtype=torch.bool)
    mask[:, :, i0:i1, j0:j1] = True
    return mask


#: The task masks by name.
TASK_MASKS = {"forecast": forecast_mask, "interpolation": interpolation_mask, "infill": infill_mask}


__all__ = [
    "TASK_MASKS",
    "MaskConfig",
    "MaskKind",
    "TokenMasks",
    "apply_masks",
    "coarsened",
    "draw_masks",
    "draw_rates",
    "forecast_mask",
    "infill_mask",
    "interpolation_mask",
]
