"""The Gaussian field's mesh: its level is fitted to the opacity the rasteriser draws (``drawn_size``), and a solid of
known Gaussians comes out as the shape they form."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamlift.evaluation.mesh_scores import mesh_occupancy, voxel_centres
from dreamlift.export.mesh import MeshConfig, extract_mesh
from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.splatting import drawn_opacity, render_splats
from dreamlift.scene.gaussian_settings import GaussianConfig
from dreamlift.scene.gaussians import GaussianModel

HALF = 0.3
"""The solid box of the tests is [−HALF, HALF]³."""


def lattice_box(spacing: float, scale: float, opacity: float) -> GaussianModel:
    """Isotropic Gaussians of ``scale`` on a cubic lattice of ``spacing`` filling the box [−HALF, HALF]³ (grey)."""
    axis = torch.arange(-HALF + 0.5 * spacing, HALF, spacing)
    points = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1).reshape(-1, 3)
    model = GaussianModel(GaussianConfig(count=len(points), scale=scale, opacity=opacity, colour="grey"))
    with torch.no_grad():
        model.means.copy_(points)
    return model


def box_iou(mesh, resolution: int = 64) -> float:
    """Volume IoU of ``mesh`` against the box, on voxel centres over [−1, 1]³."""
    inside = mesh_occupancy(mesh, resolution, 1.0).reshape(-1)
    truth = (np.abs(voxel_centres(resolution, 1.0)) <= HALF).all(-1).reshape(-1)
    return float((inside & truth).sum() / (inside | truth).sum())


def test_drawn_opacity_is_the_rasterisers_at_the_drawn_size():
    model = lattice_box(0.1, 0.04, 0.6)
    cameras = OrbitCameras.make([20.0, 70.0], [30.0, 200.0])
    field = model.as_field(drawn_size=16, draw=drawn_opacity)
    drawn = field.drawn_opacity(cameras, 16)
    assert torch.equal(drawn, render_splats(model.splats(), cameras, 16).output.opacity[..., 0].detach())
    resized = field.drawn_opacity(cameras, 32)
    assert resized.shape == (2, 32, 32)
    assert float(resized.mean()) == pytest.approx(float(drawn.mean()), rel=0.02)  # a bilinear resize keeps the coverage
    assert model.as_field().drawn_opacity(cameras, 16) is None  # without a drawn size: the exporter volume renders


def test_a_box_of_sub_pixel_gaussians_meshes_as_the_box_it_is_drawn_as():
    """Gaussians a sixth of a 32-px pixel wide, 0.73 px apart: the rasteriser (its 0.3 px² low-pass) draws a solid box,
    and the mesh fitted to that drawing is the box (a little fat: the low-pass widens its edge by about half a pixel,
    0.037); fitted to the volume render of the narrow kernels it falls apart into blobs around them.
    Measured: box IoU 0.771 (level 0.005) against 0.270 (level 5.2)."""
    model = lattice_box(0.05, 0.012, 0.5)
    config = MeshConfig(resolution=64)
    drawn = extract_mesh(model.as_field(drawn_size=32, draw=drawn_opacity), config)
    volume = extract_mesh(model.as_field(), config)
    assert drawn.mesh.is_watertight and drawn.silhouette_iou > 0.9
    assert box_iou(drawn.mesh) > 0.72
    assert box_iou(volume.mesh) < 0.4


def test_min_density_drops_only_contributions_below_it():
    """With ``min_density`` each kernel stops where it adds less than that: the density moves by at most the dropped
    kernels' sum (each below the floor), faint Gaussians reach less far, and fewer (point, Gaussian) pairs are summed."""
    model = lattice_box(0.1, 0.05, 0.02)  # faint: peak density 0.16
    with torch.no_grad():
        model.opacity_logits[::7] = 4.0  # a few opaque ones: peak 37
    points = (torch.rand(4000, 3, generator=torch.Generator().manual_seed(0)) - 0.5) * 0.9
    exact, cut = model.as_field(), model.as_field(min_density=0.01)
    with torch.no_grad():
        reference = exact.density(points)
        difference = (reference - cut.density(points)).abs()
        pairs_exact, pairs_cut = len(exact._pairs(points)[0]), len(cut._pairs(points)[0])
    overlapping = 27  # at most this many kernels of the lattice reach a point farther than the cut
    assert float(difference.max()) <= 0.01 * overlapping
    assert float(difference.mean()) < 0.01 * float(reference.mean())  # measured: 0.013 against a mean density of 2.8
    assert pairs_cut < 0.5 * pairs_exact  # measured: 63,833 against 196,768


def test_a_gaussian_fields_turntable_takes_its_albedo_at_the_mesh_vertices():
    """The turntable's colour of a Gaussian field comes from its albedo at the mesh's vertices: at a vertex it is that
    vertex's albedo, between vertices a mean of theirs; any other field is asked directly."""
    from dreamlift.refine.export import turntable_albedo

    model = lattice_box(0.1, 0.05, 0.6)
    with torch.no_grad():
        model.colour_logits.copy_(torch.logit(((model.means + HALF) / (2 * HALF)).clamp(0.05, 0.95)))  # colour = position
    field = model.as_field(drawn_size=32, draw=drawn_opacity)
    mesh = extract_mesh(field, MeshConfig(resolution=32)).mesh
    albedo = turntable_albedo(mesh, field)
    vertices = torch.as_tensor(np.asarray(mesh.vertices), dtype=torch.float32)
    assert torch.allclose(albedo(vertices[:200]), field.albedo(vertices[:200]).detach(), atol=1e-5)
    faces = torch.as_tensor(np.asarray(mesh.faces))[:200]
    centres = vertices[faces].mean(1)
    assert float((albedo(centres) - field.albedo(centres).detach()).abs().mean()) < 0.02  # a smooth albedo, closely followed
    plain = type("Plain", (), {"albedo": staticmethod(field.albedo)})()
    assert turntable_albedo(mesh, plain) is plain.albedo
