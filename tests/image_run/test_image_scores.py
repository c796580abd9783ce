"""Image-run scores: the mesh renderer against the toy renderer, and the input-camera frame convention."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from torch import nn

from dreamlift._atomic import write_png
from dreamlift.errors import DreamliftError
from dreamlift.evaluation.image_scores import (
    MESH_RADIUS,
    load_truth_mesh,
    normalised_truth,
    parse_truth,
    render_mesh,
    score_image_run,
)
from dreamlift.evaluation.mesh_scores import turn_about_y
from dreamlift.evaluation.scores import psnr, render_truth, silhouette_iou
from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.shading import head_lights
from dreamlift.toyworld import COLORS, ToyObject, composite_white, render
from dreamlift.toyworld.render import sdf_normals
from dreamlift.toyworld.shapes import evaluate
from dreamlift.presets import toy_image
from dreamlift.distillation.reference import ImageSettings, ReferenceCamera
from types import SimpleNamespace

CAMERAS = OrbitCameras.make([5.0, 25.0, 45.0], [22.5, 100.0, 200.0], 3.0, 40.0)


def test_mesh_renderer_matches_toy_renderer():
    for shape, mesh, radius in (
        ("cube", trimesh.creation.box(extents=(0.9, 0.9, 0.9)), 0.45 * math.sqrt(3)),
        ("sphere", trimesh.creation.icosphere(subdivisions=4, radius=0.6), 0.6),
    ):
        truth = normalised_truth(mesh, COLORS["green"])
        truth.vertices = truth.vertices * (radius / MESH_RADIUS)
        rgba = render_mesh(truth, CAMERAS, 32, head_lights(CAMERAS))
        toy_rgb, toy_alpha = render_truth(ToyObject(shape, "green"), CAMERAS, 32)
        assert silhouette_iou(rgba[..., 3], toy_alpha) > 0.98
        assert psnr(composite_white(rgba), toy_rgb) > 35.0


def test_meshes_are_centred_and_scaled(tmp_path):
    mesh = trimesh.creation.box(extents=(2.0, 4.0, 1.0))
    mesh.apply_translation((5.0, -3.0, 1.0))
    path = tmp_path / "box.obj"
    mesh.export(path)
    truth = load_truth_mesh(path, COLORS["red"])
    np.testing.assert_allclose(truth.vertices.min(0) + truth.vertices.max(0), 0.0, atol=1e-9)
    assert np.linalg.norm(truth.vertices, axis=1).max() == pytest.approx(MESH_RADIUS)
    blue = parse_truth(str(path), "blue")
    assert blue.albedo == COLORS["blue"] == (0.15, 0.3, 0.9)
    np.testing.assert_allclose(blue.vertices, truth.vertices)  # the same mesh, centred and scaled the same
    assert parse_truth("a yellow chair") == ToyObject("chair", "yellow")
    with pytest.raises(DreamliftError, match="colour"):
        parse_truth(str(path), "mauve")
    with pytest.raises(DreamliftError, match="does not exist"):
        parse_truth(str(tmp_path / "missing.obj"))


class TurnedToyField(nn.Module):
    """A toy object turned by ``turn`` degrees about +Y, as a sharp volume (the field of a perfect image run)."""

    def __init__(self, obj, turn):
        super().__init__()
        self.obj, self.turn = obj, turn
        self.anchor = nn.Parameter(torch.zeros(()))  # renderers read the device from the parameters

    def forward(self, points):
        local = torch.as_tensor(turn_about_y(points.double().numpy(), -self.turn), dtype=torch.float32)
        distance, albedo = evaluate(self.obj, local)
        return 400.0 * torch.sigmoid(-distance * 200.0), albedo

    def density(self, points):
        return self.forward(points)[0]

    def density_albedo_normals(self, points):
        density, albedo = self.forward(points)
        local = torch.as_tensor(turn_about_y(points.double().numpy(), -self.turn), dtype=torch.float32)
        normals = sdf_normals(self.obj.shape, local)
        return density, albedo, torch.as_tensor(turn_about_y(normals.double().numpy(), self.turn), dtype=torch.float32)


def fake_run(folder: Path, obj, input_azimuth: float, elevation: float) -> tuple[SimpleNamespace, "TurnedToyField"]:
    """A run folder of a perfect result (the run as :class:`~dreamlift.pipeline.run.Run` shows it, and its scene):
    the truth turned by −input_azimuth, fitted to the truth's input view."""
    camera = OrbitCameras.make(elevation, input_azimuth, 3.0, 40.0)
    write_png(folder / "input.png", render(obj, camera, 32, lights=head_lights(camera))[0])
    config = toy_image()
    config.image = ImageSettings(views=[ReferenceCamera(elevation=elevation)])
    field = TurnedToyField(obj, -input_azimuth)
    return SimpleNamespace(path=folder, config=config, kind="image"), field


def test_scores_are_taken_relative_to_the_input_camera(tmp_path):
    obj = ToyObject("chair", "purple")
    loaded = fake_run(tmp_path, obj, input_azimuth=70.0, elevation=20.0)
    # a point-sampled volume render against supersampled truth: the chair's thin legs alias at 32x32
    right = score_image_run(*loaded, obj, input_azimuth=70.0)
    assert right.novel_silhouette_iou > 0.8 and right.novel_psnr > 21.0
    assert right.input_psnr > 21.0 and right.input_silhouette_iou > 0.9
    for wrong_azimuth in (-110.0, 40.0):  # the opposite side; 30 degrees off
        wrong = score_image_run(*loaded, obj, input_azimuth=wrong_azimuth)
        assert wrong.novel_silhouette_iou < right.novel_silhouette_iou - 0.2
        assert wrong.novel_psnr < right.novel_psnr - 5.0
    with pytest.raises(DreamliftError, match="elevation"):
        score_image_run(*loaded, obj, input_azimuth=70.0, input_elevation=0.0)
