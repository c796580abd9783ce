"""What a job runs: a submission checked as the commands check it, and the settings it becomes.

A job is a text run of a prompt or an image run of an upload in ``DIR/<id>``, made by the
pipeline in a child process (:mod:`dreamlift.jobs.run_job`, started by :mod:`dreamlift.jobs.worker`).
:func:`parse_submission` turns the fields of a request (JSON values, or the strings of a form)
into a :class:`JobSpec` and resolves its settings exactly as ``dreamlift text|image`` would
(:func:`spec_config`: :func:`dreamlift.pipeline.settings.resolve_config`, then ``validate()``),
so a bad submission (an empty prompt, a word the toy prior does not know, an unknown prior or
setting, a value out of its range) is refused with a one-line :class:`DreamliftError` and never
queued. ``set`` entries are ``KEY=VALUE`` settings of a new run (a resumed run keeps its saved settings).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dreamlift.errors import DreamliftError
from dreamlift.training.config import MAX_STEPS
from dreamlift.training.seed import SEED_LIMIT

MAX_SETTINGS = 64
"""Most ``set`` entries of one submission (a run has about 120 settings; a job changes a few)."""
MAX_SETTING_CHARACTERS = 1000
"""Longest value of one ``set`` entry, as text."""
IMAGE_PRIORS = ("toy", "zero123")
FIELDS = ("prompt", "prior", "steps", "seed", "checkpoint_every", "export", "model", "set")
"""Fields a submission may have (besides the uploaded ``image`` of a form)."""
_SET_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass
class JobSpec:
    """One run to make, as the queue stores it."""

    kind: str
    """``"text"`` or ``"image"``: the command that runs it."""
    prompt: str | None = None
    """The prompt of a text run (white space normalised)."""
    image: str | None = None
    """Absolute path of an image run's stored upload."""
    upload_name: str | None = None
    """The uploaded file's own name (shown as the job's title)."""
    prior: str = "toy"
    """The command's ``--prior``."""
    model: str | None = None
    """The command's ``--model`` (real priors), if given."""
    steps: int | None = None
    """Training steps (None: the preset's)."""
    seed: int = 0
    checkpoint_every: int | None = None
    """Steps between checkpoints (None: the preset's)."""
    export: bool = True
    """Write mesh.glb and turntable.mp4 at the end (False: ``--no-export``)."""
    settings: dict[str, str] = field(default_factory=dict)
    """``--set KEY=VALUE`` overrides of a new run, values as text."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "JobSpec":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @property
    def title(self) -> str:
        return self.prompt if self.kind == "text" else f"image {self.upload_name or Path(self.image or '').name}"

    def argv(self, out: Path, resume: bool) -> list[str]:
        """The child's command line: this Python running :mod:`dreamlift.jobs.run_job` on this spec in ``out``."""
        args = [sys.executable, "-m", "dreamlift.jobs.run_job", "--out", str(out), "--spec", json.dumps(self.to_dict())]
        return args + (["--resume"] if resume else [])


def _whole(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DreamliftError(f"{name} must be a whole number, got {json.dumps(value)[:40]}")
    if not low <= value <= high:
        what = "a positive whole number" if low == 1 else f"a whole number from {low} to {high}"
        raise DreamliftError(f"{name} must be {what}, got {value}")
    return value


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "on", "1", "yes", "false", "off", "0", "no"):
        return value.strip().lower() in ("true", "on", "1", "yes")
    raise DreamliftError(f"{name} must be true or false, got {json.dumps(value)[:40]}")


