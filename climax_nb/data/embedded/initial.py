"""An idealised but realistic starting state, so spin-up takes weeks, not months.

jcm's default start is an isothermal (288 K), dry atmosphere at rest: its
stratosphere then needs more than 100 days to cool radiatively and its
global-mean temperature drifts by ~35 K. Starting instead from a zonally
symmetric troposphere with a standard lapse rate, an equator-to-pole contrast,
a cold stratosphere, 80 %-saturated low levels and hydrostatic surface
pressure over the orography, the model adjusts in two to three weeks
(measured: see docs/embedded.md). Winds start at rest; geostrophic adjustment
builds the jets within days.
"""

from __future__ import annotations

import numpy as np

from climax_nb.data.embedded.vertical import (
    GRAVITY,
    LAPSE_EXPONENT,
    LAPSE_RATE,
    R_DRY,
    saturation_vapour_pressure,
)

#: Sea-level air temperature at the equator and its drop towards the poles (K).
T_EQUATOR, T_POLE_DROP = 300.0, 45.0
#: Floor of the temperature profile: a stratosphere close to SPEEDY's own (K).
T_STRATOSPHERE = 212.0
#: Relative humidity at the surface, falling linearly to zero at sigma 0.2.
RH_SURFACE, SIGMA_DRY = 0.8, 0.2
#: Reference pressure of SPEEDY's normalised surface pressure (Pa).
P0 = 1.0e5


def idealised_state(
    lat_deg: np.ndarray, sigma: np.ndarray, orography: np.ndarray
) -> dict[str, np.ndarray]:
    """Temperature, specific humidity (levels, lon, lat) and surface pressure (lon, lat).

    ``lat_deg`` are the model latitudes, ``sigma`` the full levels (top first)
    and ``orography`` (m) is on the model's (lon, lat) grid.
    """
    lat = np.deg2rad(np.asarray(lat_deg, dtype=np.float64))
    t_sea = np.broadcast_to(T_EQUATOR - T_POLE_DROP * np.sin(lat) ** 2, orography.shape)
    ps = P0 * (1.0 - LAPSE_RATE * orography / t_sea) ** (GRAVITY / (R_DRY * LAPSE_RATE))
    t_surface = t_sea * (ps / P0) ** LAPSE_EXPONENT
    sig = np.asarray(sigma, dtype=np.float64)[:, None, None]
    temperature = np.maximum(t_surface[None] * sig**LAPSE_EXPONENT, T_STRATOSPHERE)
    pressure = sig * ps[None]
    vapour = np.clip(RH_SURFACE * (sig - SIGMA_DRY) / (1.0 - SIGMA_DRY), 0.0, None) * (
        saturation_vapour_pressure(temperature)
    )
    q = 0.621981 * vapour / (pressure - 0.378019 * vapour)
    return {
        "temperature": temperature,
        "specific_humidity": q,
        "normalized_surface_pressure": ps / P0,
    }
