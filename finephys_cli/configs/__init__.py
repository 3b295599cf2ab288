"""Dataclass configs: TOML in and out, `--set key=value` overrides, a canonical hash."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import tomllib
import typing
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConfigError

C = TypeVar("C")


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def config_hash(cfg: Any) -> str:
    """A short sha256 of the canonical JSON of a config (sorted keys, no whitespace)."""
    data = to_dict(cfg) if dataclasses.is_dataclass(cfg) else cfg
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def keyed_fields(cfg: Any, added_later: dict[str, Any]) -> dict[str, Any]:
    """The config's fields for its hash, less each field of `added_later` while it holds the
    value given there (the behaviour before the field existed), so outputs made before it was
    added stay up to date."""
    return {k: v for k, v in to_dict(cfg).items()
            if not (k in added_later and v == added_later[k])}


def _parse_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        # TOML has no null: `--set key=none` unsets an optional key.
        unset = value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
        if unset and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key) if inner else value
    try:
        if annotation is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if annotation is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if annotation is bool and isinstance(value, bool):
            return value
        if annotation is str:
            return str(value)
        if origin in (tuple, list) and isinstance(value, (list, tuple)):
            elem = args[0] if args else Any
            items = [_coerce(v, elem, key) if elem is not Any and elem is not Ellipsis else v
                     for v in value]
            return tuple(items) if origin is tuple else items
        if annotation in (Any, typing.Any):
            return value
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config key {key!r}: cannot use {value!r} ({exc})") from exc
    if isinstance(annotation, type) and isinstance(value, annotation):
        return value
    raise ConfigError(f"config key {key!r}: expected {getattr(annotation, '__name__', annotation)}, "
                      f"got {value!r}")


def _set_path(data: dict, cls: type, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node, node_cls = data, cls
    for i, part in enumerate(parts):
        fields = {f.name: f for f in dataclasses.fields(node_cls)}
        if part not in fields:
            hint = difflib.get_close_matches(part, list(fields), n=3)
            suggestion = f"; did you mean {', '.join(hint)}?" if hint else ""
            known = "" if hint else f" (known: {', '.join(sorted(fields))})"
            raise ConfigError(f"unknown config key {'.'.join(parts[:i + 1])!r}{suggestion}{known}")
        hints = typing.get_type_hints(node_cls)
        ann = hints[part]
        if i == len(parts) - 1:
            if dataclasses.is_dataclass(ann):
                if not isinstance(value, dict):
                    raise ConfigError(f"config key {dotted!r} is a table")
                for k, v in value.items():
                    _set_path(node[part], ann, k, v)
            else:
                node[part] = _coerce(value, ann, dotted)
        else:
            if not dataclasses.is_dataclass(ann):
                raise ConfigError(f"config key {'.'.join(parts[:i + 1])!r} is not a table")
            node, node_cls = node[part], ann


def _build(cls: type[C], data: dict) -> C:
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        v = data[f.name]
        kwargs[f.name] = _build(hints[f.name], v) if dataclasses.is_dataclass(hints[f.name]) else v
    return cls(**kwargs)


def load_config(cls: type[C], path: Path | None = None, overrides: list[str] | None = None,
                **values: Any) -> C:
    """Defaults, then the TOML file, then keyword values, then `key=value` overrides. A keyword
    value that is only a command-line option's default does not override the file."""
    data = to_dict(cls())
    file_data: dict = {}
    if path is not None:
        try:
            file_data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: config file not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML ({exc})") from exc
        for k, v in file_data.items():
            _set_path(data, cls, k, v)
    for k, v in values.items():
        if v is not None and not (k in file_data and _option_default(k)):
            _set_path(data, cls, k, v)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        k, raw = item.split("=", 1)
        _set_path(data, cls, k.strip(), _parse_value(raw.strip()))
    return _build(cls, data)


def _option_default(name: str) -> bool:
    """Whether the running command's parameter `name` holds its default, not a value the user
    gave (False outside a command, or for a name that is not one of its parameters)."""
    ctx = None
    try:   # typer >= 0.2x runs commands on its own copy of click, with its own context stack
        from typer._click.globals import get_current_context

        ctx = get_current_context(silent=True)
    except ImportError:
        pass
    if ctx is None:
        import click

        ctx = click.get_current_context(silent=True)
    source = ctx.get_parameter_source(name) if ctx is not None else None
    return getattr(source, "name", None) in ("DEFAULT", "DEFAULT_MAP")


def dump_toml(cfg: Any) -> str:
    """Write a config as TOML (flat keys and [tables]); None values are omitted."""

    def fmt(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(fmt(x) for x in v) + "]"
        return json.dumps(str(v))

    def emit(d: dict, prefix: str) -> list[str]:
        lines, tables = [], []
        for k, v in d.items():
            if isinstance(v, dict):
                tables.append((k, v))
            elif v is not None:
                lines.append(f"{k} = {fmt(v)}")
        for k, v in tables:
            name = f"{prefix}.{k}" if prefix else k
            lines += ["", f"[{name}]"] + emit(v, name)
        return lines

    return "\n".join(emit(to_dict(cfg), "")) + "\n"
