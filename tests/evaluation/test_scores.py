"""Text-run scores against hand-computed cases, and a field shaped like the truth scoring high."""

import math

import pytest
import torch

from dreamlift.evaluation.scores import color_error, psnr, score_field, silhouette_iou, turned
from dreamlift.rendering.cameras import OrbitCameras


def test_silhouette_iou_of_known_masks():
    alpha = torch.zeros(3, 4, 4)
    truth = torch.zeros(3, 4, 4)
    alpha[0, :, :2] = 0.9  # left half: 8 pixels
    truth[0, :2, :] = 0.7  # top half: 8 pixels; both: the top-left 2×2 → IoU 4 / 12
    alpha[1] = 0.51  # everything (just above the 0.5 threshold): 16 pixels
    truth[1, 1:3, 1:3] = 1.0  # the centre 2×2 → IoU 4 / 16
    truth[1, 0, 0] = 0.5  # not above the threshold: not covered
    # view 2: both empty → 1 (nothing to disagree about)
    assert silhouette_iou(alpha, truth) == pytest.approx((4 / 12 + 4 / 16 + 1.0) / 3)
    assert silhouette_iou(alpha[:1], alpha[:1]) == 1.0
    assert silhouette_iou(alpha[:1], 1.0 - alpha[:1]) == 0.0  # complements share nothing


def test_psnr_of_a_known_error():
    truth = torch.rand(2, 8, 8, 3) * 0.8
    assert psnr(truth + 0.1, truth) == pytest.approx(20.0, abs=1e-4)  # MSE 0.01 → 10·log10(100)
    assert psnr(truth + 0.01, truth) == pytest.approx(40.0, abs=1e-3)
    assert psnr(truth, truth) == pytest.approx(100.0)  # the MSE floor of 1e-10


def test_color_error_counts_only_pixels_covered_in_both():
    image, truth = torch.zeros(1, 2, 2, 3), torch.zeros(1, 2, 2, 3)
    image[0, 0, 0] = torch.tensor([0.5, 0.5, 0.5])  # covered in both: error 0.5
    image[0, 0, 1] = torch.tensor([0.2, 0.2, 0.2])  # covered in both: error 0.2
    image[0, 1, 0] = 1.0  # covered in the image only: ignored
    alpha = torch.tensor([[[1.0, 1.0], [1.0, 0.0]]])
    truth_alpha = torch.tensor([[[1.0, 1.0], [0.0, 1.0]]])
    assert color_error(image, alpha, truth, truth_alpha) == pytest.approx(0.35)
    assert color_error(image, torch.zeros_like(alpha), truth, truth_alpha) == 1.0  # nothing in common: the worst


def test_turned_cameras_add_the_turn_to_the_azimuth_only():
    cameras = OrbitCameras.make([5.0, 25.0], [22.5, 67.5], 3.0, 40.0)
    turn = turned(cameras, 30.0)
    assert turn.azimuth.tolist() == [52.5, 97.5]
    assert torch.equal(turn.elevation, cameras.elevation) and torch.equal(turn.radius, cameras.radius)


def test_a_field_shaped_like_the_toy_cube_scores_high_and_a_wrong_colour_does_not():
    """The cube's SDF, shifted inward to where a sharp fall-off reaches optical depth ln 2 (as in test_mesh_scores)."""
    from dreamlift.export.analytic import SDFField
    from dreamlift.toyworld.colors import COLORS
    from dreamlift.toyworld.shapes import ToyObject, distance

    width, peak = 0.005, 100.0
    shift = width * math.log(0.3 * peak / math.log(2.0))
    field = SDFField(lambda p: distance("cube", p) + shift, albedo=COLORS["red"], peak=peak, width=width)
    scores = score_field(field, ToyObject("cube", "red"), size=16, search_turn=False)
    assert scores.silhouette_iou > 0.93 and scores.psnr > 20.0 and scores.color_error < 0.04, scores
    assert scores.turn == 0.0 and scores.janus is None  # the cube is not one of the Janus shapes
    wrong = score_field(field, ToyObject("cube", "blue"), size=16, search_turn=False)
    assert wrong.silhouette_iou == pytest.approx(scores.silhouette_iou)  # the same shape
    assert wrong.color_error > 0.3 and wrong.psnr < 15.0
