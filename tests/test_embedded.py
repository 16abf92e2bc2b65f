"""The embedded GCM dataset: a short real jcm run, checked for physics, layout and caching.

One session fixture simulates the held-out ``reanalysis`` configuration with a
short spin-up (24 days) and 4 days of output in 3-day chunks, so chunk
boundaries, the spin-up and trimming to length are all exercised.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from climax_nb.data import embedded
from climax_nb.data.embedded import api, cache
from climax_nb.data.embedded.configs import SourceConfig, UnknownSourceError, get_config
from climax_nb.data.schema import validate
from climax_nb.data.select import NotInSourceError
from climax_nb.grid import WB5625
from climax_nb.variables import CLIMATE_IDS, PRESSURE_LEVELS, VARIABLES

pytestmark = pytest.mark.gcm  # runs the embedded GCM (jcm)

SPINUP_DAYS, DAYS, CHUNK_DAYS = 24, 4, 3
CONFIG = dataclasses.replace(get_config("reanalysis"), spinup_days=SPINUP_DAYS)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("climax_nb_cache")
    embedded.generate(CONFIG, length=DAYS, cache_dir=root, chunk_days=CHUNK_DAYS, progress=False)
    return root


@pytest.fixture(scope="session")
def ds(cache_dir):
    return embedded.open_source(CONFIG, length=DAYS, cache_dir=cache_dir).load()


@pytest.fixture
def no_simulation(monkeypatch):
    """Make any attempt to run the GCM fail, to prove the cache is used."""

    def refuse(*args, **kwargs):
        raise AssertionError("the GCM ran although a valid cache exists")

    monkeypatch.setattr(api, "Simulation", refuse)


# --- sources and their configurations ------------------------------------------------


def test_sources_differ_in_configuration_and_variables():
    everything = embedded.sources()
    srcs = {name: cfg for name, cfg in everything.items() if not name.startswith("scenario-")}  # the model worlds
    assert len(srcs) >= 4
    held_out = [name for name, cfg in srcs.items() if cfg.held_out]
    assert held_out == ["reanalysis"]
    assert set(srcs["reanalysis"].variables) == set(VARIABLES) - set(CLIMATE_IDS)  # every archived variable
    pretraining = [cfg for cfg in srcs.values() if not cfg.held_out]
    assert len(pretraining) >= 3
    variable_sets = {frozenset(cfg.variables) for cfg in srcs.values()}
    assert len(variable_sets) == len(srcs), "every source archives a different variable set"
    simulated = {
        (cfg.truncation, cfg.sst_offset, cfg.physics) for cfg in pretraining + [srcs["reanalysis"]]
    }
    assert len(simulated) == len(srcs), "every source simulates a different model or forcing"
    scenarios = [cfg for name, cfg in everything.items() if name.startswith("scenario-")]
    forcing = {(c.co2_ppmv, c.sst_offset, c.sst_pattern, c.sst_pattern_amplitude, c.member) for c in scenarios}
    assert len(forcing) == len(scenarios) == 21 and not any(c.in_default_set for c in scenarios)
    # what the main job and `climax-nb data` generate: the model worlds it trains on, not t42 or the scenarios
    assert embedded.default_sources() == ["reanalysis", "warm-sst", "fast-convection", "t31"]


def test_reanalysis_splits_are_disjoint_and_cover_its_default_years():
    cfg = get_config("reanalysis")
    years = [y for split in ("train", "val", "test") for y in cfg.split_years(split)]
    assert len(years) == len(set(years)) == cfg.years
    assert cfg.default_days == 1461  # 2000-2003, one leap year


def test_config_hash_follows_the_simulation_not_the_description():
    cfg = get_config("warm-sst")
    assert dataclasses.replace(cfg, description="other words").config_hash() == cfg.config_hash()
    assert dataclasses.replace(cfg, sst_offset=-2.0).config_hash() != cfg.config_hash()
    changed = dataclasses.replace(cfg, physics=(("convection.trcnv", 4.0),))
    assert changed.config_hash() != cfg.config_hash()


def test_unknown_source_lists_the_available_ones():
    with pytest.raises(UnknownSourceError, match="reanalysis.*warm-sst"):
        embedded.open_source("no-such-source")


@pytest.mark.parametrize("length", [0, -3, 2.5, "4y", True])
def test_bad_length_is_refused(length, tmp_path):
    with pytest.raises(ValueError, match="positive integer"):
        embedded.open_source("reanalysis", length=length, cache_dir=tmp_path)


def test_bad_configurations_are_refused():
    with pytest.raises(ValueError, match="unknown variable"):
        SourceConfig(name="x", variables=("t2m", "nope"))
    with pytest.raises(ValueError, match="convection.trcnv"):
        SourceConfig(name="x", variables=("t2m",), physics=(("trcnv", 3.0),))
    from climax_nb.data.embedded.simulate import _parameters

    with pytest.raises(ValueError, match="trcnv"):
        _parameters((("convection.trcvn", 3.0),))
    assert float(_parameters((("convection.trcnv", 3.0),)).convection.trcnv) == 3.0


# --- the dataset -----------------------------------------------------------------------


def test_dataset_is_canonical_and_complete(ds):
    validate(ds, check_values=True)
    expected = [v for v in CONFIG.variables if v != "lat"]
    assert list(ds.data_vars) == expected
    assert ds.sizes == {"time": 4 * DAYS, "lat": 32, "lon": 64}
    np.testing.assert_array_equal(ds["lat"].values, WB5625.lat)
    np.testing.assert_array_equal(ds["lon"].values, WB5625.lon)
    assert ds["time"].values[0] == np.datetime64("2000-01-01T00:00")
    assert np.all(np.diff(ds["time"].values) == np.timedelta64(6, "h"))
    assert all(ds[v].attrs["units"] == VARIABLES[v].units for v in ds.data_vars)


def test_westerly_jet_in_each_hemisphere(ds):
    u = ds["u250"].mean(("time", "lon"))
    for hemisphere in (u.where(u["lat"] > 0, drop=True), u.where(u["lat"] < 0, drop=True)):
        peak = hemisphere.idxmax("lat")
        assert 25 <= abs(float(peak)) <= 55, f"jet at {float(peak):.1f}"
        assert float(hemisphere.max()) > 15.0


def test_surface_temperature_pattern(ds):
    t2m = ds["t2m"].mean("time")
    zonal = t2m.mean("lon")
    tropics = float(zonal.sel(lat=slice(-20, 20)).mean())
    poles = float(zonal.where(abs(zonal["lat"]) > 65).mean())
    assert tropics > 290 and tropics - poles > 25
    band = t2m.sel(lat=slice(30, 60))  # northern winter: land colder than sea
    land = float(band.where(ds["lsm"].sel(lat=slice(30, 60)) > 0.7).mean())
    sea = float(band.where(ds["lsm"].sel(lat=slice(30, 60)) < 0.1).mean())
    assert sea - land > 3.0


def test_upper_air_is_ordered_with_height(ds):
    z = [float(ds[f"z{lev}"].mean()) for lev in PRESSURE_LEVELS]
    t = [float(ds[f"t{lev}"].mean()) for lev in PRESSURE_LEVELS]
    assert np.all(np.diff(z) < 0), "geopotential falls with increasing pressure"
    assert (
        t[PRESSURE_LEVELS.index(850)]
        > t[PRESSURE_LEVELS.index(500)]
        > t[PRESSURE_LEVELS.index(250)]
    )
    assert 50000 < z[PRESSURE_LEVELS.index(500)] < 56000  # 5.1-5.7 km


def test_water_is_non_negative_and_it_rains(ds):
    for v in ("tp6h", *(f"q{lev}" for lev in PRESSURE_LEVELS)):
        assert float(ds[v].min()) >= 0.0, v
    daily_mm = float(ds["tp6h"].mean()) * 4 * 1000
    assert 1.0 < daily_mm < 6.0  # Earth: about 2.7 mm per day
    assert 50.0 < float(ds["r850"].mean()) < 95.0


def test_precipitation_has_no_jump_at_chunk_boundaries(ds):
    # frames 0-11 come from the first 3-day chunk, 12-15 from the next
    series = ds["tp6h"].mean(("lat", "lon")).values
    assert series[12] < 2.5 * np.median(series[8:12])


def test_surface_pressure_follows_the_model_orography(ds):
    sp = ds["sp"].mean("time").values
    height = ds["orography"].values
    assert 99000 < sp[height < 50].mean() < 103000
    hypsometric = 101325.0 * np.exp(-height / 7500.0)  # a 7.5 km scale height
    assert np.all(np.abs(sp / hypsometric - 1.0) < 0.2)
    assert np.corrcoef(sp.ravel(), height.ravel())[0, 1] < -0.95


def test_insolation_is_hourly_energy_with_polar_night(ds):
    tisr = ds["tisr"].isel(time=0)
    assert float(tisr.sel(lat=slice(70, 90)).max()) == 0.0  # polar night in January
    assert 1.6e6 < float(tisr.max()) < 2.1e6  # ~550 W m-2 daily mean near the SH pole, x 3600 s


def test_years_selection(cache_dir):
    ds = embedded.open_source(CONFIG, years=2000, length=DAYS, cache_dir=cache_dir)
    assert ds.sizes["time"] == 4 * DAYS
    with pytest.raises(NotInSourceError, match="2000"):
        embedded.open_source(CONFIG, years=[1999], length=DAYS, cache_dir=cache_dir)
    with pytest.raises(NotInSourceError, match="2001"):
        embedded.open_source(CONFIG, years="train", length=DAYS, cache_dir=cache_dir)
    with pytest.raises(ValueError, match="train, val, test"):
        embedded.open_source(CONFIG, years="pretrain", length=DAYS, cache_dir=cache_dir)


def test_spinup_has_levelled_off(cache_dir):
    series = embedded.global_mean_temperature(CONFIG, length=DAYS, cache_dir=cache_dir)
    assert int(series["spinup"].sum()) == SPINUP_DAYS
    assert series.sizes["time"] == SPINUP_DAYS + DAYS
    values = series.values
    early = np.polyfit(np.arange(7), values[:7], 1)[0]
    late = np.polyfit(np.arange(10), values[-10:], 1)[0]
    assert abs(late) < 0.05, f"still drifting by {late:.3f} K/day"
    assert abs(early) > 3 * abs(late), "the series should show the adjustment it levelled off from"
    assert 240 < values[-1] < 260


# --- the cache -------------------------------------------------------------------------


def test_manifest_records_configuration_versions_and_hash(cache_dir):
    manifest = json.loads((cache.source_dir("reanalysis", cache_dir) / cache.MANIFEST).read_text())
    assert manifest["config_hash"] == CONFIG.config_hash()
    assert manifest["config"]["spinup_days"] == SPINUP_DAYS
    assert set(manifest["versions"]) == {"jcm", "jax", "climax_nb"}
    assert manifest["days"] == DAYS and manifest["spinup_days_run"] == SPINUP_DAYS


def test_cache_is_reused_and_shorter_lengths_are_sliced(cache_dir, no_simulation):
    again = embedded.open_source(CONFIG, length=DAYS, cache_dir=cache_dir)
    assert again.sizes["time"] == 4 * DAYS
    shorter = embedded.open_source(CONFIG, length=2, cache_dir=cache_dir)
    assert shorter.sizes["time"] == 8
    with pytest.raises(AssertionError, match="GCM ran"):
        embedded.open_source(CONFIG, length=DAYS + 1, cache_dir=cache_dir)


def test_stale_reasons(cache_dir):
    directory = cache.source_dir("reanalysis", cache_dir)
    assert cache.stale_reason(directory, CONFIG, DAYS) is None
    warmer = dataclasses.replace(CONFIG, sst_offset=1.0)
    assert "configuration changed" in cache.stale_reason(directory, warmer, DAYS)
    assert "requested" in cache.stale_reason(directory, CONFIG, DAYS + 1)
    assert cache.stale_reason(directory.parent / "missing", CONFIG, DAYS) == "no complete store yet"


def test_changed_configuration_is_regenerated(cache_dir, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(cache_dir, root)
    before = cache.read_manifest(cache.source_dir("reanalysis", root))
    warmer = dataclasses.replace(CONFIG, sst_offset=2.0, spinup_days=0)
    # same chunk length as the fixture: the compiled program is reused from the JAX cache
    ds = embedded.open_source(warmer, length=CHUNK_DAYS, cache_dir=root, progress=False)
    after = cache.read_manifest(cache.source_dir("reanalysis", root))
    assert after["config_hash"] == warmer.config_hash() != before["config_hash"]
    assert ds.sizes["time"] == 4 * CHUNK_DAYS
    validate(ds.load(), check_values=True)
    assert not any(p.name.endswith(".partial") for p in (root / "embedded").iterdir())


def test_cache_root_from_argument_environment_or_home(monkeypatch, tmp_path):
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "env"))
    assert cache.cache_root() == tmp_path / "env"
    assert cache.cache_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv(cache.ENV_VAR)
    assert cache.cache_root().parts[-2:] == (".cache", "climax_nb")


def test_a_cache_root_set_for_a_block_is_restored_after_it(monkeypatch, tmp_path):
    from climax_nb import storage

    monkeypatch.setenv("CLIMAX_NB_CACHE", str(tmp_path / "before"))
    with storage.cache_root_set_to(tmp_path / "job") as root:
        assert root == cache.cache_root() == tmp_path / "job" and os.environ["CLIMAX_NB_CACHE"] == str(root)
    assert cache.cache_root() == tmp_path / "before"
    monkeypatch.delenv("CLIMAX_NB_CACHE")
    with pytest.raises(RuntimeError), storage.cache_root_set_to(tmp_path / "job"):
        raise RuntimeError("stopped")
    assert "CLIMAX_NB_CACHE" not in os.environ
    with storage.cache_root_set_to(None) as root:
        assert root == cache.cache_root()


def test_interrupted_generation_leaves_no_valid_store(tmp_path, monkeypatch):
    from climax_nb.data.embedded.simulate import NativeGrid
    from climax_nb.data.regrid import gaussian_latitudes

    class ModelBlewUpError(RuntimeError):
        pass

    class BrokenSimulation:
        def __init__(self, config, days, chunk_days):
            pass

        def build(self):
            flat = np.zeros((32, 64))
            sigma = np.linspace(0.1, 0.9, 8)
            bounds = np.linspace(0.0, 1.0, 9)
            return NativeGrid(
                gaussian_latitudes(32), 5.625 * np.arange(64), sigma, bounds, flat, flat
            )

        def chunks(self, progress=True):
            raise ModelBlewUpError("the model blew up")
            yield

    monkeypatch.setattr(api, "Simulation", BrokenSimulation)
    with pytest.raises(ModelBlewUpError):
        embedded.generate(CONFIG, length=1, cache_dir=tmp_path, progress=False)
    directory = cache.source_dir("reanalysis", tmp_path)
    assert cache.stale_reason(directory, CONFIG, 1) == "no complete store yet"
    assert list((tmp_path / "embedded").iterdir()) == []


# --- no environment change at import ------------------------------------------------


def test_importing_the_package_leaves_the_environment_alone():
    code = (
        "import json, os\n"
        "before = dict(os.environ)\n"
        "import climax_nb, climax_nb.data, climax_nb.data.embedded, climax_nb.data.embedded.simulate\n"
        "after = dict(os.environ)\n"
        "print(json.dumps({k: [before.get(k), after.get(k)] for k in before.keys() | after.keys()"
        " if before.get(k) != after.get(k)}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {}


def test_legacy_runtime_is_asked_for_only_before_jax_starts(monkeypatch):
    from climax_nb.data.embedded import simulate

    if not metadata.version("jaxlib").startswith("0.10."):
        pytest.skip("the flag is only set for the jaxlib releases it was measured with")
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.setattr(simulate, "_jax_backends_started", lambda: True)
    with pytest.warns(UserWarning, match="JAX already started"):
        simulate.prefer_legacy_cpu_runtime()
    assert "XLA_FLAGS" not in os.environ
    monkeypatch.setattr(simulate, "_jax_backends_started", lambda: False)
    simulate.prefer_legacy_cpu_runtime()
    assert os.environ["XLA_FLAGS"] == simulate.LEGACY_CPU_RUNTIME
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_thunk_runtime=true")
    simulate.prefer_legacy_cpu_runtime()  # the user's choice wins
    assert os.environ["XLA_FLAGS"] == "--xla_cpu_use_thunk_runtime=true"


def _note_when_ready(source: Path, note: Path) -> None:
    """Work that needs ``source``: write its creation stamp to ``note``."""
    note.write_text(cache.read_manifest(source)["created"])


def test_sources_generated_side_by_side_match_one_generated_alone(cache_dir, tmp_path):
    """``generate_all`` runs stale sources in parallel processes, skips cached ones, and changes no value."""
    root = tmp_path / "parallel"
    shutil.copytree(cache_dir, root)
    cached = cache.read_manifest(cache.source_dir("reanalysis", root))["created"]
    pair = [dataclasses.replace(CONFIG, name=name, sst_offset=offset, spinup_days=0, restarts=False)
            for name, offset in (("side-a", 1.0), ("side-b", -1.0))]
    with pytest.raises(ValueError, match=r"alongside names \['t31'\], not among the sources"):
        embedded.generate_all([CONFIG], cache_dir=root, alongside={"t31": print})
    after = {name: functools.partial(_note_when_ready, cache.source_dir(name, root), tmp_path / f"{name}.txt")
             for name in ("reanalysis", "side-a")}
    paths = embedded.generate_all([CONFIG, *pair], length=CHUNK_DAYS, cache_dir=root, workers=2, progress=False,
                                  alongside=after)
    assert list(paths) == ["reanalysis", "side-a", "side-b"]
    for name in after:  # each ran in the pool once its source was there
        assert (tmp_path / f"{name}.txt").read_text() == cache.read_manifest(paths[name])["created"]
        (tmp_path / f"{name}.txt").unlink()
    embedded.generate_all([CONFIG, *pair], length=CHUNK_DAYS, cache_dir=root, progress=False, alongside=after)
    assert not list(tmp_path.glob("*.txt"))  # nothing to generate: left to the caller
    assert cache.read_manifest(paths["reanalysis"])["created"] == cached  # cached: not simulated again
    alone = embedded.open_source(pair[1], length=CHUNK_DAYS, cache_dir=tmp_path / "alone", progress=False)
    side = embedded.open_source(pair[1], length=CHUNK_DAYS, cache_dir=root)
    for vid in ("z500", "t2m", "tp6h"):
        np.testing.assert_array_equal(side[vid].values, alone[vid].values)
    # restarts only where the config asks for them (the reanalysis: one chunk's end before its last)
    assert len(cache.restart_times(paths["reanalysis"])) == 1
    assert len(cache.restart_times(paths["side-a"])) == 0
    warmer = embedded.open_source(pair[0], length=CHUNK_DAYS, cache_dir=root)
    assert float(warmer["t2m"].mean()) > float(side["t2m"].mean())  # the +1 K world is warmer than the -1 K one
