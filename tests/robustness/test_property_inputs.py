"""Property tests: random text and random bytes never make anything but a DreamliftError escape.

The caption parser and the prompt check take any string; the image loader takes any
file (random bytes, and random mutations of a valid PNG: flipped bytes, cut tails,
spliced chunks). Each either succeeds with a well-formed result or raises the
project's one error type with a one-line message.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from dreamlift.pipeline.settings import MAX_PROMPT_CHARACTERS, check_prompt
from dreamlift.errors import DreamliftError
from dreamlift.inputs.image import load_reference_image
from dreamlift.toyworld import parse_caption
from dreamlift.toyworld.colors import COLORS
from dreamlift.toyworld.shapes import SHAPE_WORDS

BOUNDED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# text: any code point (surrogates included: undecodable command-line bytes arrive as those),
# and strings built from the caption vocabulary, which reach the parser's deeper branches
VOCABULARY = [*COLORS, *SHAPE_WORDS, "a", "an", "photo", "of", "3d", "model", "render", ",", "front", "side", "back", "view", ".", "the"]
odd_characters = st.characters(categories=["Cc", "Cf", "Cs", "Co", "Zl", "Zp", "Zs", "Mn"])
any_text = st.text(alphabet=st.one_of(st.characters(), odd_characters), max_size=300)
word_soup = st.lists(st.sampled_from(VOCABULARY), max_size=8).map(" ".join)
captions = st.one_of(any_text, word_soup, st.builds(lambda a, b: a + b, word_soup, any_text))


def assert_says(error: DreamliftError, *subjects: str) -> None:
    """The message is short and names what it is about: one of ``subjects`` (its constructor makes it one line)."""
    message = str(error)
    assert message and len(message) < 1000, message
    assert any(subject in message for subject in subjects), (subjects, message)


@BOUNDED
@given(captions)
@example("a red cube")
@example("")
@example("\udcff")
@example("a red cube\x00")
@example("a " + "red " * 100 + "cube")
def test_parse_caption_accepts_or_raises_one_line(text):
    try:
        obj = parse_caption(text)
    except DreamliftError as error:
        assert_says(error, "caption", "put the colour before the shape: 'a ")
        return
    assert obj.color in COLORS and obj.shape in set(SHAPE_WORDS.values())


@BOUNDED
@given(st.one_of(captions, st.text(max_size=MAX_PROMPT_CHARACTERS + 50)))
@example("\x85a red cube")
@example("a red\tcube\n")
@example("a\udcffred cube")
@example(" " * 5)
def test_check_prompt_accepts_or_raises_one_line(text):
    try:
        cleaned = check_prompt(text)
    except DreamliftError as error:
        assert_says(error, "the prompt ")
        return
    # what passes is one line of plain text: no control characters, single spaces, not empty, not too long
    assert cleaned and cleaned == " ".join(cleaned.split()) and len(cleaned) <= MAX_PROMPT_CHARACTERS
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or 0xD800 <= ord(c) <= 0xDFFF for c in cleaned)
    cleaned.encode("utf-8")  # writable to config.json and the terminal


def valid_png() -> bytes:
    """A 24x20 RGBA PNG: a red square on a transparent background."""
    pixels = np.zeros((20, 24, 4), dtype=np.uint8)
    pixels[5:15, 6:18] = (220, 30, 30, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = valid_png()


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


VALID_DEPTHS = {0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]}
"""PNG colour type -> allowed bit depths."""


@st.composite
def mutated_pngs(draw) -> bytes:
    data = bytearray(PNG)

    def position(end: int) -> int:  # mostly past the signature and header, where decoders get further
        return draw(st.one_of(st.integers(0, end), st.integers(min(33, end), end)))

    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["flip", "cut", "insert", "header", "splice"]))
        if how == "flip" and data:
            data[position(len(data) - 1)] = draw(st.integers(0, 255))
        elif how == "cut":
            del data[position(len(data)) :]
        elif how == "insert":
            at = position(len(data))
            data[at:at] = draw(st.binary(max_size=32))
        elif how == "header" and len(data) >= 33:  # a valid-CRC IHDR with a random size and format
            width, height = draw(st.integers(0, 70000)), draw(st.integers(0, 70000))
            colour = draw(st.sampled_from(sorted(VALID_DEPTHS) + [1, 7]))
            depth = draw(st.sampled_from(VALID_DEPTHS.get(colour, [8]) + [3]))
            body = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, draw(st.integers(0, 1)))
            data[8:33] = chunk(b"IHDR", body)
        elif how == "splice" and len(data) >= 33:  # a well-formed chunk of any kind, with random content
            kind = draw(st.sampled_from([b"IDAT", b"PLTE", b"tRNS", b"gAMA", b"iCCP", b"eXIf", b"acTL", b"IEND", b"zzZz"]))
            data[33:33] = chunk(kind, draw(st.binary(max_size=64)))
    return bytes(data)


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "input.png"


def load_or_one_line_error(path) -> None:
    try:
        image = load_reference_image(path, size=32)
    except DreamliftError as error:
        assert_says(error, str(path))  # every loader error names the file
        return
    assert tuple(image.rgba.shape) == (32, 32, 4)
    assert bool(((image.rgba >= 0) & (image.rgba <= 1)).all())


@BOUNDED
@given(st.binary(max_size=2048))
@example(b"")
@example(PNG[:8])
@example(b"GIF89a" + bytes(64))
@example(b"\xff\xd8\xff" + bytes(64))
def test_random_bytes_load_or_fail_with_one_line(image_file, data):
    image_file.write_bytes(data)
    load_or_one_line_error(image_file)


@BOUNDED
@given(mutated_pngs())
@example(PNG)
def test_mutated_pngs_load_or_fail_with_one_line(image_file, data):
    image_file.write_bytes(data)
    load_or_one_line_error(image_file)


def test_the_unmutated_png_loads():
    """The mutations start from a file that loads, so a failure is the mutation's doing."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ok.png"
        path.write_bytes(PNG)
        image = load_reference_image(path, size=32)
    assert image.matting == "alpha" and float(image.mask.max()) == pytest.approx(1.0)
