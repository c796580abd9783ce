"""The refinement's mesh renderer: coverage against the numpy rasteriser, shading against its closed
form, and the whole chain (SDF → marching tetrahedra → raster → antialias) fitting a silhouette."""

import math

import numpy as np
import pytest
import torch

from dreamlift.refine.geometry import DMTetGeometry
from dreamlift.refine.render import render_mesh, vertex_normals
from dreamlift.refine.tets import SurfaceMesh, marching_tetrahedra, tet_grid
from dreamlift.rendering import raster_torch
from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.raster_numpy import rasterize as rasterize_numpy
from dreamlift.rendering.shading import Lights, ShadingMode

RED = torch.tensor([0.86, 0.12, 0.12])


def constant(colour):
    return lambda points: colour.to(points).expand(points.shape[0], 3)


def sphere(radius: float, resolution: int = 24) -> SurfaceMesh:
    grid = tet_grid(resolution, 1.0)
    return marching_tetrahedra(grid.vertices, grid.vertices.norm(dim=1) - radius, grid)


def test_coverage_matches_the_numpy_rasteriser_and_albedo_is_exact():
    mesh = sphere(0.6)
    cameras = OrbitCameras.make([10.0, 40.0], [0.0, 125.0])
    out = render_mesh(mesh, constant(RED), cameras, 48, shading=ShadingMode.ALBEDO)
    screen = raster_torch.project(mesh.vertices, cameras, 48)
    for b in range(2):
        frags = rasterize_numpy(screen[b, :, :2].numpy()[mesh.faces.numpy()], 48, 48)
        covered = np.zeros((48, 48), dtype=bool)
        covered[frags.row, frags.col] = True
        inside = torch.from_numpy(covered)
        # interior pixels (not next to the silhouette, where antialiasing blends) are exactly covered / exactly empty
        edge = inside ^ torch.from_numpy(np.pad(covered, 1)[1:-1, 2:] & np.pad(covered, 1)[1:-1, :-2] & np.pad(covered, 1)[2:, 1:-1] & np.pad(covered, 1)[:-2, 1:-1])
        ring = edge | torch.from_numpy(np.pad(covered, 1)[1:-1, 2:] | np.pad(covered, 1)[1:-1, :-2] | np.pad(covered, 1)[2:, 1:-1] | np.pad(covered, 1)[:-2, 1:-1]) & ~inside
        alpha = out.opacity[b, ..., 0]
        assert torch.equal(alpha[inside & ~ring] == 1.0, torch.ones_like(alpha[inside & ~ring], dtype=torch.bool))
        assert float(alpha[~inside & ~ring].abs().max()) == 0.0
        assert torch.allclose(out.image[b][inside & ~ring], RED.expand(int((inside & ~ring).sum()), 3), atol=1e-6)
        assert torch.allclose(out.image[b][~inside & ~ring], torch.ones(int((~inside & ~ring).sum()), 3))


def test_lambertian_shading_follows_the_closed_form_on_a_sphere():
    mesh = sphere(0.6, 32)
    camera = OrbitCameras.make(0.0, 0.0)
    light = torch.tensor([[0.0, 0.0, 1.0]])
    out = render_mesh(mesh, constant(RED), camera, 64, shading=ShadingMode.LAMBERTIAN, lights=Lights(light, torch.tensor([0.3])))
    covered = out.opacity[0, ..., 0] == 1.0
    normals = out.normals[0][covered]
    expected = RED * (0.3 + 0.7 * normals[:, 2:3].clamp_min(0.0))
    assert torch.allclose(out.image[0][covered], expected, atol=1e-5)
    # smooth normals of a sphere mesh point along the radius: n · (p / |p|) ≈ 1
    points = raster_torch.interpolate(mesh.vertices, mesh.faces, raster_torch.rasterize(raster_torch.project(mesh.vertices, camera, 64), mesh.faces, 64))[0][covered]
    radial = points / points.norm(dim=-1, keepdim=True)
    assert float((normals * radial).sum(-1).min()) > 0.99
    assert vertex_normals(mesh.vertices, mesh.faces).norm(dim=-1).sub(1).abs().max() < 1e-5


