"""The catalogue of bad inputs (docs/bad-inputs.md), one test per row.

Every row goes through the command line (``dreamlift.cli.main`` in this process, or a
real process where the process matters) and asserts: exit status 2, exactly one
stderr line starting ``error: `` with the row's words, no traceback, and that the
output folder is unchanged (byte for byte) or absent. Rows that do not hold yet are
marked ``xfail(strict=True)`` with the fix they need, so they fail loudly once fixed (none are open now).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from _helpers import error_message
from dreamlift.errors import DreamliftError
from dreamlift.inputs.image import load_reference_image

RENDER = ("--elevation", "15", "--azimuth", "30", "--size", "16")
SEED_WORDS = "use a whole number from 0 to 18446744073709551615 (2**64 - 1)"


# ----------------------------------------------------------------------------- a real run to damage


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    """A finished 4-step toy run made by the command line (one checkpoint, step 4)."""
    from dreamlift.cli import main

    out = tmp_path_factory.mktemp("catalogue") / "red_cube"
    assert main(["text", "a red cube", "--out", str(out), "--steps", "4", "--no-export", "--quiet", "--refine", "off"]) == 0
    return out


@pytest.fixture
def run_copy(good_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(good_run, copy)
    return copy


def edit_config(folder: Path, change) -> None:
    record = json.loads((folder / "config.json").read_text())
    change(record)
    (folder / "config.json").write_text(json.dumps(record))


# ----------------------------------------------------------------------------- prompts


@pytest.mark.parametrize(
    "prompt, words",
    [
        ("", ["prompt is empty"]),
        ("   \t ", ["prompt is empty"]),
        ("x" * 100_000, ["100000 characters", "1000"]),
        ("a red\x07 cube", ["control characters"]),
        ("a red\x1b[31m cube", ["control characters"]),
        ("a red\x85cube", ["control characters"]),
        ("a red spaceship", ["unknown word 'spaceship'", "colours:"]),
        ("a cube red", ["colour before the shape"]),
        ("a red blue cube", ["more than one colour"]),
    ],
    ids=["empty", "spaces", "100k-chars", "bell", "escape", "c1-control", "unknown-word", "word-order", "two-colours"],
)
def test_bad_prompt(cli, tmp_path, prompt, words):
    out = tmp_path / "run"
    cli("text", prompt, "--out", out, "--steps", "5", unchanged=tmp_path).one_line_error(*words)


def test_prompt_with_undecodable_bytes_in_a_real_process(cli_process, tmp_path):
    """Bytes that are not UTF-8 reach Python as lone surrogates; they are refused, not written to config.json."""
    cli_process("text", b"a red \xff cube", "--out", tmp_path / "run", unchanged=tmp_path).one_line_error("not valid UTF-8")


# ----------------------------------------------------------------------------- images


def png_bytes(array: np.ndarray) -> bytes:
    """PNG of ``array``: uint8 (H, W[, 3]) is 8-bit gray or RGB, uint16 (H, W) is 16-bit gray."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def red_square(size: int = 48, dtype=np.uint8, peak: int = 255) -> np.ndarray:
    image = np.full((size, size, 3), peak, dtype=dtype)
    image[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = (peak * 0.85, peak * 0.1, peak * 0.1)
    return image


def zero_png(path: Path, width: int, height: int, bit_depth: int, colour_type: int) -> Path:
    """A complete, valid PNG of zero pixels, compressed as it streams: tiny on disk, huge decoded."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    row = b"\x00" * (1 + (width * channels * bit_depth + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def make_missing(folder: Path) -> Path:
    return folder / "missing.png"


def make_directory(folder: Path) -> Path:
    (folder / "photos").mkdir()
    return folder / "photos"


def make_not_an_image(folder: Path) -> Path:
    (folder / "notes.png").write_text("this is a shopping list, not a picture\n")
    return folder / "notes.png"


def make_empty_file(folder: Path) -> Path:
    (folder / "empty.png").write_bytes(b"")
    return folder / "empty.png"


def make_truncated(folder: Path) -> Path:
    data = png_bytes((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8))
    (folder / "cut.png").write_bytes(data[: len(data) // 2])
    return folder / "cut.png"


def make_one_pixel(folder: Path) -> Path:
    Image.new("RGB", (1, 1), "red").save(folder / "dot.png")
    return folder / "dot.png"


def make_huge(folder: Path) -> Path:
    return zero_png(folder / "huge.png", 20000, 20000, 1, 0)  # 400 Mpx, 0.1 MB on disk


def make_bomb(folder: Path) -> Path:
    return zero_png(folder / "bomb.png", 9000, 9000, 8, 0)  # 81 Mpx (under Pillow's own limit), 80 kB on disk


def make_transparent(folder: Path) -> Path:
    Image.new("RGBA", (64, 64), (200, 30, 30, 0)).save(folder / "clear.png")
    return folder / "clear.png"


IMAGE_ROWS = [
    (make_missing, ["does not exist"]),
    (make_directory, ["is a folder, not an image"]),
    (make_not_an_image, ["is not an image that can be read"]),
    (make_empty_file, ["is not an image that can be read"]),
    (make_truncated, ["truncated or corrupt"]),
    (make_one_pixel, ["only 1x1 pixels", "at least 8x8"]),
    (make_huge, ["enormous", "downscale", "8192x8192"]),
    (make_bomb, ["9000x9000", "over the limit", "downscale"]),
    (make_transparent, ["fully transparent"]),
]
IMAGE_IDS = ["missing", "directory", "not-an-image", "empty-file", "truncated", "1x1", "20000x20000", "bomb", "transparent"]


@pytest.mark.parametrize("make, words", IMAGE_ROWS, ids=IMAGE_IDS)
def test_bad_image(cli, tmp_path, make, words):
    path = make(tmp_path)
    out = tmp_path / "run"
    cli("image", path, "--out", out, "--steps", "2", "--no-export", "--quiet", unchanged=tmp_path).one_line_error(*words)


@pytest.mark.parametrize("make, words", IMAGE_ROWS, ids=IMAGE_IDS)
def test_bad_image_through_the_loader(tmp_path, make, words):
    """The same rows at the loader, which every image input (one image, a view table) goes through."""
    path = make(tmp_path)
    error_message(lambda: load_reference_image(path), str(path), *words)


def test_the_bomb_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    """No pixel of the 81 Mpx image is decoded: ImageFile.load is never reached."""
    from PIL import ImageFile

    def boom(*_):
        raise AssertionError("the bomb was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", boom)
    with pytest.raises(DreamliftError, match="over the limit"):
        load_reference_image(make_bomb(tmp_path))


@pytest.mark.parametrize(
    "name, data",
    [
        ("gray.png", lambda: png_bytes(red_square()[..., 0])),
        ("gray16.png", lambda: png_bytes(red_square(dtype=np.uint16, peak=65535)[..., 0])),
    ],
    ids=["grayscale", "16-bit"],
)
def test_grayscale_and_16_bit_images_are_accepted(tmp_path, name, data):
    """Not errors: grayscale and 16-bit images load as RGB, the dark square found by the border matte."""
    path = tmp_path / name
    path.write_bytes(data())
    image = load_reference_image(path, size=32)
    assert image.matting == "border"
    assert float(image.mask.mean()) > 0.3  # the square fills 80% of the side: 0.64 of the area
    rgb = image.rgba[..., :3][image.mask > 0.99]
    assert torch.allclose(rgb[:, 0], rgb[:, 1]) and torch.allclose(rgb[:, 1], rgb[:, 2])  # gray stays gray


# ----------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "args, words",
    [
        (("text", "a red cube", "--steps", "0"), ["--steps", "positive"]),
        (("text", "a red cube", "--steps", "-1"), ["--steps", "positive"]),
        (("text", "a red cube", "--steps", "ten"), ["--steps", "whole number"]),
        (("text", "a red cube", "--seed", "1.5"), ["--seed", "expected a whole number from 0 to 18446744073709551615", "'1.5'"]),
        (("text", "a red cube", "--seed", str(2**70)), ["--seed", "seed 1180591620717411303424 is out of range", SEED_WORDS]),
        (("text", "a red cube", "--seed", str(2**64)), ["seed 18446744073709551616 is out of range", SEED_WORDS]),
        (("text", "a red cube", "--seed", "-1"), ["seed -1 is out of range", SEED_WORDS]),
        (("text", "a red cube", "--seed", "9" * 5000), ["a 5000-digit seed is out of range", SEED_WORDS]),
        (("text", "a red cube", "--prior", "dall-e"), ["dall-e", "prior"]),
        (("text", "a red cube", "--guidance-scale", "nan"), ["--guidance-scale", "finite"]),
    ],
    ids=["steps-0", "steps-negative", "steps-word", "seed-float", "seed-2**70", "seed-2**64", "seed-negative", "seed-5000-digits", "unknown-prior", "nan-scale"],
)
def test_bad_text_settings(cli, tmp_path, args, words):
    out = tmp_path / "run"
    cli(*args, "--out", out, unchanged=tmp_path).one_line_error(*words)


@pytest.mark.parametrize(
    "args, words",
    [
        (("--prior", "dall-e"), ["unknown prior 'dall-e'", "toy or zero123"]),
        (("--prior", "zero123"), ["--prior zero123 needs --model"]),
        (("--elevation", "100"), ["--elevation 100 is outside [-90, 90]"]),
        (("--steps", "0"), ["--steps", "positive"]),
        (("--matting", "magic"), ["--matting", "invalid choice"]),
        (("--seed", str(2**70)), ["--seed", "seed 1180591620717411303424 is out of range", SEED_WORDS]),
        (("--prior-text", "toy"), ["--prior-text needs --prompt"]),
        (("--prompt", "a red spaceship"), ["unknown word 'spaceship' in the caption"]),
        (("--prior-text", "dall-e", "--prompt", "a red cube"), ["--prior-text", "invalid choice"]),
    ],
    ids=["unknown-prior", "zero123-without-model", "elevation-100", "steps-0", "unknown-matting", "seed-2**70", "prior-text-without-prompt", "prompt-unknown-word", "unknown-text-prior"],
)
def test_bad_image_settings(cli, tmp_path, args, words):
    Image.fromarray(red_square()).save(tmp_path / "square.png")
    out = tmp_path / "run"
    cli("image", tmp_path / "square.png", *args, "--out", out, unchanged=tmp_path).one_line_error(*words)


def test_view_table_whose_images_disagree_in_size(cli, tmp_path):
    Image.fromarray(red_square()).save(tmp_path / "front.png")
    Image.fromarray(np.pad(red_square(), ((0, 8), (0, 0), (0, 0)), constant_values=255)).save(tmp_path / "back.png")
    (tmp_path / "views.csv").write_text("path, elevation, azimuth\nfront.png, 0, 0\nback.png, 0, 180\n")
    cli("image", "--views", tmp_path / "views.csv", "--out", tmp_path / "run", unchanged=tmp_path).one_line_error("line 3", "same size")


@pytest.mark.parametrize(
    "shape, words", [((7, 9), ["depth map", "9x7 pixels", "give a depth map of the image's own size"]), ((3, 4, 5), ["has shape (3, 4, 5)"])], ids=["wrong-size", "not-2d"]
)
def test_bad_depth_map(cli, tmp_path, shape, words):
    Image.fromarray(red_square()).save(tmp_path / "square.png")
    np.save(tmp_path / "depth.npy", np.random.default_rng(0).random(shape))
    cli("image", tmp_path / "square.png", "--depth", tmp_path / "depth.npy", "--out", tmp_path / "run", unchanged=tmp_path).one_line_error(*words)


@pytest.mark.parametrize(
    "state, words",
    [
        ({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(8, 4, 3, 3)}, ["not a Zero-1-to-3 checkpoint", "no cc_projection", "4 channels"]),
        ({"encoder.conv_in.weight": torch.zeros(8, 3, 3, 3)}, ["not a Zero-1-to-3 checkpoint", "a VAE"]),
    ],
    ids=["stable-diffusion", "vae"],
)
def test_zero123_checkpoint_of_another_model(cli, tmp_path, state, words):
    Image.fromarray(red_square()).save(tmp_path / "square.png")
    torch.save({"state_dict": state}, tmp_path / "other.ckpt")
    args = ("--prior", "zero123", "--model", tmp_path / "other.ckpt", "--device", "cpu", "--out", tmp_path / "run")
    cli("image", tmp_path / "square.png", *args, unchanged=tmp_path).one_line_error(*words)
    cli("convert", tmp_path / "other.ckpt", "--out", tmp_path / "converted", unchanged=tmp_path).one_line_error(*words)


@pytest.mark.parametrize("device", ["nonsense", "cuda:99"])
def test_unknown_device_leaves_no_folder(cli, tmp_path, device):
    out = tmp_path / "run"
    cli("text", "a red cube", "--device", device, "--out", out, "--steps", "2", unchanged=tmp_path).one_line_error("device")


@pytest.mark.parametrize(
    "args, words",
    [
        (("--size", "0"), ["--size", "positive"]),
        (("--size", "4096"), ["--size 4096 is too large", "2048"]),
        (("--radius", "0.5"), ["--radius", "larger than 1"]),
        (("--fovy", "180"), ["--fovy", "between 0 and 180"]),
        (("--elevation", "inf"), ["--elevation", "finite"]),
        (("--radius", "1e308"), ["--radius 1e+308 is too far: use at most 1000"]),
        (("--azimuth", "1e308"), ["--azimuth 1e+308 is outside [-360, 360] degrees"]),
        (("--elevation", "100"), ["--elevation 100 is outside [-90, 90] degrees"]),
    ],
    ids=["size-0", "size-4096", "radius-inside", "fovy-180", "elevation-inf", "radius-1e308", "azimuth-1e308", "elevation-100"],
)
def test_bad_render_settings(cli, good_run, tmp_path, snapshot, args, words):
    before = snapshot(good_run)
    options = dict(zip(RENDER[::2], RENDER[1::2]))
    options.update(dict(zip(args[::2], args[1::2])))
    flat = [x for pair in options.items() for x in pair]
    cli("render", good_run, *flat, "--out", tmp_path / "view.png", unchanged=tmp_path).one_line_error(*words)
    assert snapshot(good_run) == before


def test_eval_size_too_large(cli, good_run):
    cli("eval", good_run, "--truth", "a red cube", "--size", "100000", unchanged=good_run).one_line_error("--size 100000 is too large", "256")


def test_eval_truth_outside_the_toy_world(cli, good_run):
    cli("eval", good_run, "--truth", "a golden retriever").one_line_error("unknown word 'golden'")


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda c: c["cameras"].update(elevation=[60.0, -10.0]), ["camera elevation range [60.0, -10.0] is invalid", "min <= max"]),
        (lambda c: c["cameras"].update(radius=[4.0, 2.0]), ["camera radius range [4.0, 2.0]"]),
        (lambda c: c["prior"]["timesteps"].update(t_min=0.9), ["t_min 0.9 is above t_max"]),
        (lambda c: c.update(size=48), ["toy prior takes 32x32"]),
        (lambda c: c.update(steps=-3), ["--steps must be a positive number", "-3"]),
        (lambda c: c.update(seed=2**70), ["seed 1180591620717411303424 is out of range", SEED_WORDS]),
        (lambda c: c.update(seed=-5), ["seed -5 is out of range", SEED_WORDS]),
    ],
    ids=["elevation-min>max", "radius-min>max", "t_min>t_max", "size-not-allowed", "negative-steps", "seed-2**70", "seed-negative"],
)
def test_ranges_and_sizes_from_a_hand_edited_config(cli, run_copy, change, words):
    """The CLI has no flags for ranges or the render size: the way in is a hand-edited config.json and --resume."""
    edit_config(run_copy, lambda record: change(record["config"]))
    cli("text", "a red cube", "--out", run_copy, "--resume", "--steps", "8", unchanged=run_copy).one_line_error(*words)


def test_the_seed_range_is_exactly_what_torch_takes():
    """0 and 2**64 - 1 pass --seed and validate() and seed torch; one past either end is refused by torch too
    (below 0, torch would wrap -1 to 2**64 - 1: dreamlift refuses it, so a run has one spelling of its seed)."""
    from dreamlift.cli import build_parser
    from dreamlift.training.config import TrainConfig
    from dreamlift.training.seed import SEED_LIMIT

    assert SEED_LIMIT == 2**64
    for seed in (0, 2**64 - 1):
        assert build_parser().parse_args(["text", "a red cube", "--seed", str(seed)]).seed == seed
        TrainConfig(seed=seed).validate()
        assert torch.Generator().manual_seed(seed).initial_seed() == seed
    assert torch.Generator().manual_seed(-1).initial_seed() == 2**64 - 1
    for seed in (2**64, -(2**63) - 1):
        with pytest.raises((RuntimeError, ValueError)):
            torch.Generator().manual_seed(seed)
        with pytest.raises(DreamliftError, match="out of range"):
            TrainConfig(seed=seed).validate()


def test_ranges_are_checked_by_validate_directly():
    from dreamlift.guidance.base import TimestepSchedule
    from dreamlift.rendering.cameras import CameraRanges

    with pytest.raises(DreamliftError, match="min <= max"):
        CameraRanges(azimuth=(90.0, -90.0)).validate()
    with pytest.raises(DreamliftError, match="t_min"):
        TimestepSchedule(0.5, 0.4, 0.4, 1.0).validate()
    CameraRanges().validate()
    TimestepSchedule().validate()


# ----------------------------------------------------------------------------- folders


def test_output_path_is_a_file(cli, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    cli("text", "a red cube", "--out", target, "--steps", "5", unchanged=tmp_path).one_line_error("is a file, not a folder")


def test_output_folder_below_a_file(cli, tmp_path):
    (tmp_path / "blocker").write_text("")
    out = tmp_path / "blocker" / "run"
    cli("text", "a red cube", "--out", out, "--steps", "5", unchanged=tmp_path).one_line_error("cannot write to output folder", "is a file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_output_folder_without_permission(cli, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        cli("text", "a red cube", "--out", locked / "run", "--steps", "5", unchanged=tmp_path).one_line_error(
            "cannot write to output folder", "ermission denied"
        )
    finally:
        locked.chmod(0o755)


def test_existing_run_without_resume(cli, run_copy):
    cli("text", "a red cube", "--out", run_copy, "--steps", "5", unchanged=run_copy).one_line_error("already holds a run", "--resume")


def test_resume_of_nothing(cli, tmp_path):
    cli("text", "a red cube", "--out", tmp_path / "run", "--resume", unchanged=tmp_path).one_line_error("nothing to resume", "without --resume")


def test_resume_with_another_prompt(cli, run_copy):
    cli("text", "a blue ball", "--out", run_copy, "--resume", unchanged=run_copy).one_line_error("is a run of 'a red cube'")


def test_resume_of_an_image_run_with_dreamlift_text(cli, run_copy):
    edit_config(run_copy, lambda record: record.update(kind="image"))
    cli("text", "a red cube", "--out", run_copy, "--resume", unchanged=run_copy).one_line_error("holds a 'image' run, not a 'text' run", "dreamlift image")


def test_resume_of_a_text_run_with_dreamlift_image(cli, run_copy):
    cli("image", "--out", run_copy, "--resume", unchanged=run_copy).one_line_error("holds a 'text' run, not a 'image' run", "dreamlift text")


def test_resume_of_an_incompatible_format(cli, run_copy):
    edit_config(run_copy, lambda record: record.update(format=99, dreamlift_version="9.0"))
    cli("text", "a red cube", "--out", run_copy, "--resume", unchanged=run_copy).one_line_error("run format 99", "dreamlift 9.0", "reads formats 1 and 2")


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda p: p.write_bytes(p.read_bytes()[: 200]), ["config.json is unreadable (JSONDecodeError)", "damaged"]),
        (lambda p: p.write_bytes(b"\xff\xfe" + p.read_bytes()), ["config.json is unreadable", "damaged"]),
        (lambda p: p.write_text("[1, 2, 3]"), ["is not a dreamlift run record"]),
        (lambda p: p.write_text(json.dumps({"kind": "text", "format": 1, "config": 7})), ["is not a dreamlift run record"]),
        (lambda p: p.write_text(json.dumps({"kind": "poem", "format": 1, "config": {}})), ["no known kind of run ('poem')"]),
        (lambda p: edit_config(p.parent, lambda r: r["config"].update(sparkle=1)), ["damaged (unknown setting 'sparkle'", "start a new run"]),
        (lambda p: edit_config(p.parent, lambda r: r["config"].update(steps="many")), ["damaged (steps takes whole number, got 'many')"]),
        (lambda p: edit_config(p.parent, lambda r: r["config"].update(background="plaid")), ["damaged (background takes fixed|random|learned, got 'plaid')"]),
        (lambda p: edit_config(p.parent, lambda r: r["config"].update(cameras=[1, 2])), ["damaged"]),
    ],
    ids=["truncated", "not-utf8", "a-list", "config-not-object", "unknown-kind", "unknown-key", "wrong-type", "bad-enum", "wrong-shape"],
)
def test_resume_with_a_damaged_config(cli, run_copy, damage, words):
    damage(run_copy / "config.json")
    cli("text", "a red cube", "--out", run_copy, "--resume", unchanged=run_copy).one_line_error(*words)


@pytest.mark.parametrize("command", ["render", "eval"])
def test_render_and_eval_of_a_damaged_config(cli, run_copy, tmp_path, command):
    edit_config(run_copy, lambda r: r["config"]["nerf"].update(levels="many"))
    args = (*RENDER, "--out", tmp_path / "v.png") if command == "render" else ("--truth", "a red cube")
    cli(command, run_copy, *args, unchanged=run_copy).one_line_error("config.json is damaged")


def test_render_of_a_folder_that_is_not_a_run(cli, tmp_path):
    (tmp_path / "holiday").mkdir()
    cli("render", tmp_path / "holiday", *RENDER, "--out", tmp_path / "v.png", unchanged=tmp_path).one_line_error("not a dreamlift run folder")


def test_render_out_below_a_file(cli, good_run, tmp_path):
    (tmp_path / "blocker").write_text("")
    cli("render", good_run, *RENDER, "--out", tmp_path / "blocker" / "v.png", unchanged=tmp_path).one_line_error("cannot write --out", "is a file")


def test_render_out_is_a_folder(cli, good_run, tmp_path):
    (tmp_path / "v.png").mkdir()
    cli("render", good_run, *RENDER, "--out", tmp_path / "v.png", unchanged=tmp_path).one_line_error("is a folder")


def test_run_without_a_checkpoint(cli, run_copy, tmp_path):
    shutil.rmtree(run_copy / "checkpoints")
    cli("render", run_copy, *RENDER, "--out", tmp_path / "v.png", unchanged=tmp_path).one_line_error("no usable checkpoint yet")


# ----------------------------------------------------------------------------- weights (checkpoints and models)


def checkpoint_files(folder: Path) -> tuple[Path, Path]:
    record = sorted((folder / "checkpoints").glob("step-*.json"))[-1]
    return record, record.with_suffix(".safetensors")


def rewrite_checkpoint(folder: Path, edit) -> None:
    """Replace the newest checkpoint's tensors by ``edit(tensors)``, with a record that still vouches for them."""
    import hashlib

    from safetensors.torch import load_file, save

    record, tensors = checkpoint_files(folder)
    data = save(edit(load_file(str(tensors))))
    tensors.write_bytes(data)
    record.write_text(json.dumps(dict(json.loads(record.read_text()), sha256=hashlib.sha256(data).hexdigest(), size=len(data))))


def test_render_falls_back_from_a_corrupt_checkpoint_to_the_previous_one(cli, run_copy, tmp_path):
    record, tensors = checkpoint_files(run_copy)
    older = record.with_name("step-000002.json")  # an older good checkpoint: the same one, one step earlier
    shutil.copy(tensors, older.with_suffix(".safetensors"))
    older.write_text(json.dumps(dict(json.loads(record.read_text()), step=2)))
    data = bytearray(tensors.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tensors.write_bytes(bytes(data))
    outcome = cli("render", run_copy, *RENDER, "--out", tmp_path / "v.png")
    assert outcome.code == 0 and (tmp_path / "v.png").exists(), outcome.stderr


def test_render_with_every_checkpoint_corrupt(cli, run_copy, tmp_path):
    _, tensors = checkpoint_files(run_copy)
    tensors.write_bytes(tensors.read_bytes()[:1000])
    cli("render", run_copy, *RENDER, "--out", tmp_path / "v.png").one_line_error("no usable checkpoint (step-000004.json: tensor file does not match its checksum)", "--resume")


def test_render_with_a_checkpoint_whose_tensors_do_not_fit_the_model(cli, run_copy, tmp_path):
    """A checkpoint from another model (other shapes) with a consistent record: one line, not a traceback."""
    rewrite_checkpoint(
        run_copy, lambda state: {k: (torch.zeros(v.shape[0] + 3, *v.shape[1:]) if k.startswith("field.") and v.dim() else v) for k, v in state.items()}
    )
    cli("render", run_copy, *RENDER, "--out", tmp_path / "v.png", unchanged=tmp_path).one_line_error("does not match the run's config.json")


def test_render_with_a_checkpoint_missing_the_occupancy_grid(cli, run_copy, tmp_path):
    rewrite_checkpoint(run_copy, lambda state: {k: v for k, v in state.items() if not k.startswith("occupancy.")})
    cli("render", run_copy, *RENDER, "--out", tmp_path / "v.png").one_line_error("does not match the run's config.json")


@pytest.mark.parametrize(
    "record_text, words",
    [("[]", "record is not a JSON object"), ('{"step": 3, "size": 1, "sha256": "x"}', "names step 3")],
    ids=["not-an-object", "wrong-step"],
)
def test_render_with_a_damaged_checkpoint_record(cli, run_copy, tmp_path, record_text, words):
    record, _ = checkpoint_files(run_copy)
    record.write_text(record_text)
    cli("render", run_copy, *RENDER, "--out", tmp_path / "v.png").one_line_error("no usable checkpoint (step-000004.json: ", words)


def test_resume_with_a_checkpoint_whose_tensors_do_not_fit_the_model(cli, run_copy):
    rewrite_checkpoint(run_copy, lambda state: dict(state, **{"field.mlp.0.weight": torch.zeros(3, 3)}))
    cli("text", "a red cube", "--out", run_copy, "--resume", "--steps", "6").one_line_error("does not match")


def test_a_checkpoint_whose_occupancy_mask_has_another_shape_is_refused(cli, run_copy, tmp_path):
    rewrite_checkpoint(run_copy, lambda state: dict(state, **{"occupancy.mask": torch.ones(3, 3, 3, dtype=torch.bool)}))
    cli("render", run_copy, *RENDER, "--out", tmp_path / "v.png", unchanged=tmp_path).one_line_error("does not match the run's config.json")
    cli("text", "a red cube", "--out", run_copy, "--resume", "--steps", "6", unchanged=tmp_path).one_line_error("does not match")


def test_missing_model_file(cli, tmp_path):
    out = tmp_path / "run"
    cli("text", "a red cube", "--prior", "stable-diffusion", "--model", tmp_path / "nope.safetensors", "--out", out, unchanged=tmp_path).one_line_error(
        "does not exist"
    )


def test_model_file_in_the_wrong_format(cli, tmp_path):
    fake = tmp_path / "model.safetensors"
    fake.write_bytes(b"PK\x03\x04 this is a zip file, not safetensors" * 10)
    out = tmp_path / "run"
    cli("text", "a red cube", "--prior", "stable-diffusion", "--model", fake, "--out", out, unchanged=tmp_path).one_line_error(
        "model.safetensors", "not a readable .safetensors file"
    )


@pytest.mark.parametrize(
    "content", ['{"_class_name": ', "[1, 2]", "[" * 200_000 + "]" * 200_000], ids=["truncated", "a-list", "nested-200000-deep"]
)
def test_model_folder_with_a_damaged_model_index(cli, tmp_path, content):
    model = tmp_path / "model"
    model.mkdir()
    (model / "model_index.json").write_text(content)
    out = tmp_path / "run"
    cli("text", "a red cube", "--prior", model, "--out", out, unchanged=tmp_path).one_line_error("model_index.json")


def test_pickled_ckpt_is_refused_in_one_line(cli_process, tmp_path):
    pickled = tmp_path / "model.ckpt"
    pickled.write_bytes(b"\x80\x04K\x01.")  # a pickle: it is never opened
    out = tmp_path / "run"
    cli_process("text", "a red cube", "--prior", "stable-diffusion", "--model", pickled, "--out", out, unchanged=tmp_path).one_line_error(
        "not a .safetensors file", "pickled checkpoints are not loaded"
    )


def test_pickled_ckpt_is_refused_without_being_read(tmp_path, monkeypatch):
    """The same row without the CPU warning: the message, and the file is never unpickled."""
    import pickle
    import warnings

    from dreamlift.guidance.base import TimestepSchedule
    from dreamlift.guidance.stable_diffusion import StableDiffusionConfig, build_stable_diffusion_guidance

    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("pickle.load was called"))
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load was called"))
    pickled = tmp_path / "model.ckpt"
    pickled.write_bytes(b"\x80\x04K\x01.")
    with warnings.catch_warnings(), pytest.raises(DreamliftError, match="not a .safetensors file"):
        warnings.simplefilter("ignore", RuntimeWarning)
        build_stable_diffusion_guidance("a red cube", StableDiffusionConfig(model=str(pickled)), TimestepSchedule(), device="cpu")


# ----------------------------------------------------------------------------- export and view


def test_export_of_a_damaged_run(cli, run_copy):
    edit_config(run_copy, lambda r: r["config"]["nerf"].update(levels="many"))
    cli("export", run_copy, unchanged=run_copy).one_line_error("config.json is damaged")


def test_export_to_an_unknown_format(cli, good_run, tmp_path):
    cli("export", good_run, "--out", tmp_path / "mesh.stl", unchanged=tmp_path).one_line_error("cannot tell the format of 'mesh.stl'")


def test_export_out_below_a_file(cli, good_run, tmp_path):
    (tmp_path / "blocker").write_text("")
    cli("export", good_run, "--out", tmp_path / "blocker" / "mesh.glb", unchanged=tmp_path).one_line_error("cannot write --out", "is a file")


# targets whose folder exists but cannot hold a new file (even for root), and one whose folder cannot be made
UNWRITABLE = [
    ("/proc/mesh.glb", ["cannot write --out /proc/mesh.glb", "/proc cannot hold new files (No such file or directory)"]),
    ("/proc/x/mesh.glb", ["cannot write --out /proc/x/mesh.glb", "/proc cannot hold new files"]),
    ("/sys/mesh.glb", ["cannot write --out /sys/mesh.glb", "/sys cannot hold new files"]),
    ("/sys/x/mesh.glb", ["cannot write --out /sys/x/mesh.glb", "/sys cannot hold new files"]),
]
needs_proc_and_sys = pytest.mark.skipif(not (Path("/proc/self").is_dir() and Path("/sys/kernel").is_dir()), reason="needs Linux /proc and /sys")


@needs_proc_and_sys
@pytest.mark.parametrize("target, words", UNWRITABLE, ids=["proc", "below-proc", "sys", "below-sys"])
def test_export_out_where_no_file_can_be_made(cli, good_run, target, words):
    cli("export", good_run, "--out", target, unchanged=good_run).one_line_error(*words)
    assert not Path(target).exists()


@needs_proc_and_sys
def test_render_and_text_out_in_proc(cli, good_run, tmp_path):
    cli("render", good_run, *RENDER, "--out", "/proc/v.png", unchanged=good_run).one_line_error("cannot write --out /proc/v.png", "/proc cannot hold new files")
    cli("text", "a red cube", "--out", "/proc/run", "--steps", "2").one_line_error("cannot write to output folder /proc/run", "choose another --out")


@pytest.fixture
def read_only_folder(tmp_path):
    """``(folder, prefix)``: an empty folder and a command prefix that runs a command with the folder bind-mounted
    read-only in a private mount namespace (``unshare``: root's permissions do not help there)."""
    import subprocess

    folder = tmp_path / "read-only"
    folder.mkdir()
    prefix = ["unshare", "--map-root-user", "--mount", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(folder)]
    try:
        probe = subprocess.run([*prefix, "sh", "-c", 'touch "$0/probe"', str(folder)], capture_output=True, timeout=30)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        pytest.skip("unshare is not installed")
    if b"Read-only file system" not in probe.stderr or any(folder.iterdir()):
        pytest.skip(f"cannot bind-mount a folder read-only here: {probe.stderr.decode(errors='replace')[-200:]}")
    return folder, prefix


def test_export_out_in_a_read_only_folder(good_run, read_only_folder):
    from _helpers import in_a_process

    folder, prefix = read_only_folder
    in_a_process(prefix)("export", good_run, "--out", folder / "mesh.glb", unchanged=folder).one_line_error(
        f"cannot write --out {folder / 'mesh.glb'}", "cannot hold new files (Read-only file system)"
    )


@needs_proc_and_sys
def test_a_writer_past_the_check_still_fails_in_one_line(cli, good_run, monkeypatch):
    """Without check_output_file the export runs and its file writer meets /proc: _atomic turns the OSError
    on the temporary file into the one-line error (every writer goes through it)."""
    from dreamlift.commands import _common

    monkeypatch.setattr(_common, "check_output_file", lambda *args, **kwargs: None)
    cli("export", good_run, "--out", "/proc/mesh.glb", "--resolution", "16", unchanged=good_run).one_line_error(
        "cannot write /proc/mesh.glb: /proc cannot hold new files (No such file or directory)"
    )


def test_view_port_out_of_range(cli, good_run):
    cli("view", good_run, "--port", "70000").one_line_error("port 70000 is out of range", "65535")


def test_view_of_a_folder_that_does_not_exist(cli, tmp_path):
    cli("view", tmp_path / "nothing", unchanged=tmp_path).one_line_error("is not a folder")


# ----------------------------------------------------------------------------- limits on what is read (issue 28)


def nested_json(depth: int) -> str:
    return '{"render": ' + "[" * depth + "]" * depth + "}"


def alias_bomb_yaml(levels: int = 9) -> str:
    """A "billion laughs" under one key: 9 levels of 9 aliases each, 9**9 (387 million) strings once expanded."""
    items = ['&a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    previous = "a"
    for name in "bcdefghijk"[: levels - 1]:
        items.append(f"&{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "steps: [" + ", ".join(items) + "]\n"


@pytest.mark.parametrize(
    "name, text, words",
    [
        ("deep.json", nested_json(200_000), ["--config", "deep.json nests lists or objects more than 64 levels deep"]),
        ("deep.yaml", "render: " + "[" * 200_000 + "]" * 200_000 + "\n", ["deep.yaml nests lists or mappings more than 64 levels deep"]),
        ("deep-block.yaml", "".join(" " * i + "- \n" for i in range(0, 1400)), ["deep-block.yaml nests lists or mappings more than 64 levels deep"]),
        ("bomb.yaml", alias_bomb_yaml(), ["bomb.yaml holds more than 100000 values (YAML aliases counted as expanded)"]),
        ("aliases.yaml", "a: &x 1\nsteps: [" + ", ".join(["*x"] * 101) + "]\n", ["aliases.yaml has more than 100 YAML aliases"]),
        ("values.json", json.dumps({"steps": [0] * 100_001}), ["values.json holds more than 100000 values"]),
        ("big.json", '{"prompt": "' + "x" * (1 << 20) + '"}', ["big.json is over 1 MiB"]),
    ],
    ids=["json-200000-deep", "yaml-200000-deep", "yaml-block-1400-deep", "yaml-alias-bomb", "yaml-101-aliases", "json-100001-values", "json-over-1MiB"],
)
def test_config_files_past_the_limits(cli, tmp_path, name, text, words):
    """A --config file is read within limits on size (1 MiB), depth (64) and count (100,000 values, YAML aliases
    expanded; 100 aliases): never a RecursionError, and a wrong-type message never formats a huge value."""
    (tmp_path / name).write_text(text)
    cli("text", "a red cube", "--config", tmp_path / name, "--out", tmp_path / "run", unchanged=tmp_path).one_line_error(*words)


def test_a_wrong_type_message_shows_a_huge_value_in_a_few_characters():
    """The alias bomb within the count limit reaches the wrong-type message: it is shown cut short, not expanded."""
    import yaml

    from dreamlift.config_tree import from_dict
    from dreamlift.training.config import TrainConfig

    value = yaml.safe_load(alias_bomb_yaml())  # shared lists: small in memory, 387 million strings as JSON
    message = error_message(lambda: from_dict(TrainConfig, value), "steps takes whole number, got [[")
    assert len(message) < 120, message
    error_message(lambda: from_dict(TrainConfig, {"prompt": 10**5000}), "prompt takes text, got <a number of about 5000 digits>")


@pytest.mark.parametrize("command", ["export", "render", "resume"])
def test_a_run_folder_whose_config_json_is_nested_200000_deep(cli, run_copy, tmp_path, command):
    (run_copy / "config.json").write_text('{"kind": "text", "format": 2, "config": ' + nested_json(200_000) + "}")
    args = {
        "export": ("export", run_copy),
        "render": ("render", run_copy, *RENDER, "--out", tmp_path / "v.png"),
        "resume": ("text", "a red cube", "--out", run_copy, "--resume"),
    }[command]
    cli(*args, unchanged=run_copy).one_line_error(f"{run_copy / 'config.json'} nests lists or objects more than 64 levels deep")


@pytest.mark.parametrize(
    "content",
    [nested_json(200_000), b"\xff\xfe" + bytes(range(256)) * 4, "{" * 2_000_000],
    ids=["nested-200000-deep", "binary", "over-1MiB"],
)
def test_the_viewer_page_of_a_run_whose_config_json_is_damaged_leaves_the_settings_out(run_copy, content):
    """`dreamlift view` reads config.json for the page's settings table: past the limits (or not text) it leaves the
    table out, as for any damaged file, instead of a RecursionError; the log's curves are still read."""
    from dreamlift.web.runs import Run, read_run

    path = run_copy / "config.json"
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    info = read_run(Run(id="run", path=run_copy))
    assert info.settings == [] and info.prompt is None and "loss" in info.series


def test_a_checkpoint_record_nested_200000_deep_is_skipped(cli, run_copy, tmp_path):
    record, _ = checkpoint_files(run_copy)
    record.write_text(nested_json(200_000))
    cli("render", run_copy, *RENDER, "--out", tmp_path / "v.png", unchanged=run_copy).one_line_error(
        "no usable checkpoint (step-000004.json: record nests lists or objects more than 64 levels deep)"
    )


def test_resume_with_binary_garbage_in_the_log(cli, run_copy):
    """--resume of a run whose log.jsonl holds bytes that are not UTF-8: the damaged lines are dropped (said on
    stderr), the good rows kept, and the run goes on."""
    good = (run_copy / "log.jsonl").read_bytes()
    (run_copy / "log.jsonl").write_bytes(good + bytes(range(256)) * 8 + b"\n{not json\n" + b"[" * 100_000 + b"\n")
    outcome = cli("text", "a red cube", "--out", run_copy, "--resume", "--steps", "6", "--quiet")
    assert outcome.code == 0, outcome.stderr
    assert "Traceback" not in outcome.stderr and "log.jsonl: dropped" in outcome.stderr, outcome.stderr
    rows = [json.loads(line) for line in (run_copy / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows][-1] == 6 and good.decode().splitlines()[0] in (run_copy / "log.jsonl").read_text()


def test_a_full_disk_at_the_first_checkpoint(cli, tmp_path, monkeypatch):
    """ENOSPC while the first checkpoint is written: one line that says to free space and --resume, exit 2, and no
    half-written file (no temporary, no tensor file without its record)."""
    import errno

    from dreamlift import _atomic

    real_fsync = os.fsync

    def full_disk(fd):
        if "/checkpoints/" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(_atomic.os, "fsync", full_disk)
    out = tmp_path / "run"
    line = cli("text", "a red cube", "--out", out, "--steps", "4", "--checkpoint-every", "2", "--no-export", "--quiet", "--refine", "off").one_line_error(
        "no space left on device writing", "free space and run again with --resume"
    )
    assert f"{out}/checkpoints/step-000002.safetensors" in line
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == []
    monkeypatch.setattr(_atomic.os, "fsync", real_fsync)
    outcome = cli("text", "a red cube", "--out", out, "--resume", "--steps", "4", "--quiet")  # with space again, the run goes on
    assert outcome.code == 0, outcome.stderr


# ----------------------------------------------------------------------------- every setting's range (issue 28)


def numeric_keys() -> dict[str, object]:
    """Every numeric setting of every preset and prior (text and image runs), with one value of it."""
    from dreamlift.config_tree import leaf_keys
    from dreamlift.guidance.priors import PRIOR_CONFIGS
    from dreamlift.presets import PRESETS

    found: dict[str, object] = {}
    trees = [(preset.build(), "") for preset in PRESETS] + [(cls(), "prior") for cls in PRIOR_CONFIGS]
    trees += [(preset.build().image, "image") for preset in PRESETS if preset.kind == "image"]
    trees += [(cls(), "image.text.prior") for cls in PRIOR_CONFIGS if cls.kind == "text"]
    for tree, prefix in trees:
        for key, (_, value, _) in leaf_keys(tree, prefix).items():
            items = value if isinstance(value, (list, tuple)) else [value]
            if any(isinstance(v, (int, float, list, tuple)) and not isinstance(v, bool) for v in items):
                found.setdefault(key, value)
    return found


def test_every_numeric_setting_has_a_range():
    """Validation knows every setting's range: a numeric key without an entry in SETTING_RANGES fails here."""
    from dreamlift.config_tree import range_of
    from dreamlift.training.config import SETTING_RANGES

    missing = []
    for key in numeric_keys():
        try:
            range_of(key, SETTING_RANGES)
        except KeyError:
            missing.append(key)
    assert not missing, f"numeric settings without a range in SETTING_RANGES: {missing}"
    assert len(numeric_keys()) > 100


@pytest.mark.parametrize(
    "setting, words",
    [
        ("occupancy.update_every=0", ["occupancy.update_every 0 is out of range: use 1 to 1000000"]),
        ("occupancy.resolution=0", ["occupancy.resolution 0 is out of range: use 4 to 256"]),
        ("occupancy.resolution=100000", ["occupancy.resolution 100000 is out of range: use 4 to 256"]),
        ("steps=1000000000", ["steps 1000000000 is too many: use at most 1000000"]),
        ("nerf.hidden=1000000000000", ["nerf.hidden 1000000000000 is out of range: use 1 to 1024"]),
        ("nerf.grid_resolutions=[16,100000]", ["nerf.grid_resolutions 100000 is out of range: use 2 to 256"]),
        ("shading.ambient=[0.3,7]", ["shading.ambient 7.0 is out of range: use 0.0 to 1.0"]),
        ("prior.renders_per_object=0", ["prior.renders_per_object 0 is out of range: use 1 to 8192"]),
        ("refine.steps=100000000", ["refine.steps 100000000 is out of range: use 1 to 1000000"]),
        ("render.samples_per_ray=1000000", ["render.samples_per_ray 1000000 is out of range: use 2 to 1024"]),
        ("prior.seed=18446744073709551615", ["prior.seed 18446744073709551615 is out of range: use 0 to 9223372036854775807"]),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_setting_out_of_range_is_refused_before_anything_is_written(cli, tmp_path, setting, words):
    """Accepted before, then a crash in training (update_every=0: a modulo by zero) or memory exhausted (a 10**12-wide
    MLP), with a half-made run folder left behind."""
    cli("text", "a red cube", "--set", setting, "--out", tmp_path / "run", unchanged=tmp_path).one_line_error(*words)


def test_every_numeric_setting_at_0_negative_and_huge_is_accepted_or_one_line(cli, tmp_path):
    """Property over every numeric key: 0, -1 and 10**12 (and a list of them for list settings) through --set and
    --print-config end in exit 0 or one line, never a traceback; the values refused include every one outside the range."""
    from dreamlift.config_tree import range_of
    from dreamlift.training.config import SETTING_RANGES

    from dreamlift.config_tree import leaf_keys
    from dreamlift.presets import preset_config

    toy = leaf_keys(preset_config("toy", "text"))
    keys = {k: v for k, v in numeric_keys().items() if k in toy and k not in ("size_milestones",)}  # milestones: real priors only
    assert len(keys) > 60
    for key, example in keys.items():
        for number in (0, -1, 10**12):
            if isinstance(example, tuple) and example and isinstance(example[0], tuple):
                text = json.dumps([[number] * len(example[0])])
            elif isinstance(example, (list, tuple)):
                text = json.dumps([number] * max(1, len(example)))
            else:
                text = str(number)
            outcome = cli("text", "a red cube", "--set", f"{key}={text}", "--print-config", "--out", tmp_path / "run")
            assert "Traceback" not in outcome.stderr, (key, number, outcome.stderr)
            if outcome.code != 0:
                outcome.one_line_error()
            bounds = range_of(key, SETTING_RANGES)
            if bounds is not None and not bounds[0] <= number <= bounds[1]:
                assert outcome.code == 2, (key, number, "outside its range but accepted")
    assert not (tmp_path / "run").exists()


def test_an_image_run_with_a_view_table_of_1000_rows(cli, tmp_path):
    Image.fromarray(red_square()).save(tmp_path / "front.png")
    (tmp_path / "views.csv").write_text("path, elevation, azimuth\n" + "".join(f"front.png, 0, {i % 360}\n" for i in range(1000)))
    cli("image", "--views", tmp_path / "views.csv", "--out", tmp_path / "run", unchanged=tmp_path).one_line_error(
        "views.csv lists 1000 views", "at most 32"
    )


def test_a_view_table_over_1_MiB(cli, tmp_path):
    (tmp_path / "views.json").write_text(json.dumps([{"path": "x" * 1000, "elevation": 0, "azimuth": 0}] * 1100))
    cli("image", "--views", tmp_path / "views.json", "--out", tmp_path / "run", unchanged=tmp_path).one_line_error("views.json is 1.1 MiB, over the limit of 1.0 MiB")


# ----------------------------------------------------------------------------- signals (issue 28)


@pytest.mark.parametrize("signame, status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_run_stopped_by_a_signal_exits_128_plus_its_number(tmp_path, child_env, signame, status):
    """A real process, signalled once training has begun: a checkpoint is saved, one line says how to resume, and the
    exit status is 128 + the signal's number (130 SIGINT, 143 SIGTERM), as cli.py's docstring and the README say."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    args = [sys.executable, "-m", "dreamlift.cli", "text", "a red cube", "--out", str(out), "--steps", "100000", "--no-export", "--refine", "off", "--quiet"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env)
    deadline = time.monotonic() + 120
    while not (out / "log.jsonl").exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    time.sleep(1.0)
    process.send_signal(getattr(signal, signame))
    _, stderr = process.communicate(timeout=120)
    stderr = stderr.decode()
    assert process.returncode == status, (process.returncode, stderr[-2000:])
    assert "Traceback" not in stderr and f"stopped by {signame} at step" in stderr and "--resume" in stderr, stderr
    assert list((out / "checkpoints").glob("step-*.json"))


# ----------------------------------------------------------------------------- a torn newest checkpoint (issue 28)


def tear_newest_checkpoint(folder: Path) -> None:
    """An older good checkpoint at step 2 (a copy of step 4's), and step 4's tensor file cut in half, as a crash would."""
    record, tensors = checkpoint_files(folder)
    older = record.with_name("step-000002.json")
    shutil.copy(tensors, older.with_suffix(".safetensors"))
    older.write_text(json.dumps(dict(json.loads(record.read_text()), step=2)))
    tensors.write_bytes(tensors.read_bytes()[: tensors.stat().st_size // 2])


FALLBACK = "the newest checkpoint, step-000004 (step 4), is damaged (tensor file does not match its checksum); fell back to step-000002 (step 2)"


def test_refine_of_a_run_whose_newest_checkpoint_is_torn(cli, run_copy):
    """It said 'stage 1 stopped at step 2 of 4'; now it names the damaged checkpoint and the step it falls back to."""
    tear_newest_checkpoint(run_copy)
    cli("refine", run_copy, "--steps", "2", unchanged=run_copy).one_line_error(
        f"stage 1 of {run_copy} cannot be refined: {FALLBACK}, and stage 1 asks for 4 steps", "continue it with --resume (from step 2)"
    )


def test_export_does_not_overwrite_mesh_glb_from_an_older_checkpoint(cli, run_copy, tmp_path):
    """export fell back to the older step in silence and overwrote mesh.glb with an older mesh: now it refuses (one
    line naming both steps and --out), and an export elsewhere warns with both steps."""
    tear_newest_checkpoint(run_copy)
    (run_copy / "mesh.glb").write_bytes(b"the mesh of step 4")
    cli("export", run_copy, unchanged=run_copy).one_line_error(
        f"{run_copy}: {FALLBACK}: not overwriting {run_copy / 'mesh.glb'} with the older mesh", "--out other.glb"
    )
    with pytest.warns(UserWarning) as warned:  # main() prints it as one line, "warning: ..."
        outcome = cli("export", run_copy, "--out", tmp_path / "older.glb", "--resolution", "16", unchanged=run_copy)
    assert outcome.code == 0 and (tmp_path / "older.glb").is_file(), outcome.stderr
    assert [str(w.message) for w in warned] == [f"{run_copy}: {FALLBACK}"]


def test_render_from_an_older_checkpoint_warns_with_both_steps(cli, run_copy, tmp_path):
    tear_newest_checkpoint(run_copy)
    with pytest.warns(UserWarning) as warned:
        outcome = cli("render", run_copy, *RENDER, "--out", tmp_path / "v.png", unchanged=run_copy)
    assert outcome.code == 0 and (tmp_path / "v.png").is_file(), outcome.stderr
    assert [str(w.message) for w in warned] == [f"{run_copy}: {FALLBACK}"]


# ----------------------------------------------------------------------------- the app and batch files (issue 28)


@pytest.fixture
def jobs_app(tmp_path, monkeypatch):
    """The app's request handling (JobsApp: what POST /api/jobs calls) on a fresh folder, without a server or
    <model-viewer> (not needed to check submissions)."""
    from dreamlift.web import app

    monkeypatch.setattr(app, "model_viewer_script", lambda: tmp_path / "model-viewer.js")
    return app.JobsApp(tmp_path / "app")


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"prompt": "a red cube", "set": {"steps": 1_000_000_000}}, "steps 1000000000 is too many: use at most 1000000"),
        ({"prompt": "a red cube", "set": {"refine.steps": 10**9}}, "refine.steps 1000000000 is out of range: use 1 to 1000000"),
        ({"prompt": "a red cube", "set": {"occupancy.update_every": 0}}, "occupancy.update_every 0 is out of range"),
        ({"prompt": "a red cube", "set": {"size": 100000}}, "render size 100000 is not allowed: use 8 to 1024 pixels"),
        ({"prompt": "a red cube", "set": {f"k{i}": 1 for i in range(65)}}, "set has 65 settings; a job takes at most 64"),
        ({"prompt": "a red cube", "set": {"prompt": "x" * 1001}}, "set: the value of prompt has 1001 characters; give at most 1000"),
        ({"prompt": "a red cube", "seed": 2**64}, "seed must be a whole number from 0 to 18446744073709551615"),
    ],
    ids=["set-steps-10**9", "set-refine-steps-10**9", "set-update-every-0", "set-size-100000", "65-set-entries", "set-value-1001-chars", "seed-2**64"],
)
def test_the_app_validates_through_the_same_code_as_the_command(jobs_app, fields, words):
    """The app accepted {"set": {"steps": 1000000000}} past its own step limit: a submission's settings are now
    validated by TrainConfig.validate, every range included, as the command's; answered 400, nothing queued."""
    from http import HTTPStatus

    from dreamlift.web.app import RequestError

    with pytest.raises(RequestError) as refused:
        jobs_app.submit(fields)
    assert refused.value.status == HTTPStatus.BAD_REQUEST and words in refused.value.message, refused.value.message
    assert jobs_app.queue.jobs() == []


@pytest.mark.parametrize(
    "body, words",
    [(b"[" * 65_536, "the request body nests lists or objects more than 64 levels deep"), (b'{"prompt": "\xff"}', "not valid JSON")],
    ids=["64KiB-of-brackets", "not-utf8"],
)
def test_an_app_request_body_past_the_limits(body, words):
    from dreamlift.web.forms import parse_json

    error_message(lambda: parse_json(body), words)


@pytest.mark.parametrize(
    "name, text, words",
    [
        ("deep.jsonl", '{"prompt": "a red cube", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n", ["deep.jsonl:1 nests lists or objects more than 64 levels deep"]),
        ("big.txt", "a red cube\n" * 3_100_000, ["big.txt is 32.5 MiB, over the limit of 32.0 MiB"]),
    ],
    ids=["jsonl-100000-deep", "txt-over-32MiB"],
)
def test_a_batch_file_past_the_limits(cli, tmp_path, name, text, words):
    (tmp_path / name).write_text(text)
    cli("batch", tmp_path / name, "--out", tmp_path / "runs", unchanged=tmp_path).one_line_error(*words)


def test_a_damaged_view_prior_file_on_resume(tmp_path):
    """view_prior.json of an image run (the toy view prior's candidates), read back on --resume: nested deep, too many
    rows, or NaN weights are 'damaged', never a RecursionError."""
    from dreamlift.guidance.toy_view import candidates_from_json

    row = {"shape": "cube", "color": "red", "turn": 0.0, "weight": 1.0}
    for text in (nested_json(200_000), json.dumps({"candidates": [row] * 1025}), json.dumps({"candidates": [dict(row, weight=float("nan"))]})):
        error_message(lambda: candidates_from_json(text), "the toy view prior's candidates file is damaged")
    assert len(candidates_from_json(json.dumps({"candidates": [row]}))) == 1


# ----------------------------------------------------------------------------- a new run in a folder of one's own files (issue 28)


@pytest.mark.parametrize(
    "files, words",
    [
        ({"mesh.glb": b"my mesh", "turntable.mp4": b"my video", "log.jsonl": b"my log\n"}, ["(no config.json): a run there would overwrite log.jsonl"]),
        ({"mesh.glb": b"my mesh"}, ["(no config.json): a run there would overwrite mesh.glb"]),
        ({"notes.txt": b"keep", "photo.jpg": b"keep"}, ["it has 'notes.txt' and 1 more"]),
    ],
    ids=["mesh-turntable-log", "mesh", "other-files"],
)
def test_a_new_run_in_a_non_empty_folder_that_is_not_a_run(cli, tmp_path, monkeypatch, files, words):
    """`--out .` in a folder of the user's own mesh.glb, turntable.mp4 and log.jsonl (no config.json) overwrote them
    and exited 0: a new run refuses any non-empty folder that holds no run, leaving it byte for byte."""
    own = tmp_path / "own"
    own.mkdir()
    for name, data in files.items():
        (own / name).write_bytes(data)
    monkeypatch.chdir(own)
    cli("text", "a red cube", "--out", ".", "--steps", "2", unchanged=own).one_line_error(
        ". is not empty and holds no dreamlift run (no config.json", "choose a new or empty folder for --out", *words
    )
    Image.fromarray(red_square()).save(tmp_path / "square.png")
    cli("image", tmp_path / "square.png", "--out", own, "--steps", "2", unchanged=own).one_line_error("is not empty and holds no dreamlift run")


def test_a_folder_holding_only_what_a_killed_run_left_is_used(cli, tmp_path):
    """Temporary files a killed dreamlift leaves (.write-test-*, .*.tmp) do not make a folder 'not empty'."""
    out = tmp_path / "run"
    out.mkdir()
    (out / ".write-test-abc").write_bytes(b"")
    outcome = cli("text", "a red cube", "--out", out, "--steps", "2", "--no-export", "--refine", "off", "--quiet")
    assert outcome.code == 0 and (out / "config.json").is_file(), outcome.stderr


@pytest.mark.parametrize("suffix", [".npy", ".png"])
def test_a_depth_map_over_the_image_limit_is_refused_before_it_is_read(tmp_path, monkeypatch, suffix):
    """A depth map holds at most as many values as an image may have pixels (8192x8192), checked from the .npy header
    or the PNG header before anything is read (the limit is lowered here to keep the file small)."""
    from dreamlift.inputs import image
    from dreamlift.inputs.depth import read_depth_map

    monkeypatch.setattr(image, "MAX_PIXELS", 32 * 32)
    values = np.random.default_rng(0).random((40, 40))
    path = tmp_path / f"depth{suffix}"
    np.save(path, values) if suffix == ".npy" else Image.fromarray((values * 255).astype(np.uint8)).save(path)
    error_message(lambda: read_depth_map(path), f"depth map {path} holds 1600 values, over the limit of 32x32")


def test_a_checkpoint_tensor_file_of_another_size_is_skipped_unread(cli, run_copy, tmp_path, monkeypatch):
    """A tensor file whose size is not its record's (torn, or replaced by something huge) is skipped from its size
    alone: it is never read whole to find out."""
    from pathlib import Path as PathType

    _, tensors = checkpoint_files(run_copy)
    with open(tensors, "ab") as handle:
        handle.truncate(10 << 30)  # 10 GiB, sparse: nothing to read without reading it all
    real_read_bytes = PathType.read_bytes
    monkeypatch.setattr(PathType, "read_bytes", lambda self: pytest.fail(f"{self} was read") if self == tensors else real_read_bytes(self))
    cli("render", run_copy, *RENDER, "--out", tmp_path / "v.png").one_line_error("no usable checkpoint (step-000004.json: tensor file does not match its checksum)")


@pytest.mark.parametrize(
    "settings, words",
    [
        (
            ["nerf.encoding=hash-grid", "nerf.hash_grid.levels=32", "nerf.hash_grid.log2_table_size=24", "nerf.hash_grid.features_per_level=8"],
            ["the hash-grid encoding would hold 4294967296 parameters, over the limit of 268435456 (1 GiB)"],
        ),
        (["nerf.grid_resolutions=[256,256]", "nerf.grid_features=64"], ["the grid encoding would hold 2147483648 parameters"]),
        (["prior.name=stable-diffusion", "size=1024", "batch_size=64", "render.samples_per_ray=1024"], ["a training step would evaluate 68719476736 samples"]),
        (["prior.name=stable-diffusion", "refine.size=1024", "refine.supersample=4", "refine.batch_size=64"], ["a refinement step would rasterise 1073741824 pixels"]),
    ],
    ids=["hash-grid-4G", "grid-2G", "samples-68G", "refine-1G-pixels"],
)
def test_settings_in_range_whose_product_is_past_any_memory(cli, tmp_path, settings, words):
    """Each value in its range, the product not: refused before anything is written (found probing: issue 28's kind)."""
    sets = [x for item in settings for x in ("--set", item)]
    cli("text", "a red cube", *sets, "--out", tmp_path / "run", unchanged=tmp_path).one_line_error(*words)


@pytest.mark.parametrize(
    "settings, words",
    [
        (["render.bound=0.01"], ["the scene's bounding sphere (render.bound 0.01) is 0.14 pixels across in radius"]),
        (["cameras.radius=[0.5,3]"], ["cameras.radius starts at 0.5, inside the scene's bounding sphere (render.bound 1)"]),
        (["cameras.radius=[900,1000]"], ["(cameras.radius 1000, fovy 40, 32 px): raise render.bound or bring the cameras closer"]),
    ],
    ids=["bound-0.01", "camera-inside", "cameras-1000-away"],
)
def test_cameras_that_cannot_see_the_scene(cli, tmp_path, settings, words):
    """render.bound=0.01 passed validation, then no training ray met the scene and the first step crashed (RuntimeError:
    no gradient) with a half-made run folder (found probing the range ends)."""
    sets = [x for item in settings for x in ("--set", item)]
    cli("text", "a red cube", *sets, "--out", tmp_path / "run", unchanged=tmp_path).one_line_error(*words)


@pytest.mark.parametrize("file", ["../../victim.png", "/etc/passwd", ""], ids=["parent", "absolute", "empty"])
def test_an_input_view_file_outside_the_run_folder(cli, tmp_path, file):
    """image.views[].file names where a run keeps (and on --resume reads back) an input view: a hand-edited
    config.json pointing outside the run folder is refused (found probing)."""
    from dreamlift.distillation.image_settings import ImageSettings, ReferenceCamera

    error_message(lambda: ImageSettings(views=[ReferenceCamera(file=file)]).validate(), "must be a file name inside the run folder")


@pytest.mark.parametrize("name", ["index.html", "summary.csv"])
def test_a_batch_into_a_folder_with_the_users_own_index_or_summary(cli, tmp_path, name):
    """batch writes --out/summary.csv and --out/index.html: a user's own files of those names are not overwritten
    (the run folders of its rows are protected by the run's own check). Found probing, as --out . of a run."""
    (tmp_path / "prompts.txt").write_text("a red cube\n")
    out = tmp_path / "site"
    out.mkdir()
    (out / name).write_text("my own page\n")
    cli("batch", tmp_path / "prompts.txt", "--out", out, unchanged=tmp_path).one_line_error(
        f"--out {out} holds {name} that is not a batch's summary: the batch would overwrite it"
    )


@pytest.mark.parametrize("where", ["/previews/", "/log.jsonl"])
def test_a_full_disk_at_a_preview_or_a_log_line(cli, tmp_path, monkeypatch, where):
    """The same as at a checkpoint for the other files a run writes while it trains: one line that says --resume."""
    import errno

    from dreamlift import _atomic

    real_fsync = os.fsync
    written = {"log": 0}

    def full_disk(fd):
        name = os.readlink(f"/proc/self/fd/{fd}")
        if where in name:
            written["log"] += 1
            if where != "/log.jsonl" or written["log"] > 2:  # the log: after two rows
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(_atomic.os, "fsync", full_disk)
    out = tmp_path / "run"
    cli("text", "a red cube", "--out", out, "--steps", "4", "--set", "log_every=1", "--set", "preview_every=2", "--no-export", "--quiet", "--refine", "off").one_line_error(
        "no space left on device writing", "free space and run again with --resume"
    )
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


# ----------------------------------------------------------------------------- stages and the run-folder lock (issue 28)


@pytest.mark.parametrize(
    "args, words",
    [
        (["export", "{run}", "--stage", "2"], ["has no refined surface (stage 2)", "--stage 1"]),
        (["render", "{run}", "--elevation", "0", "--azimuth", "0", "--stage", "2", "--out", "{tmp}/v.png"], ["has no refined surface"]),
        (["eval", "{run}", "--truth", "a red cube", "--stage", "2"], ["has no refined surface"]),
        (["export", "{run}", "--stage", "3"], ["invalid choice: '3'"]),
        (["text", "a red cube", "--out", "{tmp}/new", "--threads", "0"], ["--threads", "positive whole number"]),
        (["text", "a red cube", "--out", "{tmp}/new", "--refine-steps", "-2"], ["--refine-steps", "positive whole number"]),
    ],
    ids=["export-stage-2", "render-stage-2", "eval-stage-2", "stage-3", "threads-0", "refine-steps-negative"],
)
def test_a_stage_the_run_does_not_have_or_a_bad_stage_option(cli, run_copy, tmp_path, args, words):
    argv = [a.format(run=run_copy, tmp=tmp_path) for a in args]
    cli(*argv, unchanged=tmp_path).one_line_error(*words)


def test_a_bad_dreamlift_threads_is_one_line_before_anything_is_written(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMLIFT_THREADS", "lots")
    cli("text", "a red cube", "--out", tmp_path / "new", "--steps", "2", unchanged=tmp_path).one_line_error(
        "DREAMLIFT_THREADS must be a whole number of threads, got 'lots'"
    )


def test_a_second_writer_of_a_run_folder_is_refused_naming_the_holder(cli, run_copy):
    """A run (or refine, export) on a folder another process writes: one line naming that process, nothing touched."""
    import subprocess
    import sys

    hold = "import sys, time; from dreamlift.pipeline.lock import RunLock; RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(run_copy)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"held"
        for argv in (
            ["text", "a red cube", "--out", run_copy, "--resume", "--steps", "6", "--quiet"],
            ["export", run_copy],
            ["refine", run_copy, "--steps", "2", "--quiet"],
        ):
            cli(*argv, unchanged=run_copy).one_line_error(f"is in use by process {holder.pid}", "wait for it to finish")
    finally:
        holder.kill()
        holder.wait()
