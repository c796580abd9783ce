"""The differentiable PyTorch rasteriser: projection, coverage and depth against the numpy
rasteriser, perspective-correct interpolation, gradients against finite differences, silhouette
fitting through antialias, the backend switch, and nvdiffrast against the reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from dreamlift.errors import DreamliftError
from dreamlift.rendering import raster_torch as rt
from dreamlift.rendering.cameras import OrbitCameras, generate_rays
from dreamlift.rendering.mesh_rasterizer import MeshRasterizer
from dreamlift.rendering.raster_numpy import rasterize as rasterize_numpy

CAMERAS = OrbitCameras.make([15.0, -5.0, 50.0], [30.0, 200.0, -75.0], [3.0, 2.8, 3.2], [40.0, 35.0, 50.0])


def sphere(subdivisions: int = 3, radius: float = 0.6, dtype=torch.float64):
    ball = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return torch.tensor(ball.vertices, dtype=dtype), torch.tensor(ball.faces, dtype=torch.int64)


def random_soup(count: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    centres = (torch.rand(count, 1, 3, generator=generator, dtype=torch.float64) - 0.5) * 1.4
    vertices = (centres + 0.3 * torch.randn(count, 3, 3, generator=generator, dtype=torch.float64)).reshape(-1, 3)
    return vertices, torch.arange(3 * count).reshape(count, 3)


def numpy_zbuffer(screen: np.ndarray, faces: np.ndarray, size: int):
    """Per pixel: the nearest fragment's face and depth, and the second-nearest depth (inf if none)."""
    frags = rasterize_numpy(screen[faces][..., :2], size, size)
    depth = 1.0 / (frags.weights / screen[faces[frags.face], 2]).sum(1)
    face = np.full(size * size, -1)
    nearest = np.zeros(size * size)
    second = np.full(size * size, np.inf)
    pixel = frags.row * size + frags.col
    order = np.lexsort((depth, pixel))
    first = np.ones(order.size, dtype=bool)
    first[1:] = pixel[order][1:] != pixel[order][:-1]
    face[pixel[order][first]] = frags.face[order][first]
    nearest[pixel[order][first]] = depth[order][first]
    runner = np.flatnonzero(~first[1:] & first[:-1]) + 1  # the second fragment of each pixel
    second[pixel[order][runner]] = depth[order][runner]
    return face.reshape(size, size), nearest.reshape(size, size), second.reshape(size, size), frags


def test_project_puts_points_on_pixel_centre_rays_at_their_view_depth():
    size = 24
    origins, directions = generate_rays(CAMERAS, size)
    distance = torch.linspace(1.5, 4.0, size * size).reshape(1, size, size, 1)
    points = (origins + distance * directions).double()
    screen = rt.project(points.reshape(len(CAMERAS), -1, 3), CAMERAS, size)
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    torch.testing.assert_close(screen[..., 0], (cols.reshape(1, -1) + 0.5).double().expand(3, -1), atol=2e-4, rtol=0)
    torch.testing.assert_close(screen[..., 1], (rows.reshape(1, -1) + 0.5).double().expand(3, -1), atol=2e-4, rtol=0)
    forward = -CAMERAS.camera_to_world()[:, :3, 2].double()  # the viewing axis
    expected = (distance * directions.double() * forward[:, None, None]).sum(-1).reshape(3, -1)
    torch.testing.assert_close(screen[..., 2], expected, atol=1e-5, rtol=0)
    assert screen[..., 2].min() > 0  # in front
    vertices = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: rt.project(v, CAMERAS, size), (vertices,))


