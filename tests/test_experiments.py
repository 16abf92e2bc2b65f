"""The experiments' shared machinery (paired statistics, fractions, keys, tables) and each script end to end.

The scripts run on a synthetic 40-day file in the reanalysis's layout, the tiny
preset and a few steps: they check the path (training, caching, scoring, tables,
``--from-results``), not the numbers.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from climax_nb import runs
from climax_nb.experiments import compare, tables, training
from tests.conftest import make_canonical
from tests.scripts import load_script, refuse_training

TINY = ["--set", "model.preset=tiny"]


def _script(name: str):
    return load_script(f"experiments/{name}.py")


def test_t_interval_of_known_numbers():
    mean, low, high = compare.t_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 / np.sqrt(3)  # t(0.975, 2) * sd 1 / sqrt(3)
    assert mean == 2.0 and low == pytest.approx(2 - half) and high == pytest.approx(2 + half)
    assert compare.t_interval([5.0])[0] == 5.0 and np.isnan(compare.t_interval([5.0])[1])
    _, low90, _ = compare.t_interval([1.0, 2.0, 3.0], level=0.90)
    assert low90 == pytest.approx(2 - 2.919985580355516 / np.sqrt(3))


def _arms() -> pd.DataFrame:
    # z500: scratch - pretrained = 1, 2, 0 over three seeds; t850: -1 in one seed only
    rows = [{"arm": arm, "seed": s, "variable": "z500", "lead_h": 24, "rmse": v, "persistence": 20.0,
             "climatology": 30.0} for arm, values in (("pretrained", (10, 12, 11)), ("scratch", (11, 14, 11)))
            for s, v in enumerate(values)]
    rows += [{"arm": "pretrained", "seed": 0, "variable": "t850", "lead_h": 24, "rmse": 2.0},
             {"arm": "scratch", "seed": 0, "variable": "t850", "lead_h": 24, "rmse": 1.0}]
    return pd.DataFrame(rows)


def test_paired_differences_of_known_numbers():
    paired = compare.paired_differences(_arms(), column="arm", reference="pretrained", other="scratch",
                                        by=["variable", "lead_h"]).set_index("variable")
    z = paired.loc["z500"]
    assert z["n"] == 3 and z["pretrained"] == 11 and z["scratch"] == 12 and z["diff"] == 1
    assert z["low"] == pytest.approx(1 - 4.302652729911275 / np.sqrt(3)) and z["reference_better"] == 2
    assert z["pct"] == pytest.approx(100 / 11) and compare.verdict(z) == "within seed noise"
    t = paired.loc["t850"]
    assert t["n"] == 1 and t["diff"] == -1 and np.isnan(t["low"]) and t["reference_better"] == 0
    with pytest.raises(ValueError, match="no rows with arm == 'nope'"):
        compare.paired_differences(_arms(), column="arm", reference="nope", other="scratch", by=["variable"])


def test_comparison_table_prints_difference_interval_and_seed_count():
    table = compare.comparison_table(_arms(), column="arm", reference="pretrained", others=["scratch"])
    z = table[table["variable"] == "z500"].iloc[0]
    assert z["scratch - pretrained"] == "+1 [-1.48, +3.48] (+9.1 %)" and z["seeds pretrained < scratch"] == "2/3"
    assert z["persistence"] == 20 and z["climatology"] == 30
    text = tables.markdown_table(table)
    assert text.splitlines()[0].startswith("| variable | lead_h | pretrained | scratch | scratch - pretrained |")


def test_a_fraction_is_spread_contiguous_windows():
    spans = training.fraction_windows(2924, 0.125, 8)  # 2000-2001 at 6 h: a window at the start of each quarter
    assert len(spans) == 8 and spans[0] == (0, 46) and spans[1] == (365, 411)
    assert sum(b - a for a, b in spans) == 368  # 1/8 of 2924 time steps, to a step per window
    assert training.fraction_windows(100, 1.0, 8) == [(0, 100)]
    assert training.fraction_windows(100, 0.5, 1) == [(0, 50)]
    with pytest.raises(ValueError, match=r"in \(0, 1\]"):
        training.fraction_windows(100, 0.0, 1)
    with pytest.raises(ValueError, match="empty windows"):
        training.fraction_windows(10, 0.1, 8)


def test_thinning_keeps_the_other_years_and_refuses_windows_shorter_than_a_lead():
    ds = make_canonical(ids=("z500",), steps=4 * 60, start="2000-11-02")  # 60 days: 2000 then 2001
    in_2000 = int((ds.time.dt.year == 2000).sum())
    thin = training.thin_training_times(ds, 0.5, 2, years=(2000,), leads=(6, 24))
    assert int((thin.time.dt.year == 2000).sum()) == in_2000 // 2
    assert int((thin.time.dt.year == 2001).sum()) == int((ds.time.dt.year == 2001).sum())  # not a training year
    assert training.thin_training_times(ds, 1.0, 8) is ds
    with pytest.raises(ValueError, match="no longer than the longest lead"):
        training.thin_training_times(ds, 0.125, 8, years=(2000,), leads=(168,))


def test_keys_follow_what_shapes_the_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIMAX_NB_CACHE", str(tmp_path))
    data = training.Reanalysis()
    base = training.finetune_config(data, steps=300)
    assert base.trainer.max_steps == 300 and base.optim.warmup_steps == 10 and base.data.val_years == ()
    assert base.data.train_years == (2000, 2001) and not base.trainer.progress
    half = training.finetune_config(data, steps=300, fraction=0.5)
    assert isinstance(half.data, training.ExperimentData) and half.data.fraction == 0.5 and half.data.windows == 8
    assert base.data.fraction == 1 and base.data.leads == (6, 24, 72, 120, 168)
    init = tmp_path / "model.pt"
    init.write_bytes(b"weights")
    keys = {training.run_key(c) for c in (base, half, training.finetune_config(data, steps=300, seed=1),
                                          training.finetune_config(data, steps=301),
                                          training.finetune_config(data, steps=300, init=init),
                                          training.finetune_config(data, steps=300, overrides={"model.embed_dim": 64}))}
    assert len(keys) == 6
    assert training.run_key(training.finetune_config(data, steps=300)) == training.run_key(base)
    moved = tmp_path / "elsewhere.pt"
    moved.write_bytes(b"weights")  # the same weights elsewhere: the same run
    assert training.run_key(training.finetune_config(data, steps=300, init=moved)) == training.run_key(
        training.finetune_config(data, steps=300, init=init))
    with pytest.raises(KeyError, match="model.width"):
        training.finetune_config(data, steps=3, overrides={"model.width": 64})


def test_the_main_jobs_pretraining_is_the_main_jobs_run(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIMAX_NB_CACHE", str(tmp_path))
    asked = []
    monkeypatch.setattr(runs, "trained", lambda stage, setting: asked.append((stage, setting)) or Path("main.pt"))
    assert training.trained("pretrain", training.pretrain_config(steps=300)) == Path("main.pt")
    assert asked == [("pretrain", runs.Setting())]
    assert training.main_job_run(training.pretrain_config(steps=100)) is None
    assert training.main_job_run(training.pretrain_config(steps=300, overrides={"model.embed_dim": 64})) is None


def test_tables_keep_their_command_and_say_how_to_make_a_missing_one(tmp_path, capsys):
    frame = pd.DataFrame({"seed": [0, 1], "rmse": [1.5, np.nan]})
    path = tables.write_table(frame, tmp_path / "x.csv", command="python experiments/x.py --seeds 0 1", seconds=12)
    back, header = tables.read_table(path)
    pd.testing.assert_frame_equal(back, frame)
    assert header["command"] == "python experiments/x.py --seeds 0 1" and header["seconds"] == "12"
    assert tables.markdown_table(back).splitlines()[-1] == "| 1 |  |"
    assert tables.results("scaling", tmp_path) is None
    assert "python experiments/scaling.py --seeds 0" in capsys.readouterr().out
    assert tables.results("x", tmp_path)[1]["command"].endswith("--seeds 0 1")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A 40-day file in the reanalysis's layout, a cache of its own, and a tiny 'pretrained' model trained on it."""
    folder = tmp_path_factory.mktemp("experiments")
    path = folder / "reanalysis.zarr"
    make_canonical(ids=("z500", "t850", "t2m", "u10", "v10", "lsm"), steps=4 * 40).to_zarr(path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLIMAX_NB_CACHE", str(folder / "cache"))
        data = training.Reanalysis(source=str(path), in_sample=True)
        pretrained = training.trained("pretrained", training.finetune_config(
            data, steps=2, overrides={"model.preset": "tiny"}))
        yield {"data": ["--data", str(path), "--in-sample"], "pretrained": str(pretrained), "folder": folder}


def test_data_fraction_end_to_end(synthetic, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLIMAX_NB_CACHE", str(synthetic["folder"] / "cache"))
    script = _script("data_fraction")
    base = [*synthetic["data"], *TINY, "--steps", "2", "--seeds", "0", "--fractions", "0.5", "1", "--windows", "2",
            "--pretrained", synthetic["pretrained"]]
    argv = [*base, "--out", str(tmp_path)]
    frame = script.main(argv)
    assert len(frame) == 2 * 2 * 4 * 3  # fractions x arms x variables x leads
    assert set(frame["arm"]) == {"pretrained", "scratch"} and set(frame["lead_h"]) == {24, 72, 120}
    pairs = frame.groupby("fraction")["pairs"].first()
    assert pairs[1.0] == 160 - 28 and pairs[0.5] == 2 * (40 - 28)  # 7-day leads: 28 steps lost per window
    out = capsys.readouterr().out
    assert "scratch - pretrained" in out and "- 1/2: pretraining lowered the mean RMSE in" in out
    _, header = tables.read_table(tmp_path / "data_fraction.csv")
    assert header["command"].startswith("python experiments/data_fraction.py --data")
    refuse_training(monkeypatch)
    again = script.main([*argv, "--from-results"])
    pd.testing.assert_frame_equal(again, frame, check_dtype=False)
    assert (tmp_path / "data_fraction.md").read_text().count("| z500 |") == 6
    rerun = script.main([*base, "--out", str(tmp_path / "rerun")])  # runs and scores from the cache
    pd.testing.assert_frame_equal(rerun, frame)


def test_ablations_end_to_end(synthetic, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLIMAX_NB_CACHE", str(synthetic["folder"] / "cache"))
    argv = [*synthetic["data"], *TINY, "--steps", "2", "--seeds", "0", "--leads", "24", "72",
            "--pretrained", synthetic["pretrained"], "--out", str(tmp_path)]
    frame = _script("ablations").main(argv)
    variants = frame.groupby("comparison")["variant"].unique()
    assert list(variants["outputs"]) == ["all-vars", "four-targets"]
    assert list(variants["leads"]) == ["continuous", "direct", "iterative"]
    assert set(frame["lead_h"]) == {24, 72} and len(frame) == 5 * 4 * 2
    same = frame.set_index(["variant", "variable", "lead_h"])["rmse"]
    assert same["all-vars"].equals(same["continuous"])  # one model in both comparisons
    out = capsys.readouterr().out
    assert "(a) what the model predicts" in out and "iterative - continuous" in out
    assert len(list((synthetic["folder"] / "cache" / "experiments" / "runs").glob("ablation-direct-*"))) == 2


def test_scaling_end_to_end(synthetic, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLIMAX_NB_CACHE", str(synthetic["folder"] / "cache"))
    zarr = synthetic["data"][1]
    argv = [*synthetic["data"], *TINY, "--steps", "2", "--seeds", "0", "--dims", "16", "32",
            "--pretrain-steps", "0", "2", "--pretrain-data", zarr, "--out", str(tmp_path)]
    frame = _script("scaling").main(argv)
    assert len(frame) == 2 * 2 * 4 * 3
    params = frame.groupby("dim")["params"].first()
    assert params[16] < params[32]
    assert frame.loc[frame["pretrain_steps"] == 0, "pretrain_s"].eq(0).all()
    out = capsys.readouterr().out
    assert "RMSE at 72 h" in out and "2 - 0" in out
    refuse_training(monkeypatch)
    _script("scaling").main([*argv, "--from-results"])


def _table(keys: dict[str, list], seeds=(0, 1, 2), variables=("z500", "t850"), leads=(24, 72, 120)) -> pd.DataFrame:
    """A results table of made-up numbers with every combination of ``keys``, seeds, variables and leads."""
    rng = np.random.default_rng(0)
    index = pd.MultiIndex.from_product([*keys.values(), seeds, variables, leads],
                                       names=[*keys, "seed", "variable", "lead_h"])
    frame = index.to_frame(index=False)
    return frame.assign(rmse=1 + rng.random(len(frame)), persistence=1.5, climatology=1.2, pairs=100, params=10,
                        train_s=60.0, pretrain_s=0.0)


def test_reports_and_figures_of_each_table():
    import matplotlib

    matplotlib.use("Agg")
    from climax_nb.experiments import reports
    from climax_nb.viz import plot_ablations, plot_data_fraction, plot_scaling

    fraction = _table({"fraction": [0.125, 0.25, 1.0], "arm": ["pretrained", "scratch"]})
    text = reports.data_fraction(fraction)
    assert ("| fraction | variable | lead_h | pretrained | scratch | scratch - pretrained | seeds pretrained < scratch "
            "| persistence | climatology |") in text
    assert text.splitlines()[5].startswith("| 1/8 | z500 | 24 |")  # the scored order, fractions as fractions
    assert text.count("- 1/8: pretraining lowered the mean RMSE in") == 1 and "- all:" in text
    assert len(plot_data_fraction(fraction).axes) == 3 * 2
    assert len(plot_data_fraction(fraction, kind="difference", leads=[72]).axes) == 2
    ablation = pd.concat([_table({"comparison": ["outputs"], "variant": ["all-vars", "four-targets"]}, seeds=(0, 1)),
                          _table({"comparison": ["leads"], "variant": ["continuous", "direct", "iterative"]},
                                 seeds=(0, 1))])
    text = reports.ablations(ablation)
    assert "four-targets - all-vars" in text and "direct - continuous" in text and "iterative - continuous" in text
    assert len(plot_ablations(ablation).axes) == 2 * 3
    scale = _table({"dim": [64, 128], "pretrain_steps": [0, 100, 300]}, seeds=(0,))
    text = reports.scaling(scale)
    assert "RMSE at 72 h" in text and "100 - 0" in text and "300 - 0" in text
    assert len(plot_scaling(scale).axes) == 2
    with pytest.raises(ValueError, match="no rows at 6 h"):
        plot_scaling(scale, lead=6)


def test_embedded_sources_open_once_without_rereading_their_values(monkeypatch):
    from climax_nb.data import embedded
    from climax_nb.train.run import DataSection

    ds = make_canonical(ids=("z500",), steps=4 * 20)
    calls = []
    monkeypatch.setattr(embedded, "open_source", lambda name, length=None: calls.append((name, length)) or ds)
    section = DataSection(sources=("embedded/reanalysis",), days=20, leads=(6.0, 24.0))
    half = training.experiment_data(section, fraction=0.5, windows=1, in_memory=True)
    assert half.open()["reanalysis"].sizes["time"] == 40 and calls == [("reanalysis", 20)]
    assert half.open()["reanalysis"].sizes["time"] == 40 and len(calls) == 1  # in memory: read once
    assert training.experiment_data(section).open()["reanalysis"].sizes["time"] == 80 and len(calls) == 2
    cfg = training.finetune_config(training.Reanalysis(days=20), steps=3)
    lazy = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, in_memory=False))
    assert cfg.data.in_memory and training.run_key(lazy) == training.run_key(cfg)  # where data are read: no new run
