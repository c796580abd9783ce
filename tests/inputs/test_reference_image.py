"""Loading one reference image: matting and recentring on synthetic images with known masks, odd modes, bad files."""

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from _helpers import error_message
from dreamlift.inputs import MAX_PIXELS, load_reference_image
from dreamlift.inputs.framing import object_box, resample_matrix

RED = np.array([0.86, 0.12, 0.12])
BLUE_GRAY = np.array([0.55, 0.70, 0.85])
SUPERSAMPLE = 8


def disc_coverage(height, width, cx, cy, radius):
    """Supersampled coverage of a disc, ``(H, W)`` in [0, 1] (8x8 samples per pixel, 1 for big images)."""
    s = SUPERSAMPLE if height * width <= 100_000 else 2 if height * width <= 1_000_000 else 1
    yy, xx = np.mgrid[0 : height * s, 0 : width * s]
    inside = ((xx + 0.5) / s - cx) ** 2 + ((yy + 0.5) / s - cy) ** 2 <= radius**2
    return inside.reshape(height, s, width, s).mean(axis=(1, 3))


def centred_disc(size, border_ratio):
    """The disc as it must come out: centred, its diameter ``(1 - border_ratio)·size``."""
    return disc_coverage(size, size, size / 2, size / 2, (1 - border_ratio) * size / 2)


def to_uint8(values):
    return np.round(np.clip(values, 0, 1) * 255).astype(np.uint8)


def soft_iou(a, b):
    return float(np.minimum(a, b).sum() / np.maximum(a, b).sum())


def centroid(alpha):
    ys, xs = np.mgrid[0 : alpha.shape[0], 0 : alpha.shape[1]]
    return (alpha * (xs + 0.5)).sum() / alpha.sum(), (alpha * (ys + 0.5)).sum() / alpha.sum()


