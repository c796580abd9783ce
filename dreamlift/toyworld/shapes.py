"""The twelve shapes of TOYWORLD.md as unions of coloured parts, and the toy objects.

Frame: +Y up, the front faces +Z, world units, every object inside the sphere of
radius 0.9 (``BOUNDING_RADIUS``). A shape is a tuple of :class:`Part`; the signed
distance of a shape is the minimum over its parts (exact outside, a bound inside), and
a point takes the albedo of its nearest part. Parts whose ``color`` is ``None`` take
the object's colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from dreamlift.errors import DreamliftError
from dreamlift.toyworld import sdf
from dreamlift.toyworld.colors import BEIGE, BROWN, COLORS, DARK_GRAY, RGB

BOUNDING_RADIUS = 0.9
"""TOYWORLD's bound on every object (the table's leg corners reach 0.9014, just past it)."""

TRACE_RADIUS = 0.92
"""The ball that truly contains every object (with a margin): rays are traced only inside it."""

SHAPE_NAMES: tuple[str, ...] = (
    "sphere", "cube", "cylinder", "cone", "torus", "pyramid",
    "snowman", "house", "chair", "table", "tree", "mushroom",
)  # fmt: skip

SHAPE_WORDS: dict[str, str] = {
    "sphere": "sphere", "ball": "sphere",
    "cube": "cube", "box": "cube", "block": "cube",
    "cylinder": "cylinder",
    "cone": "cone",
    "torus": "torus", "donut": "torus", "ring": "torus",
    "pyramid": "pyramid",
    "snowman": "snowman",
    "house": "house",
    "chair": "chair",
    "table": "table",
    "tree": "tree",
    "mushroom": "mushroom",
}  # fmt: skip


@dataclass(frozen=True)
class Part:
    """One primitive of a shape."""

    name: str
    """What the part is (``"roof"``, ``"door"``...), for debugging and reports."""
    distance: Callable[[Tensor], Tensor]
    """Signed distance ``(N, 3) -> (N,)``, exact, negative inside."""
    color: RGB | None = None
    """Fixed albedo, or ``None`` for the object's colour."""


def _abs_xz(points: Tensor) -> Tensor:
    """Fold a shape with four mirror copies in the quadrants of the XZ plane onto ``x, z >= 0``."""
    return torch.stack((points[:, 0].abs(), points[:, 1], points[:, 2].abs()), dim=-1)


def _nose_distance(points: Tensor) -> Tensor:
    x, y, z = points.unbind(-1)
    radial = torch.sqrt(x * x + (y - 0.47) ** 2)
    return sdf.cone(z, radial, base=0.14, base_radius=0.06, apex=0.34)


def _y_cylinder(radius: float, low: float, high: float) -> Callable[[Tensor], Tensor]:
    return lambda p: sdf.cylinder(*sdf.radial_y(p), radius=radius, low=low, high=high)


def _y_cone(base: float, base_radius: float, apex: float) -> Callable[[Tensor], Tensor]:
    return lambda p: sdf.cone(*sdf.radial_y(p), base=base, base_radius=base_radius, apex=apex)


def _box(low, high) -> Callable[[Tensor], Tensor]:
    return lambda p: sdf.box(p, low, high)


def _corner_legs(x: tuple[float, float], z: tuple[float, float], y: tuple[float, float]) -> Callable[[Tensor], Tensor]:
    """Four legs: the box ``x × y × z`` (in the positive quadrant) mirrored in X and Z."""
    low, high = (x[0], y[0], z[0]), (x[1], y[1], z[1])
    return lambda p: sdf.box(_abs_xz(p), low, high)


