"""The differentiable fair CRPS on tensors: exact against brute force and the xarray metric, with gradients."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from climax_nb import metrics
from climax_nb.grid import Grid
from climax_nb.train.loss import fair_crps


def brute_force(members: np.ndarray, target: np.ndarray, dim: int) -> float:
    """Mean over elements of mean_i |x_i - y| - 1/(2M(M-1)) sum_i sum_j |x_i - x_j|, by double loop."""
    x = np.moveaxis(members, dim, 0)
    m = x.shape[0]
    skill = sum(np.abs(x[i] - target) for i in range(m)) / m
    pairs = sum(np.abs(x[i] - x[j]) for i in range(m) for j in range(m))
    return float(np.mean(skill - pairs / (2 * m * (m - 1))))


@pytest.mark.parametrize(("shape", "dim"), [((5, 3, 4), 0), ((3, 7, 4), 1), ((2, 3, 6), -1), ((4, 2), 1)])
def test_matches_brute_force_over_member_pairs(shape, dim):
    rng = np.random.default_rng(1)
    members = rng.standard_normal(shape)
    target = rng.standard_normal(np.delete(np.array(shape), dim % len(shape)).tolist())
    got = fair_crps(torch.from_numpy(members), torch.from_numpy(target), dim)
    assert got.item() == pytest.approx(brute_force(members, target, dim), rel=1e-12, abs=1e-12)


def test_two_members_by_hand_and_ties():
    # members 0 and 2 around truth 1: skill 1, half mean pair distance 1/(2*2*1) * (2 + 2) = 1
    assert fair_crps(torch.tensor([[0.0], [2.0]]), torch.tensor([1.0]), 0).item() == pytest.approx(0.0)
    # identical members: the spread term vanishes and CRPS is the absolute error
    same = torch.full((4, 3), 2.0)
    assert fair_crps(same, torch.zeros(3), 0).item() == pytest.approx(2.0)


def test_matches_the_xarray_metric_with_area_weights():
    """metrics.crps area-weights over (lat, lon) and averages init times; the same weights here give the same number."""
    rng = np.random.default_rng(2)
    grid = Grid.weatherbench(5.625)
    lat, lon = grid.lat[::4], grid.lon[::8]  # 8 x 8 cells
    m, inits = 5, pd.date_range("2000-01-01", periods=3, freq="1D")
    members = rng.standard_normal((m, len(inits), len(lat), len(lon)))
    truth_vals = rng.standard_normal((len(inits), len(lat), len(lon)))
    lead = pd.to_timedelta([6], unit="h")
    fc = xr.Dataset(
        {"z500": (("member", "init_time", "lead_time", "lat", "lon"), members[:, :, None])},
        coords={"init_time": inits, "lead_time": lead, "lat": lat, "lon": lon},
    )
    fc = fc.assign_coords(valid_time=fc["init_time"] + fc["lead_time"])
    truth = xr.Dataset(
        {"z500": (("time", "lat", "lon"), truth_vals)}, coords={"time": inits + lead[0], "lat": lat, "lon": lon}
    )
    expected = float(metrics.crps(fc, truth)["z500"].item())
    weights = torch.from_numpy(metrics.lat_weights(lat).values)[:, None]  # [lat, 1] against [init, lat, lon]
    got = fair_crps(torch.from_numpy(members), torch.from_numpy(truth_vals), 0, weights=weights)
    assert got.item() == pytest.approx(expected, rel=1e-10)
    unweighted = fair_crps(torch.from_numpy(members), torch.from_numpy(truth_vals), 0)
    assert unweighted.item() != pytest.approx(expected, rel=1e-6)  # the weights matter here


def test_gradients_exact_in_float64():
    gen = torch.Generator().manual_seed(3)
    # members spaced apart so that no two are tied within gradcheck's perturbation
    base = torch.arange(6, dtype=torch.float64).reshape(6, 1, 1) * 0.5
    members = (base + 0.1 * torch.rand(6, 2, 3, generator=gen, dtype=torch.float64)).requires_grad_()
    target = (1.3 + 0.01 * torch.rand(2, 3, generator=gen, dtype=torch.float64)).requires_grad_()
    weights = torch.tensor([[0.5], [1.5]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x, y: fair_crps(x, y, 0), (members, target))
    assert torch.autograd.gradcheck(lambda x, y: fair_crps(x, y, 0, weights=weights), (members, target))


def test_spread_term_is_not_detached():
    """Members -1, 1 around truth 0: a detached spread would leave the gradient (-1/2, 1/2); here the terms cancel."""
    members = torch.tensor([[-1.0], [1.0]], requires_grad=True)
    fair_crps(members, torch.zeros(1), 0).backward()
    # d/dx of (|x1|+|x2|)/2 - |x1-x2|/2 at (-1, 1): (-1/2 + 1/2, 1/2 - 1/2) = 0
    assert torch.allclose(members.grad, torch.zeros(2, 1))


def test_weights_broadcast_and_weighted_mean():
    rng = np.random.default_rng(4)
    members = torch.from_numpy(rng.standard_normal((3, 2, 4, 5)))
    target = torch.from_numpy(rng.standard_normal((2, 4, 5)))
    per_lat = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)[:, None]
    full = per_lat.expand(2, 4, 5)
    assert fair_crps(members, target, 0, per_lat).item() == pytest.approx(fair_crps(members, target, 0, full).item())
    ones = torch.ones(1, dtype=torch.float64)
    assert fair_crps(members, target, 0, ones).item() == pytest.approx(fair_crps(members, target, 0).item())
    # a weight on one element only gives that element's score
    only = torch.zeros(2, 4, 5, dtype=torch.float64)
    only[1, 2, 3] = 5.0
    single = fair_crps(members[:, 1:2, 2:3, 3:4], target[1:2, 2:3, 3:4], 0)
    assert fair_crps(members, target, 0, only).item() == pytest.approx(single.item())


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="at least 2 members"):
        fair_crps(torch.zeros(1, 3), torch.zeros(3), 0)
    with pytest.raises(ValueError, match="without dim"):
        fair_crps(torch.zeros(4, 3), torch.zeros(4), 0)
    with pytest.raises(ValueError, match="out of range"):
        fair_crps(torch.zeros(4, 3), torch.zeros(3), 2)
    with pytest.raises(ValueError, match="do not broadcast"):
        fair_crps(torch.zeros(4, 3, 2), torch.zeros(3, 2), 0, weights=torch.ones(3))
