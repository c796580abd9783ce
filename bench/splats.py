"""How fast the Gaussian rasteriser is: median ms of one forward+backward step, by image size and Gaussian count.

The scene is DreamGaussian's start (:class:`~dreamlift.scene.gaussians.GaussianModel`): ``N``
Gaussians uniform in the ball of radius 0.6, opacity 0.1, each scale its RMS distance to three
neighbours; one toy camera (radius 3, fovy 40, elevation 20, azimuth 30). A step renders with
Lambertian shading, takes the mean colour as the loss and back-propagates to every parameter
(a training step without the guidance). Timed: the pure-PyTorch rasteriser at 32, 64, 128 and
256 px for 5k and 50k Gaussians, the pairs it composites, and in the same run a reference: a
dense composite with no culling (every pixel × every Gaussian, a cumulative product over the
depth-sorted Gaussians) where it fits in memory. On CUDA the PyTorch path and gsplat (when it
imports) are timed too. Usage::

    OMP_NUM_THREADS=1 python bench/splats.py [--repeats 5] [--sizes 32 64 128 256] [--counts 5000 50000]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.shading import head_lights
from dreamlift.rendering.splatting import project_splats, render_splats
from dreamlift.rendering.splatting.rasterize import shade_gaussians
from dreamlift.scene.gaussian_settings import GaussianConfig
from dreamlift.scene.gaussians import GaussianModel

DENSE_LIMIT = 6_000_000
"""The dense reference runs where pixels × Gaussians is at most this."""


def load() -> str:
    try:
        with open("/proc/loadavg") as handle:
            return handle.read().split()[0]
    except OSError:
        return "unknown"


def timed(function, repeats: int, sync) -> str:
    """``"wall/cpu"``: median wall ms and median CPU ms of this process over ``repeats`` runs after one warm-up."""
    wall, cpu = [], []
    for _ in range(repeats + 1):
        sync()
        started, started_cpu = time.perf_counter(), time.process_time()
        function()
        sync()
        wall.append((time.perf_counter() - started) * 1000.0)
        cpu.append((time.process_time() - started_cpu) * 1000.0)
    return f"{statistics.median(wall[1:]):.1f}/{statistics.median(cpu[1:]):.1f}"


def dense_step(model: GaussianModel, cameras: OrbitCameras, size: int, lights) -> torch.Tensor:
    """The no-culling reference: alpha of every Gaussian at every pixel, composited by a cumulative product in depth order."""
    splats = model.splats()
    projection = project_splats(splats, cameras, size)
    colours = shade_gaussians(splats, projection.normals, "lambertian", lights)[0]
    order = torch.argsort(projection.depth[0])
    keep = order[projection.depth[0, order] > 1e-2]  # in front of the near plane
    means2d, conics, opacity = projection.means2d[0, keep], projection.conics[0, keep], projection.opacities[keep]
    rows, cols = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    dx = cols.reshape(-1, 1).to(means2d) - means2d[None, :, 0]
    dy = rows.reshape(-1, 1).to(means2d) - means2d[None, :, 1]
    power = -0.5 * (conics[None, :, 0] * dx * dx + 2 * conics[None, :, 1] * dx * dy + conics[None, :, 2] * dy * dy)
    alpha = torch.clamp(opacity[None] * torch.exp(power.clamp_max(0.0)), max=0.99)
    alpha = torch.where(alpha < 1 / 255, 0.0, alpha)
    transmittance = torch.cumprod(torch.cat((torch.ones_like(alpha[:, :1]), 1 - alpha[:, :-1]), dim=1), dim=1)
    weights = alpha * transmittance
    image = weights @ colours[keep] + (1 - weights.sum(1, keepdim=True))
    image.mean().backward()
    return image.detach().reshape(size, size, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--counts", type=int, nargs="+", default=[5000, 50000])
    args = parser.parse_args()
    cameras = OrbitCameras.make(20.0, 30.0, 3.0, 40.0)
    lights = head_lights(cameras)
    backends = [("cpu", "torch")]
    if torch.cuda.is_available():
        backends.append(("cuda", "torch"))
        try:
            import gsplat  # noqa: F401

            backends.append(("cuda", "gsplat"))
        except Exception as error:  # not installed, or its build fails
            print(f"gsplat not timed: {error}")
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    print(f"Gaussian rasteriser: one camera, Lambertian, forward+backward, median of {args.repeats} (1 warm-up dropped)")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads{gpu}, torch {torch.__version__}, load {load()}")
    print("(each time: median wall ms / median CPU ms of this process)")
    print(f"{'device':<6} {'backend':<16} {'gaussians':>9} {'px':>4} {'fwd+bwd ms':>15} {'pairs':>11} {'covered':>8}")
    for count in args.counts:
        base = GaussianModel(GaussianConfig(count=count, radius=0.6), torch.Generator().manual_seed(0))
        for size in args.sizes:
            for device, backend in backends:
                model = GaussianModel(GaussianConfig(count=1, scale=1.0)).to(device)
                model.load_state_dict(base.state_dict())
                cams, light = cameras.to(device), lights.to(device)
                sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

                def step():
                    model.zero_grad()
                    out = render_splats(model.splats(), cams, size, "lambertian", light, backend=backend).output
                    out.image.mean().backward()
                    return out

                out = step()
                image = out.image.detach().cpu()[0]
                pairs = round(out.evaluated_fraction * size * size * count) if backend == "torch" else "-"
                covered = float((out.opacity > 0.5).float().mean())
                print(f"{device:<6} {backend:<16} {count:>9} {size:>4} {timed(step, args.repeats, sync):>15} {pairs:>11} {covered:>8.3f}")
            if size * size * count <= DENSE_LIMIT:
                model = GaussianModel(GaussianConfig(count=1, scale=1.0))
                model.load_state_dict(base.state_dict())
                dense_ms = timed(lambda: dense_step(model, cameras, size, lights), max(1, args.repeats // 2), lambda: None)
                difference = float((dense_step(model, cameras, size, lights) - image).abs().max())
                print(f"{'cpu':<6} {'dense, no cull':<16} {count:>9} {size:>4} {dense_ms:>15} {size * size * count:>11}"
                      f"   max |image - torch image| {difference:.1e} (float32 cumprod vs float64 log-space sums)")
    print(f"load average at the end: {load()}")


if __name__ == "__main__":
    main()