SHAPES: dict[str, tuple[Part, ...]] = {
    "sphere": (Part("sphere", lambda p: sdf.sphere(p, (0.0, 0.0, 0.0), 0.6)),),
    "cube": (Part("cube", _box((-0.45, -0.45, -0.45), (0.45, 0.45, 0.45))),),
    "cylinder": (Part("cylinder", _y_cylinder(0.4, -0.5, 0.5)),),
    "cone": (Part("cone", _y_cone(-0.5, 0.5, 0.5)),),
    "torus": (Part("torus", lambda p: sdf.torus_z(p, 0.45, 0.18)),),
    "pyramid": (Part("pyramid", lambda p: sdf.square_pyramid(p, 0.5, -0.45, 0.5)),),
    "snowman": (
        Part("bottom", lambda p: sdf.sphere(p, (0.0, -0.38, 0.0), 0.32)),
        Part("middle", lambda p: sdf.sphere(p, (0.0, 0.12, 0.0), 0.24)),
        Part("head", lambda p: sdf.sphere(p, (0.0, 0.47, 0.0), 0.17)),
        Part("nose", _nose_distance, DARK_GRAY),
    ),
    "house": (
        Part("walls", _box((-0.4, -0.55, -0.4), (0.4, 0.2, 0.4))),
        Part("roof", lambda p: sdf.square_pyramid(p, 0.5, 0.2, 0.65), DARK_GRAY),
        Part("door", _box((-0.13, -0.55, 0.4), (0.13, -0.1, 0.44)), BROWN),
    ),
    "chair": (
        Part("seat", _box((-0.4, -0.12, -0.4), (0.4, 0.0, 0.4))),
        Part("legs", _corner_legs((0.32, 0.4), (0.32, 0.4), (-0.6, -0.12))),
        Part("back", _box((-0.4, 0.0, -0.4), (0.4, 0.6, -0.32))),
    ),
    "table": (
        Part("top", _box((-0.6, 0.05, -0.45), (0.6, 0.15, 0.45))),
        Part("legs", _corner_legs((0.52, 0.6), (0.37, 0.45), (-0.5, 0.05))),
    ),
    "tree": (
        Part("trunk", _y_cylinder(0.1, -0.6, -0.2), BROWN),
        Part("crown", _y_cone(-0.2, 0.45, 0.65)),
    ),
    "mushroom": (
        Part("stem", _y_cylinder(0.15, -0.6, 0.0), BEIGE),
        Part("cap", lambda p: sdf.upper_hemisphere(p, 0.5)),
    ),
}
"""Each shape's parts, exactly as TOYWORLD.md's table."""


@dataclass(frozen=True)
class ToyObject:
    """One object of the toy world: a shape name (``SHAPE_NAMES``) and a colour name (``COLORS``)."""

    shape: str
    color: str

    def __post_init__(self):
        if self.shape not in SHAPES:
            raise DreamliftError(f"unknown shape {self.shape!r}: choose one of {', '.join(SHAPE_NAMES)}")
        if self.color not in COLORS:
            raise DreamliftError(f"unknown colour {self.color!r}: choose one of {', '.join(COLORS)}")

    def albedo(self) -> RGB:
        """The object's colour as RGB display values."""
        return COLORS[self.color]


def distance(shape: str, points: Tensor) -> Tensor:
    """Signed distance ``(N,)`` of ``shape`` at ``points`` ``(N, 3)``: the minimum over its parts."""
    parts = SHAPES[shape]
    result = parts[0].distance(points)
    for part in parts[1:]:
        result = torch.minimum(result, part.distance(points))
    return result


def evaluate(obj: ToyObject, points: Tensor) -> tuple[Tensor, Tensor]:
    """Signed distance ``(N,)`` (negative inside, Lipschitz 1) and albedo ``(N, 3)`` of the nearest part."""
    parts = SHAPES[obj.shape]
    distances = torch.stack([part.distance(points) for part in parts])  # (P, N)
    nearest_distance, nearest = distances.min(dim=0)
    palette = torch.tensor(
        [part.color if part.color is not None else obj.albedo() for part in parts],
        dtype=points.dtype,
        device=points.device,
    )
    return nearest_distance, palette[nearest]


def all_objects() -> list[ToyObject]:
    """Every object of the world: 12 shapes × 8 colours, shapes in TOYWORLD order, then colours."""
    return [ToyObject(shape, color) for shape in SHAPE_NAMES for color in COLORS]
