"""Frozen dataclass configs that read YAML and take every field as a command-line option.

Every ``climax-nb`` subcommand is described by a frozen dataclass (a run by nested
ones). ``from_dict`` builds one from YAML (unknown keys are refused, naming the
known ones), ``add_options`` turns every leaf field into ``--section.field`` (top
level fields also as ``--field-name``) with the field's ``help`` metadata; tuples
take several values (``--leads 6 24`` or ``--leads '[6, 24]'``, repeated options
add up), booleans may stand alone (``--force``). ``apply_options`` lays the
command-line values over a config, ``parse_options`` builds one from them alone,
``to_args`` writes a config back as arguments and ``differences`` names what two
configs do not share.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


def option(default: Any, help: str) -> Any:  # noqa: A002 - mirrors argparse
    """A dataclass field with a default and the help text shown by ``--help``."""
    if isinstance(default, list | dict | set):
        raise TypeError("use tuples for sequence defaults so configs stay immutable")
    return dataclasses.field(default=default, metadata={"help": help})


def required(help: str) -> Any:  # noqa: A002 - mirrors argparse
    """A dataclass field without a default: a required option on the command line."""
    return dataclasses.field(metadata={"help": help})


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_config(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Coerce YAML/CLI values (lists, strings) into the annotated type."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if value is None:
        if origin in (typing.Union, types.UnionType) and type(None) in args:
            return None
        raise ValueError(f"{where} cannot be empty")
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], where)
    if _is_config(tp):
        return from_dict(tp, value, where)
    if origin is tuple:
        items = value if isinstance(value, list | tuple) else [value]
        item_type = args[0] if args else Any
        return tuple(_convert(v, item_type, f"{where}[{i}]") for i, v in enumerate(items))
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ValueError(f"{where} must be a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(f"{where} must be true or false, got {value!r}")
            return value.lower() in ("true", "1", "yes")
        return bool(value)
    if tp in (int, float):
        return _number(value, tp, where)
    if tp is str:
        return str(value)  # a YAML list too: trainer.devices takes '[0, 1]'
    return value


def _number(value: Any, tp: type, where: str) -> int | float:
    """An int or float option: a fraction for an integer is refused, not truncated (2.7 steps is not 2)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return tp(value)
    number = None
    if isinstance(value, float | str):
        try:
            number = float(value)
        except ValueError:
            pass
    if number is None or (tp is int and not number.is_integer()):
        kind = "int (a whole number)" if tp is int else "float (a number)"
        raise ValueError(f"{where} must be {kind}, got {value!r}")
    return tp(number)


def from_dict(cls: type[T], data: Mapping[str, Any] | None, where: str = "config") -> T:
    """Build dataclass ``cls`` from a nested mapping, refusing unknown keys."""
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where}; known: {sorted(fields)}")
    hints = _hints(cls)
    kwargs = {name: _convert(value, hints[name], f"{where}.{name}") for name, value in data.items()}
    return cls(**kwargs)


def to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dict (tuples as lists) for YAML and checkpoints."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(config)


