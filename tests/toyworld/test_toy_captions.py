"""Captions: every accepted form, canonical captions, view suffixes, and every error."""

import pytest

from _helpers import error_message
from dreamlift.toyworld import COLORS, SHAPE_WORDS, ToyObject, all_objects, caption, parse_caption, view_suffix


@pytest.mark.parametrize(
    "text, shape, color",
    [
        ("a red cube", "cube", "red"),
        ("an orange donut", "torus", "orange"),
        ("a pink ball", "sphere", "pink"),
        ("A Blue BLOCK", "cube", "blue"),
        ("  \t a green tree.\n", "tree", "green"),
        ("a photo of a yellow box", "cube", "yellow"),
        ("A 3D model of a cyan ring.", "torus", "cyan"),
        ("a render of an orange mushroom", "mushroom", "orange"),
        ("a purple house, front view", "house", "purple"),
        ("a purple chair , back view.", "chair", "purple"),
        ("a photo of a red snowman, overhead view", "snowman", "red"),
        ("a red table side view", "table", "red"),
        ("an red cube", "cube", "red"),  # a wrong article is tolerated
        ("a orange cone", "cone", "orange"),
        ("red pyramid", "pyramid", "red"),  # so is a missing one
        ("a   green    cylinder", "cylinder", "green"),
    ],
)
def test_accepted_forms(text, shape, color):
    assert parse_caption(text) == ToyObject(shape, color)


def test_every_colour_and_shape_word():
    for word, shape in SHAPE_WORDS.items():
        for color in COLORS:
            assert parse_caption(f"a {color} {word}") == ToyObject(shape, color)


def test_canonical_captions_round_trip():
    assert caption(ToyObject("cube", "red")) == "a red cube"
    assert caption(ToyObject("torus", "orange")) == "an orange torus"
    assert caption(ToyObject("sphere", "yellow")) == "a yellow sphere"
    for obj in all_objects():
        text = caption(obj)
        assert parse_caption(text) == obj
        assert parse_caption("a photo of " + text + view_suffix(70, 0) + ".") == obj
        assert text.split()[0] == ("an" if obj.color == "orange" else "a")


@pytest.mark.parametrize(
    "elevation, azimuth, suffix",
    [
        (0, 0, ", front view"),
        (30, 44.9, ", front view"),
        (30, -44.9, ", front view"),
        (30, 45, ", side view"),
        (0, 90, ", side view"),
        (0, -135, ", side view"),
        (0, 135.1, ", back view"),
        (0, 180, ", back view"),
        (0, -180, ", back view"),
        (0, 359, ", front view"),  # wraps to -1
        (0, 200, ", back view"),
        (60, 0, ", front view"),
        (60.1, 180, ", overhead view"),
        (90, 90, ", overhead view"),
        (-10, 170, ", back view"),
    ],
)
def test_view_suffix(elevation, azimuth, suffix):
    assert view_suffix(elevation, azimuth) == suffix


def _error(text) -> str:
    message = error_message(lambda: parse_caption(text))
    assert len(message) < 400, message
    return message


def test_unknown_word_names_it_and_lists_the_vocabulary():
    message = _error("a red dodecahedron")
    assert "unknown word 'dodecahedron'" in message
    for word in list(COLORS) + list(SHAPE_WORDS):
        assert word in message
    assert "a photo of" in message
    assert "unknown word 'the'" in _error("the red cube")
    assert "unknown word 'cube!'" in _error("a red cube!")
    assert "unknown word 'shiny'" in _error("a shiny red cube")
    assert "unknown word 'photo'" in _error("a photo a red cube")


def test_long_unknown_word_is_truncated():
    message = _error("a red " + "x" * 150)
    assert "'" + "x" * 40 + "...'" in message and "x" * 41 not in message


def test_missing_or_repeated_colour_and_shape():
    message = _error("a cube")
    assert "no colour" in message and "red, orange, yellow, green, cyan, blue, purple, pink" in message
    message = _error("a photo of a red")
    assert "no shape" in message and "sphere, ball, cube" in message and "mushroom" in message
    assert "more than one colour (red, blue)" in _error("a red blue cube")
    assert "more than one shape (cube, ball)" in _error("a red cube ball")
    assert "put the colour before the shape: 'a red cube'" in _error("a cube red")
    assert "unexpected comma" in _error("a red, cube")


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "."])
def test_empty(text):
    message = _error(text)
    assert ("empty" in message or "no colour" in message) and "red cube" in message


def test_too_long_prompt_is_not_echoed():
    message = _error("a red cube " * 10_000)
    assert "too long" in message and "110000" not in message and "109999" in message and len(message) < 150
    assert "too long" in _error("x" * 100_000)


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\u200b", "\n"])
def test_control_characters(char):
    message = _error(f"a red{char}cube")
    assert f"U+{ord(char):04X}" in message and "control character" in message


def test_not_text():
    assert "must be text" in _error(None)
    assert "must be text" in _error(b"a red cube")