@pytest.mark.parametrize("mesh", ["soup", "sphere"])
def test_coverage_and_depth_match_the_numpy_rasteriser_with_a_zbuffer(mesh):
    vertices, faces = random_soup(120, seed=1) if mesh == "soup" else sphere(3)
    size = 48
    screen = rt.project(vertices, CAMERAS, size)
    rast = rt.rasterize(screen, faces, size, max_pairs=3000)  # many chunks
    checked = 0
    for b in range(len(CAMERAS)):
        face, nearest, second, frags = numpy_zbuffer(screen[b].numpy(), faces.numpy(), size)
        ours = rast.face[b].numpy()
        np.testing.assert_array_equal(ours >= 0, face >= 0)  # identical coverage
        tie = (second - nearest) < 1e-6 * nearest
        differ = ours != face
        assert not (differ & ~tie).any(), np.argwhere(differ & ~tie)
        assert differ.sum() <= 0.01 * (face >= 0).sum()
        np.testing.assert_allclose(rast.depth[b].numpy(), nearest, atol=1e-5, rtol=0)
        # the winning face's weights are the perspective-correct ones of its fragment
        hit = np.flatnonzero((face.reshape(-1) >= 0) & ~differ.reshape(-1) & ~tie.reshape(-1))
        key = {(int(f), int(r * size + c)): w for f, r, c, w in zip(frags.face, frags.row, frags.col, frags.weights)}
        linear = np.stack([key[(int(face.reshape(-1)[p]), int(p))] for p in hit])
        perspective = linear / screen[b].numpy()[faces.numpy()[face.reshape(-1)[hit]], 2]
        perspective /= perspective.sum(1, keepdims=True)
        np.testing.assert_allclose(rast.bary[b].reshape(-1, 3)[hit].numpy(), perspective, atol=1e-9)
        checked += hit.size
    assert checked > 1000
    assert (rast.bary[~rast.mask] == 0).all() and (rast.depth[~rast.mask] == 0).all()
    if mesh == "sphere":  # a closed convex surface: one layer in front, coverage is the disc
        assert rast.mask.float().mean() > 0.1


def test_faces_behind_the_near_plane_are_skipped_and_both_windings_are_drawn():
    cameras = OrbitCameras.make(0.0, 0.0, 3.0, 40.0)  # at +Z, looking down −Z
    front = torch.tensor([[-0.5, -0.5, 0.0], [0.5, -0.5, 0.0], [0.0, 0.5, 0.0]], dtype=torch.float64)
    crossing = front + torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 3.5]], dtype=torch.float64)
    vertices = torch.cat((front, crossing))
    size = 32
    screen = rt.project(vertices, cameras, size)
    drawn = rt.rasterize(screen, torch.tensor([[0, 1, 2]]), size)
    flipped = rt.rasterize(screen, torch.tensor([[0, 2, 1]]), size)
    assert drawn.mask.sum() > 50
    assert torch.equal(drawn.mask, flipped.mask)
    torch.testing.assert_close(drawn.depth, flipped.depth)
    assert rt.rasterize(screen, torch.tensor([[3, 4, 5]]), size).mask.sum() == 0  # a vertex behind the camera


def test_interpolating_world_position_is_perspective_correct():
    vertices, faces = sphere(2, radius=0.8)
    size = 40
    screen = rt.project(vertices, CAMERAS, size)
    rast = rt.rasterize(screen, faces, size)
    matrix = torch.tensor([[0.3, -1.2], [2.0, 0.5], [-0.7, 1.1]], dtype=torch.float64)
    values = rt.interpolate(vertices @ matrix + torch.tensor([0.2, -0.4], dtype=torch.float64), faces, rast)
    origins, directions = generate_rays(CAMERAS, size)
    forward = -CAMERAS.camera_to_world()[:, :3, 2]
    along = rast.depth / (directions.double() * forward[:, None, None].double()).sum(-1)  # ray distance
    points = origins.double() + along[..., None] * directions.double()
    expected = points @ matrix + torch.tensor([0.2, -0.4], dtype=torch.float64)
    mask = rast.mask
    assert mask.sum() > 1000
    torch.testing.assert_close(values[mask], expected[mask], atol=5e-6, rtol=0)  # float32 rays limit this
    assert (values[~mask] == 0).all()
    # the world point at each pixel lies on its triangle's plane (a linear, not a screen-affine, blend)
    position = rt.interpolate(vertices, faces, rast)
    corners = vertices[faces[rast.face[mask]]]
    normal = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    offset = ((position[mask] - corners[:, 0]) * normal).sum(-1) / normal.norm(dim=-1)
    assert offset.abs().max() < 1e-12
    batched = rt.interpolate(torch.stack([vertices, 2 * vertices, -vertices]), faces, rast)
    torch.testing.assert_close(batched, position * torch.tensor([1.0, 2.0, -1.0], dtype=torch.float64)[:, None, None, None])


