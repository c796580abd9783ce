"""Scores of an image run against ground truth, relative to the input camera.

An image run puts its input camera at azimuth 0: the result's frame is the true
object's frame turned so that the true input camera ``(E, A)`` becomes ``(E, 0)``.
So the result seen from ``(e, a)`` is compared with the truth seen from
``(e, a + A)``. (A view-table run's frame is the table's; its novel views are taken
about the table's first camera, and ``A`` is the offset of the table's azimuths
from the truth's, 0 when they agree.) The run must have been told the true elevation (``--elevation E``);
a different elevation would tilt the frames, which orbit cameras cannot express.

* **Novel views** (:func:`~dreamlift.rendering.views.novel_views`): elevations 5°, 25°,
  45° × azimuths 90°, 135°, 180°, 225°, 270° from the input camera (all at least 90° away), radius 3, fovy 40, head light at
  the camera with ambient 0.4, 32×32 by default: mean silhouette IoU
  (opacity > 0.5 against truth alpha > 0.5) and PSNR of the images on white.
* **Input view**: the result rendered from the run's input camera (as the
  reference-view loss renders it) against the processed input the run was fitted to
  (``DIR/input.png``), on white: PSNR and silhouette IoU.

Ground truth is a toy object (a caption, rendered by the toy world) or a mesh file
rendered in the toy world's style (:func:`render_mesh`): one colour, its bounding
box centred on the origin, scaled so that its bounding sphere (about that centre)
has radius 0.8, +Y up as stored, Lambertian with the same head light.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dreamlift.errors import DreamliftError
from dreamlift.evaluation.scores import psnr, render_result, render_scene, render_truth, silhouette_iou, turned
from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.shading import Lights, head_lights
from dreamlift.rendering.views import NOVEL_AZIMUTHS, NOVEL_ELEVATIONS, novel_views

MESH_RADIUS = 0.8
"""Bounding-sphere radius real meshes are scaled to."""
CREASE_DEGREES = 30.0
"""Edges sharper than this are shaded flat (the vertices are split there); smoother ones smoothly."""
MESH_SUFFIXES = (".obj", ".ply", ".stl", ".off", ".glb", ".gltf")


@dataclass
class MeshTruth:
    """A single-coloured mesh normalised as the module docstring says."""

    vertices: np.ndarray
    """``(V, 3)`` float64, world units."""
    faces: np.ndarray
    """``(F, 3)`` int64."""
    normals: np.ndarray
    """``(V, 3)`` unit vertex normals."""
    albedo: tuple[float, float, float]
    """Display RGB in [0, 1]."""
    name: str = "mesh"


def load_truth_mesh(path: str | Path, albedo: tuple[float, float, float]) -> MeshTruth:
    """Read a mesh file and normalise it (bounding box centred, bounding sphere radius 0.8)."""
    import trimesh

    path = Path(path)
    try:
        mesh = trimesh.load(path, force="mesh")
    except Exception as error:  # trimesh raises many kinds for bad files
        raise DreamliftError(f"cannot read mesh {path} ({type(error).__name__}): give an .obj, .ply, .stl, .off or .glb file") from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise DreamliftError(f"mesh {path} has no triangles")
    return normalised_truth(mesh, albedo, path.stem)


def normalised_truth(mesh, albedo: tuple[float, float, float], name: str = "mesh") -> MeshTruth:
    """A trimesh centred and scaled (module docstring); vertices are split at creases over ``CREASE_DEGREES``."""
    import trimesh

    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    centre = 0.5 * (vertices.min(0) + vertices.max(0))
    vertices = vertices - centre
    vertices *= MESH_RADIUS / np.linalg.norm(vertices, axis=1).max()
    shaded = trimesh.graph.smooth_shade(trimesh.Trimesh(vertices, np.asarray(mesh.faces), process=False), angle=math.radians(CREASE_DEGREES))
    return MeshTruth(
        np.asarray(shaded.vertices, dtype=np.float64), np.asarray(shaded.faces, dtype=np.int64), np.asarray(shaded.vertex_normals), tuple(albedo), name
    )


def render_mesh(truth: MeshTruth, cameras: OrbitCameras, size: int, lights: Lights, supersample: int = 4) -> Tensor:
    """Straight-alpha RGBA ``(B, size, size, 4)`` of a mesh, as the toy world renders its objects.

    A z-buffer over ``size·supersample`` subpixels (pixel centres, row 0 on top, the
    cameras' OpenGL axes): the nearest triangle by perspective-correct depth wins;
    normals are the vertex normals interpolated perspective-correctly, turned toward
    the camera on the back of open surfaces. Pixels average their subpixels like
    :func:`dreamlift.toyworld.render` (alpha = covered share, RGB = mean covered colour).
    """
    from dreamlift.rendering.raster_numpy import rasterize

    fine = size * supersample
    vertices, faces = truth.vertices, truth.faces
    corners = vertices[faces]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    albedo = np.asarray(truth.albedo, dtype=np.float64)
    images = []
    for b in range(len(cameras)):
        c2w = cameras[b].camera_to_world()[0].double().numpy()
        rotation, centre = c2w[:3, :3], c2w[:3, 3]
        local = (vertices - centre) @ rotation  # camera coordinates: +X right, +Y up, looking down −Z
        depth = -local[:, 2]
        tan_half = math.tan(math.radians(float(cameras.fovy[b])) / 2.0)
        pixels = np.stack(((local[:, 0] / (depth * tan_half) + 1.0) * 0.5 * fine, (1.0 - local[:, 1] / (depth * tan_half)) * 0.5 * fine), axis=1)
        frags = rasterize(pixels[faces], fine, fine)
        rgb = np.ones((fine * fine, 3))
        hit = np.zeros(fine * fine)
        if frags.face.size:
            inverse_depth = (frags.weights / depth[faces[frags.face]]).sum(1)  # 1/z is linear on the screen
            pixel = frags.row * fine + frags.col
            order = np.lexsort((-inverse_depth, pixel))
            first = np.ones(order.size, dtype=bool)
            first[1:] = pixel[order][1:] != pixel[order][:-1]
            win = order[first]
            face = frags.face[win]
            weights = frags.weights[win] / depth[faces[face]]
            weights /= weights.sum(1, keepdims=True)
            point = (weights[..., None] * vertices[faces[face]]).sum(1)
            normal = (weights[..., None] * truth.normals[faces[face]]).sum(1)
            normal /= np.linalg.norm(normal, axis=1, keepdims=True).clip(1e-12)
            back = (face_normals[face] * (centre - point)).sum(1) < 0
            normal[back] = -normal[back]
            light = lights.direction[b].double().numpy()
            ambient = float(lights.ambient[b])
            diffuse = np.clip(normal @ light, 0.0, None)
            rgb[pixel[win]] = albedo[None] * (ambient + (1.0 - ambient) * diffuse)[:, None]
            hit[pixel[win]] = 1.0
        rgb = rgb.reshape(size, supersample, size, supersample, 3)
        hit = hit.reshape(size, supersample, size, supersample)
        covered = hit.sum(axis=(1, 3))
        summed = (rgb * hit[..., None]).sum(axis=(1, 3))
        colour = np.where(covered[..., None] > 0, summed / np.maximum(covered, 1.0)[..., None], 1.0)
        images.append(np.concatenate((colour, (covered / supersample**2)[..., None]), axis=-1))
    return torch.from_numpy(np.stack(images)).float().clamp(0.0, 1.0)


def parse_truth(spec: str, colour: str | None = None):
    """A toy caption → ``ToyObject``; an existing mesh file → :class:`MeshTruth` in ``colour`` (a toy colour name)."""
    from dreamlift.toyworld import COLORS, parse_caption

    path = Path(spec).expanduser()
    if path.suffix.lower() in MESH_SUFFIXES or path.exists():
        if not path.is_file():
            raise DreamliftError(f"mesh {path} does not exist: give a mesh file or a toy caption such as \"a yellow chair\"")
        name = colour or "orange"
        if name not in COLORS:
            raise DreamliftError(f"unknown colour {name!r} for the mesh: choose one of {', '.join(COLORS)}")
        return load_truth_mesh(path, COLORS[name])
    if colour is not None:
        raise DreamliftError("--truth-color is for mesh files; a caption names its own colour")
    return parse_caption(spec)


def exported_mesh_alpha(path: Path, cameras: OrbitCameras, size: int) -> Tensor:
    """Coverage ``(B, size, size)`` of a run's exported mesh (world frame, as written) from ``cameras``, 8×8 subpixels
    (4×4 leave an exact sphere's outline pixels at 8/16, just under the 0.5 of the silhouette test)."""
    import trimesh

    if not path.is_file():
        raise DreamliftError(f"{path} does not exist: export the run (dreamlift export {path.parent}) before scoring its mesh")
    mesh = trimesh.load(str(path), force="mesh", process=False)
    vertices, faces = np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)
    shape = MeshTruth(vertices, faces, np.asarray(mesh.vertex_normals, dtype=np.float64), (0.5, 0.5, 0.5), path.name)
    return render_mesh(shape, cameras, size, head_lights(cameras), supersample=8)[..., 3]


def render_truth_on_white(truth, cameras: OrbitCameras, size: int, ambient: float = 0.4) -> tuple[Tensor, Tensor]:
    """Truth ``(B, H, W, 3)`` on white and alpha ``(B, H, W)``, head-lit, for a toy object or a mesh."""
    if isinstance(truth, MeshTruth):
        rgba = render_mesh(truth, cameras, size, head_lights(cameras, ambient))
        return rgba[..., :3] * rgba[..., 3:] + (1.0 - rgba[..., 3:]), rgba[..., 3]
    return render_truth(truth, cameras, size, ambient)


@dataclass
class ImageScores:
    novel_silhouette_iou: float
    """Mean silhouette IoU at the novel views (at least 90° from the input)."""
    novel_psnr: float
    """PSNR (dB) of the novel views on white."""
    input_psnr: float
    """PSNR (dB) of the input view against the processed input."""
    input_silhouette_iou: float
    """Silhouette IoU of the input view against the input's alpha."""
    input_azimuth: float
    input_elevation: float

    def as_dict(self) -> dict:
        return asdict(self)


def score_image_run(
    run, scene, truth, input_azimuth: float = 0.0, input_elevation: float | None = None, size: int = 32, margin: float = 0.0,
    mesh_silhouettes: bool = False,
) -> ImageScores:
    """Score an image run against ``truth``: ``run`` has the run's ``path``, ``kind`` and ``config`` (a
    :class:`~dreamlift.pipeline.run.Run`), ``scene`` is what is rendered (a stage asset of the run, or a ``Field``).

    ``margin`` > 0 holds out only the novel views at least that many degrees (angle between
    camera directions) from every input view: the fair set for several input views.
    ``mesh_silhouettes``: the novel-view silhouettes are those of the run's exported ``mesh.glb`` (the
    refined surface after stage 2), rendered like the truth (8×8 subpixels), instead of the NeRF's;
    the PSNRs stay the NeRF's.
    """
    from dreamlift.inputs.image import decode_image

    if run.kind != "image":
        raise DreamliftError(f"{run.path} is a {run.kind} run: --truth-image-of scores image runs; use --truth for text runs")
    settings = run.config.image
    reference = settings.views[0]
    if input_elevation is not None and abs(input_elevation - reference.elevation) > 1e-3:
        raise DreamliftError(
            f"the run was made with --elevation {reference.elevation:g}, not {input_elevation:g}: "
            "scoring assumes the run was told the true elevation"
        )
    base = novel_views()  # relative to the (first) input camera: its azimuth is 0 for one image, the table's otherwise
    cameras = turned(base, reference.azimuth)
    if margin > 0:
        from dreamlift.guidance.view_weights import view_angles

        far = (view_angles(cameras, settings.cameras()) >= math.radians(margin) - 1e-9).all(dim=1)
        cameras = cameras[far]
    truth_cameras = turned(cameras, float(input_azimuth))
    truth_rgb, truth_alpha = render_truth_on_white(truth, truth_cameras, size)
    image, alpha = render_result(scene, cameras, size, getattr(scene, "occupancy", None))
    if mesh_silhouettes:
        alpha = exported_mesh_alpha(run.path / "mesh.glb", cameras, size)

    decoded = decode_image(run.path / reference.file)
    if decoded.alpha is None:
        raise DreamliftError(f"{run.path / reference.file} has no alpha: the run folder is damaged")
    input_alpha = torch.from_numpy(decoded.alpha)[None]
    input_rgb = torch.from_numpy(decoded.rgb)[None] * input_alpha[..., None] + (1.0 - input_alpha[..., None])
    camera = OrbitCameras.make(reference.elevation, reference.azimuth, reference.radius, reference.fovy)
    out = render_scene(scene, camera, input_rgb.shape[1], "lambertian", head_lights(camera, settings.loss.ambient), getattr(scene, "occupancy", None))
    return ImageScores(
        novel_silhouette_iou=silhouette_iou(alpha, truth_alpha),
        novel_psnr=psnr(image, truth_rgb),
        input_psnr=psnr(out["image"].clamp(0, 1), input_rgb),
        input_silhouette_iou=silhouette_iou(out["opacity"][..., 0], input_alpha),
        input_azimuth=float(input_azimuth),
        input_elevation=float(reference.elevation),
    )


def format_image_scores(scores: ImageScores) -> str:
    """The lines ``dreamlift eval`` prints for an image run."""
    return "\n".join(
        [
            f"novel views (>= 90 deg from the input, {len(NOVEL_ELEVATIONS) * len(NOVEL_AZIMUTHS)} cameras)",
            f"  silhouette IoU  {scores.novel_silhouette_iou:.3f}",
            f"  PSNR            {scores.novel_psnr:.2f} dB",
            "input view",
            f"  PSNR            {scores.input_psnr:.2f} dB",
            f"  silhouette IoU  {scores.input_silhouette_iou:.3f}",
        ]
    )