def _settings(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise DreamliftError('set must be an object of settings, e.g. {"preview_every": 50}')
    if len(value) > MAX_SETTINGS:
        raise DreamliftError(f"set has {len(value)} settings; a job takes at most {MAX_SETTINGS}")
    settings = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _SET_KEY.match(key):
            raise DreamliftError(f"set: {json.dumps(key)[:60]} is not a setting name (dotted keys as in config.json)")
        settings[key] = item if isinstance(item, str) else json.dumps(item)
        if "\n" in settings[key] or "\x00" in settings[key]:
            raise DreamliftError(f"set: the value of {key} must be one line of text")
        if len(settings[key]) > MAX_SETTING_CHARACTERS:
            raise DreamliftError(f"set: the value of {key} has {len(settings[key])} characters; give at most {MAX_SETTING_CHARACTERS}")
    return settings


def _text_priors() -> tuple[str, ...]:
    from dreamlift.guidance.priors import prior_names

    return tuple(prior_names("text"))


def spec_config(spec: JobSpec):
    """The :class:`~dreamlift.training.config.TrainConfig` of a new job, resolved as its command would resolve it and
    validated with the same code (every setting's range included: ``set``'s ``steps`` too), so a bad key or value is
    refused now, not when the job runs."""
    from dreamlift.pipeline.settings import finish_prior, prior_and_model, resolve_config

    prior, model = prior_and_model(spec.kind, spec.prior, spec.model)
    no_export = False if not spec.export else None
    named = [
        ("prompt", "prompt", spec.prompt if spec.kind == "text" else None),
        ("model", "prior.model", model),
        ("steps", "steps", spec.steps),
        ("seed", "seed", spec.seed),
        ("checkpoint_every", "checkpoint_every", spec.checkpoint_every),
        ("export", "export_mesh", no_export),
        ("export", "export_video", no_export),
    ]
    settings = [f"{key}={value}" for key, value in spec.settings.items()]
    config = resolve_config(spec.kind, prior=prior, settings=settings, named=named)
    finish_prior(config, spec.kind, model)
    config.validate()
    return config


def parse_submission(fields: dict[str, Any], has_image: bool) -> JobSpec:
    """Check a submission's fields (``has_image``: an image was uploaded with them) and build its spec.

    The image itself is checked and stored by the caller, which then sets ``spec.image``.
    """
    from dreamlift.pipeline.settings import check_prompt

    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise DreamliftError(f"unknown field {unknown[0]!r}: a job takes {', '.join(FIELDS)} and an uploaded image")
    prompt = fields.get("prompt")
    if isinstance(prompt, str) and not prompt.strip() and has_image:
        prompt = None  # a form's empty prompt box beside an image
    if has_image and prompt is not None:
        raise DreamliftError("give a prompt or an image, not both")
    if not has_image and prompt is None:
        raise DreamliftError('give a prompt (e.g. "a red cube") or an image')
    kind = "image" if has_image else "text"
    spec = JobSpec(kind=kind)
    prior = fields.get("prior")
    if prior in (None, ""):
        prior = "toy"
    if not isinstance(prior, str):
        raise DreamliftError(f"prior must be a name, got {json.dumps(prior)[:40]}")
    model = fields.get("model")
    if model in (None, ""):
        model = None
    elif not isinstance(model, str) or "\n" in model:
        raise DreamliftError("model must be one line: a model folder, a file or a hub id")
    choices = _text_priors() if kind == "text" else IMAGE_PRIORS
    if prior not in choices:
        raise DreamliftError(f"unknown prior {prior!r} for {'a text' if kind == 'text' else 'an image'} job: choose one of {', '.join(choices)}")
    if kind == "image" and prior == "zero123" and not model:
        raise DreamliftError("the zero123 prior needs a model: a Zero-1-to-3 folder in the diffusers layout, or a hub id")
    if prior == "toy" and model:
        raise DreamliftError("model is for the real priors; the toy prior is bundled")
    spec.prior, spec.model = prior, model
    if kind == "text":
        if not isinstance(prompt, str):
            raise DreamliftError("prompt must be text")
        spec.prompt = check_prompt(prompt)
        if prior == "toy":
            from dreamlift.toyworld import parse_caption

            parse_caption(spec.prompt)  # an unknown word is refused here, as `dreamlift text` refuses it
    if fields.get("steps") not in (None, ""):
        spec.steps = _whole("steps", fields["steps"], 1, MAX_STEPS)
    if fields.get("seed") not in (None, ""):
        spec.seed = _whole("seed", fields["seed"], 0, SEED_LIMIT - 1)  # the range of --seed (check_seed)
    if fields.get("checkpoint_every") not in (None, ""):
        spec.checkpoint_every = _whole("checkpoint_every", fields["checkpoint_every"], 1, MAX_STEPS)
    if fields.get("export") not in (None, ""):
        spec.export = _flag("export", fields["export"])
    if fields.get("set") is not None:
        spec.settings = _settings(fields["set"])
    spec_config(spec)
    return spec
