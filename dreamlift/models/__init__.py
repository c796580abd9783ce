"""Models that ship inside the package: the learned toy-world priors, trained here by ``dreamlift train-prior``.

Each is named like a Hugging Face id (``dreamlift/toy-sd``) and found in this folder by that name,
never downloaded: ``--model dreamlift/toy-sd`` (what the ``toy-sd`` preset uses) loads
``dreamlift/models/toy-sd/``, a Stable Diffusion diffusers folder in fp16 safetensors;
``dreamlift/toy-zero123`` a Zero-1-to-3 folder (docs/learned-priors.md says how they were trained).
Standard library only.
"""

from __future__ import annotations

from pathlib import Path

from dreamlift.errors import DreamliftError

BUNDLED_MODELS = {
    "dreamlift/toy-sd": ("toy-sd", "dreamlift train-prior text --out DIR"),
    "dreamlift/toy-zero123": ("toy-zero123", "dreamlift train-prior view --out DIR"),
}
"""Bundled name -> (folder in this package, the command that trains such a model)."""


def bundled_root() -> Path:
    """The folder that holds the bundled models."""
    return Path(__file__).resolve().parent


def bundled_folder(name: str) -> Path | None:
    """The folder of the bundled model ``name``, None when ``name`` is not a bundled name; a one-line error when
    it is one but this install lacks it."""
    if name not in BUNDLED_MODELS:
        return None
    folder_name, command = BUNDLED_MODELS[name]
    folder = bundled_root() / folder_name
    if not (folder / "model_index.json").is_file():
        raise DreamliftError(
            f"{name} is not in this install of dreamlift (no {folder}): reinstall dreamlift, or train one with "
            f"`{command}` and pass --model DIR/model"
        )
    return folder