def _central_difference(loss, parameter: torch.Tensor, eps: float) -> torch.Tensor:
    grad = torch.zeros_like(parameter)
    flat = parameter.data.view(-1)
    for i in range(flat.numel()):
        keep = flat[i].item()
        flat[i] = keep + eps
        plus = loss().item()
        flat[i] = keep - eps
        minus = loss().item()
        flat[i] = keep
        grad.view(-1)[i] = (plus - minus) / (2 * eps)
    return grad


def test_interpolated_attribute_gradient_matches_finite_differences():
    cameras = OrbitCameras.make(20.0, 35.0)
    vertices = torch.tensor(
        [[-0.6, -0.5, 0.1], [0.7, -0.4, -0.3], [0.0, 0.6, 0.2], [0.4, 0.5, 0.6]], dtype=torch.float64, requires_grad=True
    )
    faces = torch.tensor([[0, 1, 2], [1, 3, 2]])
    colours = torch.tensor([[1.0, 0.0], [0.2, 1.0], [0.0, 0.5], [0.7, 0.3]], dtype=torch.float64)
    size = 24
    weights = torch.rand(1, size, size, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)

    def loss():
        rast = rt.rasterize(rt.project(vertices, cameras, size), faces, size)
        return (rt.interpolate(colours, faces, rast) * weights).sum() + (rast.depth * weights[..., 0]).sum()

    loss().backward()
    expected = _central_difference(loss, vertices, 1e-6)
    assert expected.abs().max() > 1.0  # the weights really move
    torch.testing.assert_close(vertices.grad, expected, rtol=1e-4, atol=1e-4)


def test_antialias_gradient_moves_the_silhouette_as_finite_differences_say():
    cameras = OrbitCameras.make(10.0, -20.0)
    vertices = torch.tensor([[-0.55, -0.45, 0.05], [0.62, -0.38, -0.1], [0.03, 0.58, 0.12]], dtype=torch.float64, requires_grad=True)
    faces = torch.tensor([[0, 1, 2]])
    size = 32
    colour = torch.tensor([[0.9, 0.2]], dtype=torch.float64).expand(3, 2)
    background = torch.tensor([0.1, 0.6], dtype=torch.float64)

    def loss():
        screen = rt.project(vertices, cameras, size)
        rast = rt.rasterize(screen, faces, size)
        image = rt.interpolate(colour, faces, rast) + (~rast.mask)[..., None] * background
        return rt.antialias(image, rast, screen, faces).sum()

    loss().backward()
    expected = _central_difference(loss, vertices, 1e-6)
    assert vertices.grad.abs().max() > 1.0
    torch.testing.assert_close(vertices.grad, expected, rtol=1e-4, atol=1e-3)
    # without antialias the same image has no gradient w.r.t. the vertices at all
    vertices.grad = None
    screen = rt.project(vertices, cameras, size)
    rast = rt.rasterize(screen, faces, size)
    (rt.interpolate(colour, faces, rast) + (~rast.mask)[..., None] * background).sum().backward()
    assert vertices.grad.abs().max() < 1e-9


