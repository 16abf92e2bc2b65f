"""Ensembles from perturbed initial states.

Each member starts from the initial state plus Gaussian noise with a standard
deviation of ``scale`` times each variable's training std (so 0.05 perturbs z500
by 5 % of its variability). Noise depends only on (seed, member, initial time,
variable), never on batch size or input order, so reruns and direct-mode models
with different inputs see the same perturbations. Constants and forcings are not
perturbed; every member is perturbed (there is no unperturbed control member).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from climax_nb.variables import VARIABLES, is_dynamic

_REGISTRY_INDEX = {vid: i for i, vid in enumerate(VARIABLES)}


@dataclass(frozen=True)
class Perturbation:
    """``members`` initial states perturbed by ``scale`` x std Gaussian noise, reproducible from ``seed``."""

    members: int
    scale: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.members < 1:
            raise ValueError(f"an ensemble needs at least one member, got members={self.members}")
        if not self.scale >= 0:
            raise ValueError(f"scale is a fraction of each variable's std and must be >= 0, got {self.scale}")

    def noise(self, member: int, init_time: np.datetime64, vid: str, shape: tuple[int, int]) -> np.ndarray:
        """Noise in normalised units (std = ``scale``) for one member, initial time and variable."""
        ns = int(np.datetime64(init_time, "ns").astype(np.int64)) & (2**64 - 1)
        rng = np.random.default_rng([self.seed, member, ns, _REGISTRY_INDEX[vid]])
        return (self.scale * rng.standard_normal(shape)).astype(np.float32)

    def apply(self, x: np.ndarray, variables: Sequence[str], members: Sequence[int], times: Sequence) -> np.ndarray:
        """``x`` [B, V, H, W] (normalised) with each sample's member noise added to its dynamic variables."""
        out = x.copy()
        for b, (member, time) in enumerate(zip(members, times, strict=True)):
            for j, vid in enumerate(variables):
                if is_dynamic(vid):
                    out[b, j] += self.noise(int(member), time, vid, x.shape[-2:])
        return out
