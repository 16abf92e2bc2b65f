"""Library-side user errors named in docs/errors.md: each says what is wrong and how to fix it."""

from __future__ import annotations

import os

import pytest

from climax_nb.forecast.leads import LeadTimeError, to_hours
from climax_nb.model import parse_region
from climax_nb.model.safe_load import safe_load


def test_random_bytes_are_not_a_checkpoint(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(ValueError, match=r"noise.pt is not a readable checkpoint: not a torch zip file, or a trunc"):
        safe_load(path)


def test_a_lead_that_is_not_a_duration_is_named():
    with pytest.raises(LeadTimeError, match="'garbage' is not a lead time: give hours"):
        to_hours("garbage")
    assert to_hours("10D") == 240.0


def test_a_region_that_is_neither_a_name_nor_a_box_is_named():
    with pytest.raises(ValueError, match=r"region 'Atlantis' is neither one of \[.*NorthAmerica.*\] nor"):
        parse_region("Atlantis")
    box = parse_region("30,60,350,40")
    assert box.lat_range == (30.0, 60.0) and box.lon_range == (350.0, 40.0)
