"""The Zero-1-to-3 relative camera embedding against hand-computed cases and zero123's own formula."""

import math

import numpy as np
import pytest
import torch

from dreamlift.errors import DreamliftError
from dreamlift.guidance.relative_pose import PoseEmbedding, pose_embedding, relative_pose
from dreamlift.rendering.cameras import OrbitCameras


def embed(ref, target, kind="zero123", radius_scale=1.0):
    return pose_embedding(OrbitCameras.make(*ref), OrbitCameras.make(*target), kind, radius_scale)[0].double().numpy()


@pytest.mark.parametrize(
    "ref, target, expected",
    [
        # same camera: no rotation
        ((0, 0, 3.0), (0, 0, 3.0), (0.0, 0.0, 1.0, 0.0)),
        # target 30 degrees higher and a quarter turn toward +X, 0.5 further: polar drops by 30 degrees
        ((0, 0, 3.0), (30, 90, 3.5), (-math.pi / 6, 1.0, 0.0, 0.5)),
        # lower target: positive delta polar; turn toward -X: negative sine
        ((20, 10, 3.0), (-10, -80, 2.8), (math.radians(30), -1.0, 0.0, -0.2)),
        # the back view
        ((0, 0, 3.0), (0, 180, 3.0), (0.0, 0.0, -1.0, 0.0)),
        # wrap at +-180: from 170 to -170 is +20 degrees, not -340
        ((0, 170, 3.0), (0, -170, 3.0), (0.0, math.sin(math.radians(20)), math.cos(math.radians(20)), 0.0)),
        ((0, -170, 3.0), (0, 170, 3.0), (0.0, -math.sin(math.radians(20)), math.cos(math.radians(20)), 0.0)),
    ],
)
def test_zero123_embedding_hand_cases(ref, target, expected):
    np.testing.assert_allclose(embed(ref, target), expected, atol=1e-6)


def test_azimuth_is_wrapped_into_half_open_range():
    ref = OrbitCameras.make(0.0, [170.0, -170.0, 0.0, 10.0, 45.0])
    target = OrbitCameras.make(0.0, [-170.0, 170.0, 180.0, -170.0, 405.0])
    pose = relative_pose(ref, target)
    np.testing.assert_allclose(pose.azimuth.numpy(), [20.0, -20.0, -180.0, -180.0, 0.0], atol=1e-4)
    assert bool(((pose.azimuth >= -180.0) & (pose.azimuth < 180.0)).all())


def test_stable_zero123_puts_reference_polar_last_in_radians():
    out = embed((20, 30, 3.0), (50, 120, 3.5), kind="stable-zero123")
    np.testing.assert_allclose(out, [math.radians(-30), 1.0, 0.0, math.radians(70)], atol=1e-6)


def test_radius_scale_multiplies_only_delta_radius():
    out = embed((0, 0, 3.0), (10, 45, 3.4), radius_scale=0.5)
    np.testing.assert_allclose(out, [math.radians(-10), math.sqrt(0.5), math.sqrt(0.5), 0.2], atol=1e-6)


def zero123_get_t(target_centre, reference_centre):
    """Zero-1-to-3's ``get_T`` (zero123/ldm/data/simple.py) on camera centres in a Z-up frame."""

    def spherical(xyz):
        xy = xyz[0] ** 2 + xyz[1] ** 2
        return math.atan2(math.sqrt(xy), xyz[2]), math.atan2(xyz[1], xyz[0]), math.sqrt(xy + xyz[2] ** 2)

    theta_t, azimuth_t, z_t = spherical(target_centre)
    theta_c, azimuth_c, z_c = spherical(reference_centre)
    d_azimuth = (azimuth_t - azimuth_c) % (2 * math.pi)
    return [theta_t - theta_c, math.sin(d_azimuth), math.cos(d_azimuth), z_t - z_c]


def test_matches_zero123_formula_on_camera_centres_in_a_z_up_frame():
    """Our centres, turned by the proper rotation (x, y, z) -> (z, x, y) that puts +Y up onto +Z.

    A proper rotation keeps the sense of turning, so this pins the sign of sin(delta azimuth);
    a mirrored convention would flip it and fail here.
    """
    rotation = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert np.isclose(np.linalg.det(rotation), 1.0)
    generator = torch.Generator().manual_seed(0)
    count = 64
    ref = OrbitCameras(
        torch.rand(count, generator=generator) * 140 - 70,
        torch.rand(count, generator=generator) * 360 - 180,
        2.5 + torch.rand(count, generator=generator),
        torch.full((count,), 40.0),
    )
    target = OrbitCameras(
        torch.rand(count, generator=generator) * 140 - 70,
        torch.rand(count, generator=generator) * 360 - 180,
        2.5 + torch.rand(count, generator=generator),
        torch.full((count,), 40.0),
    )
    ours = pose_embedding(ref, target).double().numpy()
    ref_centres = ref.position.double().numpy() @ rotation.T
    target_centres = target.position.double().numpy() @ rotation.T
    theirs = np.array([zero123_get_t(t, r) for t, r in zip(target_centres, ref_centres)])
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_one_reference_broadcasts_and_mismatched_batches_are_refused():
    ref = OrbitCameras.make(10.0, 20.0)
    targets = OrbitCameras.make(10.0, [20.0, 110.0, -70.0])
    out = pose_embedding(ref, targets, PoseEmbedding.ZERO123)
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out[:, 1].numpy(), [0.0, 1.0, -1.0], atol=1e-6)
    with pytest.raises(DreamliftError):
        pose_embedding(OrbitCameras.make(0.0, [0.0, 1.0]), targets)
