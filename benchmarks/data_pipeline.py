"""Data pipeline speed: samples per second and peak memory from each on-disk format.

Writes synthetic data with ClimaX's 48 variables (45 time-varying, land-sea mask,
orography; latitude built from the grid) at 5.625 and 1.40625 degrees into a
temporary folder, in every format there is a writer for here: canonical zarr and
NetCDF, and the WeatherBench 1 folders, WeatherBench 2 zarr and ClimaX npz shards
read by ``climax_nb.data.sources`` (when that package is present). Each format is
opened as users open it (``open_dataset``, lazy, dask-backed) and streamed with
``StreamingForecastDataset`` (ClimaX pretraining: all 48 inputs, all 45
time-varying outputs, lead times 6 to 168 h drawn per sample) through
``make_loader`` at the model's batch size, in a fresh process per case. Peak memory
is the largest resident set of that process plus its DataLoader workers.

It also times the ``compact`` model's training step on each grid (forward, backward
and AdamW on the same batch; patches of 2 at 5.625 degrees, 4 at 1.40625 as ClimaX's
fine model) so the table shows how many times faster the pipeline delivers samples
than the model consumes them. Other load on the machine slows both; the load average
is printed with the table.

    python benchmarks/data_pipeline.py                      # both grids, 0 and 2 workers
    python benchmarks/data_pipeline.py --res 5.625 --workers 2 --steps 160

(Run from the repository root, with the package installed or ``PYTHONPATH=.``.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import xarray as xr

from climax_nb.data.sources.lexicons import ERA5
from climax_nb.defaults import PRETRAIN_LEADS
from climax_nb.grid import Grid
from climax_nb.variables import CLIMAX_DEFAULT_IDS, PRESSURE_LEVELS, VARIABLES

ROOT = Path(__file__).resolve().parents[1]
LEADS = list(PRETRAIN_LEADS)
LEVEL_STEMS = {prefix: ERA5[prefix] for prefix in "zuvtrq"}  # short prefix -> long stem
CHUNK_BYTES = 2**20  # time chunks of about 1 MiB per variable in the zarr stores


# -- synthetic data in each layout -----------------------------------------------------------


def synthetic(res: float, steps: int) -> xr.Dataset:
    """ClimaX's variables (without ``lat``) as a canonical Dataset of ``steps`` 6-hourly steps."""
    grid = Grid.weatherbench(res)
    rng = np.random.default_rng(0)
    time = pd.date_range("2000-01-01", periods=steps, freq="6h")
    fields = {}
    for vid in CLIMAX_DEFAULT_IDS:
        var = VARIABLES[vid]
        if vid == "lat":
            continue
        shape = grid.shape if var.kind == "constant" else (steps, *grid.shape)
        dims = ("lat", "lon") if var.kind == "constant" else ("time", "lat", "lon")
        data = rng.standard_normal(shape, dtype=np.float32)
        fields[vid] = xr.DataArray(data, dims=dims, attrs={"units": var.units})
    return xr.Dataset(fields, coords={"time": time, "lat": grid.lat, "lon": grid.lon})


