"""Typed dataclass trees as settings: to and from JSON, dotted keys, ``--set`` values, help text.

A settings tree is a dataclass whose fields are plain values (bool, int, float, str,
enums, tuples, lists), ``X | None``, nested dataclasses, or a union of dataclasses
told apart by their ``name`` field (the run's ``prior``). Keys are dotted paths as
written in ``config.json`` (``render.samples_per_ray``, ``prior.guidance_scale``).

Every problem is a one-line :class:`~dreamlift.errors.DreamliftError` that names the
key: an unknown key (with the closest known ones), a value of the wrong type (with
the type and the value).
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import json
import math
import textwrap
import types
import typing
from enum import Enum
from functools import lru_cache
from typing import Any

from dreamlift.errors import DreamliftError

# --------------------------------------------------------------------------- types


def _options(hint: Any) -> tuple[list[Any], bool]:
    """``(non-None members, allows None)`` of a union hint; ``([hint], False)`` otherwise."""
    if typing.get_origin(hint) is typing.Union or isinstance(hint, types.UnionType):
        members = list(typing.get_args(hint))
        return [m for m in members if m is not type(None)], type(None) in members
    return [hint], False


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.init]


def type_name(hint: Any) -> str:
    """A short, readable name of a field's type for messages and help (``int``, ``float or none``, ``sds|uniform``)."""
    options, nullable = _options(hint)
    if len(options) > 1 and all(dataclasses.is_dataclass(o) for o in options):
        text = "section"
    else:
        text = " or ".join(_one_type_name(o) for o in options)
    return f"{text} or none" if nullable else text


def _one_type_name(hint: Any) -> str:
    if isinstance(hint, type) and issubclass(hint, Enum):
        return "|".join(str(member.value) for member in hint)
    if dataclasses.is_dataclass(hint):
        return "section"
    origin = typing.get_origin(hint)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            inner = _one_type_name(args[0])
            return f"list of [{inner}]" if typing.get_origin(args[0]) is tuple else f"list of {inner}s"
        return f"{len(args)} numbers" if all(a in (int, float) for a in args) else "list"
    if origin is list:
        return "list (JSON)"
    return {bool: "true|false", int: "whole number", float: "number", str: "text"}.get(hint, getattr(hint, "__name__", str(hint)))


# --------------------------------------------------------------------------- to and from JSON


