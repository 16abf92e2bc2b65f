"""The embedded default dataset: a real GCM (SPEEDY physics in jcm) run here, cached on disk.

``sources()`` lists the configurations and their variables, ``open_source``
returns one as a canonical dataset (simulating it on first use) and
``generate`` builds the cache explicitly; ``perfect_model_pair`` gives the
fine ``t42`` source and its coarsened copy for downscaling. See docs/embedded.md.
"""

from climax_nb.data.embedded.api import (
    default_sources,
    generate,
    generate_all,
    global_mean_temperature,
    open_source,
    sources,
)
from climax_nb.data.embedded.configs import SOURCES, SourceConfig, UnknownSourceError, get_config
from climax_nb.data.embedded.downscaling import coarsen, perfect_model_pair

__all__ = [
    "SOURCES",
    "SourceConfig",
    "UnknownSourceError",
    "coarsen",
    "default_sources",
    "generate",
    "generate_all",
    "get_config",
    "global_mean_temperature",
    "open_source",
    "perfect_model_pair",
    "sources",
]
