"""Which position encoding to use: cost per step and capacity, on a CPU, for each encoding.

Three measurements (``--mode``), all timed alternately or one after another in one process:

* ``step`` (default): median ms of one NeRF step: render (Lambertian, finite-difference
  normals) + a fixed image loss + backward + Adam, from the same camera sequence, with
  skipping on and off.
* ``lookup``: median ms of the encoding alone at the point counts of a step: forward,
  backward of a fixed loss, and Adam on its parameters.
* ``capacity``: fit a known 3D target with encoding + the field's MLP by direct
  regression on points, and score it after a fixed number of steps and after a fixed
  time budget: a toy object's occupancy (volume IoU at random points) and colour
  (PSNR inside the object), and a high-frequency analytic colour field (PSNR).

Variants come at similar parameter counts: the dense grids (16³+32³, ~0.3 M) against a
hash grid with 2¹³ entries per level (~0.26 M); the grids with 64³ added (~2.4 M) against
a hash grid with 2¹⁶ (~1.7 M); and threestudio's hash grid (2¹⁹, 12.6 M). Usage::

    python bench/encodings.py [--size 32] [--samples 32] [--repeats 30]
    python bench/encodings.py --mode lookup [--points 16384 65536]
    python bench/encodings.py --mode capacity [--steps 300] [--seconds 30] [--targets house chair waves]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch import Tensor

from dreamlift.rendering.cameras import CameraRanges, sample_cameras
from dreamlift.rendering.occupancy import OccupancyGrid
from dreamlift.rendering.renderer import RenderConfig, VolumeRenderer
from dreamlift.rendering.shading import sample_lights
from dreamlift.scene.encodings import HashGridConfig
from dreamlift.scene.field import EncodingKind, FieldConfig, NeRFField


def variants() -> dict[str, FieldConfig]:
    """The encodings compared, by name."""
    return {
        "grid 16+32 (default)": FieldConfig(),
        "hash 2^13, 16-512": FieldConfig(encoding=EncodingKind.HASH_GRID, hash_grid=HashGridConfig(log2_table_size=13, finest_resolution=512)),
        "triplane 64": FieldConfig(encoding=EncodingKind.TRIPLANE),
        "frequency 6": FieldConfig(encoding=EncodingKind.FREQUENCY),
        "grid 16+32+64": FieldConfig(grid_resolutions=(16, 32, 64)),
        "hash 2^16, 16-1024": FieldConfig(encoding=EncodingKind.HASH_GRID, hash_grid=HashGridConfig(log2_table_size=16, finest_resolution=1024)),
        "hash 2^19, 16-4096 (threestudio)": FieldConfig(encoding=EncodingKind.HASH_GRID),
    }


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def optimizer_for(field: NeRFField) -> torch.optim.Adam:
    # the trainer's Adam (betas 0.9/0.99, eps 1e-15) at the real-prior presets' rate 0.01 for every group
    return torch.optim.Adam(field.parameters(), lr=0.01, betas=(0.9, 0.99), eps=1e-15)


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores), {torch.get_num_threads()} torch threads"


# --------------------------------------------------------------------------- step


def make_step(config: FieldConfig, samples: int, skip: bool):
    torch.manual_seed(0)
    field = NeRFField(config)
    occupancy = OccupancyGrid()
    occupancy.update(field.density)  # the initial blob: a realistic share of occupied space
    renderer = VolumeRenderer(RenderConfig(samples_per_ray=samples, skip_empty=skip), occupancy)
    return field, renderer, optimizer_for(field)


def bench_step(args) -> None:
    runs = {
        f"{name}{'' if skip else ' (dense)'}": make_step(config, args.samples, skip)
        for name, config in variants().items()
        for skip in ((True, False) if args.dense else (True,))
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    generator = torch.Generator().manual_seed(0)
    target = torch.full((1, args.size, args.size, 3), 0.5)
    for _ in range(args.repeats + 3):
        cameras = sample_cameras(CameraRanges(), 1, generator)
        lights = sample_lights(cameras, generator=generator)
        state = generator.get_state()
        for name, (field, renderer, optimizer) in runs.items():
            generator.set_state(state)
            started = time.perf_counter()
            out = renderer.render(field, cameras, args.size, shading="lambertian", lights=lights, generator=generator)
            loss = ((out.image - target) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            times[name].append((time.perf_counter() - started) * 1000.0)
    print(f"NeRF step at {args.size}x{args.size}, {args.samples} samples/ray, Lambertian with normals "
          f"(median of {args.repeats}, first 3 dropped); {load_line()}")
    print(f"{'encoding':<40} {'median ms':>10} {'p90':>8} {'parameters':>11}")
    for name, values in times.items():
        values = sorted(values[3:])
        print(f"{name:<40} {statistics.median(values):>10.1f} {values[(9 * len(values)) // 10]:>8.1f} {parameter_count(runs[name][0]):>11,}")


# --------------------------------------------------------------------------- lookup


def bench_lookup(args) -> None:
    configs = variants()
    print(f"encoding forward + backward + Adam on its parameters (median of {args.repeats}, first 2 dropped); {load_line()}")
    print(f"{'encoding':<40} " + " ".join(f"{f'{n:,} pts ms':>14}" for n in args.points) + f" {'parameters':>11}")
    generator = torch.Generator().manual_seed(0)
    for name, config in configs.items():
        torch.manual_seed(0)
        encoding = NeRFField(config).encoding
        params = list(encoding.parameters())
        optimizer = torch.optim.Adam(params, lr=0.01, betas=(0.9, 0.99), eps=1e-15) if params else None
        cells = []
        for count in args.points:
            values = []
            for _ in range(args.repeats + 2):
                points = torch.rand(count, 3, generator=generator) * 2 - 1
                started = time.perf_counter()
                features = encoding(points)
                if optimizer is not None:
                    optimizer.zero_grad()
                    features.square().mean().backward()
                    optimizer.step()
                values.append((time.perf_counter() - started) * 1000.0)
            cells.append(statistics.median(values[2:]))
        print(f"{name:<40} " + " ".join(f"{c:>14.1f}" for c in cells) + f" {parameter_count(encoding):>11,}")


# --------------------------------------------------------------------------- capacity


class Target:
    """A known field on ``[-1, 1]³``: occupancy (or None) and colour at points."""

    def __init__(self, name: str):
        self.name = name
        if name != "waves":
            from dreamlift.toyworld.shapes import ToyObject

            self.object = ToyObject(name, "orange")

    def __call__(self, points: Tensor) -> tuple[Tensor | None, Tensor]:
        if self.name == "waves":
            # three colour channels of 3, 5 and 8 periods per world unit along oblique directions
            directions = F.normalize(torch.tensor([[1.0, 0.3, 0.2], [-0.2, 1.0, 0.4], [0.3, -0.5, 1.0]]), dim=-1)
            frequencies = 2 * math.pi * torch.tensor([3.0, 5.0, 8.0])
            phase = (points @ directions.t()) * frequencies
            return None, 0.5 + 0.5 * torch.sin(phase) * torch.cos(1.7 * phase.roll(1, dims=-1))
        from dreamlift.toyworld.shapes import evaluate

        distance, albedo = evaluate(self.object, points)
        return distance <= 0, albedo

    def training_pool(self, count: int, generator: torch.Generator) -> Tensor:
        """Half uniform in the cube, half within 0.05 of the surface (objects), or all uniform (waves)."""
        uniform = torch.rand(count, 3, generator=generator) * 2 - 1
        if self.name == "waves":
            return uniform
        from dreamlift.toyworld.shapes import distance

        candidates = torch.rand(count * 8, 3, generator=generator) * 2 - 1
        near = candidates[distance(self.object.shape, candidates).abs() < 0.05][: count // 2]
        return torch.cat((uniform[: count - near.shape[0]], near))


def predict(field: NeRFField, points: Tensor) -> tuple[Tensor, Tensor]:
    raw = field.mlp(field.encoding(points))
    return raw[:, 0], torch.sigmoid(raw[:, 1:])


def fit_loss(target: Target, field: NeRFField, points: Tensor) -> Tensor:
    inside, colour = target(points)
    logit, predicted = predict(field, points)
    if inside is None:
        return F.mse_loss(predicted, colour)
    colour_error = ((predicted - colour) ** 2).sum(-1)
    return F.binary_cross_entropy_with_logits(logit, inside.float()) + (colour_error * inside).sum() / inside.sum().clamp(min=1)


@torch.no_grad()
def score(target: Target, field: NeRFField, points: Tensor) -> dict[str, float]:
    logits, colours = zip(*(predict(field, part) for part in points.split(1 << 16)))
    logit, predicted = torch.cat(logits), torch.cat(colours)
    inside, colour = target(points)
    if inside is None:
        return {"psnr": -10 * math.log10(F.mse_loss(predicted, colour).item())}
    occupied = logit > 0
    iou = (occupied & inside).sum().item() / max((occupied | inside).sum().item(), 1)
    mse = F.mse_loss(predicted[inside], colour[inside]).item()
    return {"iou": iou, "psnr": -10 * math.log10(max(mse, 1e-10))}


def fit(config: FieldConfig, target: Target, pool: Tensor, test: Tensor, steps: int, seconds: float, batch: int) -> dict:
    """Train until both ``steps`` and ``seconds`` are reached; score at each.

    Training time is this process's CPU time (scoring excluded), so a busy machine does
    not shrink one variant's budget more than another's; run it with one thread.
    """
    torch.manual_seed(0)
    field = NeRFField(config)
    optimizer = optimizer_for(field)
    generator = torch.Generator().manual_seed(1)
    result: dict = {"parameters": parameter_count(field.encoding)}
    trained, step = 0.0, 0
    while "at_steps" not in result or "at_seconds" not in result:
        points = pool[torch.randint(0, pool.shape[0], (batch,), generator=generator)]
        started = time.process_time()
        loss = fit_loss(target, field, points)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        trained += time.process_time() - started
        step += 1
        if step == steps:
            result["at_steps"] = score(target, field, test) | {"seconds": trained}
        if trained >= seconds and "at_seconds" not in result:
            result["at_seconds"] = score(target, field, test) | {"steps": step}
    return result


def bench_capacity(args) -> None:
    print(f"fit by regression: {args.steps} steps and {args.seconds:.0f} CPU s of training, {args.batch:,} points a step, "
          f"Adam lr 0.01; {load_line()}")
    generator = torch.Generator().manual_seed(0)
    for name in args.targets:
        target = Target(name)
        pool = target.training_pool(1 << 21, generator)
        test = torch.rand(1 << 19, 3, generator=generator) * 2 - 1  # held out: fresh uniform points
        metric = "PSNR dB" if name == "waves" else "IoU / PSNR dB"
        print(f"\ntarget {name}: {metric} after {args.steps} steps (training s) | after {args.seconds:.0f} s (steps)")
        for variant, config in variants().items():
            if args.only and not any(word in variant for word in args.only):
                continue
            r = fit(config, target, pool, test, args.steps, args.seconds, args.batch)
            a, b = r["at_steps"], r["at_seconds"]
            cell = (lambda s: f"{s['psnr']:6.2f}") if name == "waves" else (lambda s: f"{s['iou']:.3f} / {s['psnr']:5.2f}")
            print(f"  {variant:<34} {r['parameters']:>11,}  {cell(a)} ({a['seconds']:5.1f} s) | {cell(b)} ({b['steps']} steps)", flush=True)
    print(f"\nafter: {load_line()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("step", "lookup", "capacity"), default="step")
    parser.add_argument("--size", type=int, default=32, help="step: render size")
    parser.add_argument("--samples", type=int, default=32, help="step: samples per ray")
    parser.add_argument("--repeats", type=int, default=30, help="step, lookup: timed repeats")
    parser.add_argument("--dense", action="store_true", help="step: also time each encoding with skipping off")
    parser.add_argument("--points", type=int, nargs="*", default=[16384, 65536], help="lookup: point counts")
    parser.add_argument("--steps", type=int, default=300, help="capacity: fixed number of steps")
    parser.add_argument("--seconds", type=float, default=30.0, help="capacity: fixed training time")
    parser.add_argument("--batch", type=int, default=8192, help="capacity: points per step")
    parser.add_argument("--targets", nargs="*", default=["house", "chair", "waves"], help="capacity: toy shapes, or waves")
    parser.add_argument("--only", nargs="*", default=None, help="capacity: variants whose name contains one of these words")
    args = parser.parse_args()
    {"step": bench_step, "lookup": bench_lookup, "capacity": bench_capacity}[args.mode](args)


if __name__ == "__main__":
    main()
