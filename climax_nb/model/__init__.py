"""ClimaX in PyTorch: the model, its presets, regional variant and checkpoints.

Models speak short variable ids (``climax_nb.variables``); ``forward`` takes fields
[B, V, H, W], lead times in hours and the list of variables the channels hold.
"""

from climax_nb.model.aggregation import VariableAggregation
from climax_nb.model.checkpoint import (
    Checkpoint,
    LoadReport,
    load_checkpoint,
    load_official_checkpoint,
    save_checkpoint,
)
from climax_nb.model.climax import LEAD_TIME_SCALE, ClimaX, ClimaXBase
from climax_nb.model.config import PRESETS, ClimaXConfig, preset
from climax_nb.model.embed import VariableTokenizer, sincos_1d, sincos_2d
from climax_nb.model.reference import ReferenceClimaX
from climax_nb.model.regional import REGIONS, Box, RegionalClimaX, RegionPatches, region_patches

__all__ = [
    "LEAD_TIME_SCALE",
    "PRESETS",
    "REGIONS",
    "Box",
    "Checkpoint",
    "ClimaX",
    "ClimaXBase",
    "ClimaXConfig",
    "LoadReport",
    "ReferenceClimaX",
    "RegionPatches",
    "RegionalClimaX",
    "VariableAggregation",
    "VariableTokenizer",
    "load_checkpoint",
    "load_official_checkpoint",
    "preset",
    "region_patches",
    "save_checkpoint",
    "sincos_1d",
    "sincos_2d",
]
