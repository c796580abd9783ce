"""Ground truth: reference meshes, occupancy and silhouettes."""

import math

import numpy as np
import pytest
import torch

from dreamlift.errors import DreamliftError
from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.toyworld import BROWN, COLORS, DARK_GRAY, ToyObject, inside, render, silhouette, truth_mesh


def test_sphere_mesh_volume_bounds_watertight():
    mesh = truth_mesh(ToyObject("sphere", "red"), resolution=96)
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume == pytest.approx(4 / 3 * math.pi * 0.6**3, rel=0.02)
    assert np.abs(mesh.bounds - np.array([[-0.6] * 3, [0.6] * 3])).max() < 0.02
    assert np.abs(np.linalg.norm(mesh.vertices, axis=1) - 0.6).max() < 0.01
    assert np.all(mesh.visual.vertex_colors[:, :3] == np.round(np.array(COLORS["red"]) * 255))


def test_house_mesh_frame_and_part_colours():
    mesh = truth_mesh(ToyObject("house", "green"), resolution=64)
    assert mesh.is_watertight
    assert mesh.volume == pytest.approx(0.8 * 0.75 * 0.8 + 0.45 / 3 + 0.26 * 0.45 * 0.04, rel=0.03)
    lo, hi = mesh.bounds
    assert hi[1] == pytest.approx(0.65, abs=0.03) and lo[1] == pytest.approx(-0.55, abs=0.02)  # +Y up
    assert hi[2] == pytest.approx(0.5, abs=0.02)  # the roof's eave (the door only reaches 0.44)
    colors = mesh.visual.vertex_colors[:, :3].astype(float) / 255
    top = mesh.vertices[:, 1] > 0.4
    assert np.allclose(colors[top], DARK_GRAY, atol=0.01)
    door = (mesh.vertices[:, 2] > 0.43) & (np.abs(mesh.vertices[:, 0]) < 0.1) & (mesh.vertices[:, 1] < -0.2)
    assert door.sum() > 5 and np.allclose(colors[door], BROWN, atol=0.01)  # the door is on the front (+Z)
    back = (mesh.vertices[:, 2] < -0.39) & (mesh.vertices[:, 1] < 0.1)
    assert back.sum() > 5 and np.allclose(colors[back], COLORS["green"], atol=0.01)


def test_mesh_resolution_is_checked():
    with pytest.raises(DreamliftError, match="at least 8"):
        truth_mesh(ToyObject("cube", "red"), resolution=2)


def test_inside_is_occupancy():
    points = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.44], [0.0, 0.0, 0.46], [0.9, 0.0, 0.0]])
    assert inside(ToyObject("cube", "red"), points).tolist() == [True, True, False, False]
    assert inside(ToyObject("torus", "red"), points).tolist() == [False, False, False, False]


def test_silhouette_is_the_render_alpha():
    obj = ToyObject("chair", "pink")
    cameras = OrbitCameras.make([10.0, 50.0], [30.0, 200.0], [2.9, 3.1], 40.0)
    alpha = silhouette(obj, cameras, 24)
    assert alpha.shape == (2, 24, 24)
    assert torch.equal(alpha, render(obj, cameras, size=24)[..., 3])
    assert 0.0 < alpha.mean() < 0.5 and set(torch.unique(alpha * 4).tolist()) <= {0.0, 1.0, 2.0, 3.0, 4.0}
