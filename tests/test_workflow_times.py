"""Step timing of the main job: every step recorded, training summed against the budget."""

from __future__ import annotations

import time

import pytest

from climax_nb.workflow import StepTimes


def test_step_times_record_each_step_even_when_it_fails():
    times = StepTimes()
    with times.step("data"):
        time.sleep(0.01)
    with pytest.raises(RuntimeError), times.step("pretraining"):
        raise RuntimeError("stopped")
    assert list(times.seconds) == ["data", "pretraining"]
    assert times.seconds["data"] >= 0.01


def test_table_sums_pretraining_and_fine_tuning_only():
    times = StepTimes({"data": 600.0, "pretraining": 480.0, "fine-tuning": 240.0, "forecast and scores": 60.0})
    table = times.table()
    assert "| data | 10.0 min (600 s) |" in table
    assert table.splitlines()[-1] == "| pretraining + fine-tuning | 12.0 min (720 s) |"