def test_a_supersampled_render_is_the_fine_render_averaged_and_matches_the_toy_renders_outline_colours():
    from dreamlift.toyworld import composite_white, parse_caption, render

    mesh = sphere(0.6, 64)
    cameras = OrbitCameras.make([10.0, 40.0, -5.0], [0.0, 125.0, -60.0], [3.0, 2.8, 3.2])
    lights = Lights(torch.nn.functional.normalize(cameras.position, dim=-1), torch.tensor([0.3, 0.4, 0.5]))
    coarse = render_mesh(mesh, constant(RED), cameras, 32, shading=ShadingMode.LAMBERTIAN, lights=lights)
    twice = render_mesh(mesh, constant(RED), cameras, 32, shading=ShadingMode.LAMBERTIAN, lights=lights, supersample=2)
    fine = render_mesh(mesh, constant(RED), cameras, 64, shading=ShadingMode.LAMBERTIAN, lights=lights)
    pooled = torch.nn.functional.avg_pool2d(fine.image.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)
    torch.testing.assert_close(twice.image, pooled)
    assert twice.opacity.shape == (3, 32, 32, 1) and twice.normals.shape == (3, 32, 32, 3)
    covered = twice.depth[..., 0] > 0  # some subpixel's centre is covered (antialiasing blends a ring beyond)
    torch.testing.assert_close(twice.normals[covered].norm(dim=-1), torch.ones(int(covered.sum())), atol=1e-5, rtol=0)
    # against the toy world's own render (2x2 subpixels) of the same sphere under the same lights: shading
    # taken at one pixel centre and blended only at the outline is off there; averaging subpixels is not
    rgba = render(parse_caption("a red sphere"), cameras, size=32, lights=lights, supersample=2)
    truth, outline = composite_white(rgba), (rgba[..., 3] > 0) & (rgba[..., 3] < 1)
    error = lambda out: float((out.image - truth).abs()[outline].mean())  # noqa: E731
    four = render_mesh(mesh, constant(RED), cameras, 32, shading=ShadingMode.LAMBERTIAN, lights=lights, supersample=4)
    assert error(four) < error(twice) < 0.8 * error(coarse)  # measured 0.052 < 0.085 < 0.114


def test_dmtet_fits_a_target_silhouette_and_depth_through_the_whole_chain():
    """Start from a sphere of radius 0.4; fit the masks and depth maps of one of radius 0.6 from four views."""
    cameras = OrbitCameras.make([15.0, 15.0, 15.0, 60.0], [0.0, 90.0, 200.0, 45.0])
    truth = render_mesh(sphere(0.6, 16), constant(RED), cameras, 32, shading=ShadingMode.ALBEDO)
    target, target_depth = truth.opacity.detach(), truth.depth.detach()
    grid = tet_grid(16, 1.0)
    geometry = DMTetGeometry(grid, (grid.vertices.norm(dim=1) - 0.4).clamp(-0.3, 0.3))
    optimizer = torch.optim.Adam([{"params": [geometry.sdf], "lr": 0.01}, {"params": [geometry.deform], "lr": 0.05}])

    def errors(out):
        both = (out.depth > 0) & (target_depth > 0)
        return ((out.opacity - target) ** 2).mean(), ((out.depth - target_depth)[both] ** 2).mean()

    with torch.no_grad():
        start_mask, _ = errors(render_mesh(geometry.surface(), constant(RED), cameras, 32))
    for _ in range(40):
        optimizer.zero_grad()
        mask_error, depth_error = errors(render_mesh(geometry.surface(), constant(RED), cameras, 32, shading=ShadingMode.ALBEDO))
        (mask_error + depth_error).backward()
        optimizer.step()
    with torch.no_grad():
        final = render_mesh(geometry.surface(), constant(RED), cameras, 32)
        mask_error, depth_error = errors(final)
    mine, theirs = final.opacity > 0.5, target > 0.5
    assert float((mine & theirs).sum() / (mine | theirs).sum()) > 0.95
    assert float(mask_error) < 0.1 * float(start_mask)
    assert float(depth_error.sqrt()) < 0.06  # world units: under half a grid cell (0.125), against 0.2 at the start
