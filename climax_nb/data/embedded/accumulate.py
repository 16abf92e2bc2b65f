"""A jcm physics term that accumulates precipitation between saved frames.

jcm saves either instantaneous states or interval means of *everything*. The
dataset needs instantaneous states (as reanalyses store them) together with
precipitation accumulated over the 6 h before each stamp (WeatherBench's
``tp6h``). This term, appended after SPEEDY's terms, adds each step's surface
precipitation flux times the time step to a running total carried from step
to step; differences of the saved totals are then exact 6-hourly amounts.
"""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
from jcm.physics.physics_term import PhysicsTerm
from jcm.physics.surface.surface_exchange import SURFACE_EXCHANGE_KEY
from jcm.physics_interface import PhysicsTendency

#: Key of the running total (kg m-2 since the last reset) in the physics carry.
ACCUMULATED_PRECIPITATION = "accumulated_precipitation"


class PrecipitationAccumulator(PhysicsTerm):
    """Running total of surface precipitation (kg m-2) in the cross-step physics carry."""

    name: ClassVar[str] = "precipitation_accumulator"
    category: ClassVar[str] = "diagnostics"
    requires: ClassVar[tuple[str, ...]] = (SURFACE_EXCHANGE_KEY,)
    provides: ClassVar[tuple[str, ...]] = (ACCUMULATED_PRECIPITATION,)

    def __call__(self, state, diagnostics, forcing, terrain):
        rate = diagnostics[SURFACE_EXCHANGE_KEY].precipitation  # kg m-2 s-1
        previous = diagnostics.get(ACCUMULATED_PRECIPITATION)
        if previous is None:  # jcm's structural probe runs without a carry
            previous = jnp.zeros_like(rate)
        total = previous + rate * diagnostics["_dt_seconds"]
        tendency = PhysicsTendency.zeros(state.temperature.shape)
        return tendency, {**diagnostics, ACCUMULATED_PRECIPITATION: total}
