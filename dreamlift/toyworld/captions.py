"""Captions of toy objects (TOYWORLD.md "Captions"): parsing, writing, view suffixes.

Grammar accepted by :func:`parse_caption` (case and surrounding white space ignored)::

    [lead-in] [a|an] <colour> <shape word> [[,] <front|side|back|overhead> view] [.]

with lead-ins "a photo of", "a 3D model of", "a render of". Decisions:

* The article may be missing, and a wrong one ("an red cube") is accepted: the
  object is unambiguous, and :func:`caption` always writes the correct one.
* The colour comes before the shape word ("a cube red" is an error that says so).
* The view suffix is accepted and ignored (the object does not depend on it); a
  comma anywhere else is an unknown word.
* Words are separated by spaces; anything else that is not in the vocabulary, a
  second colour or shape, or a missing colour or shape is a :class:`DreamliftError`
  naming the problem and listing the choices. Words are quoted at most 40 characters
  long, so an error message stays one short line whatever the input.
"""

from __future__ import annotations

import math
import unicodedata

from dreamlift.errors import DreamliftError
from dreamlift.toyworld.colors import COLORS
from dreamlift.toyworld.shapes import SHAPE_WORDS, ToyObject

MAX_CAPTION_CHARS = 200
"""Longest caption accepted (after stripping surrounding white space); the longest valid one is ~50."""

ARTICLES = ("a", "an")
LEAD_INS = ("a photo of", "a 3d model of", "a render of")
VIEWS = ("front", "side", "back", "overhead")
_QUOTE_CHARS = 40


def _quote(word: str) -> str:
    return repr(word if len(word) <= _QUOTE_CHARS else word[:_QUOTE_CHARS] + "...")


def _vocabulary() -> str:
    return (
        f"a caption is 'a|an <colour> <shape>', e.g. 'a red cube'; colours: {', '.join(COLORS)}; "
        f"shapes: {', '.join(SHAPE_WORDS)}; optional lead-ins: 'a photo of', 'a 3D model of', 'a render of'"
    )


def _check_text(text) -> str:
    if not isinstance(text, str):
        raise DreamliftError(f"a caption must be text, got {type(text).__name__}: {_vocabulary()}")
    stripped = text.strip()
    if not stripped:
        raise DreamliftError(f"the caption is empty: {_vocabulary()}")
    if len(stripped) > MAX_CAPTION_CHARS:
        raise DreamliftError(
            f"the caption is too long ({len(stripped)} characters, at most {MAX_CAPTION_CHARS}): name one object, e.g. 'a red cube'"
        )
    for position, char in enumerate(stripped):
        if unicodedata.category(char).startswith("C"):
            raise DreamliftError(
                f"the caption contains the control character U+{ord(char):04X} at position {position}: "
                "write it on one line with plain spaces"
            )
    return stripped


def _strip_view_suffix(words: list[str]) -> list[str]:
    """Drop a trailing ``[,] <view> view`` from the word list (commas are words of their own here)."""
    if len(words) >= 2 and words[-1] == "view" and words[-2] in VIEWS:
        words = words[:-2]
        if words and words[-1] == ",":
            words = words[:-1]
    return words


def parse_caption(text: str) -> ToyObject:
    """The object a caption names; a :class:`DreamliftError` if it names none (see the module docstring)."""
    stripped = _check_text(text)
    normal = stripped.lower()
    if normal.endswith("."):
        normal = normal[:-1].rstrip()
    words = _strip_view_suffix(normal.replace(",", " , ").split())
    joined = " ".join(words)
    for lead_in in LEAD_INS:
        if joined.startswith(lead_in + " "):
            words = words[len(lead_in.split()) :]
            break
    if words and words[0] in ARTICLES:
        words = words[1:]
    colors, shapes = [], []
    for word in words:
        if word in COLORS:
            colors.append(word)
        elif word in SHAPE_WORDS:
            shapes.append(word)
        elif word == ",":
            raise DreamliftError("unexpected comma in the caption: only a view suffix such as ', front view' may follow one")
        else:
            raise DreamliftError(f"unknown word {_quote(word)} in the caption: {_vocabulary()}")
    if len(colors) != 1:
        problem = "no colour" if not colors else "more than one colour (" + ", ".join(colors) + ")"
        raise DreamliftError(f"the caption has {problem}: name exactly one of {', '.join(COLORS)}, e.g. 'a red cube'")
    if len(shapes) != 1:
        problem = "no shape" if not shapes else "more than one shape (" + ", ".join(shapes) + ")"
        raise DreamliftError(f"the caption has {problem}: name exactly one of {', '.join(SHAPE_WORDS)}, e.g. 'a red cube'")
    if words.index(colors[0]) > words.index(shapes[0]):
        raise DreamliftError(f"put the colour before the shape: 'a {colors[0]} {shapes[0]}'")
    return ToyObject(SHAPE_WORDS[shapes[0]], colors[0])


def article(word: str) -> str:
    """``"an"`` before a vowel sound, else ``"a"`` (enough for this vocabulary)."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def caption(obj: ToyObject) -> str:
    """The canonical caption, ``"a red cube"``, ``"an orange torus"``: article, colour, shape name."""
    return f"{article(obj.color)} {obj.color} {obj.shape}"


def view_suffix(elevation: float, azimuth: float) -> str:
    """DreamFusion's view suffix: overhead above 60° elevation, else front/side/back by |azimuth| (45°, 135°)."""
    elevation, azimuth = float(elevation), float(azimuth)
    if not (math.isfinite(elevation) and math.isfinite(azimuth)):
        raise DreamliftError(f"view angles must be finite, got elevation {elevation}, azimuth {azimuth}")
    if elevation > 60.0:
        return ", overhead view"
    wrapped = abs((azimuth + 180.0) % 360.0 - 180.0)
    if wrapped < 45.0:
        return ", front view"
    if wrapped > 135.0:
        return ", back view"
    return ", side view"
