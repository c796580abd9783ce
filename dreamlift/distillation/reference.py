"""Image runs: their settings, and the reference-view losses as a :class:`~dreamlift.training.trainer.TrainingHook`.

The input view is rendered from the input camera (elevation ``--elevation``,
azimuth 0, radius and fovy the prior's; or each camera of a view table) and matched
to the input image:

* RGB: mean squared error of the render composited on white against the image
  composited on white, ``(B, H, W, 3)``;
* mask: mean squared error (or binary cross-entropy) of the rendered opacity
  against the image's alpha;
* depth (only when a depth map is given: ``--depth FILE`` or ``--depth-model DIR``,
  :mod:`dreamlift.inputs.depth`): ``1 − Pearson correlation`` of the rendered depth
  (ray distance, divided by opacity) and the given depth on the pixels the mask
  covers: scale and offset free, so a monocular estimate works. Depth, not disparity
  (larger = farther).
* normals (with a depth map too): the depth map's scale and offset are fitted, per
  view and without gradient, to the rendered depth on the covered pixels; its pixels
  are back-projected along their rays, and the normal of each interior pixel is the
  cross product of its central differences, turned to face the camera
  (:func:`normals_from_depth`). The loss is ``1 − cos`` between it and the rendered
  normal, averaged over the pixels whose four neighbours are covered too
  (stable-dreamfusion's ``lambda_normal`` term, with normals from the depth map
  instead of a second network).

Rendering: the shading of ``ReferenceLoss.shading`` (Lambertian by default) with a
head light exactly at the input camera and ambient ``ReferenceLoss.ambient``, the
middle of TOYWORLD's range, over a white background. The field's albedo then stays
the object's colour, as the toy priors see it.

Alternation with distillation, as stable-dreamfusion does with
``known_view_interval``: the reference terms are added on every ``every``-th step
(``every = 1``: every step) with their weights; distillation runs on every step.
The views' weights (a view table's ``weight`` column) are normalised to sum to 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from dreamlift.errors import DreamliftError
from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.shading import head_lights
from dreamlift.distillation.image_settings import DepthSettings, ImageSettings, MaskLoss, ReferenceCamera, ReferenceLoss  # noqa: F401 (the settings, re-exported)


@dataclass
class ReferenceTargets:
    """What the reference views are matched to, stacked over the ``V`` views."""

    rgb: Tensor
    """``(V, H, W, 3)`` images composited on white."""
    mask: Tensor
    """``(V, H, W)`` alpha in [0, 1]."""
    cameras: OrbitCameras
    """``(V,)`` input cameras."""
    weights: Tensor
    """``(V,)`` view weights summing to 1."""
    depth: Tensor | None = None
    """``(V, H, W)`` depth maps (any scale and offset), or None."""

    @staticmethod
    def from_views(views, depth: Tensor | None = None) -> "ReferenceTargets":
        """From :class:`~dreamlift.inputs.ViewInput` s (all of one size); their depths when every view has one."""
        if not views:
            raise DreamliftError("reference losses need at least one input view")
        weights = torch.tensor([float(v.weight) for v in views])
        cameras = OrbitCameras.cat([v.camera for v in views])
        if depth is None and all(getattr(v, "depth", None) is not None for v in views):
            depth = torch.stack([v.depth for v in views])
        return ReferenceTargets(
            rgb=torch.stack([v.image.rgb_on_white for v in views]),
            mask=torch.stack([v.image.mask for v in views]),
            cameras=cameras,
            weights=weights / weights.sum(),
            depth=depth,
        )


def pearson(a: Tensor, b: Tensor) -> Tensor:
    """Pearson correlation of two 1-D tensors (0 when either is constant)."""
    a, b = a - a.mean(), b - b.mean()
    return (a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-8)


def fit_affine(target: Tensor, rendered: Tensor, covered: Tensor) -> tuple[Tensor, Tensor]:
    """``a, b`` minimising ``Σ_covered (a·target + b − rendered)²`` for one view (no gradient; ``a ≥ 1e-6``)."""
    t, r = target[covered].detach().double(), rendered[covered].detach().double()
    t_mean, r_mean = t.mean(), r.mean()
    scale = ((t - t_mean) * (r - r_mean)).sum() / ((t - t_mean) ** 2).sum().clamp_min(1e-12)
    scale = scale.clamp_min(1e-6)
    return scale.float(), (r_mean - scale * t_mean).float()


def normals_from_depth(ray_depth: Tensor, cameras: OrbitCameras) -> tuple[Tensor, Tensor]:
    """World normals ``(V, H, W, 3)`` of the surface at ray distances ``ray_depth (V, H, W)`` and where they are
    defined (interior pixels, ``(V, H, W)`` bool): back-projected points, the cross product of their central
    differences along rows and columns, turned to face the camera."""
    from dreamlift.rendering.cameras import generate_rays

    views, height, width = ray_depth.shape
    origins, directions = generate_rays(cameras.to(ray_depth.device), height, width)
    points = origins + ray_depth[..., None] * directions
    across = torch.zeros_like(points)
    down = torch.zeros_like(points)
    across[:, :, 1:-1] = points[:, :, 2:] - points[:, :, :-2]
    down[:, 1:-1] = points[:, 2:] - points[:, :-2]
    normals = torch.linalg.cross(down, across, dim=-1)  # columns run right, rows down: down x right faces the camera
    facing = torch.where((normals * directions).sum(-1, keepdim=True) > 0, -normals, normals)
    length = facing.norm(dim=-1, keepdim=True)
    interior = torch.zeros(views, height, width, dtype=torch.bool, device=ray_depth.device)
    interior[:, 1:-1, 1:-1] = True
    return facing / length.clamp_min(1e-12), interior & (length[..., 0] > 1e-12)


def depth_normal_losses(out, targets: "ReferenceTargets") -> tuple[Tensor, Tensor]:
    """``(1 − Pearson, 1 − cos)`` per view ``(V,)`` of the render ``out`` against the targets' depth maps."""
    depth = out.depth[..., 0] / out.opacity[..., 0].clamp_min(1e-4)
    covered = targets.mask > 0.5
    pearsons, aligned = [], []
    for v in range(len(targets.weights)):
        if int(covered[v].sum()) < 2:
            pearsons.append(torch.ones((), device=depth.device))
            aligned.append(depth[v].detach())
            continue
        pearsons.append(pearson(depth[v][covered[v]], targets.depth[v][covered[v]]))
        scale, offset = fit_affine(targets.depth[v], depth[v], covered[v])
        aligned.append(scale * targets.depth[v] + offset)
    target_normals, defined = normals_from_depth(torch.stack(aligned), targets.cameras)
    neighbours = covered.clone()
    neighbours[:, 1:-1, 1:-1] = covered[:, 1:-1, 1:-1] & covered[:, 2:, 1:-1] & covered[:, :-2, 1:-1] & covered[:, 1:-1, 2:] & covered[:, 1:-1, :-2]
    valid = defined & neighbours
    rendered = out.normals / out.normals.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    cosine = (rendered * target_normals).sum(-1)
    normal = torch.stack([(1.0 - cosine[v][valid[v]]).mean() if bool(valid[v].any()) else cosine.new_zeros(()) for v in range(len(valid))])
    return 1.0 - torch.stack(pearsons), normal


