"""Exact signed distance functions of the primitives the toy world is built from.

Every function takes points ``(N, 3)`` (any float dtype and device) and returns the
signed distance ``(N,)``: negative inside, positive outside, and the *exact* Euclidean
distance to the surface on both sides, so the gradient has unit length almost
everywhere and sphere tracing never oversteps. Parameters are plain Python floats in
world units (+Y up); a solid of revolution is described by its axial coordinate and
its distance from the axis, so the same code serves a Y-axis cone and the snowman's
Z-axis nose.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _length2(a: Tensor, b: Tensor) -> Tensor:
    return torch.sqrt(a * a + b * b)


def _length3(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    return torch.sqrt(a * a + b * b + c * c)


def _segment_distance(px: Tensor, py: Tensor, ax: float, ay: float, bx: float, by: float) -> Tensor:
    """Distance from 2D points ``(px, py)`` to the segment from ``(ax, ay)`` to ``(bx, by)``."""
    dx, dy = bx - ax, by - ay
    rx, ry = px - ax, py - ay
    t = ((rx * dx + ry * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0)
    return _length2(rx - t * dx, ry - t * dy)


def sphere(points: Tensor, center: tuple[float, float, float], radius: float) -> Tensor:
    """Ball of ``radius`` around ``center``."""
    x, y, z = points.unbind(-1)
    return _length3(x - center[0], y - center[1], z - center[2]) - radius


def box(points: Tensor, low: tuple[float, float, float], high: tuple[float, float, float]) -> Tensor:
    """Axis-aligned box ``[low, high]`` (per axis)."""
    qs = []
    for axis in range(3):
        centre = 0.5 * (low[axis] + high[axis])
        half = 0.5 * (high[axis] - low[axis])
        qs.append((points[:, axis] - centre).abs() - half)
    qx, qy, qz = qs
    outside = _length3(qx.clamp_min(0.0), qy.clamp_min(0.0), qz.clamp_min(0.0))
    inside = torch.maximum(torch.maximum(qx, qy), qz).clamp_max(0.0)
    return outside + inside


def radial_y(points: Tensor) -> tuple[Tensor, Tensor]:
    """``(axial, radial)`` coordinates about the world Y axis: ``(y, sqrt(x² + z²))``."""
    x, y, z = points.unbind(-1)
    return y, _length2(x, z)


def cylinder(axial: Tensor, radial: Tensor, radius: float, low: float, high: float) -> Tensor:
    """Capped cylinder of ``radius`` over axial coordinates ``[low, high]``."""
    qr = radial - radius
    qa = (axial - 0.5 * (low + high)).abs() - 0.5 * (high - low)
    return _length2(qr.clamp_min(0.0), qa.clamp_min(0.0)) + torch.maximum(qr, qa).clamp_max(0.0)


def cone(axial: Tensor, radial: Tensor, base: float, base_radius: float, apex: float) -> Tensor:
    """Capped cone: a disc of ``base_radius`` at axial ``base``, apex on the axis at axial ``apex``.

    The profile in the (radial, axial) half-plane is a triangle; the distance is the
    distance to its base segment or its slanted side, signed by the inside test.
    """
    sign = 1.0 if apex > base else -1.0
    height = (apex - base) * sign
    u = (axial - base) * sign  # 0 at the base, ``height`` at the apex
    to_base = _length2((radial - base_radius).clamp_min(0.0), u)
    to_side = _segment_distance(radial, u, base_radius, 0.0, 0.0, height)
    inside = (u >= 0.0) & (u <= height) & (radial <= base_radius * (1.0 - u / height))
    distance = torch.minimum(to_base, to_side)
    return torch.where(inside, -distance, distance)


def upper_hemisphere(points: Tensor, radius: float) -> Tensor:
    """The half ``y >= 0`` of the ball of ``radius`` at the origin, closed by the disc at ``y = 0``."""
    y, q = radial_y(points)
    centre_distance = _length2(q, y)
    to_arc = torch.where(y >= 0.0, (centre_distance - radius).abs(), _length2(q - radius, y))
    to_disc = _length2((q - radius).clamp_min(0.0), y)
    inside = (y >= 0.0) & (centre_distance <= radius)
    distance = torch.minimum(to_arc, to_disc)
    return torch.where(inside, -distance, distance)


def torus_z(points: Tensor, major: float, minor: float) -> Tensor:
    """Torus centred at the origin with axis Z (the hole faces +Z)."""
    x, y, z = points.unbind(-1)
    return _length2(_length2(x, y) - major, z) - minor


def square_pyramid(points: Tensor, half_width: float, base: float, apex: float) -> Tensor:
    """Pyramid with square base ``[-w, w] × {base} × [-w, w]`` and apex ``(0, apex, 0)``, ``apex > base``.

    The shape is symmetric under ``x ↦ −x``, ``z ↦ −z`` and ``x ↔ z``, so points are folded
    into ``x >= z >= 0`` where the nearest surface is the +X face or the base.
    """
    x, y, z = points.unbind(-1)
    ax, az = x.abs(), z.abs()
    fx, fz = torch.maximum(ax, az), torch.minimum(ax, az)
    w, h = half_width, apex - base
    slope = (w * w + h * h) ** 0.5
    rx, ry = fx - w, y - base  # relative to the +X face's base edge
    normal = (rx * h + ry * w) / slope  # signed distance to the face plane (outward +)
    along = (ry * h - rx * w) / slope  # position up the face, 0 at the base edge, ``slope`` at the apex
    in_face = (along >= 0.0) & (along <= slope) & (fz <= w * (1.0 - along / slope))
    to_edges = torch.minimum(
        _length2(along, (fz - w).clamp_min(0.0)),  # the base edge (u = 0, z in [0, w])
        _segment_distance(along, fz, 0.0, w, slope, 0.0),  # the slanted edge to the apex
    )
    to_face = _length2(normal, torch.where(in_face, torch.zeros_like(to_edges), to_edges))
    to_base = _length3((fx - w).clamp_min(0.0), (fz - w).clamp_min(0.0), ry)
    inside = (ry >= 0.0) & (normal <= 0.0)
    distance = torch.minimum(to_face, to_base)
    return torch.where(inside, -distance, distance)
