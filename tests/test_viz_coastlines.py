"""Shipped Natural Earth coastline: cartopy draws it with every download blocked, and user settings win."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import cartopy  # noqa: E402
import cartopy.crs as ccrs  # noqa: E402
import cartopy.feature  # noqa: E402
import cartopy.io  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import shapefile  # noqa: E402

from climax_nb.viz.coastlines import (  # noqa: E402
    NATURAL_EARTH_DIR,
    coastline_path,
    use_shipped_coastlines,
    user_data_dir_set,
)


def test_shipped_shapefile_is_the_natural_earth_110m_coastline():
    reader = shapefile.Reader(str(coastline_path("110m")))
    assert reader.shapeType == shapefile.POLYLINE and len(reader) == 134
    xmin, ymin, xmax, ymax = reader.bbox
    assert xmin == pytest.approx(-180) and xmax == pytest.approx(180) and -86 < ymin < -85 and 83 < ymax < 84
    assert {rec["featurecla"] for rec in reader.records()} <= {"Coastline", "Country"}
    for ext in ("shx", "dbf", "prj"):
        assert coastline_path().with_suffix(f".{ext}").is_file()


def test_coastlines_draw_at_110m_with_downloads_blocked(offline, tmp_path):
    assert use_shipped_coastlines() == NATURAL_EARTH_DIR
    fig, ax = plt.subplots(subplot_kw={"projection": ccrs.PlateCarree()})
    ax.set_global()
    ax.coastlines("110m")
    fig.savefig(tmp_path / "coast.png")  # drawing reads the shapefile
    plt.close(fig)
    (geoms,) = cartopy.feature._NATURAL_EARTH_GEOM_CACHE.values()
    assert len(geoms) == 134


def test_downloads_really_are_blocked_without_the_shipped_folder(offline, monkeypatch, tmp_path):
    monkeypatch.setitem(cartopy.config, "pre_existing_data_dir", tmp_path / "empty")
    monkeypatch.setitem(cartopy.config, "data_dir", tmp_path / "data")
    with pytest.raises(AssertionError, match="download"):
        list(cartopy.feature.NaturalEarthFeature("physical", "coastline", "110m").geometries())


def test_user_choice_is_not_overridden(offline, monkeypatch, tmp_path):
    cartopy.config["pre_existing_data_dir"] = tmp_path
    assert user_data_dir_set()
    assert use_shipped_coastlines() == tmp_path
    assert cartopy.config["pre_existing_data_dir"] == tmp_path
    cartopy.config["pre_existing_data_dir"] = Path("")
    monkeypatch.setenv("CARTOPY_DATA_DIR", str(tmp_path))
    use_shipped_coastlines()
    assert cartopy.config["pre_existing_data_dir"] == Path("")


def test_unshipped_resolution_names_the_fix():
    with pytest.raises(FileNotFoundError, match="only '110m'"):
        coastline_path("10m")