def test_antialias_blends_a_straight_edge_by_its_crossing_and_leaves_the_inside_alone():
    # a screen-space square [4.3, 20.3]² (two triangles). Across its left edge the inside centre
    # x = 4.5 reaches the crossing after t = 0.2 < ½: the inside pixel takes ½ − t = 0.3 of the
    # outside colour (its box [4, 5] is 0.7 covered), the outside one stays. Across the right edge
    # (inside centre 19.5, crossing 20.3) t = 0.8 > ½: the outside pixel takes 0.3 of the inside.
    size = 24
    screen = torch.tensor([[[4.3, 4.3, 2.0], [20.3, 4.3, 2.0], [20.3, 20.3, 2.0], [4.3, 20.3, 2.0]]], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    rast = rt.rasterize(screen, faces, size)
    image = rast.mask[..., None].double()
    out = rt.antialias(image, rast, screen, faces)[0, ..., 0]
    assert torch.equal(out[6:19, 6:19], image[0, 6:19, 6:19, 0])  # the diagonal between the two faces is no edge
    row = out[10]
    torch.testing.assert_close(row[[3, 4, 5, 19, 20, 21]], torch.tensor([0.0, 0.7, 1.0, 1.0, 0.3, 0.0], dtype=torch.float64))
    column = out[:, 10]  # top edge at y = 4.3, bottom at 20.3: the same by symmetry
    torch.testing.assert_close(column[[3, 4, 5, 19, 20, 21]], torch.tensor([0.0, 0.7, 1.0, 1.0, 0.3, 0.0], dtype=torch.float64))


@pytest.mark.parametrize("subdivisions", [3, 6])
def test_antialiased_coverage_of_a_sphere_is_its_projected_disc_also_when_triangles_are_finer_than_pixels(subdivisions):
    # a sphere of radius R at distance d projects to a disc of tan-radius tan(asin(R/d)). At 32 px
    # the subdivision-6 icosphere puts ~7 triangles across a pixel (many more near the outline, where
    # they are seen edge-on), so the segment from an edge
    # pixel's centre leaves its own triangle through interior edges before it meets the outline;
    # taking the first edge crossed as the outline blended the background into every edge pixel
    # (coverage 14 % short, and a fit that grows the mesh 7 % to make up for it)
    size, radius = 32, 0.6
    cameras = OrbitCameras.make([0.0, 35.0, -10.0, 60.0], [0.0, 70.0, 200.0, -120.0], [3.0, 2.8, 3.2, 3.0], 40.0)
    vertices, faces = sphere(subdivisions, radius=radius)
    screen = rt.project(vertices, cameras, size)
    rast = rt.rasterize(screen, faces, size)
    coverage = rt.antialias(rast.mask[..., None].double(), rast, screen, faces)[..., 0].sum(dim=(1, 2))
    tan_radius = torch.tan(torch.asin(radius / cameras.radius.double()))
    disc = torch.pi * (tan_radius / np.tan(np.radians(20.0)) * size / 2) ** 2
    inscribed = float(trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius).volume / (4 / 3 * np.pi * radius**3)) ** (2 / 3)
    ratio = coverage / (disc * inscribed)
    assert abs(float(ratio.mean()) - 1.0) < 0.015  # the first-edge rule gave 0.86 at subdivision 6
    assert float((ratio - 1.0).abs().max()) < 0.03  # a view at 32 px: the outline's pixels are few


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a & b).sum() / (a | b).sum())


