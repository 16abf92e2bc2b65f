"""AtmoRep (Lessig et al., arXiv:2308.13280): masked space-time token model with per-field encoders.

Neighbourhoods of ``T`` time steps x lat x lon cells (``sampling``) are cut into space-time
tokens per field and level (``tokens``); each field has its own encoder, coupled to other
fields by cross-attention, its own decoder with skips from its encoder and an ensemble tail
(``model``); BERT-style and task masks (``masking``) make pretraining, forecasting,
interpolation and infilling one model. ``climax_nb.train.loss.fair_crps`` trains the tail.
See docs/atmorep.md.
"""

from climax_nb.model.atmorep.config import (
    PRESETS,
    AtmoRepConfig,
    FieldSpec,
    UnknownFieldError,
    coupled_all,
    preset,
)
from climax_nb.model.atmorep.masking import (
    TASK_MASKS,
    MaskConfig,
    MaskKind,
    TokenMasks,
    apply_masks,
    draw_masks,
    draw_rates,
    forecast_mask,
    infill_mask,
    interpolation_mask,
)
from climax_nb.model.atmorep.model import AtmoRep, coupling_matrix
from climax_nb.model.atmorep.sampling import Neighbourhoods, NeighbourhoodSampler
from climax_nb.model.atmorep.tokens import (
    AUX_FEATURES,
    FORCINGS,
    SST_OFFSET_SCALE_K,
    CubeCoords,
    token_aux,
    tokenize,
    untokenize,
)

__all__ = [
    "AUX_FEATURES",
    "FORCINGS",
    "PRESETS",
    "SST_OFFSET_SCALE_K",
    "TASK_MASKS",
    "AtmoRep",
    "AtmoRepConfig",
    "CubeCoords",
    "FieldSpec",
    "MaskConfig",
    "MaskKind",
    "NeighbourhoodSampler",
    "Neighbourhoods",
    "TokenMasks",
    "UnknownFieldError",
    "apply_masks",
    "coupled_all",
    "coupling_matrix",
    "draw_masks",
    "draw_rates",
    "forecast_mask",
    "infill_mask",
    "interpolation_mask",
    "preset",
    "token_aux",
    "tokenize",
    "untokenize",
]