def _time_chunk(ds: xr.Dataset) -> int:
    return max(1, CHUNK_BYTES // (4 * ds.sizes["lat"] * ds.sizes["lon"]))


def write_canonical_zarr(ds: xr.Dataset, root: Path) -> tuple[str, dict]:
    path = root / "canonical.zarr"
    ds.chunk({"time": _time_chunk(ds)}).to_zarr(path, consolidated=False)
    return str(path), {}


def write_canonical_netcdf(ds: xr.Dataset, root: Path) -> tuple[str, dict]:
    path = root / "canonical.nc"
    ds.to_netcdf(path)
    return str(path), {}


def _level_fields(ds: xr.Dataset) -> dict[str, xr.DataArray]:
    """Pressure-level ids stacked on a ``level`` dimension, by WeatherBench long-name stem."""
    out = {}
    for prefix, stem in LEVEL_STEMS.items():
        parts = [ds[f"{prefix}{lev}"] for lev in PRESSURE_LEVELS]
        out[stem] = xr.concat(parts, dim=pd.Index(np.array(PRESSURE_LEVELS, np.int64), name="level"))
        out[stem] = out[stem].transpose("time", "level", "lat", "lon")
        out[stem].attrs["units"] = VARIABLES[f"{prefix}500"].units
    return out


def write_weatherbench1(ds: xr.Dataset, root: Path) -> tuple[str, dict]:
    """One folder per variable, one NetCDF per year, a constants file (the WeatherBench 1 layout)."""
    folder, tag = root / "wb1", f"{180 / ds.sizes['lat']:g}deg"
    short = {
        "geopotential": "z",
        "u_component_of_wind": "u",
        "v_component_of_wind": "v",
        "temperature": "t",
        "relative_humidity": "r",
        "specific_humidity": "q",
    }
    fields = {VARIABLES[v].long_name: (v, ds[v]) for v in ("t2m", "u10", "v10")}
    fields |= {stem: (short[stem], da) for stem, da in _level_fields(ds).items()}
    for long_name, (name, da) in fields.items():
        (folder / long_name).mkdir(parents=True)
        for year in np.unique(ds["time"].dt.year.values):
            part = da.sel(time=str(year)).to_dataset(name=name)
            part.to_netcdf(folder / long_name / f"{long_name}_{year}_{tag}.nc")
    (folder / "constants").mkdir()
    ds[["orography", "lsm"]].to_netcdf(folder / "constants" / f"constants_{tag}.nc")
    return str(folder), {}


def write_weatherbench2(ds: xr.Dataset, root: Path) -> tuple[str, dict]:
    """One zarr (v2) with long names, a ``level`` dimension and (time, level, longitude, latitude) order."""
    fields = {VARIABLES[v].long_name: ds[v] for v in ("t2m", "u10", "v10")} | _level_fields(ds)
    fields["land_sea_mask"] = ds["lsm"]
    fields["geopotential_at_surface"] = (ds["orography"] * 9.80665).assign_attrs(units="m**2 s**-2")
    store = xr.Dataset(fields).rename(lat="latitude", lon="longitude")
    store = store.transpose("time", "level", "longitude", "latitude", missing_dims="ignore")
    path = root / "wb2.zarr"
    store.chunk({"time": _time_chunk(ds), "level": 1}).to_zarr(path, zarr_format=2, consolidated=True)
    return str(path), {}


def write_climax(ds: xr.Dataset, root: Path) -> tuple[str, dict]:
    from climax_nb.data.sources import write_climax_npz

    path = root / "climax_npz"
    write_climax_npz(ds, path, {"train": [int(ds["time"].dt.year[0])]}, shards_per_year=8)
    return str(path), {}


def writers() -> dict[str, Callable[[xr.Dataset, Path], tuple[str, dict]]]:
    """Format name -> writer, the source formats only when their readers are installed."""
    out = {"canonical zarr": write_canonical_zarr, "canonical netcdf": write_canonical_netcdf}
    try:
        import climax_nb.data.sources  # noqa: F401
    except ImportError:
        return out
    return out | {"WB1 netcdf": write_weatherbench1, "WB2 zarr": write_weatherbench2, "ClimaX npz": write_climax}


# -- measurements, each in a fresh process ---------------------------------------------------


def _peak_rss(stop: threading.Event, peak: list[int]) -> None:
    me = psutil.Process()
    while not stop.is_set():
        try:
            total = me.memory_info().rss + sum(c.memory_info().rss for c in me.children(recursive=True))
        except psutil.Error:
            total = 0
        peak[0] = max(peak[0], total)
        time.sleep(0.02)


def measure_pipeline(path: str, workers: int, batch: int, batches: int) -> dict:
    """Samples per second over ``batches`` batches (0: one epoch), and peak RSS, streaming from ``path``."""
    from climax_nb.data import open_dataset
    from climax_nb.data.pipeline import StreamingForecastDataset, make_loader
    from climax_nb.data.stats import Normalizer

    stop, peak = threading.Event(), [0]
    watcher = threading.Thread(target=_peak_rss, args=(stop, peak), daemon=True)
    watcher.start()
    ds = open_dataset(path, check_values=False)
    inputs = list(CLIMAX_DEFAULT_IDS)
    outputs = [v for v in inputs if VARIABLES[v].kind != "constant"]
    norm = Normalizer(dict.fromkeys(inputs, 0.0), dict.fromkeys(inputs, 1.0))  # statistics are not timed
    data = StreamingForecastDataset(ds, inputs, outputs, norm, leads=LEADS)
    loader = make_loader(data, batch, num_workers=workers)
    start, n = time.perf_counter(), 0  # worker start-up and the first pool fill count too
    for k, b in enumerate(loader, start=1):
        n += len(b["x"])
        if k == batches:
            break
    elapsed = time.perf_counter() - start
    stop.set()
    watcher.join()
    return {"samples_per_s": n / elapsed, "peak_mb": peak[0] / 2**20, "block": data.block_size, "pairs": len(data)}


def measure_model(res: float, batch: int, steps: int) -> dict:
    """Training steps per second of the compact preset on ``res``: forward, backward, AdamW.

    Patches are 2 x 2 at 5.625 degrees and 4 x 4 at finer grids, as ClimaX's 1.40625-degree model.
    """
    import torch

    from climax_nb.model import ClimaX, preset

    grid = Grid.weatherbench(res)
    cfg = preset("compact", img_size=grid.shape, patch_size=2 if res >= 5 else 4)
    model = ClimaX.from_config(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    inputs = list(cfg.variables)
    outputs = [v for v in inputs if VARIABLES[v].kind != "constant"]
    x, y = torch.randn(batch, len(inputs), *cfg.img_size), torch.randn(batch, len(outputs), *cfg.img_size)
    lead = torch.full((batch,), 72.0)
    warmup = 3 if res >= 5 else 1  # the first steps warm up allocators and kernels
    times = []
    for _ in range(steps + warmup):
        t = time.perf_counter()
        loss = (model(x, lead, inputs, outputs) - y).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    step = float(np.median(times[warmup:]))
    return {"steps_per_s": 1 / step, "samples_per_s": batch / step}


def in_subprocess(*args: str) -> dict | None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env)
    if run.returncode:
        print(f"  failed: {' '.join(args)}\n{run.stderr[-1500:]}", file=sys.stderr)
        return None
    return json.loads(run.stdout.strip().splitlines()[-1])


# -- the table -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--res", type=float, nargs="+", default=[5.625, 1.40625])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--steps", type=int, default=None, help="time steps written (default 640 / 96 by grid)")
    parser.add_argument("--batch", type=int, default=16, help="batch size (ClimaX pretraining used 16 per GPU)")
    parser.add_argument("--batches", type=int, default=0, help="batches timed per case (default: one epoch)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "model":
            result = measure_model(float(rest[0]), int(rest[1]), 6 if float(rest[0]) >= 5 else 1)
        else:
            result = measure_pipeline(rest[0], int(rest[1]), int(rest[2]), int(rest[3]))
        print(json.dumps(result))
        return

    print(f"cpu cores: {os.cpu_count()}, load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    models = {res: in_subprocess("model", str(res), str(args.batch)) for res in args.res}
    rows = []
    with tempfile.TemporaryDirectory(prefix="climax_nb_bench_") as tmp:
        for res in args.res:
            steps = args.steps or (640 if res >= 5 else 96)
            ds = synthetic(res, steps)
            for name, write in writers().items():
                folder = Path(tmp) / f"{res}" / name.replace(" ", "_")
                folder.mkdir(parents=True)
                path, _ = write(ds, folder)
                for workers in args.workers:
                    got = in_subprocess("pipeline", path, str(workers), str(args.batch), str(args.batches))
                    rows.append((res, name, workers, got))
                    if got:
                        print(
                            f"  {res:>8g}  {name:<17} workers={workers}  {got['samples_per_s']:7.1f} samples/s "
                            f"{got['peak_mb']:7.0f} MB",
                            file=sys.stderr,
                        )
            del ds

    header = f"{'grid':>8}  {'format':<17} {'workers':>7} {'samples/s':>10} {'peak MB':>8} {'block':>5} {'x model':>8}"
    print(header)
    print("-" * len(header))
    for res, name, workers, got in rows:
        if got is None:
            print(f"{res:>8g}  {name:<17} {workers:>7} {'failed':>10}")
            continue
        model = models[res]
        ratio = f"{got['samples_per_s'] / model['samples_per_s']:8.1f}" if model else f"{'n/a':>8}"
        print(
            f"{res:>8g}  {name:<17} {workers:>7} {got['samples_per_s']:>10.1f} {got['peak_mb']:>8.0f} "
            f"{got['block']:>5} {ratio}"
        )
    print(f"\ncompact model training step (forward, backward, AdamW), batch {args.batch}:")
    for res, model in models.items():
        if model is None:
            print(f"  {res:g} deg: not available (climax_nb.model missing or failed)")
            continue
        print(f"  {res:g} deg: {model['steps_per_s']:.3f} steps/s = {model['samples_per_s']:.2f} samples/s")
    print("'x model' = pipeline samples/s over the model's samples/s on the same grid")
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
