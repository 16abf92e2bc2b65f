"""The command line: help, listing, errors and the demo's wiring."""

import pytest

from climax_nb import cli, storage
from climax_nb.data import embedded
from tests.conftest import make_canonical


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "data" in out and "demo" in out


def test_data_help_explains_each_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(["data", "--help"])
    out = capsys.readouterr().out
    for option in ("--source", "--days", "--cache", "--force", "--list"):
        assert option in out


def test_data_list_names_sources_and_variables(capsys):
    assert cli.main(["data", "--list"]) == 0
    out = capsys.readouterr().out
    assert "reanalysis:" in out and "variables: " in out and "z500" in out


def test_unknown_source_is_refused_with_the_choices():
    with pytest.raises(SystemExit, match="unknown source.*'nope'.*reanalysis"):
        cli.main(["data", "--source", "nope"])


def test_demo_writes_one_figure_per_source(tmp_path, monkeypatch, capsys):
    calls = []

    def fake_open(name, length=None, cache_dir=None):
        calls.append((name, length, storage.cache_root(cache_dir)))
        return make_canonical(ids=("t2m", "z500", "u250", "lsm"), steps=4)

    monkeypatch.setattr(embedded, "open_source", fake_open)
    out = tmp_path / "out"
    code = cli.main(["demo", "--source", "reanalysis", "--days", "3", "--cache", str(tmp_path), "--out", str(out),
                     "--data-only"])
    assert code == 0
    assert calls == [("reanalysis", 3, tmp_path)]  # --cache is the job's cache root
    assert storage.cache_root() != tmp_path  # for the job only
    assert (out / "summary_reanalysis.png").stat().st_size > 10_000