class ReferenceViewHook:
    """The reference-view losses of an image run (a :class:`~dreamlift.training.trainer.TrainingHook`)."""

    def __init__(self, settings: ReferenceLoss, targets: ReferenceTargets):
        settings.validate()
        self.settings = settings
        self.targets = targets

    def _targets_on(self, trainer) -> ReferenceTargets:
        """The targets on the trainer's device (moved once; a trainer without ``device`` is on the CPU)."""
        device = torch.device(getattr(trainer, "device", "cpu"))
        t = self.targets
        if t.rgb.device != device:
            move = lambda x: None if x is None else x.to(device)  # noqa: E731
            self.targets = ReferenceTargets(move(t.rgb), move(t.mask), t.cameras.to(device), move(t.weights), move(t.depth))
        return self.targets

    def render(self, trainer):
        """The field seen from the input cameras, shaded as :attr:`settings` says."""
        targets = self._targets_on(trainer)
        cameras, size = targets.cameras, targets.rgb.shape[1]
        if size != trainer.config.size:
            raise DreamliftError(f"input views are {size}x{size} but the run renders {trainer.config.size}x{trainer.config.size}")
        return trainer.render_reference(cameras, size, self.settings.shading, head_lights(cameras, self.settings.ambient))

    def losses(self, step: int, trainer) -> dict[str, Tensor]:
        s = self.settings
        if step % s.every != 0:
            return {}
        out = self.render(trainer)
        t = self._targets_on(trainer)
        weights = t.weights
        per_view = lambda x: (x.flatten(1).mean(1) * weights).sum()  # noqa: E731
        terms: dict[str, Tensor] = {}
        if s.rgb > 0:
            terms["reference_rgb"] = s.rgb * per_view((out.image - t.rgb) ** 2)
        if s.mask > 0:
            opacity = out.opacity[..., 0]
            if MaskLoss(s.mask_loss) is MaskLoss.BCE:
                error = F.binary_cross_entropy(opacity.clamp(1e-5, 1.0 - 1e-5), t.mask, reduction="none")
            else:
                error = (opacity - t.mask) ** 2
            terms["reference_mask"] = s.mask * per_view(error)
        if t.depth is not None and (s.depth > 0 or s.normal > 0):
            depth_error, normal_error = depth_normal_losses(out, t)
            if s.depth > 0:
                terms["reference_depth"] = s.depth * (depth_error * weights).sum()
            if s.normal > 0:
                terms["reference_normal"] = s.normal * (normal_error * weights).sum()
        return terms
