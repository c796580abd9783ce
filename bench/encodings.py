"""Which position encoding trains fastest on a CPU: median ms of one NeRF step for each.

One step = render (Lambertian, finite-difference normals) + a fixed image loss +
backward + Adam, from the same camera sequence, with skipping on and off, for the
dense grids (default), the triplane and the frequency encoding. Timed alternately in
one process so a busy machine slows all alike. Usage::

    python bench/encodings.py [--size 32] [--samples 32] [--repeats 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from dreamlift.rendering.cameras import CameraRanges, sample_cameras
from dreamlift.rendering.occupancy import OccupancyGrid
from dreamlift.rendering.renderer import RenderConfig, VolumeRenderer
from dreamlift.rendering.shading import sample_lights
from dreamlift.scene.field import EncodingKind, FieldConfig, NeRFField


def make(kind: EncodingKind, samples: int, skip: bool):
    torch.manual_seed(0)
    field = NeRFField(FieldConfig(encoding=kind))
    occupancy = OccupancyGrid()
    occupancy.update(field.density)  # the initial blob: a realistic share of occupied space
    renderer = VolumeRenderer(RenderConfig(samples_per_ray=samples, skip_empty=skip), occupancy)
    optimizer = torch.optim.Adam(field.parameters(), lr=1e-3)
    return field, renderer, optimizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    variants = {
        f"{kind.value}{'' if skip else ' (dense)'}": make(kind, args.samples, skip)
        for kind in EncodingKind
        for skip in (True, False)
    }
    parameters = {name: sum(p.numel() for p in v[0].parameters()) for name, v in variants.items()}
    times: dict[str, list[float]] = {name: [] for name in variants}
    generator = torch.Generator().manual_seed(0)
    target = torch.full((1, args.size, args.size, 3), 0.5)
    for _ in range(args.repeats + 3):
        cameras = sample_cameras(CameraRanges(), 1, generator)
        lights = sample_lights(cameras, generator=generator)
        state = generator.get_state()
        for name, (field, renderer, optimizer) in variants.items():
            generator.set_state(state)
            started = time.perf_counter()
            out = renderer.render(field, cameras, args.size, shading="lambertian", lights=lights, generator=generator)
            loss = ((out.image - target) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            times[name].append((time.perf_counter() - started) * 1000.0)
    print(f"NeRF step at {args.size}x{args.size}, {args.samples} samples/ray, Lambertian with normals, "
          f"{torch.get_num_threads()} threads (median of {args.repeats}, first 3 dropped)")
    print(f"{'encoding':<22} {'median ms':>10} {'p90':>8} {'parameters':>11}")
    for name, values in times.items():
        values = sorted(values[3:])
        print(f"{name:<22} {statistics.median(values):>10.1f} {values[(9 * len(values)) // 10]:>8.1f} {parameters[name]:>11,}")


if __name__ == "__main__":
    main()
