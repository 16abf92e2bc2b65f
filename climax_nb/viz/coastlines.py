"""Offline coastlines for cartopy: the Natural Earth 110m coastline ships inside the package.

cartopy downloads Natural Earth shapefiles on first use, which fails without a
network (compute nodes, this project's CI). The package carries the
public-domain 110m coastline in cartopy's ``pre_existing_data_dir`` layout, and
points cartopy at it only when the user has not chosen a folder of their own, so
other scales (50m, 10m) and features still download where a network exists.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Folder in cartopy's ``pre_existing_data_dir`` layout holding the shipped shapefiles.
NATURAL_EARTH_DIR: Path = Path(__file__).parent / "natural_earth"

#: The only resolution shipped; others download where a network exists.
SHIPPED_RESOLUTION: str = "110m"


def coastline_path(resolution: str = SHIPPED_RESOLUTION) -> Path:
    """Path of the shipped Natural Earth coastline shapefile (``.shp``) at ``resolution``."""
    path = NATURAL_EARTH_DIR / "shapefiles" / "natural_earth" / "physical" / f"ne_{resolution}_coastline.shp"
    if not path.is_file():
        raise FileNotFoundError(
            f"no shipped Natural Earth coastline at {resolution!r}: only {SHIPPED_RESOLUTION!r} is in the package "
            f"({path.parent}); use resolution={SHIPPED_RESOLUTION!r} offline, or let cartopy download others"
        )
    return path


def user_data_dir_set() -> bool:
    """True when the user chose cartopy's ``pre_existing_data_dir`` (config value or ``CARTOPY_DATA_DIR``)."""
    import cartopy

    if os.environ.get("CARTOPY_DATA_DIR"):
        return True
    current = cartopy.config.get("pre_existing_data_dir", "")
    return str(current) not in ("", ".")


def use_shipped_coastlines() -> Path:
    """Point cartopy at the shipped coastline unless the user set a data folder; return the folder in use.

    Safe to call many times; modules that draw with cartopy call it on import.
    """
    import cartopy

    if not user_data_dir_set():
        cartopy.config["pre_existing_data_dir"] = NATURAL_EARTH_DIR
    return Path(cartopy.config["pre_existing_data_dir"])
