"""Multi-view conditioning weights on analytic cases (stable-dreamfusion's scheme, issue 13 item 1)."""

import math

import pytest
import torch

from dreamlift.guidance.view_weights import conditioning_weights, view_angles
from dreamlift.rendering.cameras import OrbitCameras


def weights(target, views, table=None):
    targets = OrbitCameras.make(*target)
    inputs = OrbitCameras.make(*views)
    table = torch.ones(len(inputs)) if table is None else torch.tensor(table, dtype=torch.float32)
    return conditioning_weights(targets, inputs, table)[0].tolist()


def test_angles_are_between_directions_not_positions():
    angles = view_angles(OrbitCameras.make(0.0, 0.0, 3.0), OrbitCameras.make([0.0, 0.0, 90.0], [90.0, 0.0, 0.0], [2.0, 5.0, 3.0]))
    assert angles[0].tolist() == pytest.approx([math.pi / 2, 0.0, math.pi / 2], abs=1e-6)


def test_one_view_weighs_one_everywhere():
    assert weights((30.0, 170.0), ((0.0,), (0.0,))) == [1.0]


def test_two_views_equally_far_share_equally():
    assert weights((0.0, 0.0), ((0.0, 0.0), (-90.0, 90.0))) == pytest.approx([0.5, 0.5])


def test_closeness_is_one_over_the_angle():
    # 30 and 90 degrees away: closeness (6/pi) : (2/pi) = 1 : 1/3 -> weights 3/4, 1/4
    assert weights((0.0, 0.0), ((0.0, 0.0), (30.0, -90.0))) == pytest.approx([0.75, 0.25], abs=1e-6)


def test_a_view_ten_times_farther_takes_no_part():
    # 10 and 150 degrees: 1/theta ratio 1/15 < 0.1
    assert weights((0.0, 0.0), ((0.0, 0.0), (10.0, 150.0))) == pytest.approx([1.0, 0.0])
    # on top of a view: the cap 100 against 1/(pi/2) = 0.64: the other view drops out
    assert weights((0.0, 0.0), ((0.0, 0.0), (0.0, 90.0))) == pytest.approx([1.0, 0.0])


def test_the_table_weight_multiplies_the_closeness():
    # equally close, table weights 3 and 1 -> 3/4, 1/4; weight 20 : 1 -> the light one drops (1/20 < 0.1)
    assert weights((0.0, 0.0), ((0.0, 0.0), (-90.0, 90.0)), [3.0, 1.0]) == pytest.approx([0.75, 0.25])
    assert weights((0.0, 0.0), ((0.0, 0.0), (-90.0, 90.0)), [20.0, 1.0]) == pytest.approx([1.0, 0.0])
    # the close view has weight 0: the far one (closeness 1/15 -> 0) would leave nothing; the table decides
    assert weights((0.0, 0.0), ((0.0, 0.0), (10.0, 150.0)), [0.0, 1.0]) == pytest.approx([0.0, 1.0])


def test_rows_are_per_target_camera():
    targets = OrbitCameras.make(0.0, [0.0, 180.0, 90.0])
    inputs = OrbitCameras.make(0.0, [0.0, 180.0])
    table = conditioning_weights(targets, inputs, torch.ones(2))
    assert torch.allclose(table, torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]), atol=1e-6)
