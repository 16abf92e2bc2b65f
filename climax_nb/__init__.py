"""climax_nb: ClimaX- and AtmoRep-style weather and climate foundation models in PyTorch + xarray."""

__version__ = "0.1.0"