def to_dict(obj: Any) -> Any:
    """A dataclass tree as JSON-ready data (enums as their values, tuples as lists)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in _fields(type(obj))}
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


def from_dict(cls: type, data: Any, path: str = "") -> Any:
    """The dataclass ``cls`` from JSON data (the inverse of :func:`to_dict`); keys left out keep their defaults.

    ``path`` is the dotted key of ``data`` within the whole tree, for messages.
    """
    if not isinstance(data, dict):
        raise DreamliftError(f"{path or 'the settings'} must be a section (an object of keys), got {_show(data)}")
    names = {f.name: f for f in _fields(cls)}
    unknown = [key for key in data if key not in names]
    if unknown:
        raise unknown_key_error(_join(path, unknown[0]), [_join(path, name) for name in names])
    hints = _hints(cls)
    values = {name: convert(hints[name], value, _join(path, name)) for name, value in data.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise DreamliftError(f"{path or 'the settings'}: {error}") from None


def convert(hint: Any, value: Any, path: str) -> Any:
    """``value`` (JSON data) as a value of type ``hint``; a one-line error naming ``path`` if it is not one."""
    options, nullable = _options(hint)
    if value is None:
        if nullable:
            return None
        raise wrong_type(path, hint, value)
    classes = [o for o in options if dataclasses.is_dataclass(o)]
    if classes:
        return from_dict(_pick_class(classes, value, path), value, path)
    for option in options:
        converted = _convert_plain(option, value)
        if converted is not _NO:
            return converted
    raise wrong_type(path, hint, value)


_NO = object()


def _convert_plain(hint: Any, value: Any) -> Any:
    if hint is Any:
        return value
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:
            return _NO
    if hint is bool:
        return value if isinstance(value, bool) else _NO
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _NO
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        return _NO
    if hint is str:
        return value if isinstance(value, str) else _NO
    origin = typing.get_origin(hint)
    if origin is tuple and isinstance(value, (list, tuple)):
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:  # tuple[X, ...]
            args = (args[0],) * len(value)
        if len(args) != len(value):
            return _NO
        items = [_convert_plain(a, v) for a, v in zip(args, value)]
        return _NO if any(i is _NO for i in items) else tuple(items)
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(hint) or (Any,)
        if dataclasses.is_dataclass(item):
            return [from_dict(item, v) for v in value]
        items = [_convert_plain(item, v) for v in value]
        return _NO if any(i is _NO for i in items) else items
    return _NO


def _pick_class(classes: list[type], value: Any, path: str) -> type:
    """The class of a union of dataclasses that ``value`` is: by its ``name`` key."""
    if len(classes) == 1:
        return classes[0]
    names = [cls.name for cls in classes]
    if not isinstance(value, dict) or "name" not in value:
        raise DreamliftError(f"{path} needs a name (one of {', '.join(names)}) to say which it is")
    for cls in classes:
        if value["name"] == cls.name:
            return cls
    raise DreamliftError(f"{path}.name {_show(value['name'])} is not one of {', '.join(names)}")


def union_member(hint: Any, name: str) -> type | None:
    """The class of a union-of-dataclasses hint whose ``name`` is ``name`` (None if the hint is no such union)."""
    options, _ = _options(hint)
    classes = [o for o in options if dataclasses.is_dataclass(o)]
    if len(classes) < 2:
        return None
    return _pick_class(classes, {"name": name}, "")


def merge(base: dict, override: dict) -> dict:
    """``override`` laid over ``base``, section by section (a section whose ``name`` differs replaces the base's)."""
    merged = dict(base)
    for key, value in override.items():
        old = merged.get(key)
        if isinstance(old, dict) and isinstance(value, dict) and old.get("name") == value.get("name", old.get("name")):
            merged[key] = merge(old, value)
        else:
            merged[key] = value
    return merged


# --------------------------------------------------------------------------- dotted keys


def leaf_keys(obj: Any, prefix: str = "") -> dict[str, tuple[Any, Any, str]]:
    """Every settable key under ``obj``: ``{dotted key: (type hint, current value, docstring)}``."""
    out: dict[str, tuple[Any, Any, str]] = {}
    hints = _hints(type(obj))
    docs = field_docs(type(obj))
    for f in _fields(type(obj)):
        key = _join(prefix, f.name)
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out.update(leaf_keys(value, key))
        else:
            out[key] = (hints[f.name], value, docs.get(f.name, ""))
    return out


def set_value(root: Any, key: str, text: str) -> None:
    """Set dotted ``key`` of the tree ``root`` to ``text`` parsed as that field's type (``--set KEY=VALUE``).

    Setting the ``name`` of a union section (``prior.name=stable-diffusion``) replaces
    that section by the named class with its defaults.
    """
    parts = key.split(".")
    owner = root
    for part in parts[:-1]:
        child = getattr(owner, part, None) if part in _field_names(owner) else None
        if not dataclasses.is_dataclass(child):
            raise unknown_key_error(key, list(leaf_keys(root)))
        owner = child
    last = parts[-1]
    if last not in _field_names(owner):
        raise unknown_key_error(key, list(leaf_keys(root)))
    if last == "name" and len(parts) > 1:
        _switch_union_member(root, parts[:-1], text, key)
        return
    hint = _hints(type(owner))[last]
    current = getattr(owner, last)
    if dataclasses.is_dataclass(current):
        example = next(iter(leaf_keys(current, key)), key + ".…")
        raise DreamliftError(f"{key} is a section, not a setting: set its keys one by one, e.g. --set {example}=...")
    setattr(owner, last, parse_text(hint, text, key))


def _switch_union_member(root: Any, section: list[str], name: str, key: str) -> None:
    parent = root
    for part in section[:-1]:
        parent = getattr(parent, part)
    hint = _hints(type(parent))[section[-1]]
    choices = union_member_names(hint)
    if not choices:
        raise DreamliftError(f"{key} is fixed for this section and cannot be set")
    if name not in choices:
        raise DreamliftError(f"{key} {name!r} is not one of {', '.join(choices)}")
    cls = union_member(hint, name)
    if getattr(parent, section[-1]).name != name:
        setattr(parent, section[-1], cls())


def union_member_names(hint: Any) -> list[str]:
    options, _ = _options(hint)
    classes = [o for o in options if dataclasses.is_dataclass(o)]
    return [cls.name for cls in classes] if len(classes) > 1 else []


def parse_text(hint: Any, text: str, key: str) -> Any:
    """A command-line string as a value of type ``hint`` (``none``/``null`` for None; JSON for lists)."""
    options, nullable = _options(hint)
    word = text.strip()
    if nullable and word.lower() in ("none", "null"):
        return None
    for option in options:
        value = _parse_one(option, word)
        if value is not _NO:
            return value
    raise wrong_type(key, hint, text)


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _parse_one(hint: Any, word: str) -> Any:
    if hint is bool:
        lower = word.lower()
        return True if lower in _TRUE else False if lower in _FALSE else _NO
    if hint is int:
        try:
            return int(word)
        except ValueError:
            return _NO
    if hint is float:
        try:
            value = float(word)
        except ValueError:
            return _NO
        return value if math.isfinite(value) else _NO
    if hint is str:
        return word
    if isinstance(hint, type) and issubclass(hint, Enum):
        return _convert_plain(hint, word.lower())
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        try:
            data = json.loads(word if word.startswith("[") else f"[{word}]")
        except ValueError:
            return _NO
        return _convert_plain(hint, data)
    return _NO


# --------------------------------------------------------------------------- ranges


def range_of(key: str, ranges: dict[str, Any]) -> Any:
    """The entry of ``ranges`` for dotted ``key``; a prior's key anywhere (``image.text.prior.seed``) is looked up as
    ``prior.<rest>``. ``KeyError`` when the key has no entry."""
    if key in ranges:
        return ranges[key]
    if ".prior." in key:
        return ranges["prior." + key.split(".prior.", 1)[1]]
    raise KeyError(key)


def check_ranges(root: Any, ranges: dict[str, Any]) -> None:
    """Every number of the tree ``root`` inside its range: ``ranges`` maps a dotted key to ``(low, high)``
    (inclusive; every item of a list of numbers is checked) or to None (checked elsewhere, e.g. by a
    section's own ``validate``). A value outside is a one-line error naming the key and the range."""
    for key, (hint, value, _) in leaf_keys(root).items():
        items = value if isinstance(value, (tuple, list)) else (value,)
        numbers = [v for v in items if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if not numbers:
            continue
        try:
            bounds = range_of(key, ranges)
        except KeyError:
            continue  # a key without a range fails tests/robustness (every numeric key has one); here it is unchecked
        if bounds is None:
            continue
        low, high = bounds
        for number in numbers:
            if not (low <= number <= high):  # NaN fails too
                raise DreamliftError(f"{key} {_show(number)} is out of range: use {_show(low)} to {_show(high)}")


# --------------------------------------------------------------------------- messages


def unknown_key_error(key: str, known: list[str]) -> DreamliftError:
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
    if not close:  # try the last part alone: "samples_per_ray" -> "render.samples_per_ray"
        last = key.rsplit(".", 1)[-1]
        close = [k for k in known if k.rsplit(".", 1)[-1] == last][:3] or difflib.get_close_matches(key, known, n=3, cutoff=0.3)
    hint = f": did you mean {', '.join(close)}?" if close else ": see --help for the settings"
    return DreamliftError(f"unknown setting {key!r}{hint}")


def wrong_type(key: str, hint: Any, value: Any) -> DreamliftError:
    return DreamliftError(f"{key} takes {type_name(hint)}, got {_show(value)}")


def _show(value: Any, limit: int = 60) -> str:
    """A short JSON-like text of ``value`` for a message: at most ``limit`` characters, made without formatting the
    whole value (a list of a billion items, a 5000-digit number or a deeply nested one costs no more than a small one)."""
    text = repr(value[: limit + 1]) if isinstance(value, str) else _bounded_json(value, limit + 3)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bounded_json(value: Any, budget: int, depth: int = 0) -> str:
    """JSON text of ``value``, cut off once it is longer than ``budget`` (and at nesting depth 8)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        if value.bit_length() > 200:
            return f"<a {'negative ' if value < 0 else ''}number of about {int(value.bit_length() * 0.30103)} digits>"
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value[:budget])
    if depth >= 8:
        return "..."
    if isinstance(value, dict):
        opening, closing, items = "{", "}", ((f"{_bounded_json(str(k), budget, depth + 1)}: ", v) for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        opening, closing, items = "[", "]", (("", v) for v in value)
    else:
        return repr(value)[:budget]
    parts, used = [], 0
    for prefix, item in items:
        part = prefix + _bounded_json(item, budget - used, depth + 1)
        parts.append(part)
        used += len(part) + 2
        if used > budget:
            return opening + ", ".join(parts)[:budget] + "..."
    return opening + ", ".join(parts) + closing


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _field_names(obj: Any) -> set[str]:
    return {f.name for f in _fields(type(obj))} if dataclasses.is_dataclass(obj) else set()


# --------------------------------------------------------------------------- docstrings


@lru_cache(maxsize=None)
def field_docs(cls: type) -> dict[str, str]:
    """``{field: docstring}`` of a dataclass: the string literal under each field, inherited ones included."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, following in zip(body, body[1:]):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str):
                    docs[node.target.id] = " ".join(following.value.value.split())
    return docs
