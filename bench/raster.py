"""How fast the differentiable mesh rasteriser is: median ms of one render, forward and forward+backward.

One render = project → rasterize → interpolate vertex normals → Lambertian shade over a
background → antialias, for a UV sphere of ~10k and ~40k faces (radius 0.6, the toy camera)
at 64, 128 and 512 pixels. "forward" runs without autograd (a turntable frame);
"forward+backward" records the graph and adds a mean-colour loss and its backward to the
vertex positions (a training step). References timed in the same run: the numpy rasteriser with a z-buffer
(forward only, what the mesh ground-truth renders use) and, at 64 and 128 px, one step of the
volume renderer (a NeRF step: Lambertian render with normals + backward, skipping on). On
CUDA (when present) the PyTorch reference and nvdiffrast (when it imports) are timed too.
Usage::

    python bench/raster.py [--repeats 20] [--sizes 64 128 512]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import trimesh

from dreamlift.rendering import raster_torch
from dreamlift.rendering.cameras import CameraRanges, OrbitCameras, sample_cameras
from dreamlift.rendering.mesh_rasterizer import MeshRasterizer
from dreamlift.rendering.raster_numpy import rasterize as rasterize_numpy

SPHERES = {"~10k": 50, "~40k": 100}  # UV-sphere segment counts: 9,600 and 39,200 faces


def sphere(segments: int):
    mesh = trimesh.creation.uv_sphere(radius=0.6, count=[segments, segments])
    return torch.tensor(mesh.vertices, dtype=torch.float32), torch.tensor(mesh.faces, dtype=torch.int64)


def render(rasterizer: MeshRasterizer, vertices, faces, cameras, size):
    screen = rasterizer.project(vertices, cameras, size)
    rast = rasterizer.rasterize(screen, faces, size)
    normals = rasterizer.interpolate(vertices / vertices.norm(dim=-1, keepdim=True), faces, rast)
    light = torch.tensor([0.3, 0.8, 0.5], device=vertices.device)
    shade = 0.2 + 0.8 * (normals @ (light / light.norm())).clamp(min=0)[..., None] * torch.tensor([0.8, 0.3, 0.2], device=vertices.device)
    image = torch.where(rast.mask[..., None], shade, torch.ones_like(shade))
    return rasterizer.antialias(image, rast, screen, faces)


def numpy_render(vertices: np.ndarray, faces: np.ndarray, cameras: OrbitCameras, size: int) -> np.ndarray:
    screen = raster_torch.project(torch.from_numpy(vertices), cameras, size)[0].numpy()
    frags = rasterize_numpy(screen[faces][..., :2], size, size)
    depth = 1.0 / (frags.weights / screen[faces[frags.face], 2]).sum(1)
    pixel = frags.row * size + frags.col
    order = np.lexsort((depth, pixel))
    first = np.ones(order.size, dtype=bool)
    first[1:] = pixel[order][1:] != pixel[order][:-1]
    face = np.full(size * size, -1)
    face[pixel[order][first]] = frags.face[order][first]
    return face


def load() -> str:
    try:
        with open("/proc/loadavg") as handle:
            return handle.read().split()[0]
    except OSError:
        return "unknown"


def timed(function, repeats: int, sync) -> str:
    """``"wall/cpu"``: median wall ms and median CPU ms of this process (the CPU time is what a
    shared machine's load does not inflate, apart from cache and memory contention)."""
    wall, cpu = [], []
    for _ in range(repeats + 2):
        sync()
        started, started_cpu = time.perf_counter(), time.process_time()
        function()
        sync()
        wall.append((time.perf_counter() - started) * 1000.0)
        cpu.append((time.process_time() - started_cpu) * 1000.0)
    return f"{statistics.median(wall[2:]):.1f}/{statistics.median(cpu[2:]):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 512])
    args = parser.parse_args()
    cameras = OrbitCameras.make(20.0, 30.0)
    devices = [("cpu", "torch")]
    if torch.cuda.is_available():
        devices.append(("cuda", "torch"))
        try:
            import nvdiffrast.torch  # noqa: F401

            devices.append(("cuda", "nvdiffrast"))
        except Exception as error:  # not installed, or its build fails
            print(f"nvdiffrast not timed: {error}")
    print(f"mesh rasteriser, one view, median of {args.repeats} (2 warm-up dropped), {torch.get_num_threads()} CPU threads, load {load()}")
    print(f"{'device':<6} {'backend':<18} {'mesh':<13} {'px':>4} {'forward ms':>13} {'fwd+bwd ms':>13} {'covered':>8}")
    print("(each time: median wall ms / median CPU ms of this process)")
    for label, segments in SPHERES.items():
        base_vertices, faces = sphere(segments)
        name = f"{label} ({len(faces)})"
        for size in args.sizes:
            for device, backend in devices:
                rasterizer = MeshRasterizer(backend)
                sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
                vertices = base_vertices.to(device).clone().requires_grad_(True)
                faces_d, cameras_d = faces.to(device), cameras.to(device)

                def forward():
                    with torch.no_grad():  # a turntable frame
                        return render(rasterizer, vertices, faces_d, cameras_d, size)

                def step():  # a training step
                    render(rasterizer, vertices, faces_d, cameras_d, size).mean().backward()

                covered = float((forward()[..., 0] < 0.999).float().mean())
                print(f"{device:<6} {backend:<18} {name:<13} {size:>4} {timed(forward, args.repeats, sync):>13} "
                      f"{timed(step, args.repeats, sync):>13} {covered:>8.3f}")
            numpy_ms = timed(lambda: numpy_render(base_vertices.double().numpy(), faces.numpy(), cameras, size), max(3, args.repeats // 4), lambda: None)
            print(f"{'cpu':<6} {'numpy z-buffer':<18} {name:<13} {size:>4} {numpy_ms:>13} {'-':>13}")
    volume_reference(args)


def volume_reference(args) -> None:
    """One NeRF step (the first stage's unit of work) at the same sizes, for scale."""
    from dreamlift.rendering.occupancy import OccupancyGrid
    from dreamlift.rendering.renderer import RenderConfig, VolumeRenderer
    from dreamlift.rendering.shading import sample_lights
    from dreamlift.scene.field import FieldConfig, NeRFField

    torch.manual_seed(0)
    field = NeRFField(FieldConfig())
    occupancy = OccupancyGrid()
    occupancy.update(field.density)
    renderer = VolumeRenderer(RenderConfig(), occupancy)
    generator = torch.Generator().manual_seed(0)
    for size in [s for s in args.sizes if s <= 128]:
        cams = sample_cameras(CameraRanges(), 1, generator)
        lights = sample_lights(cams, generator=generator)

        def step():
            out = renderer.render(field, cams, size, shading="lambertian", lights=lights, generator=generator)
            out.image.mean().backward()

        ms = timed(step, max(3, args.repeats // 4), lambda: None)
        print(f"{'cpu':<6} {'volume renderer':<18} {'NeRF default':<13} {size:>4} {'-':>13} {ms:>13}")
    print(f"load average at the end: {load()}")


if __name__ == "__main__":
    main()
