"""Argument helpers shared by the commands."""

from __future__ import annotations

import argparse
import re

from dreamlift.errors import DreamliftError

MAX_PROMPT_CHARACTERS = 1000


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text[:40]!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {value}")
    return value


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text[:40]!r}")
    return value


def check_prompt(prompt: str) -> str:
    """Reject prompts no prior can use: empty, control characters, absurdly long."""
    if not prompt or not prompt.strip():
        raise DreamliftError('the prompt is empty: give a description such as "a red cube"')
    if len(prompt) > MAX_PROMPT_CHARACTERS:
        raise DreamliftError(f"the prompt has {len(prompt)} characters; keep it under {MAX_PROMPT_CHARACTERS}")
    if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", prompt):
        raise DreamliftError("the prompt contains control characters: give plain text")
    return " ".join(prompt.split())


def slug(text: str, limit: int = 40) -> str:
    """A folder name from a prompt: lower case, words joined by underscores."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return ("_".join(words) or "run")[:limit]