def _fit_silhouette(place, parameters, faces, cameras, size, target, lr, steps=150) -> float:
    """Adam on an MSE between the antialiased mask of the mesh ``place()`` and ``target``; returns
    the hard-mask IoU before fitting (and leaves ``parameters`` fitted)."""
    def soft_and_hard():
        screen = rt.project(place(), cameras, size)
        rast = rt.rasterize(screen, faces, size)
        return rt.antialias(rast.mask[..., None].float(), rast, screen, faces)[..., 0], rast.mask

    with torch.no_grad():
        start = _iou(soft_and_hard()[1], target)
    optimizer = torch.optim.Adam(parameters, lr=lr)
    for _ in range(steps):
        soft, _ = soft_and_hard()
        loss = ((soft - target.float()) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return start


def _mask(vertices, faces, cameras, size):
    return rt.rasterize(rt.project(vertices, cameras, size), faces, size).mask


def test_a_triangle_fits_a_target_silhouette_through_antialias():
    cameras = OrbitCameras.make(0.0, 0.0)
    faces = torch.tensor([[0, 1, 2]])
    size = 48
    target_vertices = torch.tensor([[-0.5, -0.4, 0.0], [0.55, -0.35, 0.0], [0.05, 0.6, 0.0]])
    target = _mask(target_vertices, faces, cameras, size)
    vertices = (target_vertices * 0.7 + torch.tensor([0.25, 0.2, 0.0])).requires_grad_(True)
    assert _fit_silhouette(lambda: vertices, [vertices], faces, cameras, size, target, lr=0.01) < 0.5
    assert _iou(_mask(vertices.detach(), faces, cameras, size), target) >= 0.95
    # the mask fixes each corner's ray, not its depth along it: compare where the corners project
    error = rt.project(vertices.detach(), cameras, size) - rt.project(target_vertices, cameras, size)
    assert error[..., :2].norm(dim=-1).max() < 0.5  # pixels; it started 5 to 11 away


def test_a_sphere_mesh_scales_and_moves_onto_a_target_silhouette():
    cameras = OrbitCameras.make([0.0, 30.0, 10.0], [0.0, 90.0, 200.0])
    vertices, faces = sphere(2, radius=1.0, dtype=torch.float32)
    size = 48
    target_shift, target_scale = torch.tensor([0.15, -0.1, 0.05]), 0.5
    target = _mask(vertices * target_scale + target_shift, faces, cameras, size)
    log_scale = torch.tensor(np.log(0.32), dtype=torch.float32, requires_grad=True)
    shift = torch.zeros(3, requires_grad=True)
    place = lambda: vertices * log_scale.exp() + shift  # noqa: E731
    assert _fit_silhouette(place, [log_scale, shift], faces, cameras, size, target, lr=0.02) < 0.5
    assert _iou(_mask(place().detach(), faces, cameras, size), target) >= 0.95
    assert abs(float(log_scale.detach().exp()) - target_scale) < 0.02
    assert (shift.detach() - target_shift).norm() < 0.03


def test_face_neighbours_of_a_closed_mesh_are_symmetric_and_share_the_opposite_edge():
    _, faces = sphere(1)
    neighbours = rt.face_neighbours(faces)
    assert (neighbours >= 0).all()
    for f in range(len(faces)):
        for corner in range(3):
            g = int(neighbours[f, corner])
            edge = set(faces[f].tolist()) - {int(faces[f, corner])}
            assert edge <= set(faces[g].tolist()) and g != f
            assert f in neighbours[g].tolist()
    open_faces = torch.tensor([[0, 1, 2], [2, 1, 3]])
    assert rt.face_neighbours(open_faces).tolist() == [[1, -1, -1], [-1, -1, 0]]


def test_the_backend_switch_runs_the_reference_off_cuda_and_names_what_is_missing():
    vertices, faces = sphere(1, dtype=torch.float32)
    rasterizer = MeshRasterizer("auto")
    assert not rasterizer.uses_nvdiffrast(vertices)
    screen = rasterizer.project(vertices, CAMERAS, 16)
    rast = rasterizer.rasterize(screen, faces, 16)
    assert rast.raw is None
    assert torch.equal(rast.face, rt.rasterize(screen, faces, 16).face)
    with pytest.raises(DreamliftError, match="auto, torch, nvdiffrast"):
        MeshRasterizer("opengl")
    try:
        import nvdiffrast.torch  # noqa: F401
    except Exception:
        with pytest.raises(DreamliftError, match="pip install"):
            MeshRasterizer("nvdiffrast")


@pytest.mark.gpu
def test_the_reference_on_cuda_matches_it_on_cpu():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    vertices, faces = sphere(3, dtype=torch.float32)
    results = []
    for device in ("cpu", "cuda"):
        moved = vertices.to(device).requires_grad_(True)
        screen = rt.project(moved, CAMERAS.to(device), 48)
        rast = rt.rasterize(screen, faces.to(device), 48)
        image = rt.antialias(rt.interpolate(moved, faces.to(device), rast), rast, screen, faces.to(device))
        image.square().sum().backward()
        results.append((rast.face.cpu(), image.detach().cpu(), moved.grad.cpu()))
    (cpu_face, cpu_image, cpu_grad), (gpu_face, gpu_image, gpu_grad) = results
    assert (cpu_face != gpu_face).float().mean() < 1e-3  # float32 ties may fall either way
    same = (cpu_face == gpu_face)[..., None]
    torch.testing.assert_close(cpu_image * same, gpu_image * same, atol=1e-4, rtol=0)
    if torch.equal(cpu_face, gpu_face):
        torch.testing.assert_close(cpu_grad, gpu_grad, atol=1e-3, rtol=1e-3)
    else:  # a tie decided the other way moves one pixel's gradient
        assert torch.nn.functional.cosine_similarity(cpu_grad.reshape(1, -1), gpu_grad.reshape(1, -1)) > 0.99


@pytest.mark.gpu
def test_nvdiffrast_agrees_with_the_reference():
    pytest.importorskip("nvdiffrast.torch")
    if not torch.cuda.is_available():
        pytest.skip("nvdiffrast needs a CUDA GPU")
    device = torch.device("cuda")
    vertices, faces = sphere(3, dtype=torch.float32)
    vertices, faces = vertices.to(device), faces.to(device)
    cameras = CAMERAS.to(device)
    size = 64
    fast, reference = MeshRasterizer("nvdiffrast"), MeshRasterizer("torch")
    outputs = {}
    for name, rasterizer in (("fast", fast), ("reference", reference)):
        moved = vertices.clone().requires_grad_(True)
        screen = rasterizer.project(moved, cameras, size)
        rast = rasterizer.rasterize(screen, faces, size)
        colour = rasterizer.interpolate(moved * 0.5 + 0.5, faces, rast)
        image = rasterizer.antialias(colour, rast, screen, faces)
        image.square().sum().backward()
        outputs[name] = (rast, colour, image, moved.grad)
    (fr, fc, fi, fg), (rr, rc, ri, rg) = outputs["fast"], outputs["reference"]
    assert fr.raw is not None and rr.raw is None
    same = fr.face == rr.face
    assert same.float().mean() > 0.995
    assert (fr.mask != rr.mask).float().mean() < 0.005
    torch.testing.assert_close(fr.depth[same], rr.depth[same], atol=1e-4, rtol=0)
    torch.testing.assert_close(fr.bary[same], rr.bary[same], atol=1e-4, rtol=0)
    torch.testing.assert_close(fc[same], rc[same], atol=1e-4, rtol=0)
    assert (fi - ri).abs().mean() < 2e-3
    cosine = torch.nn.functional.cosine_similarity(fg.reshape(1, -1), rg.reshape(1, -1))
    assert cosine > 0.9


def test_weight_planes_give_the_screen_weights():
    from dreamlift.rendering.raster_torch import _weight_planes, screen_weights

    generator = torch.Generator().manual_seed(3)
    corners = torch.rand(200, 3, 3, generator=generator) * 64
    px, py = torch.rand(200, generator=generator) * 64, torch.rand(200, generator=generator) * 64
    planes, area = _weight_planes(corners)
    direct = torch.stack(screen_weights(corners, px, py), 1)
    dx, dy = (px - planes[:, 0])[:, None], (py - planes[:, 1])[:, None]
    from_planes = planes[:, 2::2] * dx + planes[:, 3::2] * dy + torch.tensor([1.0, 0.0, 0.0])
    assert torch.allclose(from_planes, direct, atol=1e-4 * float(direct.abs().max()))
    e1, e2 = corners[:, 1, :2] - corners[:, 0, :2], corners[:, 2, :2] - corners[:, 0, :2]
    assert torch.allclose(area, e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
