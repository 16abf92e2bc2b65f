"""The nearest visible state as a prior for hidden cells: AtmoRep's tail then predicts a departure from it.

A hidden token's best simple guess is what its place looked like at the nearest time the
model was shown: persistence for a forecast, the state before or after a gap for an
interpolation. AtmoRep predicts the hidden values outright, which on a short budget leaves a
network near the climatology (zero in local month units; measured: 800 CPU steps did not
learn to carry the state forward). With ``prior: nearest`` the ensemble is the prior plus
the tail's members, as ClimaX predicts increments over its input. Cells with no visible step
at their place (an infilling box through every step) keep a prior of zero, the monthly
climatology under local statistics.
"""

from __future__ import annotations

import torch

#: The priors a config can name: ``none`` (AtmoRep's: predict the values), ``nearest`` (the nearest visible step).
PRIORS: tuple[str, ...] = ("none", "nearest")


def visible_cells(token_mask: torch.Tensor, token_size: tuple[int, int, int]) -> torch.Tensor:
    """``[B, L, nt, nh, nw]`` hidden tokens -> ``[B, L, T, H, W]`` visible cells."""
    tt, th, tw = token_size
    return ~token_mask.repeat_interleave(tt, 2).repeat_interleave(th, 3).repeat_interleave(tw, 4)


def nearest_visible(cube: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """Each cell of ``cube`` ``[B, L, T, H, W]`` as the value at its place at the nearest visible time step (the
    earlier one on a tie), zero where its place has no visible step."""
    steps = cube.shape[2]
    t = torch.arange(steps, device=cube.device).view(1, 1, -1, 1, 1).expand_as(cube)
    before = torch.where(visible, t, torch.full_like(t, -1)).cummax(dim=2).values
    after = torch.where(visible, t, torch.full_like(t, steps)).flip(2).cummin(dim=2).values.flip(2)
    has_before, has_after = before >= 0, after < steps
    use_before = has_before & (~has_after | (t - before <= after - t))
    index = torch.where(use_before, before, after).clamp(0, steps - 1)
    prior = cube.gather(2, index)
    return torch.where(has_before | has_after, prior, torch.zeros_like(prior))


__all__ = ["PRIORS", "nearest_visible", "visible_cells"]
