"""Typed dataclass configs: dict round trips, ``key=value`` overrides, YAML files.

Every config is a plain ``@dataclass`` whose fields carry type hints. This module only
knows how to move values in and out of such dataclasses, checking each against its hint:

- :func:`to_dict` / :func:`from_dict`: nested dataclass <-> plain dict (YAML-safe).
- :func:`apply_overrides`: ``["model.channels=64", "train.lr=1e-3"]`` -> a new config,
  each value parsed by its field's type; an unknown key fails and names the nearest one.
- :func:`save_yaml` / :func:`load_yaml`: atomic write, safe load.

Sections whose concrete dataclass depends on a tag (``model.arch``, ``data.name``, ...)
are resolved by the caller (see ``genlab.experiment``), which passes a
``resolve`` callback to :func:`from_dict`.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import os
import tempfile
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from genlab.errors import ConfigError

Resolver = Callable[[str, dict], type]  # (dotted section path, raw dict) -> dataclass


def to_dict(cfg: Any) -> Any:
    """A dataclass (nested) as plain dicts, lists and scalars, in field order."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        hints = _hints(type(cfg))
        out = {}
        for f in dataclasses.fields(cfg):
            v = to_dict(getattr(cfg, f.name))
            # An int given for a float field is written as a float, so dumps round-trip.
            if hints.get(f.name) is float and type(v) is int:
                v = float(v)
            out[f.name] = v
        return out
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {k: to_dict(v) for k, v in cfg.items()}
    return cfg


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_section(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def from_dict(cls: type, raw: dict, key: str = "", resolve: Resolver | None = None) -> Any:
    """Build dataclass ``cls`` from ``raw``, checking every value against its type hint.

    Args:
        cls: the dataclass to build.
        raw: a mapping of field names to values (as written by :func:`to_dict`).
        key: the dotted path of this section, used in error messages.
        resolve: called for fields annotated ``Any`` that hold a dict; returns the
            dataclass to build for that section (tagged sections).
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{key or 'config'}: expected a mapping, got {type(raw).__name__}")
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for k in raw:
        if k not in names:
            raise ConfigError(
                _unknown(f"{key}.{k}" if key else k, [f"{key}.{n}" if key else n for n in names])
            )
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in raw:
            continue
        sub = f"{key}.{f.name}" if key else f.name
        hint, value = hints[f.name], raw[f.name]
        if _is_section(hint):
            kwargs[f.name] = from_dict(hint, value, sub, resolve)
        elif hint is Any and isinstance(value, dict) and resolve is not None:
            kwargs[f.name] = from_dict(resolve(sub, value), value, sub, resolve)
        else:
            kwargs[f.name] = coerce(value, hint, sub)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{key or 'config'}: {e}") from None


def coerce(value: Any, hint: Any, key: str) -> Any:
    """Check ``value`` (already parsed, e.g. from YAML) against ``hint``; convert lists
    to tuples and ints to floats where the hint says so."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: bad value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis and len(args) != len(value):
            raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}")
        elem = (lambda i: args[0]) if (not args or args[-1] is Ellipsis) else (lambda i: args[i])
        items = [coerce(v, elem(i) if args else Any, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported field type {hint!r}")


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_NONE = {"none", "null", "~"}


def parse_value(text: str, hint: Any, key: str) -> Any:
    """Parse the command-line string ``text`` for a field of type ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    s = text.strip()
    if origin in (typing.Union, types.UnionType):
        if s.lower() in _NONE and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return parse_value(s, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0])
    if origin is typing.Literal:
        for a in args:
            if str(a) == s:
                return a
        raise ConfigError(f"{key}: {s!r} is not one of {', '.join(map(str, args))}")
    if origin in (tuple, list):
        inner = s[1:-1] if s[:1] in "[(" and s[-1:] in "])" else s
        parts = [p for p in (x.strip() for x in inner.split(",")) if p != ""]
        elem = (lambda i: args[0]) if (not args or args[-1] is Ellipsis) else (lambda i: args[i])
        if origin is tuple and args and args[-1] is not Ellipsis and len(args) != len(parts):
            raise ConfigError(f"{key}: expected {len(args)} comma-separated values, got {s!r}")
        items = [parse_value(p, elem(i), f"{key}[{i}]") for i, p in enumerate(parts)]
        return tuple(items) if origin is tuple else items
    if hint is bool:
        if s.lower() in _TRUE:
            return True
        if s.lower() in _FALSE:
            return False
        raise ConfigError(f"{key}: expected true or false, got {s!r}")
    if hint is int:
        try:
            return int(s)
        except ValueError:
            try:
                f = float(s)  # accept 1e4
            except ValueError:
                f = None
            if f is not None and f.is_integer():
                return int(f)
            raise ConfigError(f"{key}: expected an integer, got {s!r}") from None
    if hint is float:
        try:
            return float(s)
        except ValueError:
            raise ConfigError(f"{key}: expected a number, got {s!r}") from None
    if hint is str or hint is Any:
        return s
    raise ConfigError(f"{key}: cannot set a field of type {hint!r} from the command line")


def all_keys(cfg: Any, prefix: str = "") -> list[str]:
    """Every settable dotted key of a (nested) dataclass instance."""
    keys = []
    for f in dataclasses.fields(cfg):
        k = f"{prefix}{f.name}"
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            keys += all_keys(v, k + ".")
        else:
            keys.append(k)
    return keys


def _unknown(key: str, candidates: list[str]) -> str:
    near = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    if not near:  # try the last component alone: 'model.chanels' vs 'channels'
        leaf = {c.rsplit(".", 1)[-1]: c for c in candidates}
        hit = difflib.get_close_matches(key.rsplit(".", 1)[-1], list(leaf), n=1, cutoff=0.75)
        near = [leaf[hit[0]]] if hit else []
    hint = f"; did you mean '{near[0]}'?" if near else ""
    return f"unknown key '{key}'{hint}"


def apply_overrides(cfg: Any, overrides: list[str], frozen: tuple[str, ...] = ()) -> Any:
    """Return a copy of ``cfg`` with ``key=value`` overrides applied and type-checked.

    ``frozen`` lists keys that select a section's type (``model.arch``); changing one
    would need a different dataclass, so it is refused with a pointer to recipes.
    """
    cfg = copy.deepcopy(cfg)
    keys = all_keys(cfg)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value")
        key, text = item.split("=", 1)
        key = key.strip()
        if key not in keys:
            raise ConfigError(_unknown(key, keys))
        if key in frozen:
            raise ConfigError(
                f"{key}: selects the section's type and cannot be overridden; "
                "pick another recipe (genlab list recipes)"
            )
        *path, leaf = key.split(".")
        obj = cfg
        for p in path:
            obj = getattr(obj, p)
        setattr(obj, leaf, parse_value(text, _hints(type(obj))[leaf], key))
    return cfg


def revalidate(cfg: Any, resolve: Resolver | None = None) -> Any:
    """Rebuild ``cfg`` from its dict so every ``__post_init__`` check runs again."""
    return from_dict(type(cfg), to_dict(cfg), "", resolve)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dump_yaml(cfg: Any) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=None)


def save_yaml(cfg: Any, path: Path) -> None:
    atomic_write_text(path, dump_yaml(cfg))


def load_yaml(path: Path) -> dict:
    """Read a YAML mapping with the safe loader; a clear error names the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return raw
