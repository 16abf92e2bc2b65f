"""Frozen dataclass configs that read YAML and take every field as a command-line option.

A run is described by nested frozen dataclasses. ``from_dict`` builds one from
YAML (unknown keys are refused, naming the known ones), ``add_options`` turns
every leaf field into ``--section.field`` with the field's ``help`` metadata,
and ``apply_options`` lays the command-line values over the YAML ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


def option(default: Any, help: str) -> Any:  # noqa: A002 - mirrors argparse
    """A dataclass field with a default and the help text shown by ``--help``."""
    if isinstance(default, list | dict | set):
        raise TypeError("use tuples for sequence defaults so configs stay immutable")
    return dataclasses.field(default=default, metadata={"help": help})


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
    if tp in (int, float, str):
        try:
            return tp(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where} must be {tp.__name__}, got {value!r}") from None
    return value


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
    return from_dict(cls, yaml.safe_load(path.read_text()) or {}, str(path))


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


def add_options(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add ``--a.b`` for every leaf field of ``cls``; values are parsed as YAML scalars or lists."""
    for dotted, f, tp in _leaves(cls):
        default = f.default if f.default is not dataclasses.MISSING else "required"
        kind = getattr(tp, "__name__", str(tp)).replace("typing.", "")
        parser.add_argument(
            f"--{dotted}",
            dest=f"opt:{dotted}",
            default=argparse.SUPPRESS,
            metavar=kind.upper() if kind in ("int", "float", "str", "bool") else "VALUE",
            help=f"{f.metadata.get('help', '')} (default: {default}; lists as '[a, b]')",
        )


def apply_options(config: T, args: argparse.Namespace) -> T:
    """``config`` with every ``--a.b`` given on the command line laid over it."""
    data = to_dict(config)
    for key, raw in vars(args).items():
        if not key.startswith("opt:"):
            continue
        *parents, leaf = key.removeprefix("opt:").split(".")
        node = data
        for p in parents:
            node = node[p]
        node[leaf] = yaml.safe_load(raw)
    return from_dict(type(config), data)
