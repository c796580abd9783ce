"""A run's settings, resolved the same way for every front end (the commands, ``dreamlift batch``, the app):
preset < settings file < ``KEY=VALUE`` settings < named options.

* the preset: ``preset`` if given, else the default preset of ``prior`` (or of the settings
  file's ``prior.name``), else the kind's default (``toy`` for text, ``toy-image`` for images);
* ``overrides``: a mapping of settings (a ``--config`` file's), laid over the preset section by section;
* ``settings``: ``"KEY=VALUE"`` strings by dotted key as in ``config.json``, each parsed to its field's type;
* ``named``: ``(option, dotted key, value)`` of a front end's named options (``--steps``, ``--seed``
  ...), last; a None value was not given.

Every value goes through :func:`dreamlift.config_tree.set_value` and the result through
``TrainConfig.validate()``, so a front end cannot pass what another refuses.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, Iterable

from dreamlift.errors import DreamliftError

MAX_PROMPT_CHARACTERS = 1000


def resolve_config(
    kind: str,
    *,
    prior: str | None = None,
    preset: str | None = None,
    overrides: dict | None = None,
    settings: Iterable[str] = (),
    named: Iterable[tuple[str, str, Any]] = (),
):
    """The :class:`~dreamlift.training.config.TrainConfig` of a ``kind`` (``"text"`` or ``"image"``) run, validated."""
    from dreamlift.config_tree import from_dict, merge, set_value, to_dict
    from dreamlift.presets import default_preset_name, preset_config
    from dreamlift.training.config import TrainConfig

    overrides = overrides or {}
    file_prior = overrides.get("prior", {}).get("name") if isinstance(overrides.get("prior"), dict) else None
    if preset is not None:
        name = preset
    elif prior is not None or file_prior is not None:
        from dreamlift.guidance.priors import prior_config_class

        name = default_preset_name(prior_config_class(prior or file_prior, kind).name)
    else:
        name = "toy" if kind == "text" else "toy-image"
    config = preset_config(name, kind)
    if overrides:
        config = from_dict(TrainConfig, merge(to_dict(config), overrides))
    for item in settings:
        key, value = split_setting(item)
        set_value(config, key, value)
    if prior is not None:
        set_value(config, "prior.name", prior)
    for flag, key, value in named:
        if value is None:
            continue
        if key.startswith("prior.") and not hasattr(config.prior, key.split(".")[1]):
            raise DreamliftError(f"{flag} is not a setting of the {config.prior.name} prior: {prior_flag_owners(key, kind)}")
        set_value(config, key, value if isinstance(value, str) else json.dumps(value))
    return config


def prior_and_model(kind: str, prior: str | None, model: str | None) -> tuple[str | None, str | None]:
    """``(prior name, model)`` from a front end's prior word and model: a prior name, ``toy`` (for images: the
    toy view prior), or a model's path in place of the name (its prior told from the files)."""
    from pathlib import Path

    from dreamlift.guidance.priors import prior_for_model_path, prior_names

    if prior is None or prior in prior_names(kind):
        return prior, model
    if kind == "image" and prior == "toy":
        return "toy-view", model
    if kind == "image" and not Path(prior).expanduser().exists():
        raise DreamliftError(f"unknown prior {prior!r}: choose toy or zero123, or give an existing Zero-1-to-3 model folder")
    if model is not None:
        raise DreamliftError("give the model either as --prior PATH or as --model, not both")
    return ("zero123" if kind == "image" else prior_for_model_path(prior)), prior


def finish_prior(config, kind: str, model: str | None) -> None:
    """What a user's own ``model`` implies: a preset's hub-file ``variant`` is for the preset's default model, so a
    user's model is read as saved (text runs); an image run's Zero-1-to-3 cannot run without one."""
    if kind == "text" and model is not None and hasattr(config.prior, "variant"):
        config.prior.variant = None
    if kind == "image" and config.prior.name == "zero123" and not config.prior.model:
        raise DreamliftError("--prior zero123 needs --model: a Zero-1-to-3 folder in the diffusers layout, a hub id, or a .ckpt such as zero123-xl.ckpt")


def prior_flag_owners(key: str, kind: str) -> str:
    """Which priors have the setting ``prior.X`` (for an option given to a prior without it)."""
    from dreamlift.guidance.priors import PRIOR_CONFIGS

    name = key.split(".")[1]
    owners = [cls.name for cls in PRIOR_CONFIGS if cls.kind == kind and name in {f for f in cls.__dataclass_fields__}]
    return f"it is for {' and '.join(owners)} (--prior)" if owners else "no prior of this command has it"


def split_setting(item: str) -> tuple[str, str]:
    """``"KEY=VALUE"`` → ``(KEY, VALUE)`` (a one-line error without ``=``)."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise DreamliftError(f"--set takes KEY=VALUE (a dotted key of config.json, e.g. render.samples_per_ray=48), got {item!r}")
    return key.strip(), value


def check_prompt(prompt: str) -> str:
    """Reject prompts no prior can use: empty, control characters, undecodable bytes, absurdly long.

    Tabs and line breaks count as spaces; runs of white space become one space.
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise DreamliftError('the prompt is empty: give a description such as "a red cube"')
    if len(prompt) > MAX_PROMPT_CHARACTERS:
        raise DreamliftError(f"the prompt has {len(prompt)} characters; keep it under {MAX_PROMPT_CHARACTERS}")
    for char in prompt:
        category = unicodedata.category(char)
        if category == "Cs":  # bytes that were not UTF-8, as Python passes them from the command line
            raise DreamliftError("the prompt is not valid UTF-8 text: give plain text")
        if category == "Cc" and char not in "\t\n":
            raise DreamliftError("the prompt contains control characters: give plain text")
    return " ".join(prompt.split())


def slug(text: str, limit: int = 40) -> str:
    """A folder name from a prompt: lower case, words joined by underscores."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return ("_".join(words) or "run")[:limit]
