"""A run's settings from the command line: preset < ``--config FILE`` < ``--set KEY=VALUE`` < the named flags.

* ``--preset NAME``: the starting point (without it: the default preset of ``--prior``,
  else of the config file's ``prior.name``, else the command's default);
* ``--config FILE``: a JSON or YAML file of settings laid over the preset, section by
  section; a run's own ``config.json`` is one (its ``config`` part is read), so a run
  can be repeated or varied;
* ``--set KEY=VALUE`` (repeatable): one setting by its dotted key in ``config.json``,
  the value parsed to the field's type;
* the named flags (``--steps``, ``--seed``, ``--model``, ``--guidance-scale`` ...) are
  ``--set`` under a short name and come last.

``--print-config`` prints the resolved settings as JSON and runs nothing. ``--help``
lists every setting, grouped by section, from the fields' docstrings
(:func:`settings_help`). Why not tyro or similar: the commands keep their argparse
flags and one-line errors, and a small generator over the dataclass docstrings
(:mod:`dreamlift.config_tree`) is all the help needs.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path
from typing import Any

from dreamlift.errors import DreamliftError

MAX_CONFIG_BYTES = 1 << 20


def add_settings_options(parser: argparse.ArgumentParser, kind: str) -> None:
    """``--preset``, ``--config``, ``--set`` and ``--print-config``; ``--help`` then lists every setting."""
    group = parser.add_argument_group("settings (every key of config.json; listed below)")
    group.add_argument("--preset", default=None, metavar="NAME", help="named preset to start from (dreamlift presets lists them)")
    group.add_argument("--config", type=Path, default=None, metavar="FILE", help="JSON or YAML settings over the preset; a run's config.json works")
    group.add_argument(
        "--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
        help="one setting by its dotted key, e.g. --set render.samples_per_ray=48 (repeatable; after --config)",
    )
    group.add_argument("--print-config", action="store_true", help="print the resolved settings as JSON and exit")
    parser.epilog_factory = lambda: settings_help(kind)


def resolve_settings(args: argparse.Namespace, kind: str, prior: str | None, named: list[tuple[str, str, Any]]):
    """The run's :class:`~dreamlift.training.config.TrainConfig` from a command's options (see the module docstring):
    ``--config`` is read here, the rest is :func:`dreamlift.pipeline.settings.resolve_config`'s, as for every front end.

    ``prior`` is the command's ``--prior`` word (a prior name or None); ``named`` the
    named flags as ``(flag, dotted key, value)``; a None value was not given.
    """
    from dreamlift.pipeline.settings import resolve_config

    overrides = read_config_file(args.config, kind) if args.config is not None else {}
    return resolve_config(kind, prior=prior, preset=args.preset, overrides=overrides, settings=args.settings, named=named)


def read_config_file(path: Path, kind: str) -> dict:
    """The settings of a ``--config`` file: a run's ``config.json`` (its ``config`` part) or a plain JSON/YAML mapping."""
    from dreamlift._limits import read_text

    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise DreamliftError(f"--config {path} is over {MAX_CONFIG_BYTES >> 20} MiB: give a settings file")
        text = read_text(path, f"--config {path}", MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise DreamliftError(f"--config {path} does not exist: give a JSON or YAML settings file (a run's config.json works)") from None
    except IsADirectoryError:
        raise DreamliftError(f"--config {path} is a folder: give its config.json") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DreamliftError(f"--config {path} cannot be read ({error.__class__.__name__}): give a JSON or YAML text file") from None
    data = _parse(path, text)
    if isinstance(data, dict) and "config" in data and "format" in data:  # a run folder's config.json
        from dreamlift.training.run_folder import upgrade_config

        if data.get("kind") not in (None, kind):
            raise DreamliftError(f"--config {path} is the config of a {data.get('kind')} run: give it to dreamlift {data.get('kind')}")
        data = upgrade_config(data, path)
    if not isinstance(data, dict):
        raise DreamliftError(f"--config {path} holds no settings mapping (keys as in config.json)")
    return data


def _parse(path: Path, text: str) -> Any:
    """The file's value, within :mod:`dreamlift._limits` (depth, aliases, values): never a RecursionError or MemoryError."""
    from dreamlift._limits import parse_json, parse_yaml

    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            return parse_yaml(text, f"--config {path}")
        except yaml.YAMLError as error:
            where = getattr(error, "problem_mark", None)
            at = f" at line {where.line + 1}" if where is not None else ""
            raise DreamliftError(f"--config {path} is not valid YAML{at}: fix the file") from None
    try:
        return parse_json(text, f"--config {path}")
    except ValueError as error:
        raise DreamliftError(f"--config {path} is not valid JSON (line {getattr(error, 'lineno', '?')}): fix the file, or name it .yaml for YAML") from None


def print_config(config, kind: str) -> None:
    """The resolved settings as JSON on standard output (what ``--config`` reads back)."""
    from dreamlift.config_tree import to_dict

    print(json.dumps({"kind": kind, "config": to_dict(config)}, indent=2, sort_keys=True))


# --------------------------------------------------------------------------- --help


def settings_help(kind: str) -> str:
    """Every setting of a ``kind`` run, grouped by section, with its type, default and docstring."""
    from dreamlift.config_tree import leaf_keys, type_name
    from dreamlift.guidance.priors import PRIOR_CONFIGS
    from dreamlift.presets import default_preset_name, preset_config
    from dreamlift.representation.settings import REPRESENTATION_CONFIGS

    default = preset_config("toy" if kind == "text" else "toy-image")
    lines = [f"settings (--set KEY=VALUE or --config FILE; defaults of the preset {'toy' if kind == 'text' else 'toy-image'}):"]
    sections: dict[str, list[str]] = {}
    for key, (hint, value, doc) in leaf_keys(default).items():
        if key == "prior.name":
            choices = "|".join(cls.name for cls in PRIOR_CONFIGS if cls.kind == kind)
            sections.setdefault("run", []).append(_entry(key, choices, value, "Which prior guides the run; each has the settings of its section below."))
        if key == "representation.name":
            choices = "|".join(cls.name for cls in REPRESENTATION_CONFIGS)
            sections.setdefault("run", []).append(_entry(key, choices, value, "What stage 1 distils into; each has the settings of its section below."))
        if key.startswith(("prior.", "representation.")) or (key == "image" and value is None):
            continue
        section = key.split(".")[0] if "." in key else "run"
        sections.setdefault(section, []).append(_entry(key, type_name(hint), value, doc))
    for cls in PRIOR_CONFIGS:
        if cls.kind != kind:
            continue
        prior = preset_config(default_preset_name(cls.name)).prior
        title = f"prior {cls.name} ({cls.description})"
        sections[title] = [_entry(f"prior.{k}", type_name(h), v, d) for k, (h, v, d) in leaf_keys(prior).items() if k != "name"]
    for cls in REPRESENTATION_CONFIGS:
        title = f"representation {cls.name} ({cls.description})"
        entries = [_entry(f"representation.{k}", type_name(h), v, d) for k, (h, v, d) in leaf_keys(cls()).items() if k != "name"]
        sections[title] = entries or ["  (its settings are the nerf, render and occupancy sections)"]
    for title, entries in sections.items():
        lines.append(f"\n {title}:")
        lines.extend(entries)
    return "\n".join(lines)


def _entry(key: str, type_text: str, value: Any, doc: str) -> str:
    from dreamlift.config_tree import to_dict

    shown = json.dumps(to_dict(value))
    head = f"  {key} = {shown}  [{type_text}]"
    body = textwrap.fill(doc, width=96, initial_indent="      ", subsequent_indent="      ") if doc else ""
    return f"{head}\n{body}" if body else head
