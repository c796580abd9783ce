"""Views with known cameras share one framing: one 3D centre, one world scale (issue 13, item 0)."""

import numpy as np
import pytest
import torch
from PIL import Image

from _helpers import error_message
from dreamlift.inputs import load_view_table
from dreamlift.inputs.framing import box_windows, frame_view_sets, object_box, project, shared_centre, shared_windows, unframe, whole_windows
from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.toyworld import ToyObject, render


def squares_at(point: torch.Tensor, cameras: OrbitCameras, size: int, half: float) -> torch.Tensor:
    """``(V, size, size)`` alpha: a square of half-side ``half`` pixels about the projection of ``point`` in each camera."""
    px, py, _ = project(point, cameras, size, size)
    grid = torch.arange(size, dtype=torch.float64) + 0.5
    inside_x = (grid[None, :] - px[:, None]).abs() <= half
    inside_y = (grid[None, :] - py[:, None]).abs() <= half
    return (inside_y[:, :, None] & inside_x[:, None, :]).float()


def test_shared_centre_is_the_point_the_box_centres_see():
    point = torch.tensor([0.2, -0.15, 0.1], dtype=torch.float64)
    cameras = OrbitCameras.make([0.0, 20.0, -10.0], [0.0, 100.0, 215.0], [3.0, 3.5, 2.8], 40.0)
    alpha = squares_at(point, cameras, 256, 6.0)
    centre = shared_centre(alpha, cameras)
    assert torch.allclose(centre, point, atol=0.01), centre


def test_one_view_alone_is_framed_on_its_own_box():
    alpha = torch.zeros(1, 40, 40)
    alpha[0, 5:15, 20:36] = 1.0
    cameras = OrbitCameras.make(0.0, 0.0)
    shared, own = shared_windows(alpha, cameras, 0.2), box_windows(alpha, 0.2)
    assert torch.equal(shared.x0, own.x0) and torch.equal(shared.side, own.side)
    assert float(own.side[0]) == pytest.approx(16 / 0.8)  # the larger side spans 1 - border of the square


def test_known_cameras_keep_their_relative_scale():
    """A sphere seen from radius 3 and radius 4: framed together its image sizes keep the ratio 4 : 3 of
    focal/depth, and the larger spans 1 - border; framed alone each would fill the same share."""
    sphere = ToyObject("sphere", "red")
    cameras = OrbitCameras.make([0.0, 0.0], [0.0, 180.0], [3.0, 4.0], 40.0)
    rgba = render(sphere, cameras, size=96, supersample=2)
    framed = frame_view_sets(rgba[None], cameras, 48, 0.2)[0]
    widths = [object_box(f[..., 3])[2] - object_box(f[..., 3])[0] for f in framed]
    assert widths[0] == pytest.approx(0.8 * 48, abs=0.3)
    assert widths[0] / widths[1] == pytest.approx(4.0 / 3.0, rel=0.03)
    alone = frame_view_sets(rgba[:, None], cameras[0:1], 48, 0.2)[:, 0]
    alone_widths = [object_box(f[..., 3])[2] - object_box(f[..., 3])[0] for f in alone]
    assert alone_widths[1] == pytest.approx(alone_widths[0], abs=0.3)


def test_unframe_inverts_frame_and_no_recentre_is_a_resize():
    sphere = ToyObject("cube", "blue")
    cameras = OrbitCameras.make([10.0, 30.0], [20.0, 140.0])
    rgba = render(sphere, cameras, size=32, supersample=2)
    windows = shared_windows(rgba[..., 3], cameras, 0.2)
    framed = frame_view_sets(rgba[None], cameras, 32, 0.2)[0]
    back = unframe(framed, windows, 32, 32)
    assert (back[..., 3] - rgba[..., 3]).abs().mean() < 0.02
    kept = frame_view_sets(rgba[None], cameras, 32, 0.2, recentre=False)[0]
    assert torch.allclose(kept[..., 3], rgba[..., 3], atol=1e-5)
    whole = whole_windows(1, 20, 40)  # a wide image is padded to a square about its centre
    assert (float(whole.x0[0]), float(whole.y0[0]), float(whole.side[0])) == (0.0, -10.0, 40.0)


def write_png(path, height, width):
    picture = np.zeros((height, width, 4), dtype=np.uint8)
    picture[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = (200, 60, 60, 255)
    Image.fromarray(picture).save(path)


def test_a_table_whose_images_disagree_in_size_is_a_one_line_error(tmp_path):
    write_png(tmp_path / "front.png", 40, 40)
    write_png(tmp_path / "back.png", 48, 40)
    (tmp_path / "views.csv").write_text("path, elevation, azimuth\nfront.png, 0, 0\nback.png, 0, 180\n")
    error_message(lambda: load_view_table(tmp_path / "views.csv"), "line 3", "40x48", "40x40", "same size")


def test_a_table_without_recentring_keeps_each_image_whole(tmp_path):
    write_png(tmp_path / "front.png", 40, 40)
    write_png(tmp_path / "back.png", 40, 40)
    (tmp_path / "views.csv").write_text("path, elevation, azimuth\nfront.png, 0, 0\nback.png, 0, 180\n")
    views = load_view_table(tmp_path / "views.csv", size=20, recentre=False)
    for view in views:
        x0, y0, x1, y1 = object_box(view.image.mask)
        assert (x0, y0, x1, y1) == pytest.approx((5.0, 5.0, 15.0, 15.0), abs=1e-4)


def test_opposite_views_fix_the_centre_across_and_the_origin_along_their_axis():
    """Front and back rays nearly coincide: x and y are seen, depth is not; the centre takes z = 0 there."""
    point = torch.tensor([0.2, -0.15, 0.1], dtype=torch.float64)
    cameras = OrbitCameras.make([0.0, 0.0], [0.0, 180.0])
    alpha = squares_at(point, cameras, 256, 6.0)
    centre = shared_centre(alpha, cameras)
    assert torch.allclose(centre, torch.tensor([0.2, -0.15, 0.0], dtype=torch.float64), atol=0.02), centre
    windows = shared_windows(alpha, cameras, 0.2)
    assert float(windows.side.max()) < 256  # a sane square, not one thrown to infinity
