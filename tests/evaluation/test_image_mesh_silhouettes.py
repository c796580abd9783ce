"""The novel-view silhouettes of an image run's exported mesh (bench/image.py --refine)."""

from __future__ import annotations

import pytest
import torch
import trimesh

from dreamlift.errors import DreamliftError
from dreamlift.evaluation.image_scores import exported_mesh_alpha
from dreamlift.evaluation.scores import silhouette_iou
from dreamlift.rendering.views import novel_views
from dreamlift.toyworld import parse_caption, render


def test_an_exported_sphere_has_the_toy_spheres_silhouettes_and_a_smaller_one_does_not(tmp_path):
    cameras = novel_views()
    truth = render(parse_caption("a red sphere"), cameras, 32)[..., 3]  # radius 0.6 at the origin
    # 32 px: an exact match still differs in a few outline pixels at coverage ≈ 0.5 (8 of 256 a view)
    for radius, low, high in ((0.6, 0.96, 1.0), (0.5, 0.66, 0.72)):
        path = tmp_path / f"sphere-{radius}.glb"
        trimesh.creation.icosphere(subdivisions=4, radius=radius).export(path)
        alpha = exported_mesh_alpha(path, cameras, 32)
        assert alpha.shape == truth.shape
        assert low <= silhouette_iou(alpha, truth) <= high  # the smaller one: (0.5 / 0.6)² = 0.694


def test_a_run_without_a_mesh_gets_a_one_line_error(tmp_path):
    with pytest.raises(DreamliftError, match="export the run"):
        exported_mesh_alpha(tmp_path / "mesh.glb", novel_views(), 32)
