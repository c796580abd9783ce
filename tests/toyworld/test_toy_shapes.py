"""Shapes of the toy world: signs at hand-picked points, exact distances, volumes, colours."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from dreamlift.errors import DreamliftError
from dreamlift.toyworld import BEIGE, BROWN, COLORS, DARK_GRAY, SHAPE_NAMES, SHAPE_WORDS, ToyObject, all_objects, evaluate, inside
from dreamlift.toyworld.shapes import BOUNDING_RADIUS, TRACE_RADIUS

# (point, inside?, albedo of the nearest part: None for the object's colour; checked inside, and outside where given)
SIGN_CASES = {
    "sphere": [((0, 0, 0), True, None), ((0, 0.59, 0), True, None), ((0, 0.61, 0), False, None), ((0.4, 0.4, 0.4), False, None)],
    "cube": [((0.44, 0.44, 0.44), True, None), ((0.46, 0, 0), False, None), ((0, -0.46, 0), False, None)],
    "cylinder": [((0.39, 0, 0), True, None), ((0.3, 0.3, 0.3), False, None), ((0, 0.51, 0), False, None), ((0, -0.49, 0), True, None)],
    "cone": [((0, 0.45, 0), True, None), ((0.3, -0.45, 0), True, None), ((0.3, 0.2, 0), False, None), ((0, -0.51, 0), False, None)],
    "torus": [
        ((0, 0, 0), False, None),  # the hole
        ((0, 0, 0.45), False, None),  # the hole faces +Z
        ((0.45, 0, 0), True, None),
        ((0, 0.45, 0), True, None),
        ((0.45, 0, 0.17), True, None),
        ((0.45, 0, 0.19), False, None),
    ],
    "pyramid": [((0, 0.45, 0), True, None), ((0.45, -0.44, 0.45), True, None), ((0.4, 0.2, 0), False, None), ((0, -0.46, 0), False, None)],
    "snowman": [
        ((0, -0.38, 0), True, None),
        ((0, 0.12, 0), True, None),
        ((0, 0.47, 0.3), True, DARK_GRAY),  # the nose points +Z
        ((0, 0.47, -0.3), False, None),
        ((0, 0.47, 0.36), False, DARK_GRAY),  # just past the tip: the nose is the nearest part
        ((0.3, 0.3, 0), False, None),
    ],
    "house": [
        ((0, 0, 0), True, None),
        ((0, 0.6, 0), True, DARK_GRAY),  # roof
        ((0.3, 0.6, 0), False, None),
        ((0, -0.3, 0.42), True, BROWN),  # the door is on the front
        ((0, -0.3, -0.42), False, None),
        ((0.3, -0.3, 0.42), False, None),
    ],
    "chair": [
        ((0, 0.3, 0.2), False, None),  # the open front
        ((0, 0.3, -0.36), True, None),  # the back
        ((0, 0.3, -0.3), False, None),
        ((0, -0.06, 0), True, None),
        ((0.36, -0.4, 0.36), True, None),
        ((-0.36, -0.4, -0.36), True, None),
        ((0, -0.4, 0), False, None),
    ],
    "table": [((0, 0.1, 0), True, None), ((0.56, -0.3, 0.41), True, None), ((-0.56, -0.3, -0.41), True, None), ((0, -0.3, 0), False, None), ((0.56, 0.2, 0), False, None)],
    "tree": [((0, -0.4, 0), True, BROWN), ((0.15, -0.4, 0), False, None), ((0, 0.5, 0), True, None), ((0.3, 0, 0), True, None), ((0.4, 0, 0), False, None)],
    "mushroom": [
        ((0, 0.3, 0), True, None),
        ((0.3, -0.3, 0), False, None),
        ((0, -0.3, 0), True, BEIGE),
        ((0, 0.49, 0), True, None),
        ((0, 0.51, 0), False, None),
        ((0.3, -0.01, 0), False, None),
    ],
}


def test_vocabulary():
    assert SHAPE_NAMES == ("sphere", "cube", "cylinder", "cone", "torus", "pyramid", "snowman", "house", "chair", "table", "tree", "mushroom")
    assert list(COLORS) == ["red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink"]
    assert COLORS["orange"] == (0.95, 0.52, 0.10) and DARK_GRAY == (0.25, 0.25, 0.25)
    assert SHAPE_WORDS["ball"] == "sphere" and SHAPE_WORDS["block"] == "cube" and SHAPE_WORDS["donut"] == "torus" and SHAPE_WORDS["ring"] == "torus"
    assert set(SHAPE_WORDS.values()) == set(SHAPE_NAMES)
    objects = all_objects()
    assert len(objects) == 96 and len(set(objects)) == 96 and objects[0] == ToyObject("sphere", "red")


def test_toy_object_validates_names():
    assert ToyObject("cube", "pink").albedo() == COLORS["pink"]
    with pytest.raises(DreamliftError, match="unknown shape 'dodecahedron'.*sphere, cube"):
        ToyObject("dodecahedron", "red")
    with pytest.raises(DreamliftError, match="unknown colour 'teal'.*red, orange"):
        ToyObject("cube", "teal")


@pytest.mark.parametrize("shape", SHAPE_NAMES)
def test_signs_and_part_colours(shape):
    obj = ToyObject(shape, "blue")
    points = torch.tensor([p for p, _, _ in SIGN_CASES[shape]], dtype=torch.float32)
    sdf, albedo = evaluate(obj, points)
    assert sdf.shape == (len(points),) and albedo.shape == (len(points), 3)
    for i, (point, is_inside, color) in enumerate(SIGN_CASES[shape]):
        assert bool(sdf[i] < 0) == is_inside, (shape, point, float(sdf[i]))
        if not is_inside and color is None:
            continue
        expected = COLORS["blue"] if color is None else color
        assert torch.allclose(albedo[i], torch.tensor(expected)), (shape, point)
    assert torch.equal(inside(obj, points), sdf <= 0)


@pytest.mark.parametrize("shape", SHAPE_NAMES)
def test_lipschitz_and_bounded(shape):
    gen = torch.Generator().manual_seed(1)
    p = (torch.rand(20000, 3, generator=gen) * 2 - 1).double()
    q = p + 0.05 * torch.randn(20000, 3, generator=gen, dtype=torch.float64)
    obj = ToyObject(shape, "red")
    dp, dq = evaluate(obj, p)[0], evaluate(obj, q)[0]
    assert ((dp - dq).abs() <= (p - q).norm(dim=-1) * (1 + 1e-9) + 1e-12).all()
    # every object lies inside the tracing sphere, and all but the table (leg corners at 0.9014) inside radius 0.9
    directions = torch.nn.functional.normalize(torch.randn(20000, 3, generator=gen), dim=-1)
    assert evaluate(obj, directions * TRACE_RADIUS)[0].min() > 0.015
    if shape != "table":
        assert evaluate(obj, directions * BOUNDING_RADIUS)[0].min() > 0.0
    else:
        corner = torch.tensor([[0.6, -0.5, 0.45]]) * (1 + 1e-4)
        assert evaluate(obj, corner)[0].item() > 0 and corner.norm().item() > BOUNDING_RADIUS


def _surface_samples(shape, count=150_000):
    """Dense points on the analytic surface of a few shapes, for brute-force distances."""
    rng = np.random.default_rng(0)
    if shape == "pyramid":
        w, y0, y1 = 0.5, -0.45, 0.5
        corners = [(w, w), (w, -w), (-w, -w), (-w, w)]
        pieces = []
        for (ax, az), (bx, bz) in zip(corners, corners[1:] + corners[:1]):
            u, v = rng.random((2, count // 5))
            flip = u + v > 1
            u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
            a, b, c = np.array([ax, y0, az]), np.array([bx, y0, bz]), np.array([0, y1, 0])
            pieces.append(a + u[:, None] * (b - a) + v[:, None] * (c - a))
        base = rng.uniform(-w, w, (count // 5, 2))
        pieces.append(np.stack([base[:, 0], np.full(len(base), y0), base[:, 1]], 1))
        return np.concatenate(pieces)
    if shape == "cone":
        h = rng.random(count)
        angle = rng.uniform(0, 2 * np.pi, count)
        radius = 0.5 * (1 - h)
        side = np.stack([radius * np.cos(angle), -0.5 + h, radius * np.sin(angle)], 1)
        disc_r = 0.5 * np.sqrt(rng.random(count // 2))
        disc_a = rng.uniform(0, 2 * np.pi, count // 2)
        disc = np.stack([disc_r * np.cos(disc_a), np.full(len(disc_r), -0.5), disc_r * np.sin(disc_a)], 1)
        return np.concatenate([side, disc])
    if shape == "mushroom":  # the cap only: a hemisphere of radius 0.5 closed at y = 0
        d = rng.normal(size=(count, 3))
        d[:, 1] = np.abs(d[:, 1])
        dome = 0.5 * d / np.linalg.norm(d, axis=1, keepdims=True)
        disc_r = 0.5 * np.sqrt(rng.random(count // 2))
        disc_a = rng.uniform(0, 2 * np.pi, count // 2)
        disc = np.stack([disc_r * np.cos(disc_a), np.zeros(len(disc_r)), disc_r * np.sin(disc_a)], 1)
        return np.concatenate([dome, disc])
    raise ValueError(shape)


@pytest.mark.parametrize("shape", ["pyramid", "cone", "mushroom"])
def test_distance_is_exact(shape):
    """|SDF| equals the brute-force distance to a dense sampling of the surface (within the sampling gap)."""
    from dreamlift.toyworld import sdf

    tree = cKDTree(_surface_samples(shape))
    gen = torch.Generator().manual_seed(2)
    points = (torch.rand(3000, 3, generator=gen) * 1.6 - 0.8).double()
    if shape == "mushroom":
        values = sdf.upper_hemisphere(points, 0.5)
    else:
        values = evaluate(ToyObject(shape, "red"), points)[0]
    brute, _ = tree.query(points.numpy())
    gap = brute - np.abs(values.numpy())  # the samples' distance is an upper bound of the true one
    assert gap.min() > -1e-6, gap.min()  # never farther than a surface point
    assert gap.max() < 0.01 and np.median(gap) < 0.002, (gap.max(), np.median(gap))  # and as close as the samples allow


VOLUMES = {
    "sphere": 4 / 3 * math.pi * 0.6**3,
    "cube": 0.9**3,
    "cylinder": math.pi * 0.4**2 * 1.0,
    "cone": math.pi * 0.5**2 * 1.0 / 3,
    "torus": 2 * math.pi**2 * 0.45 * 0.18**2,
    "pyramid": 1.0 * 0.95 / 3,
    "house": 0.8 * 0.75 * 0.8 + 1.0 * 0.45 / 3 + 0.26 * 0.45 * 0.04,
    "chair": 0.8 * 0.12 * 0.8 + 4 * 0.08 * 0.08 * 0.48 + 0.8 * 0.6 * 0.08,
    "table": 1.2 * 0.1 * 0.9 + 4 * 0.08 * 0.08 * 0.55,
    "tree": math.pi * 0.1**2 * 0.4 + math.pi * 0.45**2 * 0.85 / 3,
    "mushroom": math.pi * 0.15**2 * 0.6 + 2 / 3 * math.pi * 0.5**3,
}


def test_volumes_match_closed_forms():
    """Quasi-Monte-Carlo volume of ``inside`` over [-0.9, 0.9]³ against each shape's closed form."""
    engine = torch.quasirandom.SobolEngine(3, scramble=True, seed=0)
    points = engine.draw(1 << 16) * 1.8 - 0.9  # quasi-random: errors < 0.5% at this count
    for shape, expected in VOLUMES.items():
        measured = inside(ToyObject(shape, "green"), points).float().mean().item() * 1.8**3
        assert measured == pytest.approx(expected, rel=0.015), shape
