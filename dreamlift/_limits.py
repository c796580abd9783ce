"""Limits on what is read from files this project did not just write: size, nesting depth and count.

Every reader of such a file (a ``--config`` file, a run folder's ``config.json`` and
checkpoint records, ``log.jsonl``, a view table, a batch file, the app's request bodies)
goes through these helpers, so that a file nested 200,000 levels deep, a YAML alias bomb
("billion laughs") or a gigabyte of garbage is a one-line :class:`DreamliftError`, not a
``RecursionError``, a ``MemoryError`` or a ``UnicodeDecodeError``.

* :func:`read_text`: the file's text, refused over ``max_bytes`` (checked before reading),
  or when it is not UTF-8;
* :func:`parse_json` / :func:`parse_yaml`: the depth is checked on the raw text (JSON) or the
  event stream (YAML) *before* anything recursive runs; YAML aliases are counted; the parsed
  value's size (nodes, with every alias expanded) is bounded without expanding it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dreamlift.errors import DreamliftError

MAX_VIEWS = 32
"""The most input views an image run takes (a view table's rows, each an image held in memory at full size)."""
MAX_DEPTH = 64
"""Deepest nesting of lists and objects in a settings file or record (a run's config.json nests 5 levels)."""
MAX_NODES = 100_000
"""Most values (keys, items, numbers, strings) in one parsed file, YAML aliases counted as expanded."""
MAX_ALIASES = 100
"""Most YAML aliases (``*name``) in one file."""
MAX_SETTINGS_BYTES = 1 << 20
"""Largest settings file (``--config``, ``config.json``), view table or checkpoint record: 1 MiB."""
MAX_LOG_BYTES = 256 << 20
"""Largest ``log.jsonl`` read back (a million steps logged every step is about 200 MB)."""


class _Refused(Exception):
    """Internal: the value broke a limit (the message says which)."""


def describe_size(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB" if size >= 1 << 20 else f"{size} bytes"


def read_text(path: str | os.PathLike, what: str, max_bytes: int = MAX_SETTINGS_BYTES, encoding: str = "utf-8") -> str:
    """The UTF-8 text of ``path``; a one-line error (``what`` names the file's role) when it is over ``max_bytes``.
    ``UnicodeDecodeError``, ``FileNotFoundError``, ``IsADirectoryError`` and other ``OSError`` s are left to the caller."""
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise DreamliftError(f"{what} is {describe_size(size)}, over the limit of {describe_size(max_bytes)}: it is not a file dreamlift wrote or reads")
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)  # a file that grew since stat() is cut at the limit
    if len(data) > max_bytes:
        raise DreamliftError(f"{what} is over the limit of {describe_size(max_bytes)}: it is not a file dreamlift wrote or reads")
    return data.decode(encoding)  # a UnicodeDecodeError (a ValueError) is the caller's to word


def json_depth_ok(text: str, max_depth: int = MAX_DEPTH) -> bool:
    """Whether the brackets of JSON ``text`` nest at most ``max_depth`` deep (strings skipped); iterative, so any
    text is scanned without recursion. Invalid JSON is left to the parser."""
    if text.count("[") + text.count("{") <= max_depth:  # the common case, at C speed: it cannot nest deeper
        return True
    depth = 0
    index, end = 0, len(text)
    find = text.find
    while index < end:
        char = text[index]
        if char == '"':
            index += 1
            while True:  # to the closing quote, skipping escapes
                close = find('"', index)
                if close < 0:
                    return True  # unterminated: the parser says so
                backslashes = 0
                while text[close - 1 - backslashes] == "\\":
                    backslashes += 1
                index = close + 1
                if backslashes % 2 == 0:
                    break
            continue
        if char in "[{":
            depth += 1
            if depth > max_depth:
                return False
        elif char in "]}":
            depth -= 1
        index += 1
    return True


def parse_json(text: str, what: str, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> Any:
    """``json.loads(text)`` within the limits; a ``ValueError`` (bad JSON) is left to the caller, a broken limit is
    a one-line error."""
    if not json_depth_ok(text, max_depth):
        raise DreamliftError(f"{what} nests lists or objects more than {max_depth} levels deep: it is damaged or not meant for dreamlift")
    try:
        value = json.loads(text)
    except RecursionError:  # cannot happen after the depth check; kept as a last guard
        raise DreamliftError(f"{what} nests too deep to read") from None
    check_size(value, what, max_depth, max_nodes)
    return value


def parse_yaml(text: str, what: str, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES, max_aliases: int = MAX_ALIASES) -> Any:
    """``yaml.safe_load(text)`` within the limits: depth and aliases counted on the event stream first (PyYAML's
    parser is iterative, its composer recursive), then the loaded value's size with aliases expanded.
    A ``yaml.YAMLError`` is left to the caller."""
    import yaml

    depth = aliases = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > max_depth:
                raise DreamliftError(f"{what} nests lists or mappings more than {max_depth} levels deep: it is damaged or not meant for dreamlift")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > max_aliases:
                raise DreamliftError(f"{what} has more than {max_aliases} YAML aliases (*name): write the values out")
    try:
        value = yaml.safe_load(text)
    except RecursionError:
        raise DreamliftError(f"{what} nests too deep to read") from None
    check_size(value, what, max_depth, max_nodes)
    return value


def check_size(value: Any, what: str, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> None:
    """Refuse a parsed value with more than ``max_nodes`` values (shared sub-values, as YAML aliases make, counted
    every time they occur, as a reader walking it meets them) or deeper than ``max_depth``; stops at the limit, so
    an alias bomb of 10**9 values costs ``max_nodes`` steps."""
    count = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        count += 1
        if count > max_nodes:
            raise DreamliftError(
                f"{what} holds more than {max_nodes} values (YAML aliases counted as expanded): it is damaged or not meant for dreamlift"
            )
        if depth > max_depth:
            raise DreamliftError(f"{what} nests lists or objects more than {max_depth} levels deep: it is damaged or not meant for dreamlift")
        if isinstance(item, dict):
            count += len(item)  # the keys
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((child, depth + 1) for child in item)


_INVALID = object()


def json_or_none(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads(text)``, or None when it is not JSON or nests deeper than ``max_depth`` (a torn or damaged
    line of a log, which readers skip)."""
    if not json_depth_ok(text, max_depth):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def read_json(path: str | os.PathLike, what: str | None = None, max_bytes: int = MAX_SETTINGS_BYTES) -> Any:
    """The JSON value of the file ``path`` within the limits (``what`` names it in messages; default its path).
    ``OSError`` and ``ValueError`` (bad JSON, not UTF-8) are left to the caller; a broken limit is a one-line error."""
    what = what or str(path)
    return parse_json(read_text(path, what, max_bytes), what)
