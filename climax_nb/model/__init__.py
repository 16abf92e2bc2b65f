"""ClimaX in PyTorch: the model, its presets, regional variant and the released checkpoints.

Models speak short variable ids (``climax_nb.variables``); ``forward`` takes fields
[B, V, H, W], lead times in hours and the list of variables the channels hold.
"""

from climax_nb.model.aggregation import VariableAggregation
from climax_nb.model.climax import LEAD_TIME_SCALE, ClimaX, ClimaXBase
from climax_nb.model.config import PRESETS, ClimaXConfig, preset
from climax_nb.model.embed import VariableTokenizer, sincos_1d, sincos_2d
from climax_nb.model.reference import ReferenceClimaX, write_released_style_checkpoint
from climax_nb.model.regional import REGIONS, Box, RegionalClimaX, RegionPatches, parse_region, region_patches
from climax_nb.model.released import RELEASED_CHECKPOINT_URL, LoadReport, load_official_checkpoint, transfer_released
from climax_nb.model.safe_load import safe_load

#: The ClimaX classes a checkpoint may name, by class name.
MODEL_CLASSES: dict[str, type[ClimaXBase]] = {c.__name__: c for c in (ClimaX, RegionalClimaX, ReferenceClimaX)}

__all__ = [
    "LEAD_TIME_SCALE",
    "MODEL_CLASSES",
    "PRESETS",
    "RELEASED_CHECKPOINT_URL",
    "REGIONS",
    "Box",
    "ClimaX",
    "ClimaXBase",
    "ClimaXConfig",
    "LoadReport",
    "ReferenceClimaX",
    "RegionPatches",
    "RegionalClimaX",
    "VariableAggregation",
    "VariableTokenizer",
    "load_official_checkpoint",
    "preset",
    "parse_region",
    "region_patches",
    "safe_load",
    "sincos_1d",
    "sincos_2d",
    "transfer_released",
    "write_released_style_checkpoint",
]
