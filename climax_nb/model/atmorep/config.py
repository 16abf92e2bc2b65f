"""Frozen AtmoRep configs: fields with their levels and couplings, neighbourhood and token sizes, presets.

A field is one physical quantity on one or more levels (``z`` at 500 and 850 hPa) or a
single-level variable (``t2m``); its encoder, decoder and tail are its own, so fields can be
added or left out. Like ``climax_nb.model.config``, a config is plain data and round-trips
through dicts (checkpoints, YAML) without pickling classes.

Sizes at 5.625 degrees (the package's 32 x 64 grid, 6-hourly data). A token is 2 time steps
x 4 x 4 cells: 12 h x 22.5 x 22.5 deg. Its side (about 1800 km at 45 deg) is a quarter to a
third of a synoptic wavelength, so 16 cells still carry part of a pattern, and its two time
steps give it a tendency; one cell per token would leave nothing to embed. The default
neighbourhood is 12 x 16 x 32 cells: 3 days x 90 x 180 deg, 6 x 4 x 8 tokens per level. It
holds two to three synoptic waves in longitude (AtmoRep's 36 h x 13.5 x 27 deg cube at
0.25 deg is a fraction of one, but at 5.625 deg that would be 2 x 5 cells), masking its last
time slab is a 12 h forecast from 60 h of history, and its 192 tokens per level are close to
AtmoRep's 216 (12 x 3 x 6), so attention costs about what it costs there. Sixteen latitude
cells put neighbourhood centres within +-45 deg, and the band's edges still reach the poles.
``compact`` shortens the cube to 8 time steps (2 days, 128 tokens per level) to train on two
CPU cores; ``tiny`` (4 x 8 x 8 cells, 8 tokens per level) is for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from climax_nb.variables import PRESSURE_LEVELS, VARIABLES

#: Prefixes of the pressure-level variables (``z`` of ``z500``), in registry order.
LEVEL_PREFIXES: tuple[str, ...] = tuple(
    dict.fromkeys(v.id[: -len(str(v.level))] for v in VARIABLES.values() if v.kind == "level")
)
#: Variables that are fields on their own (one level): surface, forcing and constant fields.
SINGLE_LEVEL_IDS: tuple[str, ...] = tuple(v.id for v in VARIABLES.values() if v.kind != "level" and v.id != "lat")


class UnknownFieldError(KeyError, ValueError):
    """A field id the registry does not know, or one a model was not built with."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class FieldSpec:
    """One field: its id, its pressure levels (hPa; empty for a single-level field) and the fields it reads.

    ``coupled`` names the fields whose tokens this field's queries attend to in the encoder
    (keys and values from them); the coupling need not be symmetric.
    """

    id: str
    levels: tuple[int, ...] = ()
    coupled: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", tuple(int(lev) for lev in self.levels))
        object.__setattr__(self, "coupled", tuple(str(c) for c in self.coupled))
        check_field(self)

    @property
    def variables(self) -> tuple[str, ...]:
        """The registry ids the field's levels carry, in level order (``z500``, ``z850``)."""
        return tuple(f"{self.id}{lev}" for lev in self.levels) if self.levels else (self.id,)

    @property
    def num_levels(self) -> int:
        return max(len(self.levels), 1)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "levels": list(self.levels), "coupled": list(self.coupled)}


def check_field(spec: FieldSpec) -> None:
    """Raise naming the known ids and levels when a field cannot be read from the registry."""
    if spec.levels:
        if spec.id not in LEVEL_PREFIXES:
            hint = f" ({spec.id} is a single-level field: give no levels)" if spec.id in SINGLE_LEVEL_IDS else ""
            raise UnknownFieldError(
                f"unknown field {spec.id!r} with levels {list(spec.levels)}{hint}; fields on pressure levels are "
                f"{list(LEVEL_PREFIXES)}"
            )
        bad = [lev for lev in spec.levels if f"{spec.id}{lev}" not in VARIABLES]
        if bad:
            raise UnknownFieldError(f"field {spec.id!r} has no level(s) {bad} hPa; levels are {list(PRESSURE_LEVELS)}")
        if len(set(spec.levels)) != len(spec.levels):
            raise ValueError(f"field {spec.id!r} lists a level twice: {list(spec.levels)}")
    elif spec.id not in SINGLE_LEVEL_IDS:
        hint = f" ({spec.id} is on pressure levels: give levels, e.g. (500, 850))" if spec.id in LEVEL_PREFIXES else ""
        raise UnknownFieldError(
            f"unknown field {spec.id!r}{hint}; single-level fields are {list(SINGLE_LEVEL_IDS)}, fields on "
            f"levels are {list(LEVEL_PREFIXES)}"
        )
    if spec.id in spec.coupled:
        raise ValueError(f"field {spec.id!r} cannot be coupled with itself (its self-attention reads it)")
    if len(set(spec.coupled)) != len(spec.coupled):
        raise ValueError(f"field {spec.id!r} lists a coupled field twice: {list(spec.coupled)}")


