"""Forecast pairs are found by timestamps: never across a gap, history and leads checked."""

import numpy as np
import pandas as pd
import pytest

from climax_nb.data.pipeline import build_pairs, data_interval
from tests.pipeline_data import gapped_times

H = np.timedelta64(1, "h")


def test_pairs_never_span_a_gap():
    times = gapped_times()  # 12 steps in 2000, 12 in 2002
    pairs = build_pairs(times.values, 6)
    assert len(pairs) == 22  # index arithmetic would give 23, pairing 2000-12-31T18 with 2002-01-01T00
    t = pairs.times
    assert np.all(t[pairs.targets[:, 0]] - t[pairs.init_positions] == 6 * H)
    assert pairs.interval_hours == 6.0


def test_several_leads_keep_only_inits_where_every_lead_exists():
    times = gapped_times()
    pairs = build_pairs(times.values, range(6, 25, 6))
    assert pairs.leads.tolist() == [6, 12, 18, 24]
    assert len(pairs) == 2 * (12 - 4)
    t = pairs.times
    for j, lead in enumerate(pairs.leads):
        assert np.all(t[pairs.targets[:, j]] - t[pairs.init_positions] == lead * H)


def test_history_steps_are_present_and_oldest_first():
    times = pd.date_range("2001-01-01", periods=20, freq="6h").delete([10])  # one missing step
    pairs = build_pairs(times.values, 6, history=2, history_step=12)
    t = pairs.times
    assert pairs.inputs.shape[1] == 3
    assert np.all(t[pairs.inputs[:, 1]] - t[pairs.inputs[:, 0]] == 12 * H)
    assert np.all(t[pairs.inputs[:, 2]] - t[pairs.inputs[:, 1]] == 12 * H)
    missing = np.datetime64(pd.Timestamp("2001-01-03T12"), "ns")
    used = t[np.concatenate([pairs.inputs.ravel(), pairs.targets.ravel()])]
    assert missing not in used
    assert len(pairs) == 11  # 15 inits with 24 h of history and a 6 h target, less 4 touching the hole


def test_hourly_data_with_climax_pretraining_leads():
    times = pd.date_range("2001-01-01", periods=200, freq="1h")
    pairs = build_pairs(times.values, range(6, 169))
    assert len(pairs.leads) == 163 and len(pairs) == 200 - 168


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"leads": 9}, r"lead time 9 h is not a positive multiple of the data interval \(6 h\)"),
        ({"leads": [6, 0]}, "lead time 0 h"),
        ({"leads": 6, "history": 1, "history_step": 3}, "history step 3 h"),
        ({"leads": 6, "history": -1}, "history must be >= 0"),
        ({"leads": []}, "leads must not be empty"),
    ],
)
def test_bad_leads_and_history_are_explained(kwargs, message):
    times = pd.date_range("2001-01-01", periods=10, freq="6h").values
    with pytest.raises(ValueError, match=message):
        build_pairs(times, **kwargs)


def test_data_interval_needs_sorted_regular_steps():
    times = pd.date_range("2001-01-01", periods=10, freq="6h").values
    assert data_interval(times) == 6 * H
    assert data_interval(np.delete(times, [3, 4])) == 6 * H
    with pytest.raises(ValueError, match="strictly increasing"):
        data_interval(times[::-1])
    with pytest.raises(ValueError, match="whole multiples"):
        data_interval(np.append(times, times[-1] + np.timedelta64(9, "h")))
    with pytest.raises(ValueError, match="at least two"):
        data_interval(times[:1])
