"""The rows of a batch file: what each run makes, with which options, in which folder.

A batch file is one of
- ``.txt``: one prompt a line; blank lines and lines starting with ``#`` are skipped;
- ``.csv``: a header with a ``prompt`` or ``image`` column (or both: an image row with
  its prompt), optional ``seed``, ``steps``, ``prior``, ``model``, ``out`` columns, and
  any other column as a config key (``render.samples_per_ray``), passed as ``--set``;
- ``.jsonl``: one JSON object a line with the same keys; nested objects are dotted keys.

Only the file itself is checked here (readable, a known format, the required column,
unique run folders): a row's values are checked by the command that runs it, so a bad
row fails alone. Line numbers in errors and in :attr:`Row.line` count from 1.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from dreamlift.pipeline.settings import slug
from dreamlift.errors import DreamliftError

OPTION_COLUMNS = {"seed": "--seed", "steps": "--steps", "prior": "--prior", "model": "--model"}
"""Columns that become the run command's own options; every other column is a ``--set`` key."""
MAX_ROWS = 100_000
MAX_BATCH_BYTES = 32 << 20
"""Largest batch file read (32 MiB: 100,000 rows of about 300 characters)."""


@dataclass
class Row:
    """One run of the batch."""

    line: int
    """Line of the batch file it came from (1-based; for csv, the header is line 1)."""
    kind: str
    """``"text"`` or ``"image"``: the ``dreamlift`` command that runs it."""
    source: str
    """The prompt (text rows) or the image path (image rows, resolved against the batch file's folder)."""
    out: str
    """Name of its run folder inside the batch's ``--out`` (unique within the batch)."""
    prompt: str | None = None
    """Image rows: the optional ``--prompt`` of ``dreamlift image``; text rows: same as ``source``."""
    options: dict[str, str] = field(default_factory=dict)
    """Command options of the row (``{"--seed": "3"}``), overriding the batch's."""
    sets: dict[str, str] = field(default_factory=dict)
    """Config keys of the row (``{"render.samples_per_ray": "64"}``), each a ``--set KEY=VALUE``."""

    def argv(self, folder: Path, forwarded: list[str], resume: bool) -> list[str]:
        """The ``dreamlift`` argv of this row: the batch's ``forwarded`` options, then the row's (which win)."""
        argv = [self.kind, self.source]
        if self.kind == "image" and self.prompt is not None:
            argv += ["--prompt", self.prompt]
        argv += ["--out", str(folder), *forwarded]
        for option, value in self.options.items():
            argv += [option, value]
        for key, value in self.sets.items():
            argv += ["--set", f"{key}={value}"]
        return argv + (["--resume"] if resume else []) + ["--quiet"]


