"""Which outside vertices no training camera sees (the hollows a refinement starts filled), against worked-out geometry."""

import math

import pytest
import torch

from _helpers import upturned_cup_sdf

from dreamlift.export.analytic import box_sdf
from dreamlift.refine.tets import tet_grid
from dreamlift.refine.visibility import range_cameras, unseen_outside
from dreamlift.rendering.settings import CameraRanges

SIDE = 49  # a 48-cube grid over [-1, 1]³: vertices every 1/24
GRID = tet_grid(SIDE - 1, 1.0)


def upturned_cup():
    """The grid's vertices and the SDF there of an upturned cup (:func:`_helpers.upturned_cup_sdf`)."""
    return GRID.vertices, upturned_cup_sdf(GRID.vertices)


def test_the_range_cameras_span_the_ranges_at_most_a_step_apart():
    cameras = range_cameras(CameraRanges(elevation=(-10.0, 60.0), azimuth=(-180.0, 180.0), radius=(2.8, 3.2)), step=15.0)
    radius = cameras.norm(dim=1)
    torch.testing.assert_close(radius, torch.full_like(radius, 3.0))
    elevation = torch.rad2deg(torch.asin(cameras[:, 1] / radius))
    assert float(elevation.min()) == pytest.approx(-10.0, abs=1e-4) and float(elevation.max()) == pytest.approx(60.0, abs=1e-4)
    levels = torch.unique(elevation.round(decimals=3))
    assert len(levels) == 6 and float((levels[1:] - levels[:-1]).max()) <= 15.0  # (−10 … 60) in 14° steps
    assert cameras.shape[0] == 6 * 24  # a full turn: 24 azimuths, 15° apart, −180° and 180° counted once
    half = range_cameras(CameraRanges(elevation=(0.0, 0.0), azimuth=(-45.0, 45.0)), step=15.0)
    assert half.shape[0] == 7  # −45 … 45 inclusive


def test_the_hollow_of_an_upturned_cup_is_unseen_above_its_opening_and_seen_below():
    points, sdf = upturned_cup()
    unseen = unseen_outside(sdf, GRID, range_cameras(CameraRanges(elevation=(-10.0, 60.0))))
    assert not bool((unseen & (sdf < 0)).any())  # only outside vertices are reported
    x, y, z = points.unbind(1)
    hollow = (sdf > 0) & (box_sdf((-0.5,) * 3, (0.5,) * 3)(points) < 0)  # outside the cup but within its outer box
    # from a camera 10° below the horizon a ray out of the hollow must reach y = −0.5 before the wall: it rises
    # tan(10°) per unit across at most 0.3·√2 (toward a corner), so points more than 0.075 above the opening are hidden
    hidden = hollow & (y > -0.5 + 0.3 * math.sqrt(2) * math.tan(math.radians(10.0)) + 0.05)
    assert int(hidden.sum()) > 300 and bool(unseen[hidden].all())
    near_opening = (x.abs() < 0.25) & (z.abs() < 0.25) & (y > -0.47) & (y < -0.45)  # the vertices 1/24 above it
    assert int(near_opening.sum()) > 0 and not bool(unseen[near_opening].any())
    around = (sdf > 0) & ~hollow  # everything outside the cup is in view of some camera
    assert not bool(unseen[around & ((x.abs() > 0.55) | (y.abs() > 0.55) | (z.abs() > 0.55))].any())
    assert torch.equal(unseen, unseen & hollow)


def test_a_camera_straight_below_sees_into_the_whole_hollow_and_a_sealed_pocket_stays_unseen():
    points, sdf = upturned_cup()
    below = range_cameras(CameraRanges(elevation=(-90.0, 60.0)))
    assert not bool(unseen_outside(sdf, GRID, below).any())
    sealed = torch.maximum(box_sdf((-0.5,) * 3, (0.5,) * 3)(points), -box_sdf((-0.2,) * 3, (0.2,) * 3)(points))  # a closed box with a void
    unseen = unseen_outside(sealed, GRID, below)
    void = box_sdf((-0.2,) * 3, (0.2,) * 3)(points) < 0
    assert torch.equal(unseen, (sealed >= 0) & void)


def test_a_convex_shape_or_an_empty_grid_has_nothing_unseen():
    points = GRID.vertices
    cameras = range_cameras(CameraRanges())
    assert not bool(unseen_outside(points.norm(dim=1) - 0.6, GRID, cameras).any())
    assert not bool(unseen_outside(torch.ones(SIDE**3), GRID, cameras).any())
