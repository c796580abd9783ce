"""The NeRF against the Gaussians by render size: median ms of a training render and its backward, alternated.

Each representation first trains ``--warm-steps`` steps of ``--prompt`` as its toy preset does (``toy`` and
``toy-gaussians``: the toy prior at 32 px, memorised views), so both hold a trained object rather than the
starting blob. Then, at each size, one timed step renders a batch of random cameras (the preset's
``batch_size``, a random light, Lambertian shading) at that size and back-propagates a fixed loss (the
squared difference to a grey image) to every parameter; the state is not stepped, so every repeat times the
same scene. The NeRF renders through its occupancy grid (empty-space skipping), the Gaussians through the
pure-PyTorch rasteriser. The two alternate within each repeat, so a busy machine slows both alike.

This times the representation's part of a step (render + backward), not the guidance: the toy prior only
judges 32-px renders, while a real prior's cost (a VAE and a UNet) does not depend on the representation.
Usage::

    OMP_NUM_THREADS=1 python bench/representation_step.py [--sizes 32 64 128 256] [--repeats 9] [--prompt "a red chair"]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from dreamlift.guidance.base import GuidanceInputs
from dreamlift.presets import get_preset
from dreamlift.rendering.cameras import sample_cameras
from dreamlift.distillation.sampling import draw_lights
from dreamlift.rendering.shading import ShadingMode
from dreamlift.training.trainer import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from representations import PRESETS  # noqa: E402  (nerf: toy, gaussians: toy-gaussians)
from splats import load  # noqa: E402


def trained(preset: str, prompt: str, steps: int) -> Trainer:
    """A trainer of ``preset`` after ``steps`` steps of ``prompt`` (no files but its scratch folder)."""
    config = get_preset(preset, "text").build()
    config.prompt = prompt
    guidance = config.prior.setup(GuidanceInputs(prompt=prompt))
    trainer = Trainer(config, Path(tempfile.mkdtemp(prefix="bench-repr-step-")), guidance, show_progress=False)
    for _ in range(steps):
        trainer.train_step()
        trainer.step += 1
    return trainer


def timed_step(trainer: Trainer, size: int, generator: torch.Generator) -> float:
    """Milliseconds of one render of ``trainer``'s scene at ``size`` px and its backward."""
    config = trainer.config
    cameras = sample_cameras(config.cameras, config.batch_size, generator)
    lights = draw_lights(cameras, config.shading, generator)
    started = time.perf_counter()
    out = trainer.representation.render(cameras, size, ShadingMode.LAMBERTIAN, lights, trainer.background, generator, purpose="train")
    loss = ((out.image - 0.5) ** 2).mean()
    loss.backward()
    seconds = time.perf_counter() - started
    trainer.optimizer.zero_grad(set_to_none=True)
    return seconds * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", default="a red chair")
    parser.add_argument("--warm-steps", type=int, default=600, help="training steps before timing (the presets' 600)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()

    trainers = {name: trained(preset, args.prompt, args.warm_steps) for name, preset in PRESETS.items()}
    gaussians = trainers["gaussians"].representation.model.means.shape[0]
    print(
        f"render + backward of one training view, {args.prompt!r} after {args.warm_steps} steps ({gaussians} Gaussians), "
        f"batch {trainers['nerf'].config.batch_size}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{platform.machine()}, load {load()}"
    )
    print(f"{'size':>6} {'NeRF ms':>10} {'Gaussians ms':>13} {'Gaussians / NeRF':>17}")
    for size in args.sizes:
        times: dict[str, list[float]] = {name: [] for name in trainers}
        generator = torch.Generator().manual_seed(size)
        for _ in range(args.repeats):
            for name, trainer in trainers.items():
                times[name].append(timed_step(trainer, size, generator))
        nerf, splats = statistics.median(times["nerf"]), statistics.median(times["gaussians"])
        print(f"{size:>6} {nerf:>10.1f} {splats:>13.1f} {splats / nerf:>17.2f}", flush=True)


if __name__ == "__main__":
    main()
