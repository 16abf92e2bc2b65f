"""Many draws of AtmoRep's neighbourhood sampler on the sphere: the latitude law, where the draws fall, the seam.

``sampler_draws`` draws ``n`` neighbourhoods and keeps what the figure and the checks need:
the centre latitudes and longitudes, the centres per unit area of each grid cell (1 where
the draws are area-uniform), the share of draws holding each cell, and KS statistics of the
centre latitudes against the area law (uniform in sin(latitude) over the band of centres),
beside those of latitudes uniform in degrees (AtmoRep's own draw) on the same band.
``plot_sampler_draws`` draws them: the latitudes against the cosine law, the two maps and
their longitude profiles across the 0 deg seam.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from scipy import stats

from climax_nb.model.atmorep.sampling import NeighbourhoodSampler


def _area_cdf(band: tuple[float, float]):
    lo, hi = np.sin(np.deg2rad(band[0])), np.sin(np.deg2rad(band[1]))
    return lambda lat: np.clip((np.sin(np.deg2rad(lat)) - lo) / (hi - lo), 0.0, 1.0)


def _cell_edges(values: np.ndarray, period: float | None = None) -> np.ndarray:
    mid = (values[1:] + values[:-1]) / 2
    if period is not None:
        step = period / len(values)
        return np.concatenate([[values[0] - step / 2], mid, [values[-1] + step / 2]])
    return np.concatenate([[-90.0], mid, [90.0]])


def sampler_draws(sampler: NeighbourhoodSampler, n: int = 200_000, seed: int = 0) -> xr.Dataset:
    """``n`` draws of ``sampler``: centres, centre density per unit area and cover share per cell, and KS tests.

    ``centre_density`` (lat, lon) is the drawn centres in each cell over what an area-uniform
    law puts there (mean 1 over the band's cells); ``cover`` (lat, lon) the share of draws whose
    neighbourhood holds the cell. Attributes: ``ks_area`` and ``ks_area_p`` (the centres against
    the area law), ``ks_degrees`` and ``ks_degrees_p`` (as many latitudes uniform in degrees
    over the band, against the same law), ``lon_starts_chi2`` and ``lon_starts_p`` (a chi-square
    test that every first longitude is equally likely), ``seam_share`` (the share of draws whose
    cube crosses 0 deg), ``seam_expected`` (what uniform longitudes give: ``(W - 1) / len(lon)``)
    and ``seam_p`` (a binomial test of the two), ``band``, ``size`` and ``n``.
    """
    if n < 1:
        raise ValueError(f"draw at least one neighbourhood, not {n}")
    rng = np.random.default_rng(seed)
    hoods = sampler.sample(n, rng)
    lat, lon = sampler.lat, sampler.lon
    _, h, w = sampler.size
    # cover: the starts' joint counts spread over each neighbourhood's h x w cells (lon wraps)
    starts = np.zeros((len(lat), len(lon)))
    np.add.at(starts, (hoods.lat[:, 0], hoods.lon[:, 0]), 1.0)
    cover = np.zeros_like(starts)
    for i in range(h):
        for j in range(w):
            cover += np.roll(np.roll(starts, i, axis=0), j, axis=1)
    cover /= n
    # centres per unit area, against the area law on the band (cells partly in the band get their share)
    lat_edges, lon_edges = _cell_edges(lat), _cell_edges(lon, 360.0)
    centre_lon = (hoods.centre_lon - lon_edges[0]) % 360.0 + lon_edges[0]
    counts, _, _ = np.histogram2d(hoods.centre_lat, centre_lon, bins=(lat_edges, lon_edges))
    band = sampler.band
    cdf = _area_cdf(band)
    expected_rows = np.diff(cdf(np.clip(lat_edges, *band))) * n / len(lon)
    with np.errstate(invalid="ignore", divide="ignore"):
        density = np.where(expected_rows[:, None] > 0, counts / expected_rows[:, None], np.nan)
    ks_area = stats.kstest(hoods.centre_lat, cdf)
    degrees = rng.uniform(band[0], band[1], n)
    ks_degrees = stats.kstest(degrees, cdf)
    lon_starts = stats.chisquare(starts.sum(axis=0))  # every first longitude equally likely
    # a cube across 0 deg is as likely as anywhere: (w - 1) of the W first longitudes wrap
    wraps = int((hoods.lon[:, -1] < hoods.lon[:, 0]).sum())
    seam_expected = (w - 1) / len(lon) if w < len(lon) else 0.0
    seam = stats.binomtest(wraps, n, seam_expected) if 0 < seam_expected < 1 else None
    coords = {"lat": lat, "lon": lon}
    return xr.Dataset(
        {"centre_lat": ("draw", hoods.centre_lat), "centre_lon": ("draw", hoods.centre_lon),
         "centre_density": (("lat", "lon"), density), "cover": (("lat", "lon"), cover)},
        coords=coords,
        attrs={"n": int(n), "band": list(band), "size": list(sampler.size),
               "ks_area": float(ks_area.statistic), "ks_area_p": float(ks_area.pvalue),
               "ks_degrees": float(ks_degrees.statistic), "ks_degrees_p": float(ks_degrees.pvalue),
               "lon_starts_chi2": float(lon_starts.statistic), "lon_starts_p": float(lon_starts.pvalue),
               "seam_share": wraps / n, "seam_expected": float(seam_expected),
               "seam_p": float(seam.pvalue) if seam is not None else float("nan")},
    )


def plot_sampler_draws(draws: xr.Dataset, bins: int = 40) -> plt.Figure:
    """Centre latitudes against the cosine law; centres per unit area and cover as maps; both by longitude."""
    band = tuple(draws.attrs["band"])
    fig = plt.figure(figsize=(13, 6.2), constrained_layout=True)
    grid = fig.add_gridspec(2, 3)
    ax = fig.add_subplot(grid[:, 0])
    ax.hist(draws["centre_lat"].values, bins=bins, range=band, density=True, color="#9ecae1",
            label=f"{draws.attrs['n']:,} centres")
    phi = np.linspace(*band, 200)
    law = np.cos(np.deg2rad(phi)) * np.pi / 180 / (np.sin(np.deg2rad(band[1])) - np.sin(np.deg2rad(band[0])))
    ax.plot(phi, law, "k", lw=1.5, label="area law: cos(lat), normalised")
    ax.axhline(1 / (band[1] - band[0]), color="0.4", ls="--", lw=1, label="uniform in degrees")
    ax.set(xlabel="centre latitude (deg)", ylabel="density (per deg)",
           title=f"centre latitudes (KS D = {draws.attrs['ks_area']:.4f})")
    ax.legend(fontsize=8, loc="lower center")
    lon = draws["lon"].values
    for row, (name, label, cmap) in enumerate((
            ("centre_density", "centres per unit area (1 = area-uniform)", "RdBu_r"),
            ("cover", "share of draws holding the cell", "viridis"))):
        da = draws[name]
        mapped = fig.add_subplot(grid[row, 1])
        kwargs = {"vmin": 0.8, "vmax": 1.2} if name == "centre_density" else {}
        image = mapped.pcolormesh(lon, draws["lat"].values, da.values, cmap=cmap, shading="nearest", **kwargs)
        fig.colorbar(image, ax=mapped, shrink=0.85)
        mapped.set(title=label, xlabel="lon", ylabel="lat")
        profile = fig.add_subplot(grid[row, 2])
        by_lon = da.mean("lat", skipna=True)
        profile.plot(lon, by_lon.values / float(by_lon.mean()), ".-")
        profile.axvspan(lon[-1] - 180 / len(lon), 360, color="0.85")
        profile.axvspan(0, lon[0] + 180 / len(lon), color="0.85")
        profile.axhline(1.0, color="0.4", lw=0.8)
        profile.set(xlabel="lon (the 0 deg seam shaded)", ylabel="over its mean", title=f"{name} by longitude")
    fig.suptitle(f"neighbourhood sampler, {draws.attrs['n']:,} draws of {' x '.join(map(str, draws.attrs['size']))}"
                 " cells")
    return fig


__all__ = ["plot_sampler_draws", "sampler_draws"]
