"""Mesh scores: volumetric IoU (best turn about +Y) and Chamfer distance against known shapes."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from dreamlift.evaluation.mesh_scores import (
    chamfer_distance,
    mesh_occupancy,
    score_mesh,
    turn_about_y,
    voxel_centres,
    volumetric_iou,
)


def inside_box(half):
    half = np.asarray(half)
    return lambda p: np.all(np.abs(p) <= half, axis=1)


def test_occupancy_of_a_box_is_exact_and_of_a_ball_has_its_volume():
    box = trimesh.creation.box(extents=(0.9, 0.6, 0.4))
    truth = inside_box((0.45, 0.3, 0.2))(voxel_centres(48, 1.0)).reshape(48, 48, 48)
    np.testing.assert_array_equal(mesh_occupancy(box, 48), truth)
    ball = trimesh.creation.icosphere(subdivisions=4, radius=0.6)
    voxels = mesh_occupancy(ball, 96).sum() * (2.0 / 96) ** 3
    assert voxels == pytest.approx(ball.volume, rel=0.005)


def test_mesh_with_holes_uses_the_vote_of_three_axes():
    ball = trimesh.creation.icosphere(subdivisions=3, radius=0.6)
    holed = ball.copy()
    holed.update_faces(np.arange(len(holed.faces)) % 97 != 0)  # a few holes
    assert not holed.is_watertight
    full, voted = mesh_occupancy(ball, 64), mesh_occupancy(holed, 64)
    assert (full & voted).sum() / (full | voted).sum() > 0.99


def test_best_turn_is_found():
    box = trimesh.creation.box(extents=(0.9, 0.6, 0.3))
    turned = box.copy()
    turned.vertices = turn_about_y(box.vertices, 30.0)
    iou, turn, unturned = volumetric_iou(turned, inside_box((0.45, 0.3, 0.15)), resolution=64)
    assert iou > 0.97 and unturned < 0.8
    assert min(abs(turn - t) for t in (-30.0, 150.0)) <= 1.0  # the box is symmetric under a half turn
    fixed, at, _ = volumetric_iou(turned, inside_box((0.45, 0.3, 0.15)), resolution=64, turn=0.0)
    assert at == 0.0 and fixed == pytest.approx(unturned)


def test_chamfer_distance_of_concentric_balls():
    small = trimesh.creation.icosphere(subdivisions=5, radius=0.5)
    large = trimesh.creation.icosphere(subdivisions=5, radius=0.55)
    assert chamfer_distance(small, large, samples=50000) == pytest.approx(0.05, abs=0.004)
    assert chamfer_distance(small, small, samples=50000) < 0.004


def test_score_mesh_against_a_ball():
    ball = trimesh.creation.icosphere(subdivisions=4, radius=0.6)
    scores = score_mesh(ball, lambda p: np.linalg.norm(p, axis=1) <= 0.6, ball, resolution=64)
    assert scores.iou > 0.98 and scores.chamfer < 0.01
    assert set(scores.as_dict()) == {"iou", "turn", "iou_unturned", "chamfer"}


def test_toy_world_truth_mesh_scores_itself():
    from dreamlift.evaluation.mesh_scores import score_toy_mesh
    from dreamlift.toyworld.shapes import ToyObject
    from dreamlift.toyworld.truth import truth_mesh

    torus = ToyObject("torus", "red")  # not symmetric about +Y: the hole faces the front
    scores = score_toy_mesh(truth_mesh(torus, resolution=96), torus, resolution=48, truth_resolution=64)
    assert scores.iou > 0.95 and scores.turn == 0.0 and scores.chamfer < 0.01
    turned = truth_mesh(torus, resolution=96)
    turned.vertices = turn_about_y(turned.vertices, 40.0)
    again = score_toy_mesh(turned, torus, resolution=48, truth_resolution=64)
    assert again.iou > 0.95 and again.turn == pytest.approx(-40.0, abs=1.0) and again.iou_unturned < 0.5


def test_field_that_renders_like_a_toy_object_scores_high():
    """A field whose rendered edge sits on the toy cube's and torus's surfaces exports to IoU > 0.85.

    The field is the object's SDF shifted inward by the distance at which a sharp
    fall-off (width w, peak p) reaches optical depth ln 2 over a path of ~0.3: what a
    trained field that matches the truth's silhouettes looks like.
    """
    import math

    from dreamlift.evaluation.mesh_scores import score_toy_mesh
    from dreamlift.export.analytic import SDFField
    from dreamlift.export.mesh import MeshConfig, extract_mesh
    from dreamlift.toyworld.shapes import ToyObject, distance

    width, peak = 0.005, 100.0
    shift = width * math.log(0.3 * peak / math.log(2.0))
    for shape, at_least in (("cube", 0.95), ("torus", 0.85)):
        field = SDFField(lambda p, s=shape: distance(s, p) + shift, peak=peak, width=width)
        mesh = extract_mesh(field, MeshConfig(resolution=64)).mesh
        scores = score_toy_mesh(mesh, ToyObject(shape, "orange"), resolution=48, truth_resolution=64)
        assert scores.iou > at_least and abs(scores.turn) <= 3.0 and scores.chamfer < 0.02, (shape, scores)


def test_volumetric_iou_of_boxes_matches_the_hand_count():
    """Voxel centres sit at odd multiples of 0.025 (resolution 40), never on a face: the counts are exact."""
    box = trimesh.creation.box(extents=(0.8, 0.8, 0.4))  # 16 × 16 × 8 voxels
    half_as_deep = inside_box((0.4, 0.4, 0.1))  # 16 × 16 × 4 voxels, all inside the box
    iou, turn, unturned = volumetric_iou(box, half_as_deep, resolution=40, turn=0.0)
    assert iou == unturned == pytest.approx(0.5) and turn == 0.0
    same = inside_box((0.4, 0.4, 0.2))
    assert volumetric_iou(box, same, resolution=40, turn=0.0)[0] == pytest.approx(1.0)
    # a quarter turn swaps the x and z extents: 8 × 16 × 8 in common, 2048 + 2048 − 1024 in all → 1/3
    quarter, at, _ = volumetric_iou(box, same, resolution=40, turn=90.0)
    assert quarter == pytest.approx(1.0 / 3.0) and at == 90.0
