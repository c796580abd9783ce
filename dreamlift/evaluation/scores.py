"""Scores of a trained field against toy-world ground truth, at held-out cameras.

Held-out cameras (:func:`~dreamlift.rendering.views.held_out_views`): elevations
5°, 25°, 45° × azimuths 22.5° + 45°·k (none of them a preview view), radius 3, fovy 40, each lit by a head light at the camera with
ambient 0.4, rendered at the toy world's 32×32 (supersampled truth).

The result may sit turned about the vertical axis: the turn ``θ`` that minimises the
image error is searched (15° steps, then 2.5° around the best) and every score is
taken at that turn. Scores:

* ``silhouette_iou``: mean over views of IoU(opacity > 0.5, truth alpha > 0.5);
* ``psnr``: PSNR of the renders composited on white, over all views;
* ``color_error``: mean absolute RGB difference on pixels covered in both;
* ``janus`` (snowman, house, chair): the back view (azimuth 180° + θ, elevation 15°)
  is closer, in mean squared error, to the true *front* than to the true back.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.renderer import render_field
from dreamlift.rendering.shading import head_lights
from dreamlift.rendering.views import held_out_views, janus_views
from dreamlift.scene.field import Field

JANUS_SHAPES = ("snowman", "house", "chair")


def turned(cameras: OrbitCameras, degrees: float) -> OrbitCameras:
    return OrbitCameras(cameras.elevation, cameras.azimuth + degrees, cameras.radius, cameras.fovy)


@dataclass
class Scores:
    silhouette_iou: float
    psnr: float
    color_error: float
    turn: float
    janus: bool | None

    def as_dict(self) -> dict:
        return asdict(self)


def render_truth(obj, cameras: OrbitCameras, size: int, ambient: float = 0.4) -> tuple[Tensor, Tensor]:
    """Truth renders composited on white ``(B, H, W, 3)`` and alpha ``(B, H, W)`` (ambient 1 gives albedo)."""
    from dreamlift.toyworld import composite_white, render

    rgba = render(obj, cameras, size=size, lights=head_lights(cameras, ambient), supersample=4)
    return composite_white(rgba), rgba[..., 3]


def render_scene(scene, cameras: OrbitCameras, size: int, shading: str, lights, occupancy=None) -> dict[str, Tensor]:
    """``{"image", "opacity"}`` of ``scene`` on white: a ``Field`` (volume rendered, with its ``occupancy``), or a
    run's stage asset with its own ``render`` (:class:`dreamlift.pipeline.run.StageAsset`: a NeRF or a refined mesh)."""
    if hasattr(scene, "render"):
        return scene.render(cameras, size, shading=shading, lights=lights)
    return render_field(scene, cameras, size, shading=shading, lights=lights, occupancy=occupancy, normals=shading != "albedo")


def render_result(field: Field, cameras: OrbitCameras, size: int, occupancy=None, shading: str = "lambertian") -> tuple[Tensor, Tensor]:
    """Renders of the field (or stage asset: :func:`render_scene`) lit like :func:`render_truth`, and its opacity ``(B, H, W)``."""
    out = render_scene(field, cameras, size, shading, head_lights(cameras), occupancy)
    return out["image"].clamp(0, 1), out["opacity"][..., 0]


def silhouette_iou(alpha: Tensor, truth_alpha: Tensor) -> float:
    a, b = alpha > 0.5, truth_alpha > 0.5
    union = (a | b).flatten(1).sum(1).float()
    inter = (a & b).flatten(1).sum(1).float()
    return float(torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union)).mean())


def psnr(image: Tensor, truth: Tensor) -> float:
    mse = float(((image - truth) ** 2).mean())
    return 10.0 * math.log10(1.0 / max(mse, 1e-10))


def color_error(image: Tensor, alpha: Tensor, truth: Tensor, truth_alpha: Tensor) -> float:
    both = (alpha > 0.5) & (truth_alpha > 0.5)
    if not both.any():
        return 1.0
    return float((image - truth).abs()[both].mean())


def best_turn(field: Field, truth_albedo: Tensor, cameras: OrbitCameras, size: int, occupancy=None) -> float:
    """The turn about +Y (degrees) at which the field's albedo renders best match the truth's."""

    def error(degrees: float) -> float:
        image, _ = render_result(field, turned(cameras, degrees), size, occupancy, shading="albedo")
        return float(((image - truth_albedo) ** 2).mean())

    coarse = min((error(d), d) for d in range(0, 360, 15))[1]
    return min((error(coarse + d), coarse + d) for d in (-7.5, -5.0, -2.5, 0.0, 2.5, 5.0, 7.5))[1] % 360.0


def score_field(field: Field, obj, size: int = 32, occupancy=None, search_turn: bool = True) -> Scores:
    """Score a field against the toy object ``obj`` (see the module docstring)."""
    cameras = held_out_views()
    truth_rgb, truth_alpha = render_truth(obj, cameras, size)
    turn = 0.0
    if search_turn:
        search = cameras[torch.arange(8, 16)]  # the 25° ring is enough to find the turn
        truth_albedo, _ = render_truth(obj, search, size, ambient=1.0)
        turn = best_turn(field, truth_albedo, search, size, occupancy)
    image, alpha = render_result(field, turned(cameras, turn), size, occupancy)
    janus = None
    if obj.shape in JANUS_SHAPES:
        views = janus_views()
        truth_views, _ = render_truth(obj, views, size)
        back, _ = render_result(field, turned(views[1], turn), size, occupancy)
        to_front = float(((back[0] - truth_views[0]) ** 2).mean())
        to_back = float(((back[0] - truth_views[1]) ** 2).mean())
        janus = to_front < to_back
    return Scores(
        silhouette_iou=silhouette_iou(alpha, truth_alpha),
        psnr=psnr(image, truth_rgb),
        color_error=color_error(image, alpha, truth_rgb, truth_alpha),
        turn=turn,
        janus=janus,
    )


def score_text_run(run, obj, size: int = 32, search_turn: bool = True, stage: str | int = "final") -> dict:
    """``dreamlift eval --truth``'s scores of ``run``'s ``stage`` (a :class:`~dreamlift.pipeline.run.Run`) against the toy
    object ``obj``: the renders' scores (:func:`score_field`), the stage and its step, and the mesh scores of the
    stage's exported mesh when the run wrote one (:func:`~dreamlift.evaluation.mesh_scores.score_mesh_file`)."""
    from dreamlift.evaluation.mesh_scores import score_mesh_file

    asset = run.asset(stage)
    scores = score_field(asset, obj, size=size, occupancy=asset.occupancy, search_turn=search_turn).as_dict()
    scores.update(stage=asset.stage, step=asset.step)
    mesh_path = run.mesh_file(asset.stage)
    if mesh_path.is_file():
        scores.update(score_mesh_file(mesh_path, obj))
    return scores