def load_yaml(cls: type[T], path: str | Path) -> T:
    """Read ``path`` into ``cls``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ValueError(f"{path} is not valid YAML{where}: {problem}; fix the file (YAML: 'key: value', "
                         "two-space indents)") from None
    if data is not None and not isinstance(data, Mapping):
        raise ValueError(f"{path} must hold sections such as 'model:' and 'data:', not a {type(data).__name__}")
    return from_dict(cls, data or {}, str(path))


def save_yaml(config: Any, path: str | Path) -> None:
    """Write a config so the run can be repeated with ``--config``."""
    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False))


def _leaves(cls: type, prefix: str = "") -> list[tuple[str, dataclasses.Field, Any]]:
    hints = _hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if _is_config(tp):
            out += _leaves(tp, f"{prefix}{f.name}.")
        else:
            out.append((f"{prefix}{f.name}", f, tp))
    return out


def _is_tuple(tp: Any) -> bool:
    inner = [a for a in typing.get_args(tp) if a is not type(None)]
    return typing.get_origin(tp) is tuple or any(typing.get_origin(a) is tuple for a in inner)


def _is_bool(tp: Any) -> bool:
    return tp is bool or (typing.get_origin(tp) in (typing.Union, types.UnionType) and bool in typing.get_args(tp))


def add_options(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add ``--a.b`` for every leaf field of ``cls``; values are parsed as YAML scalars or lists."""
    for dotted, f, tp in _leaves(cls):
        default = f.default if f.default is not dataclasses.MISSING else "required"
        kind = getattr(tp, "__name__", str(tp)).replace("typing.", "")
        names = [f"--{dotted}"]
        if "." not in dotted and "_" in dotted:
            names.append(f"--{dotted.replace('_', '-')}")
        extra: dict[str, Any] = {}
        if _is_tuple(tp):
            extra = {"nargs": "+", "action": "extend"}
        elif _is_bool(tp):
            extra = {"nargs": "?", "const": "true"}
        parser.add_argument(
            *names,
            dest=f"opt:{dotted}",
            default=argparse.SUPPRESS,
            required=f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            metavar=kind.upper() if kind in ("int", "float", "str", "bool") else "VALUE",
            help=f"{f.metadata.get('help', '')} (default: {default}; lists as 'a b' or '[a, b]')",
            **extra,
        )
        if _is_bool(tp):  # --no-show as well as --show false
            parser.add_argument(*[f"--no-{n.removeprefix('--')}" for n in names], dest=f"opt:{dotted}",
                                action="store_const", const="false", default=argparse.SUPPRESS,
                                help=argparse.SUPPRESS)


def _value(raw: Any) -> Any:
    """A command-line value as YAML: one string, or the strings of a many-valued option.

    The strings of a many-valued option add up whether each is one value or a YAML list,
    so ``--leads [6] --leads [12]`` is ``[6, 12]`` as ``--leads 6 --leads 12`` is.
    """
    if isinstance(raw, list):
        if len(raw) == 1:
            return yaml.safe_load(raw[0])
        values = [yaml.safe_load(v) for v in raw]
        return [item for v in values for item in (v if isinstance(v, list) else [v])]
    return yaml.safe_load(raw)


def _overlay(data: dict[str, Any], args: argparse.Namespace, cls: type) -> dict[str, Any]:
    known = {dotted for dotted, _, _ in _leaves(cls)}
    for key, raw in vars(args).items():
        if not key.startswith("opt:") or key.removeprefix("opt:") not in known:
            continue  # another config's option on the same command line
        *parents, leaf = key.removeprefix("opt:").split(".")
        node = data
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = _value(raw)
    return data


def apply_options(config: T, args: argparse.Namespace) -> T:
    """``config`` with every ``--a.b`` given on the command line laid over it."""
    return from_dict(type(config), _overlay(to_dict(config), args, type(config)))


def parse_options(cls: type[T], args: argparse.Namespace) -> T:
    """A ``cls`` from the command-line options alone (defaults for the rest)."""
    return from_dict(cls, _overlay({}, args, cls), "the command line")


def _leaf_values(config: Any) -> list[tuple[str, dataclasses.Field, Any]]:
    """Each leaf field of ``config`` as (dotted name, field, value)."""
    out = []
    for dotted, f, _ in _leaves(type(config)):
        value: Any = config
        for part in dotted.split("."):
            value = getattr(value, part)
        out.append((dotted, f, value))
    return out


def _flow(value: Any) -> str:
    """One value as YAML on one line (``6.0``, ``[6.0, 12.0]``, ``null``)."""
    return yaml.safe_dump(to_dict(value), default_flow_style=True).strip().removesuffix("...").strip()


def to_args(config: Any) -> list[str]:
    """The leaf fields of ``config`` that differ from their defaults, as command-line arguments."""
    out: list[str] = []
    for dotted, f, value in _leaf_values(config):
        if f.default is not dataclasses.MISSING and value == f.default:
            continue
        out += [f"--{dotted}", *(map(_flow, value) if isinstance(value, tuple | list) else [_flow(value)])]
    return out


def differences(old: T, new: T, ignore: Iterable[str] = ()) -> list[str]:
    """``key: old -> new`` for each leaf field two configs of one class do not share, but those in ``ignore``."""
    skip = set(ignore)
    before = {dotted: value for dotted, _, value in _leaf_values(old)}
    return [
        f"{dotted}: {_flow(before[dotted])} -> {_flow(value)}"
        for dotted, _, value in _leaf_values(new)
        if dotted not in skip and value != before[dotted]
    ]
