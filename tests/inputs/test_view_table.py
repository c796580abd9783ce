"""Several input images with known cameras, from a CSV or JSON table."""

import json

import numpy as np
import pytest
from PIL import Image

from _helpers import error_message
from dreamlift.errors import DreamliftError
from dreamlift.inputs import load_view_table


@pytest.fixture
def images(tmp_path):
    """Two RGBA pictures of one size in a sub-folder: a wide red box and a tall blue one, both centred."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    wide = np.zeros((60, 60, 4), dtype=np.uint8)
    wide[20:40, 5:55] = (220, 30, 30, 255)
    tall = np.zeros((60, 60, 4), dtype=np.uint8)
    tall[5:55, 20:40] = (40, 80, 230, 255)
    Image.fromarray(wide).save(folder / "front.png")
    Image.fromarray(tall).save(folder / "back.png")
    return tmp_path


def test_csv_table_with_relative_paths_and_defaults(images):
    table = images / "views.csv"
    table.write_text("path, elevation, azimuth, radius\npictures/front.png, 10, 0, 3.2\npictures/back.png, -5, 190,\n")
    views = load_view_table(table, size=16)
    assert len(views) == 2
    front, back = views
    assert (float(front.camera.elevation), float(front.camera.azimuth), float(front.camera.radius), float(front.camera.fovy)) == (
        10.0,
        0.0,
        pytest.approx(3.2),
        40.0,
    )
    assert float(back.camera.azimuth) == pytest.approx(-170.0)  # wrapped into [-180, 180)
    assert float(back.camera.radius) == 3.0 and back.weight == 1.0
    # each image is its own file: the wide one is wide, the tall one tall, both red/blue
    assert front.image.rgba.shape == (16, 16, 4)
    assert front.image.mask.sum(dim=0).max() < front.image.mask.sum(dim=1).max()
    assert back.image.mask.sum(dim=0).max() > back.image.mask.sum(dim=1).max()
    assert front.image.rgba[8, 8, 0] > 0.8 and back.image.rgba[8, 8, 2] > 0.8


def test_json_table_and_stable_dreamfusion_columns(images):
    listing = [
        {"image": "pictures/front.png", "polar": 90, "phi": 0, "zero123_weight": 3},
        {"path": str(images / "pictures" / "back.png"), "elevation": 30, "azimuth": 180, "fovy": 50},
    ]
    (images / "views.json").write_text(json.dumps({"views": listing}))
    front, back = load_view_table(images / "views.json", size=16)
    assert float(front.camera.elevation) == 0.0 and front.weight == 3.0
    assert float(back.camera.elevation) == 30.0 and float(back.camera.azimuth) == -180.0 and float(back.camera.fovy) == 50.0
    # stable-dreamfusion's --image_config CSV, header and all
    (images / "sd.csv").write_text("zero123_weight, radius, theta, phi, image\n1, 3.1, 80, 0, pictures/front.png\n")
    (view,) = load_view_table(images / "sd.csv", size=16)
    assert float(view.camera.elevation) == pytest.approx(10.0) and float(view.camera.radius) == pytest.approx(3.1)


@pytest.mark.parametrize(
    "name, text, words",
    [
        ("bad.csv", "path, elevation, azimuth, colour\npictures/front.png, 0, 0, red\n", ["line 1", "unknown column 'colour'"]),
        ("bad.csv", "path, elevation, azimuth\npictures/front.png, high, 0\n", ["line 2", "elevation 'high' is not a number"]),
        ("bad.csv", "path, elevation\npictures/front.png, 0\n", ["line 2", "azimuth is missing"]),
        ("bad.csv", "path, elevation, azimuth\npictures/front.png, 100, 0\n", ["elevation 100 is outside [-90, 90]"]),
        ("bad.csv", "path, elevation, azimuth, radius\npictures/front.png, 0, 0, -1\n", ["radius -1 must be > 0"]),
        ("bad.csv", "path, elevation, azimuth\npictures/front.png, 0, nan\n", ["not a finite number"]),
        ("bad.csv", "path, elevation, azimuth\npictures/front.png, 0\n", ["line 2", "has 2 values but the header has 3"]),
        ("bad.csv", "path, elevation, azimuth\n\n", ["lists no images"]),
        ("bad.csv", "path, elevation, azimuth\npictures/side.png, 0, 90\n", ["line 2", "side.png does not exist"]),
        ("bad.csv", "path, elevation, polar, azimuth\npictures/front.png, 0, 90, 0\n", ["elevation or polar, not both"]),
        ("bad.json", "[{\"path\": \"pictures/front.png\", \"elevation\": 0,", ["not valid JSON"]),
        ("bad.json", "{\"path\": \"pictures/front.png\"}", ["must hold a list"]),
        ("bad.json", "[{\"path\": \"pictures/front.png\", \"elevation\": true, \"azimuth\": 0}]", ["entry 1", "is not a number"]),
        ("bad.json", "[[\"pictures/front.png\", 0, 0]]", ["entry 1", "is not an object"]),
        ("bad.json", "[{\"elevation\": 0, \"azimuth\": 0}]", ["entry 1", "image path is missing"]),
        ("bad.txt", "path, elevation, azimuth\n", ["must end in .csv or .json"]),
    ],
)
def test_bad_tables_are_one_line_errors(images, name, text, words):
    (images / name).write_text(text)
    error_message(lambda: load_view_table(images / name), str(images / name), *words)


def test_missing_table(tmp_path):
    with pytest.raises(DreamliftError, match="does not exist"):
        load_view_table(tmp_path / "nothing.csv")
    with pytest.raises(DreamliftError, match="is a folder"):
        load_view_table(tmp_path)
