"""The fixed views: where each set looks from, all at the toy world's camera."""

import numpy as np
import pytest
import torch

from dreamlift.rendering import views
from dreamlift.rendering.cameras import TOY_CAMERA, OrbitCameras, wrap_degrees


def test_the_toy_camera_is_toyworlds_middle():
    assert (TOY_CAMERA.radius, TOY_CAMERA.fovy) == (3.0, 40.0)
    default = OrbitCameras.make(0.0, 0.0)
    assert default.radius.item() == 3.0 and default.fovy.item() == 40.0


@pytest.mark.parametrize(
    "make, count",
    [(views.preview_views, 4), (views.held_out_views, 24), (views.janus_views, 2), (views.novel_views, 15), (views.fit_views, 5)],
)
def test_every_fixed_view_sits_at_the_toy_camera(make, count):
    cameras = make()
    assert len(cameras) == count
    assert (cameras.radius == 3.0).all() and (cameras.fovy == 40.0).all()


def test_previews_are_front_right_back_left_and_the_trainer_uses_them():
    from dreamlift.training import trainer

    cameras = views.preview_views()
    assert cameras.azimuth.tolist() == [0.0, 90.0, 180.0, 270.0] and (cameras.elevation == 15.0).all()
    assert trainer.PREVIEW_VIEWS is views.PREVIEW_VIEWS
    assert torch.equal(views.PREVIEW_VIEWS.azimuth, cameras.azimuth)


def test_held_out_views_are_three_rings_of_eight_away_from_the_previews():
    cameras = views.held_out_views()
    assert cameras.elevation.tolist() == [5.0] * 8 + [25.0] * 8 + [45.0] * 8  # elevation-major
    np.testing.assert_array_equal(cameras.azimuth[:8].numpy(), 22.5 + 45.0 * np.arange(8))
    assert (torch.remainder(cameras.azimuth, 45.0) == 22.5).all()  # never a preview azimuth (multiples of 90)


def test_janus_views_are_front_and_back():
    cameras = views.janus_views()
    assert cameras.azimuth.tolist() == [0.0, 180.0] and cameras.elevation.tolist() == [15.0, 15.0]


def test_novel_views_are_at_least_90_degrees_from_the_input():
    cameras = views.novel_views()
    assert float(wrap_degrees(cameras.azimuth).abs().min()) >= 90.0
    assert len(cameras) == len(views.NOVEL_ELEVATIONS) * len(views.NOVEL_AZIMUTHS)


def test_fit_views_go_around_and_look_down_once():
    cameras = views.fit_views()
    assert cameras.elevation.tolist() == [20.0, 20.0, 20.0, 20.0, 70.0]
    assert cameras.azimuth.tolist() == [0.0, 90.0, 180.0, 270.0, 45.0]


def test_turntable_goes_once_around():
    cameras = views.turntable_views(12, 20.0)
    assert len(cameras) == 12
    np.testing.assert_allclose(cameras.azimuth.numpy(), np.arange(12) * 30.0)
    assert (cameras.elevation == 20.0).all() and (cameras.radius == 3.0).all()
    far = views.turntable_views(3, 0.0, radius=4.0, fovy=30.0)
    assert far.azimuth.tolist() == [0.0, 120.0, 240.0] and (far.radius == 4.0).all() and (far.fovy == 30.0).all()