def write_png(path, width, height, bit_depth, colour_type, rows=None, idat=None):
    """A PNG written by hand (16-bit RGB, or a header that lies about the size)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    if idat is None:
        idat = zlib.compress(b"".join(b"\x00" + row for row in rows))
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize(
    "height, width, cx, cy, radius, size",
    [
        (150, 200, 130.3, 60.7, 35.0, 32),  # off-centre, downscaled
        (600, 500, 200.3, 300.6, 120.2, 64),  # bigger, downscaled more
        (40, 50, 20.3, 24.6, 9.2, 32),  # small source: upscaled
    ],
)
def test_border_matte_recentres_and_scales_a_disc(tmp_path, height, width, cx, cy, radius, size):
    coverage = disc_coverage(height, width, cx, cy, radius)
    image = coverage[..., None] * RED + (1 - coverage[..., None]) * BLUE_GRAY
    path = tmp_path / "disc.png"
    Image.fromarray(to_uint8(image)).save(path)

    reference = load_reference_image(path, size=size, border_ratio=0.2)

    assert reference.matting == "border" and reference.source_size == (width, height)
    assert reference.rgba.shape == (size, size, 4) and reference.rgba.dtype == torch.float32
    alpha = reference.mask.numpy()
    expected = centred_disc(size, 0.2)
    assert soft_iou(alpha, expected) > 0.95
    x, y = centroid(alpha)
    assert abs(x - size / 2) < 0.25 and abs(y - size / 2) < 0.25
    x0, y0, x1, y1 = object_box(reference.mask)
    assert abs((x1 - x0) - 0.8 * size) < 1.0 and abs((y1 - y0) - 0.8 * size) < 1.0
    # the object's colour survives matting (un-mixed from the background), and white is outside
    solid = alpha > 0.99
    np.testing.assert_allclose(reference.rgba[..., :3].numpy()[solid].mean(axis=0), RED, atol=0.01)
    far = disc_coverage(size, size, size / 2, size / 2, 0.4 * size + 1.0) == 0  # a pixel clear of the edge
    assert np.allclose(reference.rgb_on_white.numpy()[far], 1.0, atol=0.02)


@pytest.mark.parametrize("border_ratio", [0.0, 0.2, 0.5])
def test_larger_side_fills_one_minus_border_ratio(tmp_path, border_ratio):
    """A 60x30 rectangle: its larger (horizontal) side spans (1 - border)·size, the other half that."""
    image = np.ones((100, 120, 3))
    image[20:50, 40:100] = (0.15, 0.30, 0.90)
    path = tmp_path / "rect.png"
    Image.fromarray(to_uint8(image)).save(path)
    size = 40
    alpha = load_reference_image(path, size=size, border_ratio=border_ratio).mask
    x0, y0, x1, y1 = object_box(alpha)
    side = (1 - border_ratio) * size
    assert abs((x1 - x0) - side) < 0.5 and abs((y1 - y0) - side / 2) < 0.5
    assert abs(0.5 * (x0 + x1) - size / 2) < 0.5 and abs(0.5 * (y0 + y1) - size / 2) < 0.5
    assert float(alpha.sum()) == pytest.approx(side * side / 2, rel=0.03)


def test_rgba_alpha_is_used_as_is_without_colour_bleed(tmp_path):
    height, width = 120, 90
    coverage = disc_coverage(height, width, 40.2, 70.5, 25.0)
    generator = np.random.default_rng(0)
    colour = np.where(coverage[..., None] > 0, RED, generator.random((height, width, 3)))  # garbage where transparent
    rgba = np.concatenate([colour, coverage[..., None]], axis=-1)
    path = tmp_path / "disc_rgba.png"
    Image.fromarray(to_uint8(rgba)).save(path)

    reference = load_reference_image(path, size=32)

    assert reference.matting == "alpha"
    expected = centred_disc(32, 0.2)
    assert soft_iou(reference.mask.numpy(), expected) > 0.97
    composite = expected[..., None] * RED + (1 - expected[..., None])
    assert np.abs(reference.rgb_on_white.numpy() - composite).max() < 0.1
    # where there is any alpha, the straight colour is the disc's, not the garbage behind it
    visible = reference.mask.numpy() > 0.05
    assert np.abs(reference.rgba[..., :3].numpy()[visible] - RED).max() < 0.02


def disc_canvas(height=80, width=100):
    return disc_coverage(height, width, 60.3, 35.8, 22.0)


@pytest.mark.parametrize("mode", ["L", "P", "LA", "1", "CMYK"])
def test_other_modes_load(tmp_path, mode):
    coverage = disc_canvas()
    gray = 0.2 * coverage + 0.95 * (1 - coverage)
    if mode == "LA":
        image = Image.fromarray(to_uint8(np.stack([np.full_like(coverage, 0.2), coverage], axis=-1)))
        assert image.mode == "LA"
    elif mode == "1":
        image = Image.fromarray(coverage > 0.5)
    else:
        image = Image.fromarray(to_uint8(gray)).convert(mode)
    path = tmp_path / ("odd.jpg" if mode == "CMYK" else "odd.png")
    image.save(path)
    reference = load_reference_image(path, size=32)
    assert soft_iou(reference.mask.numpy(), centred_disc(32, 0.2)) > 0.9
    expected_matting = "alpha" if mode == "LA" else "border"
    assert reference.matting == expected_matting


def test_palette_with_transparency_uses_it(tmp_path):
    coverage = disc_canvas()
    image = Image.fromarray(to_uint8(coverage[..., None] * RED + (1 - coverage[..., None])))
    image = image.quantize(colors=8)
    background_index = image.getpixel((0, 0))
    path = tmp_path / "palette.png"
    image.save(path, transparency=background_index)
    reference = load_reference_image(path, size=32)
    assert reference.matting == "alpha"
    assert soft_iou(reference.mask.numpy(), centred_disc(32, 0.2)) > 0.9


def test_sixteen_bit_gray_and_rgb_pngs_load(tmp_path):
    coverage = disc_canvas()
    gray16 = np.round((0.1 * coverage + 0.9 * (1 - coverage)) * 65535).astype(np.uint16)
    path = tmp_path / "gray16.png"
    Image.fromarray(gray16).save(path)
    assert Image.open(path).mode.startswith("I")
    reference = load_reference_image(path, size=32)
    assert soft_iou(reference.mask.numpy(), centred_disc(32, 0.2)) > 0.9
    np.testing.assert_allclose(reference.rgba[..., :3].numpy()[reference.mask.numpy() > 0.99], 0.1, atol=0.01)

    rgb16 = np.round((coverage[..., None] * RED + (1 - coverage[..., None])) * 65535).astype(">u2")
    path = write_png(tmp_path / "rgb16.png", rgb16.shape[1], rgb16.shape[0], 16, 2, rows=[row.tobytes() for row in rgb16])
    reference = load_reference_image(path, size=32)
    assert soft_iou(reference.mask.numpy(), centred_disc(32, 0.2)) > 0.9


def test_jpeg_webp_and_exif_orientation(tmp_path):
    coverage = disc_canvas()
    image = Image.fromarray(to_uint8(coverage[..., None] * RED + (1 - coverage[..., None])))
    for name in ("disc.jpg", "disc.webp"):
        image.save(tmp_path / name, quality=95)
        reference = load_reference_image(tmp_path / name, size=32)
        assert soft_iou(reference.mask.numpy(), centred_disc(32, 0.2)) > 0.9
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    image.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    assert load_reference_image(tmp_path / "rotated.jpg", size=32).source_size == (80, 100)


def test_large_image_is_reduced_before_matting(tmp_path):
    coverage = disc_coverage(2500, 3000, 1000.0, 1400.0, 600.0)
    path = tmp_path / "large.png"
    Image.fromarray(to_uint8(coverage[..., None] * RED + (1 - coverage[..., None]))).save(path, compress_level=1)
    reference = load_reference_image(path, size=32)
    assert reference.source_size == (3000, 2500)
    assert soft_iou(reference.mask.numpy(), centred_disc(32, 0.2)) > 0.97


def expect_error(path, *words, **kwargs):
    return error_message(lambda: load_reference_image(path, **kwargs), *words)


def test_bad_files_are_one_line_errors(tmp_path):
    expect_error(tmp_path / "missing.png", "does not exist")
    expect_error(tmp_path, "is a folder")
    (tmp_path / "notes.png").write_text("this is not a picture")
    expect_error(tmp_path / "notes.png", "is not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    expect_error(tmp_path / "empty.png", "is not an image")

    Image.fromarray(to_uint8(np.random.default_rng(1).random((64, 64, 3)))).save(tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    expect_error(tmp_path / "truncated.png", "truncated or corrupt")

    Image.new("RGB", (1, 1), "red").save(tmp_path / "dot.png")
    expect_error(tmp_path / "dot.png", "only 1x1", "at least 8x8")
    Image.new("RGB", (7, 300), "red").save(tmp_path / "sliver.png")
    expect_error(tmp_path / "sliver.png", "only 7x300")


@pytest.mark.parametrize("width, height", [(8193, 8192), (10000, 10000), (20000, 20000)])
def test_enormous_images_are_refused_from_the_header(tmp_path, width, height):
    """The IDAT holds one row: decoding would fail, so refusing proves the size was checked first."""
    assert width * height > MAX_PIXELS
    path = write_png(tmp_path / "bomb.png", width, height, 8, 0, idat=zlib.compress(b"\x00" * (width + 1)))
    expect_error(path, "downscale")


def test_empty_after_matting_and_fully_transparent(tmp_path):
    Image.new("RGB", (64, 48), (200, 30, 30)).save(tmp_path / "plain.png")
    expect_error(tmp_path / "plain.png", "no object found")
    Image.new("RGBA", (64, 48), (200, 30, 30, 0)).save(tmp_path / "clear.png")
    expect_error(tmp_path / "clear.png", "fully transparent")
    noise = np.random.default_rng(2).random((64, 64, 3))
    Image.fromarray(to_uint8(noise)).save(tmp_path / "noise.png")
    expect_error(tmp_path / "noise.png", "not a plain colour", "rembg")


def test_matting_choices(tmp_path):
    coverage = disc_canvas()
    Image.fromarray(to_uint8(coverage[..., None] * RED + (1 - coverage[..., None]))).save(tmp_path / "rgb.png")
    expect_error(tmp_path / "rgb.png", "no transparency", matting="alpha")
    expect_error(tmp_path / "rgb.png", "unknown matting", matting="magic")
    expect_error(tmp_path / "rgb.png", "border ratio", border_ratio=0.95)
    expect_error(tmp_path / "rgb.png", "image size", size=0)
    try:
        import rembg  # noqa: F401
    except ImportError:
        expect_error(tmp_path / "rgb.png", "pip install rembg", matting="rembg")
    # an opaque RGBA image is matted by its border colour; border matting can be forced on RGBA
    opaque = np.concatenate([coverage[..., None] * RED + (1 - coverage[..., None]), np.ones_like(coverage)[..., None]], -1)
    Image.fromarray(to_uint8(opaque)).save(tmp_path / "opaque.png")
    assert load_reference_image(tmp_path / "opaque.png").matting == "border"
    assert load_reference_image(tmp_path / "opaque.png", matting="border").matting == "border"
    # forced border matting of a transparent RGBA image sees it over white (its hidden colour is black here)
    clear = np.concatenate([coverage[..., None] * RED, coverage[..., None]], -1)
    Image.fromarray(to_uint8(clear)).save(tmp_path / "clear_disc.png")
    forced = load_reference_image(tmp_path / "clear_disc.png", matting="border")
    assert forced.matting == "border" and soft_iou(forced.mask.numpy(), centred_disc(32, 0.2)) > 0.95


def test_resample_matrix_is_area_average_and_linear_interpolation():
    def close(actual, rows):
        torch.testing.assert_close(actual, torch.tensor(rows, dtype=torch.float64))

    close(resample_matrix(6, 0.0, 2.0, 3), [[0.5, 0.5, 0, 0, 0, 0], [0, 0, 0.5, 0.5, 0, 0], [0, 0, 0, 0, 0.5, 0.5]])
    # shifted by half a pixel: each output straddles two inputs; the last one leaves the image (transparent)
    close(resample_matrix(4, 0.5, 1.0, 4), [[0.5, 0.5, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0.5, 0.5], [0, 0, 0, 0.5]])
    # upscaling: linear interpolation at the centres 0.25, 0.75, 1.25, 1.75 (input centres 0.5, 1.5)
    close(resample_matrix(2, 0.0, 0.5, 4), [[0.75, 0], [0.75, 0.25], [0.25, 0.75], [0, 0.75]])
