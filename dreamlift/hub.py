"""Loading a model from a local folder or the Hugging Face hub, for every part that loads one (the priors,
the depth estimator): the offline switch and the one-line errors of a failed load.

Nothing here downloads by itself: a front end turns the offline mode off only when the user allows the
network (``allow_network``).
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import Iterator

import torch

from dreamlift.errors import DreamliftError

INSTALL_HINT = "pip install 'dreamlift[diffusers]'"


@contextlib.contextmanager
def hub_offline(offline: bool) -> Iterator[None]:
    """With ``offline``, Hugging Face offline mode for the duration of the block; the previous state after.

    Sets ``HF_HUB_OFFLINE=1`` and, as huggingface_hub reads that variable only when it is
    imported, its ``constants.HF_HUB_OFFLINE`` too; both are restored on leaving, also after
    an exception. Without ``offline`` nothing changes (a user's own ``HF_HUB_OFFLINE=1`` holds).
    """
    if not offline:
        yield
        return
    previous_variable = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        from huggingface_hub import constants
    except ImportError:
        constants = None
    previous_constant = getattr(constants, "HF_HUB_OFFLINE", None)
    if constants is not None:
        constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        if previous_variable is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous_variable
        if constants is not None:
            constants.HF_HUB_OFFLINE = previous_constant


@contextlib.contextmanager
def progress_bars_off(active: bool) -> Iterator[None]:
    """With ``active``, transformers' and diffusers' own progress bars ("Loading weights") off for the duration of
    the block, as they were after (a ``--quiet`` run prints nothing of its own either). Imports both libraries;
    without ``active`` (or without them installed) nothing changes."""
    if not active:
        yield
        return
    try:
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging
    except ImportError:
        yield
        return
    shown = [(lib, lib.is_progress_bar_enabled()) for lib in (diffusers_logging, transformers_logging)]
    for lib, _ in shown:
        lib.disable_progress_bar()
    try:
        yield
    finally:
        for lib, enabled in shown:
            if enabled:
                lib.enable_progress_bar()


FULL_SIZE_PARAMETERS = 100_000_000
"""A UNet above this many parameters is a full-size model (SD-1.5's has 860M): slow on a CPU."""

MAX_UNET_FILES = 64
"""At most this many safetensors files are read in a ``unet/`` folder when counting its parameters."""


def folder_unet_parameters(model: str) -> int | None:
    """Parameters of the UNet of the local diffusers folder ``model`` (``unet/*.safetensors``), read from the files'
    headers without loading a weight; None when ``model`` is no such folder or its files cannot be read."""
    from pathlib import Path

    from safetensors import safe_open

    files = sorted((Path(model) / "unet").glob("*.safetensors")) if model else []
    if not files or len(files) > MAX_UNET_FILES:
        return None
    count = 0
    try:
        for path in files:
            with safe_open(str(path), framework="pt") as weights:
                for name in weights.keys():
                    count += math.prod(weights.get_slice(name).get_shape())
    except (OSError, ValueError, RuntimeError):  # a damaged file: the loader will say so
        return None
    return count


def gated_message(model: str) -> str:
    return (
        f"{model} is a gated model: accept its licence at https://huggingface.co/{model} "
        f"and log in (hf auth login) or set HF_TOKEN, then run again"
    )


def _unreadable_file_errors() -> tuple[type[BaseException], ...]:
    """What reading a damaged or refused weight file raises: safetensors' own error, and the UnpicklingError of
    ``torch.load(weights_only=True)`` refusing a pickle (taken from torch: this package imports no pickle module)."""
    refused = torch.serialization.pickle.UnpicklingError
    try:
        from safetensors import SafetensorError
    except ImportError:
        return (refused,)
    return (refused, SafetensorError)


@contextlib.contextmanager
def loading_errors(model: str, prior: str, part: str | None = None) -> Iterator[None]:
    """Turn hub and loading failures into one-line DreamliftErrors (naming ``part``/ of the model when given)."""
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    what = f"{part}/ of {prior} model {model}" if part else f"{prior} from {model}"
    try:
        yield
    except DreamliftError:
        raise
    except GatedRepoError:
        raise DreamliftError(gated_message(model)) from None
    except RepositoryNotFoundError:
        raise DreamliftError(f"no model '{model}' on the Hugging Face hub (or it is private: log in with hf auth login)") from None
    except ImportError as error:
        raise DreamliftError(f"loading {prior} needs another package ({error}): {INSTALL_HINT}") from None
    except (OSError, ValueError, KeyError, RuntimeError, *_unreadable_file_errors()) as error:
        text = " ".join(str(error).split())
        if "gated" in text.lower():
            raise DreamliftError(gated_message(model)) from None
        raise DreamliftError(f"could not load {what}: {type(error).__name__}: {text[:300]}") from error
