"""Sigma levels to pressure levels, with ECMWF-style extrapolation below ground.

Between model levels every field is interpolated linearly in log(pressure),
which is exact for geopotential in an isothermal layer and close to it for the
other fields. Beneath the lowest model level (including pressures larger than
the surface pressure, i.e. below ground) temperature follows a standard
6.5 K/km lapse rate from the lowest model level and geopotential is integrated
hydrostatically through that temperature profile; wind and specific humidity
keep their lowest-level values, and relative humidity is recomputed from the
extrapolated temperature. Above the top model level every field keeps its
top-level value (with sigma_top = 0.025 this only matters for surface
pressures below 2000 hPa, i.e. never for the 50 hPa level).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Standard-atmosphere lapse rate used below the lowest model level (K m-1).
LAPSE_RATE = 0.0065
#: Gas constant of dry air and gravity, as in SPEEDY (J kg-1 K-1, m s-2).
R_DRY = 287.0
GRAVITY = 9.81
#: R * lapse / g: the exponent of T ~ p**(R Gamma / g) under a constant lapse rate.
LAPSE_EXPONENT = R_DRY * LAPSE_RATE / GRAVITY


@dataclass(frozen=True)
class LevelWeights:
    """Where one pressure level sits in each column of sigma levels.

    ``upper``/``weight`` pick the two bracketing model levels (``upper`` and
    ``upper + 1``, sigma ascending downwards) and the log-pressure weight of
    the lower one, clipped to [0, 1] so that values are held outside the
    column. ``below`` marks columns where the level lies beneath the lowest
    model level and ``ratio`` is p / p_lowest there.
    """

    upper: np.ndarray
    weight: np.ndarray
    below: np.ndarray
    ratio: np.ndarray


def level_weights(sigma: np.ndarray, ps: np.ndarray, pressure: float) -> LevelWeights:
    """Bracketing levels and weights for ``pressure`` (Pa) in every column of ``ps`` (Pa)."""
    sigma = np.asarray(sigma, dtype=np.float64)
    if sigma.ndim != 1 or np.any(np.diff(sigma) <= 0):
        raise ValueError("sigma must be 1-D and ascending (model top first, lowest level last)")
    log_sigma = np.log(sigma)
    target = np.log(
        pressure / np.asarray(ps, dtype=np.float64)
    )  # log(p / ps) = log(sigma) of the level
    lower = np.clip(np.searchsorted(log_sigma, target), 1, len(sigma) - 1)
    weight = (target - log_sigma[lower - 1]) / (log_sigma[lower] - log_sigma[lower - 1])
    below = target > log_sigma[-1]
    ratio = np.exp(target - log_sigma[-1])
    return LevelWeights(lower - 1, np.clip(weight, 0.0, 1.0), below, ratio)


def _interpolate(field: np.ndarray, lw: LevelWeights) -> np.ndarray:
    """Log-pressure interpolation of ``field`` (..., level, lat, lon), held constant outside."""
    upper = np.take_along_axis(field, lw.upper[..., None, :, :], axis=-3)[..., 0, :, :]
    lower = np.take_along_axis(field, lw.upper[..., None, :, :] + 1, axis=-3)[..., 0, :, :]
    return upper + lw.weight * (lower - upper)


def extrapolated_temperature(t_lowest: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Temperature at p = ratio * p_lowest under the standard lapse rate (warmer downwards)."""
    return t_lowest * ratio**LAPSE_EXPONENT


def extrapolated_geopotential(
    z_lowest: np.ndarray, t_lowest: np.ndarray, ratio: np.ndarray
) -> np.ndarray:
    """Geopotential hydrostatically consistent with ``extrapolated_temperature``.

    Integrating dz = -R T dlog(p) with T = T_L (p / p_L)**(R Gamma / g) gives
    z = z_L - (g T_L / Gamma) ((p / p_L)**(R Gamma / g) - 1).
    """
    return z_lowest - GRAVITY * t_lowest / LAPSE_RATE * (ratio**LAPSE_EXPONENT - 1.0)


def saturation_vapour_pressure(t: np.ndarray) -> np.ndarray:
    """Saturation vapour pressure (Pa): water above 0 C, ice below -23 C, mixed between (IFS)."""
    t = np.asarray(t, dtype=np.float64)
    over_water = 611.21 * np.exp(17.502 * (t - 273.16) / (t - 32.19))
    over_ice = 611.21 * np.exp(22.587 * (t - 273.16) / (t + 0.7))
    alpha = np.clip((t - 250.16) / (273.16 - 250.16), 0.0, 1.0) ** 2
    return alpha * over_water + (1.0 - alpha) * over_ice


def relative_humidity(t: np.ndarray, q: np.ndarray, pressure: np.ndarray | float) -> np.ndarray:
    """Relative humidity (%) from temperature (K), specific humidity (kg/kg) and pressure (Pa)."""
    q = np.asarray(q, dtype=np.float64)
    vapour = q * pressure / (0.621981 + 0.378019 * q)
    return 100.0 * vapour / saturation_vapour_pressure(t)


def to_pressure_levels(
    fields: dict[str, np.ndarray],
    sigma: np.ndarray,
    ps: np.ndarray,
    levels_hpa: Sequence[float],
) -> dict[str, np.ndarray]:
    """Interpolate ``t``, ``z``, ``u``, ``v``, ``q`` from sigma to pressure levels and add ``r``.

    ``fields`` hold arrays (..., level, lat, lon) on the ``sigma`` levels
    (ascending: top first); ``ps`` is surface pressure (..., lat, lon) in Pa.
    Returns arrays (..., pressure level, lat, lon) in the order of ``levels_hpa``.
    """
    missing = {"t", "z", "u", "v", "q"} - set(fields)
    if missing:
        raise ValueError(
            f"to_pressure_levels needs fields t, z, u, v, q; missing {sorted(missing)}"
        )
    out: dict[str, list[np.ndarray]] = {name: [] for name in ("t", "z", "u", "v", "q", "r")}
    t_lowest, z_lowest = fields["t"][..., -1, :, :], fields["z"][..., -1, :, :]
    for level in levels_hpa:
        lw = level_weights(sigma, ps, 100.0 * level)
        t = np.where(
            lw.below, extrapolated_temperature(t_lowest, lw.ratio), _interpolate(fields["t"], lw)
        )
        z = np.where(
            lw.below,
            extrapolated_geopotential(z_lowest, t_lowest, lw.ratio),
            _interpolate(fields["z"], lw),
        )
        q = _interpolate(fields["q"], lw)
        out["t"].append(t)
        out["z"].append(z)
        out["u"].append(_interpolate(fields["u"], lw))
        out["v"].append(_interpolate(fields["v"], lw))
        out["q"].append(q)
        out["r"].append(relative_humidity(t, q, 100.0 * level))
    return {name: np.stack(values, axis=-3) for name, values in out.items()}
