"""The toy-world scores on cases worked out by hand."""

import pytest
import torch

from dreamlift.evaluation.scores import color_error, psnr, silhouette_iou


def test_silhouette_iou_of_known_masks():
    alpha, truth = torch.zeros(3, 4, 4), torch.zeros(3, 4, 4)
    alpha[0, :2, :2] = 1.0  # 4 pixels inside the truth's 6: IoU 4/6
    truth[0, :2, :3] = 1.0
    alpha[1, 0, 0] = 0.6  # one pixel each, apart: IoU 0 (0.6 counts as inside, 0.5 does not)
    truth[1, 3, 3] = 1.0
    truth[1, 2, 2] = 0.5
    # view 2: both empty, IoU 1 by convention
    assert silhouette_iou(alpha, truth) == pytest.approx((4 / 6 + 0.0 + 1.0) / 3, abs=1e-6)
    assert silhouette_iou(truth, truth) == pytest.approx(1.0, abs=1e-6)


def test_psnr_and_colour_error_of_a_known_offset():
    truth = torch.full((2, 4, 4, 3), 0.5)
    image = truth + 0.1  # mean squared error 0.01: 20 dB
    assert psnr(image, truth) == pytest.approx(20.0, abs=1e-4)
    assert psnr(truth, truth) == pytest.approx(100.0)  # the error is floored at 1e-10
    covered, empty = torch.ones(2, 4, 4), torch.zeros(2, 4, 4)
    image[:, 0, 0] = 0.0  # a pixel off by 0.5 in one of the 16 pixels of each view
    assert color_error(image, covered, truth, covered) == pytest.approx((15 * 0.1 + 0.5) / 16, abs=1e-6)
    half = covered.clone()
    half[:, :, 2:] = 0.0  # only the left half is covered in both: the 0.5 pixel is in it, 7 others at 0.1
    assert color_error(image, half, truth, covered) == pytest.approx((7 * 0.1 + 0.5) / 8, abs=1e-6)
    assert color_error(image, empty, truth, covered) == 1.0  # nothing covered in both
