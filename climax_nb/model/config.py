"""Frozen architecture configs and the three presets (tiny, compact, paper).

A config is plain data (ids, ints, floats), so it round-trips through our own
checkpoints and YAML files without pickling classes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from climax_nb.variables import CLIMAX_DEFAULT_IDS, to_id


@dataclass(frozen=True)
class ClimaXConfig:
    """ClimaX hyper-parameters; defaults are those of the released model."""

    variables: tuple[str, ...] = CLIMAX_DEFAULT_IDS
    img_size: tuple[int, int] = (32, 64)
    patch_size: int = 2
    embed_dim: int = 1024
    depth: int = 8
    decoder_depth: int = 2
    num_heads: int = 16
    mlp_ratio: float = 4.0
    drop_path: float = 0.1
    drop_rate: float = 0.1
    #: Predict the change from the input for outputs that are also inputs (persistence plus a
    #: learnt increment) instead of the full state; ClimaX predicts the full state (False).
    residual: bool = False
    #: With ``residual``: the base of the increment relaxes from the input toward a learnt mean field
    #: over a learnt time scale per variable (exp(-rate * lead)), so a long lead's increment need not
    #: undo persistence; the base is exactly the input at lead 0 and the start of training.
    residual_damping: bool = False
    #: Odd kernel width of a learnt per-variable smoothing of the head's output fields (0: none, as
    #: ClimaX). The head maps each token to its own patch of cells, so its errors step at patch
    #: edges; a small depthwise convolution, started as the identity, lets training smooth them.
    head_smoothing: int = 0
    #: With ``residual_damping``: annual harmonics of the mean field (0: one fixed field). The base then
    #: relaxes toward a learnt seasonal cycle at the valid time, as climatology does, so quantities
    #: with a large annual cycle (t2m over land) are not pulled toward their annual mean; the
    #: forward pass then needs the inputs' times (``init_times``).
    seasonal_harmonics: int = 0
    #: A learnt gain per variable, latitude row and zonal wavenumber on the forecast's change from the
    #: input (False: none, as ClimaX). What the head leaves at the smallest scales is mostly noise where
    #: the field has almost no power there (z500); started at 1, training lowers the gains where it is,
    #: and a scale with gain 0 persists. Applies to whole-globe outputs only: a box has no zonal spectrum.
    head_zonal_filter: bool = False

    def __post_init__(self) -> None:
        ids = tuple(to_id(v) for v in self.variables)  # raises on unknown names
        object.__setattr__(self, "variables", ids)
        object.__setattr__(self, "img_size", tuple(int(s) for s in self.img_size))
        check_architecture(self)

    @property
    def grid_size(self) -> tuple[int, int]:
        """Patches along latitude and longitude."""
        return (self.img_size[0] // self.patch_size, self.img_size[1] // self.patch_size)

    @property
    def num_patches(self) -> int:
        return self.grid_size[0] * self.grid_size[1]

    def replace(self, **changes: Any) -> ClimaXConfig:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists/numbers, safe for ``torch.load(weights_only=True)`` and YAML."""
        d = asdict(self)
        d["variables"] = list(self.variables)
        d["img_size"] = list(self.img_size)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClimaXConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(
                f"unknown ClimaXConfig fields {sorted(unknown)}; expected some of {sorted(known)}"
            )
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def check_architecture(cfg: ClimaXConfig) -> None:
    """Raise a ValueError naming the expectation when a config cannot be built."""
    if len(set(cfg.variables)) != len(cfg.variables):
        dup = sorted({v for v in cfg.variables if cfg.variables.count(v) > 1})
        raise ValueError(f"variables must be unique; repeated: {dup}")
    if not cfg.variables:
        raise ValueError("a ClimaX model needs at least one variable")
    if len(cfg.img_size) != 2:
        raise ValueError(f"img_size must be (lat, lon), got {cfg.img_size}")
    h, w = cfg.img_size
    p = cfg.patch_size
    if p < 1 or h % p or w % p:
        raise ValueError(
            f"patch size {p} must divide the grid {h}x{w}: choose a divisor of both "
            f"(e.g. {[d for d in range(1, min(h, w) + 1) if h % d == 0 and w % d == 0]})"
        )
    if cfg.residual_damping and not cfg.residual:
        raise ValueError("residual_damping relaxes the residual's base: it needs residual=True as well "
                         "(--model.residual true)")
    if cfg.seasonal_harmonics < 0 or (cfg.seasonal_harmonics and not cfg.residual_damping):
        raise ValueError(f"seasonal_harmonics ({cfg.seasonal_harmonics}) gives the damped base's mean field an "
                         "annual cycle: it is 0 (off) or a positive count, with residual_damping true "
                         "(--model.residual_damping true)")
    k = cfg.head_smoothing
    if k < 0 or (k and (k % 2 == 0 or k > min(h, w))):
        raise ValueError(
            f"head_smoothing is 0 (off) or an odd kernel width of at most {min(h, w)} cells, got {k}"
        )
    if cfg.embed_dim % cfg.num_heads:
        raise ValueError(
            f"embed_dim {cfg.embed_dim} must be a multiple of num_heads {cfg.num_heads}"
        )
    if cfg.embed_dim % 4:
        raise ValueError(
            f"embed_dim {cfg.embed_dim} must be a multiple of 4 (2-D sin-cos position embedding)"
        )


_TINY_VARS = ("lsm", "t2m", "u10", "v10", "z500", "t850")

#: Named presets; ``compact`` and ``paper`` carry ClimaX's 48 variables so any subset can be fed.
PRESETS: dict[str, ClimaXConfig] = {
    "tiny": ClimaXConfig(
        variables=_TINY_VARS, img_size=(8, 16), patch_size=2, embed_dim=32, depth=2,
        decoder_depth=2, num_heads=4, mlp_ratio=2.0, drop_path=0.0, drop_rate=0.0,
    ),
    "compact": ClimaXConfig(embed_dim=128, depth=4, num_heads=4),
    "paper": ClimaXConfig(),
}


def preset(name: str, **changes: Any) -> ClimaXConfig:
    """The preset ``name`` ('tiny', 'compact' or 'paper'), optionally with fields changed."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name].replace(**changes) if changes else PRESETS[name]


__all__ = ["PRESETS", "ClimaXConfig", "check_architecture", "preset"]
