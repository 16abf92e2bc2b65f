"""From canonical datasets to normalised torch batches: pairs, datasets, sharding, multi-source."""

from climax_nb.data.pipeline.dataset import ForecastDataset, StreamingForecastDataset
from climax_nb.data.pipeline.loader import collate, make_loader, set_loader_epoch
from climax_nb.data.pipeline.multisource import EmptyEpochError, MultiSourceDataset
from climax_nb.data.pipeline.pairs import PairIndex, build_pairs, data_interval
from climax_nb.data.pipeline.samples import SampleBuilder

__all__ = [
    "EmptyEpochError",
    "ForecastDataset",
    "MultiSourceDataset",
    "PairIndex",
    "SampleBuilder",
    "StreamingForecastDataset",
    "build_pairs",
    "collate",
    "data_interval",
    "make_loader",
    "set_loader_epoch",
]
