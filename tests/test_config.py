"""Configs: YAML in, every field a command-line option, unknown keys refused."""

import argparse
from dataclasses import dataclass

import pytest

from climax_nb.config import (
    add_options,
    apply_options,
    differences,
    from_dict,
    load_yaml,
    option,
    parse_options,
    required,
    save_yaml,
    to_args,
    to_dict,
)


@dataclass(frozen=True)
class Inner:
    lr: float = option(1e-3, "learning rate")
    years: tuple[int, ...] = option((2000,), "training years")
    resume: str | None = option(None, "checkpoint to resume from")


@dataclass(frozen=True)
class Outer:
    name: str = option("run", "run name")
    steps: int = option(10, "optimizer steps")
    fast: bool = option(False, "fast mode")
    inner: Inner = option(Inner(), "inner section")


def test_from_dict_converts_types():
    cfg = from_dict(Outer, {"steps": "20", "fast": "true", "inner": {"years": [2001, 2002], "lr": 0.1}})
    assert cfg == Outer(steps=20, fast=True, inner=Inner(lr=0.1, years=(2001, 2002)))


def test_unknown_keys_are_refused_naming_known_ones():
    expected = r"unknown key\(s\) \['lrr'\] in config.inner; known: \['lr', 'resume', 'years'\]"
    with pytest.raises(ValueError, match=expected):
        from_dict(Outer, {"inner": {"lrr": 1}})


def test_bad_values_name_the_field():
    with pytest.raises(ValueError, match="config.steps must be int"):
        from_dict(Outer, {"steps": "many"})
    with pytest.raises(ValueError, match="config.fast must be true or false"):
        from_dict(Outer, {"fast": "maybe"})


def test_numbers_are_refused_rather_than_cast():
    assert from_dict(Outer, {"steps": 2.0, "inner": {"lr": "1e-3", "years": ["2001"]}}) == Outer(
        steps=2, inner=Inner(lr=1e-3, years=(2001,))
    )
    for data, expected in (
        ({"steps": 2.7}, r"config.steps must be int \(a whole number\), got 2.7"),
        ({"steps": True}, r"config.steps must be int"),
        ({"steps": [3]}, r"config.steps must be int"),
        ({"inner": {"years": [2000.5]}}, r"config.inner.years\[0\] must be int"),
        ({"inner": {"lr": "abc"}}, r"config.inner.lr must be float \(a number\), got 'abc'"),
    ):
        with pytest.raises(ValueError, match=expected):
            from_dict(Outer, data)


def test_differences_name_each_changed_key():
    old, new = Outer(), Outer(name="other", steps=3, inner=Inner(years=(2001, 2002)))
    assert differences(old, new, ignore=["name"]) == ["steps: 10 -> 3", "inner.years: [2000] -> [2001, 2002]"]
    assert differences(old, old) == []


def test_yaml_round_trip(tmp_path):
    cfg = Outer(steps=3, inner=Inner(years=(1999, 2000), resume="last"))
    save_yaml(cfg, tmp_path / "c.yaml")
    assert load_yaml(Outer, tmp_path / "c.yaml") == cfg
    assert to_dict(cfg)["inner"]["years"] == [1999, 2000]


def test_missing_yaml_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_yaml(Outer, tmp_path / "nope.yaml")


def test_command_line_options_override_and_explain(capsys):
    parser = argparse.ArgumentParser()
    add_options(parser, Outer)
    args = parser.parse_args(["--steps", "5", "--inner.years", "[2003, 2004]", "--inner.resume", "a.ckpt"])
    cfg = apply_options(Outer(name="kept"), args)
    assert cfg == Outer(name="kept", steps=5, inner=Inner(years=(2003, 2004), resume="a.ckpt"))
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    out = capsys.readouterr().out
    assert "--inner.lr" in out and "learning rate (default: 0.001" in out


def test_list_defaults_are_refused():
    with pytest.raises(TypeError, match="tuples"):
        option([1], "a list")


@dataclass(frozen=True)
class Command:
    path: str = required("input file")
    leads: tuple[float, ...] = option((6.0,), "lead times")
    batch_size: int = option(8, "batch size")
    show: bool = option(False, "show it")


def _parse(cls, argv):
    parser = argparse.ArgumentParser()
    add_options(parser, cls)
    return parser.parse_args(argv)


def test_one_option_system_takes_lists_aliases_and_flags():
    spaced = parse_options(Command, _parse(Command, ["--path", "a.nc", "--leads", "6", "24", "--batch-size", "2",
                                                     "--show"]))
    assert spaced == Command("a.nc", (6.0, 24.0), 2, True)
    yaml_list = parse_options(Command, _parse(Command, ["--path", "a.nc", "--leads", "[6, 24]", "--batch_size", "2",
                                                        "--show", "true"]))
    assert yaml_list == spaced
    repeated = parse_options(Command, _parse(Command, ["--path", "a.nc", "--leads", "6", "--leads", "24"]))
    assert repeated.leads == (6.0, 24.0) and repeated.show is False
    lists = parse_options(Command, _parse(Command, ["--path", "a.nc", "--leads", "[6]", "--leads", "[24, 48]"]))
    assert lists.leads == (6.0, 24.0, 48.0)
    assert parse_options(Command, _parse(Command, ["--path", "a.nc", "--show", "--no-show"])).show is False
    assert to_args(spaced) == ["--path", "a.nc", "--leads", "6.0", "24.0", "--batch_size", "2", "--show", "true"]
    assert parse_options(Command, _parse(Command, to_args(spaced))) == spaced
    nested = apply_options(Outer(), _parse(Outer, ["--inner.years", "2001", "2002", "--fast"]))
    assert nested.inner.years == (2001, 2002) and nested.fast is True


def test_required_options_are_named(capsys):
    with pytest.raises(SystemExit):
        _parse(Command, ["--leads", "6"])
    assert "the following arguments are required: --path" in capsys.readouterr().err
