"""Zero-1-to-3's relative camera embedding, computed from dreamlift's orbit cameras.

Zero-1-to-3 (arXiv 2303.11328) conditions on the pose of the target view relative
to the input view as a 4-vector. Its training code (cvlab-columbia/zero123,
``zero123/ldm/data/simple.py``: ``cartesian_to_spherical`` and ``get_T``) takes the
camera centres of Objaverse renders in Blender's world frame (right-handed, **+Z
up**) and computes

* polar ``θ = atan2(√(x² + y²), z)``: the angle from the up axis (0 = overhead,
  90° = level), in radians;
* azimuth ``φ = atan2(y, x)``: increasing counter-clockwise seen from above, i.e. a
  right-handed turn about up;
* radius ``r = ‖c‖``;

and conditions on ``T = (θ_t − θ_ref, sin(φ_t − φ_ref), cos(φ_t − φ_ref), r_t − r_ref)``.

**Mapping from dreamlift's cameras** (TOYWORLD.md: right-handed, **+Y up**, camera at
``r·(cos el·sin az, sin el, cos el·cos az)``):

* polar = ``90° − elevation``, so ``Δpolar = el_ref − el_target``: a target
  camera *above* the input view has a *negative* Δpolar;
* our azimuth turns from +Z toward +X, which is a right-handed (counter-clockwise
  seen from above) turn about +Y, the same sense as Zero-1-to-3's turn about its
  +Z up. The proper rotation ``(x, y, z) → (z, x, y)`` takes our frame to a Z-up
  frame in which ``atan2(y', x') = az`` and ``atan2(√(x'² + y'²), z') = 90° − el``
  (tests/guidance_zero123 checks this against ``get_T`` on camera centres), so
  ``Δazimuth = az_target − az_ref`` with no sign change; it is wrapped into
  [−180°, 180°) (sin and cos do not care, the wrapped value is for reading);
* ``Δradius = r_target − r_ref`` times ``radius_scale`` (default 1: raw world
  units, as stable-dreamfusion and threestudio feed their own units). Objaverse
  objects were normalised to a unit box and rendered from 1.5–2.2 units away, so
  ``radius_scale ≈ 0.55`` would convert our 0.9-radius objects; Δradius is small
  in our camera ranges either way.

The same convention is used by stable-dreamfusion (``nerf/provider.py``: its camera
``r·(sin θ sin φ, cos θ, sin θ cos φ)`` is ours with ``θ = 90° − el``, ``φ = az``;
it passes ``Δθ``, ``Δφ`` wrapped to [−180, 180], ``Δr``) and by threestudio
(``zero123_guidance.py``: ``deg2rad((90 − el) − (90 − el_ref))``,
``sin/cos(deg2rad(az − az_ref))``, ``r − r_ref``, with Z-up cameras whose azimuth
runs from +X toward +Y).

**Stable-Zero123** keeps the first three entries (radians, same signs) but its
fourth entry is the *absolute* polar angle of the input view in radians,
``deg2rad(90 − el_ref)``, instead of Δradius (threestudio's
``stable_zero123_guidance.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch
from torch import Tensor

from dreamlift.errors import DreamliftError
from dreamlift.rendering.cameras import OrbitCameras, wrap_degrees


class PoseEmbedding(str, Enum):
    """Which 4-vector the model was trained with."""

    ZERO123 = "zero123"
    """``(Δpolar [rad], sin Δaz, cos Δaz, Δradius)``: Zero-1-to-3 and Zero123-XL."""
    STABLE_ZERO123 = "stable-zero123"
    """``(Δpolar [rad], sin Δaz, cos Δaz, polar of the input view [rad])``: Stable-Zero123."""


@dataclass
class RelativePose:
    """Target cameras relative to a reference camera, each field ``(B,)``."""

    polar: Tensor
    """``Δpolar = (90 − el_target) − (90 − el_ref)`` in degrees (positive: target lower)."""
    azimuth: Tensor
    """``Δazimuth = az_target − az_ref`` in degrees, wrapped into [−180, 180)."""
    radius: Tensor
    """``Δradius = r_target − r_ref`` in world units."""
    reference_polar: Tensor
    """``90 − el_ref`` in degrees (broadcast to ``(B,)``)."""


def relative_pose(reference: OrbitCameras, targets: OrbitCameras) -> RelativePose:
    """Pose of ``targets`` relative to ``reference`` (one camera, or as many as ``targets``)."""
    count = len(targets)
    if len(reference) not in (1, count):
        raise DreamliftError(f"reference cameras ({len(reference)}) must be one or one per target ({count})")
    device = targets.elevation.device

    def field(cameras: OrbitCameras, name: str) -> Tensor:
        return getattr(cameras, name).to(device=device, dtype=torch.float32).expand(count)

    reference_polar = 90.0 - field(reference, "elevation")
    target_polar = 90.0 - field(targets, "elevation")
    return RelativePose(
        polar=target_polar - reference_polar,
        azimuth=wrap_degrees(field(targets, "azimuth") - field(reference, "azimuth")),
        radius=field(targets, "radius") - field(reference, "radius"),
        reference_polar=reference_polar,
    )


def pose_embedding(
    reference: OrbitCameras,
    targets: OrbitCameras,
    kind: PoseEmbedding | str = PoseEmbedding.ZERO123,
    radius_scale: float = 1.0,
) -> Tensor:
    """``(B, 4)`` float32 camera embedding of ``targets`` relative to ``reference`` (see the module doc)."""
    kind = PoseEmbedding(kind)
    pose = relative_pose(reference, targets)
    azimuth = torch.deg2rad(pose.azimuth)
    if kind is PoseEmbedding.ZERO123:
        last = pose.radius * radius_scale
    else:
        last = torch.deg2rad(pose.reference_polar)
    return torch.stack((torch.deg2rad(pose.polar), torch.sin(azimuth), torch.cos(azimuth), last), dim=-1)
