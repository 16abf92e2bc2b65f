"""AdamW with ClimaX's parameter groups and a linear warm-up then cosine decay, per step."""

from __future__ import annotations

import math

import torch
from torch import nn

#: Parameters with these names get no weight decay: embeddings are lookup tables, not maps.
NO_DECAY_NAMES: tuple[str, ...] = ("var_embed", "var_query", "pos_embed", "lead_time_embed")


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: embeddings, biases and norms without decay; the rest with it."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if any(key in name for key in NO_DECAY_NAMES) or param.ndim <= 1:
            no_decay.append(param)
        else:
            decay.append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    warmup_steps: int,
    total_steps: int,
    warmup_start_factor: float = 0.01,
    min_factor: float = 0.01,
) -> torch.optim.lr_scheduler.LambdaLR:
    """LR factor rising linearly over ``warmup_steps``, then cosine down to ``min_factor`` at ``total_steps``."""
    if total_steps < 1 or not 0 <= warmup_steps <= total_steps:
        raise ValueError(
            f"need 0 <= warmup_steps <= total_steps and total_steps >= 1; got {warmup_steps}, {total_steps}"
        )

    def factor(step: int) -> float:
        if step < warmup_steps:
            return warmup_start_factor + (1 - warmup_start_factor) * step / max(warmup_steps, 1)
        progress = min(1.0, (step - warmup_steps) / max(total_steps - warmup_steps, 1))
        return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
