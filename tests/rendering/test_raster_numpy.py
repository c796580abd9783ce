"""The numpy triangle rasteriser: coverage, barycentric weights, batching."""

from __future__ import annotations

import numpy as np

from dreamlift.rendering.raster_numpy import rasterize


def test_square_is_covered_once_per_pixel_and_weights_reconstruct_centres():
    square = np.array([[[0, 0], [10, 0], [10, 10]], [[0, 0], [10, 10], [0, 10]]], dtype=float)
    frags = rasterize(square, 16, 16)
    covered = set(zip(frags.row.tolist(), frags.col.tolist()))
    assert covered == {(r, c) for r in range(10) for c in range(10)}
    np.testing.assert_allclose(frags.weights.sum(1), 1.0)
    assert (frags.weights >= 0).all()
    points = np.einsum("kj,kjd->kd", frags.weights, square[frags.face])
    np.testing.assert_allclose(points, np.stack((frags.col + 0.5, frags.row + 0.5), axis=1), atol=1e-12)


def test_coverage_matches_area_and_clips_to_the_image():
    rng = np.random.default_rng(0)
    triangles = rng.uniform(-20, 220, size=(300, 3, 2))
    frags = rasterize(triangles, 200, 200, max_pairs=5000)  # many batches
    assert frags.row.min() >= 0 and frags.row.max() < 200 and frags.col.min() >= 0 and frags.col.max() < 200
    one = np.array([[[2.0, 3.0], [150.0, 20.0], [60.0, 180.0]]])
    (ax, ay), (bx, by) = one[0, 1] - one[0, 0], one[0, 2] - one[0, 0]
    area = 0.5 * abs(ax * by - ay * bx)
    assert abs(len(rasterize(one, 200, 200).face) - area) < 0.01 * area


def test_degenerate_and_outside_triangles_cover_nothing():
    tris = np.array([[[1, 1], [5, 5], [9, 9]], [[-9, -9], [-5, -9], [-5, -5]]], dtype=float)
    assert rasterize(tris, 16, 16).face.size == 0