def as_field(f: FieldSpec | dict[str, Any]) -> FieldSpec:
    """A ``FieldSpec`` from itself or from its dict form."""
    if isinstance(f, FieldSpec):
        return f
    unknown = set(f) - set(FieldSpec.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown FieldSpec keys {sorted(unknown)}; expected id, levels and coupled")
    return FieldSpec(**f)


@dataclass(frozen=True)
class AtmoRepConfig:
    """AtmoRep hyper-parameters.

    ``neighbourhood`` and ``token_size`` are (time steps, lat cells, lon cells); ``grid`` is
    the (lat, lon) size of the data neighbourhoods are cut from. ``members`` is the number of
    ensemble heads of each field's tail.
    """

    fields: tuple[FieldSpec, ...]
    neighbourhood: tuple[int, int, int] = (12, 16, 32)
    token_size: tuple[int, int, int] = (2, 4, 4)
    grid: tuple[int, int] = (32, 64)
    embed_dim: int = 1024
    num_heads: int = 16
    encoder_depth: int = 6
    decoder_depth: int = 6
    mlp_ratio: float = 2.0
    dropout: float = 0.05
    members: int = 16
    #: ``none``: predict hidden values outright (AtmoRep); ``nearest``: predict departures from the nearest visible step
    prior: str = "none"

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(as_field(f) for f in self.fields))
        for name in ("neighbourhood", "token_size", "grid"):
            object.__setattr__(self, name, tuple(int(s) for s in getattr(self, name)))
        check_config(self)

    @property
    def field_ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.fields)

    def spec(self, fid: str) -> FieldSpec:
        """The spec of field ``fid``; the error lists the fields this config has."""
        for f in self.fields:
            if f.id == fid:
                return f
        raise UnknownFieldError(f"this model has no field {fid!r}; it has {list(self.field_ids)}")

    @property
    def token_grid(self) -> tuple[int, int, int]:
        """Tokens per level along time, latitude and longitude."""
        return tuple(n // t for n, t in zip(self.neighbourhood, self.token_size, strict=True))  # type: ignore[return-value]

    @property
    def tokens_per_level(self) -> int:
        nt, nh, nw = self.token_grid
        return nt * nh * nw

    @property
    def token_cells(self) -> int:
        """Values per token (time steps x lat x lon cells)."""
        tt, th, tw = self.token_size
        return tt * th * tw

    def replace(self, **changes: Any) -> AtmoRepConfig:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def with_field(self, spec: FieldSpec, couple_from: tuple[str, ...] = ()) -> AtmoRepConfig:
        """This config with one more field; the fields in ``couple_from`` also read it.

        The existing fields keep all their parameters: the new field brings its own encoder,
        decoder and tail, and a field that reads it gains only the key/value projection for it.
        """
        unknown = [c for c in couple_from if c not in self.field_ids]
        if unknown:
            raise UnknownFieldError(f"cannot couple unknown field(s) {unknown}; fields are {list(self.field_ids)}")
        fields = [replace(f, coupled=(*f.coupled, spec.id)) if f.id in couple_from else f for f in self.fields]
        return self.replace(fields=(*fields, spec))

    def to_dict(self) -> dict[str, Any]:
        """Plain lists, numbers and strings, safe for ``torch.load(weights_only=True)`` and YAML."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["fields"] = [f.to_dict() for f in self.fields]
        for name in ("neighbourhood", "token_size", "grid"):
            d[name] = list(d[name])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AtmoRepConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown AtmoRepConfig fields {sorted(unknown)}; expected some of {sorted(known)}")
        return cls(**d)


def check_config(cfg: AtmoRepConfig) -> None:
    """Raise a ValueError naming the expectation when a config cannot be built."""
    if not cfg.fields:
        raise ValueError("an AtmoRep model needs at least one field, e.g. FieldSpec('z', (500, 850))")
    ids = cfg.field_ids
    if len(set(ids)) != len(ids):
        raise ValueError(f"field ids must be unique; repeated: {sorted({i for i in ids if ids.count(i) > 1})}")
    for f in cfg.fields:
        missing = [c for c in f.coupled if c not in ids]
        if missing:
            raise UnknownFieldError(f"field {f.id!r} is coupled with unknown field(s) {missing}; fields: {list(ids)}")
    for name in ("neighbourhood", "token_size"):
        if len(getattr(cfg, name)) != 3:
            raise ValueError(f"{name} must be (time, lat, lon), got {getattr(cfg, name)}")
    if len(cfg.grid) != 2:
        raise ValueError(f"grid must be (lat, lon), got {cfg.grid}")
    if min(cfg.neighbourhood + cfg.token_size + cfg.grid) < 1:
        raise ValueError(f"sizes must be positive: neighbourhood {cfg.neighbourhood}, token {cfg.token_size}")
    for axis, n, t in zip(("time", "lat", "lon"), cfg.neighbourhood, cfg.token_size, strict=True):
        if n % t:
            fits = [d for d in range(1, n + 1) if n % d == 0]
            raise ValueError(
                f"token size {t} along {axis} does not divide the neighbourhood's {n} cells; choose one of {fits} "
                f"(token {cfg.token_size}, neighbourhood {cfg.neighbourhood})"
            )
    for axis, n, g in zip(("lat", "lon"), cfg.neighbourhood[1:], cfg.grid, strict=True):
        if n > g:
            raise ValueError(
                f"the neighbourhood's {n} {axis} cells exceed the grid's {g} (neighbourhood {cfg.neighbourhood}, "
                f"grid {cfg.grid}); choose at most {g}"
            )
    if cfg.embed_dim % cfg.num_heads or cfg.embed_dim % 2:
        raise ValueError(f"embed_dim {cfg.embed_dim} must be even and a multiple of num_heads {cfg.num_heads}")
    if cfg.encoder_depth < 1 or not 1 <= cfg.decoder_depth <= cfg.encoder_depth:
        raise ValueError(
            f"need encoder_depth >= 1 and 1 <= decoder_depth <= encoder_depth (each decoder layer reads one encoder "
            f"layer's output); got {cfg.encoder_depth} and {cfg.decoder_depth}"
        )
    if cfg.members < 1:
        raise ValueError(f"members must be >= 1, got {cfg.members}")
    from climax_nb.model.atmorep.prior import PRIORS

    if cfg.prior not in PRIORS:
        raise ValueError(f"unknown prior {cfg.prior!r}; choose one of {', '.join(PRIORS)}")


def coupled_all(*specs: tuple[str, tuple[int, ...]]) -> tuple[FieldSpec, ...]:
    """Fields from ``(id, levels)`` pairs, each coupled with all the others."""
    ids = [fid for fid, _ in specs]
    return tuple(FieldSpec(fid, levels, tuple(i for i in ids if i != fid)) for fid, levels in specs)


#: Named presets. ``paper`` has AtmoRep's sizes (1024 wide, 16 heads, 6 + 6 layers, 16 members,
#: five fields on five levels: u, v, t, q and z below 500 hPa, as AtmoRep's model levels 96-137).
PRESETS: dict[str, AtmoRepConfig] = {
    "tiny": AtmoRepConfig(
        fields=(FieldSpec("z", (500, 850), ("t",)), FieldSpec("t", (850,), ("z", "t2m")), FieldSpec("t2m", (), ("t",))),
        neighbourhood=(4, 8, 8), embed_dim=32, num_heads=4, encoder_depth=2, decoder_depth=2, dropout=0.0,
        members=3,
    ),
    "compact": AtmoRepConfig(
        fields=coupled_all(("z", (500, 850)), ("t", (500, 850)), ("u", (500, 850)), ("v", (500, 850))),
        neighbourhood=(8, 16, 32), embed_dim=64, num_heads=4, encoder_depth=3, decoder_depth=3, dropout=0.0,
        members=4,
    ),
    "paper": AtmoRepConfig(
        fields=coupled_all(*((fid, (500, 600, 700, 850, 925)) for fid in ("u", "v", "t", "q", "z"))),
    ),
}


def preset(name: str, **changes: Any) -> AtmoRepConfig:
    """The preset ``name`` ('tiny', 'compact' or 'paper'), optionally with fields changed."""
    if name not in PRESETS:
        raise ValueError(f"unknown AtmoRep preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name].replace(**changes) if changes else PRESETS[name]


__all__ = [
    "LEVEL_PREFIXES",
    "PRESETS",
    "SINGLE_LEVEL_IDS",
    "AtmoRepConfig",
    "FieldSpec",
    "UnknownFieldError",
    "as_field",
    "check_config",
    "coupled_all",
    "preset",
]