def read_rows(path: str | Path) -> list[Row]:
    """Read and check a batch file (see the module docstring); every problem is a one-line error."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".txt", ".csv", ".jsonl"):
        raise DreamliftError(f"batch file {path} is not .txt, .csv or .jsonl: give one prompt a line (.txt) or a table")
    from dreamlift._limits import read_text

    try:
        text = read_text(path, f"batch file {path}", MAX_BATCH_BYTES, encoding="utf-8-sig")
    except FileNotFoundError:
        raise DreamliftError(f"batch file {path} does not exist") from None
    except IsADirectoryError:
        raise DreamliftError(f"batch file {path} is a folder: give a .txt, .csv or .jsonl file") from None
    except UnicodeDecodeError:
        raise DreamliftError(f"batch file {path} is not UTF-8 text") from None
    except OSError as error:
        raise DreamliftError(f"cannot read batch file {path}: {error.strerror or error.__class__.__name__}") from None
    records = {".txt": _txt_records, ".csv": _csv_records, ".jsonl": _jsonl_records}[suffix](text, path)
    if not records:
        raise DreamliftError(f"batch file {path} has no rows")
    if len(records) > MAX_ROWS:
        raise DreamliftError(f"batch file {path} has {len(records)} rows; split it into files of at most {MAX_ROWS}")
    return _name_folders([_row(line, values, path) for line, values in records], path)


def _txt_records(text: str, path: Path) -> list[tuple[int, dict[str, str]]]:
    return [
        (number, {"prompt": line.strip()})
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _csv_records(text: str, path: Path) -> list[tuple[int, dict[str, str]]]:
    try:
        reader = csv.reader(text.splitlines())
        table = [(reader.line_num, row) for row in reader]
    except csv.Error as error:
        raise DreamliftError(f"batch file {path} is not valid CSV ({error})") from None
    if not table:
        raise DreamliftError(f"batch file {path} is empty: give a header row with a 'prompt' or 'image' column")
    header = [name.strip() for name in table[0][1]]
    _check_columns(header, path)
    records = []
    for number, cells in table[1:]:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            raise DreamliftError(f"{path}:{number}: {len(cells)} cells but the header has {len(header)} columns")
        records.append((number, {name: cell for name, cell in zip(header, cells) if cell.strip()}))
    return records


def _jsonl_records(text: str, path: Path) -> list[tuple[int, dict[str, str]]]:
    from dreamlift._limits import parse_json

    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = parse_json(line, f"{path}:{number}")  # 64 levels at most: never a RecursionError
        except ValueError as error:
            raise DreamliftError(f"{path}:{number}: not valid JSON ({getattr(error, 'msg', error)})") from None
        if not isinstance(value, dict):
            raise DreamliftError(f"{path}:{number}: each line must be a JSON object with a 'prompt' or 'image' key")
        flat = _flatten(value)
        _check_columns(list(flat), path, number)
        records.append((number, flat))
    return records


def _flatten(value: dict, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            flat.update(_flatten(item, name + "."))
        elif item is not None:
            flat[name] = item if isinstance(item, str) else json.dumps(item)
    return flat


def _check_columns(names: list[str], path: Path, line: int | None = None) -> None:
    where = f"{path}:{line}" if line is not None else f"batch file {path}"
    if "prompt" not in names and "image" not in names:
        raise DreamliftError(f"{where} has no 'prompt' or 'image' column")
    for name in names:
        if not name or any(char.isspace() or char == "=" for char in name):
            raise DreamliftError(f"{where}: column name {name!r} is not a config key")
    if len(set(names)) != len(names):
        raise DreamliftError(f"{where}: a column name appears twice")


def _row(line: int, values: dict[str, str], path: Path) -> Row:
    values = dict(values)
    image = values.pop("image", None)
    prompt = values.pop("prompt", None)
    out = values.pop("out", None)
    options = {OPTION_COLUMNS[name]: values.pop(name) for name in list(values) if name in OPTION_COLUMNS}
    if image is not None:
        image_path = Path(image).expanduser()
        source = str(image_path if image_path.is_absolute() else path.parent / image_path)
        row = Row(line, "image", source, out or "", prompt=prompt, options=options, sets=values)
    else:
        row = Row(line, "text", prompt or "", out or "", prompt=prompt, options=options, sets=values)
    if out is not None:
        _check_out(out, path, line)
    return row


def _check_out(out: str, path: Path, line: int) -> None:
    parts = PurePath(out).parts
    if not parts or PurePath(out).is_absolute() or any(part in ("..", ".") for part in parts):
        raise DreamliftError(f"{path}:{line}: out {out!r} must be a folder name inside the batch's --out")


def _name_folders(rows: list[Row], path: Path) -> list[Row]:
    """Give every row a unique folder: explicit ``out`` values must be unique; slugs get ``_2``, ``_3``."""
    used: dict[str, int] = {}
    for row in rows:
        if row.out:
            key = str(PurePath(row.out))
            if key in used:
                raise DreamliftError(f"{path}:{row.line}: out {row.out!r} is also the out of line {used[key]}: give each row its own")
            used[key] = row.line
    for row in rows:
        if row.out:
            continue
        base = slug(row.source if row.kind == "text" else PurePath(row.source).stem)
        name, n = base, 2
        while name in used:
            name, n = f"{base}_{n}", n + 1
        used[name] = row.line
        row.out = name
    return rows
