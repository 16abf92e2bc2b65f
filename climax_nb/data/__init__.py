"""Data: the canonical xarray layout, its checks, and the sources that produce it."""

from climax_nb.data.canonical import canonicalize
from climax_nb.data.open import open_dataset
from climax_nb.data.schema import DataReadError, Problem, SchemaError, validate
from climax_nb.data.select import NotInSourceError, available_years, select_variables, select_years

__all__ = [
    "DataReadError",
    "NotInSourceError",
    "Problem",
    "SchemaError",
    "available_years",
    "canonicalize",
    "open_dataset",
    "select_variables",
    "select_years",
    "validate",
]
