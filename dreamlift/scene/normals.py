"""Unit surface normals of a scalar function of position, by finite differences: the one place dreamlift computes them.

``evaluate(points (M, 3))`` returns the scalar ``f (M,)`` whose gradient gives the
normal, or a tuple whose first item is ``f`` and whose other items (``(M, ...)``, row
for row) are carried along, e.g. a NeRF's albedo from the same network pass. The
normal is ``∓∇f / max(‖∇f‖, min_norm)``: ``descending=True`` points down the gradient,
which is outward for a density (it grows inward); ``descending=False`` points up it,
which is outward for a signed distance (negative inside). A flat spot gives a short
vector (up to zero) instead of NaN. Normals are differentiable through ``evaluate``.

Stencils (both four evaluations per point, at distance ``step``):

* ``FORWARD``: ``f(x)`` and ``f(x + step·e_i)``, all in one batched call of
  ``evaluate`` (``4N`` rows: the points, then the x, y and z steps); the gradient
  is ``(f(x + step·e_i) − f(x)) / step`` and the outputs at the points themselves come
  back too, so a field gets its density and albedo with its normals in one pass.
  First-order accurate.
* ``TETRAHEDRAL``: ``f(x + step·k)`` at the four corners ``k`` of a tetrahedron
  (``(1,−1,−1), (−1,−1,1), (−1,1,−1), (1,1,1)``), one call per corner; the sum
  ``Σ_k k·f(x + step·k)`` is ``4·step·∇f`` (left unscaled: only its direction is
  used, and ``min_norm`` applies to it as it is). Also first-order accurate, but its
  error comes from the mixed second derivatives alone (exact on axis-aligned planes
  and boxes). Nothing is evaluated at ``x``: right for a ray tracer that already knows
  the surface point, or for a signed distance whose value is not needed.
"""

from __future__ import annotations

from enum import Enum
from typing import Callable

import torch
from torch import Tensor

Evaluate = Callable[[Tensor], "Tensor | tuple[Tensor, ...]"]

TETRAHEDRON = ((1.0, -1.0, -1.0), (-1.0, -1.0, 1.0), (-1.0, 1.0, -1.0), (1.0, 1.0, 1.0))
"""Corners of the tetrahedral stencil."""


class Stencil(str, Enum):
    FORWARD = "forward"
    TETRAHEDRAL = "tetrahedral"


def _outputs(value: Tensor | tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    return value if isinstance(value, tuple) else (value,)


def finite_difference_normals(
    evaluate: Evaluate,
    points: Tensor,
    step: float,
    *,
    descending: bool = True,
    stencil: Stencil = Stencil.FORWARD,
    min_norm: float = 1e-6,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Unit normals ``(N, 3)`` at ``points (N, 3)``, and ``evaluate``'s outputs at the points.

    See the module docstring for the sign, the stencils and ``min_norm``. The outputs
    at the points (each ``(N, ...)``) come with the ``FORWARD`` stencil; ``TETRAHEDRAL``
    never evaluates the points themselves and returns an empty tuple.
    """
    stencil = Stencil(stencil)
    n = points.shape[0]
    if stencil is Stencil.FORWARD:
        offsets = torch.eye(3, dtype=points.dtype, device=points.device) * step
        stacked = torch.cat((points, *(points + offsets[i] for i in range(3))), dim=0)
        outputs = _outputs(evaluate(stacked))
        value = outputs[0][:n]
        gradient = (outputs[0][n:].reshape(3, n) - value[None]).t() / step
        at_points = tuple(output[:n] for output in outputs)
    else:
        corners = torch.tensor(TETRAHEDRON, dtype=points.dtype, device=points.device)
        gradient = torch.zeros_like(points)
        for k in corners:
            gradient = gradient + k * _outputs(evaluate(points + step * k))[0][:, None]
        at_points = ()
    length = gradient.norm(dim=-1, keepdim=True).clamp_min(min_norm)
    return (-gradient if descending else gradient) / length, at_points
